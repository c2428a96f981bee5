/* A weight matrix's transpose, kept beside it for the backward pass.
 *
 * Why: dx = dz·Wᵀ on fastmlp's own GEMM (csrc/small_gemm.h) needs Wᵀ's rows contiguous;
 * refreshing a copy once per optimizer step costs one pass over W, while BLAS packs W for
 * every product and runs on threads of its own. Rows [i0, i1) of W (n_in × n_out, row-major)
 * become columns [i0, i1) of wt (n_out × n_in), in 16 × 16 blocks that stay in L1.
 */
#ifndef FASTMLP_TRANSPOSE_H
#define FASTMLP_TRANSPOSE_H

#include <stddef.h>

#define FM_TRANSPOSE_BLOCK 16

#define FM_TRANSPOSE_DEFINE(T, S)                                                              \
static void fm_transpose_rows_##S(const T *w, T *wt, ptrdiff_t n_in, ptrdiff_t n_out,          \
                                  ptrdiff_t i0, ptrdiff_t i1) {                                \
    for (ptrdiff_t ib = i0; ib < i1; ib += FM_TRANSPOSE_BLOCK) {                               \
        ptrdiff_t ie = ib + FM_TRANSPOSE_BLOCK < i1 ? ib + FM_TRANSPOSE_BLOCK : i1;            \
        for (ptrdiff_t jb = 0; jb < n_out; jb += FM_TRANSPOSE_BLOCK) {                         \
            ptrdiff_t je = jb + FM_TRANSPOSE_BLOCK < n_out ? jb + FM_TRANSPOSE_BLOCK : n_out;  \
            for (ptrdiff_t j = jb; j < je; j++)                                                \
                for (ptrdiff_t i = ib; i < ie; i++)                                            \
                    wt[j * n_in + i] = w[i * n_out + j];                                       \
        }                                                                                      \
    }                                                                                          \
}

FM_TRANSPOSE_DEFINE(float, f)
FM_TRANSPOSE_DEFINE(double, d)

#undef FM_TRANSPOSE_DEFINE
#endif
