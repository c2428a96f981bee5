"""The engine: a plan of flat buffers over a chain of compiled steps (dense, activation,
dropout, batch normalization).

Between the Keras-style API (layers, models) and the kernels: it knows sizes, activation
codes and buffers, never Layer objects, and the API never reaches below it. All weights live
in one flat vector (the trainable ones first, step after step in Keras's order, then the
non-trainable ones), gradients in a second vector over the trainable prefix, so the optimizer
updates the model in one call and a later data-parallel step can all-reduce one buffer.

Readers and writers of the weights never meet: training and set_weights write the live buffer
`params`; predict, evaluate and get_weights read `published`, a copy that writers replace
(never modify) once their writes are whole. A reader holds the copy it started with, so it
sees one consistent set of weights without taking a lock, however many threads read at once.
"""
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple, Optional, Protocol, Union

import numpy as np

from fastmlp import config
from fastmlp._kernels.codes import (
    ACCURACY_CODES,
    ACTIVATION_CODES,
    CONSTRAINT_CODES,
    DEFAULT_ALPHA,
    LOSS_CODES,
)
from fastmlp._kernels.finite import all_finite
from fastmlp._kernels.network import HANDOFF, Network
from fastmlp._kernels.network import InputNotFinite as InputNotFinite  # train's, for the trainer
from fastmlp._kernels.optim import UpdateRule
from fastmlp._typing import DTypeLike
from fastmlp.data import check_finite
from fastmlp.parallel import part_helpers, run_parts, start_team, sync_wide

# A predict call splits across threads only when each thread gets at least this many
# multiply-adds (about 0.2 ms of work): batch 64 of a 784-300-200-100-10 model (20 M) runs on
# the calling thread alone, so request threads scale; batch 128 (40 M) splits in two.
MACS_PER_PART = 1 << 24

# A lone training thread runs its forward x·W and weight gradient xᵀ·dz on fastmlp's own GEMM
# up to a limit of multiply-adds, on BLAS above: the own kernel packs nothing, hands nothing to
# BLAS's threads and prefetches the next batch's rows; BLAS's second thread pays off on large
# products only while the second core is free. train_gemm_rule gives (limit, dx = dz·Wᵀ on the
# own GEMM too) from BLAS's thread count (config.blas_threads, from the environment) and the
# call's (config.num_threads).
# Measured on the AMD Zen 4 VM (real Fashion-MNIST, Adam, samples/s against one thread's):
#   no limit against 2**24, 1 BLAS thread: M2 b128 ×1.08, b256 ×1.06, b1024 ×1.04;
#   M1 b256 ×1.15, b1024 ×1.13 (each product on one core either way: the own kernel is faster)
#   2 BLAS threads, the batches no team trains (under 64 rows): limit 2**22 with BLAS's dx
#   M2 b32 ×1.06, b48 ×1.18 with the second core free, ×0.17 and ×0.26 with another process
#   on it (each small product waits for BLAS's second thread to be scheduled); limit 2**24
#   with dx on the own GEMM (Wᵀ refreshed after each update): ×0.98, ×0.99 free, ×1.01,
#   ×1.29 busy. M1 b16-32 ×1.00 either way. Robustness wins: a second core that a busy
#   machine takes away must not cost 5× in speed.
# A call of one thread (set_num_threads(1)) under BLAS of several runs every product on the
# own GEMM: one thread means one core, and no BLAS pool spins beside it. Intel Xeon (Emerald
# Rapids) VM, 2 BLAS threads, paired epochs, no limit against 2**24: M2 b128 ×0.92 (what
# BLAS's second core gave its first layer, 27% of a core spinning meanwhile), M2 b32 ×1.00,
# M1 b32/b128 ×1.01/×1.00.
# A wrong count makes the split slower, never wrong.
def train_gemm_rule(blas_threads: int, threads: int) -> tuple[int, bool]:
    """(train_gemm_max, solo_transposes) for a training call of up to `threads` threads with
    BLAS running `blas_threads`: one BLAS thread, every forward and weight-gradient product on
    the own GEMM and dx on BLAS (one core either way); a one-thread call under BLAS of several,
    every product on the own GEMM; else BLAS past 2**24 multiply-adds, dx on the own GEMM."""
    if blas_threads == 1:
        return sys.maxsize, False
    if threads == 1:
        return sys.maxsize, True
    return 1 << 24, True


# (shape, trainable) of one weight array
WeightSpec = tuple[tuple[int, ...], bool]


class DenseStep(NamedTuple):
    """y = act(x·W + b), W of shape (n_in, n_out); alpha: the activation's parameter (None:
    Keras's default for that activation). Penalties are (l1, l2) pairs, constraints
    (name, max_value) pairs or None; trainable=False freezes W and b."""
    n_in: int
    n_out: int
    activation: str
    use_bias: bool
    alpha: Optional[float] = None
    kernel_penalty: tuple[float, float] = (0.0, 0.0)
    bias_penalty: tuple[float, float] = (0.0, 0.0)
    activity_penalty: tuple[float, float] = (0.0, 0.0)
    kernel_constraint: Optional[tuple[str, float]] = None
    bias_constraint: Optional[tuple[str, float]] = None
    trainable: bool = True

    def weights(self) -> list[WeightSpec]:
        return [((self.n_in, self.n_out), self.trainable)] + (
            [((self.n_out,), self.trainable)] if self.use_bias else [])

    def spec(self) -> dict[str, Any]:
        spec = {"kind": "dense", "activation": ACTIVATION_CODES[self.activation],
                "alpha": _alpha(self.activation, self.alpha), "frozen": not self.trainable}
        for part, (l1, l2) in (("kernel", self.kernel_penalty), ("bias", self.bias_penalty),
                               ("activity", self.activity_penalty)):
            spec[f"{part}_l1"], spec[f"{part}_l2"] = float(l1), float(l2)
        for part, constraint in (("kernel", self.kernel_constraint), ("bias", self.bias_constraint)):
            name, max_value = constraint or (None, 0.0)
            spec[f"{part}_constraint"], spec[f"{part}_max"] = CONSTRAINT_CODES[name], float(max_value)
        return spec


class ActivationStep(NamedTuple):
    """y = act(x), elementwise (row-wise for softmax)."""
    n: int
    activation: str
    alpha: Optional[float] = None

    def weights(self) -> list[WeightSpec]:
        return []

    def spec(self) -> dict[str, Any]:
        return {"kind": "activation", "activation": ACTIVATION_CODES[self.activation],
                "alpha": _alpha(self.activation, self.alpha)}


class DropoutStep(NamedTuple):
    """Inverted dropout in training (drop `rate` of the inputs, scale the rest by
    1 / (1 − rate)), the identity in inference; `seed` is the layer's."""
    n: int
    rate: float
    seed: int

    def weights(self) -> list[WeightSpec]:
        return []

    def spec(self) -> dict[str, Any]:
        return {"kind": "dropout", "rate": float(self.rate), "seed": int(self.seed)}


class BatchNormStep(NamedTuple):
    """Keras's BatchNormalization over features: weights gamma (scale), beta (center), then
    the non-trainable moving mean and variance. trainable=False runs it as in inference, also
    in training (Keras's rule), and freezes gamma and beta."""
    n: int
    momentum: float
    epsilon: float
    center: bool
    scale: bool
    trainable: bool = True

    def weights(self) -> list[WeightSpec]:
        n: tuple[int, ...] = (self.n,)
        return ([(n, self.trainable)] if self.scale else []) + ([(n, self.trainable)] if self.center else []) + [(n, False), (n, False)]

    def spec(self) -> dict[str, Any]:
        return {"kind": "batch_norm", "momentum": float(self.momentum), "epsilon": float(self.epsilon),
                "frozen": not self.trainable}


Step = Union[DenseStep, ActivationStep, DropoutStep, BatchNormStep]


MetricNames = Union[None, str, Sequence[Union[str, tuple[str, int]]]]
"""Metrics by Keras name: one name, None, or a sequence of names or (name, k) pairs."""


def _metric_codes(metrics: MetricNames) -> list[tuple[int, int]]:
    """(code, k) pairs of metric names or (name, k) pairs; None or one name allowed."""
    if metrics is None:
        return []
    if isinstance(metrics, str):
        metrics = [metrics]
    return [(ACCURACY_CODES[m], 5) if isinstance(m, str) else (ACCURACY_CODES[m[0]], int(m[1]))
            for m in metrics]


def _alpha(activation: str, alpha: Optional[float]) -> float:
    return float(DEFAULT_ALPHA.get(activation, 0.0) if alpha is None else alpha)


def _view(buffer: np.ndarray, offset: int, shape: tuple[int, ...]) -> np.ndarray:
    """The array of `shape` at `offset` of a flat buffer, as a view."""
    return buffer[offset:offset + int(np.prod(shape))].reshape(shape)


def step_width(step: Step) -> tuple[int, int]:
    """(inputs, outputs) of a step."""
    if isinstance(step, DenseStep):
        return step.n_in, step.n_out
    return step.n, step.n


class RuleMaker(Protocol):
    """What the engine needs of an optimizer: the compiled update rule over its buffers."""

    def build(self, size: int, dtype: DTypeLike, segments: list[tuple[int, int]]) -> UpdateRule: ...


class Engine:
    """Owns the flat parameter and gradient buffers, the published weights and the compiled
    Network over them.

    The parameter buffer holds every trainable weight first (each step's, in Keras's order),
    then the non-trainable ones (batch normalization's moving statistics): gradients and
    optimizer slots cover the trainable prefix, `trainable_size` long, in the same layout.

    Args:
        steps: the steps, input to output (DenseStep, ActivationStep, DropoutStep,
            BatchNormStep); at least one DenseStep.
        dtype: float32 or float64.
    """

    def __init__(self, steps: Sequence[Step], dtype: DTypeLike,
                 input_shape: Optional[tuple[int, ...]] = None) -> None:
        if not any(isinstance(step, DenseStep) for step in steps):
            raise ValueError("A model needs at least one Dense layer to be trained or run.")
        self.steps: list[Step] = list(steps)
        self.dtype: np.dtype[Any] = np.dtype(dtype)
        specs = [step.weights() for step in self.steps]
        sizes = [[int(np.prod(shape)) for shape, _ in weights] for weights in specs]
        self.trainable_size = sum(size for weights, step_sizes in zip(specs, sizes)
                                  for (_, trainable), size in zip(weights, step_sizes) if trainable)
        # offsets[i][k]: where weight k of step i starts
        self._offsets: list[list[int]] = []
        trainable_at, frozen_at = 0, self.trainable_size
        for weights, step_sizes in zip(specs, sizes):
            offsets = []
            for (_, trainable), size in zip(weights, step_sizes):
                if trainable:
                    offsets.append(trainable_at)
                    trainable_at += size
                else:
                    offsets.append(frozen_at)
                    frozen_at += size
            self._offsets.append(offsets)
        self._specs = specs
        self.size = frozen_at
        self.params = np.zeros(self.size, dtype=self.dtype)
        self.grads = np.zeros(self.trainable_size, dtype=self.dtype)
        self.network = Network(self.params, self.grads,
                               [self._network_step(i) for i in range(len(self.steps))],
                               self.trainable_size)
        self._blas_threads = config.blas_threads()  # as BLAS read it when it loaded
        self._train_threads()
        sync_wide(config.num_threads())  # lone calls may share from the first one
        self.publish()
        self._macs_per_row = max(1, sum(step.n_in * step.n_out for step in self.steps
                                        if isinstance(step, DenseStep)))
        # the most rows a call may have and still run on one thread whatever num_threads is
        self._one_thread_rows = max(1, (2 * MACS_PER_PART - 1) // self._macs_per_row)
        # a model's rows as it takes them (e.g. (28, 28) images that a Flatten reads flat)
        row_shape = input_shape or (self.n_inputs,)
        if int(np.prod(row_shape)) == self.n_inputs:
            self.network.set_fast_path(self._one_thread_rows, row_shape)

    @property
    def published(self) -> np.ndarray:
        """The weights readers see (a snapshot publish() replaces); kept by the network, whose
        predict_published reads it."""
        return self.network.published

    @published.setter
    def published(self, weights: np.ndarray) -> None:
        self.network.published = weights

    def _network_step(self, index: int) -> dict[str, Any]:
        step = self.steps[index]
        n_in, n_out = step_width(step)
        spec = {"n_in": n_in, "n_out": n_out, **step.spec()}
        offsets = iter(self._offsets[index])
        if isinstance(step, DenseStep):
            spec["w_off"] = next(offsets)
            spec["b_off"] = next(offsets) if step.use_bias else -1
        elif isinstance(step, BatchNormStep):
            spec["w_off"] = next(offsets) if step.scale else -1
            spec["b_off"] = next(offsets) if step.center else -1
            spec["mean_off"], spec["var_off"] = next(offsets), next(offsets)
        return spec

    @property
    def training_differs(self) -> bool:
        """Whether a pass in training mode gives other outputs than inference: a dropout step
        with a rate, or a batch normalization that is trainable (batch statistics)."""
        return any((isinstance(step, DropoutStep) and step.rate > 0)
                   or (isinstance(step, BatchNormStep) and step.trainable) for step in self.steps)

    @property
    def has_dropout(self) -> bool:
        """Whether a step draws random masks in training (fit then seeds each epoch)."""
        return self.network.has_dropout

    @property
    def n_inputs(self) -> int:
        return step_width(self.steps[0])[0]

    @property
    def n_outputs(self) -> int:
        return step_width(self.steps[-1])[1]

    # ----- weights -----------------------------------------------------------------------------
    def views(self, index: int, buffer: Optional[np.ndarray] = None) -> list[np.ndarray]:
        """The weights of step `index` (Keras's order: a Dense's kernel and bias; a batch
        normalization's gamma, beta, moving mean and variance) as views into `buffer` (the
        live parameters by default)."""
        buffer = self.params if buffer is None else buffer
        return [_view(buffer, offset, shape)
                for (shape, _), offset in zip(self._specs[index], self._offsets[index])]

    def trainable_segments(self) -> list[tuple[int, int]]:
        """(offset, size) of each trainable weight array in the buffer, in order: what
        clipnorm clips one by one."""
        return sorted((offset, int(np.prod(shape)))
                      for specs, offsets in zip(self._specs, self._offsets)
                      for (shape, trainable), offset in zip(specs, offsets) if trainable)

    def new_rule(self, optimizer: "RuleMaker") -> UpdateRule:
        """The optimizer's compiled rule over this engine's trainable weights."""
        return optimizer.build(self.trainable_size, self.dtype, self.trainable_segments())

    def trainable_views(self, index: int, buffer: np.ndarray) -> list[np.ndarray]:
        """The trainable weights of step `index` as views into a buffer of the trainable
        prefix's size (the gradients, an optimizer slot)."""
        return [_view(buffer, offset, shape)
                for (shape, trainable), offset in zip(self._specs[index], self._offsets[index])
                if trainable]

    def publish(self) -> None:
        """Makes the live weights what readers see: a new copy replaces the published one
        (swapping a reference is atomic, and a reader keeps the copy it started with). The
        copy is read-only: the network keeps packed kernels made from it."""
        weights = self.params.copy()
        weights.flags.writeable = False
        self.published = weights

    def restore(self, weights: np.ndarray) -> None:
        """Live weights := weights (a copy of the buffer, e.g. a published one), then publish."""
        self.params[...] = weights
        self.publish()

    def finite(self, rule: Optional[UpdateRule] = None) -> bool:
        """Whether no live weight (nor a slot of the update rule, if given) is NaN or infinite."""
        return all_finite(self.params) and (rule is None or all(all_finite(s) for s in rule.slots))

    # ----- compiled calls ----------------------------------------------------------------------
    def set_loss(self, loss: str, metrics: MetricNames = None) -> None:
        """Selects the loss and metric kernels by Keras name ('mean_squared_error',
        'sparse_categorical_accuracy', ...; metrics: one name, None, or a sequence of names or
        (name, k) pairs); a softmax or sigmoid output is fused with its cross-entropy, so the
        output gradient is (p − y)/N."""
        self.network.set_loss(LOSS_CODES[loss], _metric_codes(metrics), config.epsilon())

    def train(self, x: np.ndarray, labels: Optional[np.ndarray], targets: Optional[np.ndarray],
              order: Optional[np.ndarray], first_step: int, n_steps: int, batch_size: int,
              rule: UpdateRule, seed: int = 0, weights: Optional[np.ndarray] = None,
              check_x: bool = False) -> tuple[float, tuple[float, ...], int, int]:
        """Runs n_steps compiled training steps over the batches of `order` (a permutation of
        the rows, or None for the rows in order) on the live weights; `seed` is the epoch's
        dropout seed, `weights` the per-sample loss weights or None; see Network.train. Does
        not publish: the caller does once its steps leave the weights whole. Runs on up to
        config.num_threads() threads (Network.team_for says which team, if any, takes the
        call); a call of one thread never hands a product to BLAS's threads (train_gemm_rule).
        check_x: x was not checked for NaN and infinity, and each step checks its rows as it
        gathers them (InputNotFinite: that step was not applied, those before it were)."""
        threads = self._train_threads()
        return self.network.train(x, labels, targets, order, first_step, n_steps, batch_size,
                                  rule, seed, weights, threads, start_team, check_x)

    def _train_threads(self) -> int:
        """config.num_threads(), with train_gemm_rule applied for that many."""
        threads = config.num_threads()
        self.network.set_train_gemm_max(*train_gemm_rule(self._blas_threads, threads))
        return threads

    def predict(self, x: np.ndarray, batch_size: int, check_x: bool = False) -> np.ndarray:
        """Forward pass over (N, n_inputs) rows with the published weights; a large call on
        fastmlp's own GEMM splits its rows across config.num_threads() threads. check_x: x
        was not checked for NaN and infinity, and the passes check it (a pass of several rows
        in its first product's lists, which read x anyway: one read of x less than a check
        before the call); a ValueError names the first element that is not finite."""
        weights = self.published
        rows = x.shape[0] if isinstance(x, np.ndarray) and x.ndim == 2 else 0
        out = np.empty((rows, self.n_outputs), dtype=self.dtype)
        parts = self._parts(rows)
        if parts == 1:
            finite = self.network.predict(weights, x, out, batch_size, check_x)
        elif HANDOFF:
            wakes = part_helpers(parts - 1)  # fewer if a thread cannot start
            finite = self.network.predict_parts(weights, x, out, batch_size, len(wakes) + 1, wakes,
                                                check_x)
        else:
            self.network.pack_for_call(weights, rows)  # the parts' calls are smaller
            found = run_parts(lambda start, stop: self.network.predict(
                weights, x[start:stop], out[start:stop], batch_size, check_x), rows, parts)
            finite = all(found)
        if not finite:
            check_finite(x, "x")
            # x changed since the pass read it (another thread wrote to it): still an error
            raise ValueError("Argument `x` contains NaN or infinity.")
        return out

    def _parts(self, rows: int) -> int:
        """How many threads a predict call of `rows` rows runs on: one per MACS_PER_PART
        multiply-adds, up to config.num_threads(); one on BLAS (which has threads of its own)."""
        if self.network.gemm_levels[0] == 0:
            return 1
        return max(1, min(config.num_threads(), rows * self._macs_per_row // MACS_PER_PART))

    def evaluate(self, x: np.ndarray, labels: Optional[np.ndarray], targets: Optional[np.ndarray],
                 batch_size: int, loss: str, metrics: MetricNames = None,
                 weights: Optional[np.ndarray] = None, check_x: bool = False
                 ) -> tuple[float, tuple[float, ...]]:
        """(loss sum, metric sums) over all rows with the published weights, for a loss and
        metrics by Keras name, as set_loss takes them (the training plan is left as it is). A
        large call on fastmlp's own GEMM runs on config.num_threads() threads, as predict's,
        with the one-thread bits (its passes' sums are added up in order). check_x: as
        predict's (each pass checks its rows; a ValueError names the first bad element)."""
        rows = x.shape[0] if isinstance(x, np.ndarray) and x.ndim == 2 else 0
        parts = self._parts(rows) if HANDOFF else 1
        wakes = part_helpers(parts - 1) if parts > 1 else []  # fewer if a thread cannot start
        try:
            return self.network.evaluate(self.published, x, labels, targets, batch_size,
                                         LOSS_CODES[loss], _metric_codes(metrics),
                                         config.epsilon(), weights, len(wakes) + 1, wakes, check_x)
        except InputNotFinite:
            check_finite(x, "x")  # raises, naming the first bad element
            raise

    def gradient(self, x: np.ndarray, labels: Optional[np.ndarray], targets: Optional[np.ndarray],
                 seed: int = 0, weights: Optional[np.ndarray] = None) -> float:
        """Loss sum over x as one batch in training mode with the live weights; leaves
        d(mean loss)/d(trainable params) in self.grads."""
        return self.network.gradient(x, labels, targets, seed, weights)

    def gemm_steps(self, rows: int, n_steps: int, rule: Optional[UpdateRule] = None,
                   at_once: bool = False) -> None:
        """Runs only the GEMMs of n_steps training steps of `rows` rows, as train runs them on
        config.num_threads() threads with the update rule `rule`: the benchmark's ceiling for
        a training step (see Network.gemm_steps). at_once: a team's members run their shares
        at the same time on threads of their own, meeting once a step (else one share runs
        alone)."""
        self.network.gemm_steps(rows, n_steps, self._train_threads(), rule,
                                start_team if at_once else None)

