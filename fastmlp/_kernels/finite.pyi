# Type stub of finite.pyx.
import numpy as np

def all_finite(arr: np.ndarray) -> bool: ...
