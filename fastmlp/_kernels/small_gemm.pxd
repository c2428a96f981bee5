# Declarations of csrc/small_gemm.h, fastmlp's own float32 GEMM (inference and training), of
# csrc/prefetch.h, the lines it brings into cache meanwhile, and of csrc/packed_weights.h, the
# weights packed for it (inference), of csrc/sparse_row.h, its one-row product that skips
# the zeros of x, and of csrc/kept_inputs.h, the lists of inputs a block of rows keeps.
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint64_t


cdef extern from "prefetch.h" nogil:
    ctypedef struct fm_prefetch:
        const char *base
        const int64_t *rows
        Py_ssize_t n_rows, n_total, row_bytes
    void fm_prefetch_init(fm_prefetch *pf, const void *base, Py_ssize_t n_total,
                          Py_ssize_t row_bytes, const int64_t *rows, Py_ssize_t n_rows)
    void fm_prefetch_init_window(fm_prefetch *pf, const void *base, Py_ssize_t n_total,
                                 Py_ssize_t row_bytes, Py_ssize_t offset, Py_ssize_t span,
                                 const int64_t *rows, Py_ssize_t n_rows)
    const char *fm_prefetch_step(fm_prefetch *pf)


cdef extern from "small_gemm.h" nogil:
    enum:
        FM_MR  # the rows of a tile
    int fm_small_gemm_level()
    int fm_sgemm_small(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *x,
                       Py_ssize_t ldx, Py_ssize_t incx, const float *w, Py_ssize_t ldw, float *y,
                       Py_ssize_t ldy, const float *bias, int relu, fm_prefetch *pf)


cdef extern from "small_gemm.h" nogil:
    int fm_sgemm_small_kept(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *x,
                            Py_ssize_t ldx, Py_ssize_t incx, const float *w, Py_ssize_t ldw,
                            float *y, Py_ssize_t ldy, const float *bias, int relu,
                            fm_prefetch *pf, const int32_t *kept, const Py_ssize_t *kept_at)


cdef extern from "kept_inputs.h" nogil:
    ctypedef struct fm_kept:
        const int32_t *idx
        const Py_ssize_t *at
    int fm_kept_pays(Py_ssize_t kept, Py_ssize_t dense)
    Py_ssize_t fm_kept_blocks(Py_ssize_t count)
    Py_ssize_t fm_kept_mask_words(Py_ssize_t n)
    Py_ssize_t fm_kept_of_rows(int level, const float *x, Py_ssize_t m, Py_ssize_t k,
                               Py_ssize_t ldx, int32_t *kept, Py_ssize_t *kept_at, int *finite)
    Py_ssize_t fm_kept_of_columns(int level, const float *x, Py_ssize_t rows, Py_ssize_t n,
                                  Py_ssize_t ldx, int32_t *kept, Py_ssize_t *kept_at,
                                  uint64_t *masks)
    Py_ssize_t fm_kept_of_mask_rows(int level, const uint64_t *masks, Py_ssize_t m, Py_ssize_t k,
                                    int32_t *kept, Py_ssize_t *kept_at)
    Py_ssize_t fm_kept_of_mask_columns(int level, const uint64_t *masks, Py_ssize_t rows,
                                       Py_ssize_t n, int32_t *kept, Py_ssize_t *kept_at)
    int fm_gather_row(int level, float *dst, const float *src, Py_ssize_t n, uint64_t *mask,
                      Py_ssize_t stride)
    int fm_row_mask(int level, const float *x, Py_ssize_t n, uint64_t *mask, Py_ssize_t stride)


cdef extern from "sparse_row.h" nogil:
    Py_ssize_t fm_nonzeros(int level, const float *x, Py_ssize_t k, int32_t *idx)
    void fm_sgemv_kept(int level, Py_ssize_t n, const float *x, const int32_t *idx,
                       Py_ssize_t count, const float *w, Py_ssize_t ldw, float *y,
                       const float *bias, int relu)
    int fm_sgemv_skip_zeros(int level, Py_ssize_t n, Py_ssize_t k, const float *x, const float *w,
                            Py_ssize_t ldw, float *y, const float *bias, int relu, int32_t *idx)


cdef extern from "packed_weights.h" nogil:
    enum:
        FM_PACK_ALIGN
        FM_PACKED_MIN_ROWS
    Py_ssize_t fm_packed_floats(int level, Py_ssize_t k, Py_ssize_t n)
    void fm_pack_weights(int level, Py_ssize_t k, Py_ssize_t n, const float *w, Py_ssize_t ldw,
                         float *packed)
    int fm_sgemm_packed(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *x,
                        Py_ssize_t ldx, const float *packed, float *y, Py_ssize_t ldy,
                        const float *bias, int relu)
    int fm_sgemm_packed_kept(int level, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                             const float *x, Py_ssize_t ldx, const float *packed, float *y,
                             Py_ssize_t ldy, const float *bias, int relu, const int32_t *kept,
                             const Py_ssize_t *kept_at)


cdef float *aligned_floats(cnp.ndarray buffer) noexcept
