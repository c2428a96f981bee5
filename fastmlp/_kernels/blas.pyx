"""Row-major GEMM over scipy's BLAS, for float32 and float64.

BLAS is column-major; a row-major matrix is its column-major transpose, so
C = op(A)·op(B) (row-major) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ by swapping the operands.
"""
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv
import numpy as np

from fastmlp._kernels.checks import check_matrix, BLAS_MAX


cdef void gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
               floating alpha, const floating *a, Py_ssize_t lda, const floating *b,
               Py_ssize_t ldb, floating beta, floating *c, Py_ssize_t ldc) noexcept nogil:
    """C := alpha * op(A)·op(B) + beta * C, row-major; C is m×n, op(A) m×k, op(B) k×n.

    A single row (m == 1) goes through gemv, which is faster than gemm for one sample.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef char gemv_trans = b'T' if trans_b else b'N'
    cdef int im = <int>m, jn = <int>n, kk = <int>k
    cdef int ia = <int>lda, ib = <int>ldb, ic = <int>ldc
    cdef int one = 1, inc_x = ia if trans_a else 1
    cdef int rows = kk if trans_b else jn, cols = jn if trans_b else kk
    if m == 1:
        # c(1×n) = x(1×k)·op(B): B row-major is column-major Bᵀ, so y = Bᵀ-as-stored · x.
        if floating is float:
            sgemv(&gemv_trans, &rows, &cols, &alpha, <float *>b, &ib, <float *>a, &inc_x,
                  &beta, c, &one)
        else:
            dgemv(&gemv_trans, &rows, &cols, &alpha, <double *>b, &ib, <double *>a, &inc_x,
                  &beta, c, &one)
        return
    if floating is float:
        sgemm(&tb, &ta, &jn, &im, &kk, &alpha, <float *>b, &ib, <float *>a, &ia, &beta, c, &ic)
    else:
        dgemm(&tb, &ta, &jn, &im, &kk, &alpha, <double *>b, &ib, <double *>a, &ia, &beta, c, &ic)


def gemm_check(a, b, c, bint trans_a=False, bint trans_b=False, alpha=1.0, beta=0.0):
    """Test hook: c := alpha * op(a)·op(b) + beta * c on C-contiguous 2-D arrays (in place)."""
    dtype = getattr(c, "dtype", None)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"gemm_check: c must be a float32 or float64 array; received {dtype}")
    for name, arr in (("a", a), ("b", b), ("c", c)):
        check_matrix(arr, name, dtype, writeable=name == "c", nonempty=True, max_dim=BLAS_MAX)
    m = a.shape[1] if trans_a else a.shape[0]
    k = a.shape[0] if trans_a else a.shape[1]
    n = b.shape[0] if trans_b else b.shape[1]
    if c.shape != (m, n) or (b.shape[1] if trans_b else b.shape[0]) != k:
        raise ValueError(f"gemm_check: shapes do not chain: {a.shape} {b.shape} -> {c.shape}")
    if c.dtype == np.float32:
        _gemm_typed[float](a, b, c, trans_a, trans_b, alpha, beta)
    else:
        _gemm_typed[double](a, b, c, trans_a, trans_b, alpha, beta)
    return c


cdef void _gemm_typed(const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] c,
                      bint trans_a, bint trans_b, double alpha, double beta):
    cdef Py_ssize_t m = c.shape[0], n = c.shape[1]
    cdef Py_ssize_t k = a.shape[0] if trans_a else a.shape[1]
    with nogil:
        gemm(trans_a, trans_b, m, n, k, <floating>alpha, &a[0, 0], a.shape[1],
             &b[0, 0], b.shape[1], <floating>beta, &c[0, 0], n)
