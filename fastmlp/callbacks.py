"""Callbacks called by fit(), as in Keras, and the History it returns; EarlyStopping,
ModelCheckpoint, LearningRateScheduler, ReduceLROnPlateau, CSVLogger, LambdaCallback,
TerminateOnNaN and ProgbarLogger follow Keras 3's rules.

The training steps of an epoch run many to a compiled call. Batch hooks
(on_train_batch_begin/end) are called when a callback overrides them: fit then runs one step
a call, so that each hook sees its batch; when none does, they cost nothing.
"""
import csv
import math
import sys
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np

from fastmlp._typing import Logs, PathLike
from fastmlp.progbar import Progbar

if TYPE_CHECKING:
    from fastmlp.models import Model

# LambdaCallback's functions: (epoch or batch, logs) and (logs)
EpochHook = Callable[[int, Optional[Logs]], object]
TrainHook = Callable[[Optional[Logs]], object]


class Callback:
    """Base class: override the hooks you need. `self.model` is set before training starts."""

    def __init__(self) -> None:
        self.model: Any = None  # the model being trained, set by fit (set_model)
        self.params: dict[str, Any] = {}

    def set_model(self, model: "Model") -> None:
        """Called by fit() with the model being trained."""
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """Called by fit() with {'epochs', 'steps', 'verbose'}."""
        self.params = params

    def on_train_begin(self, logs: Optional[Logs] = None) -> None:
        """Called once before the first epoch."""

    def on_train_end(self, logs: Optional[Logs] = None) -> None:
        """Called once after the last epoch."""

    def on_epoch_begin(self, epoch: int, logs: Optional[Logs] = None) -> None:
        """Called at the start of each epoch (0-based index)."""

    def on_epoch_end(self, epoch: int, logs: Optional[Logs] = None) -> None:
        """Called at the end of each epoch with its logs: loss, metrics, val_ versions."""

    def on_progress(self, steps_done: int, logs: Optional[Logs] = None) -> None:
        """Called by fit after each compiled call (many steps) with the epoch's running logs."""

    def on_train_batch_begin(self, batch: int, logs: Optional[Logs] = None) -> None:
        """Called before each training step (batch: its index in the epoch). Overriding it
        makes fit run one step per compiled call."""

    def on_train_batch_end(self, batch: int, logs: Optional[Logs] = None) -> None:
        """Called after each training step with the epoch's running loss and metrics.
        Overriding it makes fit run one step per compiled call."""


def wants_batch_hooks(callback: Callback) -> bool:
    """Whether a callback has its own on_train_batch_begin or on_train_batch_end."""
    return any(name in vars(callback) or getattr(type(callback), name) is not getattr(Callback, name)
               for name in ("on_train_batch_begin", "on_train_batch_end"))


class History(Callback):
    """Records the logs of every epoch: `history.history['loss']` is a list, one per epoch.

    Attributes:
        history: dict from log name to the list of its per-epoch values.
        epoch: list of the epoch indices recorded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Optional[Logs] = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Optional[Logs] = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class CallbackList:
    """Calls each hook on every callback of the list, in order."""

    def __init__(self, callbacks: Iterable[Callback], model: "Model", params: dict[str, Any]) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be fastmlp.callbacks.Callback objects. Received: {cb!r}")
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook: str) -> Callable[..., None]:
        def call(*args: Any, **kwargs: Any) -> None:
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)
        return call


def _monitor_op(monitor: str, mode: str, cls: str) -> Callable[[Any, Any], Any]:
    """np.less or np.greater for `mode` ('auto': greater for accuracies, else less), as Keras."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{cls}: mode must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
    if mode == "max" or (mode == "auto" and ("acc" in monitor or monitor.endswith("auc"))):
        return np.greater
    return np.less


class EarlyStopping(Callback):
    """Stops training when `monitor` has stopped improving.

    Args:
        monitor: the log to watch ('val_loss').
        min_delta: the least change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints when it stops.
        mode: 'auto', 'min' or 'max'.
        baseline: a value the monitor must beat (improvements that do not beat it do not reset
            the patience).
        restore_best_weights: at the end, go back to the weights of the best epoch.
        start_from_epoch: epochs to wait before watching.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: Optional[float] = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.monitor_op = _monitor_op(monitor, mode, "EarlyStopping")
        self.min_delta = abs(min_delta) * (1 if self.monitor_op is np.greater else -1)

    def _improves(self, value: float, reference: Optional[float]) -> bool:
        return reference is None or bool(self.monitor_op(value - self.min_delta, reference))

    def on_train_begin(self, logs: Optional[Logs] = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best: Optional[float] = None
        self.best_weights: Optional[list[np.ndarray]] = None

    def on_epoch_end(self, epoch: int, logs: Optional[Logs] = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping: the monitored {self.monitor!r} is not in the logs "
                          f"{sorted(logs or {})}", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improves(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Optional[Logs] = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Saves the model (or its weights) after epochs, through fastmlp's or Keras's model files.

    Args:
        filepath: where to save; may hold `{epoch:02d}` and log names (`{val_loss:.2f}`). Its
            ending gives the format: `.fastmlp` or `.keras` (`.weights.fastmlp` or `.weights.h5`
            with save_weights_only).
        monitor: the log that decides what is best ('val_loss').
        verbose: 1 prints each save.
        save_best_only: save only when `monitor` improves.
        save_weights_only: save the weights alone.
        mode: 'auto', 'min' or 'max'.
        save_freq: only 'epoch'.
        initial_value_threshold: the value to beat for the first save (with save_best_only).
    """

    def __init__(self, filepath: PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str = "epoch", initial_value_threshold: Optional[float] = None) -> None:
        super().__init__()
        if save_freq != "epoch":
            raise ValueError("ModelCheckpoint(save_freq=...) supports 'epoch' only (fastmlp's steps "
                             f"run in compiled loops). Received: save_freq={save_freq!r}")
        name = str(filepath)
        if save_weights_only and not name.endswith((".weights.fastmlp", ".weights.h5")):
            raise ValueError("With save_weights_only=True the filepath must end in '.weights.fastmlp' "
                             f"or '.weights.h5'. Received: filepath={name!r}")
        if not save_weights_only and not name.endswith((".fastmlp", ".keras")):
            raise ValueError(f"The filepath must end in '.fastmlp' or '.keras'. Received: filepath={name!r}")
        self.filepath, self.monitor, self.verbose = name, monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.monitor_op = _monitor_op(monitor, mode, "ModelCheckpoint")
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch: int, logs: Optional[Logs] = None) -> None:
        logs = logs or {}
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: the monitored {self.monitor!r} is not in the logs", stacklevel=2)
                return
            if self.best is not None and not self.monitor_op(current, self.best):
                return
            self.best = current
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at the start of each epoch to schedule(epoch, lr).

    Args:
        schedule: function (epoch index, current learning rate) -> new learning rate.
        verbose: 1 prints each change.
    """

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch: int, logs: Optional[Logs] = None) -> None:
        lr = float(self.schedule(epoch, float(self.model.optimizer.learning_rate)))
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"LearningRateScheduler: the schedule gave {lr!r} for epoch {epoch}; "
                             "it must give a positive number")
        self.model.optimizer.learning_rate = lr
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch: int, logs: Optional[Logs] = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` when `monitor` has stopped improving.

    Args:
        monitor: the log to watch ('val_loss').
        factor: the multiplier, in (0, 1).
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: 'auto', 'min' or 'max'.
        min_delta: the least change that counts as an improvement.
        cooldown: epochs to wait after a reduction.
        min_lr: the smallest learning rate.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0,
                 min_lr: float = 0.0) -> None:
        super().__init__()
        if not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1). Received: factor={factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr
        self.mode = "max" if _monitor_op(monitor, mode, "ReduceLROnPlateau") is np.greater else "min"

    def _better(self, value: float) -> bool:
        if self.mode == "min":
            return bool(value < self.best - self.min_delta)
        return bool(value > self.best + self.min_delta)

    def on_train_begin(self, logs: Optional[Logs] = None) -> None:
        self.best = np.inf if self.mode == "min" else -np.inf
        self.wait = self.cooldown_counter = 0

    def on_epoch_end(self, epoch: int, logs: Optional[Logs] = None) -> None:
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"ReduceLROnPlateau: the monitored {self.monitor!r} is not in the logs", stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(self.model.optimizer.learning_rate)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Writes each epoch's logs to a CSV file: a header `epoch,<log names>`, then a row an epoch.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: add to an existing file instead of replacing it.
    """

    def __init__(self, filename: PathLike, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename, self.separator, self.append = str(filename), separator, append
        self.keys: Optional[list[str]] = None

    def on_train_begin(self, logs: Optional[Logs] = None) -> None:
        import os
        self._had_rows = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        # open across the epochs of a run (closed in on_train_end), not in a with block
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: Optional[Logs] = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch", *self.keys], delimiter=self.separator)
            if not self._had_rows:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self.keys}})
        self._file.flush()

    def on_train_end(self, logs: Optional[Logs] = None) -> None:
        self._file.close()


class LambdaCallback(Callback):
    """A callback from functions: on_epoch_begin(epoch, logs), on_epoch_end(epoch, logs),
    on_train_begin(logs), on_train_end(logs), on_train_batch_begin(batch, logs),
    on_train_batch_end(batch, logs)."""

    def __init__(self, on_epoch_begin: Optional[EpochHook] = None,
                 on_epoch_end: Optional[EpochHook] = None,
                 on_train_begin: Optional[TrainHook] = None, on_train_end: Optional[TrainHook] = None,
                 on_train_batch_begin: Optional[EpochHook] = None,
                 on_train_batch_end: Optional[EpochHook] = None, **kwargs: Any) -> None:
        super().__init__()
        # Keras 2's names of the train-batch hooks, which Keras 3 still calls
        on_train_batch_begin = on_train_batch_begin or kwargs.pop("on_batch_begin", None)
        on_train_batch_end = on_train_batch_end or kwargs.pop("on_batch_end", None)
        others = {k for k, v in kwargs.items() if v is not None}
        if others:
            raise ValueError(f"LambdaCallback({', '.join(sorted(others))}=...): fastmlp calls the epoch, "
                             "train and train-batch hooks (not the test or predict batch hooks)")
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                         ("on_train_batch_begin", on_train_batch_begin),
                         ("on_train_batch_end", on_train_batch_end)):
            if fn is not None:
                setattr(self, name, fn)


class TerminateOnNaN(Callback):
    """With this callback, a loss or weights that turn NaN or infinite end fit quietly (the model
    keeps its last finite weights, as always) instead of raising FloatingPointError."""


class ProgbarLogger(Callback):
    """Prints the progress bar and the epoch lines of fit (fit adds one itself when verbose
    is 1 or 2 and the callbacks hold none). It follows fit's compiled calls, not single
    batches, so it does not slow training down."""

    def __init__(self) -> None:
        super().__init__()
        self._bar: Optional[Progbar] = None

    def on_epoch_begin(self, epoch: int, logs: Optional[Logs] = None) -> None:
        verbose = self.params.get("verbose", 1) or 1
        print(f"Epoch {epoch + 1}/{self.params.get('epochs')}", file=sys.stdout)
        self._bar = Progbar(self.params.get("steps") or 1, verbose)

    def on_progress(self, steps_done: int, logs: Optional[Logs] = None) -> None:
        """Called by fit after each compiled call with the epoch's running logs."""
        if self._bar is not None:
            self._bar.update(steps_done, logs)

    def on_epoch_end(self, epoch: int, logs: Optional[Logs] = None) -> None:
        if self._bar is not None:
            self._bar.finish(logs)
            self._bar = None
