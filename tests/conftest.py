"""Shared test setup: the real datasets from ../shared/data, seeded randomness."""
import functools
import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if "FASTMLP_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["FASTMLP_DATA"] = str(SHARED_DATA)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def threads():
    """config.set_num_threads, for a test to call; the default (None: the cores the process
    may use) is set back after it."""
    from fastmlp import config
    yield config.set_num_threads
    config.set_num_threads(None)


@pytest.fixture(autouse=True)
def fresh_names():
    import fastmlp
    fastmlp.clear_session()
    yield


@functools.cache
def data_root() -> Path:
    """The folder holding fashion-mnist/ and mnist/: FASTMLP_DATA, else the user's cache
    (~/.fastmlp/datasets), where the loader downloads what is missing, as it does for users."""
    from fastmlp.datasets import fashion_mnist, idx, mnist
    for module in (fashion_mnist, mnist):
        module.load_data()
    return idx.cache_dir(mnist.NAME).parent


def run_isolated(code: str, timeout: float = 120) -> str:
    """Runs `code` in a fresh interpreter, so that a crash fails one test instead of killing
    the run; returns its stdout and fails the test on a non-zero exit (a signal included).
    The interpreter starts outside the source tree, so it imports the installed fastmlp."""
    import subprocess
    import sys
    import tempfile
    import textwrap
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"the isolated run exited with {proc.returncode}"
                    f"{' (killed by a signal)' if proc.returncode < 0 else ''}:\n"
                    f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc.stdout


def guarded_product(product, m: int, n: int) -> np.ndarray:
    """An (m, n) float32 result that `product(y)` writes inside a NaN-filled buffer (product
    returns whether it ran): a store past the matrix shows in the guards (checked here), one
    past a row's end lands in the next row, written before it (the caller's value check)."""
    buffer = np.full(m * n + 64, np.nan, np.float32)
    y = buffer[32:32 + m * n].reshape(m, n)
    assert product(y)
    assert np.isnan(buffer[:32]).all() and np.isnan(buffer[32 + m * n:]).all(), (m, n)
    return y
