"""What the benchmark ran on: CPU, cores, BLAS libraries and kernels (threadpoolctl), versions,
the OpenBLAS variables, import time and installed size."""
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from typing import Any, Optional

OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# Microarchitectures by (vendor, family, model), where a VM's model name is generic ("Intel(R)
# Xeon(R) Processor"): fastmlp's figures differ by core (AVX-512 FMA width, divider, caches), so
# a report says which core it ran on. model None: every model of that family.
_CORES: dict[tuple[Optional[str], Optional[int], Optional[int]], str] = {
    ("AuthenticAMD", 23, None): "Zen, Zen+ or Zen 2",
    ("AuthenticAMD", 25, None): "Zen 3 or Zen 4",
    # family 25's models this project runs on or next to: an EPYC VM names no generation, and
    # Zen 4's 512-bit operations take two passes of its 256-bit pipes (Zen 5's take one)
    ("AuthenticAMD", 25, 1): "Zen 3",    # EPYC 7003 (Milan)
    ("AuthenticAMD", 25, 17): "Zen 4",   # EPYC 9004 (Genoa)
    ("AuthenticAMD", 25, 160): "Zen 4c",  # EPYC 97x4 / 8004 (Bergamo, Siena)
    ("AuthenticAMD", 26, None): "Zen 5",
    ("GenuineIntel", 6, 85): "Skylake-SP or Cascade Lake",
    ("GenuineIntel", 6, 106): "Ice Lake-SP",
    ("GenuineIntel", 6, 143): "Sapphire Rapids",
    ("GenuineIntel", 6, 207): "Emerald Rapids",
    ("GenuineIntel", 6, 173): "Granite Rapids",
}
# the instruction-set extensions that decide which of fastmlp's kernels run
_ISA_FLAGS = ("avx2", "fma", "avx512f")


def cpu_identity(cpuinfo: Optional[str] = None) -> dict[str, Any]:
    """The first processor of /proc/cpuinfo (or of `cpuinfo`, its text): vendor, family, model,
    stepping, the microarchitecture where known (else None) and which of _ISA_FLAGS it has.
    An empty dict where there is no /proc/cpuinfo."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return {}
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor's block is enough
            continue
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    if not fields:
        return {}

    def number(key: str) -> Optional[int]:
        try:
            return int(fields[key])
        except (KeyError, ValueError):
            return None

    vendor, family, model = fields.get("vendor_id"), number("cpu family"), number("model")
    core = _CORES.get((vendor, family, model)) or _CORES.get((vendor, family, None))
    flags = set(fields.get("flags", "").split())
    return {"vendor": vendor, "family": family, "model": model, "stepping": number("stepping"),
            "microarchitecture": core, "isa": [flag for flag in _ISA_FLAGS if flag in flags]}


def cpu_label(identity: dict[str, Any]) -> str:
    """cpu_identity's answer in a few words: "GenuineIntel family 6 model 207 (Emerald Rapids);
    avx2 fma avx512f" ("" when it is empty)."""
    if not identity:
        return ""
    label = f"{identity['vendor']} family {identity['family']} model {identity['model']}"
    if identity.get("microarchitecture"):
        label += f" ({identity['microarchitecture']})"
    if identity.get("isa"):
        label += "; " + " ".join(identity["isa"])
    return label


def blas_libraries() -> list[dict[str, Any]]:
    """threadpoolctl's view of the loaded BLAS libraries (kernel = 'architecture')."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl not installed: BLAS not identified"}]
    return [{k: info.get(k) for k in ("user_api", "internal_api", "prefix", "version", "architecture",
                                      "num_threads", "threading_layer", "filepath")}
            for info in threadpool_info()]


def describe() -> dict[str, Any]:
    import numpy
    import scipy
    return {
        "cpu": cpu_model(), "cpu_identity": cpu_identity(), "cores": os.cpu_count(),
        "machine": platform.machine(),
        "simd_clone": _simd_clone(), "optimizer_sqrt": _optimizer_sqrt(),
        "inference_gemm": _inference_gemm(),
        "python": platform.python_version(), "numpy": numpy.__version__, "scipy": scipy.__version__,
        "blas": blas_libraries(),
        "openblas_variables": {v: os.environ.get(v) for v in OPENBLAS_VARIABLES},
    }


def _inference_gemm() -> str:
    from fastmlp._kernels.small_gemm import LEVEL_NAMES, small_gemm_level
    return LEVEL_NAMES[small_gemm_level()]


def _optimizer_sqrt() -> str:
    from fastmlp._kernels.optim import sqrt_path
    return sqrt_path()


def _simd_clone() -> str:
    from fastmlp._kernels.codes import simd_level
    return simd_level()


def import_seconds(module: str, repeats: int = 3) -> float:
    """Median wall time of `import module` in a fresh interpreter (interpreter start excluded)."""
    # `del sys.path[0]`: `-c` puts the working directory first, and a source tree there would
    # shadow the installed package
    code = (f"import sys; del sys.path[0]; import time; t = time.perf_counter(); import {module}; "
            "print(time.perf_counter() - t)")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"))
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "import failed")
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def model_load_ms(repeats: int = 20) -> dict[str, float]:
    """Median milliseconds of fastmlp.models.load_model for the M2 model (784-300-200-100-10)
    saved with Adam's state, loaded with and without compile (the optimizer state)."""
    import tempfile

    import numpy as np

    import fastmlp
    from fastmlp.bench.workloads import WORKLOADS
    sizes = WORKLOADS["M2"].sizes
    model = fastmlp.Sequential([fastmlp.layers.Dense(u, activation="relu") for u in sizes[1:-1]]
                               + [fastmlp.layers.Dense(sizes[-1], activation="softmax")])
    model.build((sizes[0],))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((32, sizes[0]), np.float32), np.zeros(32), verbose=0)
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m2.fastmlp")
        model.save(path)
        for key, compile_model in (("with_optimizer", True), ("weights_only", False)):
            times = []
            for _ in range(repeats + 1):
                start = time.perf_counter()
                fastmlp.models.load_model(path, compile=compile_model)
                times.append(time.perf_counter() - start)
            result[key] = statistics.median(times[1:]) * 1e3
    return result


def _requirement_names(dist: Any) -> list[str]:
    names = []
    for req in dist.requires or []:
        if "extra ==" in req:
            continue
        name = req.split(";")[0].strip()
        for sep in "<>=!~[ (":
            name = name.split(sep)[0]
        names.append(name)
    return names


def installed_bytes(distribution: str, with_dependencies: bool) -> int:
    """Bytes on disk of a distribution's files, with its runtime dependencies' if asked."""
    seen, todo, total = set(), [distribution], 0
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for f in dist.files or []:
            with contextlib.suppress(OSError):
                total += os.path.getsize(str(dist.locate_file(f)))
        if with_dependencies:
            todo.extend(_requirement_names(dist))
    return total
