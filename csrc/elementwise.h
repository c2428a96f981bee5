/* Elementwise loops of the fastmlp kernels, written once for float and double.
 *
 * Kept in plain C with restrict pointers so that gcc -O3 vectorises them; the Cython
 * kernels (fastmlp/_kernels/) include this header and pick the _f or _d variant.
 * Matrices are row-major with rows * cols elements and no padding.
 */
#ifndef FASTMLP_ELEMENTWISE_H
#define FASTMLP_ELEMENTWISE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* MSVC's C compiler spells C99's restrict __restrict. */
#if defined(_MSC_VER) && !defined(__clang__) && !defined(restrict)
#define restrict __restrict
#endif

enum { FM_LINEAR = 0, FM_RELU = 1, FM_SIGMOID = 2, FM_TANH = 3, FM_SOFTMAX = 4,
       FM_LEAKY_RELU = 5, FM_ELU = 6, FM_SELU = 7, FM_GELU = 8, FM_SOFTPLUS = 9,
       FM_SOFTSIGN = 10, FM_SILU = 11, FM_HARD_SIGMOID = 12, FM_EXPONENTIAL = 13 };
#define FM_N_ACTIVATIONS 14
#define FM_SELU_ALPHA 1.67326324235437728481704299167171
#define FM_SELU_SCALE 1.05070098735548049341933498529461
#define FM_SQRT1_2 0.70710678118654752440084436210485
#define FM_INV_SQRT_2PI 0.39894228040143267793994605993438

/* Whether an activation's backward pass reads its input (GELU, SiLU are not invertible from
 * their output); the others differentiate from the output alone. */
static inline int fm_act_needs_pre(int act) { return act == FM_GELU || act == FM_SILU; }
enum { FM_SPARSE_XENT = 0, FM_XENT = 1, FM_BINARY_XENT = 2, FM_MSE = 3, FM_MAE = 4 };
enum { FM_ACC_NONE = 0, FM_ACC_SPARSE = 1, FM_ACC_CATEGORICAL = 2, FM_ACC_BINARY = 3,
       FM_METRIC_MSE = 4, FM_METRIC_MAE = 5, FM_TOP_K = 6, FM_SPARSE_TOP_K = 7 };

/* The hot loops are compiled twice, for x86-64-v3 (AVX2 with FMA) and for the baseline, and
 * the loader picks one at run time: one portable build runs well on old and new CPUs alike,
 * whatever machine built it. ("avx2,fma" made two separate clones, neither with both.) An
 * x86-64-v4 (AVX-512) clone measured slower for Adam on the AMD Zen 4 VM (113 against 103 us
 * on 316,810 weights), so there is none. fm_simd_level() tells which clone runs. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
#define FM_CLONES __attribute__((target_clones("arch=x86-64-v3", "default"), unused))
#define FM_LEVEL() (__builtin_cpu_supports("x86-64-v3") ? 3 : 1)
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define FM_CLONES __attribute__((target_clones("arch=haswell", "default"), unused))
#define FM_LEVEL() (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 3 : 1)
#elif defined(__GNUC__)
#define FM_CLONES __attribute__((unused))
#define FM_LEVEL() 0
#else
#define FM_CLONES
#define FM_LEVEL() 0
#endif

/* The instruction set of the clones that run here: 3 (x86-64-v3), 1 (x86-64 baseline), 0 (no
 * clones: the compiler's own target). */
static inline int fm_simd_level(void) {
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
    __builtin_cpu_init();
#endif
    return FM_LEVEL();
}

#define FM_DEFINE(T, S, EXP, LOG, TANH, SQRT, FABS, ERF, EXPM1, LOG1P)                                            \
                                                                                               \
/* Forward of one activation on a row, from z into r (r may be z).                              \
 * SELU's constants are Keras's (keras/src/activations/activations.py). */                      \
static inline void fm_act_row_##S(T *r, const T *z, ptrdiff_t cols, int act, T alpha) {         \
    switch (act) {                                                                             \
    case FM_RELU:                                                                              \
        for (ptrdiff_t j = 0; j < cols; j++) r[j] = z[j] > 0 ? z[j] : (T)0;                    \
        break;                                                                                 \
    case FM_SIGMOID:                                                                           \
        for (ptrdiff_t j = 0; j < cols; j++) r[j] = (T)1 / ((T)1 + EXP(-z[j]));                \
        break;                                                                                 \
    case FM_TANH:                                                                              \
        for (ptrdiff_t j = 0; j < cols; j++) r[j] = TANH(z[j]);                                \
        break;                                                                                 \
    case FM_SOFTMAX: {                                                                         \
        T top = z[0], total = 0;                                                               \
        for (ptrdiff_t j = 1; j < cols; j++) top = z[j] > top ? z[j] : top;                    \
        for (ptrdiff_t j = 0; j < cols; j++) { r[j] = EXP(z[j] - top); total += r[j]; }        \
        T inv = (T)1 / total;                                                                  \
        for (ptrdiff_t j = 0; j < cols; j++) r[j] *= inv;                                      \
        break;                                                                                 \
    }                                                                                          \
    case FM_LEAKY_RELU:                                                                        \
        for (ptrdiff_t j = 0; j < cols; j++) r[j] = z[j] > 0 ? z[j] : alpha * z[j];            \
        break;                                                                                 \
    case FM_ELU:                                                                               \
        for (ptrdiff_t j = 0; j < cols; j++) r[j] = z[j] > 0 ? z[j] : alpha * EXPM1(z[j]);     \
        break;                                                                                 \
    case FM_SELU:                                                                              \
        for (ptrdiff_t j = 0; j < cols; j++)                                                   \
            r[j] = (T)FM_SELU_SCALE * (z[j] > 0 ? z[j] : (T)FM_SELU_ALPHA * EXPM1(z[j]));      \
        break;                                                                                 \
    case FM_GELU:                                                                              \
        for (ptrdiff_t j = 0; j < cols; j++)                                                   \
            r[j] = (T)0.5 * z[j] * ((T)1 + ERF(z[j] * (T)FM_SQRT1_2));                         \
        break;                                                                                 \
    case FM_SOFTPLUS:                                                                          \
        /* log(1 + e^z) without overflow: max(z, 0) + log1p(e^-|z|) */                        \
        for (ptrdiff_t j = 0; j < cols; j++)                                                   \
            r[j] = (z[j] > 0 ? z[j] : (T)0) + LOG1P(EXP(-FABS(z[j])));                         \
        break;                                                                                 \
    case FM_SOFTSIGN:                                                                          \
        for (ptrdiff_t j = 0; j < cols; j++) r[j] = z[j] / ((T)1 + FABS(z[j]));                \
        break;                                                                                 \
    case FM_SILU:                                                                              \
        for (ptrdiff_t j = 0; j < cols; j++) r[j] = z[j] / ((T)1 + EXP(-z[j]));                \
        break;                                                                                 \
    case FM_HARD_SIGMOID:                                                                      \
        /* Keras 3: relu6(z + 3) / 6 */                                                        \
        for (ptrdiff_t j = 0; j < cols; j++) {                                                 \
            T u = z[j] + (T)3;                                                                 \
            r[j] = (u > 0 ? (u < (T)6 ? u : (T)6) : (T)0) / (T)6;                              \
        }                                                                                      \
        break;                                                                                 \
    case FM_EXPONENTIAL:                                                                       \
        for (ptrdiff_t j = 0; j < cols; j++) r[j] = EXP(z[j]);                                 \
        break;                                                                                 \
    default:                                                                                   \
        if (r != z) for (ptrdiff_t j = 0; j < cols; j++) r[j] = z[j];                          \
        break;                                                                                 \
    }                                                                                          \
}                                                                                              \
                                                                                               \
/* z := z + b, then y := act(z), one pass a row, over `cols` columns of rows `ld` apart (a    \
 * thread's columns of a wider matrix; ld = cols: the whole matrix); b may be NULL (no bias),  \
 * y may be z (in place). An activation that fm_act_needs_pre keeps z for its backward pass  \
 * (y != z). */                                                                               \
FM_CLONES static void fm_bias_act_ld_##S(T *z, const T *restrict b, T *y, ptrdiff_t rows,         \
                                      ptrdiff_t cols, ptrdiff_t ld, int act, T alpha) {        \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                     \
        T *zr = z + i * ld;                                                                    \
        if (b) for (ptrdiff_t j = 0; j < cols; j++) zr[j] += b[j];                             \
        fm_act_row_##S(y + i * ld, zr, cols, act, alpha);                                      \
    }                                                                                          \
}                                                                                              \
                                                                                               \
static inline void fm_bias_act_##S(T *z, const T *restrict b, T *y, ptrdiff_t rows,             \
                                   ptrdiff_t cols, int act, T alpha) {                         \
    fm_bias_act_ld_##S(z, b, y, rows, cols, cols, act, alpha);                                 \
}                                                                                              \
                                                                                               \
/* dz := dy * act'(.) (in place: dz may be dy), from the activation's output y, or from its  \
 * input `pre` for the activations that need it (fm_act_needs_pre: GELU, SiLU), and          \
 * db := column sums of dz in the same pass, row after row (db may be NULL); over `cols`     \
 * columns of rows `ld` apart in all four (ld = cols: whole matrices). */                     \
FM_CLONES static void fm_act_backward_ld_##S(T *dz, const T *dy, const T *restrict y,            \
                                          const T *restrict pre, ptrdiff_t rows,               \
                                          ptrdiff_t cols, ptrdiff_t ld, int act, T alpha,      \
                                          T *restrict db) {                                    \
    if (db) for (ptrdiff_t j = 0; j < cols; j++) db[j] = 0;                                    \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                     \
        T *z = dz + i * ld;                                                                    \
        const T *d = dy + i * ld;                                                              \
        const T *restrict o = y + i * ld;                                                      \
        const T *restrict x = pre ? pre + i * ld : NULL;                                       \
        switch (act) {                                                                         \
        case FM_RELU:                                                                          \
            for (ptrdiff_t j = 0; j < cols; j++) z[j] = o[j] > 0 ? d[j] : (T)0;                \
            break;                                                                             \
        case FM_SIGMOID:                                                                       \
            for (ptrdiff_t j = 0; j < cols; j++) z[j] = d[j] * o[j] * ((T)1 - o[j]);           \
            break;                                                                             \
        case FM_TANH:                                                                          \
            for (ptrdiff_t j = 0; j < cols; j++) z[j] = d[j] * ((T)1 - o[j] * o[j]);           \
            break;                                                                             \
        case FM_SOFTMAX: {                                                                     \
            T dot = 0;                                                                         \
            for (ptrdiff_t j = 0; j < cols; j++) dot += d[j] * o[j];                           \
            for (ptrdiff_t j = 0; j < cols; j++) z[j] = o[j] * (d[j] - dot);                   \
            break;                                                                             \
        }                                                                                      \
        case FM_LEAKY_RELU: /* alpha >= 0: the output's sign is the input's */                 \
            for (ptrdiff_t j = 0; j < cols; j++) z[j] = o[j] > 0 ? d[j] : alpha * d[j];        \
            break;                                                                             \
        case FM_ELU: /* alpha > 0: for z <= 0, d(alpha (e^z - 1))/dz = y + alpha */            \
            for (ptrdiff_t j = 0; j < cols; j++) z[j] = o[j] > 0 ? d[j] : d[j] * (o[j] + alpha); \
            break;                                                                             \
        case FM_SELU:                                                                          \
            for (ptrdiff_t j = 0; j < cols; j++)                                               \
                z[j] = d[j] * (o[j] > 0 ? (T)FM_SELU_SCALE                                     \
                               : o[j] + (T)(FM_SELU_SCALE * FM_SELU_ALPHA));                   \
            break;                                                                             \
        case FM_GELU: /* Phi(x) + x phi(x) */                                                  \
            for (ptrdiff_t j = 0; j < cols; j++)                                               \
                z[j] = d[j] * ((T)0.5 * ((T)1 + ERF(x[j] * (T)FM_SQRT1_2))                     \
                               + x[j] * (T)FM_INV_SQRT_2PI * EXP((T)-0.5 * x[j] * x[j]));     \
            break;                                                                             \
        case FM_SOFTPLUS: /* sigmoid(x) = 1 - e^-y */                                          \
            for (ptrdiff_t j = 0; j < cols; j++) z[j] = -d[j] * EXPM1(-o[j]);                  \
            break;                                                                             \
        case FM_SOFTSIGN: /* 1 / (1 + |x|)^2 = (1 - |y|)^2 */                                  \
            for (ptrdiff_t j = 0; j < cols; j++) {                                             \
                T u = (T)1 - FABS(o[j]);                                                       \
                z[j] = d[j] * u * u;                                                           \
            }                                                                                  \
            break;                                                                             \
        case FM_SILU: /* s + x s (1 - s), s = sigmoid(x) */                                    \
            for (ptrdiff_t j = 0; j < cols; j++) {                                             \
                T s = (T)1 / ((T)1 + EXP(-x[j]));                                              \
                z[j] = d[j] * s * ((T)1 + x[j] * ((T)1 - s));                                  \
            }                                                                                  \
            break;                                                                             \
        case FM_HARD_SIGMOID:                                                                  \
            for (ptrdiff_t j = 0; j < cols; j++)                                               \
                z[j] = (o[j] > 0 && o[j] < (T)1) ? d[j] / (T)6 : (T)0;                         \
            break;                                                                             \
        case FM_EXPONENTIAL:                                                                   \
            for (ptrdiff_t j = 0; j < cols; j++) z[j] = d[j] * o[j];                           \
            break;                                                                             \
        default:                                                                               \
            if (z != d) for (ptrdiff_t j = 0; j < cols; j++) z[j] = d[j];                      \
            break;                                                                             \
        }                                                                                      \
        if (db) for (ptrdiff_t j = 0; j < cols; j++) db[j] += z[j];                            \
    }                                                                                          \
}                                                                                              \
                                                                                               \
static inline void fm_act_backward_##S(T *dz, const T *dy, const T *restrict y,                 \
                                       const T *restrict pre, ptrdiff_t rows, ptrdiff_t cols,  \
                                       int act, T alpha, T *restrict db) {                     \
    fm_act_backward_ld_##S(dz, dy, y, pre, rows, cols, cols, act, alpha, db);                  \
}                                                                                              \
                                                                                               \
static inline T fm_clip_##S(T p, T eps) { return p < eps ? eps : (p > 1 - eps ? 1 - eps : p); } \
                                                                                               \
/* Loss summed over the rows (each row's loss is Keras's per-sample value) and, in grad, the   \
 * gradient of (sum / batch): with respect to the pre-activation when `fused` (softmax or      \
 * sigmoid folded in: (p - y) / N), else with respect to p. batch: the rows of the whole batch \
 * these are part of (rows: all of it). Probabilities are normalised and clipped to            \
 * [eps, 1 - eps] as Keras does; a clipped entry passes no gradient. */                        \
static inline double fm_loss_part_##S(int loss, const T *restrict p,                          \
                                      const int32_t *restrict labels, const T *restrict t,     \
                                      ptrdiff_t rows, ptrdiff_t batch, ptrdiff_t cols,         \
                                      int fused, T eps, T *restrict grad) {                    \
    double sum = 0;                                                                            \
    T inv_rows = (T)1 / (T)batch, inv_n = (T)1 / ((T)batch * (T)cols);                         \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                     \
        const T *restrict q = p + i * cols;                                                    \
        T *restrict g = grad + i * cols;                                                       \
        const T *restrict y = t ? t + i * cols : NULL;                                         \
        switch (loss) {                                                                        \
        case FM_SPARSE_XENT:                                                                   \
        case FM_XENT: {                                                                        \
            T total = 0, ysum = 0, row = 0, weighted = 0;                                      \
            for (ptrdiff_t j = 0; j < cols; j++) total += q[j];                                \
            T inv_total = (T)1 / total;                                                        \
            for (ptrdiff_t j = 0; j < cols; j++) {                                             \
                T yj = y ? y[j] : (T)(j == labels[i]);                                         \
                T pj = q[j] * inv_total, pc = fm_clip_##S(pj, eps);                            \
                ysum += yj;                                                                    \
                if (yj != 0) row -= yj * LOG(pc);                                              \
                /* dL/dp_j before the normalisation's Jacobian */                              \
                g[j] = (pj == pc && yj != 0) ? -yj / pj : (T)0;                                \
                weighted += g[j] * pj;                                                         \
            }                                                                                  \
            sum += row;                                                                        \
            if (fused) {                                                                       \
                for (ptrdiff_t j = 0; j < cols; j++) {                                         \
                    T yj = y ? y[j] : (T)(j == labels[i]);                                     \
                    g[j] = (q[j] * ysum - yj) * inv_rows;                                      \
                }                                                                              \
            } else {                                                                           \
                for (ptrdiff_t j = 0; j < cols; j++)                                           \
                    g[j] = (g[j] - weighted) * inv_total * inv_rows;                           \
            }                                                                                  \
            break;                                                                             \
        }                                                                                      \
        case FM_BINARY_XENT: {                                                                 \
            double row = 0;                                                                    \
            for (ptrdiff_t j = 0; j < cols; j++) {                                             \
                T pc = fm_clip_##S(q[j], eps);                                                 \
                row -= y[j] * LOG(pc) + ((T)1 - y[j]) * LOG((T)1 - pc);                        \
                if (fused) g[j] = (q[j] - y[j]) * inv_n;                                       \
                else g[j] = pc == q[j] ? (-y[j] / pc + ((T)1 - y[j]) / ((T)1 - pc)) * inv_n : (T)0; \
            }                                                                                  \
            sum += row / (double)cols;                                                         \
            break;                                                                             \
        }                                                                                      \
        case FM_MSE: {                                                                         \
            double row = 0;                                                                    \
            for (ptrdiff_t j = 0; j < cols; j++) {                                             \
                T e = q[j] - y[j];                                                             \
                row += e * e;                                                                  \
                g[j] = 2 * e * inv_n;                                                          \
            }                                                                                  \
            sum += row / (double)cols;                                                         \
            break;                                                                             \
        }                                                                                      \
        case FM_MAE: {                                                                         \
            double row = 0;                                                                    \
            for (ptrdiff_t j = 0; j < cols; j++) {                                             \
                T e = q[j] - y[j];                                                             \
                row += FABS(e);                                                                \
                g[j] = (e > 0 ? (T)1 : (e < 0 ? (T)-1 : (T)0)) * inv_n;                        \
            }                                                                                  \
            sum += row / (double)cols;                                                         \
            break;                                                                             \
        }                                                                                      \
        default: break;                                                                        \
        }                                                                                      \
    }                                                                                          \
    return sum;                                                                                \
}                                                                                              \
                                                                                               \
static inline double fm_loss_##S(int loss, const T *restrict p, const int32_t *restrict labels, \
                                 const T *restrict t, ptrdiff_t rows, ptrdiff_t cols, int fused, \
                                 T eps, T *restrict grad) {                                    \
    return fm_loss_part_##S(loss, p, labels, t, rows, rows, cols, fused, eps, grad);           \
}                                                                                              \
                                                                                               \
static inline ptrdiff_t fm_argmax_##S(const T *r, ptrdiff_t cols) {                            \
    ptrdiff_t best = 0;                                                                        \
    for (ptrdiff_t j = 1; j < cols; j++) if (r[j] > r[best]) best = j;                         \
    return best;                                                                               \
}                                                                                              \
                                                                                               \
/* The target's rank among a row's predictions: whether fewer than k outputs beat it (ties  \
 * count as in the top k, as in_top_k does). */                                               \
static inline int fm_in_top_k_##S(const T *r, ptrdiff_t cols, ptrdiff_t target, int k) {       \
    ptrdiff_t above = 0;                                                                       \
    for (ptrdiff_t j = 0; j < cols; j++) above += r[j] > r[target];                            \
    return above < k;                                                                          \
}                                                                                              \
                                                                                               \
/* A metric summed over the rows (each row's value is Keras's per-sample one): the accuracies, \
 * mean squared and absolute error, top-k categorical accuracy. */                             \
static inline double fm_accuracy_##S(int kind, const T *restrict p,                           \
                                     const int32_t *restrict labels, const T *restrict t,      \
                                     ptrdiff_t rows, ptrdiff_t cols, int k) {                  \
    double hits = 0;                                                                           \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                     \
        const T *q = p + i * cols;                                                             \
        if (kind == FM_ACC_SPARSE) {                                                           \
            hits += fm_argmax_##S(q, cols) == (ptrdiff_t)labels[i];                            \
        } else if (kind == FM_ACC_CATEGORICAL) {                                               \
            hits += fm_argmax_##S(q, cols) == fm_argmax_##S(t + i * cols, cols);               \
        } else if (kind == FM_ACC_BINARY) {                                                    \
            /* targets, or (one output column) the class label 0/1 as the target */            \
            ptrdiff_t same = 0;                                                                \
            for (ptrdiff_t j = 0; j < cols; j++) {                                             \
                T want = t ? t[i * cols + j] : (T)labels[i];                                   \
                same += want == (q[j] > (T)0.5 ? (T)1 : (T)0);                                 \
            }                                                                                  \
            hits += (double)same / (double)cols;                                               \
        } else if (kind == FM_METRIC_MSE || kind == FM_METRIC_MAE) {                           \
            double row = 0;                                                                    \
            for (ptrdiff_t j = 0; j < cols; j++) {                                             \
                double e = (double)q[j] - (double)t[i * cols + j];                             \
                row += kind == FM_METRIC_MSE ? e * e : (e < 0 ? -e : e);                       \
            }                                                                                  \
            hits += row / (double)cols;                                                        \
        } else if (kind == FM_TOP_K) {                                                         \
            hits += fm_in_top_k_##S(q, cols, fm_argmax_##S(t + i * cols, cols), k);            \
        } else if (kind == FM_SPARSE_TOP_K) {                                                  \
            hits += fm_in_top_k_##S(q, cols, (ptrdiff_t)labels[i], k);                         \
        }                                                                                      \
    }                                                                                          \
    return hits;                                                                               \
}                                                                                              \
                                                                                               \
/* Optimizer updates over one flat buffer, Keras's formulas (keras/src/optimizers/). */        \
FM_CLONES static void fm_sgd_##S(T *restrict w, const T *restrict g, ptrdiff_t n, T lr) {         \
    for (ptrdiff_t i = 0; i < n; i++) w[i] -= lr * g[i];                                       \
}                                                                                              \
FM_CLONES static void fm_sgd_momentum_##S(T *restrict w, const T *restrict g, T *restrict m,      \
                                       ptrdiff_t n, T lr, T momentum, int nesterov) {          \
    if (nesterov) {                                                                            \
        for (ptrdiff_t i = 0; i < n; i++) {                                                    \
            m[i] = momentum * m[i] - lr * g[i];                                                \
            w[i] += momentum * m[i] - lr * g[i];                                               \
        }                                                                                      \
    } else {                                                                                   \
        for (ptrdiff_t i = 0; i < n; i++) {                                                    \
            m[i] = momentum * m[i] - lr * g[i];                                                \
            w[i] += m[i];                                                                      \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
FM_CLONES static void fm_adagrad_##S(T *restrict w, const T *restrict g, T *restrict acc,         \
                                  ptrdiff_t n, T lr, T eps) {                                  \
    for (ptrdiff_t i = 0; i < n; i++) {                                                        \
        acc[i] += g[i] * g[i];                                                                 \
        w[i] -= lr * g[i] / SQRT(acc[i] + eps);                                                \
    }                                                                                          \
}                                                                                              \
/* rest: 1 - rho, rounded from double as Keras's Python float is */                           \
FM_CLONES static void fm_rmsprop_##S(T *restrict w, const T *restrict g, T *restrict v,           \
                                  T *restrict m, ptrdiff_t n, T lr, T rho, T rest, T momentum, \
                                  T eps) {                                                     \
    if (m) {                                                                                   \
        for (ptrdiff_t i = 0; i < n; i++) {                                                    \
            v[i] = rho * v[i] + rest * (g[i] * g[i]);                                          \
            m[i] = momentum * m[i] + lr * g[i] / SQRT(v[i] + eps);                             \
            w[i] -= m[i];                                                                      \
        }                                                                                      \
    } else {                                                                                   \
        for (ptrdiff_t i = 0; i < n; i++) {                                                    \
            v[i] = rho * v[i] + rest * (g[i] * g[i]);                                          \
            w[i] -= lr * g[i] / SQRT(v[i] + eps);                                              \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
FM_CLONES static void fm_adam_##S(T *restrict w, const T *restrict g, T *restrict m,              \
                               T *restrict v, T *restrict v_hat, ptrdiff_t n, T alpha,         \
                               T one_minus_b1, T one_minus_b2, T eps) {                        \
    /* v_hat: AMSGrad's running maximum of v (NULL: plain Adam); 1 - beta rounded from double, \
     * as Keras's `1 - self.beta_1` (a Python float) is */                                     \
    if (v_hat) {                                                                               \
        for (ptrdiff_t i = 0; i < n; i++) {                                                    \
            m[i] += (g[i] - m[i]) * one_minus_b1;                                              \
            v[i] += (g[i] * g[i] - v[i]) * one_minus_b2;                                       \
            v_hat[i] = v_hat[i] > v[i] ? v_hat[i] : v[i];                                      \
            w[i] -= m[i] * alpha / (SQRT(v_hat[i]) + eps);                                     \
        }                                                                                      \
        return;                                                                                \
    }                                                                                          \
    for (ptrdiff_t i = 0; i < n; i++) {                                                        \
        m[i] += (g[i] - m[i]) * one_minus_b1;                                                  \
        v[i] += (g[i] * g[i] - v[i]) * one_minus_b2;                                           \
        w[i] -= m[i] * alpha / (SQRT(v[i]) + eps);                                             \
    }                                                                                          \
}                                                                                              \
/* Keras's Nadam step, its operations in Keras's order (keras/src/optimizers/nadam.py). */    \
FM_CLONES static void fm_nadam_##S(T *restrict w, const T *restrict g, T *restrict m,             \
                                T *restrict v, ptrdiff_t n, T lr, T beta_1, T beta_2, T eps,   \
                                T u_t, T u_t_1, T u_product_t, T u_product_t_1,                \
                                T beta_2_power) {                                              \
    T one_minus_b1 = 1 - beta_1, one_minus_b2 = 1 - beta_2, one_minus_u_t = 1 - u_t;           \
    T d1 = 1 - u_product_t_1, d2 = 1 - u_product_t, d3 = 1 - beta_2_power;                     \
    for (ptrdiff_t i = 0; i < n; i++) {                                                        \
        m[i] += (g[i] - m[i]) * one_minus_b1;                                                  \
        v[i] += (g[i] * g[i] - v[i]) * one_minus_b2;                                           \
        T m_hat = u_t_1 * m[i] / d1 + one_minus_u_t * g[i] / d2;                               \
        w[i] -= m_hat * lr / (SQRT(v[i] / d3) + eps);                                          \
    }                                                                                          \
}                                                                                              \
/* Gradient transforms before an update, as Keras's optimizers apply them. */                 \
static inline double fm_sum_squares_##S(const T *restrict g, ptrdiff_t n) {                    \
    double total = 0;                                                                          \
    for (ptrdiff_t i = 0; i < n; i++) total += (double)g[i] * (double)g[i];                    \
    return total;                                                                              \
}                                                                                              \
/* g := g * c / d (Keras's clip_by_norm: (g * clipnorm) / max(norm, clipnorm)) */             \
FM_CLONES static void fm_scale_##S(T *restrict g, ptrdiff_t n, T c, T d) {                        \
    for (ptrdiff_t i = 0; i < n; i++) g[i] = g[i] * c / d;                                     \
}                                                                                              \
FM_CLONES static void fm_clip_values_##S(T *restrict g, ptrdiff_t n, T limit) {                   \
    for (ptrdiff_t i = 0; i < n; i++) g[i] = g[i] > limit ? limit : (g[i] < -limit ? -limit : g[i]); \
}                                                                                              \
/* Decoupled weight decay, w := w - w * wd * lr (Keras's _apply_weight_decay). */             \
FM_CLONES static void fm_weight_decay_##S(T *restrict w, ptrdiff_t n, T wd, T lr) {               \
    for (ptrdiff_t i = 0; i < n; i++) w[i] = w[i] - w[i] * wd * lr;                            \
}

/* 1 when no element is NaN or ±inf, else 0: an integer test that vectorises and allocates
 * nothing, unlike numpy.isfinite(x).all(). |x|'s bits are those of +inf or above exactly when
 * x is NaN or ±inf, so the test is the largest of them against +inf's: an and and an unsigned
 * max a vector, in FM_FINITE_LANES running maxima so that several loads are in flight (all of
 * Fashion-MNIST's x, 188 MB, in 15-16 ms, against 19 ms for a flag per element, Intel Xeon
 * (Emerald Rapids) VM). */
#define FM_FINITE_LANES 32
/* NAME(PARAMS): that test over src (n elements of T, read as the unsigned U; |x|'s bits below
 * INF), each element also handed to STORE(i, bits). Four functions, one body: the checks alone
 * (fm_all_finite_*) and, where a training step gathers a row of x into its batch, the copy
 * and the check in one pass (fm_copy_finite_*), so checking x costs it no read of its own. */
#define FM_FINITE_BODY(T, U, ABS, INF, NAME, PARAMS, STORE)                                     \
FM_CLONES static int NAME PARAMS {                                                               \
    U lane_max[FM_FINITE_LANES * sizeof(float) / sizeof(T)] = {0}, most = 0;                      \
    const ptrdiff_t lanes = FM_FINITE_LANES * sizeof(float) / sizeof(T);                           \
    ptrdiff_t i = 0;                                                                              \
    for (; i + lanes <= n; i += lanes)                                                            \
        for (ptrdiff_t k = 0; k < lanes; k++) {                                                    \
            U bits;                                                                               \
            memcpy(&bits, src + i + k, sizeof bits);                                              \
            STORE(i + k, bits);                                                                   \
            bits &= ABS;                                                                          \
            lane_max[k] = lane_max[k] > bits ? lane_max[k] : bits;                                \
        }                                                                                         \
    for (; i < n; i++) {                                                                          \
        U bits;                                                                                   \
        memcpy(&bits, src + i, sizeof bits);                                                      \
        STORE(i, bits);                                                                           \
        bits &= ABS;                                                                              \
        most = most > bits ? most : bits;                                                         \
    }                                                                                             \
    for (ptrdiff_t k = 0; k < lanes; k++)                                                         \
        most = most > lane_max[k] ? most : lane_max[k];                                           \
    return most < INF;                                                                            \
}
#define FM_FINITE_NO_STORE(i, bits) ((void)0)
#define FM_FINITE_STORE(i, bits) memcpy(dst + (i), &(bits), sizeof(bits))
FM_FINITE_BODY(float, uint32_t, 0x7fffffffu, 0x7f800000u, fm_all_finite_f,
               (const float *restrict src, ptrdiff_t n), FM_FINITE_NO_STORE)
FM_FINITE_BODY(double, uint64_t, 0x7fffffffffffffffull, 0x7ff0000000000000ull, fm_all_finite_d,
               (const double *restrict src, ptrdiff_t n), FM_FINITE_NO_STORE)
FM_FINITE_BODY(float, uint32_t, 0x7fffffffu, 0x7f800000u, fm_copy_finite_f,
               (float *restrict dst, const float *restrict src, ptrdiff_t n), FM_FINITE_STORE)
FM_FINITE_BODY(double, uint64_t, 0x7fffffffffffffffull, 0x7ff0000000000000ull, fm_copy_finite_d,
               (double *restrict dst, const double *restrict src, ptrdiff_t n), FM_FINITE_STORE)
#undef FM_FINITE_BODY
#undef FM_FINITE_NO_STORE
#undef FM_FINITE_STORE

FM_DEFINE(float, f, expf, logf, tanhf, sqrtf, fabsf, erff, expm1f, log1pf)
FM_DEFINE(double, d, exp, log, tanh, sqrt, fabs, erf, expm1, log1p)

#undef FM_DEFINE
#endif
