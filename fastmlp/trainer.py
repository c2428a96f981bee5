"""The training loop, as Keras's Trainer: compile, fit, evaluate and predict over the engine.

fit runs the compiled steps in slices of about SLICE_SECONDS of work each. Between two slices
the weights are whole: fit publishes them for readers (predict in other threads), keeps them
with the optimizer state as a checkpoint, and returns to the interpreter, so Ctrl-C stops
training within a slice and leaves the model at its last completed step. A loss or weights
that turn NaN or infinite stop training with the last finite weights and optimizer state.
"""
import math
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NoReturn, Optional, Union, cast

import numpy as np

from fastmlp import data as _data
from fastmlp import legacy, seeding
from fastmlp import losses as _losses
from fastmlp import metrics as _metrics
from fastmlp import optimizers as _optimizers
from fastmlp._kernels.optim import UpdateRule
from fastmlp._typing import ArrayLike, Logs
from fastmlp.callbacks import (
    Callback,
    CallbackList,
    History,
    ProgbarLogger,
    TerminateOnNaN,
    wants_batch_hooks,
)
from fastmlp.engine import InputNotFinite
from fastmlp.metrics import MetricsLike
from fastmlp.progbar import Progbar

if TYPE_CHECKING:
    from fastmlp.engine import Engine
    from fastmlp.models import Model

Results = Union[float, list[float], Logs]
"""What evaluate-like methods return: the loss alone, [loss, *metrics], or the logs (return_dict)."""
RuleState = tuple[int, list[np.ndarray]]
"""An optimizer's saved state: (iterations, slots), as UpdateRule.get_state returns it."""
# one epoch's data for the engine: features, labels, targets, dropout seed, sample weights
_EpochData = tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray], int, Optional[np.ndarray]]

# Work per compiled call in fit: short enough that Ctrl-C is seen in well under a second and
# another thread's predict sees weights this fresh; long enough that the Python between
# calls (checkpoint, publish, progress) costs well under 1% of the time.
SLICE_SECONDS = 0.1


def positive_int(name: str, value: Any, allow_zero: bool = False) -> int:
    """value as an int, when it is a (non-negative, with allow_zero) integer; else ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"Argument `{name}` must be {kind} integer. Received: {name}={value!r}")
    return int(value)


def verbosity(verbose: Union[str, int]) -> int:
    """Keras's verbose argument as 0, 1 or 2 ('auto' is 1)."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"Argument `verbose` must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}")
    return int(verbose)


# Keras arguments the methods accept only at their defaults (None): anything else is refused
# with a message; the documentation's Keras compatibility page reads this table.
REFUSED_ARGUMENTS = {"compile": ("loss_weights", "weighted_metrics"),
                     "fit": ("steps_per_epoch", "validation_steps")}


def refuse_unsupported(method: str, given: dict[str, Any]) -> None:
    """ValueError naming the first argument of REFUSED_ARGUMENTS[method] given a value."""
    for arg in REFUSED_ARGUMENTS[method]:
        if given.get(arg) is not None:
            raise ValueError(f"{method}({arg}=...) is not supported by fastmlp.")


class _Pace:
    """Steps per compiled call, adapted so that a call takes about SLICE_SECONDS."""

    def __init__(self) -> None:
        self.steps = 1

    def update(self, steps: int, seconds: float) -> None:
        target = steps * SLICE_SECONDS / seconds if seconds > 0 else self.steps * 4
        self.steps = max(1, min(int(target), self.steps * 4))


class Trainer:
    """compile / fit / evaluate / predict for a model that has an engine (models.Model)."""

    if TYPE_CHECKING:  # what models.Model, the class this mixes into, provides
        name: str
        compiled: bool
        stop_training: bool
        optimizer: Any
        loss: Any
        history: Optional[History]
        _input_shape: Optional[tuple[int, ...]]
        _engine: Optional[Engine]
        _metrics: list[_metrics.MetricSpec]
        _rule: Optional[UpdateRule]

        @property
        def engine(self) -> Engine: ...
        @property
        def built(self) -> bool: ...
        def _writing(self, what: str, training: bool = False) -> AbstractContextManager[None]: ...
        def build(self, input_shape: Any = None) -> None: ...
        def _require_built(self) -> None: ...

    def compile(self, optimizer: Union[str, _optimizers.Optimizer] = "rmsprop",
                loss: Union[str, _losses.Loss, None] = None, metrics: MetricsLike = None,
                loss_weights: None = None, weighted_metrics: None = None, run_eagerly: bool = False,
                steps_per_execution: int = 1, jit_compile: Union[str, bool] = "auto") -> None:
        """Configures training.

        Args:
            optimizer: name ('rmsprop' default, 'adam', 'sgd', 'adagrad') or an optimizer object.
            loss: name ('sparse_categorical_crossentropy', 'categorical_crossentropy',
                'binary_crossentropy', 'mse', 'mae', ...) or a fastmlp.losses object.
            metrics: a name or a list of names and fastmlp.metrics objects: 'accuracy' / 'acc'
                (Keras picks sparse, categorical or binary accuracy from the output width and
                targets, and so does fastmlp), 'mse', 'mae', 'top_k_categorical_accuracy',
                'sparse_top_k_categorical_accuracy', the explicit accuracies; up to 8.
        """
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='sparse_categorical_crossentropy'.")
        refuse_unsupported("compile", {"loss_weights": loss_weights, "weighted_metrics": weighted_metrics})
        optimizer = _optimizers.get(optimizer)
        loss = _losses.get(loss)
        metric_specs = _metrics.parse(metrics)
        with self._writing("compile()"):
            self.optimizer = optimizer
            self.loss = loss
            self._metrics = metric_specs
            self._rule = None
            self.compiled = True

    # ----- data ----------------------------------------------------------------------------------
    def _prepare(self, x: Optional[ArrayLike], y: Optional[ArrayLike], name_x: str = "x",
                 name_y: str = "y", check_x: bool = True
                 ) -> tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]:
        """Builds if needed and converts (x, y) once for the engine (check_x=False: x's NaN
        and infinity left to the caller)."""
        features = self._features(x, name_x, check_x)
        engine = self.engine
        labels, targets = _data.as_targets(y, features.shape[0], self.loss.sparse_targets,
                                           engine.n_outputs, engine.dtype, name_y)
        return features, labels, targets

    def _features(self, x: Optional[ArrayLike], name: str = "x", check: bool = True) -> np.ndarray:
        """x converted once for the engine, building the model from its shape if needed
        (check=False: NaN and infinity left to engine.predict's check_x)."""
        if not self.built:
            shape = np.shape(x) if x is not None else ()
            if len(shape) < 2:
                raise ValueError(f"Argument `{name}` must be an array of shape (batch, features...). "
                                 f"Received: {None if x is None else shape}")
            self.build(shape[1:])
        self._require_built()
        assert self._input_shape is not None  # built: the input shape is known
        return _data.as_features(x, self._input_shape, self.engine.dtype, name, check)

    def _loss_plan(self, labels: Optional[np.ndarray]) -> tuple[str, list[tuple[str, int]]]:
        """(loss name, [(metric kernel name, k)]) for the engine, given the form of the targets."""
        metrics = [(_metrics.resolve(spec.kind, self.engine.n_outputs, labels is not None), spec.k)
                   for spec in self._metrics]
        return self.loss.default_name, metrics

    def _logs(self, loss_sum: float, metric_sums: Iterable[float], count: int, prefix: str = "") -> Logs:
        """The mean loss and metrics, keys in Keras's (sorted) order."""
        logs = {prefix + spec.key: total / count for spec, total in zip(self._metrics, metric_sums)}
        logs[prefix + "loss"] = loss_sum / count
        return dict(sorted(logs.items()))

    # ----- fit -----------------------------------------------------------------------------------
    def fit(self, x: Optional[ArrayLike] = None, y: Optional[ArrayLike] = None,
            batch_size: Optional[int] = None, epochs: int = 1, verbose: Union[str, int] = "auto",
            callbacks: Optional[list[Callback]] = None, validation_split: float = 0.0,
            validation_data: Optional[Sequence[Any]] = None, shuffle: bool = True,
            class_weight: Optional[dict[int, float]] = None,
            sample_weight: Optional[ArrayLike] = None, initial_epoch: int = 0,
            steps_per_epoch: None = None, validation_steps: None = None,
            validation_batch_size: Optional[int] = None, validation_freq: int = 1,
            **kwargs: Any) -> History:
        """Trains for `epochs` epochs; every step runs in compiled code with the GIL released.

        One fit at a time per model: a second one from another thread raises RuntimeError,
        while predict, evaluate and get_weights from other threads see the weights of a
        recent step (never a mix of two).

        Args:
            x: inputs, shape (N, *input_shape), any numeric dtype (converted once).
            y: targets: class labels (N,) for sparse cross-entropy, else (N, units).
            batch_size: samples per step, default 32; more than N trains on all N at once.
            epochs: index of the last epoch (training runs initial_epoch..epochs-1).
            verbose: 'auto' (= 1), 0 silent, 1 progress bar, 2 one line per epoch.
            callbacks: fastmlp.callbacks.Callback objects (epoch-level hooks).
            validation_split: fraction in [0, 1) of the data, taken from the end before
                shuffling, held out for validation.
            validation_data: (x_val, y_val) or (x_val, y_val, val_sample_weight), evaluated at
                the end of each epoch.
            shuffle: reshuffle the training samples every epoch.
            class_weight: {class index: weight}: each sample's loss is weighted by its class's.
            sample_weight: (N,) weights of the samples' losses (the loss of a batch is
                Σ weight·loss / batch size, as Keras's).
            initial_epoch: epoch at which to start (to resume training).

        Keyword Args:
            nb_epoch: Keras 1's spelling of epochs (accepted with a DeprecationWarning).

        Returns:
            A History whose `.history` maps 'loss', the metric and their 'val_' versions to
            per-epoch lists.

        Raises:
            FloatingPointError: the loss or the weights became NaN or infinite; the model keeps
                its last finite weights and optimizer state.
            RuntimeError: fit already runs on this model in another thread.
            ValueError: bad input, x's NaN or infinity included (named by its first index;
                the first epoch's steps find it as they gather the rows, and the model keeps
                the weights and optimizer state it had before the call).
        """
        kwargs = legacy.translate("fit", kwargs, given={"epochs"} if epochs != 1 else ())
        epochs = kwargs.pop("epochs", epochs)  # nb_epoch= (Keras 1)
        if kwargs:
            raise TypeError(f"fit() got unexpected keyword argument(s) {sorted(kwargs)}")
        if not self.compiled:
            raise RuntimeError("You must call compile() before fit(): model.compile(optimizer=..., loss=...).")
        refuse_unsupported("fit", {"steps_per_epoch": steps_per_epoch, "validation_steps": validation_steps})
        batch_size = 32 if batch_size is None else positive_int("batch_size", batch_size)
        val_batch = batch_size if validation_batch_size is None else positive_int("validation_batch_size", validation_batch_size)
        epochs = positive_int("epochs", epochs, allow_zero=True)
        initial_epoch = positive_int("initial_epoch", initial_epoch, allow_zero=True)
        validation_freq = positive_int("validation_freq", validation_freq)
        verbose = verbosity(verbose)
        if not (isinstance(validation_split, (int, float)) and 0 <= validation_split < 1):
            raise ValueError(f"Argument `validation_split` must be in [0, 1). Received: validation_split={validation_split!r}")
        with self._writing("fit()", training=True):
            return self._fit(x, y, batch_size, epochs, verbose, callbacks, validation_split,
                             validation_data, shuffle, initial_epoch, val_batch, validation_freq,
                             sample_weight, class_weight)

    def _fit(self, x: Optional[ArrayLike], y: Optional[ArrayLike], batch_size: int, epochs: int,
             verbose: int, callbacks: Optional[list[Callback]], validation_split: float,
             validation_data: Optional[Sequence[Any]], shuffle: bool, initial_epoch: int,
             val_batch: int, validation_freq: int, sample_weight: Optional[ArrayLike] = None,
             class_weight: Optional[dict[int, float]] = None) -> History:
        # x is checked for NaN and infinity as the first epoch gathers its rows (one read of x
        # less a call: 4-6% of a one-epoch fit of M1) unless a callback would see the steps
        # of an epoch that ends in that error
        x_in_steps = initial_epoch < epochs and not any(wants_batch_hooks(cb) for cb in callbacks or [])
        features, labels, targets = self._prepare(x, y, check_x=not x_in_steps)
        weights = _data.as_sample_weights(sample_weight, class_weight, y, features.shape[0],
                                          self.engine.dtype)
        val = None
        val_weights = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("Argument `validation_data` must be a tuple (x_val, y_val) or "
                                 "(x_val, y_val, val_sample_weight).")
            val = self._prepare(validation_data[0], validation_data[1], "validation_data[0]", "validation_data[1]")
            if len(validation_data) == 3:
                val_weights = _data.as_sample_weights(validation_data[2], None, None, val[0].shape[0],
                                                      self.engine.dtype, "validation_data[2]")
        elif validation_split:
            split = int(features.shape[0] * (1 - validation_split))
            if split == 0 or split == features.shape[0]:
                raise ValueError(f"validation_split={validation_split} leaves no samples on one side "
                                 f"of the split of {features.shape[0]} samples.")
            val = (features[split:], None if labels is None else labels[split:],
                   None if targets is None else targets[split:])
            if x_in_steps:
                _data.check_finite(val[0], "x", first_row=split)  # never gathered by a step
            if weights is not None:
                val_weights, weights = weights[split:], weights[:split]
            features = features[:split]
            labels = None if labels is None else labels[:split]
            targets = None if targets is None else targets[:split]

        engine = self.engine
        loss_name, metric = self._loss_plan(labels)
        val_metric = None if val is None else self._loss_plan(val[1])[1]
        engine.set_loss(loss_name, metric)
        rule = self._training_rule("fit")
        n = features.shape[0]
        batch_size = min(batch_size, n)  # as Keras: a batch larger than the data is all of it
        steps = math.ceil(n / batch_size)
        previous_history = self.history
        self.history = History()
        # History after the user's callbacks, as Keras: it records what they add to the logs;
        # then the progress bar (unless the user gave one), which prints them
        user = list(callbacks or [])
        progbar = [] if not verbose or any(isinstance(cb, ProgbarLogger) for cb in user) else [ProgbarLogger()]
        callback_list = CallbackList([*user, self.history, *progbar], cast("Model", self),
                                     {"epochs": epochs, "steps": steps, "verbose": verbose})
        batch_hooks = any(wants_batch_hooks(cb) for cb in callback_list.callbacks)
        self.stop_training = False
        rng = seeding.generator()
        pace = _Pace()
        engine.publish()
        # what an error in x found by the first epoch's steps puts back, as if x had been checked
        # before the call
        start = (engine.published, rule.get_state(), rng.bit_generator.state, previous_history) if x_in_steps else None
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            order = rng.permutation(n).astype(np.int64) if shuffle else None
            # dropout masks: one seed an epoch, drawn only by models that have dropout
            seed = int(rng.integers(2 ** 63)) if engine.has_dropout else 0
            try:
                loss_sum, acc_sum, count = self._train_epoch(
                    engine, rule, (features, labels, targets, seed, weights), order, batch_size, steps, epoch,
                    callback_list, pace, batch_hooks, check_x=start is not None and epoch == initial_epoch)
            except FloatingPointError as exc:
                if not any(isinstance(cb, TerminateOnNaN) for cb in callback_list.callbacks):
                    raise
                print(f"{exc}", file=sys.stdout)  # TerminateOnNaN: stop quietly, weights kept
                break
            except InputNotFinite:
                assert start is not None  # only the steps of a call that left x to them check it
                published, rule_state, rng_state, self.history = start
                engine.restore(published)
                rule.set_state(*rule_state)
                rng.bit_generator.state = rng_state
                _data.check_finite(features, "x")  # raises, naming the first bad element
                raise  # (x changed during the call)
            logs = self._logs(loss_sum, acc_sum, count)
            if val is not None and (epoch + 1) % validation_freq == 0:
                v_loss, v_acc = engine.evaluate(val[0], val[1], val[2], val_batch, loss_name, val_metric,
                                                val_weights)
                logs.update(self._logs(v_loss, v_acc, val[0].shape[0], "val_"))
            callback_list.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        callback_list.on_train_end()
        return self.history

    def _train_epoch(self, engine: "Engine", rule: UpdateRule, data: _EpochData,
                     order: Optional[np.ndarray], batch_size: int, steps: int, epoch: int,
                     callback_list: CallbackList, pace: _Pace,
                     batch_hooks: bool, check_x: bool = False) -> tuple[float, np.ndarray, int]:
        """The steps of one epoch in slices (of one step each when a callback has batch
        hooks); returns (loss sum, accuracy sum, samples). check_x: the steps check x's rows
        as they gather them (engine.train), raising InputNotFinite."""
        features, labels, targets, seed, weights = data
        loss_sum = 0.0
        acc_sum = np.zeros(len(self._metrics))
        count = first = 0
        rule_checkpoint = rule.get_state()  # with engine.published: the weights of step `first`
        try:
            while first < steps:
                n = 1 if batch_hooks else min(pace.steps, steps - first)
                if batch_hooks:
                    callback_list.on_train_batch_begin(first, logs={})
                started = time.perf_counter()
                part_loss, part_acc, part_count, bad_step = engine.train(
                    features, labels, targets, order, first, n, batch_size, rule, seed, weights, check_x)
                pace.update(n, time.perf_counter() - started)
                if bad_step >= 0 or not engine.finite(rule):
                    self._fall_back(engine, rule, rule_checkpoint, data, order, batch_size,
                                    first, n, bad_step, epoch, steps)
                engine.publish()
                rule_checkpoint = rule.get_state()
                loss_sum += part_loss
                acc_sum += np.asarray(part_acc, dtype=np.float64)
                count += part_count
                first += n
                logs = self._logs(loss_sum, acc_sum, count)
                if batch_hooks:
                    callback_list.on_train_batch_end(first - 1, logs=logs)
                    if self.stop_training:
                        break
                callback_list.on_progress(first, logs)
        except KeyboardInterrupt:
            # Ctrl-C lands between compiled calls, each whole: keep the weights of the last
            # completed step (or the checkpoint, if that step left them non-finite)
            if engine.finite(rule):
                engine.publish()
            else:
                _rewind(engine, rule, rule_checkpoint)
            raise
        return loss_sum, acc_sum, count

    def _fall_back(self, engine: "Engine", rule: UpdateRule, rule_checkpoint: RuleState,
                   data: _EpochData, order: Optional[np.ndarray], batch_size: int, first: int,
                   n: int, bad_step: int, epoch: int, steps: int) -> NoReturn:
        """After a loss or weights that are not finite: keep the last finite weights and
        optimizer state, then raise FloatingPointError saying which they are."""
        features, labels, targets, seed, weights = data
        if bad_step >= 0 and engine.finite(rule):
            last_good = bad_step - 1  # the step that failed was not applied
        else:
            # back to the checkpoint of this slice, then replay it a step at a time (the same
            # batches, so the same weights) up to the last one whose weights are finite
            _rewind(engine, rule, rule_checkpoint)
            last_good = first - 1
            for step in range(first, bad_step if bad_step >= 0 else first + n):
                saved = rule.get_state()
                bad = engine.train(features, labels, targets, order, step, 1, batch_size, rule, seed,
                                   weights)[3]
                if bad >= 0 or not engine.finite(rule):
                    _rewind(engine, rule, saved)
                    break
                engine.publish()
                last_good = step
        engine.publish()
        what = "loss" if bad_step >= 0 else "weights"
        where = f"step {bad_step + 1}" if bad_step >= 0 else f"one of steps {first + 1}-{first + n}"
        kept = (f"those after step {last_good + 1}" if last_good >= 0 else "those it had at the start")
        raise FloatingPointError(
            f"The {what} became NaN or infinite at epoch {epoch + 1}, {where} of {steps}; "
            f"training stopped. The model keeps its last finite weights and optimizer state, "
            f"{kept} of epoch {epoch + 1}. Lower the learning rate, scale the inputs, or check "
            "the data.")

    # ----- evaluate / predict -------------------------------------------------------------------
    def evaluate(self, x: Optional[ArrayLike] = None, y: Optional[ArrayLike] = None,
                 batch_size: Optional[int] = None, verbose: Union[str, int] = "auto",
                 sample_weight: Optional[ArrayLike] = None, return_dict: bool = False,
                 **kwargs: Any) -> Results:
        """Loss (and metric) of the model on (x, y).

        Args:
            x: inputs, as for fit().
            y: targets, as for fit().
            batch_size: default 32.
            verbose: 'auto' (= 1), 0 or 1.
            sample_weight: (N,) weights of the samples' losses.
            return_dict: return {'loss': ..., metric: ...} instead.

        Returns:
            The scalar loss without metrics, else [loss, metric] (as Keras).

        Raises:
            FloatingPointError: the loss is NaN or infinite (the outputs overflow).
            ValueError: bad input, x's NaN or infinity included (named by its first index).
        """
        if kwargs:
            raise TypeError(f"evaluate() got unexpected keyword argument(s) {sorted(kwargs)}")
        if not self.compiled:
            raise RuntimeError("You must call compile() before evaluate().")
        batch_size = 32 if batch_size is None else positive_int("batch_size", batch_size)
        verbose = verbosity(verbose)
        # x's NaN and infinity are left to the passes, which read x anyway (one read of x less
        # a call: 10-13% of an evaluate call of M1 over Fashion-MNIST's test set)
        features, labels, targets = self._prepare(x, y, check_x=False)
        weights = _data.as_sample_weights(sample_weight, None, None, features.shape[0], self.engine.dtype)
        loss_name, metric = self._loss_plan(labels)
        bar = Progbar(math.ceil(features.shape[0] / batch_size), verbose)
        loss_sum, acc_sum = self.engine.evaluate(features, labels, targets, batch_size, loss_name,
                                                  metric, weights, check_x=True)
        logs = self._logs(loss_sum, acc_sum, features.shape[0])
        if not math.isfinite(logs["loss"]):
            raise FloatingPointError(f"The loss of model {self.name!r} on these data is "
                                     f"{logs['loss']}: its outputs overflow. Scale the inputs.")
        bar.finish(logs)
        return self._results(logs, return_dict)

    def predict(self, x: ArrayLike, batch_size: Optional[int] = None,
                verbose: Union[str, int] = "auto", **kwargs: Any) -> np.ndarray:
        """Outputs of the model for x, shape (N, units), in the model's dtype (float32).

        Safe to call from many threads at once, also while fit runs in another thread.

        Args:
            x: inputs, shape (N, *input_shape).
            batch_size: default 32 (the result does not depend on it).
            verbose: 'auto' (= 1), 0 or 1.
        """
        if kwargs:
            raise TypeError(f"predict() got unexpected keyword argument(s) {sorted(kwargs)}")
        batch_size = 32 if batch_size is None else positive_int("batch_size", batch_size)
        verbose = verbosity(verbose)
        features = self._features(x, check=False)
        bar = Progbar(math.ceil(features.shape[0] / batch_size), verbose)
        out = self.engine.predict(features, batch_size, check_x=True)
        bar.finish()
        return out

    def _training_rule(self, what: str) -> UpdateRule:
        """The optimizer's compiled rule over the engine's trainable weights (made on first use
        and after the weights' layout changes)."""
        engine = self.engine
        if engine.trainable_size == 0:
            raise ValueError(f"Model {self.name!r} has no trainable weights (every layer with "
                             f"weights has trainable=False): there is nothing for {what} to train.")
        if self._rule is None or self._rule.size != engine.trainable_size:
            self._rule = engine.new_rule(self.optimizer)
        return self._rule

    def _results(self, logs: Logs, return_dict: bool) -> Results:
        """What evaluate-like methods return: the logs, or the loss, or [loss, *metrics]."""
        if return_dict:
            return logs
        if not self._metrics:
            return logs["loss"]
        return [logs["loss"]] + [logs[spec.key] for spec in self._metrics]

    def train_on_batch(self, x: ArrayLike, y: Optional[ArrayLike] = None,
                       sample_weight: Optional[ArrayLike] = None,
                       class_weight: Optional[dict[int, float]] = None,
                       return_dict: bool = False) -> Results:
        """One optimizer step on (x, y) as a single batch.

        Args:
            x: inputs, as for fit().
            y: targets, as for fit().
            sample_weight: (N,) weights of the samples' losses.
            class_weight: {class index: weight}.
            return_dict: return {'loss': ..., metric: ...}.

        Returns:
            The loss of the batch (before the step), or [loss, *metrics], as evaluate; the
            metrics are this batch's alone.

        Raises:
            FloatingPointError: the loss or the weights became NaN or infinite; the step is
                undone.
        """
        if not self.compiled:
            raise RuntimeError("You must call compile() before train_on_batch().")
        with self._writing("train_on_batch()", training=True):
            features, labels, targets = self._prepare(x, y)
            weights = _data.as_sample_weights(sample_weight, class_weight, y, features.shape[0],
                                              self.engine.dtype)
            engine = self.engine
            loss_name, metric = self._loss_plan(labels)
            engine.set_loss(loss_name, metric)
            rule = self._training_rule("train_on_batch")
            seed = int(seeding.generator().integers(2 ** 63)) if engine.has_dropout else 0
            checkpoint = rule.get_state()
            n = features.shape[0]
            loss_sum, sums, count, bad = engine.train(features, labels, targets, None, 0, 1, n,
                                                      rule, seed, weights)
            if bad >= 0 or not engine.finite(rule):
                _rewind(engine, rule, checkpoint)
                raise FloatingPointError(f"The {'loss' if bad >= 0 else 'weights'} became NaN or "
                                         "infinite in train_on_batch; the step was undone. Lower "
                                         "the learning rate or scale the inputs.")
            engine.publish()
        return self._results(self._logs(loss_sum, sums, count), return_dict)

    def test_on_batch(self, x: ArrayLike, y: Optional[ArrayLike] = None,
                      sample_weight: Optional[ArrayLike] = None, return_dict: bool = False) -> Results:
        """The loss (and metrics) of the model on (x, y) as a single batch.

        Args:
            x: inputs, as for fit().
            y: targets, as for fit().
            sample_weight: (N,) weights of the samples' losses.
            return_dict: return {'loss': ..., metric: ...}.
        """
        if not self.compiled:
            raise RuntimeError("You must call compile() before test_on_batch().")
        features, labels, targets = self._prepare(x, y, check_x=False)
        weights = _data.as_sample_weights(sample_weight, None, None, features.shape[0], self.engine.dtype)
        loss_name, metric = self._loss_plan(labels)
        loss_sum, sums = self.engine.evaluate(features, labels, targets, max(1, features.shape[0]),
                                              loss_name, metric, weights, check_x=True)
        return self._results(self._logs(loss_sum, sums, features.shape[0]), return_dict)

    def predict_on_batch(self, x: ArrayLike) -> np.ndarray:
        """Outputs for x as one batch, without progress output (large inputs run in passes of
        bounded scratch).

        Args:
            x: inputs, shape (N, *input_shape); a C-contiguous finite array of the model's
                dtype takes a fast path with no conversion.
        """
        engine = self._engine
        if engine is not None:
            # the common case (a C-contiguous finite array of the input shape and the model's
            # dtype) in one compiled call: its checks in C, no conversion
            out = engine.network.predict_published(x)
            if out is not None:
                return out
        return self._predict_converted(x)

    def _predict_converted(self, x: ArrayLike) -> np.ndarray:
        """predict_on_batch for what its one compiled call declined: converted and checked
        (building a model given no input shape), then split across threads if large."""
        features = self._features(x, check=False)
        return self.engine.predict(features, max(1, features.shape[0]), check_x=True)

    def __call__(self, x: ArrayLike, training: Optional[bool] = None, mask: Any = None) -> np.ndarray:
        """model(x): the outputs for x as one batch (NumPy in, NumPy out), as predict_on_batch.

        Args:
            x: inputs, shape (N, *input_shape).
            training: None or False: inference (Dropout passes its inputs through,
                BatchNormalization uses its moving statistics). True: the same outputs where no
                layer behaves otherwise in training; a model with Dropout (rate > 0) or a
                trainable BatchNormalization raises NotImplementedError (training-mode passes
                run inside fit and train_on_batch).
            mask: None; fastmlp's layers take no masks.
        """
        if (training is None or training is False) and mask is None:
            engine = self._engine
            if engine is not None:
                # predict_on_batch's one compiled call, made here: a Python frame less
                # (0.1-0.2 µs of a 3.5 µs one-sample call, all of it holding the GIL)
                out = engine.network.predict_published(x)
                if out is not None:
                    return out
            return self._predict_converted(x)
        return self._call_with_options(x, training, mask)

    def _call_with_options(self, x: ArrayLike, training: Optional[bool], mask: Any) -> np.ndarray:
        if mask is not None:
            raise ValueError("fastmlp's layers take no masks: call the model with mask=None. "
                             f"Received: mask of type {type(mask).__name__}")
        if training not in (None, False, True):
            raise ValueError(f"`training` must be None, True or False. Received: training={training!r}")
        out = self.predict_on_batch(x)  # builds a model given no input shape
        if training and self.engine.training_differs:
            raise NotImplementedError(
                "model(x, training=True) on a model with Dropout or a trainable "
                "BatchNormalization layer is not supported: fastmlp runs training-mode passes "
                "inside fit() and train_on_batch(). Call model(x) or model(x, training=False) "
                "for inference.")
        return out


def _rewind(engine: "Engine", rule: UpdateRule, rule_state: RuleState) -> None:
    """Back to the last published weights and the optimizer state saved with them."""
    engine.restore(engine.published)
    rule.set_state(*rule_state)
