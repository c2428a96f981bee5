/* fastmlp's own float32 GEMM, y(m×n) := x(m×k)·w(k×n), row-major: every product of float32
 * inference, and training's products up to the engine's limit (all of them on one thread or in
 * a thread team; fastmlp/engine.py, TRAIN_GEMM_MAX).
 *
 * Why not BLAS: a predict call holds a handful of rows, and OpenBLAS hands even those to its
 * worker threads (a one-row gemv of 784×300 is threaded), so two request threads calling
 * predict at once queue on one thread pool and get less than one thread's throughput. This
 * kernel runs on the calling thread alone, shares nothing, and reads the weights in place
 * (Keras's (n_in, n_out) layout: a row of w is contiguous), so there is nothing to pack or
 * keep in step with the weights.
 *
 * Each output is one chain of fused multiply-adds over k in order, whatever the number of rows
 * and wherever a row falls in a tile: a row's result does not depend on the batch it came in,
 * how a batch is split across threads, or how many threads run at once.
 *
 * Register tiles of up to 6 rows × V vectors (AVX-512: 4×16 floats; AVX2 with FMA: 2×8),
 * chosen at run time; elsewhere (other CPUs, MSVC) fm_sgemm_small returns 0 and the caller
 * uses BLAS. AVX-512 splits the columns into panels of as even a width as possible, runs
 * every block of rows through one panel before the next, and computes a tail of 8 columns or
 * fewer in a ymm (measured on the AMD Zen 4 VM, 1 thread: 784×100 and 200×100 products 7% faster,
 * 300×200 4%; batch-1024 inference of 784-300-200-100-10 3-4% faster).
 */
#ifndef FASTMLP_SMALL_GEMM_H
#define FASTMLP_SMALL_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "prefetch.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define FM_SMALL_GEMM_X86 1
#include <immintrin.h>

#define FM_MR 6
/* constant-bound loops fully unrolled early, so the tile's accumulators live in registers */
#define FM_UNROLL _Pragma("GCC unroll 16")

#define FM_AVX512 __attribute__((target("avx512f,fma"), unused))
#define FM_AVX2 __attribute__((target("avx2,fma"), unused))

/* One tile: rows R (1..FM_MR), V vectors of W columns, the last one masked to `last` lanes
 * (full vectors before it). The r/c loops have constant bounds: the compiler unrolls them
 * and keeps acc in registers. */
#define FM_TILE512_AS(R, V, S, KEPT)                                                                        \
static FM_AVX512 void fm_tile512##S##_##R##_##V(const float *x, ptrdiff_t ldx, ptrdiff_t incx,      \
                                           const float *w, ptrdiff_t ldw, float *y,             \
                                           ptrdiff_t ldy, ptrdiff_t k, __mmask16 last,          \
                                           const float *bias, int relu, fm_prefetch *pf,     \
                                           const int32_t *kept) {      \
    __m512 acc[R][V];                                                                           \
    FM_UNROLL for (int r = 0; r < R; r++)                                                                 \
        FM_UNROLL for (int c = 0; c < V; c++) acc[r][c] = _mm512_setzero_ps();                            \
    for (ptrdiff_t q = 0; q < k; q++) {                                                         \
        ptrdiff_t p = KEPT ? (ptrdiff_t)kept[q] : q;                                            \
        const float *wp = w + p * ldw;                                                          \
        if ((q & 3) == 3 && pf != NULL) fm_prefetch_next(pf);                                   \
        __m512 wv[V];                                                                           \
        FM_UNROLL for (int c = 0; c < V - 1; c++) wv[c] = _mm512_loadu_ps(wp + 16 * c);                  \
        wv[V - 1] = _mm512_maskz_loadu_ps(last, wp + 16 * (V - 1));                             \
        FM_UNROLL for (int r = 0; r < R; r++) {                                                           \
            __m512 a = _mm512_set1_ps(x[r * ldx + p * incx]);                                   \
            FM_UNROLL for (int c = 0; c < V; c++) acc[r][c] = _mm512_fmadd_ps(a, wv[c], acc[r][c]);       \
        }                                                                                       \
    }                                                                                           \
    if (bias) {                                                                                 \
        __m512 bv[V];                                                                           \
        FM_UNROLL for (int c = 0; c < V - 1; c++) bv[c] = _mm512_loadu_ps(bias + 16 * c);       \
        bv[V - 1] = _mm512_maskz_loadu_ps(last, bias + 16 * (V - 1));                           \
        FM_UNROLL for (int r = 0; r < R; r++)                                                   \
            FM_UNROLL for (int c = 0; c < V; c++) acc[r][c] = _mm512_add_ps(acc[r][c], bv[c]);  \
    }                                                                                           \
    if (relu)                                                                                   \
        FM_UNROLL for (int r = 0; r < R; r++)                                                   \
            FM_UNROLL for (int c = 0; c < V; c++)                                               \
                acc[r][c] = _mm512_max_ps(acc[r][c], _mm512_setzero_ps());                      \
    FM_UNROLL for (int r = 0; r < R; r++) {                                                               \
        FM_UNROLL for (int c = 0; c < V - 1; c++) _mm512_storeu_ps(y + r * ldy + 16 * c, acc[r][c]);      \
        _mm512_mask_storeu_ps(y + r * ldy + 16 * (V - 1), last, acc[r][V - 1]);                 \
    }                                                                                           \
}

/* FM_TILE512 with its last column vector a ymm: V - 1 full zmm vectors, then a tail of 1..8
 * lanes (the set bits of `last`) in a ymm. A masked zmm would compute 16 lanes for those 8 or
 * fewer; CPUs that run a zmm FMA as two ymm halves (Zen 4, as the AMD VMs measured here:
 * zmm and ymm FMAs both peak at 32 flops a cycle) do half the work for the tail, others the
 * same. The same chain of FMAs over k for every output, so the same bits. */
#define FM_TILE512H_AS(R, V, S, KEPT)                                                                       \
static FM_AVX512 void fm_tile512h##S##_##R##_##V(const float *x, ptrdiff_t ldx, ptrdiff_t incx,     \
                                            const float *w, ptrdiff_t ldw, float *y,            \
                                            ptrdiff_t ldy, ptrdiff_t k, __mmask16 last,         \
                                            const float *bias, int relu, fm_prefetch *pf,     \
                                           const int32_t *kept) {     \
    __m512 acc[R][V];                                                                           \
    __m256 acch[R];                                                                             \
    /* lane l of the tail when bit l of `last` is set: a sign-bit mask for maskload/maskstore */\
    __m256i lasth = _mm256_cmpgt_epi32(_mm256_set1_epi32(__builtin_popcount((unsigned)last)),   \
                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));              \
    FM_UNROLL for (int r = 0; r < R; r++) {                                                     \
        FM_UNROLL for (int c = 0; c < V - 1; c++) acc[r][c] = _mm512_setzero_ps();              \
        acch[r] = _mm256_setzero_ps();                                                          \
    }                                                                                           \
    for (ptrdiff_t q = 0; q < k; q++) {                                                         \
        ptrdiff_t p = KEPT ? (ptrdiff_t)kept[q] : q;                                            \
        const float *wp = w + p * ldw;                                                          \
        if ((q & 3) == 3 && pf != NULL) fm_prefetch_next(pf);                                   \
        __m512 wv[V];                                                                           \
        FM_UNROLL for (int c = 0; c < V - 1; c++) wv[c] = _mm512_loadu_ps(wp + 16 * c);         \
        __m256 wh = _mm256_maskload_ps(wp + 16 * (V - 1), lasth);                                 \
        FM_UNROLL for (int r = 0; r < R; r++) {                                                 \
            __m512 a = _mm512_set1_ps(x[r * ldx + p * incx]);                                   \
            FM_UNROLL for (int c = 0; c < V - 1; c++) acc[r][c] = _mm512_fmadd_ps(a, wv[c], acc[r][c]); \
            acch[r] = _mm256_fmadd_ps(_mm512_castps512_ps256(a), wh, acch[r]);                  \
        }                                                                                       \
    }                                                                                           \
    if (bias) {                                                                                 \
        __m512 bv[V];                                                                           \
        FM_UNROLL for (int c = 0; c < V - 1; c++) bv[c] = _mm512_loadu_ps(bias + 16 * c);       \
        __m256 bh = _mm256_maskload_ps(bias + 16 * (V - 1), lasth);                             \
        FM_UNROLL for (int r = 0; r < R; r++) {                                                 \
            FM_UNROLL for (int c = 0; c < V - 1; c++) acc[r][c] = _mm512_add_ps(acc[r][c], bv[c]); \
            acch[r] = _mm256_add_ps(acch[r], bh);                                               \
        }                                                                                       \
    }                                                                                           \
    if (relu)                                                                                   \
        FM_UNROLL for (int r = 0; r < R; r++) {                                                 \
            FM_UNROLL for (int c = 0; c < V - 1; c++)                                           \
                acc[r][c] = _mm512_max_ps(acc[r][c], _mm512_setzero_ps());                      \
            acch[r] = _mm256_max_ps(acch[r], _mm256_setzero_ps());                              \
        }                                                                                       \
    FM_UNROLL for (int r = 0; r < R; r++) {                                                     \
        FM_UNROLL for (int c = 0; c < V - 1; c++) _mm512_storeu_ps(y + r * ldy + 16 * c, acc[r][c]); \
        _mm256_maskstore_ps(y + r * ldy + 16 * (V - 1), lasth, acch[r]);                      \
    }                                                                                           \
}

#define FM_TILE256_AS(R, V, S, KEPT)                                                                        \
static FM_AVX2 void fm_tile256##S##_##R##_##V(const float *x, ptrdiff_t ldx, ptrdiff_t incx,        \
                                         const float *w, ptrdiff_t ldw, float *y,               \
                                         ptrdiff_t ldy, ptrdiff_t k, __m256i last,              \
                                         const float *bias, int relu, fm_prefetch *pf,     \
                                           const int32_t *kept) {        \
    __m256 acc[R][V];                                                                           \
    FM_UNROLL for (int r = 0; r < R; r++)                                                                 \
        FM_UNROLL for (int c = 0; c < V; c++) acc[r][c] = _mm256_setzero_ps();                            \
    for (ptrdiff_t q = 0; q < k; q++) {                                                         \
        ptrdiff_t p = KEPT ? (ptrdiff_t)kept[q] : q;                                            \
        const float *wp = w + p * ldw;                                                          \
        if ((q & 3) == 3 && pf != NULL) fm_prefetch_next(pf);                                   \
        __m256 wv[V];                                                                           \
        FM_UNROLL for (int c = 0; c < V - 1; c++) wv[c] = _mm256_loadu_ps(wp + 8 * c);                    \
        wv[V - 1] = _mm256_maskload_ps(wp + 8 * (V - 1), last);                                 \
        FM_UNROLL for (int r = 0; r < R; r++) {                                                           \
            __m256 a = _mm256_broadcast_ss(x + r * ldx + p * incx);                             \
            FM_UNROLL for (int c = 0; c < V; c++) acc[r][c] = _mm256_fmadd_ps(a, wv[c], acc[r][c]);       \
        }                                                                                       \
    }                                                                                           \
    if (bias) {                                                                                 \
        __m256 bv[V];                                                                           \
        FM_UNROLL for (int c = 0; c < V - 1; c++) bv[c] = _mm256_loadu_ps(bias + 8 * c);        \
        bv[V - 1] = _mm256_maskload_ps(bias + 8 * (V - 1), last);                               \
        FM_UNROLL for (int r = 0; r < R; r++)                                                   \
            FM_UNROLL for (int c = 0; c < V; c++) acc[r][c] = _mm256_add_ps(acc[r][c], bv[c]);  \
    }                                                                                           \
    if (relu)                                                                                   \
        FM_UNROLL for (int r = 0; r < R; r++)                                                   \
            FM_UNROLL for (int c = 0; c < V; c++)                                               \
                acc[r][c] = _mm256_max_ps(acc[r][c], _mm256_setzero_ps());                      \
    FM_UNROLL for (int r = 0; r < R; r++) {                                                               \
        FM_UNROLL for (int c = 0; c < V - 1; c++) _mm256_storeu_ps(y + r * ldy + 8 * c, acc[r][c]);       \
        _mm256_maskstore_ps(y + r * ldy + 8 * (V - 1), last, acc[r][V - 1]);                    \
    }                                                                                           \
}

/* Tiles of 3..6 rows take up to 4 (AVX-512) or 2 (AVX2) vectors of columns; tiles of 1..2
 * rows twice as many, so that one or two rows still run enough independent FMA chains to
 * hide the FMA latency (one row of 784×100 runs 1.7× faster with 7 chains than with 4). */
/* Each tile twice: over every p in [0, k), and (suffix k, KEPT) over the k indices p listed
 * in kept (csrc/kept_inputs.h: the p where a block of rows has an x that is not zero). */
#define FM_TILE512(R, V) FM_TILE512_AS(R, V, , 0) FM_TILE512_AS(R, V, k, 1)
#define FM_TILE512H(R, V) FM_TILE512H_AS(R, V, , 0) FM_TILE512H_AS(R, V, k, 1)
#define FM_TILE256(R, V) FM_TILE256_AS(R, V, , 0) FM_TILE256_AS(R, V, k, 1)
#define FM_TILES_FEW(TILE, V) TILE(1, V) TILE(2, V)
#define FM_TILES_ALL(TILE, V) TILE(1, V) TILE(2, V) TILE(3, V) TILE(4, V) TILE(5, V) TILE(6, V)
FM_TILES_ALL(FM_TILE512, 1) FM_TILES_ALL(FM_TILE512, 2) FM_TILES_ALL(FM_TILE512, 3)
FM_TILES_ALL(FM_TILE512, 4) FM_TILES_FEW(FM_TILE512, 5) FM_TILES_FEW(FM_TILE512, 6)
FM_TILES_FEW(FM_TILE512, 7) FM_TILES_FEW(FM_TILE512, 8)
FM_TILES_ALL(FM_TILE512H, 1) FM_TILES_ALL(FM_TILE512H, 2) FM_TILES_ALL(FM_TILE512H, 3)
FM_TILES_ALL(FM_TILE512H, 4) FM_TILES_FEW(FM_TILE512H, 5) FM_TILES_FEW(FM_TILE512H, 6)
FM_TILES_FEW(FM_TILE512H, 7) FM_TILES_FEW(FM_TILE512H, 8)
FM_TILES_ALL(FM_TILE256, 1) FM_TILES_ALL(FM_TILE256, 2) FM_TILES_FEW(FM_TILE256, 3)
FM_TILES_FEW(FM_TILE256, 4)

typedef void (*fm_tile512_fn)(const float *, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                              float *, ptrdiff_t, ptrdiff_t, __mmask16, const float *, int,
                              fm_prefetch *, const int32_t *);
typedef void (*fm_tile256_fn)(const float *, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                              float *, ptrdiff_t, ptrdiff_t, __m256i, const float *, int,
                              fm_prefetch *, const int32_t *);

#define FM_FEW_ROWS 2
/* the AVX2 path's panel width in columns for more than FM_FEW_ROWS rows */
#define FM_PANEL256 16
#define FM_ROWS_FEW(W, V) {fm_tile##W##_1_##V, fm_tile##W##_2_##V, 0, 0, 0, 0}
#define FM_ROWS_ALL(W, V) {fm_tile##W##_1_##V, fm_tile##W##_2_##V, fm_tile##W##_3_##V,            \
                           fm_tile##W##_4_##V, fm_tile##W##_5_##V, fm_tile##W##_6_##V}
/* [vectors - 1][rows - 1]; entries past a row count's vector limit are never used */
static const fm_tile512_fn fm_tiles512[8][FM_MR] = {
    FM_ROWS_ALL(512, 1), FM_ROWS_ALL(512, 2), FM_ROWS_ALL(512, 3), FM_ROWS_ALL(512, 4),
    FM_ROWS_FEW(512, 5), FM_ROWS_FEW(512, 6), FM_ROWS_FEW(512, 7), FM_ROWS_FEW(512, 8)};
static const fm_tile512_fn fm_tiles512h[8][FM_MR] = {
    FM_ROWS_ALL(512h, 1), FM_ROWS_ALL(512h, 2), FM_ROWS_ALL(512h, 3), FM_ROWS_ALL(512h, 4),
    FM_ROWS_FEW(512h, 5), FM_ROWS_FEW(512h, 6), FM_ROWS_FEW(512h, 7), FM_ROWS_FEW(512h, 8)};
static const fm_tile256_fn fm_tiles256[4][FM_MR] = {
    FM_ROWS_ALL(256, 1), FM_ROWS_ALL(256, 2), FM_ROWS_FEW(256, 3), FM_ROWS_FEW(256, 4)};
static const fm_tile512_fn fm_tiles512k[8][FM_MR] = {
    FM_ROWS_ALL(512k, 1), FM_ROWS_ALL(512k, 2), FM_ROWS_ALL(512k, 3), FM_ROWS_ALL(512k, 4),
    FM_ROWS_FEW(512k, 5), FM_ROWS_FEW(512k, 6), FM_ROWS_FEW(512k, 7), FM_ROWS_FEW(512k, 8)};
static const fm_tile512_fn fm_tiles512hk[8][FM_MR] = {
    FM_ROWS_ALL(512hk, 1), FM_ROWS_ALL(512hk, 2), FM_ROWS_ALL(512hk, 3), FM_ROWS_ALL(512hk, 4),
    FM_ROWS_FEW(512hk, 5), FM_ROWS_FEW(512hk, 6), FM_ROWS_FEW(512hk, 7), FM_ROWS_FEW(512hk, 8)};
static const fm_tile256_fn fm_tiles256k[4][FM_MR] = {
    FM_ROWS_ALL(256k, 1), FM_ROWS_ALL(256k, 2), FM_ROWS_FEW(256k, 3), FM_ROWS_FEW(256k, 4)};

/* The AVX-512 path's panels: as few as hold vectors_all column vectors at most `most` a panel,
 * and panel q's share, as even as possible (13 vectors in panels of 4: 4 + 3 + 3 + 3). */
static inline ptrdiff_t fm_panels512(ptrdiff_t vectors_all, ptrdiff_t most) {
    return (vectors_all + most - 1) / most;
}

static inline ptrdiff_t fm_panel_vectors(ptrdiff_t vectors_all, ptrdiff_t panels, ptrdiff_t q) {
    return vectors_all / panels + (q < vectors_all % panels);
}

static FM_AVX512 void fm_sgemm512(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *x,
                                  ptrdiff_t ldx, ptrdiff_t incx, const float *w, ptrdiff_t ldw,
                                  float *y, ptrdiff_t ldy, const float *bias, int relu,
                                  fm_prefetch *pf, const int32_t *kept,
                                  const ptrdiff_t *kept_at) {
    /* the columns' vectors in panels of at most 4 (8 when every tile has one or two rows), as
     * even as possible: 13 vectors are 4 + 3 + 3 + 3, never 4 + 4 + 4 + 1 (a panel of one
     * vector broadcasts as many x values as it runs FMAs). Panel by panel, every row block:
     * a panel of w (k × 64 floats) stays in L2 while the rows pass, where the whole of w would
     * be read again for each block of rows. */
    ptrdiff_t vectors_all = (n + 15) / 16;
    ptrdiff_t panels = fm_panels512(vectors_all, m <= FM_FEW_ROWS ? 8 : 4);
    for (ptrdiff_t q = 0, j = 0; q < panels; q++) {
        ptrdiff_t vectors = fm_panel_vectors(vectors_all, panels, q);
        ptrdiff_t cols = n - j < 16 * vectors ? n - j : 16 * vectors;
        ptrdiff_t tail = cols - 16 * (vectors - 1);
        __mmask16 last = (__mmask16)((1u << tail) - 1u);
        const fm_tile512_fn *tiles = (tail <= 8 ? (kept ? fm_tiles512hk : fm_tiles512h)
                                                : (kept ? fm_tiles512k : fm_tiles512))[vectors - 1];
        for (ptrdiff_t i = 0; i < m; i += FM_MR) {
            ptrdiff_t rows = m - i < FM_MR ? m - i : FM_MR, b = i / FM_MR;
            tiles[rows - 1](x + i * ldx, ldx, incx, w + j, ldw, y + i * ldy + j, ldy,
                            kept ? kept_at[b + 1] - kept_at[b] : k, last, bias ? bias + j : NULL,
                            relu, pf, kept ? kept + kept_at[b] : NULL);
        }
        j += cols;
    }
}

static FM_AVX2 void fm_sgemm256(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *x,
                                ptrdiff_t ldx, ptrdiff_t incx, const float *w, ptrdiff_t ldw,
                                float *y, ptrdiff_t ldy, const float *bias, int relu,
                                fm_prefetch *pf, const int32_t *kept, const ptrdiff_t *kept_at) {
    for (ptrdiff_t i = 0; i < m; i += FM_MR) {
        ptrdiff_t rows = m - i < FM_MR ? m - i : FM_MR, b = i / FM_MR;
        const int32_t *list = kept ? kept + kept_at[b] : NULL;
        ptrdiff_t depth = kept ? kept_at[b + 1] - kept_at[b] : k;
        ptrdiff_t panel = rows <= FM_FEW_ROWS ? 32 : FM_PANEL256;
        for (ptrdiff_t j = 0; j < n; j += panel) {
            ptrdiff_t cols = n - j < panel ? n - j : panel;
            ptrdiff_t vectors = (cols + 7) / 8, tail = cols - 8 * (vectors - 1);
            /* lane l is loaded/stored when its mask word's sign bit is set */
            __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)tail),
                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            fm_tile256_fn tile = kept ? fm_tiles256k[vectors - 1][rows - 1]
                                      : fm_tiles256[vectors - 1][rows - 1];
            tile(x + i * ldx, ldx, incx, w + j, ldw, y + i * ldy + j, ldy, depth, last,
                 bias ? bias + j : NULL, relu, pf, list);
        }
    }
}
#endif

/* Which path fm_sgemm_small takes on this CPU: 2 AVX-512, 1 AVX2 with FMA, 0 none (BLAS). */
static inline int fm_small_gemm_level(void) {
#ifdef FM_SMALL_GEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

/* y := x·w at `level` (fm_small_gemm_level(), or lower); returns 0 (y untouched) when this
 * build has no path for it. m, n, k >= 0; strides in elements: x[i, p] is x[i * ldx + p * incx]
 * (incx = 1: x row-major; ldx = 1, incx = its width: the transpose of a row-major matrix, as in
 * a weight gradient xᵀ·dz), w[p, j] is w[p * ldw + j], y[i, j] is y[i * ldy + j]. Then, as each
 * tile is stored: + bias[j] (bias: n floats, or NULL), and max(., 0) when relu (the same bits
 * as that pass over y afterwards: a ReLU maps NaN and -0 to +0 both ways). pf (or NULL): lines
 * to bring into cache meanwhile, one every 4 iterations of a tile's loop over k
 * (csrc/prefetch.h). kept (or NULL: every p): the p each block of FM_MR rows of x runs over,
 * block b's kept[kept_at[b] .. kept_at[b + 1]) in increasing order (csrc/kept_inputs.h: where
 * the block has an x that is not zero, which leaves every output's value as it is over a
 * finite w). */
static inline int fm_sgemm_small_kept(int level, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                      const float *x, ptrdiff_t ldx, ptrdiff_t incx,
                                      const float *w, ptrdiff_t ldw, float *y, ptrdiff_t ldy,
                                      const float *bias, int relu, fm_prefetch *pf,
                                      const int32_t *kept, const ptrdiff_t *kept_at) {
#ifdef FM_SMALL_GEMM_X86
    if (level >= 2) {
        fm_sgemm512(m, n, k, x, ldx, incx, w, ldw, y, ldy, bias, relu, pf, kept, kept_at);
        return 1;
    }
    if (level == 1) {
        fm_sgemm256(m, n, k, x, ldx, incx, w, ldw, y, ldy, bias, relu, pf, kept, kept_at);
        return 1;
    }
#else
    (void)level; (void)m; (void)n; (void)k; (void)x; (void)ldx; (void)incx; (void)w; (void)ldw;
    (void)y; (void)ldy; (void)bias; (void)relu; (void)pf; (void)kept; (void)kept_at;
#endif
    return 0;
}

/* fm_sgemm_small_kept over every p. */
static inline int fm_sgemm_small(int level, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                 const float *x, ptrdiff_t ldx, ptrdiff_t incx, const float *w,
                                 ptrdiff_t ldw, float *y, ptrdiff_t ldy, const float *bias,
                                 int relu, fm_prefetch *pf) {
    return fm_sgemm_small_kept(level, m, n, k, x, ldx, incx, w, ldw, y, ldy, bias, relu, pf,
                               NULL, NULL);
}

#endif
