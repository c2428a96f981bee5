/* A dense kernel packed for fastmlp's own GEMM (csrc/small_gemm.h): the columns of w in the
 * panels that GEMM's tiles read for more than FM_FEW_ROWS rows, each panel k rows of its
 * width (its vectors × 16 floats at AVX-512, FM_PANEL256 at AVX2), one after the other, every
 * row of a panel starting on a 64-byte line (the caller aligns `packed`), unused lanes 0.
 *
 * Why: in place, a panel's row of w is one run of 64 floats at a stride of n floats; unless n
 * is a multiple of 16, three rows in four start inside a cache line, so each zmm load of them
 * spans two lines, and each panel reads bytes of its neighbours' lines. Packed, every load is
 * one line. Measured on the AMD Zen 4 VM (1 thread, 784-300-200-100-10, 109-row passes): batch 1024
 * 146-158k samples/s in place, 164-169k packed; batch 8 +9%. One or two rows read w in wider
 * panels in place (one row of M2: 14.7 µs in place, 15.1 packed), so they stay in place.
 *
 * Only inference packs (the network does, once per published set of weights): training
 * changes w every step. Each output is the same chain of FMAs over k in order as in place, so
 * packed and in place give the same bits.
 *
 * GCC/Clang on x86-64, levels 1 (AVX2 with FMA) and 2 (AVX-512); elsewhere fm_packed_floats
 * is 0 and nothing is packed.
 */
#ifndef FASTMLP_PACKED_WEIGHTS_H
#define FASTMLP_PACKED_WEIGHTS_H

#include <stddef.h>
#include <string.h>

#include "small_gemm.h"

/* floats of 64 bytes: where `packed` must start */
#define FM_PACK_ALIGN 16

/* The least rows a product runs on packed weights (fewer: in place, see above). */
#define FM_PACKED_MIN_ROWS 3

#ifdef FM_SMALL_GEMM_X86
/* Panel q of a packed (k × n) w at `level`: its first column, its columns, and the floats of
 * one of its rows (a multiple of 16). Returns 0 past the last panel. */
static inline int fm_packed_panel(int level, ptrdiff_t n, ptrdiff_t q, ptrdiff_t *first,
                                  ptrdiff_t *cols, ptrdiff_t *width) {
    if (level >= 2) {
        ptrdiff_t vectors_all = (n + 15) / 16, panels = fm_panels512(vectors_all, 4), j = 0;
        if (q >= panels)
            return 0;
        for (ptrdiff_t p = 0; p < q; p++)
            j += 16 * fm_panel_vectors(vectors_all, panels, p);
        ptrdiff_t span = 16 * fm_panel_vectors(vectors_all, panels, q);
        *first = j;
        *cols = n - j < span ? n - j : span;
        *width = span;
        return 1;
    }
    if (level == 1 && q * FM_PANEL256 < n) {
        *first = q * FM_PANEL256;
        *cols = n - *first < FM_PANEL256 ? n - *first : FM_PANEL256;
        *width = FM_PANEL256;
        return 1;
    }
    return 0;
}
#endif

/* Floats a packed (k × n) w takes at `level` (0: no packed path at that level in this build). */
static inline ptrdiff_t fm_packed_floats(int level, ptrdiff_t k, ptrdiff_t n) {
    ptrdiff_t total = 0;
#ifdef FM_SMALL_GEMM_X86
    ptrdiff_t first, cols, width;
    for (ptrdiff_t q = 0; fm_packed_panel(level, n, q, &first, &cols, &width); q++)
        total += k * width;
#else
    (void)level; (void)k; (void)n;
#endif
    return total;
}

/* packed := w (k × n, row stride ldw) packed for `level`; packed holds fm_packed_floats(level,
 * k, n) floats from a 64-byte boundary. */
static inline void fm_pack_weights(int level, ptrdiff_t k, ptrdiff_t n, const float *w,
                                   ptrdiff_t ldw, float *packed) {
#ifdef FM_SMALL_GEMM_X86
    ptrdiff_t first, cols, width;
    for (ptrdiff_t q = 0; fm_packed_panel(level, n, q, &first, &cols, &width); q++) {
        for (ptrdiff_t p = 0; p < k; p++) {
            memcpy(packed + p * width, w + p * ldw + first, (size_t)cols * sizeof(float));
            memset(packed + p * width + cols, 0, (size_t)(width - cols) * sizeof(float));
        }
        packed += k * width;
    }
#else
    (void)level; (void)k; (void)n; (void)w; (void)ldw; (void)packed;
#endif
}

#ifdef FM_SMALL_GEMM_X86
static FM_AVX512 void fm_sgemm512_packed(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *x,
                                         ptrdiff_t ldx, const float *packed, float *y,
                                         ptrdiff_t ldy, const float *bias, int relu,
                                         const int32_t *kept, const ptrdiff_t *kept_at) {
    ptrdiff_t first, cols, width;
    for (ptrdiff_t q = 0; fm_packed_panel(2, n, q, &first, &cols, &width); q++) {
        ptrdiff_t vectors = width / 16, tail = cols - 16 * (vectors - 1);
        __mmask16 last = (__mmask16)((1u << tail) - 1u);
        const fm_tile512_fn *tiles = (tail <= 8 ? (kept ? fm_tiles512hk : fm_tiles512h)
                                                : (kept ? fm_tiles512k : fm_tiles512))[vectors - 1];
        for (ptrdiff_t i = 0; i < m; i += FM_MR) {
            ptrdiff_t rows = m - i < FM_MR ? m - i : FM_MR, b = i / FM_MR;
            tiles[rows - 1](x + i * ldx, ldx, 1, packed, width, y + i * ldy + first, ldy,
                            kept ? kept_at[b + 1] - kept_at[b] : k, last,
                            bias ? bias + first : NULL, relu, NULL, kept ? kept + kept_at[b] : NULL);
        }
        packed += k * width;
    }
}

static FM_AVX2 void fm_sgemm256_packed(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *x,
                                       ptrdiff_t ldx, const float *packed, float *y,
                                       ptrdiff_t ldy, const float *bias, int relu,
                                       const int32_t *kept, const ptrdiff_t *kept_at) {
    /* as fm_sgemm256: each block of rows through every panel */
    for (ptrdiff_t i = 0; i < m; i += FM_MR) {
        ptrdiff_t rows = m - i < FM_MR ? m - i : FM_MR, b = i / FM_MR;
        const int32_t *list = kept ? kept + kept_at[b] : NULL;
        ptrdiff_t depth = kept ? kept_at[b + 1] - kept_at[b] : k;
        ptrdiff_t first, cols, width;
        for (ptrdiff_t q = 0; fm_packed_panel(1, n, q, &first, &cols, &width); q++) {
            ptrdiff_t vectors = (cols + 7) / 8, tail = cols - 8 * (vectors - 1);
            __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)tail),
                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            fm_tile256_fn tile = kept ? fm_tiles256k[vectors - 1][rows - 1]
                                      : fm_tiles256[vectors - 1][rows - 1];
            tile(x + i * ldx, ldx, 1, packed + q * k * width, width, y + i * ldy + first, ldy,
                 depth, last, bias ? bias + first : NULL, relu, NULL, list);
        }
    }
}
#endif

/* y := x·w (+ bias, max(., 0) when relu, as fm_sgemm_small) from w packed by fm_pack_weights
 * at `level`; x row-major (row stride ldx). kept (or NULL): each block of FM_MR rows of x over
 * its list only, as fm_sgemm_small_kept. Returns 0 (y untouched) when this build has no packed
 * path at that level. */
static inline int fm_sgemm_packed_kept(int level, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                       const float *x, ptrdiff_t ldx, const float *packed,
                                       float *y, ptrdiff_t ldy, const float *bias, int relu,
                                       const int32_t *kept, const ptrdiff_t *kept_at) {
#ifdef FM_SMALL_GEMM_X86
    if (level >= 2) {
        fm_sgemm512_packed(m, n, k, x, ldx, packed, y, ldy, bias, relu, kept, kept_at);
        return 1;
    }
    if (level == 1) {
        fm_sgemm256_packed(m, n, k, x, ldx, packed, y, ldy, bias, relu, kept, kept_at);
        return 1;
    }
#else
    (void)level; (void)m; (void)n; (void)k; (void)x; (void)ldx; (void)packed; (void)y; (void)ldy;
    (void)bias; (void)relu; (void)kept; (void)kept_at;
#endif
    return 0;
}

/* fm_sgemm_packed_kept over every p. */
static inline int fm_sgemm_packed(int level, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                  const float *x, ptrdiff_t ldx, const float *packed, float *y,
                                  ptrdiff_t ldy, const float *bias, int relu) {
    return fm_sgemm_packed_kept(level, m, n, k, x, ldx, packed, y, ldy, bias, relu, NULL, NULL);
}

#endif
