from cython cimport floating

cdef void dense_forward(const floating *x, const floating *w, const floating *b, floating *y,
                        Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out,
                        int act) noexcept nogil

cdef void dense_backward(const floating *x, const floating *w, const floating *y,
                         floating *dy, floating *dw, floating *db, floating *dx,
                         Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out,
                         int act) noexcept nogil
