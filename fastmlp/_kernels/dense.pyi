# Type stub of dense.pyx (its test hooks).
from typing import Optional, Union

import numpy as np

def dense_forward_check(x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], act: int,
                        alpha: Optional[float] = ..., keep_pre: bool = ..., level: int = ...,
                        skip_zeros: bool = ...) -> Union[np.ndarray, tuple[np.ndarray, np.ndarray]]: ...
def dense_backward_check(x: np.ndarray, w: np.ndarray, y: np.ndarray, dy: np.ndarray, act: int,
                         want_dx: bool = ..., alpha: Optional[float] = ...,
                         pre: Optional[np.ndarray] = ..., level: int = ...,
                         transposed: bool = ...) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]: ...
def bias_act_columns_check(z: np.ndarray, b: Optional[np.ndarray], act: int, c0: int, c1: int,
                           alpha: Optional[float] = ...) -> tuple[np.ndarray, np.ndarray]: ...
def act_backward_columns_check(dy: np.ndarray, y: np.ndarray, pre: Optional[np.ndarray], act: int,
                               c0: int, c1: int,
                               alpha: Optional[float] = ...) -> tuple[np.ndarray, np.ndarray]: ...
