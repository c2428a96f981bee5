"""The row-major GEMM wrapper against NumPy: dtype × transposes × shapes (gemv for one row)."""
import numpy as np
import pytest

from fastmlp._kernels.blas import gemm_check


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m,k,n", [(1, 5, 3), (7, 13, 4), (32, 100, 10), (128, 33, 1), (3, 1, 6)])
def test_gemm_matches_numpy(rng, dtype, trans_a, trans_b, m, k, n):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    expected = 0.5 * (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b) + 2.0 * c
    gemm_check(a, b, c, trans_a, trans_b, alpha=0.5, beta=2.0)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c, expected, rtol=tol, atol=tol * max(1, k))


def test_gemm_rejects_mismatched_shapes(rng):
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="do not chain"):
        gemm_check(a, np.ones((5, 2), np.float32), np.ones((3, 2), np.float32))
