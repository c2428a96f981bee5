"""fastmlp's own float32 GEMM, for inference and training (csrc/small_gemm.h): the level this CPU runs, and
test hooks, of the GEMM, of the lines it brings into cache meanwhile (csrc/prefetch.h), of
the weights packed for it (csrc/packed_weights.h) and of its one-row product that skips the
zeros of x (csrc/sparse_row.h). The network calls the C functions directly."""
import numpy as np

cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint64_t

from fastmlp._kernels.checks import check_array, check_matrix
from fastmlp._kernels.small_gemm cimport (FM_PACK_ALIGN, fm_kept_blocks, fm_kept_mask_words,
                                          fm_kept_of_columns, fm_kept_of_rows, fm_pack_weights,
                                          fm_kept_of_mask_rows, fm_kept_of_mask_columns,
                                          fm_gather_row,
                                          fm_packed_floats, fm_prefetch, fm_prefetch_init,
                                          fm_prefetch_init_window, fm_prefetch_step,
                                          fm_sgemm_packed, fm_sgemv_skip_zeros,
                                          fm_small_gemm_level, fm_sgemm_small_kept)

cnp.import_array()

# Names of fm_small_gemm_level()'s values, for fastmlp.config and the benchmark.
LEVEL_NAMES = {2: "AVX-512", 1: "AVX2 with FMA", 0: "none (BLAS)"}


def small_gemm_level() -> int:
    """The path this CPU takes: 2 AVX-512, 1 AVX2 with FMA, 0 none (BLAS is used instead)."""
    return fm_small_gemm_level()


cdef const float *_bias_pointer(bias, Py_ssize_t n) except? NULL:
    """A hook's bias: None, or an aligned C-contiguous (n,) float32 array (checked) whose data
    is returned (NULL for None or n = 0); the caller holds bias."""
    if bias is None:
        return NULL
    check_array(bias, "bias", np.float32, (n,))
    return <const float *>cnp.PyArray_DATA(<cnp.ndarray>bias) if n else NULL


cdef int _hook_level(int level) except -1:
    """A test hook's level: this CPU's for a negative one; one above it is refused."""
    cdef int top = fm_small_gemm_level()
    if level > top:
        raise ValueError(f"level {level} is above what this CPU runs ({top})")
    return top if level < 0 else level


def small_gemm_check(x, w, y, int level=-1, bint trans_x=False, prefetch=None, bias=None,
                     bint relu=False, kept=None):
    """Test hook: y := op(x)·w for C-contiguous float32 matrices, op(x) (m, k) — x, or xᵀ with
    trans_x (x then (k, m), read in place through its strides) — w (k, n), y (m, n), at `level`
    (default: this CPU's; a level above it is refused). Returns False, y untouched, when this
    build has no path for the level. With prefetch=(matrix, rows) (a C-contiguous 2-D array and
    int64 row indices), the GEMM brings those rows' lines into cache meanwhile and the hook
    returns (done, lines the GEMM touched). bias (n,) float32 and relu: y := max(op(x)·w + bias,
    0) as the tiles are stored. kept=(idx, at) (of kept_inputs_check for this x and trans_x):
    each block of 6 rows of op(x) runs over its listed depth indices only."""
    for name, arr in (("x", x), ("w", w), ("y", y)):
        check_matrix(arr, name, np.float32, writeable=name == "y")
    cdef Py_ssize_t m = x.shape[1] if trans_x else x.shape[0]
    cdef Py_ssize_t k = x.shape[0] if trans_x else x.shape[1]
    cdef Py_ssize_t ldx = 1 if trans_x else x.shape[1]
    cdef Py_ssize_t incx = x.shape[1] if trans_x else 1
    if w.shape[0] != k or y.shape != (m, w.shape[1]):
        raise ValueError(f"small_gemm_check: shapes do not chain: {x.shape} {w.shape} -> {y.shape}")
    level = _hook_level(level)
    cdef const float[:, ::1] xv = x
    cdef const float[:, ::1] wv = w
    cdef float[:, ::1] yv = y
    cdef Py_ssize_t n = w.shape[1]
    cdef int done
    cdef fm_prefetch pf
    cdef fm_prefetch *pfp = _prefetch_of(&pf, prefetch)
    cdef const float *bp = _bias_pointer(bias, w.shape[1])
    # empty matrices have no element to point at; the kernel reads none of them
    cdef const float *xp = &xv[0, 0] if x.size else NULL
    cdef const float *wp = &wv[0, 0] if w.size else NULL
    cdef float *yp = &yv[0, 0] if y.size else NULL
    cdef const int32_t[::1] kept_idx
    cdef const Py_ssize_t[::1] kept_at
    cdef const int32_t *idx = NULL
    cdef const Py_ssize_t *at = NULL
    if kept is not None:
        kept_idx, kept_at = kept
        blocks = fm_kept_blocks(m)
        if (len(kept_at) != blocks + 1 or kept_at[0] != 0 or len(kept_idx) < kept_at[blocks]
                or any(kept_at[b] > kept_at[b + 1] for b in range(blocks))
                or not all(0 <= i < k for i in kept_idx[:kept_at[blocks]])):
            raise ValueError("`kept` must be kept_inputs_check's lists for this x")
        idx = &kept_idx[0] if len(kept_idx) else NULL
        at = &kept_at[0]
    with nogil:
        done = fm_sgemm_small_kept(level, m, n, k, xp, ldx, incx, wp, n, yp, n, bp, relu, pfp,
                                   idx, at)
    if pfp == NULL:
        return done != 0
    cdef Py_ssize_t untouched = _count_lines(&pf)
    _prefetch_of(&pf, prefetch)
    return done != 0, _count_lines(&pf) - untouched


def kept_inputs_check(x, int level=-1, bint columns=False, bint with_finite=False,
                      bint gathered=False):
    """Test hook: the kept lists of a C-contiguous float32 matrix x (rows × n), as
    (idx int32, at intp): for each block of 6 rows of x (columns: of 6 columns, the blocks of
    xᵀ), the column (row) indices where one of the block's elements is not zero, block b's
    idx[at[b]:at[b + 1]] (csrc/kept_inputs.h); None where there is no path at `level`.
    idx is 16 longer than the lists' room and filled with -1 (writes past it show there).
    with_finite: (idx, at, whether every element of x is finite), as the pass that read x
    found it (rows only, unless gathered). gathered: x's rows first gathered into a copy
    as a shuffled training batch's are (fm_gather_row: the copy, each row's bit mask and
    its finiteness in one pass) and the lists made from those masks alone; then (idx, at,
    the copy[, finite])."""
    check_matrix(x, "x", np.float32)
    level = _hook_level(level)
    cdef Py_ssize_t rows = x.shape[0], n = x.shape[1], i, words = fm_kept_mask_words(n)
    cdef Py_ssize_t m = n if columns else rows, k = rows if columns else n
    blocks = fm_kept_blocks(m)
    cdef cnp.ndarray idx = np.full(blocks * k + 16, -1, np.int32)
    cdef cnp.ndarray at = np.zeros(blocks + 1, np.intp)
    # filled with ones: a mask maker must write every word of its rows
    cdef cnp.ndarray masks = np.full(max(1, rows * words), np.uint64(2**64 - 1), np.uint64)
    cdef cnp.ndarray copy = np.full((rows, n), np.nan, np.float32)
    cdef const float[:, ::1] xv = x
    cdef const float *xp = &xv[0, 0] if x.size else NULL
    cdef float *cp = <float *>cnp.PyArray_DATA(copy)
    cdef uint64_t *mp = <uint64_t *>cnp.PyArray_DATA(masks)
    cdef Py_ssize_t total
    cdef int finite = -1, row_finite
    if gathered:
        finite = 1
        for i in range(rows):
            row_finite = fm_gather_row(level, cp + i * n, xp + i * n, n, mp + i, rows)
            if row_finite < 0:
                return None
            finite = finite and row_finite
        if columns:
            total = fm_kept_of_mask_columns(level, mp, rows, n,
                                            <int32_t *>cnp.PyArray_DATA(idx),
                                            <Py_ssize_t *>cnp.PyArray_DATA(at))
        else:
            total = fm_kept_of_mask_rows(level, mp, rows, n, <int32_t *>cnp.PyArray_DATA(idx),
                                         <Py_ssize_t *>cnp.PyArray_DATA(at))
        if total < 0:
            return None
        return (idx, at, copy, bool(finite)) if with_finite else (idx, at, copy)
    if columns:
        total = fm_kept_of_columns(level, xp, rows, n, n, <int32_t *>cnp.PyArray_DATA(idx),
                                   <Py_ssize_t *>cnp.PyArray_DATA(at), mp)
    else:
        total = fm_kept_of_rows(level, xp, rows, n, n, <int32_t *>cnp.PyArray_DATA(idx),
                                <Py_ssize_t *>cnp.PyArray_DATA(at), &finite)
    if with_finite:
        return None if total < 0 else (idx, at, bool(finite))
    return None if total < 0 else (idx, at)


def packed_floats(int level, Py_ssize_t k, Py_ssize_t n) -> int:
    """Floats a (k, n) kernel packed for `level` takes (0: no packed path at that level)."""
    if k < 0 or n < 0:
        raise ValueError(f"`k` and `n` must be >= 0; received {k}, {n}")
    return fm_packed_floats(level, k, n)


cdef float *aligned_floats(cnp.ndarray buffer) noexcept:
    """The first 64-byte boundary in a float32 buffer made FM_PACK_ALIGN floats longer than
    what it must hold."""
    cdef size_t at = <size_t>cnp.PyArray_DATA(buffer)
    return <float *>((at + 4 * FM_PACK_ALIGN - 1) & ~<size_t>(4 * FM_PACK_ALIGN - 1))


def packed_gemm_check(x, w, y, int level=-1, bias=None, bint relu=False):
    """Test hook: w packed for `level` (default: this CPU's), then y := x·w from the packs
    (+ bias, max(·, 0) when relu), x (m, k), w (k, n), y (m, n) C-contiguous float32. Returns
    False, y untouched, when this build has no packed path at that level."""
    for name, arr in (("x", x), ("w", w), ("y", y)):
        check_matrix(arr, name, np.float32, writeable=name == "y")
    cdef Py_ssize_t m = x.shape[0], k = x.shape[1], n = w.shape[1]
    if w.shape[0] != k or y.shape != (m, n):
        raise ValueError(f"packed_gemm_check: shapes do not chain: {x.shape} {w.shape} -> {y.shape}")
    level = _hook_level(level)
    cdef Py_ssize_t floats = fm_packed_floats(level, k, n)
    if floats == 0 and k * n > 0:
        return False
    cdef cnp.ndarray buffer = np.empty(floats + FM_PACK_ALIGN, np.float32)
    cdef float *packed = aligned_floats(buffer)
    cdef const float[:, ::1] xv = x
    cdef const float[:, ::1] wv = w
    cdef float[:, ::1] yv = y
    cdef const float *bp = _bias_pointer(bias, n)
    cdef const float *xp = &xv[0, 0] if x.size else NULL
    cdef const float *wp = &wv[0, 0] if w.size else NULL
    cdef float *yp = &yv[0, 0] if y.size else NULL
    cdef int done
    with nogil:
        fm_pack_weights(level, k, n, wp, n, packed)
        done = fm_sgemm_packed(level, m, n, k, xp, k, packed, yp, n, bp, relu)
    return done != 0


def skip_zeros_check(x, w, y, int level=-1, bias=None, bint relu=False, scratch=None) -> bool:
    """Test hook: y := x·w over the elements of x that are not zero (+ bias, max(·, 0) when
    relu), x (k,), w (k, n) finite, y (n,) C-contiguous float32, at `level` (default: this
    CPU's). Returns False, y untouched, where the kernel declined (too few zeros in x, or no
    path at the level). scratch (or None): the kernel's int32 scratch, at least k long, which
    then holds the indices of x's non-zero elements in order."""
    for name, arr in (("x", x), ("y", y)):
        check_array(arr, name, np.float32, (None,), writeable=name == "y")
    check_matrix(w, "w", np.float32)
    cdef Py_ssize_t k = x.shape[0], n = w.shape[1]
    if w.shape[0] != k or y.shape != (n,):
        raise ValueError(f"skip_zeros_check: shapes do not chain: {x.shape} {w.shape} -> {y.shape}")
    if not np.isfinite(w).all():
        raise ValueError("skip_zeros_check: `w` must be finite")
    if scratch is None:
        scratch = np.empty(max(k, 1), np.int32)
    check_array(scratch, "scratch", np.int32, (None,), writeable=True)
    if len(scratch) < max(k, 1):
        raise ValueError(f"`scratch` must hold at least {max(k, 1)} int32; received {len(scratch)}")
    level = _hook_level(level)
    cdef const float[::1] xv = x
    cdef const float[:, ::1] wv = w
    cdef float[::1] yv = y
    cdef int32_t[::1] idx = scratch
    cdef const float *bp = _bias_pointer(bias, n)
    cdef const float *xp = &xv[0] if k else NULL
    cdef const float *wp = &wv[0, 0] if w.size else NULL
    cdef float *yp = &yv[0] if n else NULL
    cdef int done
    with nogil:
        done = fm_sgemv_skip_zeros(level, n, k, xp, wp, n, yp, bp, relu, &idx[0])
    return done != 0


cdef Py_ssize_t _count_lines(fm_prefetch *pf) noexcept nogil:
    """The lines the cursor has yet to hand out (it hands them out)."""
    cdef Py_ssize_t n = 0
    while fm_prefetch_step(pf) != NULL:
        n += 1
    return n


cdef fm_prefetch *_prefetch_of(fm_prefetch *pf, prefetch) except? NULL:
    """pf := a cursor over prefetch = (matrix, rows), checked; NULL for None."""
    if prefetch is None:
        return NULL
    matrix, rows = prefetch
    check_matrix(matrix, "matrix", matrix.dtype)
    check_array(rows, "rows", np.int64, (len(rows),))
    cdef const unsigned char[:, ::1] bytes_ = matrix.view(np.uint8)
    cdef const int64_t[::1] listed = rows
    fm_prefetch_init(pf, &bytes_[0, 0] if matrix.size else NULL, matrix.shape[0],
                     matrix.shape[1] * matrix.itemsize,
                     &listed[0] if len(rows) else NULL, len(rows))
    return pf


def prefetch_lines(matrix, rows, columns=None) -> list:
    """Test hook: the byte offsets (from matrix's first byte) of the lines a cursor over these
    rows of matrix hands out, in order (csrc/prefetch.h); columns=(c0, c1): of those columns
    of each row alone (a unit team member's window)."""
    cdef fm_prefetch pf
    _prefetch_of(&pf, (matrix, rows))
    if columns is not None:
        c0, c1 = columns
        if not 0 <= c0 <= c1 <= matrix.shape[1]:
            raise ValueError(f"`columns` must satisfy 0 <= c0 <= c1 <= {matrix.shape[1]}; "
                             f"received {columns}")
        fm_prefetch_init_window(&pf, pf.base, pf.n_total, pf.row_bytes, c0 * matrix.itemsize,
                                (c1 - c0) * matrix.itemsize, pf.rows, pf.n_rows)
    base = matrix.__array_interface__["data"][0]
    cdef const char *at
    lines = []
    while True:
        at = fm_prefetch_step(&pf)
        if at == NULL:
            return lines
        lines.append(<Py_ssize_t>at - base)
