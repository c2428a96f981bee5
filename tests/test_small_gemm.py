"""fastmlp's own float32 GEMM (csrc/small_gemm.h) that inference runs on, and the predict paths
built on it: against a NumPy float64 reference at every level this CPU runs, at every tile
shape and edge; each row's result independent of its batch and of threads; the fast path and
the thread split bitwise equal to the checked single-thread path."""
import threading

import numpy as np
import pytest
from conftest import guarded_product

import fastmlp
from fastmlp import config
from fastmlp._kernels.dense import dense_forward_check
from fastmlp._kernels.small_gemm import LEVEL_NAMES, small_gemm_check, small_gemm_level
from fastmlp.parallel import split_rows

TOP = small_gemm_level()
LEVELS = [level for level in (1, 2) if level <= TOP]
needs_kernel = pytest.mark.skipif(TOP == 0, reason="this CPU has neither AVX2 with FMA nor AVX-512: "
                                                   "inference runs on BLAS")

# rows: each tile height (1..6) and a few blocks with a remainder; columns: below, at and past
# each vector and panel width (8, 16, 32 for AVX2; 16, 64, 128 for AVX-512), tails of 1..8
# lanes (AVX-512 computes them in a ymm) and of 9..16, vector counts that split into uneven
# panels (AVX-512: 13 vectors as 4 + 3 + 3 + 3); k from 1 up
ROWS = [1, 2, 3, 5, 6, 7, 13, 64]
COLS = [1, 7, 8, 9, 15, 16, 17, 24, 31, 33, 63, 64, 65, 100, 127, 128, 129, 136, 200, 300]
DEPTHS = [1, 2, 17, 784]


def _reference(x, w):
    return x.astype(np.float64) @ w.astype(np.float64)


def _tolerance(x, w):
    """float32 rounding of k products and sums: k·eps·Σ|x||w| bounds the error per element."""
    return x.shape[1] * np.finfo(np.float32).eps * (np.abs(x).astype(np.float64) @ np.abs(w))


def _guarded_product(x, w, level, trans_x=False):
    """op(x)·w by the kernel, written inside guards (conftest.guarded_product)."""
    m, n = x.shape[1] if trans_x else x.shape[0], w.shape[1]
    return guarded_product(lambda y: small_gemm_check(x, w, y, level, trans_x=trans_x), m, n)


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_matches_float64_reference_at_every_tile_edge(level):
    rng = np.random.default_rng(level)
    for m in ROWS:
        for n in COLS:
            for k in DEPTHS:
                x = rng.standard_normal((m, k)).astype(np.float32)
                w = rng.standard_normal((k, n)).astype(np.float32)
                err = np.abs(_guarded_product(x, w, level) - _reference(x, w))
                assert np.all(err <= _tolerance(x, w)), (m, n, k, float(np.nanmax(err)))


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_empty_depth_gives_zeros_and_empty_shapes_write_nothing(level):
    y = np.full((3, 5), np.nan, np.float32)
    assert small_gemm_check(np.empty((3, 0), np.float32), np.empty((0, 5), np.float32), y, level)
    assert np.all(y == 0)
    assert small_gemm_check(np.empty((0, 4), np.float32), np.ones((4, 5), np.float32),
                            np.empty((0, 5), np.float32), level)


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_a_rows_result_does_not_depend_on_its_batch(level):
    """One FMA chain per output in k order, whatever the tile: row i of a batch equals row i
    computed alone, bitwise (what makes the thread split and the fast path exact)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((37, 784)).astype(np.float32)
    w = rng.standard_normal((784, 300)).astype(np.float32)
    whole = np.empty((37, 300), np.float32)
    small_gemm_check(x, w, whole, level)
    for i in range(37):
        alone = np.empty((1, 300), np.float32)
        small_gemm_check(x[i:i + 1].copy(), w, alone, level)
        np.testing.assert_array_equal(alone[0], whole[i])
    for start, stop in split_rows(37, 4):
        part = np.empty((stop - start, 300), np.float32)
        small_gemm_check(x[start:stop].copy(), w, part, level)
        np.testing.assert_array_equal(part, whole[start:stop])


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_dense_forward_on_the_own_gemm_matches_blas(level):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((33, 50)).astype(np.float32)
    w = rng.standard_normal((50, 70)).astype(np.float32)
    b = rng.standard_normal(70).astype(np.float32)
    for act in range(4):  # linear, relu, sigmoid, tanh
        own = dense_forward_check(x, w, b, act, level=level)
        blas = dense_forward_check(x, w, b, act, level=0)
        np.testing.assert_allclose(own, blas, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="level"):
        dense_forward_check(x, w, b, 0, level=TOP + 1)


def test_level_names_and_range():
    assert TOP in LEVEL_NAMES
    x = np.ones((2, 3), np.float32)
    w = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="above what this CPU runs"):
        small_gemm_check(x, w, np.empty((2, 4), np.float32), TOP + 1)
    with pytest.raises(ValueError, match="do not chain"):
        small_gemm_check(x, w, np.empty((2, 5), np.float32))
    with pytest.raises(ValueError, match="float32"):
        small_gemm_check(x.astype(np.float64), w, np.empty((2, 4), np.float32))


def _model(hidden=(300, 200, 100), input_shape=(784,)):
    layers = [fastmlp.layers.Flatten(input_shape=input_shape)] if len(input_shape) > 1 else []
    layers.append(fastmlp.layers.Dense(hidden[0], activation="relu",
                                       **({} if layers else {"input_shape": input_shape})))
    layers += [fastmlp.layers.Dense(units, activation="relu") for units in hidden[1:]]
    layers.append(fastmlp.layers.Dense(10, activation="softmax"))
    fastmlp.utils.set_random_seed(5)
    return fastmlp.Sequential(layers)


def _inputs(rows, width=784, seed=0):
    return np.random.default_rng(seed).random((rows, width), dtype=np.float32)


@needs_kernel
def test_inference_runs_on_the_own_gemm_and_matches_blas():
    model = _model()
    network = model.engine.network
    assert network.gemm_levels == (TOP, TOP)  # inference and training's small forward GEMMs
    x = _inputs(70)
    own = model.predict(x, verbose=0)
    network.set_gemm_levels(0, 0)
    try:
        blas = model.predict(x, verbose=0)
    finally:
        network.set_gemm_levels(TOP, TOP)
    np.testing.assert_allclose(own, blas, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="predict"):
        network.set_gemm_levels(TOP + 1, 0)


def test_float64_models_stay_on_blas():
    fastmlp.config.set_floatx("float64")
    try:
        model = _model(hidden=(8,))
    finally:
        fastmlp.config.set_floatx("float32")
    assert model.engine.network.gemm_levels == (0, 0)
    assert model.engine._parts(10 ** 6) == 1  # BLAS has threads of its own
    with pytest.raises(ValueError, match="train"):
        model.engine.network.set_gemm_levels(0, 1)


def test_fast_path_equals_the_checked_path_bitwise():
    model = _model()
    for rows in (1, 5, 64):
        x = _inputs(rows, seed=rows)
        fast = model.predict_on_batch(x)
        assert model.engine.network.predict_published(x) is not None  # this x takes the fast path
        np.testing.assert_array_equal(fast, model(x))
        np.testing.assert_array_equal(fast, model.predict(x, batch_size=7, verbose=0))
        # forms the fast path declines: converted by the checked path, same numbers
        assert model.engine.network.predict_published(x.astype(np.float64)) is None
        np.testing.assert_array_equal(fast, model.predict_on_batch(x.astype(np.float64)))
        np.testing.assert_array_equal(fast, model.predict_on_batch(np.asfortranarray(x)))
        np.testing.assert_array_equal(fast, model.predict_on_batch(x.tolist()))


def test_fast_path_declines_what_it_must_not_take():
    model = _model(hidden=(16,))
    x = _inputs(3)
    x[1, 5] = np.nan
    assert model.engine.network.predict_published(x) is None
    with pytest.raises(ValueError, match="NaN|finite"):
        model.predict_on_batch(x)
    with pytest.raises(ValueError, match="shape"):
        model.predict_on_batch(_inputs(3, width=783))
    # the compiled boundary declines them itself, whatever its caller checked before
    network, weights = model.engine.network, model.engine.published
    for bad in (_inputs(3, width=783), _inputs(3, width=785), _inputs(3)[:, :10],
                _inputs(3).astype(np.float64), _inputs(3)[None], np.asfortranarray(_inputs(3))):
        assert network.predict_fast(weights, bad, 100) is None
    assert network.predict_fast(weights[:-1], _inputs(3), 100) is None
    assert network.predict_fast(weights, _inputs(3), 2) is None  # over max_rows
    assert model.engine.network.predict_published(np.empty((0, 784), np.float32)) is None
    with pytest.raises(ValueError, match="empty"):
        model.predict_on_batch(np.empty((0, 784), np.float32))
    # a model over 28×28 images: a flat (N, 784) array is the wrong shape, not a fast path
    images = _model(hidden=(16,), input_shape=(28, 28))
    with pytest.raises(ValueError, match="shape"):
        images.predict_on_batch(_inputs(2))
    pictures = _inputs(2).reshape(2, 28, 28)
    assert images.engine.network.predict_published(pictures) is not None  # its own shape
    np.testing.assert_array_equal(images.predict_on_batch(pictures),
                                  images.predict(pictures, verbose=0))


@needs_kernel
def test_predict_passes_keep_the_widest_layer_within_its_budget():
    """On the own GEMM a pass holds at most 2**15 elements of the widest layer (at least 32
    rows); on BLAS, the batch (up to the scratch budget). A row's outputs do not change."""
    model = _model()  # 784-300-200-100-10
    network = model.engine.network
    assert network.pass_rows(1024, 1024) == 2 ** 15 // 300 == 109
    assert network.pass_rows(50, 1024) == 50
    assert network.pass_rows(1024, 16) == 16
    wide = _model(hidden=(2048,))
    assert wide.engine.network.pass_rows(1024, 1024) == 32
    x = _inputs(300)
    passes = model.predict_on_batch(x)
    np.testing.assert_array_equal(passes, np.concatenate([model(x[i:i + 1]) for i in range(300)]))
    network.set_gemm_levels(0, network.gemm_levels[1])
    try:
        assert network.pass_rows(1024, 1024) == 1024
    finally:
        network.set_gemm_levels(TOP, TOP)


def test_a_request_thread_spins_for_the_gil_only_while_another_has_just_taken_it():
    """The GIL hint (csrc/gil_hint.h): a predict call records when it takes the GIL back and
    clears that when it lets the GIL go; a thread done with its work spins on only while the
    record stands and is under FM_GIL_HINT_TICKS old (ticks given, no clock read)."""
    from fastmlp._kernels.network import gil_hint_check
    if gil_hint_check() is None:
        pytest.skip("no GIL hint on this platform (it needs GCC or Clang on x86)")
    ticks = gil_hint_check.ticks
    assert gil_hint_check("taken") is True
    assert gil_hint_check("released") is False
    model = _model(hidden=(16,))
    x = _inputs(1)
    model(x)
    assert gil_hint_check() is True  # the call took the GIL back after its pass
    gil_hint_check("released")
    model(x.astype(np.float64))  # the checked path, which records nothing
    assert gil_hint_check() is False
    t = 10 ** 12
    assert gil_hint_check(recorded=t, taken=t, now=t) is True
    assert gil_hint_check(recorded=t, taken=t, now=t + ticks - 1) is True
    assert gil_hint_check(recorded=t, taken=t, now=t + ticks) is False  # a stale record
    assert gil_hint_check(recorded=0, taken=t, now=t) is False  # let go since
    with pytest.raises(ValueError, match="action"):
        gil_hint_check("held")


def test_predict_published_takes_the_models_own_row_shape_only():
    """predict_on_batch's one compiled call: rows of the model's input shape (flat, or images
    a Flatten reads), with the published weights; anything else goes the checked way."""
    model = _model(hidden=(16,))
    network = model.engine.network
    x = _inputs(4)
    assert network.published is model.engine.published
    np.testing.assert_array_equal(network.predict_published(x), model.predict(x, verbose=0))
    for declined in (x.reshape(4, 28, 28), x[:, None], x.astype(np.float64), np.asfortranarray(x),
                     x.tolist(), _inputs(4, width=783), np.empty((0, 784), np.float32)):
        assert network.predict_published(declined) is None
    images = _model(hidden=(16,), input_shape=(28, 28))
    pictures = x.reshape(4, 28, 28)
    out = images.engine.network.predict_published(pictures)
    np.testing.assert_array_equal(out, images.predict(pictures, verbose=0))
    assert images.engine.network.predict_published(x) is None  # flat rows: not its shape
    assert images.engine.network.predict_published(x.reshape(4, 14, 56)) is None
    # the weights it reads are the published ones: a new snapshot is seen at once
    old = model.predict_on_batch(x)
    model.layers[0].set_weights([w * 2 for w in model.layers[0].get_weights()])
    assert not np.array_equal(network.predict_published(x), old)
    np.testing.assert_array_equal(network.predict_published(x), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="row_shape"):
        network.set_fast_path(10, (28, 27))
    with pytest.raises(ValueError, match="row_shape"):
        network.set_fast_path(10, (784, 0))
    with pytest.raises(ValueError, match="max_rows"):
        network.set_fast_path(0, (784,))


@needs_kernel
def test_a_large_call_splits_across_threads_with_the_same_result(threads):
    model = _model()
    engine = model.engine
    x = _inputs(1000)
    threads(1)
    assert engine._parts(1000) == 1
    alone = model.predict(x, verbose=0)
    threads(4)
    # 1000 rows × 316,200 multiply-adds / 2**24 per part: 18 parts' worth, capped at 4
    assert engine._parts(1000) == 4
    assert engine._parts(64) == 1  # a request-sized call stays on its thread
    assert engine.network.predict_published(x) is None  # too large for the one-thread fast path
    np.testing.assert_array_equal(model.predict(x, verbose=0), alone)
    np.testing.assert_array_equal(model.predict_on_batch(x), alone)
    np.testing.assert_array_equal(model.predict(x, batch_size=13, verbose=0), alone)


@needs_kernel
def test_request_threads_get_single_thread_results():
    model = _model(hidden=(100,))
    inputs = [_inputs(rows, seed=rows) for rows in (1, 2, 7, 64)]
    expected = [model.predict_on_batch(x) for x in inputs]
    failures = []

    def request(index):
        for _ in range(200):
            for x, want in zip(inputs, expected):
                if not np.array_equal(model(x), want):
                    failures.append(index)
                    return

    workers = [threading.Thread(target=request, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []


def test_set_num_threads_checks_its_argument(threads):
    default = config.num_threads()
    assert default >= 1
    threads(3)
    assert config.num_threads() == 3
    threads(None)
    assert config.num_threads() == default
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="num_threads"):
            threads(bad)


def test_split_rows_covers_every_row_once():
    for rows in (1, 2, 7, 100, 65536):
        for parts in (1, 2, 3, 8):
            if parts > rows:
                continue
            bounds = split_rows(rows, parts)
            assert bounds[0][0] == 0 and bounds[-1][1] == rows
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            sizes = [stop - start for start, stop in bounds]
            assert max(sizes) - min(sizes) <= 1


def test_run_parts_raises_a_parts_error_after_all_parts_end():
    from fastmlp.parallel import run_parts
    done = []

    def work(start, stop):
        if start == 0:
            raise RuntimeError("part 0 failed")
        done.append((start, stop))

    with pytest.raises(RuntimeError, match="part 0 failed"):
        run_parts(work, 30, 3)
    assert sorted(done) == [(10, 20), (20, 30)]


def _train_one_epoch(hidden, level, batch_size):
    """Weights after one epoch of SGD with training's forward GEMMs at `level`; hidden=() is
    one softmax layer of 256 units."""
    x = _inputs(512)
    y = np.random.default_rng(1).integers(0, 10, 512)
    fastmlp.utils.set_random_seed(5)
    if hidden:
        layers = [fastmlp.layers.Dense(hidden[0], activation="relu", input_shape=(784,)),
                  fastmlp.layers.Dense(10, activation="softmax")]
    else:
        layers = [fastmlp.layers.Dense(256, activation="softmax", input_shape=(784,))]
    model = fastmlp.Sequential(layers)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.engine.network.set_gemm_levels(TOP, level)
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    return model.get_weights()


@needs_kernel
def test_training_forward_on_the_own_gemm_matches_blas():
    """Training's forward and weight-gradient GEMMs within the limit run on the own kernel: one
    epoch ends at BLAS's weights within float32 rounding."""
    blas, own = _train_one_epoch((32,), 0, 32), _train_one_epoch((32,), TOP, 32)
    for want, got in zip(blas, own):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    blas, own = _train_one_epoch((), 0, 64), _train_one_epoch((), TOP, 64)
    for want, got in zip(blas, own):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@needs_kernel
def test_training_gemms_past_the_limit_run_on_blas():
    model = _model()  # 784-300-200-100-10: dense steps 0..3
    network = model.engine.network
    limit = network.train_gemm_max
    assert limit in (2**22, 2**24)
    # 784×300 at the last row count within the limit, and the first past it
    within = limit // (784 * 300)
    assert network.train_gemm_level(within, 0) == TOP
    assert network.train_gemm_level(within + 1, 0) == 0
    assert network.train_gemm_level(1, 3) == TOP     # 100×10
    network.set_gemm_levels(TOP, 0)
    assert network.train_gemm_level(1, 0) == 0
    network.set_gemm_levels(TOP, TOP)
    with pytest.raises(ValueError, match="dense step"):
        network.train_gemm_level(32, 4)


@pytest.mark.parametrize("env, limit", [({"OPENBLAS_NUM_THREADS": "1"}, (2**63 - 1, False)),
                                        ({"OPENBLAS_NUM_THREADS": "2"}, (2**24, True)),
                                        ({"OMP_NUM_THREADS": "1"}, (2**63 - 1, False)),
                                        ({"OPENBLAS_NUM_THREADS": "4", "OMP_NUM_THREADS": "1"},
                                         (2**24, True))])
def test_the_training_limit_follows_the_blas_threads_the_environment_sets(env, limit, tmp_path):
    """One BLAS thread: every training product on the own GEMM, dx on BLAS (one core either
    way); more: BLAS only past 2**24 multiply-adds, dx on the own GEMM too (no small product
    waits for BLAS's second thread)."""
    import os
    import subprocess
    import sys
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")}
    code = ("import fastmlp; m = fastmlp.Sequential([fastmlp.layers.Dense(3, input_shape=(4,))]); "
            "n = m.engine.network; print(n.train_gemm_max, n.solo_transposes)")
    # started outside the source tree, so that it imports the installed fastmlp
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    macs, transposes = out.stdout.split()
    assert (int(macs), transposes == "True") == limit



def test_the_training_limit_follows_the_call_thread_count():
    from fastmlp.engine import train_gemm_rule
    assert train_gemm_rule(1, 1) == train_gemm_rule(1, 2) == (2**63 - 1, False)
    assert train_gemm_rule(2, 2) == train_gemm_rule(4, 3) == (2**24, True)
    # a call of one thread under BLAS of several: every product on the own GEMM, dx included
    assert train_gemm_rule(2, 1) == train_gemm_rule(8, 1) == (2**63 - 1, True)


@needs_kernel
def test_a_one_thread_fit_hands_no_product_to_blas_threads(tmp_path):
    """set_num_threads(1) under BLAS of two threads: fit's first layer of M2 at batch 128
    (30 M multiply-adds, past 2**24) runs on the own GEMM; with 2 threads allowed, a call no
    team takes hands it to BLAS again. Each fit call (and the benchmark's ceiling,
    gemm_steps) applies the rule of its thread count."""
    import os
    import subprocess
    import sys
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")}
    code = """if True:
        import numpy as np, fastmlp
        from fastmlp import config
        m = fastmlp.Sequential([fastmlp.Input((784,)), fastmlp.layers.Dense(300, activation="relu"),
                                fastmlp.layers.Dense(10, activation="softmax")])
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        n = m.engine.network
        x = np.random.default_rng(0).random((256, 784), dtype=np.float32)
        y = np.arange(256) % 10
        for threads, batch in ((1, 128), (2, 16), (1, 16)):
            config.set_num_threads(threads)
            m.fit(x, y, batch_size=batch, epochs=1, verbose=0)
            print(n.train_gemm_max, n.solo_transposes, n.train_gemm_level(128, 0))
        for threads in (2, 1):  # the benchmark's ceiling runs its products as fit would
            config.set_num_threads(threads)
            m.engine.gemm_steps(16, 1)
            print(n.train_gemm_max, n.solo_transposes, n.train_gemm_level(128, 0))
    """
    out = subprocess.run([sys.executable, "-c", code], env={**clean, "OPENBLAS_NUM_THREADS": "2"},
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line.split() for line in out.stdout.splitlines()]
    one, two = [str(2**63 - 1), "True", str(TOP)], [str(2**24), "True", "0"]
    assert lines == [one, two, one, two, one]

@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_transposed_x_matches_float64_reference(level):
    """xᵀ·dz read through strides (the weight gradient): every tile edge, as row-major x."""
    rng = np.random.default_rng(11)
    for m in ROWS:            # n_in: the rows of the product
        for n in (1, 9, 17, 65, 100, 129):
            for k in (1, 5, 32, 128):   # the batch
                x = rng.standard_normal((k, m)).astype(np.float32)
                dz = rng.standard_normal((k, n)).astype(np.float32)
                err = np.abs(_guarded_product(x, dz, level, trans_x=True) - _reference(x.T, dz))
                assert np.all(err <= _tolerance(x.T, dz)), (m, n, k)


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_dense_backward_weight_gradient_on_the_own_gemm_matches_blas(level):
    from fastmlp._kernels.dense import dense_backward_check
    rng = np.random.default_rng(4)
    x = rng.standard_normal((33, 50)).astype(np.float32)
    w = rng.standard_normal((50, 70)).astype(np.float32)
    y = np.maximum(x @ w, 0)
    dy = rng.standard_normal((33, 70)).astype(np.float32)
    own = dense_backward_check(x, w, y, dy, 1, level=level)
    blas = dense_backward_check(x, w, y, dy, 1, level=0)
    for got, want in zip(own, blas):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="level"):
        dense_backward_check(x, w, y, dy, 1, level=TOP + 1)


PREDICT_LOOP = """
import numpy as np, fastmlp
def rss_pages():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1])
model = fastmlp.Sequential([fastmlp.layers.Dense(300, activation="relu", input_shape=(784,)),
                            fastmlp.layers.Dense(10, activation="softmax")])
x = np.random.default_rng(0).random((1, 784), dtype=np.float32)
batch = np.random.default_rng(1).random((64, 784), dtype=np.float32)
for _ in range(20000):
    model(x)
start = rss_pages()
for _ in range(1000000):
    model(x)             # the fast path: its scratch malloc'd and freed per call
for _ in range(3000):
    model.predict(batch, verbose=0)   # the checked path
grown = (rss_pages() - start) * 4096 / 2**20
assert grown < 4, f"RSS grew by {grown:.1f} MiB over 1,003,000 predict calls"
print("ok")
"""


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="reads RSS from /proc (Linux)")
def test_a_long_predict_loop_does_not_grow_memory():
    from conftest import run_isolated
    assert run_isolated(PREDICT_LOOP, timeout=300).strip() == "ok"


def test_set_train_gemm_max_moves_the_limit():
    network = _model().engine.network
    network.set_train_gemm_max(784 * 300 * 10)
    assert network.train_gemm_max == 784 * 300 * 10
    assert network.train_gemm_level(10, 0) == network.gemm_levels[1]
    assert network.train_gemm_level(11, 0) == 0
    with pytest.raises(ValueError, match="macs"):
        network.set_train_gemm_max(-1)


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_bias_and_relu_as_tiles_are_stored_equal_the_pass_after_bitwise(level):
    # the pass after the product: z + b, then z > 0 ? z : 0 (csrc/elementwise.h); NaN and -0
    # among the products (and a NaN bias) show any difference in how a ReLU treats them
    rng = np.random.default_rng(level)
    for m in ROWS:
        for n in COLS:
            for k in (1, 17):
                x = rng.standard_normal((m, k)).astype(np.float32)
                w = rng.standard_normal((k, n)).astype(np.float32)
                x[0, 0] = np.nan if m > 2 else x[0, 0]
                w[:, 0] = 0.0
                x[-1, :] = -0.0
                b = rng.standard_normal(n).astype(np.float32)
                b[n // 2] = np.nan
                plain = np.empty((m, n), np.float32)
                assert small_gemm_check(x, w, plain, level)
                with np.errstate(invalid="ignore"):
                    z = plain + b
                    want = {False: z, True: np.where(z > 0, z, np.float32(0))}
                for relu in (False, True):
                    for bias in (b, None):
                        got = np.full((m, n), 7.0, np.float32)
                        assert small_gemm_check(x, w, got, level, bias=bias, relu=relu)
                        expect = want[relu] if bias is not None else (
                            np.where(plain > 0, plain, np.float32(0)) if relu else plain)
                        np.testing.assert_array_equal(got.view(np.uint32),
                                                      expect.view(np.uint32), err_msg=f"{m}x{n}")
