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
 * Declines (returns 0, y untouched) where the list would not pay (fm_kept_pays: under 1 in
 * FM_KEPT_MIN_SKIPPED of x's elements zero), where this build has no path for `level`, and
 * for k past what an int32 index holds.
 *
 * It is the own GEMM's listed tiles for one row (csrc/kept_inputs.h: the indices of x's
 * non-zero elements are the kept list of a block of one row; fm_sgemm_small_kept), on
 * GCC/Clang on x86-64 at AVX-512 and AVX2 with FMA.
 */
#ifndef FASTMLP_SPARSE_ROW_H
#define FASTMLP_SPARSE_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "kept_inputs.h"
#include "small_gemm.h"

/* idx[0..count) := the p in [0, k) with x[p] != 0 (NaN included), in order (idx: scratch of
 * k int32): the kept list of one row (csrc/kept_inputs.h); returns count, or -1 where this
 * build has no path for `level` or k is past what an int32 holds (idx untouched). */
static inline ptrdiff_t fm_nonzeros(int level, const float *x, ptrdiff_t k, int32_t *idx) {
    ptrdiff_t at[2];
    int finite; /* not read: a one-row call checks its x in a pass of its own */
    return fm_kept_of_rows(level, x, 1, k, k, idx, at, &finite);
}

/* y(1×n) := x(1×k)·w (+ bias, max(·, 0) when relu) over the rows idx[0..count) of w (of
 * fm_nonzeros, at the same level), w[p, j] at w[p * ldw + j], finite (see above). */
static inline void fm_sgemv_kept(int level, ptrdiff_t n, const float *x, const int32_t *idx,
                                 ptrdiff_t count, const float *w, ptrdiff_t ldw, float *y,
                                 const float *bias, int relu) {
    ptrdiff_t at[2] = {0, count};
    fm_sgemm_small_kept(level, 1, n, count, x, 0, 1, w, ldw, y, n, bias, relu, NULL, idx, at);
}

/* fm_nonzeros, then fm_sgemv_kept where fm_kept_pays: returns 1 when done, 0 when it declined
 * (y untouched; the caller runs fm_sgemm_small). */
static inline int fm_sgemv_skip_zeros(int level, ptrdiff_t n, ptrdiff_t k, const float *x,
                                      const float *w, ptrdiff_t ldw, float *y,
                                      const float *bias, int relu, int32_t *idx) {
    ptrdiff_t count = fm_nonzeros(level, x, k, idx);
    if (!fm_kept_pays(count, k))
        return 0;
    fm_sgemv_kept(level, n, x, idx, count, w, ldw, y, bias, relu);
    return 1;
}

#endif
