# Declarations of csrc/elementwise.h, the vectorisable elementwise loops.
from libc.stdint cimport int32_t

cdef extern from "elementwise.h" nogil:
    enum:
        FM_LINEAR, FM_RELU, FM_SIGMOID, FM_TANH, FM_SOFTMAX, FM_LEAKY_RELU, FM_ELU, FM_SELU
        FM_GELU, FM_SOFTPLUS, FM_SOFTSIGN, FM_SILU, FM_HARD_SIGMOID, FM_EXPONENTIAL
        FM_SPARSE_XENT, FM_XENT, FM_BINARY_XENT, FM_MSE, FM_MAE
        FM_ACC_NONE, FM_ACC_SPARSE, FM_ACC_CATEGORICAL, FM_ACC_BINARY
        FM_METRIC_MSE, FM_METRIC_MAE, FM_TOP_K, FM_SPARSE_TOP_K

    int fm_simd_level()
    int fm_act_needs_pre(int act)
    int fm_all_finite_f(const float *x, Py_ssize_t n)
    int fm_all_finite_d(const double *x, Py_ssize_t n)
    int fm_copy_finite_f(float *dst, const float *src, Py_ssize_t n)
    int fm_copy_finite_d(double *dst, const double *src, Py_ssize_t n)
    void fm_bias_act_f(float *z, const float *b, float *y, Py_ssize_t rows, Py_ssize_t cols,
                       int act, float alpha)
    void fm_bias_act_d(double *z, const double *b, double *y, Py_ssize_t rows, Py_ssize_t cols,
                       int act, double alpha)
    void fm_bias_act_ld_f(float *z, const float *b, float *y, Py_ssize_t rows, Py_ssize_t cols,
                          Py_ssize_t ld, int act, float alpha)
    void fm_bias_act_ld_d(double *z, const double *b, double *y, Py_ssize_t rows,
                          Py_ssize_t cols, Py_ssize_t ld, int act, double alpha)
    void fm_act_backward_ld_f(float *dz, const float *dy, const float *y, const float *pre,
                              Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld, int act,
                              float alpha, float *db)
    void fm_act_backward_ld_d(double *dz, const double *dy, const double *y, const double *pre,
                              Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t ld, int act,
                              double alpha, double *db)
    void fm_act_backward_f(float *dz, const float *dy, const float *y, const float *pre,
                           Py_ssize_t rows, Py_ssize_t cols, int act, float alpha, float *db)
    void fm_act_backward_d(double *dz, const double *dy, const double *y, const double *pre,
                           Py_ssize_t rows, Py_ssize_t cols, int act, double alpha, double *db)
    double fm_loss_part_f(int loss, const float *p, const int32_t *labels, const float *t,
                          Py_ssize_t rows, Py_ssize_t batch, Py_ssize_t cols, int fused,
                          float eps, float *grad)
    double fm_loss_part_d(int loss, const double *p, const int32_t *labels, const double *t,
                          Py_ssize_t rows, Py_ssize_t batch, Py_ssize_t cols, int fused,
                          double eps, double *grad)
    double fm_loss_f(int loss, const float *p, const int32_t *labels, const float *t,
                     Py_ssize_t rows, Py_ssize_t cols, int fused, float eps, float *grad)
    double fm_loss_d(int loss, const double *p, const int32_t *labels, const double *t,
                     Py_ssize_t rows, Py_ssize_t cols, int fused, double eps, double *grad)
    double fm_accuracy_f(int kind, const float *p, const int32_t *labels, const float *t,
                         Py_ssize_t rows, Py_ssize_t cols, int k)
    double fm_accuracy_d(int kind, const double *p, const int32_t *labels, const double *t,
                         Py_ssize_t rows, Py_ssize_t cols, int k)
    void fm_sgd_f(float *w, const float *g, Py_ssize_t n, float lr)
    void fm_sgd_d(double *w, const double *g, Py_ssize_t n, double lr)
    void fm_sgd_momentum_f(float *w, const float *g, float *m, Py_ssize_t n, float lr,
                           float momentum, int nesterov)
    void fm_sgd_momentum_d(double *w, const double *g, double *m, Py_ssize_t n, double lr,
                           double momentum, int nesterov)
    void fm_adagrad_f(float *w, const float *g, float *acc, Py_ssize_t n, float lr, float eps)
    void fm_adagrad_d(double *w, const double *g, double *acc, Py_ssize_t n, double lr,
                      double eps)
    void fm_rmsprop_f(float *w, const float *g, float *v, float *m, Py_ssize_t n, float lr,
                      float rho, float rest, float momentum, float eps)
    void fm_rmsprop_d(double *w, const double *g, double *v, double *m, Py_ssize_t n,
                      double lr, double rho, double rest, double momentum, double eps)
    void fm_adam_f(float *w, const float *g, float *m, float *v, float *v_hat, Py_ssize_t n,
                   float alpha, float one_minus_b1, float one_minus_b2, float eps)
    void fm_adam_d(double *w, const double *g, double *m, double *v, double *v_hat, Py_ssize_t n,
                   double alpha, double one_minus_b1, double one_minus_b2, double eps)
    void fm_nadam_f(float *w, const float *g, float *m, float *v, Py_ssize_t n, float lr,
                    float beta_1, float beta_2, float eps, float u_t, float u_t_1,
                    float u_product_t, float u_product_t_1, float beta_2_power)
    void fm_nadam_d(double *w, const double *g, double *m, double *v, Py_ssize_t n, double lr,
                    double beta_1, double beta_2, double eps, double u_t, double u_t_1,
                    double u_product_t, double u_product_t_1, double beta_2_power)
    double fm_sum_squares_f(const float *g, Py_ssize_t n)
    double fm_sum_squares_d(const double *g, Py_ssize_t n)
    void fm_scale_f(float *g, Py_ssize_t n, float c, float d)
    void fm_scale_d(double *g, Py_ssize_t n, double c, double d)
    void fm_clip_values_f(float *g, Py_ssize_t n, float limit)
    void fm_clip_values_d(double *g, Py_ssize_t n, double limit)
    void fm_weight_decay_f(float *w, Py_ssize_t n, float wd, float lr)
    void fm_weight_decay_d(double *w, Py_ssize_t n, double wd, double lr)

cdef extern from "fpstate.h" nogil:
    unsigned long long fm_flush_denormals_begin()
    void fm_flush_denormals_end(unsigned long long old)
