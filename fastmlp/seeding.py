"""The session's random generator: initial weights and shuffling draw from it, so one seed makes
training reproducible bit for bit."""
from typing import Optional

import numpy as np

_generator = np.random.default_rng()


def generator(seed: Optional[int] = None) -> np.random.Generator:
    """A generator of its own for an explicit seed, else the session's shared one."""
    if seed is not None:
        return np.random.default_rng(seed)
    return _generator


def set_seed(seed: int) -> None:
    """Reseeds the session's generator."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer. Received: seed={seed!r}")
    _generator = np.random.default_rng(int(seed))
