"""The one-row product that skips the zeros of x (csrc/sparse_row.h), which one-sample
inference runs: bitwise the dense product's values (the own GEMM's one-row tile) and within
float32 rounding of a NumPy float64 reference, at every panel edge and both levels; its index
of x's non-zero elements exact; its rule for when it declines; and the network's use of it
(one-row calls, the wide calls' columns, and not at all over weights that are not finite,
where 0·inf must give NaN)."""
import numpy as np
import pytest
from conftest import guarded_product, run_isolated

import fastmlp
from fastmlp import config
from fastmlp._kernels.dense import dense_forward_check
from fastmlp._kernels.small_gemm import skip_zeros_check, small_gemm_check, small_gemm_level

TOP = small_gemm_level()
LEVELS = [level for level in (1, 2) if level <= TOP]
needs_kernel = pytest.mark.skipif(TOP == 0, reason="this CPU has neither AVX2 with FMA nor "
                                                   "AVX-512: inference runs on BLAS")

# columns below, at and past each vector and panel width (AVX2: 8 and 32; AVX-512: 16, and
# panels of up to 8 vectors split as evenly as they go), tails of 1..15 lanes
COLS = [1, 7, 8, 9, 16, 17, 31, 32, 33, 100, 127, 128, 129, 300]
# depths below, at and past the index builder's 8 and 16 elements a step
DEPTHS = [1, 7, 8, 15, 16, 17, 100, 784]


def _sparse_row(rng, k, zero_fraction):
    """A float32 row of k elements, about zero_fraction of them ±0 (both signs)."""
    x = rng.standard_normal(k).astype(np.float32)
    zeros = rng.random(k) < zero_fraction
    x[zeros] = np.where(rng.random(zeros.sum()) < 0.5, 0.0, -0.0)
    return x


def _skipped(x, w, level, bias=None, relu=False):
    """y by the skipping kernel, written inside guards, with its index scratch guarded too."""
    k = len(x)
    scratch = np.full(k + 32, -7, np.int32)
    y = guarded_product(lambda out: skip_zeros_check(x, w, out.reshape(-1), level, bias, relu,
                                                     scratch[:max(k, 1)]), 1, w.shape[1])[0]
    assert (scratch[max(k, 1):] == -7).all(), "the index was written past its k entries"
    kept = np.flatnonzero(x)
    np.testing.assert_array_equal(scratch[:len(kept)], kept)
    return y


def _dense(x, w, level, bias=None, relu=False):
    y = np.empty((1, w.shape[1]), np.float32)
    assert small_gemm_check(x[None].copy(), w, y, level, bias=bias, relu=relu)
    return y[0]


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_skipping_zeros_gives_the_dense_products_bits_and_the_reference(level):
    rng = np.random.default_rng(level)
    for n in COLS:
        for k in DEPTHS:
            for zero_fraction in (0.5, 0.9, 1.0):
                x = _sparse_row(rng, k, zero_fraction)
                if (x == 0).sum() < max(1, k // 8):
                    continue  # declined: too few zeros (tested below)
                w = rng.standard_normal((k, n)).astype(np.float32)
                b = rng.standard_normal(n).astype(np.float32)
                for bias, relu in ((None, False), (b, False), (b, True)):
                    got = _skipped(x, w, level, bias, relu)
                    want = _dense(x, w, level, bias, relu)
                    assert np.array_equal(got.view(np.int32), want.view(np.int32)), (n, k, relu)
                    ref = x.astype(np.float64) @ w.astype(np.float64)
                    if bias is not None:
                        ref += bias
                    if relu:
                        ref = np.maximum(ref, 0)
                    # k products and sums, then the bias's sum: (k + 1)·eps·(Σ|x||w| + |b|)
                    scale = np.abs(x).astype(np.float64) @ np.abs(w)
                    if bias is not None:
                        scale += np.abs(bias)
                    tol = (k + 1) * np.finfo(np.float32).eps * scale
                    assert np.all(np.abs(got - ref) <= tol), (n, k)


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_it_declines_below_one_zero_in_eight_and_leaves_y_untouched(level):
    rng = np.random.default_rng(11)
    k, n = 784, 100
    w = rng.standard_normal((k, n)).astype(np.float32)
    for zeros, takes in ((0, False), (k // 8 - 1, False), (k // 8, True), (k, True)):
        x = rng.standard_normal(k).astype(np.float32) + 10  # no zeros
        x[rng.permutation(k)[:zeros]] = 0
        y = np.full(n, np.nan, np.float32)
        assert skip_zeros_check(x, w, y, level) == takes, zeros
        if takes:
            np.testing.assert_array_equal(y, _dense(x, w, level))
        else:
            assert np.isnan(y).all()


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_nan_and_infinite_inputs_are_kept_as_the_dense_product_keeps_them(level):
    rng = np.random.default_rng(5)
    x = _sparse_row(rng, 100, 0.5)
    x[[3, 40, 77]] = [np.nan, np.inf, -np.inf]
    w = rng.standard_normal((100, 20)).astype(np.float32)
    got, want = _skipped(x, w, level), _dense(x, w, level)
    assert np.isnan(got).all() and np.array_equal(got, want, equal_nan=True)


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_dense_forward_of_one_row_skipping_zeros_equals_it_without_for_every_activation(level):
    rng = np.random.default_rng(9)
    x = _sparse_row(rng, 300, 0.6)[None].copy()
    w = rng.standard_normal((300, 70)).astype(np.float32) / 10
    b = rng.standard_normal(70).astype(np.float32)
    for act in range(4):  # linear, relu, sigmoid, tanh
        skipped = dense_forward_check(x, w, b, act, level=level, skip_zeros=True)
        dense = dense_forward_check(x, w, b, act, level=level)
        np.testing.assert_array_equal(skipped, dense)
    w[0, 0] = np.inf
    with pytest.raises(ValueError, match="finite"):
        dense_forward_check(x, w, b, 0, level=level, skip_zeros=True)


def _model(hidden=(300, 100), activation="relu"):
    fastmlp.utils.set_random_seed(3)
    return fastmlp.Sequential([fastmlp.Input(shape=(784,))]
                              + [fastmlp.layers.Dense(u, activation=activation) for u in hidden]
                              + [fastmlp.layers.Dense(10, activation="softmax")])


def _images(rows, seed=0):
    """Rows like Fashion-MNIST's: about half the pixels exactly zero."""
    rng = np.random.default_rng(seed)
    x = rng.random((rows, 784), dtype=np.float32)
    x[rng.random((rows, 784)) < 0.5] = 0
    return x


@needs_kernel
def test_one_sample_calls_skip_zeros_and_equal_the_rows_of_a_batch():
    model = _model()
    network = model.engine.network
    assert network.skips_zeros(model.engine.published)
    assert not network.skips_zeros(model.engine.published.copy())  # only the published snapshot
    x = _images(8)
    batch = model.predict_on_batch(x)  # 8 rows: the packed weights, no skipping
    config.set_num_threads(1)
    try:
        for i in range(8):
            np.testing.assert_array_equal(model.predict_on_batch(x[i:i + 1]), batch[i:i + 1])
            np.testing.assert_array_equal(model(x[i:i + 1]), batch[i:i + 1])
    finally:
        config.set_num_threads(None)


@needs_kernel
def test_weights_that_are_not_finite_turn_skipping_off():
    """0·inf is NaN, in Keras as in the dense product: a kernel row of an input that is zero
    must still reach the output when it holds an infinity. set_weights, fit and load_model keep
    a model's weights finite; the engine's restore does not check them (nor need the network
    trust that it was never handed such weights). (tanh: a ReLU would map the NaN to 0.)"""
    model = _model(hidden=(32,), activation="tanh")
    engine = model.engine
    x = _images(1, seed=4)
    zero_at = int(np.flatnonzero(x[0] == 0)[0])
    weights = engine.published.copy()
    engine.restore(weights)
    assert engine.network.skips_zeros(engine.published)
    weights[zero_at * 32:(zero_at + 1) * 32] = np.inf  # row zero_at of the first kernel
    engine.restore(weights)  # a new snapshot, checked again
    assert not engine.network.skips_zeros(engine.published)
    config.set_num_threads(1)
    try:
        assert np.isnan(model.predict_on_batch(x)).all()
    finally:
        config.set_num_threads(None)


@pytest.mark.skipif(TOP == 0 or not fastmlp._kernels.network.HANDOFF,
                    reason="no own GEMM or no atomics: no wide calls")
def test_wide_one_row_calls_skip_zeros_with_the_one_thread_bits():
    """A lone caller's one-row call shares its columns with a helper: each thread indexes the
    row's non-zero inputs in scratch of its own, and the result is the one-thread call's."""
    out = run_isolated("""
import time
import numpy as np
import fastmlp
from fastmlp import config
from fastmlp._kernels import network
fastmlp.utils.set_random_seed(3)
model = fastmlp.Sequential([fastmlp.Input(shape=(784,)), fastmlp.layers.Dense(300, activation="relu"),
                            fastmlp.layers.Dense(100, activation="relu"),
                            fastmlp.layers.Dense(10, activation="softmax")])
net = model.engine.network
net.set_wide_min_macs(0)
rng = np.random.default_rng(0)
x = rng.random((40, 784), dtype=np.float32)
x[rng.random((40, 784)) < 0.5] = 0
config.set_num_threads(1)
alone = [model(x[i:i + 1]) for i in range(40)]
config.set_num_threads(2)
end = time.perf_counter() + 0.03
while time.perf_counter() < end:
    model(x[:1])
before = network.wide_state()["posted"]
bad = [i for i in range(40) if not np.array_equal(model(x[i:i + 1]), alone[i])]
print("BAD", bad, "POSTED", network.wide_state()["posted"] - before)
""")
    assert "BAD []" in out, out
    assert "POSTED 0" not in out, out  # the calls did share their columns
