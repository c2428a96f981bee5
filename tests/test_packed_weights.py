"""Dense kernels packed for fastmlp's own GEMM (csrc/packed_weights.h): the product from packs
equals the in-place one bit for bit at every tile shape and edge, and the float64 reference
within float32 rounding; the network packs the published weights by its rule (a call of
PACK_MIN_ROWS rows, or the PACK_AFTER_CALLS-th call of 3 or more), reads them for such calls
only, and never reads packs of weights it no longer publishes."""
import threading

import numpy as np
import pytest
from conftest import guarded_product

import fastmlp
from fastmlp._kernels import network as network_module
from fastmlp._kernels.small_gemm import packed_floats, packed_gemm_check, small_gemm_check, small_gemm_level

TOP = small_gemm_level()
LEVELS = [level for level in (1, 2) if level <= TOP]
needs_kernel = pytest.mark.skipif(TOP == 0, reason="this CPU has neither AVX2 with FMA nor AVX-512: "
                                                   "inference runs on BLAS, nothing is packed")

# rows: each tile height and blocks with a remainder; columns: below, at and past each vector
# and panel width, tails of 1..8 and 9..16 lanes, vector counts that split into uneven panels
ROWS = [1, 2, 3, 6, 7, 13, 64]
COLS = [1, 7, 8, 9, 16, 17, 24, 31, 33, 64, 65, 100, 129, 200, 300]
DEPTHS = [1, 17, 784]


def _packed_product(x, w, level, bias=None, relu=False):
    """x·w from packs, written inside guards (conftest.guarded_product)."""
    return guarded_product(lambda y: packed_gemm_check(x, w, y, level, bias=bias, relu=relu),
                           x.shape[0], w.shape[1])


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_the_packed_product_equals_the_in_place_one_bitwise(level):
    rng = np.random.default_rng(level)
    for m in ROWS:
        for n in COLS:
            for k in DEPTHS:
                x = rng.standard_normal((m, k)).astype(np.float32)
                w = rng.standard_normal((k, n)).astype(np.float32)
                bias = rng.standard_normal(n).astype(np.float32)
                for b, relu in ((None, False), (bias, True)):
                    in_place = np.empty((m, n), np.float32)
                    assert small_gemm_check(x, w, in_place, level, bias=b, relu=relu)
                    packed = _packed_product(x, w, level, b, relu)
                    np.testing.assert_array_equal(packed, in_place, err_msg=f"{(m, k, n)}")
                reference = x.astype(np.float64) @ w.astype(np.float64)
                tolerance = k * np.finfo(np.float32).eps * (np.abs(x).astype(np.float64) @ np.abs(w))
                assert (np.abs(_packed_product(x, w, level) - reference) <= tolerance + 1e-30).all()


def test_packed_floats_follow_the_panels():
    # AVX-512: 300 columns are 19 vectors in panels of 4 + 4 + 4 + 4 + 3 (1,216 floats a row),
    # 10 columns one vector; AVX2: panels of 16 columns; no packed path at level 0
    assert packed_floats(2, 784, 300) == 784 * 16 * 19
    assert packed_floats(2, 3, 10) == 3 * 16
    assert packed_floats(2, 5, 65) == 5 * 16 * 5
    assert packed_floats(1, 784, 300) == 784 * 16 * 19
    assert packed_floats(1, 2, 17) == 2 * 32
    assert packed_floats(0, 784, 300) == 0
    with pytest.raises(ValueError, match="k"):
        packed_floats(2, -1, 3)


def _model(hidden=(300, 200, 100)):
    fastmlp.utils.set_random_seed(3)
    model = fastmlp.Sequential([fastmlp.layers.Dense(hidden[0], activation="relu", input_shape=(784,))]
                               + [fastmlp.layers.Dense(u, activation="relu") for u in hidden[1:]]
                               + [fastmlp.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _inputs(rows, seed=0):
    return np.random.default_rng(seed).random((rows, 784), dtype=np.float32)


def _in_place(model, x):
    """The model's outputs with packing off (then back on, unpacked)."""
    network = model.engine.network
    network.set_pack_min_rows(0)
    try:
        return model.predict(x, batch_size=len(x), verbose=0)
    finally:
        network.set_pack_min_rows(network_module.PACK_MIN_ROWS)


def _float64_forward(model, x):
    out = x.astype(np.float64)
    layers = model.get_weights()
    for i in range(0, len(layers), 2):
        out = out @ layers[i].astype(np.float64) + layers[i + 1]
        out = np.maximum(out, 0) if i + 2 < len(layers) else out
    out = np.exp(out - out.max(axis=1, keepdims=True))
    return out / out.sum(axis=1, keepdims=True)


@needs_kernel
def test_a_large_call_packs_and_gives_the_in_place_bits():
    model = _model()
    network = model.engine.network
    x = _inputs(network_module.PACK_MIN_ROWS + 72)
    expected = _in_place(model, x)
    assert not network.packed
    got = model.predict(x, batch_size=len(x), verbose=0)
    assert network.packed
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(got, _float64_forward(model, x), rtol=1e-4, atol=1e-6)
    # a call of 1 or 2 rows reads w in place, 3 or more the packs: the same bits either way
    for rows in (1, 2, 3, 8):
        np.testing.assert_array_equal(model.predict_on_batch(x[:rows]), expected[:rows])


@needs_kernel
def test_small_calls_pack_at_the_counted_call():
    model = _model()
    network = model.engine.network
    x = _inputs(8, seed=1)
    expected = _in_place(model, x)
    for _ in range(10):  # one and two rows read in place and do not count
        model.predict_on_batch(x[:1])
        model(x[:2])
    assert not network.packed
    for call in range(1, network_module.PACK_AFTER_CALLS + 1):
        np.testing.assert_array_equal(model.predict_on_batch(x), expected)
        assert network.packed == (call == network_module.PACK_AFTER_CALLS), call
    np.testing.assert_array_equal(model(x), expected)


@needs_kernel
def test_a_publish_drops_the_packs_and_the_new_weights_are_read():
    model = _model()
    network = model.engine.network
    x = _inputs(network_module.PACK_MIN_ROWS, seed=2)
    before = model.predict(x, batch_size=len(x), verbose=0)
    assert network.packed
    model.set_weights([w * np.float32(0.5) for w in model.get_weights()])
    assert not network.packed
    after = model.predict(x, batch_size=len(x), verbose=0)
    assert network.packed
    assert not np.array_equal(after, before)
    np.testing.assert_array_equal(after, _in_place(model, x))
    # training publishes too
    model.fit(x, np.arange(len(x)) % 10, batch_size=32, epochs=1, verbose=0)
    assert not network.packed
    trained = model.predict(x, batch_size=len(x), verbose=0)
    np.testing.assert_array_equal(trained, _in_place(model, x))
    assert not np.array_equal(trained, after)


@needs_kernel
def test_a_reader_of_an_older_snapshot_reads_it_in_place():
    model = _model()
    network = model.engine.network
    x = _inputs(network_module.PACK_MIN_ROWS, seed=3)
    old = model.engine.published
    expected = model.predict(x, batch_size=len(x), verbose=0)
    assert network.packed
    model.set_weights([w + np.float32(0.01) for w in model.get_weights()])
    model.predict(x, batch_size=len(x), verbose=0)  # packs the new weights
    out = np.empty_like(expected)
    network.predict(old, x, out, len(x))  # a thread that read `published` before the publish
    np.testing.assert_array_equal(out, expected)


def test_published_weights_are_read_only_and_get_weights_copies():
    model = _model(hidden=(16,))
    published = model.engine.published
    assert not published.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        published[0] = 1.0
    weights = model.get_weights()
    weights[0][...] = 0  # a copy: the model does not change
    assert np.any(model.get_weights()[0] != 0)


@needs_kernel
def test_evaluate_reads_the_packs_with_the_in_place_result():
    model = _model()
    network = model.engine.network
    x = _inputs(300, seed=4)
    y = np.arange(300) % 10
    network.set_pack_min_rows(0)
    in_place = model.evaluate(x, y, batch_size=300, verbose=0)
    network.set_pack_min_rows(network_module.PACK_MIN_ROWS)
    packed = model.evaluate(x, y, batch_size=300, verbose=0)
    assert network.packed
    assert packed == in_place


def test_float64_models_never_pack():
    fastmlp.config.set_floatx("float64")
    try:
        model = _model(hidden=(8,))
    finally:
        fastmlp.config.set_floatx("float32")
    model.predict(_inputs(300), verbose=0)
    assert not model.engine.network.packed


@needs_kernel
def test_threads_calling_at_once_pack_once_and_read_the_in_place_result():
    model = _model()
    network = model.engine.network
    x = _inputs(8, seed=5)
    expected = _in_place(model, x)
    start, failures = threading.Barrier(8), []

    def call():
        start.wait()
        for _ in range(20):
            if not np.array_equal(model.predict_on_batch(x), expected):
                failures.append(1)

    callers = [threading.Thread(target=call) for _ in range(8)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert not failures
    assert network.packed


def test_set_pack_min_rows_checks_its_argument():
    network = _model(hidden=(8,)).engine.network
    assert network.pack_min_rows == network_module.PACK_MIN_ROWS
    with pytest.raises(ValueError, match="rows"):
        network.set_pack_min_rows(-1)
