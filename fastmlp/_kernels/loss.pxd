from cython cimport floating
from libc.stdint cimport int32_t

cdef double loss_and_grad(int loss, const floating *p, const int32_t *labels,
                          const floating *targets, Py_ssize_t rows, Py_ssize_t cols,
                          bint fused, double epsilon, floating *grad,
                          const floating *weights, Py_ssize_t batch=*) noexcept nogil

cdef double accuracy_sum(int kind, const floating *p, const int32_t *labels,
                         const floating *targets, Py_ssize_t rows, Py_ssize_t cols,
                         int k) noexcept nogil
