"""The NumPy baseline: the same network, forward, backward and Adam in idiomatic vectorised
NumPy float32 — preallocated buffers, `out=` arguments, matmul — a fair peer, not a strawman."""

import numpy as np


class NumpyMLP:
    """ReLU hidden layers, softmax output, sparse categorical cross-entropy, Keras's Adam.

    Args:
        sizes: layer widths, input first, e.g. [784, 100, 10].
        seed: seed of the Glorot-uniform initial weights.
    """

    def __init__(self, sizes: list[int], seed: int = 0, learning_rate: float = 1e-3) -> None:
        rng = np.random.default_rng(seed)
        self.sizes = sizes
        self.W = [rng.uniform(-1, 1, (a, b)).astype(np.float32) * np.float32(np.sqrt(6 / (a + b)))
                  for a, b in zip(sizes, sizes[1:])]
        self.b = [np.zeros(b, np.float32) for b in sizes[1:]]
        self.params = self.W + self.b
        self.grads = [np.zeros_like(p) for p in self.params]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.tmp = [np.zeros_like(p) for p in self.params]
        self.lr, self.beta_1, self.beta_2, self.eps = learning_rate, 0.9, 0.999, 1e-7
        self.t = 0
        self.capacity = 0

    def _reserve(self, batch: int) -> None:
        if batch <= self.capacity:
            return
        self.x_batch = np.empty((batch, self.sizes[0]), np.float32)
        self.y_batch = np.empty(batch, np.int64)
        self.acts = [np.empty((batch, n), np.float32) for n in self.sizes[1:]]
        self.deltas = [np.empty((batch, n), np.float32) for n in self.sizes[1:]]
        self.masks = [np.empty((batch, n), bool) for n in self.sizes[1:]]
        self.row_max = np.empty((batch, 1), np.float32)
        self.capacity = batch

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for x (n, inputs), into the preallocated activations."""
        n = x.shape[0]
        self._reserve(n)
        h = x
        for l, (w, b) in enumerate(zip(self.W, self.b)):
            z = self.acts[l][:n]
            np.matmul(h, w, out=z)
            z += b
            if l < len(self.W) - 1:
                np.maximum(z, 0, out=z)
            else:
                mx = self.row_max[:n]
                np.max(z, axis=1, keepdims=True, out=mx)
                z -= mx
                np.exp(z, out=z)
                z /= z.sum(axis=1, keepdims=True)
            h = z
        return h

    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        """One Adam step on the batch (x, y)."""
        n = x.shape[0]
        p = self.forward(x)
        last = len(self.W) - 1
        delta = self.deltas[last][:n]
        np.copyto(delta, p)
        delta[np.arange(n), y] -= 1
        delta /= n
        n_layers = len(self.W)
        for l in range(last, -1, -1):
            h = x if l == 0 else self.acts[l - 1][:n]
            np.matmul(h.T, delta, out=self.grads[l])
            np.sum(delta, axis=0, out=self.grads[n_layers + l])
            if l > 0:
                prev = self.deltas[l - 1][:n]
                np.matmul(delta, self.W[l].T, out=prev)
                mask = self.masks[l - 1][:n]
                np.greater(h, 0, out=mask)
                prev *= mask
                delta = prev
        self._adam()

    def _adam(self) -> None:
        self.t += 1
        alpha = np.float32(self.lr * np.sqrt(1 - self.beta_2 ** self.t) / (1 - self.beta_1 ** self.t))
        b1, b2 = np.float32(1 - self.beta_1), np.float32(1 - self.beta_2)
        for p, g, m, v, tmp in zip(self.params, self.grads, self.m, self.v, self.tmp):
            np.subtract(g, m, out=tmp)
            tmp *= b1
            m += tmp
            np.multiply(g, g, out=tmp)
            tmp -= v
            tmp *= b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += np.float32(self.eps)
            np.divide(m, tmp, out=tmp)
            tmp *= alpha
            p -= tmp

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator) -> None:
        """One shuffled pass over (x, y); batches are gathered into preallocated buffers."""
        self._reserve(batch_size)
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            xb = self.x_batch[:len(idx)]
            yb = self.y_batch[:len(idx)]
            np.take(x, idx, axis=0, out=xb)
            np.take(y, idx, out=yb)
            self.train_step(xb, yb)
