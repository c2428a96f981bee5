# The only module that cimports scipy.linalg.cython_blas (see blas.pyx).
from cython cimport floating

# Sizes are Py_ssize_t everywhere in fastmlp; BLAS takes C int, so every caller guarantees
# (checked where Python hands over the sizes) that each dimension fits in one.
cdef void gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
               floating alpha, const floating *a, Py_ssize_t lda, const floating *b,
               Py_ssize_t ldb, floating beta, floating *c, Py_ssize_t ldc) noexcept nogil
