"""Kernel micro-benchmarks at the seed models' shapes, fastmlp against NumPy, side by side:
`pytest bench/ --benchmark-group-by=param:shape`. Never part of tests/ (they time, not check)."""
import numpy as np
import pytest

from fastmlp._kernels.codes import ACTIVATION_CODES
from fastmlp._kernels.dense import dense_backward_check, dense_forward_check
from fastmlp.optimizers import Adam

# (batch, inputs, units) of the M1/M2 layers at the benchmark's batch sizes
SHAPES = [(32, 784, 100), (128, 784, 100), (32, 784, 300), (128, 784, 300), (32, 300, 200), (128, 200, 100)]
RELU = ACTIVATION_CODES["relu"]


def _arrays(shape):
    rng = np.random.default_rng(0)
    rows, n_in, n_out = shape
    x = rng.random((rows, n_in), dtype=np.float32)
    w = (rng.standard_normal((n_in, n_out)) * 0.05).astype(np.float32)
    b = np.zeros(n_out, np.float32)
    return x, w, b


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_dense_forward_fastmlp(benchmark, shape):
    x, w, b = _arrays(shape)
    benchmark(dense_forward_check, x, w, b, RELU)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_dense_forward_numpy(benchmark, shape):
    x, w, b = _arrays(shape)
    out = np.empty((x.shape[0], w.shape[1]), np.float32)

    def forward():
        np.matmul(x, w, out=out)
        np.add(out, b, out=out)
        np.maximum(out, 0, out=out)
    benchmark(forward)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_dense_backward_fastmlp(benchmark, shape):
    x, w, _b = _arrays(shape)
    y = np.maximum(x @ w, 0)
    dy = np.ones_like(y)
    benchmark(dense_backward_check, x, w, y, dy, RELU)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_dense_backward_numpy(benchmark, shape):
    x, w, b = _arrays(shape)
    y = np.maximum(x @ w, 0)
    dy = np.ones_like(y)
    dz, dw, db, dx = np.empty_like(y), np.empty_like(w), np.empty_like(b), np.empty_like(x)
    mask = np.empty(y.shape, bool)

    def backward():
        np.greater(y, 0, out=mask)
        np.multiply(dy, mask, out=dz)
        np.matmul(x.T, dz, out=dw)
        np.sum(dz, axis=0, out=db)
        np.matmul(dz, w.T, out=dx)
    benchmark(backward)


@pytest.mark.parametrize("size", [79_510, 316_810], ids=["M1", "M2"])
def test_adam_fastmlp(benchmark, size):
    rule = Adam().build(size, np.float32)
    w = np.zeros(size, np.float32)
    g = np.full(size, 0.01, np.float32)
    benchmark(rule.step, w, g)


@pytest.mark.parametrize("size", [79_510, 316_810], ids=["M1", "M2"])
def test_adam_numpy(benchmark, size):
    from fastmlp.bench.numpy_mlp import NumpyMLP
    mlp = NumpyMLP([size, 1])  # one flat "layer" of `size` weights
    mlp.grads[0][...] = 0.01
    benchmark(mlp._adam)


# x·W on fastmlp's own GEMM alone (its best level on this CPU) against NumPy's sgemm, at the
# models' layer shapes, training batch sizes and inference's batch 1024: (rows, inputs, units)
GEMM_SHAPES = [(1024, 784, 300), (1024, 300, 200), (1024, 200, 100), (1024, 784, 100),
               (128, 784, 100), (32, 784, 100), (128, 784, 300)]


@pytest.mark.parametrize("shape", GEMM_SHAPES, ids=str)
def test_gemm_fastmlp(benchmark, shape):
    from fastmlp._kernels.small_gemm import small_gemm_check
    x, w, _b = _arrays(shape)
    y = np.empty((x.shape[0], w.shape[1]), np.float32)
    benchmark(small_gemm_check, x, w, y)
    benchmark.extra_info["gflops"] = 2 * np.prod(shape) / benchmark.stats.stats.min / 1e9


@pytest.mark.parametrize("shape", GEMM_SHAPES, ids=str)
def test_gemm_numpy(benchmark, shape):
    x, w, _b = _arrays(shape)
    y = np.empty((x.shape[0], w.shape[1]), np.float32)
    benchmark(np.matmul, x, w, out=y)
    benchmark.extra_info["gflops"] = 2 * np.prod(shape) / benchmark.stats.stats.min / 1e9
