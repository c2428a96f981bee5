"""The compiled engine: BLAS wrappers, fused dense/loss/optimizer kernels, the training step."""
