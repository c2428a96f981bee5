"""The names fastmlp's type hints use, in one place so every signature says the same thing."""
import os
from typing import Any, Optional, Union

import numpy.typing as npt

ArrayLike = npt.ArrayLike      # anything np.asarray takes: arrays, nested lists, scalars
DTypeLike = Optional[npt.DTypeLike]  # "float32", np.float64, np.dtype(...); None: the default
Array = npt.NDArray[Any]       # an ndarray of any dtype and shape
Config = dict[str, Any]        # what get_config() returns and from_config() takes (JSON-able)
Logs = dict[str, float]        # a training or evaluation step's named figures ("loss", ...)
PathLike = Union[str, "os.PathLike[str]"]
