"""Losses with Keras's names and formulas.

Calling a loss object computes the mean loss in NumPy; inside a model the loss runs in the
compiled loss kernel (fused with a softmax or sigmoid output), selected by `code`.
"""
from typing import Optional, Union

import numpy as np

from fastmlp._typing import ArrayLike
from fastmlp.config import epsilon


class Loss:
    """Base class. Args: from_logits (only False), reduction ('sum_over_batch_size'), name."""
    default_name = "loss"
    sparse_targets = False  # True: y holds class indices, not rows like the output

    def __init__(self, from_logits: bool = False, reduction: str = "sum_over_batch_size",
                 name: Optional[str] = None) -> None:
        if from_logits:
            raise ValueError(f"{type(self).__name__}(from_logits=True) is not supported: give the "
                             "last Dense layer a softmax or sigmoid activation instead, and fastmlp "
                             "fuses it with the loss.")
        if reduction not in ("sum_over_batch_size", "auto"):
            raise ValueError(f"Only reduction='sum_over_batch_size' is supported. Received: reduction={reduction!r}")
        self.name = name or self.default_name

    def per_sample(self, y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
        """Per-sample loss values, shape (batch,)."""
        raise NotImplementedError

    def __call__(self, y_true: ArrayLike, y_pred: ArrayLike) -> float:
        """Mean of the per-sample losses."""
        return float(np.mean(self.per_sample(y_true, y_pred)))


def _normalised_clipped(y_pred: ArrayLike) -> np.ndarray:
    p = np.asarray(y_pred, dtype=np.float64)
    p = p / np.sum(p, axis=-1, keepdims=True)
    return np.asarray(np.clip(p, epsilon(), 1 - epsilon()))


class SparseCategoricalCrossentropy(Loss):
    """−log p[label], labels as integers (N,) and probabilities (N, classes)."""
    sparse_targets = True
    default_name = "sparse_categorical_crossentropy"

    def per_sample(self, y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
        p = _normalised_clipped(y_pred)
        labels = np.asarray(y_true).reshape(-1).astype(np.int64)
        return np.asarray(-np.log(p[np.arange(len(labels)), labels]))


class CategoricalCrossentropy(Loss):
    """−Σ y·log p, one-hot (or soft) targets (N, classes)."""
    default_name = "categorical_crossentropy"

    def per_sample(self, y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
        return np.asarray(-np.sum(np.asarray(y_true, dtype=np.float64) * np.log(_normalised_clipped(y_pred)), axis=-1))


class BinaryCrossentropy(Loss):
    """−mean(y·log p + (1 − y)·log(1 − p)) over the last axis."""
    default_name = "binary_crossentropy"

    def per_sample(self, y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
        p = np.clip(np.asarray(y_pred, dtype=np.float64), epsilon(), 1 - epsilon())
        y = np.asarray(y_true, dtype=np.float64).reshape(p.shape)
        return np.asarray(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=-1))


class MeanSquaredError(Loss):
    """mean((y − p)²) over the last axis."""
    default_name = "mean_squared_error"

    def per_sample(self, y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
        p = np.asarray(y_pred, dtype=np.float64)
        return np.asarray(np.mean((np.asarray(y_true, dtype=np.float64).reshape(p.shape) - p) ** 2, axis=-1))


class MeanAbsoluteError(Loss):
    """mean(|y − p|) over the last axis."""
    default_name = "mean_absolute_error"

    def per_sample(self, y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
        p = np.asarray(y_pred, dtype=np.float64)
        return np.asarray(np.mean(np.abs(np.asarray(y_true, dtype=np.float64).reshape(p.shape) - p), axis=-1))


def sparse_categorical_crossentropy(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """Per-sample sparse categorical cross-entropy (see SparseCategoricalCrossentropy)."""
    return SparseCategoricalCrossentropy().per_sample(y_true, y_pred)


def categorical_crossentropy(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """Per-sample categorical cross-entropy (see CategoricalCrossentropy)."""
    return CategoricalCrossentropy().per_sample(y_true, y_pred)


def binary_crossentropy(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """Per-sample binary cross-entropy (see BinaryCrossentropy)."""
    return BinaryCrossentropy().per_sample(y_true, y_pred)


def mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """Per-sample mean squared error (see MeanSquaredError)."""
    return MeanSquaredError().per_sample(y_true, y_pred)


def mean_absolute_error(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """Per-sample mean absolute error (see MeanAbsoluteError)."""
    return MeanAbsoluteError().per_sample(y_true, y_pred)


mse = mean_squared_error
mae = mean_absolute_error

_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
}
_BY_FUNCTION = {
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
}


def get(identifier: Union[str, Loss]) -> Loss:
    """Returns the Loss for a Keras name, one of this module's functions, or a Loss object."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if callable(identifier) and identifier in _BY_FUNCTION:
        return _BY_FUNCTION[identifier]()
    raise ValueError(f"Unknown loss: expected one of {sorted(_BY_NAME)} or a fastmlp.losses "
                     f"object. Received: loss={identifier!r}")
