/* Batch normalization over the rows of a (rows x cols) batch, per column (feature), as Keras's
 * BatchNormalization computes it (keras/src/layers/normalization/batch_normalization.py):
 * training uses the batch's mean and biased variance, inference the moving statistics, and
 * both apply y = x * a + c with a = gamma / sqrt(var + eps), c = beta - mean * a
 * (ops.batch_normalization's form). gamma and beta may be NULL (scale=False, center=False).
 */
#ifndef FASTMLP_BATCH_NORM_H
#define FASTMLP_BATCH_NORM_H

#include <math.h>
#include <stddef.h>

#include "elementwise.h"

#define FM_BN_DEFINE(T, S, SQRT)                                                               \
/* a, c (cols each) of the affine map for statistics (mean, var). */                          \
static inline void fm_bn_affine_##S(const T *mean, const T *var, const T *gamma,               \
                                    const T *beta, T eps, ptrdiff_t cols, T *a, T *c) {         \
    for (ptrdiff_t j = 0; j < cols; j++) {                                                     \
        a[j] = (T)1 / SQRT(var[j] + eps);                                                      \
        if (gamma) a[j] *= gamma[j];                                                           \
        c[j] = (beta ? beta[j] : (T)0) - mean[j] * a[j];                                       \
    }                                                                                          \
}                                                                                              \
                                                                                               \
/* y := x * a + c, row by row. */                                                             \
FM_CLONES static void fm_bn_apply_##S(const T *restrict x, T *restrict y, ptrdiff_t rows,        \
                                   ptrdiff_t cols, const T *restrict a, const T *restrict c) { \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                     \
        const T *restrict xr = x + i * cols;                                                   \
        T *restrict yr = y + i * cols;                                                         \
        for (ptrdiff_t j = 0; j < cols; j++) yr[j] = xr[j] * a[j] + c[j];                      \
    }                                                                                          \
}                                                                                              \
                                                                                               \
/* Training forward: stats := [mean, biased variance, 1 / sqrt(var + eps)] of the batch       \
 * (3 x cols), then y from them; tmp holds 2 x cols. */                                      \
FM_CLONES static void fm_bn_train_forward_##S(const T *restrict x, T *restrict y,                 \
                                           ptrdiff_t rows, ptrdiff_t cols, const T *gamma,     \
                                           const T *beta, T eps, T *restrict stats,            \
                                           T *restrict tmp) {                                  \
    T *restrict mean = stats, *restrict var = stats + cols, *restrict inv = stats + 2 * cols; \
    T inv_rows = (T)1 / (T)rows;                                                               \
    for (ptrdiff_t j = 0; j < cols; j++) mean[j] = var[j] = 0;                                 \
    for (ptrdiff_t i = 0; i < rows; i++)                                                       \
        for (ptrdiff_t j = 0; j < cols; j++) mean[j] += x[i * cols + j];                       \
    for (ptrdiff_t j = 0; j < cols; j++) mean[j] *= inv_rows;                                  \
    for (ptrdiff_t i = 0; i < rows; i++)                                                       \
        for (ptrdiff_t j = 0; j < cols; j++) {                                                 \
            T d = x[i * cols + j] - mean[j];                                                   \
            var[j] += d * d;                                                                   \
        }                                                                                      \
    for (ptrdiff_t j = 0; j < cols; j++) {                                                     \
        var[j] *= inv_rows;                                                                    \
        inv[j] = (T)1 / SQRT(var[j] + eps);                                                    \
    }                                                                                          \
    fm_bn_affine_##S(mean, var, gamma, beta, eps, cols, tmp, tmp + cols);                      \
    fm_bn_apply_##S(x, y, rows, cols, tmp, tmp + cols);                                        \
}                                                                                              \
                                                                                               \
/* Training backward from dy (rows x cols) and the forward's stats: sums := [sum of dy,       \
 * sum of dy * xhat] per column (dbeta, dgamma), and, unless dx is NULL,                      \
 * dx := gamma * inv / rows * (rows * dy - sum dy - xhat * sum dy xhat). */                   \
FM_CLONES static void fm_bn_backward_##S(const T *restrict x, const T *restrict dy,               \
                                      T *restrict dx, ptrdiff_t rows, ptrdiff_t cols,          \
                                      const T *gamma, const T *restrict stats,                 \
                                      T *restrict sums) {                                      \
    const T *restrict mean = stats, *restrict inv = stats + 2 * cols;                          \
    T *restrict s_dy = sums, *restrict s_dyx = sums + cols;                                    \
    for (ptrdiff_t j = 0; j < cols; j++) s_dy[j] = s_dyx[j] = 0;                               \
    for (ptrdiff_t i = 0; i < rows; i++)                                                       \
        for (ptrdiff_t j = 0; j < cols; j++) {                                                 \
            T g = dy[i * cols + j];                                                            \
            s_dy[j] += g;                                                                      \
            s_dyx[j] += g * (x[i * cols + j] - mean[j]) * inv[j];                              \
        }                                                                                      \
    if (!dx) return;                                                                           \
    T inv_rows = (T)1 / (T)rows;                                                               \
    for (ptrdiff_t i = 0; i < rows; i++)                                                       \
        for (ptrdiff_t j = 0; j < cols; j++) {                                                 \
            T xhat = (x[i * cols + j] - mean[j]) * inv[j];                                     \
            T k = (gamma ? gamma[j] : (T)1) * inv[j];                                          \
            dx[i * cols + j] = k * (dy[i * cols + j] - (s_dy[j] + xhat * s_dyx[j]) * inv_rows); \
        }                                                                                      \
}                                                                                              \
                                                                                               \
/* moving := moving * momentum + batch * rest, Keras's update for mean and var (rest is     \
 * 1 - momentum, computed in double by the caller as Keras's Python float is). */            \
static inline void fm_bn_update_moving_##S(T *moving_mean, T *moving_var, const T *stats,      \
                                           ptrdiff_t cols, T momentum, T rest) {               \
    for (ptrdiff_t j = 0; j < cols; j++) {                                                     \
        moving_mean[j] = moving_mean[j] * momentum + stats[j] * rest;             \
        moving_var[j] = moving_var[j] * momentum + stats[cols + j] * rest;        \
    }                                                                                          \
}

FM_BN_DEFINE(float, f, sqrtf)
FM_BN_DEFINE(double, d, sqrt)

#undef FM_BN_DEFINE
#endif
