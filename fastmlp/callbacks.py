"""Callbacks called by fit() at epoch boundaries, as in Keras, and the History it returns.

The training steps of an epoch run inside one compiled loop, so batch-level hooks are not
called; epoch and train hooks are.
"""
from typing import Dict, List, Optional


class Callback:
    """Base class: override the hooks you need. `self.model` is set before training starts."""

    def __init__(self):
        self.model = None
        self.params: Dict = {}

    def set_model(self, model) -> None:
        """Called by fit() with the model being trained."""
        self.model = model

    def set_params(self, params: Dict) -> None:
        """Called by fit() with {'epochs', 'steps', 'verbose'}."""
        self.params = params

    def on_train_begin(self, logs: Optional[Dict] = None) -> None:
        """Called once before the first epoch."""

    def on_train_end(self, logs: Optional[Dict] = None) -> None:
        """Called once after the last epoch."""

    def on_epoch_begin(self, epoch: int, logs: Optional[Dict] = None) -> None:
        """Called at the start of each epoch (0-based index)."""

    def on_epoch_end(self, epoch: int, logs: Optional[Dict] = None) -> None:
        """Called at the end of each epoch with its logs: loss, metrics, val_ versions."""


class History(Callback):
    """Records the logs of every epoch: `history.history['loss']` is a list, one per epoch.

    Attributes:
        history: dict from log name to the list of its per-epoch values.
        epoch: list of the epoch indices recorded.
    """

    def __init__(self):
        super().__init__()
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class CallbackList:
    """Calls each hook on every callback of the list, in order."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be fastmlp.callbacks.Callback objects. Received: {cb!r}")
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook):
        def call(*args, **kwargs):
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)
        return call
