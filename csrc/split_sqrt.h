/* The optimizer steps whose every weight needs a square root and a division (Adam, RMSprop,
 * Adagrad) on float32, with some of their square roots taken by FMAs instead of the divider:
 * the same bits as the elementwise clone's loops (x86-64-v3), faster on Intel's and AMD's
 * AVX-512 cores (one vector in 2 or in 4 by FMAs, by the core).
 *
 * Why: the square root and the division both go through the one divider unit; on an Intel
 * core (Emerald Rapids) Keras's Adam loop waits on it (29 us for M1's 79,510 weights, a fifth
 * of a one-thread batch-32 step) while the two 512-bit FMA ports sit half idle. Every
 * replacement of the division (stop 23) or of every square root (stop 29) by FMAs alone lost:
 * it fills the ports instead. Taking the square roots of every other vector by FMAs balances
 * the two: 22 us in a C test over the same weights, the same bits. (Where the state streams
 * from L3, as M2's 5 MB, neither bound matters and the split changes nothing.)
 *
 * The FMA square root is exact (correctly rounded to nearest, as vsqrtps): rsqrt14, one
 * Goldschmidt step, then a rounding test on the exact residual d = v - s*s (an FMA): v lies
 * past the midpoint to s's upper neighbour exactly where d > s*u, past the lower one where
 * d <= -s*u (u = ulp(s); d and s*u are multiples of u*u, so no tie is missed). Checked against
 * vsqrtps over every float of [2^-100, FLT_MAX] and at +0, with flush-to-zero on and off
 * (tests/test_split_sqrt.py, through fm_sqrt_by_fma_mismatches below). A vector holding
 * anything else (tiny or subnormal v, -0, NaN, inf, a negative) takes vsqrtps, and so does
 * the whole call when the rounding mode is not to-nearest. Each loop's other operations are
 * its clone's, FMAs where gcc contracts them (tests compare the bits step by step).
 *
 * How many vectors' roots go to the FMAs (fm_split_sqrt_default, by the measured best): on
 * Intel one in 2 for all three rules. On AMD (Zen 4, family 25 model 17, whose 512-bit
 * operations take both halves of its 256-bit FMA pipes) the FMA square root costs the ports
 * more, and one in 4 balances Adam and RMSprop (C test over M1's 79,510 weights, 3 runs: Adam
 * x1.09-1.12 against the clone, where one in 2 read x0.93-1.01; RMSprop x1.16-1.20, with
 * momentum x0.97-1.14, where one in 2 read x0.98-1.02 and x0.79-0.86), while Adagrad, with
 * fewer operations of its own, keeps one in 2 (x1.06-1.18; one in 4 x0.96-1.13). Every AVX-512
 * CPU can take every level (split_level; the same bits), so the bit tests run on both
 * vendors. GCC or Clang on x86-64 only; elsewhere fm_split_sqrt_level() is 0.
 */
#ifndef FASTMLP_SPLIT_SQRT_H
#define FASTMLP_SPLIT_SQRT_H

#include <stddef.h>
#include <stdint.h>

#include "elementwise.h"
#include "small_gemm.h" /* FM_AVX512 and fm_small_gemm_level: the project's AVX-512 target */

#ifdef FM_SMALL_GEMM_X86

/* sqrt(v) correctly rounded, for lanes holding +0 or a float in [2^-100, FLT_MAX] (below
 * 2^-100 the residual's products underflow). */
FM_AVX512 static inline __m512 fm_sqrt_by_fma512(__m512 v) {
    const __m512 half = _mm512_set1_ps(0.5f);
    /* rsqrt14(0) is inf; +0 then comes out of the rounding test as +0 */
    __m512 y = _mm512_rsqrt14_ps(_mm512_max_ps(v, _mm512_set1_ps(0x1p-126f)));
    __m512 s = _mm512_mul_ps(v, y), h = _mm512_mul_ps(half, y);
    s = _mm512_fmadd_ps(s, _mm512_fnmadd_ps(s, h, half), s);
    __m512i bits = _mm512_castps_si512(s);
    __m512 up = _mm512_castsi512_ps(_mm512_add_epi32(bits, _mm512_set1_epi32(1)));
    __m512 down = _mm512_castsi512_ps(
        _mm512_max_epi32(_mm512_sub_epi32(bits, _mm512_set1_epi32(1)), _mm512_setzero_si512()));
    /* d and s*u compared as they are: d - s*u, a multiple of u*u, could flush to zero */
    __m512 su = _mm512_mul_ps(s, _mm512_sub_ps(up, s));
    __m512 d = _mm512_fnmadd_ps(s, s, v);
    __mmask16 go_up = _mm512_cmp_ps_mask(d, su, _CMP_GT_OQ);
    __mmask16 go_down = _mm512_cmp_ps_mask(d, _mm512_sub_ps(_mm512_setzero_ps(), su), _CMP_LE_OQ);
    s = _mm512_mask_mov_ps(s, go_up, up);
    return _mm512_mask_mov_ps(s, go_down, down);
}

/* Lanes fm_sqrt_by_fma512 takes: +0 (bits all zero) or [2^-100, FLT_MAX]. */
FM_AVX512 static inline __mmask16 fm_sqrt_by_fma_lanes512(__m512 v) {
    __mmask16 zero = _mm512_cmpeq_epi32_mask(_mm512_castps_si512(v), _mm512_setzero_si512());
    __mmask16 in_range = _mm512_cmp_ps_mask(v, _mm512_set1_ps(0x1p-100f), _CMP_GE_OQ) &
                         _mm512_cmp_ps_mask(v, _mm512_set1_ps(3.40282347e38f), _CMP_LE_OQ);
    return zero | in_range;
}

/* sqrt(v): by FMAs where every lane allows it, else by vsqrtps. */
FM_AVX512 static inline __m512 fm_sqrt_checked512(__m512 v) {
    if (__builtin_expect(fm_sqrt_by_fma_lanes512(v) == 0xFFFF, 1))
        return fm_sqrt_by_fma512(v);
    return _mm512_sqrt_ps(v);
}

/* Declares mm and vv, the moments at `at` after g (stored back to m and v), by the
 * operations of fm_adam_f's v3 clone: m + (g - m)*c1 and v + (g*g - v)*c2 each as FMAs. */
#define FM_ADAM_MOMENTS512(at, mm, vv)                                                        \
    __m512 mm, vv;                                                                             \
    {                                                                                          \
        __m512 gg = _mm512_loadu_ps(g + (at));                                                 \
        mm = _mm512_loadu_ps(m + (at));                                                        \
        vv = _mm512_loadu_ps(v + (at));                                                        \
        mm = _mm512_fmadd_ps(_mm512_sub_ps(gg, mm), c1, mm);                                   \
        vv = _mm512_fmadd_ps(_mm512_fmsub_ps(gg, gg, vv), c2, vv);                             \
        _mm512_storeu_ps(m + (at), mm);                                                        \
        _mm512_storeu_ps(v + (at), vv);                                                        \
    }
/* w -= m*alpha / (root + eps), as the v3 clone rounds it */
#define FM_ADAM_MOVE512(at, mm, root)                                                         \
    _mm512_storeu_ps(w + (at), _mm512_sub_ps(_mm512_loadu_ps(w + (at)),                       \
                                             _mm512_div_ps(_mm512_mul_ps(mm, a),               \
                                                           _mm512_add_ps(root, e))))

/* fm_adam_f without AMSGrad over n = a multiple of 16 * every weights (every: 2 or 4): per
 * 16 * every, the last 16 square roots by FMAs, the others by vsqrtps. A group's moments
 * first, then its moves, unrolled by hand: taking each vector's moments and move in turn
 * measured slower (one in 4: 21.3 against 19.8 us over M1's weights, Zen 4 VM). */
FM_AVX512 static void fm_adam_split512(float *restrict w, const float *restrict g,
                                   float *restrict m, float *restrict v, ptrdiff_t n,
                                   float alpha, float one_minus_b1, float one_minus_b2,
                                   float eps, int every) {
    const __m512 a = _mm512_set1_ps(alpha), c1 = _mm512_set1_ps(one_minus_b1),
                 c2 = _mm512_set1_ps(one_minus_b2), e = _mm512_set1_ps(eps);
    if (every == 4) {
        for (ptrdiff_t i = 0; i + 64 <= n; i += 64) {
            FM_ADAM_MOMENTS512(i, m0, v0)
            FM_ADAM_MOMENTS512(i + 16, m1, v1)
            FM_ADAM_MOMENTS512(i + 32, m2, v2)
            FM_ADAM_MOMENTS512(i + 48, m3, v3)
            FM_ADAM_MOVE512(i, m0, _mm512_sqrt_ps(v0));
            FM_ADAM_MOVE512(i + 16, m1, _mm512_sqrt_ps(v1));
            FM_ADAM_MOVE512(i + 32, m2, _mm512_sqrt_ps(v2));
            FM_ADAM_MOVE512(i + 48, m3, fm_sqrt_checked512(v3));
        }
        return;
    }
    for (ptrdiff_t i = 0; i + 32 <= n; i += 32) {
        FM_ADAM_MOMENTS512(i, m0, v0)
        FM_ADAM_MOMENTS512(i + 16, m1, v1)
        FM_ADAM_MOVE512(i, m0, _mm512_sqrt_ps(v0));
        FM_ADAM_MOVE512(i + 16, m1, fm_sqrt_checked512(v1));
    }
}
#undef FM_ADAM_MOMENTS512
#undef FM_ADAM_MOVE512

/* A split loop's body over n (a multiple of 16 * every): ONE(at, root_of) on each vector, in
 * groups of `every` (2 or 4) vectors whose last takes its roots by FMAs. */
#define FM_SPLIT_GROUPS512(ONE)                                                               \
    if (every == 4) {                                                                          \
        for (ptrdiff_t i = 0; i + 64 <= n; i += 64) {                                          \
            ONE(i, _mm512_sqrt_ps)                                                             \
            ONE(i + 16, _mm512_sqrt_ps)                                                        \
            ONE(i + 32, _mm512_sqrt_ps)                                                        \
            ONE(i + 48, fm_sqrt_checked512)                                                    \
        }                                                                                      \
        return;                                                                                \
    }                                                                                          \
    for (ptrdiff_t i = 0; i + 32 <= n; i += 32) {                                              \
        ONE(i, _mm512_sqrt_ps)                                                                 \
        ONE(i + 16, fm_sqrt_checked512)                                                        \
    }

/* fm_rmsprop_f's loop (m: the momentum slot, or NULL) over n = a multiple of 16 * every
 * weights (every: 2 or 4; the last 16 of each 16 * every by FMAs), as
 * its clone rounds it: v := rho*v + rest*(g*g) (the first product an FMA), q := lr*g /
 * sqrt(v + eps), m := momentum*m + q (an FMA) and w -= m, or w -= q. */
#define FM_RMSPROP512(at, root_of)                                                            \
    {                                                                                          \
        __m512 gg = _mm512_loadu_ps(g + (at));                                                 \
        __m512 vv = _mm512_fmadd_ps(rho_, _mm512_loadu_ps(v + (at)),                           \
                                    _mm512_mul_ps(_mm512_mul_ps(gg, gg), rest_));              \
        _mm512_storeu_ps(v + (at), vv);                                                        \
        __m512 q = _mm512_div_ps(_mm512_mul_ps(gg, lr_), root_of(_mm512_add_ps(vv, e)));       \
        if (m) {                                                                               \
            q = _mm512_fmadd_ps(momentum_, _mm512_loadu_ps(m + (at)), q);                      \
            _mm512_storeu_ps(m + (at), q);                                                     \
        }                                                                                      \
        _mm512_storeu_ps(w + (at), _mm512_sub_ps(_mm512_loadu_ps(w + (at)), q));              \
    }
FM_AVX512 static void fm_rmsprop_split512(float *restrict w, const float *restrict g,
                                      float *restrict v, float *restrict m, ptrdiff_t n,
                                      float lr, float rho, float rest, float momentum,
                                      float eps, int every) {
    const __m512 lr_ = _mm512_set1_ps(lr), rho_ = _mm512_set1_ps(rho),
                 rest_ = _mm512_set1_ps(rest), momentum_ = _mm512_set1_ps(momentum),
                 e = _mm512_set1_ps(eps);
    FM_SPLIT_GROUPS512(FM_RMSPROP512)
}
#undef FM_RMSPROP512

/* fm_adagrad_f's loop over n = a multiple of 16 * every weights (every: 2 or 4; the last 16
 * of each 16 * every by FMAs), as its clone rounds it:
 * acc := g*g + acc (an FMA), w -= lr*g / sqrt(acc + eps). */
#define FM_ADAGRAD512(at, root_of)                                                            \
    {                                                                                          \
        __m512 gg = _mm512_loadu_ps(g + (at));                                                 \
        __m512 aa = _mm512_fmadd_ps(gg, gg, _mm512_loadu_ps(acc + (at)));                      \
        _mm512_storeu_ps(acc + (at), aa);                                                      \
        __m512 q = _mm512_div_ps(_mm512_mul_ps(gg, lr_), root_of(_mm512_add_ps(aa, e)));       \
        _mm512_storeu_ps(w + (at), _mm512_sub_ps(_mm512_loadu_ps(w + (at)), q));              \
    }
FM_AVX512 static void fm_adagrad_split512(float *restrict w, const float *restrict g,
                                      float *restrict acc, ptrdiff_t n, float lr, float eps,
                                      int every) {
    const __m512 lr_ = _mm512_set1_ps(lr), e = _mm512_set1_ps(eps);
    FM_SPLIT_GROUPS512(FM_ADAGRAD512)
}
#undef FM_ADAGRAD512
#undef FM_SPLIT_GROUPS512

/* For the tests: over the float bit patterns [lo, hi) (hi <= 2^32), the lanes
 * fm_sqrt_by_fma512 takes (*taken) and those where it differs from vsqrtps (returned), in
 * the caller's floating-point state. */
FM_AVX512 static int64_t fm_sqrt_by_fma_mismatches(uint64_t lo, uint64_t hi, int64_t *taken) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int64_t bad = 0, count = 0;
    for (uint64_t b = lo; b < hi; b += 16) {
        __mmask16 live = hi - b >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (hi - b)) - 1);
        __m512 v = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_set1_epi32((int)(uint32_t)b), lane));
        __mmask16 ok = fm_sqrt_by_fma_lanes512(v) & live;
        __mmask16 same = _mm512_cmpeq_epi32_mask(_mm512_castps_si512(fm_sqrt_by_fma512(v)),
                                                 _mm512_castps_si512(_mm512_sqrt_ps(v)));
        count += __builtin_popcount(ok);
        bad += __builtin_popcount(ok & (__mmask16)~same);
    }
    *taken = count;
    return bad;
}
#endif

/* The highest split level a rule takes: 2 where the loops below can run (a CPU with AVX-512,
 * as fm_small_gemm_level() reads it, and this build's path), else 0. Level 1 takes one vector
 * in 2's square roots by FMAs, level 2 one in 4 (0: the clone alone). */
static inline int fm_split_sqrt_level(void) {
#ifdef FM_SMALL_GEMM_X86
    if (fm_small_gemm_level() >= 2)
        return 2;
#endif
    return 0;
}

/* The vectors a split loop takes as one group at `level` (1 or 2), the last by FMAs. */
static inline int fm_split_every(int level) {
    return level >= 2 ? 4 : 2;
}

/* The rules with a split loop, for fm_split_sqrt_default. */
enum { FM_SPLIT_ADAM = 0, FM_SPLIT_RMSPROP = 1, FM_SPLIT_ADAGRAD = 2 };

/* The level `rule` starts at, the one measured fastest on the CPU's vendor (see the top of
 * this file): Intel 1 for every rule; AMD 2 for Adam and RMSprop, 1 for Adagrad; else 0. */
static inline int fm_split_sqrt_default(int rule) {
#ifdef FM_SMALL_GEMM_X86
    if (fm_split_sqrt_level() >= 2) {
        if (__builtin_cpu_is("intel"))
            return 1;
        if (__builtin_cpu_is("amd"))
            return rule == FM_SPLIT_ADAGRAD ? 1 : 2;
    }
#else
    (void)rule;
#endif
    return 0;
}

/* The part of a call the split loop takes at `level` (1 or 2; 0: none): whole groups of
 * 16 * fm_split_every(level) of n, under round-to-nearest (MXCSR bits 13-14 clear: the
 * rounding test assumes it); the clone takes the rest. */
static inline ptrdiff_t fm_split_head(int level, ptrdiff_t n) {
#ifdef FM_SMALL_GEMM_X86
    if (level >= 1 && (_mm_getcsr() & 0x6000u) == 0)
        return n - n % (16 * fm_split_every(level));
#else
    (void)level;
#endif
    (void)n;
    return 0;
}

/* fm_adam_f (v_hat NULL: plain Adam), its square roots split at `level` (0 to
 * fm_split_sqrt_level(); 0: not split); the same bits at every level. */
static inline void fm_adam_f_split(int level, float *restrict w, const float *restrict g,
                                   float *restrict m, float *restrict v, ptrdiff_t n,
                                   float alpha, float one_minus_b1, float one_minus_b2,
                                   float eps) {
    ptrdiff_t head = fm_split_head(level, n);
#ifdef FM_SMALL_GEMM_X86
    if (head > 0)
        fm_adam_split512(w, g, m, v, head, alpha, one_minus_b1, one_minus_b2, eps,
                         fm_split_every(level));
#endif
    fm_adam_f(w + head, g + head, m + head, v + head, NULL, n - head, alpha, one_minus_b1,
              one_minus_b2, eps);
}

/* fm_rmsprop_f (m: the momentum slot, or NULL), its square roots split at `level`. */
static inline void fm_rmsprop_f_split(int level, float *restrict w, const float *restrict g,
                                      float *restrict v, float *restrict m, ptrdiff_t n,
                                      float lr, float rho, float rest, float momentum,
                                      float eps) {
    ptrdiff_t head = fm_split_head(level, n);
#ifdef FM_SMALL_GEMM_X86
    if (head > 0)
        fm_rmsprop_split512(w, g, v, m, head, lr, rho, rest, momentum, eps,
                            fm_split_every(level));
#endif
    fm_rmsprop_f(w + head, g + head, v + head, m ? m + head : NULL, n - head, lr, rho, rest,
                 momentum, eps);
}

/* fm_adagrad_f, its square roots split at `level`. */
static inline void fm_adagrad_f_split(int level, float *restrict w, const float *restrict g,
                                      float *restrict acc, ptrdiff_t n, float lr, float eps) {
    ptrdiff_t head = fm_split_head(level, n);
#ifdef FM_SMALL_GEMM_X86
    if (head > 0)
        fm_adagrad_split512(w, g, acc, head, lr, eps, fm_split_every(level));
#endif
    fm_adagrad_f(w + head, g + head, acc + head, n - head, lr, eps);
}

#endif
