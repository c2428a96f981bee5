"""fastmlp's own float32 GEMM for inference (csrc/small_gemm.h): the level this CPU runs, and
a test hook. The network's predict path calls the C function directly."""
import numpy as np

from fastmlp._kernels.checks import check_matrix
from fastmlp._kernels.small_gemm cimport fm_small_gemm_level, fm_sgemm_small

# Names of fm_small_gemm_level()'s values, for fastmlp.config and the benchmark.
LEVEL_NAMES = {2: "AVX-512", 1: "AVX2 with FMA", 0: "none (BLAS)"}


def small_gemm_level() -> int:
    """The path this CPU takes: 2 AVX-512, 1 AVX2 with FMA, 0 none (BLAS is used instead)."""
    return fm_small_gemm_level()


def small_gemm_check(x, w, y, int level=-1, bint trans_x=False) -> bool:
    """Test hook: y := op(x)·w for C-contiguous float32 matrices, op(x) (m, k) — x, or xᵀ with
    trans_x (x then (k, m), read in place through its strides) — w (k, n), y (m, n), at `level`
    (default: this CPU's; a level above it is refused). Returns False, y untouched, when this
    build has no path for the level."""
    for name, arr in (("x", x), ("w", w), ("y", y)):
        check_matrix(arr, name, np.float32, writeable=name == "y")
    cdef Py_ssize_t m = x.shape[1] if trans_x else x.shape[0]
    cdef Py_ssize_t k = x.shape[0] if trans_x else x.shape[1]
    cdef Py_ssize_t ldx = 1 if trans_x else x.shape[1]
    cdef Py_ssize_t incx = x.shape[1] if trans_x else 1
    if w.shape[0] != k or y.shape != (m, w.shape[1]):
        raise ValueError(f"small_gemm_check: shapes do not chain: {x.shape} {w.shape} -> {y.shape}")
    cdef int top = fm_small_gemm_level()
    if level < 0:
        level = top
    if level > top:
        raise ValueError(f"level {level} is above what this CPU runs ({top})")
    cdef const float[:, ::1] xv = x
    cdef const float[:, ::1] wv = w
    cdef float[:, ::1] yv = y
    cdef Py_ssize_t n = w.shape[1]
    cdef int done
    # empty matrices have no element to point at; the kernel reads none of them
    cdef const float *xp = &xv[0, 0] if x.size else NULL
    cdef const float *wp = &wv[0, 0] if w.size else NULL
    cdef float *yp = &yv[0, 0] if y.size else NULL
    with nogil:
        done = fm_sgemm_small(level, m, n, k, xp, ldx, incx, wp, n, yp, n)
    return done != 0
