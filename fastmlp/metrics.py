"""Accuracy metrics, resolved as Keras resolves them.

`metrics='accuracy'` (or 'acc') becomes binary accuracy for a one-unit output, sparse
categorical accuracy when the targets are class indices, else categorical accuracy. The
metric is computed inside the compiled training loop; its code selects the kernel.
"""
from typing import List, Optional, Sequence, Union

import numpy as np

SPARSE, CATEGORICAL, BINARY = ("sparse_categorical_accuracy", "categorical_accuracy",
                               "binary_accuracy")
_EXPLICIT = (SPARSE, CATEGORICAL, BINARY)
_AUTO = ("accuracy", "acc")


def parse(metrics: Union[None, str, Sequence[str]]) -> Optional[str]:
    """Validates compile()'s `metrics` and returns the one metric name (or None)."""
    if metrics is None:
        return None
    names: List = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        return None
    supported = list(_AUTO) + sorted(_EXPLICIT)
    for name in names:
        if not isinstance(name, str) or name not in supported:
            raise ValueError(f"Unknown metric: expected names from {supported}. Received: metrics={metrics!r}")
    if len(names) > 1:
        raise ValueError(f"fastmlp computes one accuracy metric per model. Received: metrics={metrics!r}")
    return names[0]


def resolve(name: Optional[str], n_outputs: int, sparse_targets: bool) -> Optional[str]:
    """The accuracy computed for a metric name, given the output width and the target form."""
    if name is None:
        return None
    if name in _EXPLICIT:
        kind = name
        if kind == SPARSE and not sparse_targets:
            raise ValueError("sparse_categorical_accuracy needs integer class labels as y.")
        if kind != SPARSE and sparse_targets and n_outputs > 1:
            raise ValueError(f"{name} needs one-hot targets y of width {n_outputs}, not class labels.")
        return kind
    if n_outputs == 1:
        return BINARY
    return SPARSE if sparse_targets else CATEGORICAL


def accuracy(kind: str, y_true, y_pred) -> np.ndarray:
    """Per-sample accuracy in NumPy (reference of the compiled metric)."""
    p = np.asarray(y_pred)
    if kind == SPARSE:
        return (np.argmax(p, axis=-1) == np.asarray(y_true).reshape(-1)).astype(np.float64)
    if kind == CATEGORICAL:
        return (np.argmax(p, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float64)
    y = np.asarray(y_true, dtype=np.float64).reshape(p.shape)
    return np.mean(y == (p > 0.5), axis=-1)
