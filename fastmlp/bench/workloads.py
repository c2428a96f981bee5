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


def load_data(samples: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(x float32 (N, 784) in [0, 1], y int (N,), source): the real Fashion-MNIST training set
    when it is in the cache (no download is attempted), else synthetic data of the same shape
    that stays learnable (synthetic_data)."""
    from fastmlp.datasets import fashion_mnist, idx
    if all((idx.cache_dir(fashion_mnist.NAME) / f).is_file() for f in fashion_mnist.SHA256):
        (x, y), _ = fashion_mnist.load_data()
        x = (x.reshape(len(x), -1)[:samples] / np.float32(255)).astype(np.float32)
        return x, y[:samples].astype(np.int64), "Fashion-MNIST (real)"
    x, y = synthetic_data(samples)
    return x, y, "synthetic: a fixed random teacher's labels (Fashion-MNIST not in the cache)"


def synthetic_data(samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Image-like inputs with labels from a fixed random teacher network, so that training
    works as it does on real data. Uniform noise with random labels does not: nothing can be
    learned, and after an epoch nearly every ReLU is dead and nearly every gradient 0, which
    makes a training step cheaper than on real data (the measurement would flatter).

    x: smooth patterns from 16 latent factors, clipped to [0, 1], about half the pixels 0 (as
    the background of Fashion-MNIST); y: the argmax of a random 784-64-10 tanh teacher with
    standardized logits, so the 10 classes are about equally frequent."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((samples, 16)).astype(np.float32)
    basis = rng.standard_normal((16, 784)).astype(np.float32) / 4
    x = np.clip(latent @ basis, 0, 1).astype(np.float32)
    w1 = rng.standard_normal((784, 64)) / np.sqrt(784)
    w2 = rng.standard_normal((64, 10))
    logits = np.tanh((x - x.mean(axis=0)) @ w1 * 4) @ w2
    logits = (logits - logits.mean(axis=0)) / logits.std(axis=0)
    return x, np.argmax(logits, axis=1).astype(np.int64)
