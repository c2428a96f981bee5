"""Weight and activity regularizers with Keras's names and formulas (keras.regularizers):
penalty = l1 · Σ|x| + l2 · Σx². A layer's penalties are part of the loss fit reports and
minimises; the compiled step adds them and their gradients (an activity penalty divided by the
batch size, as Keras 3 does)."""
from typing import Any, Callable, Optional, Union

import numpy as np

from fastmlp import identifiers
from fastmlp._typing import ArrayLike, Config


def _factor(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (value >= 0 and np.isfinite(value)):
        raise ValueError(f"Argument `{name}` must be a non-negative number. Received: {name}={value!r}")
    return float(value)


class Regularizer:
    """Base class: `regularizer(x)` is the penalty of the array x."""
    l1 = 0.0
    l2 = 0.0

    def __call__(self, x: ArrayLike) -> float:
        x = np.asarray(x, dtype=np.float64)
        return float(self.l1 * np.abs(x).sum() + self.l2 * np.square(x).sum())

    def get_config(self) -> Config:
        raise NotImplementedError


class L1L2(Regularizer):
    """l1 · Σ|x| + l2 · Σx².

    Args:
        l1: 0.0.
        l2: 0.0.
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor("l1", 0.0 if l1 is None else l1)
        self.l2 = _factor("l2", 0.0 if l2 is None else l2)

    def get_config(self) -> Config:
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """l1 · Σ|x|.

    Args:
        l1: 0.01.
    """

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = _factor("l1", l1)

    def get_config(self) -> Config:
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 · Σx².

    Args:
        l2: 0.01.
    """

    def __init__(self, l2: float = 0.01) -> None:
        self.l2 = _factor("l2", l2)

    def get_config(self) -> Config:
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2
RegularizerLike = Union[str, Regularizer, dict[str, Any], None]
"""What a layer's *_regularizer argument takes: a name, a {class_name, config} dict, a Regularizer, None."""
_CLASSES: dict[str, Callable[..., Regularizer]] = {"L1": L1, "L2": L2, "L1L2": L1L2}
_NAMES: dict[str, Callable[[], Regularizer]] = {"l1": L1, "l2": L2}


def get(identifier: "RegularizerLike") -> Optional[Regularizer]:
    """The regularizer for a name ('l1', 'l2'), a {class_name, config} or a
    Regularizer; None passes through."""
    return identifiers.resolve(identifier, Regularizer, _NAMES, _CLASSES, "regularizer", "fastmlp.regularizers")


def serialize(regularizer: Optional[Regularizer]) -> Optional[Config]:
    """{"class_name", "config"} as Keras writes a regularizer, or None."""
    return identifiers.serialize(regularizer, "keras.regularizers")
