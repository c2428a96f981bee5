"""Helpers under Keras's `keras.utils` names."""
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from fastmlp import seeding
from fastmlp._typing import ArrayLike

if TYPE_CHECKING:
    from fastmlp.diagrams import Dot
    from fastmlp.models import Model


def set_random_seed(seed: int) -> None:
    """Seeds everything random in fastmlp: initial weights and the shuffling in fit().

    Args:
        seed: non-negative integer.
    """
    seeding.set_seed(seed)


def to_categorical(x: ArrayLike, num_classes: Optional[int] = None) -> np.ndarray:
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
    return out.reshape((*np.shape(x), num_classes)) if np.ndim(x) > 1 else out


def model_to_dot(model: "Model", show_shapes: bool = False, show_dtype: bool = False,
                 show_layer_names: bool = True, rankdir: str = "TB", **kwargs: Any) -> "Dot":
    """A diagram of the model (see fastmlp.diagrams.model_to_dot): `.to_string()` gives DOT,
    `.create(prog='dot', format='svg')` SVG bytes, with or without Graphviz installed.

    Args:
        model: a built model.
        show_shapes: show each layer's input and output shapes.
        show_dtype: show each layer's dtype.
        show_layer_names: show layer names (else types only).
        rankdir: 'TB' or 'LR'.
    """
    from fastmlp import diagrams
    return diagrams.model_to_dot(model, show_shapes, show_dtype, show_layer_names, rankdir, **kwargs)


def plot_model(model: "Model", to_file: str = "model.png", show_shapes: bool = False,
               **kwargs: Any) -> Path:
    """Writes a diagram of the model to `to_file` (.svg, .png or .dot); see
    fastmlp.diagrams.plot_model.

    Args:
        model: a built model.
        to_file: the file; its ending gives the format.
        show_shapes: show each layer's input and output shapes.
    """
    from fastmlp import diagrams
    return diagrams.plot_model(model, to_file, show_shapes, **kwargs)
