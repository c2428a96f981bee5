"""The benchmark workloads (the seed models) and their data."""
from typing import NamedTuple

import numpy as np


class Workload(NamedTuple):
    """An MLP: 784 inputs, hidden ReLU layers, a softmax over 10 classes; Adam, sparse CE."""
    name: str
    hidden: list[int]

    @property
    def sizes(self) -> list[int]:
        return [784, *list(self.hidden), 10]

    def flops_per_sample(self) -> int:
        """Multiply-adds ×2 of one training sample's GEMMs: forward, dW, and dX (not layer 0)."""
        pairs = list(zip(self.sizes, self.sizes[1:]))
        forward = sum(a * b for a, b in pairs)
        return 2 * (2 * forward + sum(a * b for a, b in pairs[1:]))


WORKLOADS: dict[str, Workload] = {
    "M1": Workload("M1", [100]),
    "M2": Workload("M2", [300, 200, 100]),
}


def load_data(samples: int):
    """(x float32 (N, 784) in [0, 1], y int (N,), source): the real Fashion-MNIST training set
    when it is in the cache (no download is attempted), else random data of the same shape —
    speed does not depend on the pixel values."""
    from fastmlp.datasets import fashion_mnist, idx
    if all((idx.cache_dir(fashion_mnist.NAME) / f).is_file() for f in fashion_mnist.SHA256):
        (x, y), _ = fashion_mnist.load_data()
        x = (x.reshape(len(x), -1)[:samples] / np.float32(255)).astype(np.float32)
        return x, y[:samples].astype(np.int64), "Fashion-MNIST (real)"
    rng = np.random.default_rng(0)
    x = rng.random((samples, 784), dtype=np.float32)
    return x, rng.integers(0, 10, samples), "random (Fashion-MNIST not in the cache)"
