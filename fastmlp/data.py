"""Conversion of user arrays to what the engine reads, once per call (never per batch), with
the checks that turn bad input into a clear error."""
from typing import Any, Optional

import numpy as np

from fastmlp import config
from fastmlp._kernels.finite import all_finite
from fastmlp._typing import ArrayLike, DTypeLike
from fastmlp.parallel import run_parts

# The NaN/infinity check of a large array splits across config.num_threads() threads, each
# part this many elements or more (all_finite releases the GIL, and the check is bound by
# memory bandwidth, which a second core adds to): Fashion-MNIST's 47 M floats in 15.6 ms on one
# thread, 9.4 ms on two (Intel Xeon (Emerald Rapids) VM). fit leaves x to its steps, which check
# each row as they gather it, unless a callback has batch hooks (trainer.py).
FINITE_PART_MIN = 1 << 21


def _as_numeric_array(value: Any, name: str) -> np.ndarray:
    if value is None:
        raise ValueError(f"Argument `{name}` is required. Received: {name}=None")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"Argument `{name}` must be a numeric array. Received: {type(value).__name__} ({exc})") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Argument `{name}` must hold numbers (bool, int or float). Received dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"Argument `{name}` must have a batch dimension. Received a scalar: {name}={value!r}")
    if arr.shape[0] == 0:
        raise ValueError(f"Argument `{name}` is empty (shape {arr.shape}): there is nothing to process.")
    return arr


def _all_finite(arr: np.ndarray) -> bool:
    """all_finite(arr), a large C-contiguous array in parts on config.num_threads() threads."""
    parts = min(config.num_threads(), arr.size // FINITE_PART_MIN) if arr.flags.c_contiguous else 1
    if parts <= 1:
        return bool(all_finite(arr))
    flat = arr.reshape(-1)  # a view: arr is C-contiguous
    return all(run_parts(lambda start, stop: all_finite(flat[start:stop]), flat.size, parts))


def check_finite(arr: np.ndarray, name: str, first_row: int = 0) -> None:
    """Raises ValueError naming `name` and the index of arr's first NaN or infinity, if any
    (arr: `name`'s rows from first_row on, whose indices the message gives)."""
    if arr.dtype.kind == "f" and not _all_finite(arr):
        bad = [int(i) for i in np.argwhere(~np.isfinite(arr))[0]]
        bad[0] += first_row
        raise ValueError(f"Argument `{name}` contains NaN or infinity (first at index {tuple(bad)}).")


def as_features(x: Optional[ArrayLike], input_shape: tuple[int, ...], dtype: DTypeLike, name: str = "x",
                check: bool = True) -> np.ndarray:
    """x of shape (N, *input_shape), any numeric dtype -> C-contiguous (N, features) in dtype;
    check=False leaves NaN and infinity to the caller (an inference call checks in its passes)."""
    arr = _as_numeric_array(x, name)
    if tuple(arr.shape[1:]) != tuple(input_shape):
        raise ValueError(f"Argument `{name}` has the wrong shape: the model expects (batch, "
                         f"{', '.join(map(str, input_shape))}). Received: {name}.shape={arr.shape}")
    flat = np.ascontiguousarray(arr.reshape(arr.shape[0], -1), dtype=dtype)
    if check:
        check_finite(flat, name)
    return flat


def as_targets(y: Optional[ArrayLike], n_samples: int, sparse: bool, n_outputs: int, dtype: DTypeLike,
               name: str = "y") -> tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """y -> (int32 labels, None) when `sparse` (class indices for sparse cross-entropy), else
    (None, targets of shape (N, n_outputs))."""
    arr = _as_numeric_array(y, name)
    if arr.shape[0] != n_samples:
        raise ValueError(f"x and {name} must have the same number of samples. Received: "
                         f"{n_samples} inputs and {arr.shape[0]} targets ({name}.shape={arr.shape})")
    if sparse:
        if not (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1)):
            raise ValueError(f"sparse_categorical_crossentropy expects integer class labels of shape "
                             f"(N,) or (N, 1). Received: {name}.shape={arr.shape}")
        flat = arr.reshape(-1)
        check_finite(flat, name)
        if flat.dtype.kind == "f" and not np.all(flat == np.floor(flat)):
            raise ValueError(f"sparse_categorical_crossentropy expects integer class labels in "
                             f"`{name}`; received non-integer values.")
        low, high = flat.min(), flat.max()
        if low < 0 or high >= n_outputs:
            raise ValueError(f"Labels in `{name}` must lie in [0, {n_outputs}) for a model with "
                             f"{n_outputs} outputs. Received labels from {low} to {high}.")
        return np.ascontiguousarray(flat, dtype=np.int32), None
    if arr.ndim == 1 and n_outputs == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != n_outputs:
        hint = (" (class labels need loss='sparse_categorical_crossentropy', or one-hot them with "
                "fastmlp.utils.to_categorical)") if arr.ndim == 1 else ""
        raise ValueError(f"Argument `{name}` must have shape (N, {n_outputs}) to match the model's "
                         f"output. Received: {name}.shape={arr.shape}{hint}")
    targets = np.ascontiguousarray(arr, dtype=dtype)
    check_finite(targets, name)
    return None, targets


def as_sample_weights(sample_weight: Optional[ArrayLike], class_weight: Optional[dict[int, float]],
                      y: Optional[ArrayLike], n_samples: int, dtype: DTypeLike,
                      name: str = "sample_weight") -> Optional[np.ndarray]:
    """Per-sample loss weights (n_samples,) in dtype from fit's sample_weight or class_weight
    (a {class index: weight} dict, read against y as Keras reads it), or None for neither."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError("You cannot give both `class_weight` and `sample_weight`: fold the class "
                         "weights into the sample weights.")
    if class_weight is not None:
        if not isinstance(class_weight, dict) or not all(
                isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in class_weight):
            raise ValueError("Argument `class_weight` must be a dict from class index (int) to weight. "
                             f"Received: class_weight={class_weight!r}")
        classes = np.asarray(y)
        if classes.ndim > 1:
            classes = np.argmax(classes, axis=-1) if classes.shape[-1] != 1 else classes[..., 0]
        classes = np.round(classes).astype(np.int64).reshape(-1)
        table = {int(k): float(v) for k, v in class_weight.items()}
        sample_weight = np.array([table.get(int(c), 1.0) for c in classes])
        name = "class_weight"
    if sample_weight is None:
        return None
    arr = _as_numeric_array(sample_weight, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(f"Argument `{name}` must hold one weight per sample, shape ({n_samples},). "
                         f"Received shape {arr.shape}")
    weights = np.ascontiguousarray(arr, dtype=dtype)
    check_finite(weights, name)
    if (weights < 0).any():
        raise ValueError(f"Argument `{name}` must not be negative (first at index "
                         f"{int(np.argmax(weights < 0))}).")
    return weights
