# Type stub of loss.pyx (the boundary of what reads y, and the test hooks).
from typing import Any, Optional

import numpy as np

def check_labels_or_targets(labels: Optional[np.ndarray], targets: Optional[np.ndarray], rows: int,
                            cols: int, dtype: Any, use_labels: bool,
                            class_indices: bool = ...) -> None: ...
def loss_check(loss: int, p: np.ndarray, labels: Optional[np.ndarray], targets: Optional[np.ndarray],
               fused: bool, epsilon: float) -> tuple[float, np.ndarray]: ...
def accuracy_check(kind: int, p: np.ndarray, labels: Optional[np.ndarray],
                   targets: Optional[np.ndarray], k: int = ...) -> float: ...
