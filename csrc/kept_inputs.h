/* The inputs a training step's first products keep: for each block of FM_MR rows that the own
 * GEMM's tiles take (csrc/small_gemm.h), the depth indices p where some row of the block has
 * an x that is not zero. fm_sgemm_small_kept runs each block over its list only.
 *
 * Why: a model's inputs are often half zeros (the background of Fashion-MNIST's images; 81% of
 * MNIST's pixels), and the first layer's two products over the batch (x·W forward, xᵀ·dz for
 * W's gradient) are the largest of a step. A skipped term is 0·w = ±0, and adding ±0 leaves
 * an output as it is (its sign aside, when it is itself zero): the same values as the dense
 * product while w (W, or dz) is finite. Skipping needs a whole block zero at p:
 * - forward, blocks of 6 samples: a pixel zero in all 6 (Fashion-MNIST 16% of pixels, MNIST
 *   57%), fm_kept_of_rows;
 * - the weight gradient, blocks of 6 pixels: a sample zero on all 6 (Fashion-MNIST 31%, MNIST
 *   66%), fm_kept_of_columns.
 *
 * Both lists come from each row's bit mask of its non-zero elements. A training batch makes
 * the masks as it takes its rows: a shuffled batch's gather as it copies them (fm_gather_row),
 * rows in order in one read in place that also checks them (fm_row_mask); its lists then never
 * read the floats again (fm_kept_of_mask_rows, fm_kept_of_mask_columns). fm_kept_of_rows
 * (inference: it also finds NaN) and fm_kept_of_columns read the floats themselves.
 *
 * GCC/Clang on x86-64: AVX-512 and AVX2 (the levels of the own GEMM); elsewhere the builders
 * return -1 and the products run dense.
 */
#ifndef FASTMLP_KEPT_INPUTS_H
#define FASTMLP_KEPT_INPUTS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "small_gemm.h"

/* A block's rows: the own GEMM's FM_MR (6). */
#define FM_KEPT_BLOCK 6
#ifdef FM_SMALL_GEMM_X86
_Static_assert(FM_KEPT_BLOCK == FM_MR, "kept lists are per block of the tiles' rows");
#endif

/* What fm_sgemm_small_kept reads: block b's indices idx[at[b] .. at[b + 1]). */
typedef struct {
    const int32_t *idx;
    const ptrdiff_t *at;
} fm_kept;

/* Lists are used only where at least 1 in this many of a product's terms are skipped: reading
 * nearly every row through a list gains nothing over the dense tile. */
#define FM_KEPT_MIN_SKIPPED 8

/* Whether lists that keep `kept` of a product's `dense` terms pay (kept < 0: no lists). */
static inline int fm_kept_pays(ptrdiff_t kept, ptrdiff_t dense) {
    return kept >= 0 && dense - kept > 0 && dense - kept >= dense / FM_KEPT_MIN_SKIPPED;
}

/* Blocks of `count` rows. */
static inline ptrdiff_t fm_kept_blocks(ptrdiff_t count) {
    return (count + FM_KEPT_BLOCK - 1) / FM_KEPT_BLOCK;
}

/* Rows' bit masks (bit p of a row set where its element p is not zero, NaN included; none
 * past its n elements) are laid out word by word: word w of row r at masks[w·rows + r], so a
 * block of rows reads its words side by side, and a block of columns tests one word of 8 rows
 * in one vector. A row has fm_kept_mask_words(n) words (the last one spare, zero). */
static inline ptrdiff_t fm_kept_mask_words(ptrdiff_t n) {
    return (n + 63) / 64 + 1;
}

#ifdef FM_SMALL_GEMM_X86
/* Appends the p in [p0, p0 + 16) (or fewer: `in`) set in `kept_mask` to list at count. */
static FM_AVX512 ptrdiff_t fm_kept_append512(int32_t *list, ptrdiff_t count, ptrdiff_t p0,
                                             __mmask16 kept_mask) {
    const __m512i at = _mm512_add_epi32(_mm512_set1_epi32((int)p0),
                                        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                          12, 13, 14, 15));
    int n = __builtin_popcount((unsigned)kept_mask);
    /* compressed into a register, then a masked store: a compress straight to memory is
     * microcoded and slow on Zen 4 */
    _mm512_mask_storeu_epi32(list + count, (__mmask16)((1u << n) - 1u),
                             _mm512_maskz_compress_epi32(kept_mask, at));
    return count + n;
}

static FM_AVX512 int fm_kept_of_rows512(const float *x, ptrdiff_t m, ptrdiff_t k,
                                        ptrdiff_t ldx, int32_t *kept, ptrdiff_t *kept_at) {
    ptrdiff_t count = 0;
    __mmask16 bad = 0;
    for (ptrdiff_t i = 0, b = 0; i < m; i += FM_KEPT_BLOCK, b++) {
        ptrdiff_t rows = m - i < FM_KEPT_BLOCK ? m - i : FM_KEPT_BLOCK;
        kept_at[b] = count;
        for (ptrdiff_t p = 0; p < k; p += 16) {
            __mmask16 in = k - p >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - p)) - 1u);
            __mmask16 any = 0;
            for (ptrdiff_t r = 0; r < rows; r++) {
                __m512 v = _mm512_maskz_loadu_ps(in, x + (i + r) * ldx + p);
                any |= _mm512_mask_cmp_ps_mask(in, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
                /* v - v is NaN where v is NaN or ±inf, else 0 */
                bad |= _mm512_cmp_ps_mask(_mm512_sub_ps(v, v), _mm512_setzero_ps(), _CMP_NEQ_UQ);
            }
            count = fm_kept_append512(kept, count, p, any);
        }
    }
    kept_at[fm_kept_blocks(m)] = count;
    return bad == 0;
}


static FM_AVX2 int fm_kept_of_rows256(const float *x, ptrdiff_t m, ptrdiff_t k,
                                      ptrdiff_t ldx, int32_t *kept, ptrdiff_t *kept_at) {
    ptrdiff_t count = 0;
    __m256 bad = _mm256_setzero_ps();
    int bad_tail = 0;
    for (ptrdiff_t i = 0, b = 0; i < m; i += FM_KEPT_BLOCK, b++) {
        ptrdiff_t rows = m - i < FM_KEPT_BLOCK ? m - i : FM_KEPT_BLOCK, p = 0;
        kept_at[b] = count;
        for (; p + 8 <= k; p += 8) {
            unsigned any = 0;
            for (ptrdiff_t r = 0; r < rows; r++) {
                __m256 v = _mm256_loadu_ps(x + (i + r) * ldx + p);
                any |= (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(),
                                                                  _CMP_NEQ_UQ));
                /* v - v is NaN where v is NaN or ±inf, else 0: NaN sticks in the sum */
                bad = _mm256_add_ps(bad, _mm256_sub_ps(v, v));
            }
            while (any) {
                kept[count++] = (int32_t)(p + __builtin_ctz(any));
                any &= any - 1;
            }
        }
        for (; p < k; p++) {
            int any = 0;
            for (ptrdiff_t r = 0; r < rows; r++) {
                float v = x[(i + r) * ldx + p];
                any |= !(v == 0.0f);
                bad_tail |= !(v - v == 0.0f);
            }
            kept[count] = (int32_t)p;
            count += any;
        }
    }
    kept_at[fm_kept_blocks(m)] = count;
    return !bad_tail && _mm256_movemask_ps(_mm256_cmp_ps(bad, _mm256_setzero_ps(), _CMP_NEQ_UQ)) == 0;
}

/* Row x's bit mask (n elements) into mask[0], mask[stride], ... (fm_kept_mask_words(n)
 * words); returns whether every element is finite. */
static FM_AVX512 int fm_row_mask512(const float *x, ptrdiff_t n, uint64_t *mask,
                                    ptrdiff_t stride) {
    __m512 bad = _mm512_setzero_ps();
    for (ptrdiff_t w = 0, words = fm_kept_mask_words(n); w < words; w++) {
        uint64_t word = 0;
        for (ptrdiff_t part = 0, p = w * 64; part < 4 && p < n; part++, p += 16) {
            __mmask16 in = n - p >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - p)) - 1u);
            __m512 v = n - p >= 16 ? _mm512_loadu_ps(x + p) : _mm512_maskz_loadu_ps(in, x + p);
            word |= (uint64_t)_mm512_mask_cmp_ps_mask(in, v, _mm512_setzero_ps(), _CMP_NEQ_UQ)
                    << (16 * part);
            /* v - v is NaN where v is NaN or ±inf, else 0: NaN sticks in the sum */
            bad = _mm512_add_ps(bad, _mm512_sub_ps(v, v));
        }
        mask[w * stride] = word;
    }
    return _mm512_cmp_ps_mask(bad, _mm512_setzero_ps(), _CMP_NEQ_UQ) == 0;
}

static FM_AVX2 int fm_row_mask256(const float *x, ptrdiff_t n, uint64_t *mask,
                                  ptrdiff_t stride) {
    __m256 bad = _mm256_setzero_ps();
    int bad_tail = 0;
    for (ptrdiff_t w = 0, words = fm_kept_mask_words(n); w < words; w++) {
        uint64_t word = 0;
        ptrdiff_t p = w * 64, end = n < p + 64 ? n : p + 64;
        for (; p + 8 <= end; p += 8) {
            __m256 v = _mm256_loadu_ps(x + p);
            word |= (uint64_t)(unsigned)_mm256_movemask_ps(
                        _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_UQ)) << (p % 64);
            bad = _mm256_add_ps(bad, _mm256_sub_ps(v, v));
        }
        for (; p < end; p++) {
            word |= (uint64_t)!(x[p] == 0.0f) << (p % 64);
            bad_tail |= !(x[p] - x[p] == 0.0f);
        }
        mask[w * stride] = word;
    }
    return !bad_tail
           && _mm256_movemask_ps(_mm256_cmp_ps(bad, _mm256_setzero_ps(), _CMP_NEQ_UQ)) == 0;
}

/* Which of the (up to) 16 rows whose words start at `word` (`left` of them from there on)
 * hold a set bit in `bits`: bit r of the result for row r. */
static FM_AVX512 unsigned fm_rows_hit512(const uint64_t *word, ptrdiff_t left, __m512i bits) {
    __mmask8 in0 = left >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << left) - 1u);
    __mmask8 in1 = left >= 16 ? (__mmask8)0xFF
                   : left > 8 ? (__mmask8)((1u << (left - 8)) - 1u) : (__mmask8)0;
    unsigned low = _mm512_mask_test_epi64_mask(in0, _mm512_maskz_loadu_epi64(in0, word), bits);
    unsigned high = _mm512_mask_test_epi64_mask(in1, _mm512_maskz_loadu_epi64(in1, word + 8),
                                                bits);
    return low | high << 8;
}

/* Block b's list for the kernel gradient, 16 rows at a time: the rows whose word holds a
 * set bit in `lo` (and, for a block across two words, whose next word holds one in `hi`). */
static FM_AVX512 ptrdiff_t fm_kept_rows_of_block512(const uint64_t *word, const uint64_t *next,
                                                    ptrdiff_t rows, uint64_t lo, uint64_t hi,
                                                    int32_t *kept, ptrdiff_t count) {
    const __m512i lo_bits = _mm512_set1_epi64((long long)lo);
    const __m512i hi_bits = _mm512_set1_epi64((long long)hi);
    for (ptrdiff_t p = 0; p < rows; p += 16) {
        unsigned hit = fm_rows_hit512(word + p, rows - p, lo_bits);
        if (hi)
            hit |= fm_rows_hit512(next + p, rows - p, hi_bits);
        count = fm_kept_append512(kept, count, p, (__mmask16)hit);
    }
    return count;
}
#endif


/* For x row-major (m rows of k, row stride ldx) as the x of x·w: block b (rows b·FM_KEPT_BLOCK on)
 * keeps the p where one of its rows is not zero (NaN included), kept[kept_at[b] ..
 * kept_at[b + 1]). kept: fm_kept_blocks(m) × k int32; kept_at: fm_kept_blocks(m) + 1.
 * *finite := whether every element read is finite (no NaN, no ±inf): the pass reads every
 * element once, so an inference call checks its input here instead of in a pass of its own.
 * Returns the number of indices kept in all, or -1 (nothing written, *finite untouched) where
 * this build has no path for `level` or k is past what an int32 holds. */
static inline ptrdiff_t fm_kept_of_rows(int level, const float *x, ptrdiff_t m, ptrdiff_t k,
                                        ptrdiff_t ldx, int32_t *kept, ptrdiff_t *kept_at,
                                        int *finite) {
#ifdef FM_SMALL_GEMM_X86
    if (level < 1 || k > INT32_MAX)
        return -1;
    if (level >= 2)
        *finite = fm_kept_of_rows512(x, m, k, ldx, kept, kept_at);
    else
        *finite = fm_kept_of_rows256(x, m, k, ldx, kept, kept_at);
    return kept_at[fm_kept_blocks(m)];
#else
    (void)level; (void)x; (void)m; (void)k; (void)ldx; (void)kept; (void)kept_at; (void)finite;
    return -1;
#endif
}

/* The lists of fm_kept_of_rows from the m rows' bit masks (as laid out above, k elements a
 * row): a block's words ORed, then their bits listed; the floats are not read again. Returns
 * as fm_kept_of_rows (no finiteness: the masks' maker found that). */
static inline ptrdiff_t fm_kept_of_mask_rows(int level, const uint64_t *masks, ptrdiff_t m,
                                             ptrdiff_t k, int32_t *kept, ptrdiff_t *kept_at) {
#ifdef FM_SMALL_GEMM_X86
    if (level < 1 || k > INT32_MAX)
        return -1;
    ptrdiff_t count = 0;
    for (ptrdiff_t i = 0, b = 0; i < m; i += FM_KEPT_BLOCK, b++) {
        ptrdiff_t rows = m - i < FM_KEPT_BLOCK ? m - i : FM_KEPT_BLOCK;
        kept_at[b] = count;
        for (ptrdiff_t w = 0; w * 64 < k; w++) {
            uint64_t any = 0;
            for (ptrdiff_t r = 0; r < rows; r++)
                any |= masks[w * m + i + r];
            if (level >= 2) {
                for (int part = 0; part < 4; part++)
                    count = fm_kept_append512(kept, count, w * 64 + part * 16,
                                              (__mmask16)(any >> (16 * part)));
            } else {
                while (any) {
                    kept[count++] = (int32_t)(w * 64 + __builtin_ctzll(any));
                    any &= any - 1;
                }
            }
        }
    }
    kept_at[fm_kept_blocks(m)] = count;
    return count;
#else
    (void)level; (void)masks; (void)m; (void)k; (void)kept; (void)kept_at;
    return -1;
#endif
}

/* The lists of fm_kept_of_columns from the rows' bit masks (as laid out above, n elements a
 * row): block b keeps the rows with a bit set among its columns' (AVX-512: 16 rows a vector
 * test). Returns as fm_kept_of_columns. */
static inline ptrdiff_t fm_kept_of_mask_columns(int level, const uint64_t *masks, ptrdiff_t rows,
                                                ptrdiff_t n, int32_t *kept, ptrdiff_t *kept_at) {
#ifdef FM_SMALL_GEMM_X86
    if (level < 1 || rows > INT32_MAX)
        return -1;
    ptrdiff_t count = 0;
    for (ptrdiff_t j = 0, b = 0; j < n; j += FM_KEPT_BLOCK, b++) {
        ptrdiff_t width = n - j < FM_KEPT_BLOCK ? n - j : FM_KEPT_BLOCK, shift = j % 64;
        uint64_t block = ((uint64_t)1 << width) - 1u;
        /* the block's bits in its first word, and those past that word in the next (spare
         * for the last: zero) */
        uint64_t lo = block << shift, hi = shift + width > 64 ? block >> (64 - shift) : 0;
        const uint64_t *word = masks + (j / 64) * rows, *next = word + rows;
        kept_at[b] = count;
        if (level >= 2) {
            count = fm_kept_rows_of_block512(word, next, rows, lo, hi, kept, count);
            continue;
        }
        for (ptrdiff_t p = 0; p < rows; p++) {
            kept[count] = (int32_t)p;
            count += ((word[p] & lo) | (next[p] & hi)) != 0;
        }
    }
    kept_at[fm_kept_blocks(n)] = count;
    return count;
#else
    (void)level; (void)masks; (void)rows; (void)n; (void)kept; (void)kept_at;
    return -1;
#endif
}

/* Row x's bit mask (n elements) into mask[0], mask[stride], ... (the batch's rows: the layout
 * above), in one read that also finds NaN and ±inf: a batch whose rows are read in place
 * (not gathered) makes its masks so. Returns 1 where every element is finite, 0 where one is
 * NaN or ±inf, -1 where this build has no path for `level` (nothing written). */
static inline int fm_row_mask(int level, const float *x, ptrdiff_t n, uint64_t *mask,
                              ptrdiff_t stride) {
#ifdef FM_SMALL_GEMM_X86
    if (level >= 2)
        return fm_row_mask512(x, n, mask, stride);
    if (level >= 1)
        return fm_row_mask256(x, n, mask, stride);
#endif
    (void)level; (void)x; (void)n; (void)mask; (void)stride;
    return -1;
}

/* For the same x (rows of n, row stride ldx) read as xᵀ, the x of xᵀ·dz: block b (columns
 * b·FM_KEPT_BLOCK on) keeps the rows p where one of its columns is not zero, kept[kept_at[b] ..
 * kept_at[b + 1]). kept: fm_kept_blocks(n) × rows int32; kept_at: fm_kept_blocks(n) + 1;
 * masks: scratch of rows × fm_kept_mask_words(n) words (the rows' bit masks). Returns as
 * fm_kept_of_rows. */
static inline ptrdiff_t fm_kept_of_columns(int level, const float *x, ptrdiff_t rows,
                                           ptrdiff_t n, ptrdiff_t ldx, int32_t *kept,
                                           ptrdiff_t *kept_at, uint64_t *masks) {
#ifdef FM_SMALL_GEMM_X86
    if (level < 1 || rows > INT32_MAX)
        return -1;
    for (ptrdiff_t p = 0; p < rows; p++)
        fm_row_mask(level, x + p * ldx, n, masks + p, rows);
    return fm_kept_of_mask_columns(level, masks, rows, n, kept, kept_at);
#else
    (void)level; (void)x; (void)rows; (void)n; (void)ldx; (void)kept; (void)kept_at;
    (void)masks;
    return -1;
#endif
}

/* A shuffled batch's row gathered: dst[0 .. n) := src[0 .. n), and its bit mask into mask[0],
 * mask[stride], ... (the batch's rows: the layout above), as fm_kept_of_mask_rows and
 * fm_kept_of_mask_columns read: the lists of the batch's first products then never read its
 * floats again. The copy is memcpy's; the mask and the finiteness are read from the copy, in
 * L1 (in a C test over rows in L2, a batch of 32 rows of 784: 2.1 us, against 2.3 for one
 * pass of loads, stores and compares, 4.4 with masked loads and stores throughout, 3.2 for
 * fm_copy_finite_f alone). Returns 1 where every element is finite, 0 where one is NaN or
 * ±inf (all copied still), -1 where this build has no path for `level` (nothing written). */
static inline int fm_gather_row(int level, float *dst, const float *src, ptrdiff_t n,
                                uint64_t *mask, ptrdiff_t stride) {
#ifdef FM_SMALL_GEMM_X86
    if (level >= 1) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return fm_row_mask(level, dst, n, mask, stride);
    }
#endif
    (void)level; (void)dst; (void)src; (void)n; (void)mask; (void)stride;
    return -1;
}

#endif
