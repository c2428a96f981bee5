"""Dense, loss and accuracy kernels against the NumPy float64 reference (fastmlp._reference)."""
import numpy as np
import pytest

from fastmlp import _reference as ref
from fastmlp import config as keras_config
from fastmlp._kernels.codes import ACCURACY_CODES, ACTIVATION_CODES, LOSS_CODES
from fastmlp._kernels.dense import (
    act_backward_columns_check,
    bias_act_columns_check,
    dense_backward_check,
    dense_forward_check,
)
from fastmlp._kernels.loss import accuracy_check, loss_check

ACTIVATIONS = sorted(ACTIVATION_CODES)
BATCHES = [1, 7, 32, 128]
WIDTHS = [(5, 3), (64, 10), (100, 33)]
EPS = keras_config.epsilon()
TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _close(actual, expected, dtype, scale=1.0):
    tol = TOL[dtype]
    np.testing.assert_allclose(actual, expected, rtol=tol * 10, atol=tol * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("rows", BATCHES)
@pytest.mark.parametrize("n_in,n_out", WIDTHS)
def test_dense_forward(rng, dtype, act, rows, n_in, n_out):
    x = rng.standard_normal((rows, n_in)).astype(dtype)
    w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    y = dense_forward_check(x, w, b, ACTIVATION_CODES[act])
    assert y.dtype == dtype and y.shape == (rows, n_out)
    expected = ref.dense_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), act)
    _close(y, expected, dtype, scale=np.sqrt(n_in))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_forward_without_bias(rng, dtype):
    x = rng.standard_normal((7, 5)).astype(dtype)
    w = rng.standard_normal((5, 3)).astype(dtype)
    _close(dense_forward_check(x, w, None, ACTIVATION_CODES["tanh"]), np.tanh(x.astype(np.float64) @ w), dtype, 5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("rows", BATCHES)
@pytest.mark.parametrize("n_in,n_out", WIDTHS)
def test_dense_backward(rng, dtype, act, rows, n_in, n_out):
    x = rng.standard_normal((rows, n_in)).astype(dtype)
    w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    y = ref.dense_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), act).astype(dtype)
    dy = rng.standard_normal((rows, n_out)).astype(dtype)
    dy_before = dy.copy()
    z = (x.astype(np.float64) @ w.astype(np.float64) + b).astype(dtype)
    dw, db, dx = dense_backward_check(x, w, y, dy, ACTIVATION_CODES[act], pre=z)
    e_dw, e_db, e_dx = ref.dense_backward(x.astype(np.float64), w.astype(np.float64),
                                          y.astype(np.float64), dy.astype(np.float64), act,
                                          b=b.astype(np.float64))
    np.testing.assert_array_equal(dy, dy_before)
    _close(dw, e_dw, dtype, scale=rows)
    _close(db, e_db, dtype, scale=rows)
    _close(dx, e_dx, dtype, scale=n_out)


def test_dense_backward_skips_dx_for_first_layer(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    w = rng.standard_normal((3, 2)).astype(np.float32)
    dw, _db, dx = dense_backward_check(x, w, x @ w, np.ones((4, 2), np.float32), 0, want_dx=False)
    assert dx is None
    np.testing.assert_allclose(dw, x.T @ np.ones((4, 2)), rtol=1e-6)


def _targets(rng, loss, rows, cols, dtype):
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, cols, rows).astype(np.int32)
    if loss == "categorical_crossentropy":
        return np.eye(cols, dtype=dtype)[rng.integers(0, cols, rows)]
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, (rows, cols)).astype(dtype)
    return rng.standard_normal((rows, cols)).astype(dtype)


LOSSES = list(LOSS_CODES)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("rows", BATCHES)
def test_loss_value_and_gradient(rng, dtype, loss, rows):
    cols = 10 if "categorical" in loss else 3
    z = rng.standard_normal((rows, cols))
    p = (ref.activation(z, "softmax") if "categorical" in loss else ref.activation(z, "sigmoid")).astype(dtype)
    y = _targets(rng, loss, rows, cols, dtype)
    sparse = loss == "sparse_categorical_crossentropy"
    total, grad = loss_check(LOSS_CODES[loss], p, y if sparse else None, None if sparse else y, False, EPS)
    p64 = p.astype(np.float64)
    y64 = y if sparse else y.astype(np.float64)
    assert total == pytest.approx(ref.loss_sum(loss, p64, y64), rel=TOL[dtype] * 10)
    _close(grad, ref.loss_gradient(loss, p64, y64), dtype, scale=1.0 / rows)
    if loss in ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"):
        total_f, grad_f = loss_check(LOSS_CODES[loss], p, y if sparse else None, None if sparse else y, True, EPS)
        assert total_f == pytest.approx(ref.loss_sum(loss, p64, y64), rel=TOL[dtype] * 10)
        _close(grad_f, ref.fused_gradient(loss, p64, y64), dtype, scale=1.0 / rows)


def test_cross_entropy_clips_probabilities_like_keras():
    p = np.array([[1.0, 0.0]], np.float32)
    total, grad = loss_check(LOSS_CODES["sparse_categorical_crossentropy"], p, np.array([1], np.int32), None, False, EPS)
    assert total == pytest.approx(-np.log(np.float32(1e-7)), rel=1e-5)  # -log(ε), not inf
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_accuracy_kernels(rng, dtype):
    p = ref.activation(rng.standard_normal((50, 4)), "softmax").astype(dtype)
    labels = rng.integers(0, 4, 50).astype(np.int32)
    hits = accuracy_check(ACCURACY_CODES["sparse_categorical_accuracy"], p, labels, None)
    assert hits == np.sum(np.argmax(p, 1) == labels)
    onehot = np.eye(4, dtype=dtype)[labels]
    assert accuracy_check(ACCURACY_CODES["categorical_accuracy"], p, None, onehot) == hits
    q = rng.random((50, 2)).astype(dtype)
    t = rng.integers(0, 2, (50, 2)).astype(dtype)
    expected = np.sum(np.mean(t == (q > 0.5), axis=1))
    assert accuracy_check(ACCURACY_CODES["binary_accuracy"], q, None, t) == pytest.approx(expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 7, 33, 1000])
def test_all_finite_matches_numpy(rng, dtype, size):
    from fastmlp._kernels.finite import all_finite
    x = (rng.standard_normal(size) * 1e30).astype(dtype)
    assert all_finite(x) and all_finite(x.reshape(1, -1))
    big = np.array([np.finfo(dtype).max, -np.finfo(dtype).max, np.finfo(dtype).tiny / 4], dtype)
    assert all_finite(big)  # largest finite values and subnormals are finite
    for bad in (np.nan, np.inf, -np.inf):
        for where in {0, size // 2, size - 1}:
            y = x.copy()
            y[where] = bad
            assert not all_finite(y)
    assert all_finite(np.arange(5)) and all_finite(x[::2])
    strided = x.copy()
    strided[-1 - (size - 1) % 2] = np.nan  # the last element a [::2] view holds
    assert not all_finite(strided[::2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_finds_a_bad_value_in_every_lane_and_the_tail(rng, dtype):
    """The check keeps running maxima in lanes (32 floats, 16 doubles) and a tail: a NaN (of
    either sign, any payload) or an infinity anywhere is found, and finite values of either
    sign, however large, are not taken for one."""
    from fastmlp._kernels.finite import all_finite
    uint = np.uint32 if dtype == np.float32 else np.uint64
    bad_bits = ([0x7FC00000, 0xFFC12345, 0x7F800001, 0x7F800000, 0xFF800000] if dtype == np.float32
                else [0x7FF8000000000000, 0xFFF8000000001234, 0x7FF0000000000001,
                      0x7FF0000000000000, 0xFFF0000000000000])
    for size in (64 + 7, 33, 5):
        x = (rng.uniform(-1, 1, size) * np.finfo(dtype).max).astype(dtype)
        x[::3] = -np.finfo(dtype).max  # the largest finite magnitude, negative
        assert all_finite(x)
        for where in range(size):
            y = x.copy()
            y.view(uint)[where] = bad_bits[where % len(bad_bits)]
            assert not all_finite(y), (size, where)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ["leaky_relu", "elu"])
@pytest.mark.parametrize("alpha", [0.0, 0.05, 0.3, 2.0])
def test_parametrised_activations_take_their_alpha(rng, dtype, act, alpha):
    if act == "elu" and alpha == 0:
        alpha = 1e-3  # an ELU's alpha is positive
    x = rng.standard_normal((9, 5)).astype(dtype)
    w = rng.standard_normal((5, 4)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    y = dense_forward_check(x, w, b, ACTIVATION_CODES[act], alpha)
    x64, w64, b64 = x.astype(np.float64), w.astype(np.float64), b.astype(np.float64)
    _close(y, ref.dense_forward(x64, w64, b64, act, alpha), dtype, 5)
    dy = rng.standard_normal((9, 4)).astype(dtype)
    got = dense_backward_check(x, w, y, dy, ACTIVATION_CODES[act], alpha=alpha)
    want = ref.dense_backward(x64, w64, y.astype(np.float64), dy.astype(np.float64), act, b=b64, alpha=alpha)
    for g, e in zip(got, want):
        _close(g, e, dtype, 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ["gelu", "silu"])
def test_activations_differentiated_from_their_input_keep_it(rng, dtype, act):
    x = rng.standard_normal((7, 5)).astype(dtype)
    w = rng.standard_normal((5, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    y, pre = dense_forward_check(x, w, b, ACTIVATION_CODES[act], keep_pre=True)
    z = x.astype(np.float64) @ w.astype(np.float64) + b
    _close(pre, z, dtype, 5)
    _close(y, ref.activation(z, act), dtype, 5)
    with pytest.raises(ValueError, match="needs `pre`"):
        dense_backward_check(x, w, y, np.ones_like(y), ACTIVATION_CODES[act])


# a unit team member's columns of a 100-wide layer (blocks of 16), one column, all, none
COLUMNS = [(0, 48), (48, 100), (64, 100), (16, 17), (0, 100), (5, 5)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("c0,c1", COLUMNS)
def test_bias_and_activation_over_a_block_of_columns(rng, dtype, act, c0, c1):
    """The elementwise pass a unit team member runs over its columns [c0, c1) of a wider
    matrix (rows 100 apart): z + b and act(z + b) there, nothing written elsewhere."""
    z = rng.standard_normal((7, 100)).astype(dtype)
    b = rng.standard_normal(100).astype(dtype)
    z2, y = bias_act_columns_check(z, b, ACTIVATION_CODES[act], c0, c1)
    inside = (z[:, c0:c1].astype(np.float64) + b[c0:c1])
    _close(z2[:, c0:c1], inside, dtype)
    outside = np.ones(100, bool)
    outside[c0:c1] = False
    np.testing.assert_array_equal(z2[:, outside], z[:, outside])
    assert np.isnan(y[:, outside]).all()
    if c1 > c0:
        _close(y[:, c0:c1], ref.activation(inside, act), dtype, 10)
    z3, y3 = bias_act_columns_check(z, None, ACTIVATION_CODES["tanh"], c0, c1)
    np.testing.assert_array_equal(z3, z)
    _close(y3[:, c0:c1], np.tanh(z[:, c0:c1].astype(np.float64)), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("c0,c1", COLUMNS)
def test_activation_backward_over_a_block_of_columns(rng, dtype, act, c0, c1):
    """dz = dy·act' over columns [c0, c1) of rows 100 apart, and the bias gradient of those
    columns (their sums over the rows) from the same pass; nothing written elsewhere."""
    rows = 9
    pre = rng.standard_normal((rows, 100)).astype(dtype)
    y = np.full_like(pre, 5.0)
    if c1 > c0:
        y[:, c0:c1] = ref.activation(pre[:, c0:c1].astype(np.float64), act)
    dy = rng.standard_normal((rows, 100)).astype(dtype)
    dz, db = act_backward_columns_check(dy, y, pre, ACTIVATION_CODES[act], c0, c1)
    outside = np.ones(100, bool)
    outside[c0:c1] = False
    assert np.isnan(dz[:, outside]).all() and db.shape == (c1 - c0,)
    if c1 > c0:
        expected = ref.activation_backward(dy[:, c0:c1].astype(np.float64),
                                           y[:, c0:c1].astype(np.float64), act,
                                           z=pre[:, c0:c1].astype(np.float64))
        _close(dz[:, c0:c1], expected, dtype, 10)
        _close(db, expected.sum(axis=0), dtype, 10 * rows)


def test_block_of_columns_arguments_are_checked():
    z = np.zeros((3, 8), np.float32)
    with pytest.raises(ValueError, match=r"\[0, 8\]"):
        bias_act_columns_check(z, None, ACTIVATION_CODES["relu"], 4, 9)
    with pytest.raises(ValueError, match=r"\[0, 8\]"):
        act_backward_columns_check(z, z, None, ACTIVATION_CODES["relu"], 5, 4)
    with pytest.raises(ValueError, match="`b`"):
        bias_act_columns_check(z, np.zeros(3, np.float32), ACTIVATION_CODES["relu"], 0, 8)

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind,k", [("mean_squared_error", 5), ("mean_absolute_error", 5),
                                    ("top_k_categorical_accuracy", 1), ("top_k_categorical_accuracy", 3),
                                    ("sparse_top_k_categorical_accuracy", 2)])
def test_metrics_against_numpy(rng, dtype, kind, k):
    from fastmlp import metrics
    p = rng.random((40, 6)).astype(dtype)
    p[3, :] = 0.5  # ties: all count as within the top k
    labels = rng.integers(0, 6, 40).astype(np.int32)
    targets = rng.random((40, 6)).astype(dtype) if kind.startswith("mean") else np.eye(6, dtype=dtype)[labels]
    sparse = kind.startswith("sparse")
    got = accuracy_check(ACCURACY_CODES[kind], p, labels if sparse else None, None if sparse else targets, k)
    want = metrics.accuracy(kind, labels if sparse else targets, p, k).sum()
    assert got == pytest.approx(want, rel=1e-6)
