from cython cimport floating
from libc.stdint cimport int32_t

from fastmlp._kernels.small_gemm cimport fm_kept, fm_prefetch

cdef bint forward_gemm(const floating *x, const floating *w, floating *z, Py_ssize_t rows,
                       Py_ssize_t n_in, Py_ssize_t n_out, int level, const floating *bias,
                       bint relu, fm_prefetch *pf, const fm_kept *kept) noexcept nogil

cdef void weight_gradient_gemm(const floating *x, const floating *dz, floating *dw,
                               Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out,
                               int level, fm_prefetch *pf, const fm_kept *kept) noexcept nogil

cdef void dense_forward(const floating *x, const floating *w, const floating *b, floating *y,
                        floating *pre, Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out,
                        int act, double alpha, int level, fm_prefetch *pf,
                        const float *packed, int32_t *nonzeros,
                        const fm_kept *kept) noexcept nogil

cdef void dense_backward(const floating *x, const floating *w, const floating *wt,
                         const floating *y, const floating *pre, floating *dy, floating *dw,
                         floating *db, floating *dx, Py_ssize_t rows, Py_ssize_t n_in,
                         Py_ssize_t n_out, int act, double alpha, int level,
                         fm_prefetch *pf, const fm_kept *kept) noexcept nogil
