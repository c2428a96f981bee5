"""fastmlp: multilayer perceptrons trained and served on the CPU by fused Cython kernels,
behind the Keras API (`import fastmlp as keras`)."""

try:
    from fastmlp._kernels import network as _network  # noqa: F401  (the compiled engine)
except ImportError as _exc:  # never fall back to a slow path: say how to build instead
    raise ImportError(
        "fastmlp's compiled kernels are missing or failed to load "
        f"({_exc}). Install the package so that they are built: `pip install .` from the "
        "source tree (needs a C compiler; Cython, numpy and scipy are fetched as build "
        "requirements), or `python setup.py build_ext --inplace` for a development checkout."
    ) from _exc

from fastmlp import (
    activations,
    callbacks,
    config,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    saving,
    utils,
)
from fastmlp._version import __version__ as __version__
from fastmlp.layers import Input
from fastmlp.models import Model, Sequential
from fastmlp.naming import clear_session

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "callbacks",
    "clear_session",
    "config",
    "datasets",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "saving",
    "utils",
]
