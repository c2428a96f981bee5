# Type stub of dropout.pyx (its test hook).
import numpy as np

def dropout_check(x: np.ndarray, rate: float, seed: int, epoch_seed: int, step: int) -> np.ndarray: ...
