# Type stub of small_gemm.pyx (fastmlp's own float32 GEMM, and the lines it prefetches).
from typing import Optional, Union

import numpy as np

LEVEL_NAMES: dict[int, str]

def small_gemm_level() -> int: ...
def small_gemm_check(x: np.ndarray, w: np.ndarray, y: np.ndarray, level: int = ...,
                     trans_x: bool = ...,
                     prefetch: Optional[tuple[np.ndarray, np.ndarray]] = ...,
                     bias: Optional[np.ndarray] = ..., relu: bool = ...
                     ) -> Union[bool, tuple[bool, int]]: ...
def prefetch_lines(matrix: np.ndarray, rows: np.ndarray) -> list[int]: ...
