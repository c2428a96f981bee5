"""Row-major GEMM over scipy's BLAS, for float32 and float64.

BLAS is column-major; a row-major matrix is its column-major transpose, so
C = op(A)·op(B) (row-major) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ by swapping the operands.
"""
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv
import numpy as np


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating *a, int lda, const floating *b, int ldb,
               floating beta, floating *c, int ldc) noexcept nogil:
    """C := alpha * op(A)·op(B) + beta * C, row-major; C is m×n, op(A) m×k, op(B) k×n.

    A single row (m == 1) goes through gemv, which is faster than gemm for one sample.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef char gemv_trans = b'T' if trans_b else b'N'
    cdef int one = 1, inc_x = lda if trans_a else 1
    cdef int rows = k if trans_b else n, cols = n if trans_b else k
    if m == 1:
        # c(1×n) = x(1×k)·op(B): B row-major is column-major Bᵀ, so y = Bᵀ-as-stored · x.
        if floating is float:
            sgemv(&gemv_trans, &rows, &cols, &alpha, <float *>b, &ldb, <float *>a, &inc_x,
                  &beta, c, &one)
        else:
            dgemv(&gemv_trans, &rows, &cols, &alpha, <double *>b, &ldb, <double *>a, &inc_x,
                  &beta, c, &one)
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *>b, &ldb, <float *>a, &lda, &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *>b, &ldb, <double *>a, &lda, &beta, c, &ldc)


def gemm_check(a, b, c, bint trans_a=False, bint trans_b=False, alpha=1.0, beta=0.0):
    """Test hook: c := alpha * op(a)·op(b) + beta * c on C-contiguous 2-D arrays (in place)."""
    m = a.shape[1] if trans_a else a.shape[0]
    k = a.shape[0] if trans_a else a.shape[1]
    n = b.shape[0] if trans_b else b.shape[1]
    if c.shape != (m, n) or (b.shape[1] if trans_b else b.shape[0]) != k:
        raise ValueError(f"gemm_check: shapes do not chain: {a.shape} {b.shape} -> {c.shape}")
    for arr in (a, b, c):
        if not arr.flags.c_contiguous or arr.dtype != c.dtype:
            raise ValueError("gemm_check: arrays must be C-contiguous and of one dtype")
    if c.dtype == np.float32:
        _gemm_typed[float](a, b, c, trans_a, trans_b, alpha, beta)
    else:
        _gemm_typed[double](a, b, c, trans_a, trans_b, alpha, beta)
    return c


cdef void _gemm_typed(floating[:, ::1] a, floating[:, ::1] b, floating[:, ::1] c,
                      bint trans_a, bint trans_b, double alpha, double beta):
    cdef int m = c.shape[0], n = c.shape[1]
    cdef int k = a.shape[0] if trans_a else a.shape[1]
    with nogil:
        gemm(trans_a, trans_b, m, n, k, <floating>alpha, &a[0, 0], a.shape[1],
             &b[0, 0], b.shape[1], <floating>beta, &c[0, 0], n)
