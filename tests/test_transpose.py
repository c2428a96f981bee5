"""The transposed kernels training keeps for dX = dZ·Wᵀ (csrc/transpose.h): rows [i0, i1) of W
become columns [i0, i1) of Wᵀ, bit for bit (NaN payloads, signed zeros and subnormals
included), at every level this CPU runs (0: element by element; 1 and up: 8 × 8 blocks in
AVX2 registers), at block edges and tails, and nothing outside those columns is written.
Oracle: NumPy's transpose."""
import numpy as np
import pytest

from fastmlp._kernels.network import transpose_rows
from fastmlp._kernels.small_gemm import small_gemm_level

LEVELS = list(range(small_gemm_level() + 1))
SHAPES = [(1, 1), (3, 5), (7, 9), (8, 8), (9, 16), (16, 24), (17, 31), (64, 10), (100, 10),
          (300, 200), (784, 100)]
SENTINEL = np.uint32(0x7FC0DEAD)  # a NaN whose payload no transpose makes


def _odd_values(rng, shape):
    """float32 values whose bits a copy keeps and arithmetic would not: NaNs with payloads,
    ±0, ±inf, subnormals, and ordinary numbers."""
    bits = rng.standard_normal(shape).astype(np.float32).view(np.uint32)
    special = np.array([0x7FC00001, 0xFFC12345, 0x80000000, 0x00000000, 0x7F800000, 0xFF800000,
                        0x00000001, 0x807FFFFF], dtype=np.uint32)
    where = rng.random(shape) < 0.2
    bits[where] = rng.choice(special, size=int(where.sum()))
    return bits.view(np.float32)


def _row_ranges(n_in):
    ranges = {(0, n_in), (0, 0), (n_in, n_in), (n_in // 2, n_in)}
    if n_in > 8:
        ranges |= {(3, n_in - 5), (8, n_in), (1, 9)}
    return sorted(ranges)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("shape", SHAPES)
def test_rows_become_columns_bit_for_bit_and_nothing_else_is_written(level, shape):
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    n_in, n_out = shape
    w = _odd_values(rng, shape)
    for i0, i1 in _row_ranges(n_in):
        wt = np.full((n_out, n_in), SENTINEL, dtype=np.uint32).view(np.float32)
        transpose_rows(w, wt, i0, i1, level)
        bits = wt.view(np.uint32)
        np.testing.assert_array_equal(bits[:, i0:i1], w[i0:i1].T.view(np.uint32),
                                      err_msg=f"level {level}, rows [{i0}, {i1})")
        assert (bits[:, :i0] == SENTINEL).all() and (bits[:, i1:] == SENTINEL).all(), (level, i0, i1)


@pytest.mark.parametrize("level", LEVELS)
def test_a_kernel_refreshed_in_parts_equals_it_refreshed_whole(level):
    """A team's members each refresh the rows they updated: the parts, in any order, make
    the whole transpose."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((300, 200)).astype(np.float32)
    wt = np.zeros((200, 300), np.float32)
    for i0, i1 in ((150, 300), (0, 13), (13, 150)):
        transpose_rows(w, wt, i0, i1, level)
    np.testing.assert_array_equal(wt, w.T)


def test_bad_arguments_get_a_clear_error():
    w = np.zeros((4, 3), np.float32)
    wt = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"rows \[i0, i1\) must lie in \[0, 4\]"):
        transpose_rows(w, wt, 2, 5, 0)
    with pytest.raises(ValueError, match=r"rows \[i0, i1\) must lie in \[0, 4\]"):
        transpose_rows(w, wt, 3, 2, 0)
    with pytest.raises(ValueError, match="`wt` must be .* shape \\(3, 4\\), writeable"):
        transpose_rows(w, np.zeros((4, 3), np.float32), 0, 4, 0)
    with pytest.raises(ValueError, match="`wt` must be .*writeable"):
        transpose_rows(w, _read_only(wt), 0, 4, 0)
    with pytest.raises(ValueError, match="`w` must be .*float32"):
        transpose_rows(w.astype(np.float64), wt, 0, 4, 0)
    with pytest.raises(ValueError, match="`w` must be a 2-D float32 array"):
        transpose_rows(np.zeros(4, np.float32), wt, 0, 4, 0)
    with pytest.raises(ValueError, match="`level` must be in"):
        transpose_rows(w, wt, 0, 4, small_gemm_level() + 1)
    with pytest.raises(ValueError, match="`level` must be in"):
        transpose_rows(w, wt, 0, 4, -1)


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a
