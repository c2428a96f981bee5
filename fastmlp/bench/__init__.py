"""The benchmark suite: fastmlp against NumPy, Keras (and PyTorch / ONNX Runtime when
installed), side by side in one run. Run it as `fastmlp-bench` or `python -m fastmlp.bench`."""
from typing import Optional


def main(argv: Optional[list[str]] = None) -> int:
    """Console entry point; see `fastmlp-bench --help`."""
    from fastmlp.bench.cli import main as _main
    return _main(argv)
