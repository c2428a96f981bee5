"""Weight initializers with Keras's names, formulas and defaults.

Without a seed an initializer draws from the session generator (see
`fastmlp.utils.set_random_seed`); with one it returns the same values on every call.
"""
import inspect
from collections.abc import Sequence
from typing import Callable, Optional, Union

import numpy as np

from fastmlp import seeding
from fastmlp._typing import Config, DTypeLike

# Keras divides the truncated normal's stddev by this, the stddev of a unit normal truncated
# to [-2, 2], so that the truncated draw has the intended variance.
_TRUNCATION_STDDEV = 0.87962566103423978


class Initializer:
    """Base class: `initializer(shape, dtype)` returns a new array of that shape."""

    def __call__(self, shape: Sequence[int], dtype: DTypeLike = "float32") -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> Config:
        """The constructor arguments, as Keras returns them."""
        return {}


def _truncated_normal(rng: np.random.Generator, shape: Sequence[int], stddev: float,
                      mean: float = 0.0) -> np.ndarray:
    values: np.ndarray = rng.standard_normal(tuple(shape))
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return mean + stddev * values


def _fans(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(Initializer):
    """Draws with variance scale / n, n = fan_in, fan_out or their mean.

    Args:
        scale: positive float.
        mode: 'fan_in', 'fan_out' or 'fan_avg'.
        distribution: 'truncated_normal', 'untruncated_normal' or 'uniform'.
        seed: optional integer for repeatable draws.
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: Optional[int] = None) -> None:
        if scale <= 0:
            raise ValueError(f"Argument `scale` must be positive. Received: scale={scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Argument `mode` must be 'fan_in', 'fan_out' or 'fan_avg'. Received: mode={mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("Argument `distribution` must be 'truncated_normal', 'untruncated_normal' "
                             f"or 'uniform'. Received: distribution={distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape: Sequence[int], dtype: DTypeLike = "float32") -> np.ndarray:
        fan_in, fan_out = _fans(tuple(shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = seeding.generator(self.seed)
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, size=shape)
        elif self.distribution == "truncated_normal":
            values = _truncated_normal(rng, shape, np.sqrt(variance) / _TRUNCATION_STDDEV)
        else:
            values = rng.standard_normal(tuple(shape)) * np.sqrt(variance)
        return np.asarray(values, dtype=dtype)

    def get_config(self) -> Config:
        if type(self) is not VarianceScaling:  # the named variants have only a seed (as Keras)
            return {"seed": self.seed}
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


class GlorotUniform(VarianceScaling):
    """U(−limit, limit), limit = √(6 / (fan_in + fan_out)). Args: seed."""

    def __init__(self, seed: Optional[int] = None) -> None:
        super().__init__(1.0, "fan_avg", "uniform", seed)


class GlorotNormal(VarianceScaling):
    """Truncated normal, stddev √(2 / (fan_in + fan_out)). Args: seed."""

    def __init__(self, seed: Optional[int] = None) -> None:
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)


class HeUniform(VarianceScaling):
    """U(−limit, limit), limit = √(6 / fan_in). Args: seed."""

    def __init__(self, seed: Optional[int] = None) -> None:
        super().__init__(2.0, "fan_in", "uniform", seed)


class HeNormal(VarianceScaling):
    """Truncated normal, stddev √(2 / fan_in). Args: seed."""

    def __init__(self, seed: Optional[int] = None) -> None:
        super().__init__(2.0, "fan_in", "truncated_normal", seed)


class LecunUniform(VarianceScaling):
    """U(−limit, limit), limit = √(3 / fan_in). Args: seed."""

    def __init__(self, seed: Optional[int] = None) -> None:
        super().__init__(1.0, "fan_in", "uniform", seed)


class LecunNormal(VarianceScaling):
    """Truncated normal, stddev √(1 / fan_in). Args: seed."""

    def __init__(self, seed: Optional[int] = None) -> None:
        super().__init__(1.0, "fan_in", "truncated_normal", seed)


class RandomUniform(Initializer):
    """U(minval, maxval). Args: minval (−0.05), maxval (0.05), seed."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: Optional[int] = None) -> None:
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape: Sequence[int], dtype: DTypeLike = "float32") -> np.ndarray:
        return np.asarray(seeding.generator(self.seed).uniform(self.minval, self.maxval, size=shape),
                          dtype=dtype)

    def get_config(self) -> Config:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    """N(mean, stddev²). Args: mean (0), stddev (0.05), seed."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Optional[int] = None) -> None:
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape: Sequence[int], dtype: DTypeLike = "float32") -> np.ndarray:
        rng = seeding.generator(self.seed)
        return np.asarray(self.mean + self.stddev * rng.standard_normal(shape), dtype=dtype)

    def get_config(self) -> Config:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class Constant(Initializer):
    """Every entry equal to `value`. Args: value (0)."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def __call__(self, shape: Sequence[int], dtype: DTypeLike = "float32") -> np.ndarray:
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self) -> Config:
        return {"value": self.value}


class Zeros(Constant):
    """All zeros."""

    def __init__(self) -> None:
        super().__init__(0.0)

    def get_config(self) -> Config:
        return {}


class Ones(Constant):
    """All ones."""

    def __init__(self) -> None:
        super().__init__(1.0)

    def get_config(self) -> Config:
        return {}


_BY_NAME: dict[str, Callable[[], Initializer]] = {
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "uniform": RandomUniform, "random_uniform": RandomUniform,
    "normal": RandomNormal, "random_normal": RandomNormal,
    "zeros": Zeros, "ones": Ones, "constant": Constant,
}

InitializerLike = Union[str, Initializer, type[Initializer]]
"""What a layer's *_initializer argument takes: a Keras name, an Initializer or its class."""


def get(identifier: "InitializerLike") -> Initializer:
    """Returns the initializer for a Keras name or passes an Initializer through."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    raise ValueError(f"Unknown initializer: expected one of {sorted(_BY_NAME)} or a "
                     f"fastmlp.initializers object. Received: {identifier!r}")


_CLASSES = {cls.__name__: cls for cls in (VarianceScaling, GlorotUniform, GlorotNormal, HeUniform,
                                           HeNormal, LecunUniform, LecunNormal, RandomUniform,
                                           RandomNormal, Constant, Zeros, Ones)}


def deserialize(class_name: str, config: Config) -> Initializer:
    """The initializer of a config {class_name, config} (as get_config and Keras write it).
    Only this module's classes are made; options they do not take must be None (Keras 3 adds
    input_axes/output_axes)."""
    if class_name not in _CLASSES:
        raise ValueError(f"initializer {class_name!r} is not supported; fastmlp has {sorted(_CLASSES)}")
    cls = _CLASSES[class_name]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    extra = {key: value for key, value in config.items() if key not in accepted}
    if any(value is not None for value in extra.values()):
        raise ValueError(f"initializer {class_name} options {extra} are not supported")
    return cls(**{key: value for key, value in config.items() if key in accepted})
