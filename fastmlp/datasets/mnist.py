"""MNIST: 70,000 28×28 grayscale images of handwritten digits (LeCun, Cortes, Burges;
CC BY-SA 3.0)."""
import os
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from fastmlp.datasets import idx

NAME = "mnist"
# A mirror of the original IDX files, the one TensorFlow's tutorials download.
BASE_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def load_data(base_url: Optional[str] = None) -> "idx.TrainTest":
    """Loads MNIST from the cache, downloading the files the first time.

    Args:
        base_url: where to download from (default: the mirror above, or $FASTMLP_DATASETS_URL).

    Returns:
        ((x_train, y_train), (x_test, y_test)): uint8 arrays of shapes (60000, 28, 28),
        (60000,), (10000, 28, 28), (10000,).
    """
    from fastmlp.datasets import idx  # the download and parsing machinery loads on first use
    return idx.load(NAME, base_url or os.environ.get("FASTMLP_DATASETS_URL", BASE_URL), SHA256)
