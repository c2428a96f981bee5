"""Weight constraints with Keras's names and formulas (keras.constraints), applied by the
compiled training step to a layer's weights after every optimizer update."""
from typing import Any, Callable, Optional, Union

import numpy as np

from fastmlp import identifiers
from fastmlp._typing import ArrayLike, Config

EPSILON = 1e-7  # keras.config.epsilon() in Keras's formulas


class Constraint:
    """Base class: `constraint(w)` is the projected array."""
    kind = "none"
    max_value = 0.0
    axis = 0

    def __call__(self, w: ArrayLike) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> Config:
        return {}


def _axis(axis: Any) -> int:
    if isinstance(axis, (list, tuple)) and len(axis) == 1:
        axis = axis[0]
    if axis not in (0, -2):
        raise ValueError(f"fastmlp's weight constraints take norms over axis=0 (each unit's "
                         f"incoming weights). Received: axis={axis!r}")
    return 0


class MaxNorm(Constraint):
    """Scales each unit's incoming weights (a kernel column) to a norm of at most max_value.

    Args:
        max_value: 2.
        axis: 0.
    """
    kind = "max_norm"

    def __init__(self, max_value: float = 2, axis: int = 0) -> None:
        if isinstance(max_value, bool) or not isinstance(max_value, (int, float, np.integer, np.floating)) or not max_value >= 0:
            raise ValueError(f"Argument `max_value` must be a non-negative number. Received: max_value={max_value!r}")
        self.max_value = max_value
        self.axis = _axis(axis)

    def __call__(self, w: ArrayLike) -> np.ndarray:
        w = np.asarray(w)
        norms = np.sqrt(np.square(w).sum(axis=0, keepdims=True))
        return np.asarray(w * (np.clip(norms, 0, self.max_value) / (EPSILON + norms)))

    def get_config(self) -> Config:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Sets negative weights to 0."""
    kind = "non_neg"

    def __call__(self, w: ArrayLike) -> np.ndarray:
        return np.maximum(w, 0)


class UnitNorm(Constraint):
    """Scales each unit's incoming weights (a kernel column) to norm 1.

    Args:
        axis: 0.
    """
    kind = "unit_norm"

    def __init__(self, axis: int = 0) -> None:
        self.axis = _axis(axis)

    def __call__(self, w: ArrayLike) -> np.ndarray:
        w = np.asarray(w)
        return np.asarray(w / (EPSILON + np.sqrt(np.square(w).sum(axis=0, keepdims=True))))

    def get_config(self) -> Config:
        return {"axis": self.axis}


max_norm, non_neg, unit_norm = MaxNorm, NonNeg, UnitNorm
ConstraintLike = Union[str, Constraint, dict[str, Any], None]
"""What a layer's *_constraint argument takes: a name, a {class_name, config} dict, a Constraint, None."""
_CLASSES: dict[str, Callable[..., Constraint]] = {"MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm}
_NAMES: dict[str, Callable[[], Constraint]] = {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm}


def get(identifier: "ConstraintLike") -> Optional[Constraint]:
    """The constraint for a name ('max_norm', 'non_neg', 'unit_norm'), a {class_name, config} or a
    Constraint; None passes through."""
    return identifiers.resolve(identifier, Constraint, _NAMES, _CLASSES, "constraint", "fastmlp.constraints")


def serialize(constraint: Optional[Constraint]) -> Optional[Config]:
    """{"class_name", "config"} as Keras writes a constraint, or None."""
    return identifiers.serialize(constraint, "keras.constraints")
