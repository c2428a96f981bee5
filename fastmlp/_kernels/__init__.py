"""The compiled engine: BLAS wrappers, fused dense/loss/optimizer kernels, the training step."""
from fastmlp._kernels import scipy_blas

scipy_blas.load()  # before any kernel cimports it: see scipy_blas.py
