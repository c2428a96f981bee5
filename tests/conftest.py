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


@pytest.fixture(autouse=True)
def fresh_names():
    import fastmlp
    fastmlp.clear_session()
    yield


@functools.lru_cache(maxsize=None)
def data_root() -> Path:
    """The folder holding fashion-mnist/ and mnist/: FASTMLP_DATA, else the user's cache
    (~/.fastmlp/datasets), where the loader downloads what is missing, as it does for users."""
    from fastmlp.datasets import fashion_mnist, idx, mnist
    for module in (fashion_mnist, mnist):
        module.load_data()
    return idx.cache_dir(mnist.NAME).parent
