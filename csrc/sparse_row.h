/* One row of y := x·w (+ bias, then ReLU) that reads only the rows of w where x is not zero:
 * the product of a one-sample inference call. Its input is often half zeros (Fashion-MNIST's
 * and MNIST's pixels; the outputs of a ReLU layer), and a one-row product is bound by reading
 * w (784×100 floats: 314 KB a call), so skipping those rows of w saves most of their time.
 *
 * The same values as fm_sgemm_small's one-row tile when w is finite (the caller knows it):
 * each output is the same chain of FMAs over the kept p in order, from +0. A skipped term is
 * x[p]·w[p, j] = ±0 (w[p, j] finite), and acc + ±0 is acc bit for bit unless acc is ±0 —
 * and then only its sign can differ (+0 + −0 is +0), which a bias or a ReLU after it
 * mostly erases; a NaN or infinite x[p] is not zero and is kept. With an infinite or NaN
 * w[p, j], 0·w[p, j] is NaN, which skipping would hide: the caller must not pass such a w.
 *
 * Declines (returns 0, y untouched) where fewer than 1 in FM_SKIP_MIN_ZEROS of x's elements
 * are zero (reading nearly all of w through an index list gains nothing over the tile), where
 * this build has no path for `level`, and for k past what an int32 index holds.
 *
 * GCC/Clang on x86-64: AVX-512 and AVX2 with FMA (the indices of x's non-zero elements as
 * csrc/kept_inputs.h lists them for a block of one row).
 */
#ifndef FASTMLP_SPARSE_ROW_H
#define FASTMLP_SPARSE_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "kept_inputs.h"
#include "small_gemm.h"

/* Skip x's zeros only where at least 1 in this many of its elements are zero. */
#define FM_SKIP_MIN_ZEROS 8

#ifdef FM_SMALL_GEMM_X86

/* One panel of V vectors of columns (the last masked to `last`), over the kept rows. */
#define FM_ROW512S(V)                                                                           \
static FM_AVX512 void fm_row512s_##V(const float *x, const int32_t *idx, ptrdiff_t count,      \
                                     const float *w, ptrdiff_t ldw, float *y, __mmask16 last,   \
                                     const float *bias, int relu) {                             \
    __m512 acc[V];                                                                              \
    FM_UNROLL for (int c = 0; c < V; c++) acc[c] = _mm512_setzero_ps();                         \
    for (ptrdiff_t i = 0; i < count; i++) {                                                     \
        ptrdiff_t p = idx[i];                                                                   \
        const float *wp = w + p * ldw;                                                          \
        __m512 a = _mm512_set1_ps(x[p]);                                                        \
        FM_UNROLL for (int c = 0; c < V - 1; c++)                                               \
            acc[c] = _mm512_fmadd_ps(a, _mm512_loadu_ps(wp + 16 * c), acc[c]);                  \
        acc[V - 1] = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(last, wp + 16 * (V - 1)),         \
                                     acc[V - 1]);                                               \
    }                                                                                           \
    if (bias) {                                                                                 \
        FM_UNROLL for (int c = 0; c < V - 1; c++)                                               \
            acc[c] = _mm512_add_ps(acc[c], _mm512_loadu_ps(bias + 16 * c));                     \
        acc[V - 1] = _mm512_add_ps(acc[V - 1], _mm512_maskz_loadu_ps(last, bias + 16 * (V - 1))); \
    }                                                                                           \
    if (relu)                                                                                   \
        FM_UNROLL for (int c = 0; c < V; c++) acc[c] = _mm512_max_ps(acc[c], _mm512_setzero_ps()); \
    FM_UNROLL for (int c = 0; c < V - 1; c++) _mm512_storeu_ps(y + 16 * c, acc[c]);             \
    _mm512_mask_storeu_ps(y + 16 * (V - 1), last, acc[V - 1]);                                  \
}

#define FM_ROW256S(V)                                                                           \
static FM_AVX2 void fm_row256s_##V(const float *x, const int32_t *idx, ptrdiff_t count,        \
                                   const float *w, ptrdiff_t ldw, float *y, __m256i last,       \
                                   const float *bias, int relu) {                               \
    __m256 acc[V];                                                                              \
    FM_UNROLL for (int c = 0; c < V; c++) acc[c] = _mm256_setzero_ps();                         \
    for (ptrdiff_t i = 0; i < count; i++) {                                                     \
        ptrdiff_t p = idx[i];                                                                   \
        const float *wp = w + p * ldw;                                                          \
        __m256 a = _mm256_broadcast_ss(x + p);                                                  \
        FM_UNROLL for (int c = 0; c < V - 1; c++)                                               \
            acc[c] = _mm256_fmadd_ps(a, _mm256_loadu_ps(wp + 8 * c), acc[c]);                   \
        acc[V - 1] = _mm256_fmadd_ps(a, _mm256_maskload_ps(wp + 8 * (V - 1), last), acc[V - 1]); \
    }                                                                                           \
    if (bias) {                                                                                 \
        FM_UNROLL for (int c = 0; c < V - 1; c++)                                               \
            acc[c] = _mm256_add_ps(acc[c], _mm256_loadu_ps(bias + 8 * c));                      \
        acc[V - 1] = _mm256_add_ps(acc[V - 1], _mm256_maskload_ps(bias + 8 * (V - 1), last));  \
    }                                                                                           \
    if (relu)                                                                                   \
        FM_UNROLL for (int c = 0; c < V; c++) acc[c] = _mm256_max_ps(acc[c], _mm256_setzero_ps()); \
    FM_UNROLL for (int c = 0; c < V - 1; c++) _mm256_storeu_ps(y + 8 * c, acc[c]);              \
    _mm256_maskstore_ps(y + 8 * (V - 1), last, acc[V - 1]);                                     \
}

FM_ROW512S(1) FM_ROW512S(2) FM_ROW512S(3) FM_ROW512S(4)
FM_ROW512S(5) FM_ROW512S(6) FM_ROW512S(7) FM_ROW512S(8)
FM_ROW256S(1) FM_ROW256S(2) FM_ROW256S(3) FM_ROW256S(4)

typedef void (*fm_row512s_fn)(const float *, const int32_t *, ptrdiff_t, const float *,
                              ptrdiff_t, float *, __mmask16, const float *, int);
typedef void (*fm_row256s_fn)(const float *, const int32_t *, ptrdiff_t, const float *,
                              ptrdiff_t, float *, __m256i, const float *, int);
static const fm_row512s_fn fm_rows512s[8] = {fm_row512s_1, fm_row512s_2, fm_row512s_3,
                                             fm_row512s_4, fm_row512s_5, fm_row512s_6,
                                             fm_row512s_7, fm_row512s_8};
static const fm_row256s_fn fm_rows256s[4] = {fm_row256s_1, fm_row256s_2, fm_row256s_3,
                                             fm_row256s_4};

/* The columns in panels as fm_sgemm512 and fm_sgemm256 take them for one row. */
static FM_AVX512 void fm_sgemv512s(ptrdiff_t n, const float *x, const int32_t *idx,
                                   ptrdiff_t count, const float *w, ptrdiff_t ldw, float *y,
                                   const float *bias, int relu) {
    ptrdiff_t vectors_all = (n + 15) / 16;
    ptrdiff_t panels = fm_panels512(vectors_all, 8);
    for (ptrdiff_t q = 0, j = 0; q < panels; q++) {
        ptrdiff_t vectors = fm_panel_vectors(vectors_all, panels, q);
        ptrdiff_t cols = n - j < 16 * vectors ? n - j : 16 * vectors;
        __mmask16 last = (__mmask16)((1u << (cols - 16 * (vectors - 1))) - 1u);
        fm_rows512s[vectors - 1](x, idx, count, w + j, ldw, y + j, last, bias ? bias + j : NULL,
                                 relu);
        j += cols;
    }
}

static FM_AVX2 void fm_sgemv256s(ptrdiff_t n, const float *x, const int32_t *idx,
                                 ptrdiff_t count, const float *w, ptrdiff_t ldw, float *y,
                                 const float *bias, int relu) {
    for (ptrdiff_t j = 0; j < n; j += 32) {
        ptrdiff_t cols = n - j < 32 ? n - j : 32;
        ptrdiff_t vectors = (cols + 7) / 8, tail = cols - 8 * (vectors - 1);
        __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)tail),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        fm_rows256s[vectors - 1](x, idx, count, w + j, ldw, y + j, last, bias ? bias + j : NULL,
                                 relu);
    }
}
#endif

/* idx[0..count) := the p in [0, k) with x[p] != 0 (NaN included), in order (idx: scratch of
 * k int32): the kept list of one row (csrc/kept_inputs.h); returns count, or -1 where this
 * build has no path for `level` or k is past what an int32 holds (idx untouched). */
static inline ptrdiff_t fm_nonzeros(int level, const float *x, ptrdiff_t k, int32_t *idx) {
    ptrdiff_t at[2];
    return fm_kept_of_rows(level, x, 1, k, k, idx, at);
}

/* Whether reading the count rows of fm_nonzeros instead of all k pays (see above). */
static inline int fm_skip_pays(ptrdiff_t count, ptrdiff_t k) {
    return count >= 0 && k - count > 0 && k - count >= k / FM_SKIP_MIN_ZEROS;
}

/* y(1×n) := x(1×k)·w (+ bias, max(·, 0) when relu) over the rows idx[0..count) of w (of
 * fm_nonzeros, at the same level), w[p, j] at w[p * ldw + j], finite (see above). */
static inline void fm_sgemv_kept(int level, ptrdiff_t n, const float *x, const int32_t *idx,
                                 ptrdiff_t count, const float *w, ptrdiff_t ldw, float *y,
                                 const float *bias, int relu) {
#ifdef FM_SMALL_GEMM_X86
    if (n <= 0)
        return;
    if (level >= 2)
        fm_sgemv512s(n, x, idx, count, w, ldw, y, bias, relu);
    else if (level == 1)
        fm_sgemv256s(n, x, idx, count, w, ldw, y, bias, relu);
#else
    (void)level; (void)n; (void)x; (void)idx; (void)count; (void)w; (void)ldw; (void)y;
    (void)bias; (void)relu;
#endif
}

/* fm_nonzeros, then fm_sgemv_kept where fm_skip_pays: returns 1 when done, 0 when it declined
 * (y untouched; the caller runs fm_sgemm_small). */
static inline int fm_sgemv_skip_zeros(int level, ptrdiff_t n, ptrdiff_t k, const float *x,
                                      const float *w, ptrdiff_t ldw, float *y,
                                      const float *bias, int relu, int32_t *idx) {
    ptrdiff_t count = fm_nonzeros(level, x, k, idx);
    if (!fm_skip_pays(count, k))
        return 0;
    fm_sgemv_kept(level, n, x, idx, count, w, ldw, y, bias, relu);
    return 1;
}

#endif
