"""Activation functions, by Keras name or as the callables below.

The callables compute in NumPy (for direct use and as reference); inside a model each
activation runs compiled, fused into the dense kernel (or as an Activation layer's step),
selected by its code, with its gradient computed in the same compiled pass.
"""
from typing import Callable, Union

import numpy as np


def linear(x):
    """Identity: returns x unchanged."""
    return np.asarray(x)


def relu(x):
    """max(x, 0) elementwise."""
    return np.maximum(x, 0)


def sigmoid(x):
    """1 / (1 + exp(-x)) elementwise."""
    x = np.asarray(x)
    return 1 / (1 + np.exp(-x))


def tanh(x):
    """Hyperbolic tangent elementwise."""
    return np.tanh(x)


def softmax(x, axis=-1):
    """exp(x) / Σ exp(x) along `axis` (max-subtracted for stability)."""
    x = np.asarray(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def leaky_relu(x, negative_slope=0.2):
    """x where x > 0, else negative_slope * x."""
    x = np.asarray(x)
    return np.where(x > 0, x, negative_slope * x)


def elu(x, alpha=1.0):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    x = np.asarray(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


SELU_ALPHA = 1.67326324235437728481704299167171
SELU_SCALE = 1.05070098735548049341933498529461


def selu(x):
    """scale * elu(x, alpha) with Keras's constants (alpha 1.6732632, scale 1.0507010)."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def gelu(x, approximate=False):
    """x * Φ(x), Φ the standard normal CDF (exact, Keras's default), or the tanh
    approximation with approximate=True."""
    x = np.asarray(x)
    if approximate:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    from scipy.special import erf
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def softplus(x):
    """log(exp(x) + 1), without overflow."""
    x = np.asarray(x)
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def softsign(x):
    """x / (|x| + 1)."""
    x = np.asarray(x)
    return x / (np.abs(x) + 1)


def silu(x):
    """x * sigmoid(x) (also named swish)."""
    x = np.asarray(x)
    return x / (1 + np.exp(-x))


swish = silu


def hard_sigmoid(x):
    """relu6(x + 3) / 6, Keras 3's piecewise linear sigmoid."""
    return np.clip(np.asarray(x) + 3, 0, 6) / 6


def exponential(x):
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


def get(identifier: Union[str, Callable, None]) -> Callable:
    """Returns the activation function for a name, one of this module's callables, or None
    (linear)."""
    return _FUNCTIONS[name_of(identifier)]


def name_of(identifier: Union[str, Callable, None]) -> str:
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


def serialize(fn: Callable) -> str:
    """The name of an activation callable."""
    return name_of(fn)
