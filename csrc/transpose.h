/* A weight matrix's transpose, kept beside it for the backward pass.
 *
 * Why: dx = dz·Wᵀ on fastmlp's own GEMM (csrc/small_gemm.h) needs Wᵀ's rows contiguous;
 * refreshing a copy once per optimizer step costs one pass over W, while BLAS packs W for
 * every product and runs on threads of its own. Rows [i0, i1) of W (n_in × n_out, row-major)
 * become columns [i0, i1) of wt (n_out × n_in).
 *
 * Where the own GEMM runs (level >= 1: AVX2 or better, csrc/small_gemm.h's
 * fm_small_gemm_level), blocks of 8 × 8 are transposed in registers: the element-by-element
 * loop ran 1.1-1.5 ns an element (Intel Xeon (Emerald Rapids) VM, 300 × 200 and 784 × 100 in
 * cache), ~10% of a one-thread training step of 784-300-200-100-10 at batch 32; the blocks run
 * 0.3-0.4 ns. Either way a value is copied, never computed: the same bits.
 *
 * A unit team (network.pyx, _unit_steps) keeps no Wᵀ: each member computes its units of dx as
 * (W·dzᵀ)ᵀ from its own kernel rows, transposing a step's dz (batch × width) and its product
 * instead, arrays far smaller than the kernels at small batches (fm_transpose_f).
 */
#ifndef FASTMLP_TRANSPOSE_H
#define FASTMLP_TRANSPOSE_H

#include <stddef.h>

#define FM_TRANSPOSE_BLOCK 16

/* dst (cols × rows, its rows ldd floats apart) := src (rows × cols, row-major) transposed,
 * element by element in 16 × 16 blocks that stay in L1. */
static void fm_transpose_plain(const float *src, float *dst, ptrdiff_t ldd, ptrdiff_t rows,
                               ptrdiff_t cols) {
    for (ptrdiff_t ib = 0; ib < rows; ib += FM_TRANSPOSE_BLOCK) {
        ptrdiff_t ie = ib + FM_TRANSPOSE_BLOCK < rows ? ib + FM_TRANSPOSE_BLOCK : rows;
        for (ptrdiff_t jb = 0; jb < cols; jb += FM_TRANSPOSE_BLOCK) {
            ptrdiff_t je = jb + FM_TRANSPOSE_BLOCK < cols ? jb + FM_TRANSPOSE_BLOCK : cols;
            for (ptrdiff_t j = jb; j < je; j++)
                for (ptrdiff_t i = ib; i < ie; i++)
                    dst[j * ldd + i] = src[i * cols + j];
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define FM_TRANSPOSE_X86 1
#include <immintrin.h>

#define FM_TRANSPOSE_AVX2 __attribute__((target("avx2"), unused))

/* wt[c, r] := w[r, c] for r, c in [0, 8): rows of w ldw floats apart, rows of wt ldt. */
static FM_TRANSPOSE_AVX2 inline void fm_transpose_8x8(const float *w, ptrdiff_t ldw, float *wt,
                                                      ptrdiff_t ldt) {
    __m256 r0 = _mm256_loadu_ps(w), r1 = _mm256_loadu_ps(w + ldw);
    __m256 r2 = _mm256_loadu_ps(w + 2 * ldw), r3 = _mm256_loadu_ps(w + 3 * ldw);
    __m256 r4 = _mm256_loadu_ps(w + 4 * ldw), r5 = _mm256_loadu_ps(w + 5 * ldw);
    __m256 r6 = _mm256_loadu_ps(w + 6 * ldw), r7 = _mm256_loadu_ps(w + 7 * ldw);
    /* the usual three stages: pairs of rows interleaved, pairs of pairs, then the 128-bit
     * halves swapped across (wt row c from rows 0-3 in its low half, 4-7 in its high) */
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(wt, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_storeu_ps(wt + ldt, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_storeu_ps(wt + 2 * ldt, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_storeu_ps(wt + 3 * ldt, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_storeu_ps(wt + 4 * ldt, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_storeu_ps(wt + 5 * ldt, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_storeu_ps(wt + 6 * ldt, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_storeu_ps(wt + 7 * ldt, _mm256_permute2f128_ps(s3, s7, 0x31));
}

/* fm_transpose_plain's result in stripes of 8 rows of src, each across every column: the
 * stripe's rows stay in L1, and the cols rows of dst it writes 32 bytes of each are written
 * again by the next. */
static FM_TRANSPOSE_AVX2 void fm_transpose_avx2(const float *src, float *dst, ptrdiff_t ldd,
                                                ptrdiff_t rows, ptrdiff_t cols) {
    ptrdiff_t ib = 0;
    for (; ib + 8 <= rows; ib += 8) {
        ptrdiff_t jb = 0;
        for (; jb + 8 <= cols; jb += 8)
            fm_transpose_8x8(src + ib * cols + jb, cols, dst + jb * ldd + ib, ldd);
        for (ptrdiff_t j = jb; j < cols; j++)
            for (ptrdiff_t i = ib; i < ib + 8; i++)
                dst[j * ldd + i] = src[i * cols + j];
    }
    if (ib < rows)
        fm_transpose_plain(src + ib * cols, dst + ib, ldd, rows - ib, cols);
}
#endif

/* dst (cols × rows, its rows ldd floats apart) := src (rows × cols, row-major) transposed;
 * level: the own GEMM's (fm_small_gemm_level() or lower: 1 or more means this CPU runs AVX2). */
static inline void fm_transpose_f(int level, const float *src, float *dst, ptrdiff_t ldd,
                                  ptrdiff_t rows, ptrdiff_t cols) {
#ifdef FM_TRANSPOSE_X86
    if (level >= 1) {
        fm_transpose_avx2(src, dst, ldd, rows, cols);
        return;
    }
#else
    (void)level;
#endif
    fm_transpose_plain(src, dst, ldd, rows, cols);
}

/* Rows [i0, i1) of w (n_in × n_out) become columns [i0, i1) of wt (n_out × n_in). */
static inline void fm_transpose_rows_f(int level, const float *w, float *wt, ptrdiff_t n_in,
                                       ptrdiff_t n_out, ptrdiff_t i0, ptrdiff_t i1) {
    fm_transpose_f(level, w + i0 * n_out, wt + i0, n_in, i1 - i0, n_out);
}

#endif
