"""Helpers under Keras's `keras.utils` names."""
import numpy as np

from fastmlp import seeding


def set_random_seed(seed: int) -> None:
    """Seeds everything random in fastmlp: initial weights and the shuffling in fit().

    Args:
        seed: non-negative integer.
    """
    seeding.set_seed(seed)


def to_categorical(x, num_classes=None) -> np.ndarray:
    """Converts integer class labels to one-hot rows (float32).

    Args:
        x: array-like of non-negative integer labels.
        num_classes: number of classes; `max(x) + 1` when None.
    """
    labels = np.asarray(x)
    if labels.size and not np.all(np.equal(np.mod(labels, 1), 0)):
        raise ValueError("to_categorical expects integer class labels in x.")
    labels = labels.astype(np.int64).reshape(-1) if labels.ndim else labels.astype(np.int64).reshape(1)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must lie in [0, {num_classes}). "
                         f"Received labels from {labels.min()} to {labels.max()}.")
    out = np.zeros((labels.size, num_classes), dtype=np.float32)
    out[np.arange(labels.size), labels] = 1
    return out.reshape(np.shape(x) + (num_classes,)) if np.ndim(x) > 1 else out
