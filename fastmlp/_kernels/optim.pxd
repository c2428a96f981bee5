cdef class UpdateRule:
    cdef readonly Py_ssize_t size
    cdef readonly bint is_double
    cdef public long long iterations
    cdef public double learning_rate
    cdef readonly list slots
    cdef void apply(self, void *w, const void *g) noexcept nogil
