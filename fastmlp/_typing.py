"""The type names in fastmlp's signatures, in one place so every signature says the same thing."""
import os
from typing import Any, Optional, Union

import numpy.typing as npt

ArrayLike = npt.ArrayLike
"""Anything `numpy.asarray` takes: arrays, nested lists, scalars."""

DTypeLike = Optional[npt.DTypeLike]
"""A float type as NumPy names it (`"float32"`, `np.float64`, `np.dtype(...)`), or None for the
default (`fastmlp.config.floatx()`)."""

Array = npt.NDArray[Any]
"""A NumPy array of any dtype and shape."""

Config = dict[str, Any]
"""What `get_config()` returns and `from_config()` takes: JSON-able, as Keras writes it."""

Logs = dict[str, float]
"""A training or evaluation step's named figures (`"loss"`, `"accuracy"`, `"val_loss"`, ...)."""

PathLike = Union[str, "os.PathLike[str]"]
"""A file path: a string or a `pathlib.Path`."""
