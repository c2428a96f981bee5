"""The whole-network step: forward, loss gradient, backward and optimizer for many batches in
one compiled call with the GIL released.

A Network is a plan over flat buffers: every layer's weights are views of one parameter
vector (W then b, layer after layer, Keras's get_weights order) and its gradients of one
gradient vector of the same layout, so one optimizer call updates everything. Training
scratch is allocated once per batch size and reused; predict and evaluate allocate their
scratch per call, so concurrent calls from many threads do not share memory.
"""
from cython cimport floating
from libc.math cimport isfinite
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memcpy
cimport numpy as cnp
import numpy as np

from fastmlp._kernels.blas cimport gemm
from fastmlp._kernels.dense cimport dense_forward, dense_backward
from fastmlp._kernels.loss cimport loss_and_grad, accuracy_sum
from fastmlp._kernels.optim cimport UpdateRule
from fastmlp._kernels.elementwise cimport *

cnp.import_array()

# The codes of csrc/elementwise.h, by Keras name, for the engine.
ACTIVATION_CODES = {"linear": FM_LINEAR, "relu": FM_RELU, "sigmoid": FM_SIGMOID,
                    "tanh": FM_TANH, "softmax": FM_SOFTMAX}
LOSS_CODES = {"sparse_categorical_crossentropy": FM_SPARSE_XENT,
              "categorical_crossentropy": FM_XENT, "binary_crossentropy": FM_BINARY_XENT,
              "mean_squared_error": FM_MSE, "mean_absolute_error": FM_MAE}
ACCURACY_CODES = {None: FM_ACC_NONE, "sparse_categorical_accuracy": FM_ACC_SPARSE,
                  "categorical_accuracy": FM_ACC_CATEGORICAL, "binary_accuracy": FM_ACC_BINARY}

cdef inline char *data(cnp.ndarray arr):
    return <char *>cnp.PyArray_DATA(arr)


cdef class Network:
    """Compiled plan of a stack of dense layers over flat parameter and gradient buffers.

    Args:
        params: flat C-contiguous float32/float64 array holding every weight.
        grads: flat array of the same size and dtype, receiving the gradients.
        n_in, n_out, activations: per layer sizes and activation codes (csrc/elementwise.h).
        w_offsets, b_offsets: per layer element offsets into params (b offset −1: no bias).
    """
    cdef readonly int n_layers, n_inputs, n_outputs, max_width
    cdef readonly bint is_double
    cdef readonly object dtype, params, grads
    cdef int[:] n_in, n_out, act
    cdef int64_t[:] w_off, b_off
    cdef int itemsize
    # loss plan
    cdef public int loss, accuracy_kind
    cdef public bint fused
    # training scratch, sized for `capacity` rows
    cdef readonly int capacity
    cdef cnp.ndarray _acts, _delta_a, _delta_b, _x_batch, _labels_batch, _targets_batch
    cdef int64_t[:] _act_off
    # raw pointers into the buffers above, for the nogil loops
    cdef char *p_params
    cdef char *p_grads
    cdef char *p_acts
    cdef char *p_delta_a
    cdef char *p_delta_b
    cdef char *p_x_batch
    cdef char *p_labels_batch
    cdef char *p_targets_batch

    def __init__(self, cnp.ndarray params, cnp.ndarray grads, n_in, n_out, activations,
                 w_offsets, b_offsets):
        self.dtype = params.dtype
        self.is_double = params.dtype == np.float64
        self.itemsize = params.dtype.itemsize
        self.params = params
        self.grads = grads
        self.p_params = data(params)
        self.p_grads = data(grads)
        self.n_layers = len(n_in)
        self.n_in = np.asarray(n_in, dtype=np.intc)
        self.n_out = np.asarray(n_out, dtype=np.intc)
        self.act = np.asarray(activations, dtype=np.intc)
        self.w_off = np.asarray(w_offsets, dtype=np.int64)
        self.b_off = np.asarray(b_offsets, dtype=np.int64)
        self.n_inputs = n_in[0]
        self.n_outputs = n_out[len(n_out) - 1]
        self.max_width = max(max(n_in), max(n_out))
        self.loss = FM_SPARSE_XENT
        self.fused = False
        self.accuracy_kind = 0
        self.capacity = 0
        offsets = np.concatenate([[0], np.cumsum(self.n_out)]).astype(np.int64)
        self._act_off = offsets

    def reserve(self, int batch_size):
        """Allocates the training scratch for batches of up to batch_size rows (once)."""
        if batch_size <= self.capacity:
            return
        total_units = int(np.sum(self.n_out))
        self._acts = np.empty(batch_size * total_units, dtype=self.dtype)
        self._delta_a = np.empty(batch_size * self.max_width, dtype=self.dtype)
        self._delta_b = np.empty(batch_size * self.max_width, dtype=self.dtype)
        self._x_batch = np.empty(batch_size * self.n_inputs, dtype=self.dtype)
        self._labels_batch = np.empty(batch_size, dtype=np.int32)
        self._targets_batch = np.empty(batch_size * self.n_outputs, dtype=self.dtype)
        self.p_acts = data(self._acts)
        self.p_delta_a = data(self._delta_a)
        self.p_delta_b = data(self._delta_b)
        self.p_x_batch = data(self._x_batch)
        self.p_labels_batch = data(self._labels_batch)
        self.p_targets_batch = data(self._targets_batch)
        self.capacity = batch_size

    def train(self, cnp.ndarray x, cnp.ndarray labels, cnp.ndarray targets, cnp.ndarray order,
              Py_ssize_t first_step, Py_ssize_t n_steps, int batch_size, UpdateRule rule):
        """Runs n_steps optimizer steps over the batches first_step.. of `order` (or of the
        rows in order, when order is None).

        x is (N, n_inputs) C-contiguous in this network's dtype; labels int32 (N,) for sparse
        cross-entropy, else targets (N, n_outputs). Returns (loss sum, accuracy sum, samples,
        index of the step whose loss was not finite or −1). A non-finite step is not applied.
        """
        self.reserve(batch_size)
        cdef Py_ssize_t n_rows = x.shape[0]
        cdef const int64_t *idx = <const int64_t *>data(order) if order is not None else NULL
        cdef const char *x_ptr = data(x)
        cdef const int32_t *lab_ptr = <const int32_t *>data(labels) if labels is not None else NULL
        cdef const char *tgt_ptr = data(targets) if targets is not None else NULL
        cdef double loss_sum = 0, acc_sum = 0
        cdef Py_ssize_t samples = 0, bad_step = -1
        with nogil:
            if self.is_double:
                bad_step = _train_steps[double](self, <const double *>x_ptr, lab_ptr,
                    <const double *>tgt_ptr, idx, n_rows, first_step, n_steps, batch_size, rule,
                    &loss_sum, &acc_sum, &samples)
            else:
                bad_step = _train_steps[float](self, <const float *>x_ptr, lab_ptr,
                    <const float *>tgt_ptr, idx, n_rows, first_step, n_steps, batch_size, rule,
                    &loss_sum, &acc_sum, &samples)
        return loss_sum, acc_sum, samples, bad_step

    def predict(self, cnp.ndarray x, cnp.ndarray out, int batch_size):
        """out := network(x) for x (N, n_inputs), out (N, n_outputs), batch by batch."""
        cdef Py_ssize_t rows = x.shape[0]
        cdef int chunk = min(batch_size, rows)
        cdef cnp.ndarray scratch = np.empty(2 * chunk * self.max_width, dtype=self.dtype)
        cdef const char *x_ptr = data(x)
        cdef char *out_ptr = data(out)
        cdef char *scratch_ptr = data(scratch)
        with nogil:
            if self.is_double:
                _predict[double](self, <const double *>x_ptr, <double *>out_ptr,
                                 <double *>scratch_ptr, rows, chunk)
            else:
                _predict[float](self, <const float *>x_ptr, <float *>out_ptr,
                                <float *>scratch_ptr, rows, chunk)

    def evaluate(self, cnp.ndarray x, cnp.ndarray labels, cnp.ndarray targets, int batch_size):
        """Returns (loss sum, accuracy sum) over all rows of x, batch by batch."""
        cdef Py_ssize_t rows = x.shape[0]
        cdef int chunk = min(batch_size, rows)
        cdef cnp.ndarray scratch = np.empty(2 * chunk * self.max_width, dtype=self.dtype)
        cdef cnp.ndarray probs = np.empty(chunk * self.n_outputs, dtype=self.dtype)
        cdef cnp.ndarray grad = np.empty(chunk * self.n_outputs, dtype=self.dtype)
        cdef const char *x_ptr = data(x)
        cdef const int32_t *lab_ptr = <const int32_t *>data(labels) if labels is not None else NULL
        cdef const char *tgt_ptr = data(targets) if targets is not None else NULL
        cdef char *scratch_ptr = data(scratch)
        cdef char *probs_ptr = data(probs)
        cdef char *grad_ptr = data(grad)
        cdef double loss_sum = 0, acc_sum = 0
        with nogil:
            if self.is_double:
                _evaluate[double](self, <const double *>x_ptr, lab_ptr, <const double *>tgt_ptr,
                    <double *>scratch_ptr, <double *>probs_ptr, <double *>grad_ptr, rows, chunk,
                    &loss_sum, &acc_sum)
            else:
                _evaluate[float](self, <const float *>x_ptr, lab_ptr, <const float *>tgt_ptr,
                    <float *>scratch_ptr, <float *>probs_ptr, <float *>grad_ptr, rows, chunk,
                    &loss_sum, &acc_sum)
        return loss_sum, acc_sum

    def gemm_steps(self, int rows, Py_ssize_t n_steps):
        """Runs only the matrix products of n_steps training steps on batches of `rows` rows
        (forward, dW, dX; on zeroed scratch): what a step would cost if everything but the
        GEMMs were free. The benchmark reports training speed against this ceiling."""
        self.reserve(rows)
        for buf in (self._acts, self._delta_a, self._delta_b, self._x_batch):
            buf.fill(0)
        cdef cnp.ndarray dummy_grads = np.zeros_like(self.grads)
        cdef char *g = data(dummy_grads)
        cdef Py_ssize_t step
        with nogil:
            for step in range(n_steps):
                if self.is_double:
                    _gemms_only[double](self, <double *>g, rows)
                else:
                    _gemms_only[float](self, <float *>g, rows)

    def gradient(self, cnp.ndarray x, cnp.ndarray labels, cnp.ndarray targets):
        """grads := d(mean loss)/d(params) over all rows of x as one batch; returns the loss
        sum. Applies no update (for gradient checks and data-parallel training)."""
        cdef Py_ssize_t rows = x.shape[0]
        self.reserve(rows)
        cdef const char *x_ptr = data(x)
        cdef const int32_t *lab_ptr = <const int32_t *>data(labels) if labels is not None else NULL
        cdef const char *tgt_ptr = data(targets) if targets is not None else NULL
        cdef double loss_sum = 0
        with nogil:
            if self.is_double:
                loss_sum = _forward_backward[double](self, <const double *>x_ptr, lab_ptr,
                                                     <const double *>tgt_ptr, <int>rows)
            else:
                loss_sum = _forward_backward[float](self, <const float *>x_ptr, lab_ptr,
                                                    <const float *>tgt_ptr, <int>rows)
        return loss_sum


cdef inline floating *weight(Network net, floating *base, int layer) noexcept nogil:
    return base + net.w_off[layer]


cdef inline floating *bias(Network net, floating *base, int layer) noexcept nogil:
    return base + net.b_off[layer] if net.b_off[layer] >= 0 else NULL


cdef double _forward_backward(Network net, const floating *x, const int32_t *labels,
                              const floating *targets, int rows) noexcept nogil:
    """One batch: forward into the training scratch, loss gradient, backward into grads."""
    cdef floating *params = <floating *>net.p_params
    cdef floating *grads = <floating *>net.p_grads
    cdef floating *acts = <floating *>net.p_acts
    cdef floating *delta = <floating *>net.p_delta_a
    cdef floating *other = <floating *>net.p_delta_b
    cdef floating *swap
    cdef floating *dx
    cdef const floating *inp
    cdef int l, last = net.n_layers - 1, act
    cdef double loss_sum

    for l in range(net.n_layers):
        inp = x if l == 0 else acts + net._act_off[l - 1] * rows
        dense_forward(inp, weight(net, params, l), bias(net, params, l),
                      acts + net._act_off[l] * rows, rows, net.n_in[l], net.n_out[l], net.act[l])
    loss_sum = loss_and_grad(net.loss, acts + net._act_off[last] * rows, labels, targets, rows,
                             net.n_outputs, net.fused, delta)
    if not isfinite(loss_sum):
        return loss_sum
    for l in range(last, -1, -1):
        act = FM_LINEAR if (l == last and net.fused) else net.act[l]
        inp = x if l == 0 else acts + net._act_off[l - 1] * rows
        dx = other if l > 0 else NULL
        dense_backward(inp, weight(net, params, l), acts + net._act_off[l] * rows, delta,
                       weight(net, grads, l), bias(net, grads, l), dx, rows, net.n_in[l],
                       net.n_out[l], act)
        swap = delta
        delta = other
        other = swap
    return loss_sum


cdef void _gemms_only(Network net, floating *grads, int rows) noexcept nogil:
    cdef floating *params = <floating *>net.p_params
    cdef floating *acts = <floating *>net.p_acts
    cdef floating *x = <floating *>net.p_x_batch
    cdef floating *delta = <floating *>net.p_delta_a
    cdef floating *other = <floating *>net.p_delta_b
    cdef const floating *inp
    cdef int l, n_in, n_out
    for l in range(net.n_layers):
        inp = x if l == 0 else acts + net._act_off[l - 1] * rows
        n_in = net.n_in[l]
        n_out = net.n_out[l]
        gemm(False, False, rows, n_out, n_in, <floating>1, inp, n_in, weight(net, params, l),
             n_out, <floating>0, acts + net._act_off[l] * rows, n_out)
    for l in range(net.n_layers - 1, -1, -1):
        inp = x if l == 0 else acts + net._act_off[l - 1] * rows
        n_in = net.n_in[l]
        n_out = net.n_out[l]
        gemm(True, False, n_in, n_out, rows, <floating>1, inp, n_in, delta, n_out, <floating>0,
             weight(net, grads, l), n_out)
        if l > 0:
            gemm(False, True, rows, n_in, n_out, <floating>1, delta, n_out,
                 weight(net, params, l), n_out, <floating>0, other, n_in)


cdef Py_ssize_t _train_steps(Network net, const floating *x, const int32_t *labels,
                             const floating *targets, const int64_t *order, Py_ssize_t n_rows,
                             Py_ssize_t first_step, Py_ssize_t n_steps, int batch_size,
                             UpdateRule rule, double *loss_total, double *acc_total,
                             Py_ssize_t *samples) noexcept nogil:
    cdef floating *x_batch = <floating *>net.p_x_batch
    cdef floating *t_batch = <floating *>net.p_targets_batch
    cdef int32_t *l_batch = <int32_t *>net.p_labels_batch
    cdef const floating *xb
    cdef const floating *tb
    cdef const int32_t *lb
    cdef Py_ssize_t step, start, i, src
    cdef int rows, n_in = net.n_inputs, n_out = net.n_outputs
    cdef double loss_sum
    for step in range(first_step, first_step + n_steps):
        start = step * batch_size
        if start >= n_rows:
            break
        rows = <int>min(<Py_ssize_t>batch_size, n_rows - start)
        if order == NULL:
            # rows in order: the batch is a contiguous slice, no copy needed
            xb = x + start * n_in
            lb = labels + start if labels != NULL else NULL
            tb = targets + start * n_out if targets != NULL else NULL
        else:
            for i in range(rows):
                src = order[start + i]
                memcpy(x_batch + i * n_in, x + src * n_in, n_in * sizeof(floating))
                if labels != NULL:
                    l_batch[i] = labels[src]
                else:
                    memcpy(t_batch + i * n_out, targets + src * n_out, n_out * sizeof(floating))
            xb = x_batch
            lb = l_batch if labels != NULL else NULL
            tb = t_batch if targets != NULL else NULL
        loss_sum = _forward_backward[floating](net, xb, lb, tb, rows)
        if not isfinite(loss_sum):
            return step
        loss_total[0] += loss_sum
        if net.accuracy_kind:
            acc_total[0] += accuracy_sum(net.accuracy_kind,
                                         <floating *>net.p_acts + net._act_off[net.n_layers - 1] * rows,
                                         lb, tb, rows, n_out)
        samples[0] += rows
        rule.apply(net.p_params, net.p_grads)
    return -1


cdef void _forward_rows(Network net, const floating *x, floating *out, floating *scratch,
                        int rows, int chunk) noexcept nogil:
    """out := network(x) for one batch, layers ping-ponging between two scratch halves."""
    cdef floating *params = <floating *>net.p_params
    cdef const floating *inp = x
    cdef floating *dst
    cdef int l, last = net.n_layers - 1
    for l in range(net.n_layers):
        dst = out if l == last else scratch + (l % 2) * chunk * net.max_width
        dense_forward(inp, weight(net, params, l), bias(net, params, l), dst, rows,
                      net.n_in[l], net.n_out[l], net.act[l])
        inp = dst


cdef void _predict(Network net, const floating *x, floating *out, floating *scratch,
                   Py_ssize_t n_rows, int chunk) noexcept nogil:
    cdef Py_ssize_t start = 0
    cdef int rows
    while start < n_rows:
        rows = <int>min(<Py_ssize_t>chunk, n_rows - start)
        _forward_rows[floating](net, x + start * net.n_inputs, out + start * net.n_outputs,
                                scratch, rows, chunk)
        start += chunk


cdef void _evaluate(Network net, const floating *x, const int32_t *labels,
                    const floating *targets, floating *scratch, floating *probs, floating *grad,
                    Py_ssize_t n_rows, int chunk, double *loss_total,
                    double *acc_total) noexcept nogil:
    cdef Py_ssize_t start = 0
    cdef int rows, n_out = net.n_outputs
    cdef const int32_t *lb
    cdef const floating *tb
    while start < n_rows:
        rows = <int>min(<Py_ssize_t>chunk, n_rows - start)
        _forward_rows[floating](net, x + start * net.n_inputs, probs, scratch, rows, chunk)
        lb = labels + start if labels != NULL else NULL
        tb = targets + start * n_out if targets != NULL else NULL
        loss_total[0] += loss_and_grad(net.loss, probs, lb, tb, rows, n_out, net.fused, grad)
        if net.accuracy_kind:
            acc_total[0] += accuracy_sum(net.accuracy_kind, probs, lb, tb, rows, n_out)
        start += chunk
