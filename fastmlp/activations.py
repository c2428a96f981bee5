"""Activation functions, by Keras name or as the callables below.

The callables compute in NumPy (for direct use and as reference); inside a model each
activation runs fused into the dense kernel, selected by its code.
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


_FUNCTIONS = {"linear": linear, "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax}
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
        if identifier in _FUNCTIONS:
            return identifier
    else:
        for name, fn in _FUNCTIONS.items():
            if identifier is fn:
                return name
    raise ValueError(f"Unknown activation: expected one of {sorted(_FUNCTIONS)} or a function of "
                     f"fastmlp.activations. Received: activation={identifier!r}")


def serialize(fn: Callable) -> str:
    """The name of an activation callable."""
    return name_of(fn)
