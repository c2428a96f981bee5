# Declarations of csrc/small_gemm.h, fastmlp's own float32 GEMM for inference.
cdef extern from "small_gemm.h" nogil:
    int fm_small_gemm_level()
    int fm_sgemm_small(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *x,
                       Py_ssize_t ldx, Py_ssize_t incx, const float *w, Py_ssize_t ldw, float *y,
                       Py_ssize_t ldy)
