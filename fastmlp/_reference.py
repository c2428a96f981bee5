"""Plain NumPy float64 versions of every kernel: the oracle the tests check the compiled
engine against. Written for clarity, not speed."""
from typing import Any, Callable, Optional

import numpy as np

from fastmlp.config import epsilon

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
DEFAULT_ALPHA = {"leaky_relu": 0.2, "elu": 1.0}
# float64 arrays in; results typed Any, as NumPy's operators type them
Arr = np.ndarray


def _phi(z: Arr) -> Any:
    """The standard normal CDF."""
    from scipy.special import erf
    return 0.5 * (1 + erf(z / np.sqrt(2)))


def activation(z: Arr, name: str, alpha: Optional[float] = None) -> Any:
    """act(z) for a Keras activation name (alpha: the leaky ReLU slope or ELU alpha)."""
    alpha = DEFAULT_ALPHA.get(name) if alpha is None else alpha
    if name == "linear":
        return z.copy()
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if name == "leaky_relu":
        return np.where(z > 0, z, alpha * z)
    if name == "elu":
        return np.where(z > 0, z, alpha * (np.exp(np.minimum(z, 0)) - 1))
    if name == "selu":
        return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * (np.exp(np.minimum(z, 0)) - 1))
    if name == "gelu":
        return z * _phi(z)
    if name == "softplus":
        return np.log(1 + np.exp(z))
    if name == "softsign":
        return z / (1 + np.abs(z))
    if name == "silu":
        return z / (1 + np.exp(-z))
    if name == "hard_sigmoid":
        return np.clip((z + 3) / 6, 0, 1)
    if name == "exponential":
        return np.exp(z)
    raise ValueError(name)


def activation_derivative(z: Arr, name: str, alpha: Optional[float] = None) -> Any:
    """d act(z) / dz elementwise (not for softmax), from the pre-activation z."""
    alpha = DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha
    one = np.ones_like(z)
    derivatives: dict[str, Callable[[], Any]] = {
        "linear": lambda: one,
        "relu": lambda: (z > 0) * one,
        "sigmoid": lambda: activation(z, "sigmoid") * (1 - activation(z, "sigmoid")),
        "tanh": lambda: 1 - np.tanh(z) ** 2,
        "leaky_relu": lambda: np.where(z > 0, 1.0, alpha),
        "elu": lambda: np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0))),
        "selu": lambda: SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0))),
        "gelu": lambda: _phi(z) + z * np.exp(-z * z / 2) / np.sqrt(2 * np.pi),
        "softplus": lambda: 1 / (1 + np.exp(-z)),
        "softsign": lambda: 1 / (1 + np.abs(z)) ** 2,
        "silu": lambda: (1 / (1 + np.exp(-z))) * (1 + z * (1 - 1 / (1 + np.exp(-z)))),
        "hard_sigmoid": lambda: ((z > -3) & (z < 3)) / 6.0,
        "exponential": lambda: np.exp(z),
    }
    return derivatives[name]()


def activation_backward(dy: Arr, y: Arr, name: str, z: Optional[Arr] = None,
                        alpha: Optional[float] = None) -> Any:
    """dL/dz from dL/dy and the activation's output y (softmax, and the activations of
    fastmlp's first release), or from its input z (any other)."""
    if name == "linear":
        return dy.copy()
    if name == "relu":
        return dy * (y > 0)
    if name == "sigmoid":
        return dy * y * (1 - y)
    if name == "tanh":
        return dy * (1 - y * y)
    if name == "softmax":
        return y * (dy - np.sum(dy * y, axis=1, keepdims=True))
    if z is None:
        raise ValueError(f"the reference differentiates {name} from its input z")
    return dy * activation_derivative(z, name, alpha)


def batch_norm_train(x: Arr, gamma: Optional[Arr], beta: Optional[Arr], eps: float) -> Any:
    """Batch normalization with the batch's statistics: (y, mean, biased variance)."""
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)
    xhat = (x - mean) / np.sqrt(var + eps)
    return xhat * (1 if gamma is None else gamma) + (0 if beta is None else beta), mean, var


def batch_norm_inference(x: Arr, gamma: Optional[Arr], beta: Optional[Arr], moving_mean: Arr,
                         moving_var: Arr, eps: float) -> Any:
    """Batch normalization with the moving statistics."""
    xhat = (x - moving_mean) / np.sqrt(moving_var + eps)
    return xhat * (1 if gamma is None else gamma) + (0 if beta is None else beta)


def dense_forward(x: Arr, w: Arr, b: Optional[Arr], name: str, alpha: Optional[float] = None) -> Any:
    """act(x·w + b)."""
    z = x @ w
    if b is not None:
        z = z + b
    return activation(z, name, alpha)


def dense_backward(x: Arr, w: Arr, y: Arr, dy: Arr, name: str, b: Optional[Arr] = None,
                   alpha: Optional[float] = None) -> Any:
    """(dw, db, dx) of y = act(x·w + b) given dL/dy (b is needed by the activations
    differentiated from their input)."""
    z = x @ w + (0 if b is None else b)
    dz = activation_backward(dy, y, name, z, alpha)
    return x.T @ dz, dz.sum(axis=0), dz @ w.T


def _probabilities(p: Arr) -> Any:
    q = p / p.sum(axis=1, keepdims=True)
    return q, np.clip(q, epsilon(), 1 - epsilon())


def loss_sum(loss: str, p: Arr, y: Arr) -> float:
    """Σ over rows of Keras's per-sample loss (y: labels for sparse, else targets)."""
    if loss == "sparse_categorical_crossentropy":
        _, c = _probabilities(p)
        return float(-np.log(c[np.arange(len(y)), y]).sum())
    if loss == "categorical_crossentropy":
        _, c = _probabilities(p)
        return float(-(y * np.log(c)).sum())
    if loss == "binary_crossentropy":
        c = np.clip(p, epsilon(), 1 - epsilon())
        return float(-(y * np.log(c) + (1 - y) * np.log(1 - c)).mean(axis=1).sum())
    if loss == "mean_squared_error":
        return float(((p - y) ** 2).mean(axis=1).sum())
    if loss == "mean_absolute_error":
        return float(np.abs(p - y).mean(axis=1).sum())
    raise ValueError(loss)


def fused_gradient(loss: str, p: Arr, y: Arr) -> Any:
    """d(mean loss)/dz for softmax + (sparse) cross-entropy and sigmoid + binary cross-entropy."""
    rows, cols = p.shape
    if loss == "sparse_categorical_crossentropy":
        t = np.zeros_like(p)
        t[np.arange(rows), y] = 1
        return (p - t) / rows
    if loss == "categorical_crossentropy":
        return (p * y.sum(axis=1, keepdims=True) - y) / rows
    if loss == "binary_crossentropy":
        return (p - y) / (rows * cols)
    raise ValueError(loss)


def loss_gradient(loss: str, p: Arr, y: Arr) -> Any:
    """d(mean loss)/dp (no activation folded in), clipped entries passing no gradient."""
    rows, cols = p.shape
    if loss in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        t = y
        if loss == "sparse_categorical_crossentropy":
            t = np.zeros_like(p)
            t[np.arange(rows), y] = 1
        s = p.sum(axis=1, keepdims=True)
        q, c = _probabilities(p)
        a = np.where(q == c, -t / q, 0.0)
        return (a - np.sum(a * q, axis=1, keepdims=True)) / s / rows
    if loss == "binary_crossentropy":
        c = np.clip(p, epsilon(), 1 - epsilon())
        return np.where(c == p, -y / c + (1 - y) / (1 - c), 0.0) / (rows * cols)
    if loss == "mean_squared_error":
        return 2 * (p - y) / (rows * cols)
    if loss == "mean_absolute_error":
        return np.sign(p - y) / (rows * cols)
    raise ValueError(loss)


def sgd(w: Arr, g: Arr, m: Arr, lr: float, momentum: float, nesterov: bool) -> Any:
    """Keras SGD update; returns (w, m)."""
    if momentum == 0:
        return w - lr * g, m
    m = momentum * m - lr * g
    return (w + momentum * m - lr * g if nesterov else w + m), m


def adagrad(w: Arr, g: Arr, acc: Arr, lr: float, eps: float) -> Any:
    """Keras Adagrad update; returns (w, acc)."""
    acc = acc + g * g
    return w - lr * g / np.sqrt(acc + eps), acc


def rmsprop(w: Arr, g: Arr, v: Arr, m: Arr, lr: float, rho: float, momentum: float,
            eps: float) -> Any:
    """Keras RMSprop update (uncentered); returns (w, v, m)."""
    v = rho * v + (1 - rho) * g * g
    step = lr * g / np.sqrt(v + eps)
    if momentum > 0:
        m = momentum * m + step
        return w - m, v, m
    return w - step, v, m


def adam(w: Arr, g: Arr, m: Arr, v: Arr, t: int, lr: float, beta_1: float, beta_2: float,
         eps: float) -> Any:
    """Keras Adam update at step t (1-based); returns (w, m, v)."""
    alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    m = m + (g - m) * (1 - beta_1)
    v = v + (g * g - v) * (1 - beta_2)
    return w - alpha * m / (np.sqrt(v) + eps), m, v
