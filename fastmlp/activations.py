"""Activation functions, by Keras name or as the callables below.

The callables compute in NumPy (for direct use and as reference); inside a model each
activation runs compiled, fused into the dense kernel (or as an Activation layer's step),
selected by its code, with its gradient computed in the same compiled pass.
"""
from typing import Any, Callable, Union

import numpy as np

from fastmlp._typing import ArrayLike


def linear(x: ArrayLike) -> np.ndarray:
    """Identity: returns x unchanged."""
    return np.asarray(x)


def relu(x: ArrayLike) -> np.ndarray:
    """max(x, 0) elementwise."""
    return np.maximum(x, 0)


def sigmoid(x: ArrayLike) -> np.ndarray:
    """1 / (1 + exp(-x)) elementwise."""
    x = np.asarray(x)
    return np.asarray(1 / (1 + np.exp(-x)))


def tanh(x: ArrayLike) -> np.ndarray:
    """Hyperbolic tangent elementwise."""
    return np.tanh(x)


def softmax(x: ArrayLike, axis: int = -1) -> np.ndarray:
    """exp(x) / Σ exp(x) along `axis` (max-subtracted for stability)."""
    x = np.asarray(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return np.asarray(e / np.sum(e, axis=axis, keepdims=True))


def leaky_relu(x: ArrayLike, negative_slope: float = 0.2) -> np.ndarray:
    """x where x > 0, else negative_slope * x."""
    x = np.asarray(x)
    return np.where(x > 0, x, negative_slope * x)


def elu(x: ArrayLike, alpha: float = 1.0) -> np.ndarray:
    """x where x > 0, else alpha * (exp(x) - 1)."""
    x = np.asarray(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


SELU_ALPHA = 1.67326324235437728481704299167171
SELU_SCALE = 1.05070098735548049341933498529461


def selu(x: ArrayLike) -> np.ndarray:
    """scale * elu(x, alpha) with Keras's constants (alpha 1.6732632, scale 1.0507010)."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def gelu(x: ArrayLike, approximate: bool = False) -> np.ndarray:
    """x * Φ(x), Φ the standard normal CDF (exact, Keras's default), or the tanh
    approximation with approximate=True."""
    x = np.asarray(x)
    if approximate:
        return np.asarray(0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))))
    from scipy.special import erf
    return np.asarray(0.5 * x * (1 + erf(x / np.sqrt(2))))


def softplus(x: ArrayLike) -> np.ndarray:
    """log(exp(x) + 1), without overflow."""
    x = np.asarray(x)
    return np.asarray(np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))))


def softsign(x: ArrayLike) -> np.ndarray:
    """x / (|x| + 1)."""
    x = np.asarray(x)
    return np.asarray(x / (np.abs(x) + 1))


def silu(x: ArrayLike) -> np.ndarray:
    """x * sigmoid(x) (also named swish)."""
    x = np.asarray(x)
    return np.asarray(x / (1 + np.exp(-x)))


swish = silu


def hard_sigmoid(x: ArrayLike) -> np.ndarray:
    """relu6(x + 3) / 6, Keras 3's piecewise linear sigmoid."""
    return np.asarray(np.clip(np.asarray(x) + 3, 0, 6) / 6)


def exponential(x: ArrayLike) -> np.ndarray:
    """exp(x)."""
    return np.exp(x)


_FUNCTIONS = {"linear": linear, "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
              "leaky_relu": leaky_relu, "elu": elu, "selu": selu, "gelu": gelu,
              "softplus": softplus, "softsign": softsign, "silu": silu,
              "hard_sigmoid": hard_sigmoid, "exponential": exponential}
# Keras's other names for the same functions
_ALIASES = {"swish": "silu"}
# The names a layer's `activation` may take (what model files may hold).
NAMES = frozenset(_FUNCTIONS)
ActivationLike = Union[str, Callable[..., Any], None]
"""What a layer's `activation` argument takes: a name, a function of this module, or None (linear)."""


def get(identifier: "ActivationLike") -> Callable[..., np.ndarray]:
    """Returns the activation function for a name, one of this module's callables, or None
    (linear)."""
    return _FUNCTIONS[name_of(identifier)]


def name_of(identifier: "ActivationLike") -> str:
    """The Keras name of an activation given as a string, a callable of this module or None."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, str):
        identifier = _ALIASES.get(identifier, identifier)
        if identifier in _FUNCTIONS:
            return identifier
    else:
        for name, fn in _FUNCTIONS.items():
            if identifier is fn:
                return name
    raise ValueError(f"Unknown activation: expected one of {sorted(set(_FUNCTIONS) | set(_ALIASES))} or a function of "
                     f"fastmlp.activations. Received: activation={identifier!r}")


def serialize(fn: Callable[..., Any]) -> str:
    """The name of an activation callable."""
    return name_of(fn)
