"""Global settings, as `keras.config`: the default float type of new models, the fuzz factor,
and how many threads one predict call may use."""
import os
from typing import Any, Optional

import numpy as np

from fastmlp._typing import DTypeLike

_FLOATX = "float32"


def floatx() -> str:
    """Returns the default float type of new models, as a string ('float32' or 'float64')."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Sets the default float type of models built from now on.

    Args:
        value: 'float32' (the default) or 'float64'.
    """
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(f"Unknown floatx type: expected 'float32' or 'float64'. Received: value={value!r}")
    _FLOATX = value


def resolve_dtype(dtype: DTypeLike) -> "np.dtype[Any]":
    """The numpy dtype for a layer's `dtype` argument (None: floatx())."""
    name = floatx() if dtype is None else np.dtype(dtype).name
    if name not in ("float32", "float64"):
        raise ValueError(f"Only float32 and float64 layers are supported. Received: dtype={dtype!r}")
    return np.dtype(name)


_EPSILON = 1e-7


def epsilon() -> float:
    """Returns the fuzz factor (Keras's default 1e-7): cross-entropies clip probabilities to
    [epsilon, 1 - epsilon]. The losses, the compiled kernels and the reference read it here."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    """Sets the fuzz factor used from the next compile/fit/evaluate on.

    Args:
        value: a float in (0, 0.5).
    """
    global _EPSILON
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 0.5:
        raise ValueError(f"epsilon must be a number in (0, 0.5). Received: value={value!r}")
    _EPSILON = float(value)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on (Linux)
    except AttributeError:
        return os.cpu_count() or 1


def blas_threads() -> int:
    """The thread count BLAS took from the environment when it loaded (OPENBLAS_NUM_THREADS,
    GOTO_NUM_THREADS, OMP_NUM_THREADS, as OpenBLAS reads them; unset: the usable cores). A count
    changed later (threadpoolctl) is not seen."""
    for name in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return _usable_cores()


_NUM_THREADS: Optional[int] = None


def num_threads() -> int:
    """Returns how many threads one large predict call may use (default: the cores this
    process may run on, read at each call: a process moved to fewer cores splits less)."""
    return _usable_cores() if _NUM_THREADS is None else _NUM_THREADS


def set_num_threads(value: Optional[int]) -> None:
    """Sets how many threads one predict, evaluate or fit call may use.

    A float32 predict call runs on fastmlp's own GEMM (on CPUs with AVX2 and FMA, or AVX-512):
    up to 2 × 2**24 multiply-adds (106 rows of a 784-300-200-100-10 model) it runs on the
    calling thread alone, so request threads calling `predict` or `model(x)` at once scale with
    the cores; a larger call splits its rows across up to this many threads (the calling
    thread and fastmlp's pool). With 2 or more, a call that runs alone (no other predict,
    evaluate or fit call beside it for about 10 ms) shares its work with one helper thread: a
    one- or two-row call of a large model (2**17 multiply-adds a row before its last layer)
    splits its layers' columns, a call of 3 rows or more and 2**21 multiply-adds its rows.
    Results do not depend on it: each row's outputs are bitwise the same whatever the thread
    count or batch. `evaluate` splits as a predict call of its rows, with the one-thread loss
    and metrics (its batches' sums are added up in order).

    A float32 `fit` whose batches give each thread 32 rows or more trains on up to this many
    threads, each taking a share of every batch and of the optimizer update; its results are
    bitwise the same for the same thread count, and differ from one thread's by rounding.
    Smaller batches of a chain of dense layers without penalties or constraints (dropout
    between them allowed), with an optimizer that updates element by element (Adam, SGD,
    RMSprop, Adagrad), train with each thread owning blocks of every layer's units (a unit
    team: its weights stay on its core); other small batches, batch normalization in training
    mode and weight constraints train on the calling thread. float64 models, and CPUs without
    AVX2, run on BLAS and its own threads (set those with OPENBLAS_NUM_THREADS or threadpoolctl),
    as a lone training thread's products past 2**24 multiply-adds do when this allows 2 or
    more; with 1, a float32 fit on fastmlp's own GEMM runs every product on it (one core).

    Args:
        value: a positive integer, or None for the default (the cores this process may use).
    """
    global _NUM_THREADS
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                              or value < 1):
        raise ValueError(f"num_threads must be a positive integer or None. Received: value={value!r}")
    _NUM_THREADS = None if value is None else int(value)
    from fastmlp.parallel import sync_wide  # here: config loads before the kernels
    sync_wide(num_threads())
