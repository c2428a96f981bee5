"""Learning-rate schedules with Keras's names, arguments and formulas
(keras.optimizers.schedules): pass one as an optimizer's learning_rate. The compiled update
rule evaluates it at every step, in float32 as Keras does; calling a schedule, schedule(step),
gives the same value in NumPy."""
import math
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from fastmlp._typing import Config


def _positive(name: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value > 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value!r}")
    return value


class LearningRateSchedule:
    """Base class: `schedule(step)` is the learning rate at that step count."""

    def __call__(self, step: float) -> float:
        raise NotImplementedError

    def rule_arguments(self) -> dict[str, Any]:
        """The arguments of UpdateRule.set_schedule that compute this schedule."""
        raise NotImplementedError

    def get_config(self) -> Config:
        """The constructor arguments, as Keras returns them."""
        raise NotImplementedError


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate · decay_rate ^ (step / decay_steps), the exponent floored with
    staircase=True.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive number of steps per decay_rate factor.
        decay_rate: the factor.
        staircase: decay in whole steps of decay_steps.
        name: "ExponentialDecay".
    """

    def __init__(self, initial_learning_rate: float, decay_steps: float, decay_rate: float,
                 staircase: bool = False, name: str = "ExponentialDecay") -> None:
        self.initial_learning_rate = _positive("initial_learning_rate", initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.decay_rate = _positive("decay_rate", decay_rate)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step: float) -> float:
        p = np.float32(step) / np.float32(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return float(np.float32(self.initial_learning_rate) * np.power(np.float32(self.decay_rate), p))

    def rule_arguments(self) -> dict[str, Any]:
        return {"kind": "exponential", "initial": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}

    def get_config(self) -> Config:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] up to step boundaries[0] (included), values[1] up to boundaries[1], ...,
    values[-1] after the last boundary.

    Args:
        boundaries: increasing step counts.
        values: one more learning rate than boundaries.
        name: "PiecewiseConstant".
    """

    def __init__(self, boundaries: Sequence[int], values: Sequence[float], name: str = "PiecewiseConstant") -> None:
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1 or not boundaries:
            raise ValueError("The length of boundaries should be 1 less than the length of values. "
                             f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                             f"values={values} of length {len(values)}.")
        if any(b2 < b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must increase; received {boundaries}")
        for value in values:
            _positive("values", value)
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step: float) -> float:
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return float(np.float32(value))
        return float(np.float32(self.values[-1]))

    def rule_arguments(self) -> dict[str, Any]:
        return {"kind": "piecewise", "boundaries": self.boundaries, "values": self.values}

    def get_config(self) -> Config:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from initial_learning_rate (or, after a linear warmup of warmup_steps, from
    warmup_target) to alpha times it over decay_steps, constant after.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: positive number of steps to decay over.
        alpha: the fraction of the rate left at the end.
        name: "CosineDecay".
        warmup_target: the rate reached at the end of the warmup (None: no warmup).
        warmup_steps: steps of the warmup.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: float, alpha: float = 0.0,
                 name: str = "CosineDecay", warmup_target: Optional[float] = None, warmup_steps: float = 0) -> None:
        if isinstance(initial_learning_rate, bool) or not isinstance(initial_learning_rate, (int, float, np.integer, np.floating)) or initial_learning_rate < 0:
            raise ValueError(f"Argument `initial_learning_rate` must be >= 0. Received: {initial_learning_rate!r}")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive("decay_steps", decay_steps)
        if not 0 <= alpha <= 1:
            raise ValueError(f"Argument `alpha` must be in [0, 1]. Received: alpha={alpha!r}")
        self.alpha = alpha
        self.name = name
        if warmup_target is not None:
            _positive("warmup_target", warmup_target)
            _positive("warmup_steps", warmup_steps)
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def __call__(self, step: float) -> float:
        f = np.float32
        alpha, decay_steps = f(self.alpha), f(self.decay_steps)

        def decay(s: Any, start: float) -> Any:
            return f(start) * ((f(1) - alpha) * (f(0.5) * (f(1) + np.cos(f(math.pi) * (s / decay_steps)))) + alpha)
        step = f(step)
        if self.warmup_target is None:
            return float(decay(min(step, decay_steps), self.initial_learning_rate))
        warmup_steps = f(self.warmup_steps)
        step = min(step, decay_steps + warmup_steps)
        if step < warmup_steps:
            return float((f(self.warmup_target) - f(self.initial_learning_rate)) * (step / warmup_steps)
                         + f(self.initial_learning_rate))
        return float(decay(step - warmup_steps, self.warmup_target))

    def rule_arguments(self) -> dict[str, Any]:
        return {"kind": "cosine", "initial": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}

    def get_config(self) -> Config:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


_CLASSES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay)}


def serialize(schedule: LearningRateSchedule) -> Config:
    """{"class_name", "config"} as Keras writes a schedule."""
    return {"module": "keras.optimizers.schedules", "class_name": type(schedule).__name__,
            "config": schedule.get_config(), "registered_name": None}


def deserialize(spec: Config) -> LearningRateSchedule:
    """The schedule of a {"class_name", "config"} (parsed against the classes above)."""
    name = spec.get("class_name") if isinstance(spec, dict) else None
    if name not in _CLASSES:
        raise ValueError(f"learning-rate schedule {name!r} is not supported; fastmlp has {sorted(_CLASSES)}")
    config = spec.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"the config of schedule {name} must be a dict")
    return _CLASSES[name](**config)
