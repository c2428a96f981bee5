"""Metrics, resolved as Keras resolves them, computed inside the compiled loops.

`metrics='accuracy'` (or 'acc') becomes binary accuracy for a one-unit output, sparse
categorical accuracy when the targets are class indices, else categorical accuracy. The other
names ('mse', 'mae', 'top_k_categorical_accuracy', ...) and the metric objects below name
their kernels directly. Each metric is logged under the name it was given ('acc' stays 'acc'),
a repeated name with _1, _2, ... as Keras does.
"""
from collections.abc import Sequence
from typing import Any, NamedTuple, Optional, Union

import numpy as np

from fastmlp._typing import ArrayLike, Config, DTypeLike

SPARSE, CATEGORICAL, BINARY = ("sparse_categorical_accuracy", "categorical_accuracy",
                               "binary_accuracy")
MSE, MAE = "mean_squared_error", "mean_absolute_error"
TOP_K, SPARSE_TOP_K = "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy"
_AUTO = ("accuracy", "acc")
# every name compile() takes -> the kernel it selects (None: an accuracy chosen by the targets)
_NAMES = {"accuracy": None, "acc": None, SPARSE: SPARSE, CATEGORICAL: CATEGORICAL, BINARY: BINARY,
          MSE: MSE, "mse": MSE, MAE: MAE, "mae": MAE, TOP_K: TOP_K, SPARSE_TOP_K: SPARSE_TOP_K}


class Metric:
    """Base of the metric objects: a kernel (`kind`), its `k` and the name it is logged as."""
    kind: Optional[str] = None
    default_name = "metric"

    def __init__(self, name: Optional[str] = None, dtype: DTypeLike = None) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"A metric's name must be a non-empty string. Received: name={name!r}")
        self.name = name or self.default_name
        self.k = 5

    def get_config(self) -> Config:
        return {"name": self.name}


class MeanSquaredError(Metric):
    """Mean of (y_pred − y_true)² over the outputs, averaged over the samples."""
    kind, default_name = MSE, MSE


class MeanAbsoluteError(Metric):
    """Mean of |y_pred − y_true| over the outputs, averaged over the samples."""
    kind, default_name = MAE, MAE


class SparseCategoricalAccuracy(Metric):
    """Whether the largest output is at the class label."""
    kind, default_name = SPARSE, SPARSE


class CategoricalAccuracy(Metric):
    """Whether the largest output is where the one-hot target's largest is."""
    kind, default_name = CATEGORICAL, CATEGORICAL


class BinaryAccuracy(Metric):
    """Whether each output, thresholded at 0.5, equals its 0/1 target (mean over outputs).

    Args:
        threshold: only 0.5.
    """
    kind, default_name = BINARY, BINARY

    def __init__(self, name: Optional[str] = None, dtype: DTypeLike = None, threshold: float = 0.5) -> None:
        super().__init__(name, dtype)
        if threshold != 0.5:
            raise ValueError(f"BinaryAccuracy supports threshold=0.5 only. Received: threshold={threshold!r}")


class TopKCategoricalAccuracy(Metric):
    """Whether the target's class (one-hot) is among the k largest outputs.

    Args:
        k: 5.
    """
    kind, default_name = TOP_K, TOP_K

    def __init__(self, k: int = 5, name: Optional[str] = None, dtype: DTypeLike = None) -> None:
        super().__init__(name, dtype)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"Argument `k` must be a positive integer. Received: k={k!r}")
        self.k = int(k)

    def get_config(self) -> Config:
        return {"name": self.name, "k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """Whether the class label is among the k largest outputs.

    Args:
        k: 5.
    """
    kind, default_name = SPARSE_TOP_K, SPARSE_TOP_K


_CLASSES = {cls.__name__: cls for cls in (MeanSquaredError, MeanAbsoluteError, SparseCategoricalAccuracy,
                                          CategoricalAccuracy, BinaryAccuracy, TopKCategoricalAccuracy,
                                          SparseTopKCategoricalAccuracy)}


class MetricSpec(NamedTuple):
    """One compiled metric: the key it is logged under, its kernel (None: accuracy by the
    targets), k, and what compile() was given (for saving)."""
    key: str
    kind: Optional[str]
    k: int
    given: object


MetricsLike = Union[str, Metric, dict[str, Any], Sequence[Union[str, Metric, dict[str, Any]]], None]
"""What compile()'s `metrics` takes: a name, a Metric, a saved {class_name, config}, a list of them, None."""


def parse(metrics: MetricsLike) -> list[MetricSpec]:
    """Validates compile()'s `metrics` and returns one spec per metric, in order."""
    if metrics is None:
        return []
    items = [metrics] if isinstance(metrics, (str, Metric, dict)) else list(metrics)
    specs: list[MetricSpec] = []
    used: dict[str, int] = {}
    for item in items:
        if isinstance(item, dict):  # a saved metric object, {"class_name", "config"}
            cls = _CLASSES.get(str(item.get("class_name")))
            if cls is None:
                raise ValueError(f"Unknown metric {item.get('class_name')!r}; fastmlp has {sorted(_CLASSES)}")
            item = cls(**(item.get("config") or {}))
        if isinstance(item, Metric):
            key, kind, k = item.name, item.kind, item.k
        elif isinstance(item, str) and item in _NAMES:
            key, kind, k = item, _NAMES[item], 5
        else:
            raise ValueError(f"Unknown metric: expected names from {sorted(_NAMES)} or fastmlp.metrics "
                             f"objects. Received: metrics={metrics!r}")
        n = used.get(key, 0)
        used[key] = n + 1
        specs.append(MetricSpec(key if n == 0 else f"{key}_{n}", kind, k, item))
    if len(specs) > 8:
        raise ValueError(f"fastmlp computes up to 8 metrics per model. Received {len(specs)}")
    return specs


def serialize(spec: MetricSpec) -> object:
    """What compile() was given, as a file stores it: the name, or {class_name, config}."""
    if isinstance(spec.given, Metric):
        return {"module": "keras.metrics", "class_name": type(spec.given).__name__,
                "config": spec.given.get_config(), "registered_name": None}
    return spec.given


def resolve(kind: Optional[str], n_outputs: int, sparse_targets: bool) -> str:
    """The kernel computed for a metric, given the output width and the target form."""
    if kind is None:  # 'accuracy': Keras picks by the output width and the targets
        if n_outputs == 1:
            return BINARY
        return SPARSE if sparse_targets else CATEGORICAL
    if kind in (SPARSE, SPARSE_TOP_K) and not sparse_targets:
        raise ValueError(f"{kind} needs integer class labels as y.")
    if kind in (CATEGORICAL, TOP_K, MSE, MAE) and sparse_targets:
        raise ValueError(f"{kind} needs targets y of width {n_outputs} like the output, not class labels.")
    if kind == BINARY and sparse_targets and n_outputs > 1:
        raise ValueError(f"{kind} from class labels needs a one-unit output.")
    return kind


def accuracy(kind: str, y_true: ArrayLike, y_pred: ArrayLike, k: int = 5) -> np.ndarray:
    """Per-sample metric values in NumPy (reference of the compiled metrics)."""
    p = np.asarray(y_pred, dtype=np.float64)
    if kind == SPARSE:
        return np.asarray((np.argmax(p, axis=-1) == np.asarray(y_true).reshape(-1)).astype(np.float64))
    if kind == CATEGORICAL:
        return np.asarray((np.argmax(p, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float64))
    if kind in (TOP_K, SPARSE_TOP_K):
        target = np.asarray(y_true).reshape(-1) if kind == SPARSE_TOP_K else np.argmax(y_true, axis=-1)
        above = (p > p[np.arange(len(p)), target][:, None]).sum(axis=-1)
        return np.asarray((above < k).astype(np.float64))
    y = np.asarray(y_true, dtype=np.float64).reshape(p.shape)
    if kind == MSE:
        return np.asarray(np.mean((p - y) ** 2, axis=-1))
    if kind == MAE:
        return np.asarray(np.mean(np.abs(p - y), axis=-1))
    return np.asarray(np.mean(y == (p > 0.5), axis=-1))
