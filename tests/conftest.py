"""Shared test setup: the real datasets from ../shared/data, seeded randomness."""
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


def data_root() -> Path:
    """The folder holding fashion-mnist/ and mnist/ (FASTMLP_DATA)."""
    root = os.environ.get("FASTMLP_DATA")
    if not root or not (Path(root) / "fashion-mnist").is_dir():
        pytest.fail("FASTMLP_DATA must point at the shared datasets (fashion-mnist/, mnist/); "
                    f"received {root!r}")
    return Path(root)
