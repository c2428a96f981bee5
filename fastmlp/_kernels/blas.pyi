# Type stub of blas.pyx (its test hook).
import numpy as np

def gemm_check(a: np.ndarray, b: np.ndarray, c: np.ndarray, trans_a: bool = ..., trans_b: bool = ...,
               alpha: float = ..., beta: float = ...) -> np.ndarray: ...
