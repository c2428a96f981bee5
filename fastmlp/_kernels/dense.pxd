from cython cimport floating

cdef void dense_forward(const floating *x, const floating *w, const floating *b, floating *y,
                        int rows, int n_in, int n_out, int act) noexcept nogil

cdef void dense_backward(const floating *x, const floating *w, const floating *y,
                         floating *dy, floating *dw, floating *db, floating *dx,
                         int rows, int n_in, int n_out, int act) noexcept nogil
