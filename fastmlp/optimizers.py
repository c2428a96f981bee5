"""Optimizers with Keras's names, arguments, defaults and update formulas.

Each optimizer builds a compiled update rule over the model's one flat parameter buffer
(fastmlp/_kernels/optim.pyx): a training step updates every weight in one kernel call.
"""
import inspect
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import numpy as np

from fastmlp import legacy, schedules
from fastmlp._kernels import optim as _rules
from fastmlp._typing import Config, DTypeLike


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not value > 0:
        raise ValueError(f"Argument `{name}` must be a positive number. Received: {name}={value!r}")
    return float(value)


def _fraction(name: str, value: Any, allow_zero: bool = True) -> float:
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if not ok or not (0 <= value < 1) or (value == 0 and not allow_zero):
        raise ValueError(f"Argument `{name}` must be in [0, 1). Received: {name}={value!r}")
    return float(value)


def _limit(name: str, value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not (value >= 0 and np.isfinite(value)):
        raise ValueError(f"Argument `{name}` must be a non-negative number or None. Received: {name}={value!r}")
    return float(value)


class Optimizer:
    """Base class.

    Args:
        learning_rate: a positive number, or a schedule of fastmlp.optimizers.schedules.
        name: the optimizer's name.
        weight_decay: decoupled weight decay, w -= w · weight_decay · learning_rate before each
            update (None: none).
        clipnorm: clip each weight array's gradient to this norm.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue].
        global_clipnorm: clip the gradient of all weights together to this norm (only one of
            the three clippings can be set).
        use_ema: only False is supported.
    """
    default_name = "optimizer"

    def __init__(self, learning_rate: Union[float, schedules.LearningRateSchedule],
                 name: Optional[str] = None, weight_decay: Optional[float] = None,
                 clipnorm: Optional[float] = None, clipvalue: Optional[float] = None,
                 global_clipnorm: Optional[float] = None, use_ema: bool = False, **kwargs: Any) -> None:
        default = inspect.signature(type(self).__init__).parameters["learning_rate"].default
        kwargs = legacy.translate("optimizer", kwargs, label=type(self).__name__,
                                  given={"learning_rate"} if learning_rate is not default else ())
        if "learning_rate" in kwargs:  # given as lr= (Keras 2)
            learning_rate = kwargs.pop("learning_rate")
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) {sorted(kwargs)}")
        self.weight_decay = _limit("weight_decay", weight_decay)
        self.clipnorm = _limit("clipnorm", clipnorm)
        self.clipvalue = _limit("clipvalue", clipvalue)
        self.global_clipnorm = _limit("global_clipnorm", global_clipnorm)
        if sum(v is not None for v in (self.clipnorm, self.clipvalue, self.global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                             f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        if use_ema:
            raise ValueError(f"{type(self).__name__}(use_ema=True) is not supported by fastmlp yet.")
        self._schedule: Optional[schedules.LearningRateSchedule] = None
        if isinstance(learning_rate, schedules.LearningRateSchedule):
            self._schedule = learning_rate
            self._learning_rate = float(learning_rate(0))
        else:
            self._learning_rate = _positive("learning_rate", learning_rate)
        self.name = name or self.default_name
        self._rule: Optional[_rules.UpdateRule] = None
        self._segments: Optional[list[tuple[int, ...]]] = None

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step; setting it (not with a schedule) takes effect
        from the next step."""
        if self._schedule is not None:
            return self._schedule(self.iterations)
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        if self._schedule is not None:
            raise TypeError(f"{type(self).__name__} was created with a learning-rate schedule "
                            f"({type(self._schedule).__name__}) as its learning_rate, hence its "
                            "learning rate is not settable.")
        self._learning_rate = _positive("learning_rate", value)
        if self._rule is not None:
            self._rule.learning_rate = self._learning_rate

    @property
    def iterations(self) -> int:
        """Number of update steps applied so far."""
        return 0 if self._rule is None else int(self._rule.iterations)

    def __getstate__(self) -> dict[str, Any]:
        # the compiled rule is not copied; its state is, and __setstate__ rebuilds it
        state = dict(self.__dict__)
        rule = state.pop("_rule")
        state["_rule_state"] = None if rule is None else (rule.size, "float64" if rule.is_double else "float32", self._segments, *rule.get_state())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_rule_state", None)
        self.__dict__.update(state)
        self._rule = None
        if saved is not None:
            size, dtype, segments, iterations, slots = saved
            self.build(size, dtype, segments).set_state(iterations, slots)

    def build(self, size: int, dtype: DTypeLike,
              segments: Optional[Sequence[tuple[int, int]]] = None) -> _rules.UpdateRule:
        """Creates the compiled rule (and fresh slots) for a flat buffer of `size` weights,
        made of the weight arrays `segments` ((offset, size) pairs; one array by default)."""
        rule = self._make_rule(size, np.dtype(dtype))
        if self._schedule is not None:
            rule.set_schedule(**self._schedule.rule_arguments())
        rule.set_transforms(self.clipnorm, self.clipvalue, self.global_clipnorm,
                            self.weight_decay, segments)
        self._segments = None if segments is None else [tuple(map(int, s)) for s in segments]
        self._rule = rule
        return rule

    def _make_rule(self, size: int, dtype: "np.dtype[Any]") -> _rules.UpdateRule:
        raise NotImplementedError

    def get_config(self) -> Config:
        """The constructor arguments."""
        learning_rate = (schedules.serialize(self._schedule) if self._schedule is not None
                         else self._learning_rate)
        return {"name": self.name, "learning_rate": learning_rate, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue}


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum.

    Args:
        learning_rate: 0.01.
        momentum: in [0, 1), 0.0.
        nesterov: False.
    """
    default_name = "SGD"

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 name: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(learning_rate, name, **kwargs)
        self.momentum = _fraction("momentum", momentum)
        self.nesterov = bool(nesterov)

    def _make_rule(self, size: int, dtype: "np.dtype[Any]") -> _rules.UpdateRule:
        return _rules.SGDRule(size, dtype, self._learning_rate, self.momentum, self.nesterov)

    def get_config(self) -> Config:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adagrad(Optimizer):
    """Adagrad.

    Args:
        learning_rate: 0.001.
        initial_accumulator_value: 0.1.
        epsilon: 1e-7 (added inside the square root).
    """
    default_name = "adagrad"

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, name: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(learning_rate, name, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError("Argument `initial_accumulator_value` must be >= 0. "
                             f"Received: initial_accumulator_value={initial_accumulator_value}")
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = _positive("epsilon", epsilon)

    def _make_rule(self, size: int, dtype: "np.dtype[Any]") -> _rules.UpdateRule:
        return _rules.AdagradRule(size, dtype, self._learning_rate, self.initial_accumulator_value,
                                  self.epsilon)

    def get_config(self) -> Config:
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """RMSprop (uncentered).

    Args:
        learning_rate: 0.001.
        rho: 0.9.
        momentum: 0.0.
        epsilon: 1e-7 (added inside the square root).
        centered: only False.
    """
    default_name = "rmsprop"

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, name: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(learning_rate, name, **kwargs)
        if centered:
            raise ValueError("RMSprop(centered=True) is not supported by fastmlp yet.")
        self.rho = _fraction("rho", rho)
        self.momentum = _fraction("momentum", momentum)
        self.epsilon = _positive("epsilon", epsilon)
        self.centered = False

    def _make_rule(self, size: int, dtype: "np.dtype[Any]") -> _rules.UpdateRule:
        return _rules.RMSpropRule(size, dtype, self._learning_rate, self.rho, self.momentum,
                                  self.epsilon)

    def get_config(self) -> Config:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adam(Optimizer):
    """Adam.

    Args:
        learning_rate: 0.001.
        beta_1: 0.9.
        beta_2: 0.999.
        epsilon: 1e-7 (added to √v, not scaled by the bias correction).
        amsgrad: use the running maximum of the second moment (AMSGrad).
    """
    default_name = "adam"

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, name: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1 = _fraction("beta_1", beta_1)
        self.beta_2 = _fraction("beta_2", beta_2)
        self.epsilon = _positive("epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    def _make_rule(self, size: int, dtype: "np.dtype[Any]") -> _rules.UpdateRule:
        return _rules.AdamRule(size, dtype, self._learning_rate, self.beta_1, self.beta_2,
                               self.epsilon, self.amsgrad)

    def get_config(self) -> Config:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras's AdamW: Adam with weight_decay=0.004).

    Args:
        learning_rate: 0.001.
        weight_decay: 0.004.
        beta_1: 0.9, as Adam.
        beta_2: 0.999, as Adam.
        epsilon: 1e-7, as Adam.
        amsgrad: as Adam.
    """
    default_name = "adamw"

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, name: Optional[str] = None,
                 **kwargs: Any) -> None:
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name,
                         weight_decay=weight_decay, **kwargs)


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Keras's Nadam, with its momentum schedule).

    Args:
        learning_rate: 0.001.
        beta_1: 0.9.
        beta_2: 0.999.
        epsilon: 1e-7.
    """
    default_name = "nadam"

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, name: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1 = _fraction("beta_1", beta_1)
        self.beta_2 = _fraction("beta_2", beta_2)
        self.epsilon = _positive("epsilon", epsilon)

    def _make_rule(self, size: int, dtype: "np.dtype[Any]") -> _rules.UpdateRule:
        return _rules.NadamRule(size, dtype, self._learning_rate, self.beta_1, self.beta_2, self.epsilon)

    def get_config(self) -> Config:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


_BY_NAME: dict[str, Callable[[], Optimizer]] = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW,
            "nadam": Nadam}


def get(identifier: Union[str, Optimizer]) -> Optimizer:
    """Returns a new optimizer for a Keras name (any case) or passes an Optimizer through."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"Unknown optimizer: expected one of {sorted(_BY_NAME)} or a "
                     f"fastmlp.optimizers object. Received: optimizer={identifier!r}")


_CLASSES = {cls.__name__: cls for cls in (SGD, Adagrad, RMSprop, Adam, AdamW, Nadam)}


def deserialize(class_name: str, config: Config) -> Optimizer:
    """The optimizer of a config {class_name, config} (get_config's, or Keras's: options Keras
    has and fastmlp does not must be at Keras's defaults)."""
    if class_name not in _CLASSES:
        raise ValueError(f"optimizer {class_name!r} is not supported; fastmlp has {sorted(_CLASSES)}")
    cls = _CLASSES[class_name]
    # Keras writes these at their defaults; fastmlp's constructors do not take them
    keras_defaults = {"ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
                      "gradient_accumulation_steps": None, "jit_compile": None, "is_legacy_optimizer": None,
                      "decay": 0.0}
    kwargs = {}
    for key, value in config.items():
        if key in keras_defaults:
            if value not in (keras_defaults[key], None, False):
                raise ValueError(f"{class_name}({key}={value!r}) is not supported by fastmlp")
            continue
        kwargs[key] = value
    if isinstance(kwargs.get("learning_rate"), dict):
        kwargs["learning_rate"] = schedules.deserialize(kwargs["learning_rate"])
    return cls(**kwargs)
