"""Test hook of csrc/dropout.h (the compiled training loop calls the C functions directly):
the masks a dropout step applies, to check their rate, scale and reproducibility."""
import numpy as np

from fastmlp._kernels.checks import check_matrix


def dropout_check(x, double rate, seed, epoch_seed, step):
    """Returns x with the mask of (seed, epoch_seed, step) applied and the kept values scaled
    by 1 / (1 − rate), as a dropout step does in training. x: float64 (rows, cols)."""
    check_matrix(x, "x", np.float64, nonempty=True)
    if not 0 <= rate < 1:
        raise ValueError(f"`rate` must lie in [0, 1); received {rate}")
    cdef uint64_t s = seed, e = epoch_seed
    cdef int64_t t = step
    y = np.empty_like(x)
    cdef double[:, ::1] src = x
    cdef double[:, ::1] dst = y
    with nogil:
        fm_dropout_d(&dst[0, 0], &src[0, 0], src.shape[0], src.shape[1],
                     fm_dropout_key(s, e, t), fm_dropout_threshold(rate), 1.0 / (1.0 - rate))
    return y
