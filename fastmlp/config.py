"""Global settings, as `keras.config`: the default float type of new models."""
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
