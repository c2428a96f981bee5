# Type stub of optim.pyx (the compiled update rules; see its docstrings).
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

SCHEDULES: dict[str, int]

class UpdateRule:
    size: int
    is_double: bool
    iterations: int
    learning_rate: float
    slots: list[np.ndarray]
    split_level: int
    def __init__(self, size: int, dtype: Any, learning_rate: float) -> None: ...
    def set_schedule(self, kind: str, initial: float = ..., decay_steps: float = ...,
                     decay_rate: float = ..., staircase: bool = ..., alpha: float = ...,
                     warmup_target: Optional[float] = ..., warmup_steps: float = ...,
                     boundaries: Sequence[int] = ..., values: Sequence[float] = ...) -> None: ...
    def set_transforms(self, clipnorm: Optional[float] = ..., clipvalue: Optional[float] = ...,
                       global_clipnorm: Optional[float] = ..., weight_decay: Optional[float] = ...,
                       segments: Optional[Sequence[tuple[int, int]]] = ...) -> None: ...
    def current_learning_rate(self) -> float: ...
    def get_state(self) -> tuple[int, list[np.ndarray]]: ...
    def set_state(self, iterations: int, slots: Sequence[Any]) -> None: ...
    def step(self, w: np.ndarray, g: np.ndarray) -> None: ...

class SGDRule(UpdateRule):
    momentum: float
    nesterov: bool
    def __init__(self, size: int, dtype: Any, learning_rate: float, momentum: float,
                 nesterov: bool) -> None: ...

class AdagradRule(UpdateRule):
    epsilon: float
    def __init__(self, size: int, dtype: Any, learning_rate: float,
                 initial_accumulator_value: float, epsilon: float) -> None: ...

class RMSpropRule(UpdateRule):
    rho: float
    momentum: float
    epsilon: float
    def __init__(self, size: int, dtype: Any, learning_rate: float, rho: float, momentum: float,
                 epsilon: float) -> None: ...

def split_sqrt_level() -> int: ...
def split_sqrt_default(rule: str) -> int: ...
def sqrt_path() -> str: ...
def sqrt_by_fma_mismatches(lo: int, hi: int, flush: bool = ...) -> tuple[int, int]: ...

class AdamRule(UpdateRule):
    beta_1: float
    beta_2: float
    epsilon: float
    amsgrad: bool
    def __init__(self, size: int, dtype: Any, learning_rate: float, beta_1: float, beta_2: float,
                 epsilon: float, amsgrad: bool = ...) -> None: ...

class NadamRule(UpdateRule):
    beta_1: float
    beta_2: float
    epsilon: float
    u_product: float
    def __init__(self, size: int, dtype: Any, learning_rate: float, beta_1: float, beta_2: float,
                 epsilon: float) -> None: ...
