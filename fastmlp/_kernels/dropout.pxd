# Declarations of csrc/dropout.h, inverted dropout with a counter-based mask.
from libc.stdint cimport int64_t, uint32_t, uint64_t

cdef extern from "dropout.h" nogil:
    uint32_t fm_dropout_key(uint64_t layer_seed, uint64_t epoch_seed, int64_t step)
    uint32_t fm_dropout_threshold(double rate)
    void fm_dropout_cols_f(float *y, const float *x, Py_ssize_t rows, Py_ssize_t cols,
                           Py_ssize_t j0, Py_ssize_t j1, uint32_t key, uint32_t threshold,
                           float scale)
    void fm_dropout_cols_d(double *y, const double *x, Py_ssize_t rows, Py_ssize_t cols,
                           Py_ssize_t j0, Py_ssize_t j1, uint32_t key, uint32_t threshold,
                           double scale)
    void fm_dropout_f(float *y, const float *x, Py_ssize_t rows, Py_ssize_t cols, uint32_t key,
                      uint32_t threshold, float scale)
    void fm_dropout_d(double *y, const double *x, Py_ssize_t rows, Py_ssize_t cols, uint32_t key,
                      uint32_t threshold, double scale)
    uint32_t fm_dropout_rows_key(uint32_t key, int64_t first_row)
