# Declarations of csrc/regularizers.h and csrc/constraints.h: penalties and projections of weights.
cdef extern from "regularizers.h" nogil:
    double fm_penalty_f(const float *x, Py_ssize_t n, float l1, float l2, float *grad, float scale)
    double fm_penalty_d(const double *x, Py_ssize_t n, double l1, double l2, double *grad,
                        double scale)

cdef extern from "constraints.h" nogil:
    enum:
        FM_CONSTRAINT_NONE, FM_MAX_NORM, FM_NON_NEG, FM_UNIT_NORM
    void fm_constrain_f(float *w, Py_ssize_t rows, Py_ssize_t cols, int kind, float max_value,
                        float *tmp)
    void fm_constrain_d(double *w, Py_ssize_t rows, Py_ssize_t cols, int kind, double max_value,
                        double *tmp)
