"""pytest-benchmark micro-benchmarks of the kernels (run: pytest bench/ --benchmark-only)."""
