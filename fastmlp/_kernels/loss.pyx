"""Loss kernels: per-sample losses summed over a batch, and the output gradient.

With `fused`, softmax + (sparse) categorical cross-entropy and sigmoid + binary
cross-entropy give the gradient with respect to the pre-activation directly, (p − y)/N.
"""
import numpy as np
from libc.stdint cimport int32_t

from fastmlp._kernels.elementwise cimport fm_loss_f, fm_loss_d, fm_accuracy_f, fm_accuracy_d

# Keras's backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON].
cdef double EPSILON = 1e-7


cdef double loss_and_grad(int loss, const floating *p, const int32_t *labels,
                          const floating *targets, int rows, int cols, bint fused,
                          floating *grad) noexcept nogil:
    """Returns Σ per-sample loss; grad := d(mean loss)/dz if fused else d(mean loss)/dp."""
    if floating is float:
        return fm_loss_f(loss, p, labels, targets, rows, cols, fused, <float>EPSILON, grad)
    else:
        return fm_loss_d(loss, p, labels, targets, rows, cols, fused, EPSILON, grad)


cdef double accuracy_sum(int kind, const floating *p, const int32_t *labels,
                         const floating *targets, int rows, int cols) noexcept nogil:
    """Returns the number of correct samples (binary accuracy: Σ per-sample means)."""
    if floating is float:
        return fm_accuracy_f(kind, p, labels, targets, rows, cols)
    else:
        return fm_accuracy_d(kind, p, labels, targets, rows, cols)


def loss_check(int loss, floating[:, ::1] p, labels, targets, bint fused):
    """Test hook: returns (loss summed over rows, gradient) for probabilities p."""
    cdef int32_t[::1] lab
    cdef floating[:, ::1] tgt
    cdef const int32_t *lab_ptr = NULL
    cdef const floating *tgt_ptr = NULL
    if labels is not None:
        lab = labels
        lab_ptr = &lab[0]
    if targets is not None:
        tgt = targets
        tgt_ptr = &tgt[0, 0]
    grad_arr = np.empty((p.shape[0], p.shape[1]), dtype=np.asarray(p).dtype)
    cdef floating[:, ::1] grad = grad_arr
    cdef double total
    with nogil:
        total = loss_and_grad(loss, &p[0, 0], lab_ptr, tgt_ptr, p.shape[0], p.shape[1], fused,
                              &grad[0, 0])
    return total, grad_arr


def accuracy_check(int kind, floating[:, ::1] p, labels, targets):
    """Test hook: returns the summed accuracy of probabilities p."""
    cdef int32_t[::1] lab
    cdef floating[:, ::1] tgt
    cdef const int32_t *lab_ptr = NULL
    cdef const floating *tgt_ptr = NULL
    if labels is not None:
        lab = labels
        lab_ptr = &lab[0]
    if targets is not None:
        tgt = targets
        tgt_ptr = &tgt[0, 0]
    cdef double hits
    with nogil:
        hits = accuracy_sum(kind, &p[0, 0], lab_ptr, tgt_ptr, p.shape[0], p.shape[1])
    return hits
