"""Checks a built wheel against the source tree: every Python module, every compiled kernel with
its type stub, and py.typed are in it, and nothing that should not be (generated C, build
debris, bytecode, tests).

    python tools/check_wheel.py dist/fastmlp-*.whl      (CI runs it on the wheel built from the sdist)
"""
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def kernels() -> list:
    """The compiled modules setup.py builds (its KERNELS list)."""
    match = re.search(r"KERNELS = \[([^\]]*)\]", (ROOT / "setup.py").read_text())
    return re.findall(r'"(\w+)"', match.group(1))


def problems(wheel: Path) -> list:
    names = zipfile.ZipFile(wheel).namelist()
    found = []
    for module in sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "fastmlp").rglob("*.py")):
        if module not in names:
            found.append(f"missing module {module}")
    for kernel in kernels():
        if not any(re.fullmatch(rf"fastmlp/_kernels/{kernel}\.[^/]*\.(so|pyd)", n) for n in names):
            found.append(f"missing compiled kernel fastmlp/_kernels/{kernel}")
        if f"fastmlp/_kernels/{kernel}.pyi" not in names:
            found.append(f"missing type stub fastmlp/_kernels/{kernel}.pyi")
    if "fastmlp/py.typed" not in names:
        found.append("missing fastmlp/py.typed (PEP 561: the package is typed)")
    for name in names:
        if name.endswith((".c", ".cpp", ".o", ".pyc")) or "/build/" in name or "__pycache__" in name \
                or name.startswith(("tests/", "build/", "csrc/")):
            found.append(f"does not belong in a wheel: {name}")
    if not any(n.endswith((".dist-info/licenses/LICENSE", ".dist-info/LICENSE")) for n in names):
        found.append("no LICENSE in the wheel's metadata")
    return found


if __name__ == "__main__":
    bad = [f"{wheel}: {p}" for wheel in map(Path, sys.argv[1:]) for p in problems(wheel)]
    print("\n".join(bad) or f"wheel contents ok: {', '.join(sys.argv[1:])}")
    sys.exit(1 if bad or len(sys.argv) < 2 else 0)
