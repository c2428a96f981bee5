# Type stub of small_gemm.pyx (fastmlp's own float32 GEMM for inference).
import numpy as np

LEVEL_NAMES: dict[int, str]

def small_gemm_level() -> int: ...
def small_gemm_check(x: np.ndarray, w: np.ndarray, y: np.ndarray, level: int = ...,
                     trans_x: bool = ...) -> bool: ...
