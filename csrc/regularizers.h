/* Keras's weight and activity penalties, l1 * sum|x| + l2 * sum x^2, and their gradients
 * (keras/src/regularizers/regularizers.py), written once for float and double. */
#ifndef FASTMLP_REGULARIZERS_H
#define FASTMLP_REGULARIZERS_H

#include <math.h>
#include <stddef.h>

#include "elementwise.h"

#define FM_REG_DEFINE(T, S, FABS)                                                              \
/* The penalty of x (n values); when grad is not NULL, grad += scale * its gradient,          \
 * l1 * sign(x) + 2 * l2 * x (sign(0) = 0, as TensorFlow differentiates |x|). */             \
FM_CLONES static double fm_penalty_##S(const T *restrict x, ptrdiff_t n, T l1, T l2,              \
                                    T *restrict grad, T scale) {                               \
    double sum_abs = 0, sum_sq = 0;                                                            \
    for (ptrdiff_t i = 0; i < n; i++) {                                                        \
        sum_abs += FABS(x[i]);                                                                 \
        sum_sq += (double)x[i] * x[i];                                                         \
    }                                                                                          \
    if (grad) {                                                                                \
        T a = scale * l1, b = scale * 2 * l2;                                                  \
        for (ptrdiff_t i = 0; i < n; i++)                                                      \
            grad[i] += a * (T)((x[i] > 0) - (x[i] < 0)) + b * x[i];                            \
    }                                                                                          \
    return (double)l1 * sum_abs + (double)l2 * sum_sq;                                         \
}

FM_REG_DEFINE(float, f, fabsf)
FM_REG_DEFINE(double, d, fabs)

#undef FM_REG_DEFINE
#endif
