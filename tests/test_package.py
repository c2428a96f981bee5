"""The package itself: what `import fastmlp` exposes, and its failure without the compiled
kernels (a clear message, never a silent slow path)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastmlp


def test_keras_names_are_exported():
    for name in ["Sequential", "Model", "Input", "layers", "models", "optimizers", "losses",
                 "metrics", "activations", "initializers", "callbacks", "datasets", "utils", "config"]:
        assert hasattr(fastmlp, name), name
    assert fastmlp.models.Sequential is fastmlp.Sequential
    assert fastmlp.layers.Input is fastmlp.Input


def test_import_without_compiled_kernels_says_how_to_build(tmp_path):
    source = Path(fastmlp.__file__).parent
    copy = tmp_path / "fastmlp"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    # the copy comes first on the path; an editable install's finder must not redirect it
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
            "import fastmlp")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "compiled kernels are missing" in proc.stderr and "pip install ." in proc.stderr


def test_import_loads_no_optional_machinery(tmp_path):
    # import time is measured by the benchmark; what must hold here: h5py, the server, the
    # model-file readers, the download code and the benchmark load only when used
    code = ("import sys, fastmlp; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('h5py', 'http', 'urllib') or m.startswith(('fastmlp.serve', 'fastmlp.saving.', "
            "'fastmlp.bench', 'fastmlp.datasets.idx'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    loaded = eval(proc.stdout)
    assert [m for m in loaded if m not in ("urllib", "urllib.parse")] == [], loaded


SCIPY_AFTER_FASTMLP = """
import sys, numpy as np, fastmlp
assert "scipy.linalg" not in sys.modules, "import fastmlp imported all of scipy.linalg"
assert "scipy.linalg.cython_blas" in sys.modules
# float64 runs on BLAS through the table: train and predict with it
x = np.linspace(-1, 1, 64).reshape(16, 4)
model = fastmlp.Sequential([fastmlp.layers.Dense(3, input_shape=(4,), dtype="float64")])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, x[:, :3] * 2, epochs=3, batch_size=8, verbose=0)
want = x @ model.get_weights()[0] + model.get_weights()[1]
assert np.allclose(model.predict(x, verbose=0), want, rtol=1e-12, atol=1e-12)
import scipy.linalg, scipy.linalg.cython_blas
import scipy.linalg.cython_blas as table
from scipy.linalg import cython_blas
assert scipy.linalg.cython_blas is table is cython_blas is sys.modules["scipy.linalg.cython_blas"]
assert "sgemm" in table.__pyx_capi__
eye = np.eye(2, dtype=np.float32)
assert (scipy.linalg.blas.sgemm(1.0, eye, eye) == eye).all()
assert not any("AttachToPackage" in type(f).__name__ for f in sys.meta_path)
print("ok")
"""


def test_import_loads_scipys_blas_table_without_the_rest_of_scipy_linalg(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCIPY_AFTER_FASTMLP], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_scipy_linalg_imported_first_is_left_as_it_is(tmp_path):
    code = ("import sys, scipy.linalg, fastmlp; "
            "assert not any('AttachToPackage' in type(f).__name__ for f in sys.meta_path); "
            "assert sys.modules['scipy.linalg.cython_blas'] is scipy.linalg.cython_blas; "
            "print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_every_source_module_is_installed():
    # CI installs the package and tests it: a module left out of the install fails here
    source = Path(__file__).resolve().parents[1] / "fastmlp"
    installed = Path(fastmlp.__file__).resolve().parent
    wanted = {p.relative_to(source).as_posix() for p in source.rglob("*.py")}
    missing = sorted(m for m in wanted if not (installed / m).is_file())
    assert not missing, f"modules of the source tree missing from the installed package: {missing}"


def test_the_simd_clone_matches_the_cpu():
    # the loops are cloned per ISA level and picked at run time: the level reported must be
    # the one this CPU's flags allow (x86-64 Linux), whatever machine built the package
    from fastmlp._kernels.codes import simd_level
    level = simd_level()
    flags = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    if {"avx2", "fma", "bmi1", "bmi2", "movbe", "f16c", "abm"} <= flags:
        assert level.startswith("x86-64-v3"), level
    else:
        assert level in ("x86-64 baseline", "the compiler's default target (no run-time clones)")


def test_the_c_helpers_compile_strictly_and_are_portable():
    """Every csrc/ header compiles as strict C99 with each compiler present (aarch64 too, with
    Debian's gcc-aarch64-linux-gnu), holds no GNU-only syntax as MSVC would see it, and (with a
    clang present) compiles in MSVC mode against the Windows intrinsics."""
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[1]
    if not (root / "tools" / "check_portability.py").exists():
        pytest.skip("run from a source tree (tools/ is not installed)")
    if not shutil.which("gcc"):
        pytest.skip("no C compiler on PATH (CI tests the installed wheel without one)")
    proc = subprocess.run([sys.executable, str(root / "tools" / "check_portability.py")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gcc: ok" in proc.stdout and "MSVC view (no GNU-only syntax): ok" in proc.stdout
    assert "MSVC-mode compile: skipped" in proc.stdout or re.search(r"MSVC-mode compile \(.*\): ok", proc.stdout)
