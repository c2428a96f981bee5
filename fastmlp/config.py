"""Global settings, as `keras.config`: the default float type of new models and the fuzz factor."""
import numpy as np

_FLOATX = "float32"


def floatx() -> str:
    """Returns the default float type of new models, as a string ('float32' or 'float64')."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Sets the default float type of models built from now on.

    Args:
        value: 'float32' (the default) or 'float64'.
    """
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"Unknown floatx type: expected 'float32' or 'float64'. Received: value={value!r}")
    _FLOATX = value


def resolve_dtype(dtype) -> np.dtype:
    """The numpy dtype for a layer's `dtype` argument (None: floatx())."""
    name = floatx() if dtype is None else np.dtype(dtype).name
    if name not in ("float32", "float64"):
        raise ValueError(f"Only float32 and float64 layers are supported. Received: dtype={dtype!r}")
    return np.dtype(name)


_EPSILON = 1e-7


def epsilon() -> float:
    """Returns the fuzz factor (Keras's default 1e-7): cross-entropies clip probabilities to
    [epsilon, 1 - epsilon]. The losses, the compiled kernels and the reference read it here."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    """Sets the fuzz factor used from the next compile/fit/evaluate on.

    Args:
        value: a float in (0, 0.5).
    """
    global _EPSILON
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 0.5:
        raise ValueError(f"epsilon must be a number in (0, 0.5). Received: value={value!r}")
    _EPSILON = float(value)
