"""A training step's first products skip the inputs a whole block of rows has zero
(csrc/kept_inputs.h, fm_sgemm_small_kept): the lists against NumPy's, for the forward's blocks
of rows and the kernel gradient's blocks of columns, at both levels and every edge, made from
x or from the bit masks a shuffled batch's gather makes (fm_gather_row: its copy and its
finiteness too); the products over them bitwise the dense products (and within rounding of a
float64 reference); and `fit` giving the same bits with the lists as without, on one thread
and on a team of rows, on image-like data (where they skip) and dense data (where they are not
used), shuffled and in order (lists from the masks the batch's gather or in-place read made)."""
import numpy as np
import pytest

import fastmlp
from fastmlp import config
from fastmlp._kernels.small_gemm import kept_inputs_check, small_gemm_check, small_gemm_level

TOP = small_gemm_level()
LEVELS = [level for level in (1, 2) if level <= TOP]
needs_kernel = pytest.mark.skipif(TOP == 0, reason="this CPU has neither AVX2 with FMA nor "
                                                   "AVX-512: training's products run on BLAS")
BLOCK = 6  # the own GEMM's rows a tile (FM_MR)

# rows and widths below, at and past a block (6), the AVX2 and AVX-512 steps (8, 16), the
# mask words (64) of the gradient's lists
SHAPES = [(1, 1), (1, 17), (5, 7), (6, 8), (7, 16), (13, 15), (32, 784), (37, 100), (128, 65)]


def _images(rows, width, zero_fraction, seed=0):
    """Rows with about zero_fraction of their elements ±0, in runs (as images' backgrounds)."""
    rng = np.random.default_rng(seed)
    x = rng.random((rows, width), dtype=np.float32) + 0.1
    for r in range(rows):
        start = rng.integers(0, width)
        x[r, start:start + int(zero_fraction * width)] = 0.0
        x[r, rng.random(width) < zero_fraction / 4] = -0.0
    return x


def _expected_lists(x, columns):
    view = x.T if columns else x
    lists = []
    for b in range(0, view.shape[0], BLOCK):
        lists.append(np.flatnonzero((view[b:b + BLOCK] != 0).any(axis=0)))
    return lists


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("columns", [False, True], ids=["forward", "gradient"])
@pytest.mark.parametrize("gathered", [False, True], ids=["from-x", "from-gather-masks"])
def test_the_lists_hold_the_indices_a_block_keeps(level, columns, gathered):
    for rows, width in SHAPES:
        for zero_fraction in (0.0, 0.5, 0.9, 1.0):
            x = _images(rows, width, zero_fraction, seed=rows * width)
            if rows > 2:
                x[2, width // 2] = np.nan  # not zero: kept
            idx, at, *copy = kept_inputs_check(x, level, columns, gathered=gathered)
            if gathered:
                assert np.array_equal(copy[0].view(np.int32), x.view(np.int32))
            expected = _expected_lists(x, columns)
            assert len(at) == len(expected) + 1 and at[0] == 0
            for b, want in enumerate(expected):
                np.testing.assert_array_equal(idx[at[b]:at[b + 1]], want, err_msg=str((rows, width, b)))
            assert (idx[len(idx) - 16:] == -1).all()  # nothing written past the lists' room


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_products_over_the_lists_give_the_dense_products_bits(level):
    rng = np.random.default_rng(level)
    for rows, width in SHAPES:
        for n in (1, 9, 64, 100):
            x = _images(rows, width, 0.5, seed=rows + width + n)
            # forward: x (rows × width) · w (width × n), blocks of rows
            w = rng.standard_normal((width, n)).astype(np.float32)
            kept = kept_inputs_check(x, level)
            dense, skipped = np.empty((rows, n), np.float32), np.empty((rows, n), np.float32)
            assert small_gemm_check(x, w, dense, level)
            assert small_gemm_check(x, w, skipped, level, kept=kept)
            assert np.array_equal(dense.view(np.int32), skipped.view(np.int32)), (rows, width, n)
            ref = x.astype(np.float64) @ w
            tol = width * np.finfo(np.float32).eps * (np.abs(x).astype(np.float64) @ np.abs(w))
            assert np.all(np.abs(skipped - ref) <= tol)
            # the kernel's gradient: xᵀ (width × rows) · dz (rows × n), blocks of x's columns
            dz = rng.standard_normal((rows, n)).astype(np.float32)
            kept = kept_inputs_check(x, level, columns=True)
            dense, skipped = np.empty((width, n), np.float32), np.empty((width, n), np.float32)
            assert small_gemm_check(x, dz, dense, level, trans_x=True)
            assert small_gemm_check(x, dz, skipped, level, trans_x=True, kept=kept)
            assert np.array_equal(dense.view(np.int32), skipped.view(np.int32)), (rows, width, n)


@needs_kernel
def test_lists_that_do_not_fit_the_product_are_refused():
    x = _images(7, 10, 0.5)
    idx, at = kept_inputs_check(x)
    y = np.empty((7, 3), np.float32)
    w = np.ones((10, 3), np.float32)
    with pytest.raises(ValueError, match="kept"):
        small_gemm_check(x, w, y, kept=(idx, at[:-1]))
    bad = idx.copy()
    bad[0] = 10  # past k
    with pytest.raises(ValueError, match="kept"):
        small_gemm_check(x, w, y, kept=(bad, at))


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_a_gathered_row_is_copied_and_its_finiteness_found(level):
    """fm_gather_row copies a row bit for bit (-0, subnormals, NaN's payload) and reports a
    NaN or ±inf wherever it lies (a full vector of either level, the tail past it, the last
    element), and the lists made from its masks are those of the finite copy's zeros."""
    for width in (1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 784):
        x = _images(4, width, 0.5, seed=width)
        x.flat[::5] = np.float32(1e-45)
        x.flat[1::7] = np.float32(-3.4028235e38)
        for columns in (False, True):
            *_, copy, finite = kept_inputs_check(x, level, columns, with_finite=True, gathered=True)
            assert finite and np.array_equal(copy.view(np.int32), x.view(np.int32)), width
        for position in sorted({0, width // 2, width - 1, 3 * width + width - 1,
                                3 * width + (width // 16) * 16}):
            if position >= x.size:
                continue
            for bad in (np.float32(np.nan), np.float32(np.inf), np.float32(-np.inf),
                        np.array(0x7FC01234, np.uint32).view(np.float32)):
                y = x.copy()
                y.flat[position] = bad
                idx, at, copy, finite = kept_inputs_check(y, level, with_finite=True,
                                                          gathered=True)
                assert not finite, (width, position, bad)
                assert np.array_equal(copy.view(np.int32), y.view(np.int32)), (width, position)
                for b, want in enumerate(_expected_lists(np.where(np.isfinite(y), y, 1.0), False)):
                    np.testing.assert_array_equal(idx[at[b]:at[b + 1]], want)


def _fit_weights(x, y, keep, hidden=(64,), batch=32, threads=1, first=None, shuffle=True):
    fastmlp.utils.set_random_seed(4)
    layers = [fastmlp.Input(shape=(x.shape[1],))] + ([first] if first is not None else [])
    layers += [fastmlp.layers.Dense(u, activation="relu") for u in hidden]
    model = fastmlp.Sequential([*layers, fastmlp.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    network = model.engine.network
    network.set_keeps_inputs(keep)
    config.set_num_threads(threads)
    try:
        model.fit(x, y, epochs=2, batch_size=batch, verbose=0, shuffle=shuffle)
    finally:
        config.set_num_threads(None)
    return model.get_weights(), network, model._training_rule("fit")


@needs_kernel
@pytest.mark.parametrize("shuffle", [True, False], ids=["shuffled", "in-order"])
@pytest.mark.parametrize("threads, batch", [(1, 32), (1, 128), (2, 128), (2, 32)],
                         ids=["one-thread-b32", "one-thread-b128", "row-team-b128", "unit-team-b32"])
def test_fit_gives_the_same_bits_with_the_lists_as_without(threads, batch, shuffle):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 1024)
    images, dense = _images(1024, 784, 0.5), rng.random((1024, 784), dtype=np.float32)
    for x, skips in ((images, True), (dense, False)):
        on, network, rule = _fit_weights(x, y, True, batch=batch, threads=threads,
                                         shuffle=shuffle)
        assert network.keeps_inputs
        if threads > 1:  # a team of rows (b128) or of units (b32)
            assert max(network.team_size(threads, batch),
                       network.unit_team_size(threads, batch, rule)) == threads
        # the image-like rows skip (forward and gradient, each step); dense rows leave nothing
        # to skip, and their products run without lists
        assert (network.kept_products > 0) == skips, network.kept_products
        # the lists come from the masks _batch made as it gathered the rows (shuffled) or
        # checked them in place (in order), never from a read of their own
        assert network.masked_kept_products == network.kept_products
        off, network, _ = _fit_weights(x, y, False, batch=batch, threads=threads,
                                       shuffle=shuffle)
        assert not network.keeps_inputs and network.kept_products == 0
        for a, b in zip(on, off):
            assert np.array_equal(a.view(np.int32), b.view(np.int32))


def test_only_float32_models_whose_first_layer_is_dense_keep_inputs():
    x = np.zeros((64, 20), np.float32)
    y = np.zeros(64, np.int64)
    assert _fit_weights(x, y, True)[1].keeps_inputs
    assert not _fit_weights(x, y, True, first=fastmlp.layers.Dropout(0.2))[1].keeps_inputs
    config.set_floatx("float64")
    try:
        assert not _fit_weights(x.astype(np.float64), y, True)[1].keeps_inputs
    finally:
        config.set_floatx("float32")


@needs_kernel
def test_inference_passes_over_lists_give_the_values_without_them():
    """A pass of several rows over the published (finite) weights runs its first product over
    each block's list, packed or in place; the same weights read as a copy (no lists, never
    packed) give the same values."""
    fastmlp.utils.set_random_seed(6)
    model = fastmlp.Sequential([fastmlp.Input(shape=(784,)),
                                fastmlp.layers.Dense(300, activation="relu"),
                                fastmlp.layers.Dense(10, activation="softmax")])
    network = model.engine.network
    config.set_num_threads(1)
    try:
        for rows in (2, 3, 7, 64, 1024):
            x = _images(rows, 784, 0.5, seed=rows)
            copy = model.engine.published.copy()
            for _ in range(5):  # the published weights are packed after a few calls
                listed = model.predict_on_batch(x)
                plain = network.predict_fast(copy, x, 1 << 20)
                np.testing.assert_array_equal(listed, plain, err_msg=str(rows))
            assert network.packed == (rows >= 3)
    finally:
        config.set_num_threads(None)


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_the_lists_pass_says_whether_x_is_finite(level):
    """The forward lists' pass reads every element of x once, and reports a NaN or ±inf
    wherever it lies (in a vector, in the tail past the last full one, in any row of a
    block); the extremes of the finite floats, ±0 and subnormals are finite."""
    for rows, width in SHAPES:
        x = _images(rows, width, 0.5, seed=rows + width)
        x.flat[::7] = np.float32(3.4028235e38)
        x.flat[1::11] = np.float32(-3.4028235e38)
        x.flat[2::13] = np.float32(1e-45)
        *_, finite = kept_inputs_check(x, level, with_finite=True)
        assert finite, (rows, width)
        positions = {0, x.size - 1, x.size // 2, width - 1}
        positions |= {r * width + c for r in (rows - 1,) for c in range(max(0, width - 17), width)}
        for position in sorted(positions):
            for bad in (np.nan, np.inf, -np.inf):
                y = x.copy()
                y.flat[position] = bad
                y_idx, y_at, y_finite = kept_inputs_check(y, level, with_finite=True)
                assert not y_finite, (rows, width, position, bad)
                # the lists as before: a NaN or an infinity is kept (it is not zero)
                expected = _expected_lists(np.where(np.isfinite(y), y, 1.0), False)
                for b, want in enumerate(expected):
                    np.testing.assert_array_equal(y_idx[y_at[b]:y_at[b + 1]], want)


def _rejects(model, x, r, c):
    for call in (model.predict_on_batch, model, lambda v: model.predict(v, verbose=0)):
        with pytest.raises(ValueError, match=rf"`x` contains NaN or infinity \(first at index \({r}, {c}\)\)"):
            call(x)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inference_finds_a_non_finite_input_in_any_pass(threads, dtype):
    """An inference call checks its input in its passes (a pass of several rows in its first
    product's lists, which read x anyway; one row, float64 or BLAS in a read of its own), in
    one compiled call (up to the fast path's rows) or converted and split across threads: a
    NaN or ±inf anywhere in x, in the first, a middle or the last pass (one row of its own
    included), raises as before, naming its index, and the finite x gives the values of a
    copy of the weights (no lists, checked before the pass)."""
    fastmlp.utils.set_random_seed(7)
    model = fastmlp.Sequential([fastmlp.Input(shape=(784,)),
                                fastmlp.layers.Dense(100, activation="relu", dtype=dtype),
                                fastmlp.layers.Dense(10, activation="softmax", dtype=dtype)])
    network = model.engine.network
    config.set_num_threads(threads)
    try:
        per_pass = network.pass_rows(1 << 20, 1 << 20)
        # float64 runs on BLAS in passes of thousands of rows, each checked the same way;
        # past the fast path's rows (engine.predict: across threads, in parts)
        several = (2 * per_pass + 1, 2 * per_pass + 40) if dtype == "float32" else (500,)
        for rows in (1, 2, 7, 64, *several):
            x = _images(rows, 784, 0.5, seed=rows).astype(dtype)
            copy = model.engine.published.copy()
            for _ in range(3):  # the published weights are packed after a few calls
                np.testing.assert_array_equal(model.predict_on_batch(x),
                                              network.predict_fast(copy, x, 1 << 20))
            last_pass = min(rows - 1, 2 * per_pass)
            for r, c in {(0, 0), (rows - 1, 783), (rows // 2, 400), (last_pass, 5)}:
                for bad in (np.nan, np.inf, -np.inf):
                    y = x.copy()
                    y[r, c] = bad
                    _rejects(model, y, r, c)
    finally:
        config.set_num_threads(None)
