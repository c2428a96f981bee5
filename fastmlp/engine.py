"""The engine: a plan of flat buffers over a stack of compiled dense steps.

Between the Keras-style API (layers, models) and the kernels: it knows sizes, activation
codes and buffers, never Layer objects, and the API never reaches below it. All weights live
in one flat vector (Dense kernel then bias, layer after layer: Keras's get_weights order),
gradients in a second of the same layout, so the optimizer updates the model in one call and
a later data-parallel step can all-reduce one buffer.

Readers and writers of the weights never meet: training and set_weights write the live buffer
`params`; predict, evaluate and get_weights read `published`, a copy that writers replace
(never modify) once their writes are whole. A reader holds the copy it started with, so it
sees one consistent set of weights without taking a lock, however many threads read at once.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from fastmlp import config
from fastmlp._kernels.codes import ACCURACY_CODES, ACTIVATION_CODES, LOSS_CODES
from fastmlp._kernels.finite import all_finite
from fastmlp._kernels.network import Network


class DenseStep(NamedTuple):
    """One compiled step: y = act(x·W + b), W of shape (n_in, n_out)."""
    n_in: int
    n_out: int
    activation: str
    use_bias: bool


class Engine:
    """Owns the flat parameter and gradient buffers, the published weights and the compiled
    Network over them.

    Args:
        steps: the dense steps, input to output.
        dtype: float32 or float64.
    """

    def __init__(self, steps: Sequence[DenseStep], dtype):
        if not steps:
            raise ValueError("A model needs at least one Dense layer to be trained or run.")
        self.steps: List[DenseStep] = list(steps)
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
        self.network = Network(self.params, self.grads, [s.n_in for s in self.steps],
                               [s.n_out for s in self.steps],
                               [ACTIVATION_CODES[s.activation] for s in self.steps],
                               w_offsets, b_offsets)
        self.published = self.params.copy()

    @property
    def n_inputs(self) -> int:
        return self.steps[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.steps[-1].n_out

    # ----- weights -----------------------------------------------------------------------------
    def views(self, index: int, buffer: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(W, b) of step `index` as views into `buffer` (the live parameters by default)."""
        buffer = self.params if buffer is None else buffer
        step = self.steps[index]
        w0 = self._w_offsets[index]
        kernel = buffer[w0:w0 + step.n_in * step.n_out].reshape(step.n_in, step.n_out)
        b0 = self._b_offsets[index]
        bias = buffer[b0:b0 + step.n_out] if b0 >= 0 else None
        return kernel, bias

    def publish(self) -> None:
        """Makes the live weights what readers see: a new copy replaces the published one
        (swapping a reference is atomic, and a reader keeps the copy it started with)."""
        self.published = self.params.copy()

    def restore(self, weights: np.ndarray) -> None:
        """Live weights := weights (a copy of the buffer, e.g. a published one), then publish."""
        self.params[...] = weights
        self.publish()

    def finite(self, rule=None) -> bool:
        """Whether no live weight (nor a slot of the update rule, if given) is NaN or infinite."""
        return all_finite(self.params) and (rule is None or all(all_finite(s) for s in rule.slots))

    # ----- compiled calls ----------------------------------------------------------------------
    def set_loss(self, loss: str, accuracy: Optional[str]) -> None:
        """Selects the loss and accuracy kernels by Keras name ('mean_squared_error',
        'sparse_categorical_accuracy', ...); a softmax or sigmoid output is fused with its
        cross-entropy, so the output gradient is (p − y)/N."""
        self.network.set_loss(LOSS_CODES[loss], ACCURACY_CODES[accuracy], config.epsilon())

    def train(self, x, labels, targets, order, first_step, n_steps, batch_size, rule):
        """Runs n_steps compiled training steps over the batches of `order` (a permutation of
        the rows, or None for the rows in order) on the live weights; see Network.train.
        Does not publish: the caller does once its steps leave the weights whole."""
        return self.network.train(x, labels, targets, order, first_step, n_steps, batch_size, rule)

    def predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        """Forward pass over (N, n_inputs) rows with the published weights."""
        weights = self.published
        out = np.empty((x.shape[0] if isinstance(x, np.ndarray) and x.ndim == 2 else 0,
                        self.n_outputs), dtype=self.dtype)
        self.network.predict(weights, x, out, batch_size)
        return out

    def evaluate(self, x, labels, targets, batch_size, loss: str,
                 accuracy: Optional[str]) -> Tuple[float, float]:
        """(loss sum, accuracy sum) over all rows with the published weights, for a loss and
        accuracy by Keras name (the training plan is left as it is)."""
        return self.network.evaluate(self.published, x, labels, targets, batch_size,
                                     LOSS_CODES[loss], ACCURACY_CODES[accuracy], config.epsilon())

    def gradient(self, x, labels, targets) -> float:
        """Loss sum over x as one batch with the live weights; leaves d(mean loss)/d(params)
        in self.grads."""
        return self.network.gradient(x, labels, targets)

    def gemm_steps(self, rows: int, n_steps: int) -> None:
        """Runs only the GEMMs of n_steps training steps of `rows` rows: the benchmark's
        ceiling for a training step (see Network.gemm_steps)."""
        self.network.gemm_steps(rows, n_steps)

