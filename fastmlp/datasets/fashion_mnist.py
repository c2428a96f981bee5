"""Fashion-MNIST: 70,000 28×28 grayscale images of clothing in 10 classes (Zalando, MIT)."""
import os
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from fastmlp.datasets import idx

NAME = "fashion-mnist"
# Keras downloads the original files from here.
BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
SHA256 = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}


def load_data(base_url: Optional[str] = None) -> "idx.TrainTest":
    """Loads Fashion-MNIST from the cache, downloading the files the first time.

    Args:
        base_url: where to download from (default: Keras's mirror, or $FASTMLP_DATASETS_URL).

    Returns:
        ((x_train, y_train), (x_test, y_test)): uint8 arrays of shapes (60000, 28, 28),
        (60000,), (10000, 28, 28), (10000,).
    """
    from fastmlp.datasets import idx  # the download and parsing machinery loads on first use
    return idx.load(NAME, base_url or os.environ.get("FASTMLP_DATASETS_URL", BASE_URL), SHA256)
