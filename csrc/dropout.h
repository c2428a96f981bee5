/* Inverted dropout with a counter-based mask, written once for float and double.
 *
 * Element (i, j) of a batch is kept when a 32-bit hash of (key, i, j) is at or above
 * `threshold` (rate * 2^32) and then scaled by 1 / (1 - rate). The key folds the layer's seed,
 * the epoch's seed and the step index (fm_dropout_key), so a mask depends on nothing else: not
 * on how fit slices an epoch into compiled calls, nor on a thread. The backward pass applies
 * the same function to the gradient, recomputing the mask instead of storing it.
 */
#ifndef FASTMLP_DROPOUT_H
#define FASTMLP_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

#include "elementwise.h"

static inline uint32_t fm_mix32(uint32_t h) {  /* MurmurHash3's finaliser */
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static inline uint64_t fm_mix64(uint64_t z) {  /* SplitMix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The key of one layer's mask at one step of one epoch. */
static inline uint32_t fm_dropout_key(uint64_t layer_seed, uint64_t epoch_seed, int64_t step) {
    uint64_t z = fm_mix64(layer_seed + 0x9e3779b97f4a7c15ull);
    z = fm_mix64(z ^ (epoch_seed + 0x9e3779b97f4a7c15ull));
    z = fm_mix64(z ^ ((uint64_t)step + 0x9e3779b97f4a7c15ull));
    return (uint32_t)(z >> 32);
}

/* The key of a batch's rows from `first_row` on: a mask over a slice of the batch is the
 * slice of the whole batch's mask (a thread of a training team masks its rows only). */
static inline uint32_t fm_dropout_rows_key(uint32_t key, int64_t first_row) {
    return key + (uint32_t)first_row * 0x9e3779b9u;
}

/* The threshold of a drop rate in [0, 1): hashes below it are dropped. */
static inline uint32_t fm_dropout_threshold(double rate) {
    double t = rate * 4294967296.0;
    return t >= 4294967295.0 ? 0xffffffffu : (uint32_t)t;
}

#define FM_DROPOUT_DEFINE(T, S)                                                                \
/* Columns [j0, j1) of y := x * mask * scale, rows of `cols` elements (y may be x): the mask  \
 * of those columns of the whole width (a unit team's thread masks its units only); rows      \
 * below 2^31, as every BLAS dimension. */                                                    \
FM_CLONES static void fm_dropout_cols_##S(T *y, const T *x, ptrdiff_t rows, ptrdiff_t cols,      \
                                       ptrdiff_t j0, ptrdiff_t j1, uint32_t key,               \
                                       uint32_t threshold, T scale) {                          \
    for (ptrdiff_t i = 0; i < rows; i++) {                                                     \
        uint32_t row_key = fm_mix32(fm_dropout_rows_key(key, i));                              \
        T *yr = y + i * cols;                                                                  \
        const T *xr = x + i * cols;                                                            \
        for (ptrdiff_t j = j0; j < j1; j++) {                                                  \
            uint32_t h = fm_mix32(row_key ^ ((uint32_t)j * 0x85ebca77u));                      \
            yr[j] = h >= threshold ? xr[j] * scale : (T)0;                                     \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
                                                                                               \
/* y := x * mask * scale over the whole width. */                                              \
static inline void fm_dropout_##S(T *y, const T *x, ptrdiff_t rows, ptrdiff_t cols,            \
                                  uint32_t key, uint32_t threshold, T scale) {                 \
    fm_dropout_cols_##S(y, x, rows, cols, 0, cols, key, threshold, scale);                     \
}

FM_DROPOUT_DEFINE(float, f)
FM_DROPOUT_DEFINE(double, d)

#undef FM_DROPOUT_DEFINE
#endif
