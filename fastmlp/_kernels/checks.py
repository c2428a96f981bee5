"""The checks every compiled entry point makes before it hands a buffer to a nogil loop.

A compiled loop trusts its pointers and sizes; these checks are where a wrong array becomes a
clear error instead of a read or write out of bounds.
"""
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

# Largest dimension BLAS (32-bit int interface) accepts; sizes beyond it are refused or chunked.
BLAS_MAX = 2**31 - 1


def _describe(arr: Any) -> str:
    if not isinstance(arr, np.ndarray):
        return type(arr).__name__
    flags = [] if arr.flags.c_contiguous else ["not C-contiguous"]
    if not arr.flags.aligned:
        flags.append("misaligned")
    if not arr.flags.writeable:
        flags.append("read-only")
    return f"{arr.dtype} {arr.shape}" + (f" ({', '.join(flags)})" if flags else "")


def check_array(arr: Any, name: str, dtype: npt.DTypeLike, shape: tuple[Optional[int], ...],
                writeable: bool = False) -> None:
    """Raises ValueError unless arr is an aligned C-contiguous ndarray of dtype and shape
    (None in shape: any length), writeable when asked."""
    ok = (isinstance(arr, np.ndarray) and arr.dtype == dtype and arr.ndim == len(shape)
          and all(want is None or got == want for got, want in zip(arr.shape, shape))
          and arr.flags.c_contiguous and arr.flags.aligned and (arr.flags.writeable or not writeable))
    if not ok:
        want = "(" + ", ".join("N" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"`{name}` must be an aligned C-contiguous {np.dtype(dtype).name} array of "
                         f"shape {want}{', writeable' if writeable else ''}; received {_describe(arr)}")


def check_matrix(arr: Any, name: str, dtype: npt.DTypeLike, writeable: bool = False, nonempty: bool = False,
                 max_dim: int = BLAS_MAX) -> None:
    """check_array for a 2-D array whose dimensions are positive (when nonempty) and at most max_dim."""
    check_array(arr, name, dtype, (None, None), writeable)
    if nonempty and 0 in arr.shape:
        raise ValueError(f"`{name}` must not be empty; received shape {arr.shape}")
    if max(arr.shape) > max_dim:
        raise ValueError(f"`{name}` has a dimension over {max_dim}; received shape {arr.shape}")
