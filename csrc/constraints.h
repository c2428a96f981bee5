/* Keras's weight constraints (keras/src/constraints/constraints.py), applied after an update:
 * over a (rows x cols) weight array, norms are per column (axis 0: each unit's incoming
 * weights); a bias is one column. */
#ifndef FASTMLP_CONSTRAINTS_H
#define FASTMLP_CONSTRAINTS_H

#include <math.h>
#include <stddef.h>

#include "elementwise.h"

enum { FM_CONSTRAINT_NONE = 0, FM_MAX_NORM = 1, FM_NON_NEG = 2, FM_UNIT_NORM = 3 };
#define FM_CONSTRAINT_EPSILON 1e-7  /* keras.config.epsilon() */

#define FM_CONSTRAINT_DEFINE(T, S, SQRT)                                                       \
/* w := constraint(w); tmp holds cols values. */                                              \
FM_CLONES static void fm_constrain_##S(T *restrict w, ptrdiff_t rows, ptrdiff_t cols, int kind,    \
                                    T max_value, T *restrict tmp) {                            \
    if (kind == FM_NON_NEG) {                                                                  \
        for (ptrdiff_t i = 0; i < rows * cols; i++) w[i] = w[i] > 0 ? w[i] : (T)0;             \
        return;                                                                                \
    }                                                                                          \
    if (kind != FM_MAX_NORM && kind != FM_UNIT_NORM) return;                                   \
    for (ptrdiff_t j = 0; j < cols; j++) tmp[j] = 0;                                           \
    for (ptrdiff_t i = 0; i < rows; i++)                                                       \
        for (ptrdiff_t j = 0; j < cols; j++) tmp[j] += w[i * cols + j] * w[i * cols + j];      \
    for (ptrdiff_t j = 0; j < cols; j++) {                                                     \
        T norm = SQRT(tmp[j]);                                                                 \
        T desired = kind == FM_UNIT_NORM ? (T)1 : (norm < max_value ? norm : max_value);       \
        tmp[j] = desired / ((T)FM_CONSTRAINT_EPSILON + norm);                                  \
    }                                                                                          \
    for (ptrdiff_t i = 0; i < rows; i++)                                                       \
        for (ptrdiff_t j = 0; j < cols; j++) w[i * cols + j] *= tmp[j];                        \
}

FM_CONSTRAINT_DEFINE(float, f, sqrtf)
FM_CONSTRAINT_DEFINE(double, d, sqrt)

#undef FM_CONSTRAINT_DEFINE
#endif
