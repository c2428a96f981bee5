from cython cimport floating
from libc.stdint cimport int32_t

cdef double loss_and_grad(int loss, const floating *p, const int32_t *labels,
                          const floating *targets, int rows, int cols, bint fused,
                          floating *grad) noexcept nogil

cdef double accuracy_sum(int kind, const floating *p, const int32_t *labels,
                         const floating *targets, int rows, int cols) noexcept nogil
