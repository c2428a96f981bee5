"""The engine: a plan of flat buffers over a stack of compiled dense steps.

Between the Keras-style API (layers, models) and the kernels: it knows sizes, activation
codes and buffers, never Layer objects, and the API never reaches below it. All weights live
in one flat vector (Dense kernel then bias, layer after layer: Keras's get_weights order),
gradients in a second of the same layout, so the optimizer updates the model in one call and
a later data-parallel step can all-reduce one buffer.
"""
from typing import List, NamedTuple, Optional, Tuple

import numpy as np

from fastmlp._kernels.network import (ACCURACY_CODES, ACTIVATION_CODES, LOSS_CODES,
                                      Network)


class DenseStep(NamedTuple):
    """One compiled step: y = act(x·W + b), W of shape (n_in, n_out)."""
    n_in: int
    n_out: int
    activation: str
    use_bias: bool


class Engine:
    """Owns the flat parameter and gradient buffers and the compiled Network over them.

    Args:
        steps: the dense steps, input to output.
        dtype: float32 or float64.
    """

    def __init__(self, steps: List[DenseStep], dtype):
        if not steps:
            raise ValueError("A model needs at least one Dense layer to be trained or run.")
        self.steps = list(steps)
        self.dtype = np.dtype(dtype)
        w_offsets, b_offsets, offset = [], [], 0
        for step in self.steps:
            w_offsets.append(offset)
            offset += step.n_in * step.n_out
            b_offsets.append(offset if step.use_bias else -1)
            offset += step.n_out if step.use_bias else 0
        self.size = offset
        self.params = np.zeros(self.size, dtype=self.dtype)
        self.grads = np.zeros(self.size, dtype=self.dtype)
        self._w_offsets, self._b_offsets = w_offsets, b_offsets
        self.network = Network(self.params, self.grads, [s.n_in for s in steps],
                               [s.n_out for s in steps],
                               [ACTIVATION_CODES[s.activation] for s in steps],
                               w_offsets, b_offsets)

    @property
    def n_inputs(self) -> int:
        return self.steps[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.steps[-1].n_out

    def views(self, index: int, buffer: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(W, b) of step `index` as views into `buffer` (the parameters by default)."""
        buffer = self.params if buffer is None else buffer
        step = self.steps[index]
        w0 = self._w_offsets[index]
        kernel = buffer[w0:w0 + step.n_in * step.n_out].reshape(step.n_in, step.n_out)
        b0 = self._b_offsets[index]
        bias = buffer[b0:b0 + step.n_out] if b0 >= 0 else None
        return kernel, bias

    def set_loss(self, loss: str, accuracy: Optional[str]) -> None:
        """Selects the loss and accuracy kernels by Keras name ('mean_squared_error',
        'sparse_categorical_accuracy', ...); a softmax or sigmoid output is fused with its
        cross-entropy, so the output gradient is (p − y)/N."""
        last = self.steps[-1].activation
        self.network.loss = LOSS_CODES[loss]
        self.network.fused = ((loss in ("sparse_categorical_crossentropy", "categorical_crossentropy")
                               and last == "softmax")
                              or (loss == "binary_crossentropy" and last == "sigmoid"))
        self.network.accuracy_kind = ACCURACY_CODES[accuracy]

    def _check_inputs(self, x) -> int:
        """The compiled loops trust their buffers: check them here, where a mistake is an error
        and not a read out of bounds. Returns the number of rows."""
        if not (isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype == self.dtype
                and x.shape[1] == self.n_inputs and x.flags.c_contiguous):
            raise ValueError(f"engine input must be a C-contiguous {self.dtype} array of shape "
                             f"(N, {self.n_inputs}); received {getattr(x, 'dtype', type(x))} {getattr(x, 'shape', '')}")
        return x.shape[0]

    def _check(self, x, labels, targets) -> None:
        rows = self._check_inputs(x)
        if (labels is None) == (targets is None):
            raise ValueError("give the engine either class labels or targets")
        if labels is not None and not (isinstance(labels, np.ndarray) and labels.dtype == np.int32
                                       and labels.shape == (rows,) and labels.flags.c_contiguous):
            raise ValueError(f"labels must be a contiguous int32 array of shape ({rows},)")
        if targets is not None and not (isinstance(targets, np.ndarray) and targets.dtype == self.dtype
                                        and targets.shape == (rows, self.n_outputs)
                                        and targets.flags.c_contiguous):
            raise ValueError(f"targets must be a C-contiguous {self.dtype} array of shape ({rows}, {self.n_outputs})")

    def train(self, x, labels, targets, order, first_step, n_steps, batch_size, rule):
        """Runs n_steps compiled training steps over the batches of `order` (a permutation of
        the rows, or None for the rows in order); see Network.train."""
        self._check(x, labels, targets)
        if order is not None and not (isinstance(order, np.ndarray) and order.dtype == np.int64
                                      and order.shape == (x.shape[0],) and order.flags.c_contiguous
                                      and (order.size == 0 or (order.min() >= 0 and order.max() < x.shape[0]))):
            raise ValueError(f"order must be a contiguous int64 array of row indices in [0, {x.shape[0]})")
        if rule.size != self.size or rule.is_double != (self.dtype == np.float64):
            raise ValueError("the optimizer's update rule was built for another parameter buffer")
        return self.network.train(x, labels, targets, order, first_step, n_steps, batch_size, rule)

    def predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        """Forward pass over (N, n_inputs) rows, with scratch of this call's own."""
        rows = self._check_inputs(x)
        out = np.empty((rows, self.n_outputs), dtype=self.dtype)
        if rows:
            self.network.predict(x, out, max(1, batch_size))
        return out

    def evaluate(self, x, labels, targets, batch_size) -> Tuple[float, float]:
        """(loss sum, accuracy sum) over all rows."""
        self._check(x, labels, targets)
        return self.network.evaluate(x, labels, targets, max(1, batch_size))

    def gradient(self, x, labels, targets) -> float:
        """Loss sum over x as one batch; leaves d(mean loss)/d(params) in self.grads."""
        self._check(x, labels, targets)
        return self.network.gradient(x, labels, targets)
