"""Loss kernels: per-sample losses summed over a batch, and the output gradient.

With `fused`, softmax + (sparse) categorical cross-entropy and sigmoid + binary
cross-entropy give the gradient with respect to the pre-activation directly, (p − y)/N.
Probabilities are clipped to [epsilon, 1 − epsilon], Keras's `config.epsilon()`, which the
engine passes in.
"""
import numpy as np
from libc.stdint cimport int32_t

from fastmlp._kernels.elementwise cimport (fm_loss_f, fm_loss_d, fm_loss_part_f, fm_loss_part_d,
                                           fm_accuracy_f, fm_accuracy_d)
from fastmlp._kernels.checks import check_array, check_matrix
from fastmlp._kernels.codes import ACCURACY_CODES, check_accuracy, check_loss, needs


cdef double loss_and_grad(int loss, const floating *p, const int32_t *labels,
                          const floating *targets, Py_ssize_t rows, Py_ssize_t cols,
                          bint fused, double epsilon, floating *grad,
                          const floating *weights, Py_ssize_t batch=0) noexcept nogil:
    """Returns Σ per-sample loss; grad := d(mean loss)/dz if fused else d(mean loss)/dp, the
    mean over `batch` rows (0: these rows; a thread's share of a batch passes the batch's).
    With per-sample weights (NULL: none), Σ wᵢ·lossᵢ and the gradient of Σ wᵢ·lossᵢ / batch,
    Keras's sum_over_batch_size reduction."""
    cdef Py_ssize_t i, j
    cdef double total = 0, row
    cdef floating scale
    if batch <= 0:
        batch = rows
    if weights == NULL:
        if floating is float:
            return fm_loss_part_f(loss, p, labels, targets, rows, batch, cols, fused,
                                  <float>epsilon, grad)
        else:
            return fm_loss_part_d(loss, p, labels, targets, rows, batch, cols, fused, epsilon,
                                  grad)
    for i in range(rows):
        # each row as a batch of one (its own loss and gradient), then weighted
        if floating is float:
            row = fm_loss_f(loss, p + i * cols, labels + i if labels != NULL else NULL,
                            targets + i * cols if targets != NULL else NULL, 1, cols, fused,
                            <float>epsilon, grad + i * cols)
        else:
            row = fm_loss_d(loss, p + i * cols, labels + i if labels != NULL else NULL,
                            targets + i * cols if targets != NULL else NULL, 1, cols, fused,
                            epsilon, grad + i * cols)
        total += weights[i] * row
        scale = weights[i] / <floating>batch
        for j in range(cols):
            grad[i * cols + j] *= scale
    return total


cdef double accuracy_sum(int kind, const floating *p, const int32_t *labels,
                         const floating *targets, Py_ssize_t rows, Py_ssize_t cols,
                         int k) noexcept nogil:
    """Returns a metric summed over the samples: the number of correct ones for an accuracy
    (binary accuracy: Σ per-sample means), Σ per-sample error for MSE and MAE."""
    if floating is float:
        return fm_accuracy_f(kind, p, labels, targets, rows, cols, k)
    else:
        return fm_accuracy_d(kind, p, labels, targets, rows, cols, k)


def check_labels_or_targets(labels, targets, Py_ssize_t rows, Py_ssize_t cols, dtype,
                            bint use_labels, bint class_indices=True):
    """The boundary of everything that reads y: exactly one of labels (int32 (rows,), values in
    [0, cols) when they are class indices) and targets ((rows, cols) in dtype)."""
    if use_labels:
        if labels is None or targets is not None:
            raise ValueError("this loss and accuracy read class labels: give `labels`, not `targets`")
        check_array(labels, "labels", np.int32, (rows,))
        if class_indices and rows and (labels.min() < 0 or labels.max() >= cols):
            raise ValueError(f"`labels` must lie in [0, {cols}); received values from "
                             f"{labels.min()} to {labels.max()}")
    else:
        if targets is None or labels is not None:
            raise ValueError("this loss and accuracy read targets: give `targets`, not `labels`")
        check_array(targets, "targets", dtype, (rows, cols))


def _probabilities(p):
    dtype = getattr(p, "dtype", None)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"`p` must be a float32 or float64 array; received {dtype}")
    check_matrix(p, "p", dtype, nonempty=True)


def loss_check(int loss, p, labels, targets, bint fused, double epsilon):
    """Test hook: returns (loss summed over rows, gradient) for probabilities p."""
    _probabilities(p)
    check_loss(loss)
    check_labels_or_targets(labels, targets, p.shape[0], p.shape[1], p.dtype,
                            needs(loss, 0, p.shape[1]))
    grad = np.empty(p.shape, dtype=p.dtype)
    if p.dtype == np.float32:
        return _loss_typed[float](loss, p, labels, targets, fused, epsilon, grad), grad
    return _loss_typed[double](loss, p, labels, targets, fused, epsilon, grad), grad


cdef double _loss_typed(int loss, const floating[:, ::1] p, labels, targets, bint fused,
                        double epsilon, floating[:, ::1] grad):
    cdef const int32_t[::1] lab
    cdef const floating[:, ::1] tgt
    cdef const int32_t *lab_ptr = NULL
    cdef const floating *tgt_ptr = NULL
    cdef double total
    if labels is not None:
        lab = labels
        lab_ptr = &lab[0]
    if targets is not None:
        tgt = targets
        tgt_ptr = &tgt[0, 0]
    with nogil:
        total = loss_and_grad(loss, &p[0, 0], lab_ptr, tgt_ptr, p.shape[0], p.shape[1], fused,
                              epsilon, &grad[0, 0], NULL)
    return total


def accuracy_check(int kind, p, labels, targets, int k=5):
    """Test hook: returns the summed accuracy of probabilities p (binary accuracy reads
    labels only for a one-column p)."""
    _probabilities(p)
    check_accuracy(kind)
    if kind == 0:
        raise ValueError("accuracy_check needs an accuracy kind, not 0 (none)")
    sparse = kind in (ACCURACY_CODES["sparse_categorical_accuracy"],
                      ACCURACY_CODES["sparse_top_k_categorical_accuracy"])
    if kind == ACCURACY_CODES["binary_accuracy"]:
        use_labels = labels is not None and p.shape[1] == 1
    else:
        use_labels = sparse
    if k < 1:
        raise ValueError(f"`k` must be >= 1; received {k}")
    check_labels_or_targets(labels, targets, p.shape[0], p.shape[1], p.dtype, use_labels, sparse)
    if p.dtype == np.float32:
        return _accuracy_typed[float](kind, p, labels, targets, k)
    return _accuracy_typed[double](kind, p, labels, targets, k)


cdef double _accuracy_typed(int kind, const floating[:, ::1] p, labels, targets, int k):
    cdef const int32_t[::1] lab
    cdef const floating[:, ::1] tgt
    cdef const int32_t *lab_ptr = NULL
    cdef const floating *tgt_ptr = NULL
    cdef double hits
    if labels is not None:
        lab = labels
        lab_ptr = &lab[0]
    if targets is not None:
        tgt = targets
        tgt_ptr = &tgt[0, 0]
    with nogil:
        hits = accuracy_sum(kind, &p[0, 0], lab_ptr, tgt_ptr, p.shape[0], p.shape[1], k)
    return hits
