"""The lines the own GEMM brings into cache while it runs (csrc/prefetch.h): the next shuffled
batch's rows, every line of each listed row and nothing else, handed out a line every 4
iterations of a tile's loop over k, with no effect on the product."""
import numpy as np
import pytest

from fastmlp._kernels.small_gemm import prefetch_lines, small_gemm_check, small_gemm_level

TOP = small_gemm_level()
LEVELS = [level for level in (1, 2) if level <= TOP]
needs_kernel = pytest.mark.skipif(TOP == 0, reason="this CPU has neither AVX2 with FMA nor AVX-512: "
                                                   "no own GEMM to prefetch from")


def _expected_lines(matrix, rows, columns=None):
    """Offsets from matrix's first byte of the 64-byte lines holding each listed row (its
    columns [c0, c1) alone, with `columns`) that lies inside the matrix, from the line of its
    first byte to that of its last."""
    base = matrix.__array_interface__["data"][0]
    row_bytes = matrix.shape[1] * matrix.itemsize
    c0, c1 = columns or (0, matrix.shape[1])
    lines = []
    for r in rows:
        if not 0 <= r < matrix.shape[0] or c1 == c0:
            continue
        start = base + int(r) * row_bytes + c0 * matrix.itemsize
        lines += [line - base for line in range(start & ~63, start + (c1 - c0) * matrix.itemsize, 64)]
    return lines


@pytest.mark.parametrize("width", [1, 10, 16, 17, 25, 784])
@pytest.mark.parametrize("shift", [0, 1, 5])
def test_every_line_of_each_listed_row_in_order(width, shift):
    # shift moves the matrix's first byte off a line boundary by 4-byte steps
    buffer = np.zeros(shift + 40 * width, np.float32)
    matrix = buffer[shift:].reshape(40, width)
    rows = np.array([3, 0, 39, 3, 17], np.int64)
    lines = prefetch_lines(matrix, rows)
    assert lines == _expected_lines(matrix, rows)
    assert len(lines) >= len(rows)
    first = matrix.__array_interface__["data"][0]
    assert all((first + line) % 64 == 0 for line in lines)


@pytest.mark.parametrize("columns", [(0, 392), (392, 784), (16, 17), (100, 100), (0, 784)])
def test_a_window_of_columns_gives_the_lines_of_those_columns_alone(columns):
    """A unit team's member brings in its columns of the next batch's rows, not the rest."""
    buffer = np.zeros(3 + 40 * 784, np.float32)
    matrix = buffer[3:].reshape(40, 784)
    rows = np.array([3, 0, 39, 3, 17, 40, -1], np.int64)
    lines = prefetch_lines(matrix, rows, columns)
    assert lines == _expected_lines(matrix, rows, columns)
    with pytest.raises(ValueError, match="columns"):
        prefetch_lines(matrix, rows, (5, 785))


def test_rows_outside_the_matrix_and_empty_lists_give_no_lines():
    matrix = np.zeros((5, 16), np.float32)  # one line a row when aligned
    rows = np.array([-1, 5, 2, 1 << 40, -(1 << 40)], np.int64)
    assert prefetch_lines(matrix, rows) == _expected_lines(matrix, [2])
    assert prefetch_lines(matrix, np.zeros(0, np.int64)) == []
    assert prefetch_lines(np.zeros((5, 0), np.float32), np.arange(5, dtype=np.int64)) == []


def test_the_row_list_is_checked():
    matrix = np.zeros((5, 16), np.float32)
    with pytest.raises(ValueError, match="rows"):
        prefetch_lines(matrix, np.arange(3, dtype=np.int32))


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("trans_x", [False, True])
def test_the_gemm_hands_out_a_line_every_4_iterations_with_the_same_product(level, trans_x):
    rng = np.random.default_rng(level)
    big = np.zeros((4000, 784), np.float32)
    rows = rng.permutation(4000)[:64].astype(np.int64)  # 49 lines a row
    # 6 rows and 16 columns: one tile at either level, k iterations: k // 4 lines
    for k, expected in ((784, 196), (3, 0), (4, 1), (17, 4)):
        x = rng.standard_normal((k, 6) if trans_x else (6, k)).astype(np.float32)
        w = rng.standard_normal((k, 16)).astype(np.float32)
        y_plain = np.empty((6, 16), np.float32)
        y_ahead = np.empty((6, 16), np.float32)
        assert small_gemm_check(x, w, y_plain, level, trans_x=trans_x)
        done, touched = small_gemm_check(x, w, y_ahead, level, trans_x=trans_x,
                                         prefetch=(big, rows))
        assert done and touched == expected, (k, touched)
        np.testing.assert_array_equal(y_ahead, y_plain)


@needs_kernel
@pytest.mark.parametrize("level", LEVELS)
def test_the_gemm_stops_at_the_end_of_the_list(level):
    rng = np.random.default_rng(0)
    big = np.zeros((100, 32), np.float32)  # 2 or 3 lines a row, as the rows fall
    rows = np.arange(10, dtype=np.int64)
    x = rng.standard_normal((64, 784)).astype(np.float32)
    w = rng.standard_normal((784, 100)).astype(np.float32)
    y = np.empty((64, 100), np.float32)
    done, touched = small_gemm_check(x, w, y, level, prefetch=(big, rows))
    assert done and touched == len(prefetch_lines(big, rows)) >= 20


@pytest.mark.parametrize("threads", [1, 2])
def test_training_without_the_next_batch_prefetched_gives_the_same_bits(threads):
    """The benchmark's ablation switch (network.set_prefetch_batches) turns the prefetch off
    (a one-thread fit's steps count the ones that prefetched), and the prefetch touches no
    value, so a fit with it off trains the same weights."""
    import fastmlp as keras
    from fastmlp._kernels import network

    rng = np.random.default_rng(7)
    x = rng.standard_normal((640, 784)).astype(np.float32)
    y = rng.integers(0, 10, 640)
    weights = []
    keras.config.set_num_threads(threads)
    try:
        for prefetch in (True, False):
            keras.utils.set_random_seed(3)
            model = keras.Sequential([keras.layers.Dense(100, activation="relu", input_shape=(784,)),
                                      keras.layers.Dense(10, activation="softmax")])
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            network.set_prefetch_batches(prefetch)
            try:
                assert network.prefetch_batches() is prefetch
                model.fit(x, y, batch_size=32, epochs=2, verbose=0)
            finally:
                network.set_prefetch_batches(True)
            weights.append(model.get_weights())
            if threads == 1:
                # 20 steps an epoch: all but each training call's last bring in the next batch
                prefetched = model.engine.network.prefetched_steps
                assert (prefetched >= 30) if prefetch else (prefetched == 0), prefetched
    finally:
        keras.config.set_num_threads(None)
    for on, off in zip(*weights):
        np.testing.assert_array_equal(on, off)
