# Declarations of csrc/batch_norm.h, Keras's batch normalization over the rows of a batch.
cdef extern from "batch_norm.h" nogil:
    void fm_bn_affine_f(const float *mean, const float *var, const float *gamma,
                        const float *beta, float eps, Py_ssize_t cols, float *a, float *c)
    void fm_bn_affine_d(const double *mean, const double *var, const double *gamma,
                        const double *beta, double eps, Py_ssize_t cols, double *a, double *c)
    void fm_bn_apply_f(const float *x, float *y, Py_ssize_t rows, Py_ssize_t cols,
                       const float *a, const float *c)
    void fm_bn_apply_d(const double *x, double *y, Py_ssize_t rows, Py_ssize_t cols,
                       const double *a, const double *c)
    void fm_bn_train_forward_f(const float *x, float *y, Py_ssize_t rows, Py_ssize_t cols,
                               const float *gamma, const float *beta, float eps, float *stats,
                               float *tmp)
    void fm_bn_train_forward_d(const double *x, double *y, Py_ssize_t rows, Py_ssize_t cols,
                               const double *gamma, const double *beta, double eps,
                               double *stats, double *tmp)
    void fm_bn_backward_f(const float *x, const float *dy, float *dx, Py_ssize_t rows,
                          Py_ssize_t cols, const float *gamma, const float *stats, float *sums)
    void fm_bn_backward_d(const double *x, const double *dy, double *dx, Py_ssize_t rows,
                          Py_ssize_t cols, const double *gamma, const double *stats,
                          double *sums)
    void fm_bn_update_moving_f(float *moving_mean, float *moving_var, const float *stats,
                               Py_ssize_t cols, float momentum, float rest)
    void fm_bn_update_moving_d(double *moving_mean, double *moving_var, const double *stats,
                               Py_ssize_t cols, double momentum, double rest)
