"""The instruction sets in fastmlp's compiled kernels, read from their machine code (objdump).

One wheel must run on any x86-64 CPU (a Zen 2 has no AVX-512, an old Xeon no AVX) and pick its
SIMD code at run time, never by the machine that built it. So, in each compiled module:

1. zmm registers (AVX-512) appear only in the functions written for AVX-512, which the code
   calls after a run-time CPU check: names with "512" (fastmlp's GEMM tiles, the kept-input
   lists, the split square roots) and the square roots' test helper.
2. VEX-encoded instructions (AVX, AVX2, FMA; any ymm register) appear only there and in the
   functions written for AVX2 (names with "256" or "avx2") and in the x86-64-v3 clones of the
   elementwise loops; the baseline ("default") clones and all of Cython's code use none.
3. The x86-64-v3 clones of the update rules hold FMA instructions (the clone is AVX2 *with*
   FMA: `target_clones("avx2,fma")` once made two clones, neither with both), and so do
   fastmlp's GEMM tiles: the AVX2 ones on ymm registers, the AVX-512 ones on zmm.

    python tools/check_isa.py [MODULE.so ...]   # default: the importable fastmlp's modules

Exit 1 on a violation, naming the function. A build with FASTMLP_NATIVE=1 (-march=native) fails
rule 2 by design: it is for experiments on one machine, not for wheels. tests/test_isa.py runs
this on the installed package.
"""
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

ZMM_ALLOWED = re.compile(r"512|^fm_sqrt_by_fma_mismatches$")
VEX_ALLOWED = re.compile(r"512|256|avx2|\.arch_x86_64_v3|^fm_sqrt_by_fma_mismatches$")
# gcc's suffixes for the parts of one function (cloned for constants, split off cold code)
PART_SUFFIX = re.compile(r"(\.(constprop|isra|part|cold)(\.\d+)?)+$")
FMA = re.compile(r"^vfn?m(add|sub)")
# the update rules' clones that must hold FMAs (module, function)
FMA_CLONES = [("optim", f"fm_{rule}_{t}.arch_x86_64_v3")
              for rule in ("sgd_momentum", "adagrad", "rmsprop", "adam", "nadam") for t in "fd"]


class Function:
    """What one function's instructions use."""

    def __init__(self) -> None:
        self.vex = 0  # VEX/EVEX-encoded: mnemonics starting with "v"
        self.zmm = 0
        self.fma_ymm = 0
        self.fma_zmm = 0


def functions(path: Path) -> dict[str, Function]:
    """Function name (gcc's part suffixes dropped) -> what its instructions use."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(path)], capture_output=True,
                         text=True, check=True).stdout
    found: dict[str, Function] = defaultdict(Function)
    name = None
    for line in out.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if head:
            name = PART_SUFFIX.sub("", head.group(1))
            continue
        parts = line.split("\t")
        if name is None or len(parts) < 2 or not parts[1].strip():
            continue
        mnemonic = parts[1].split()[0]
        f = found[name]
        f.vex += mnemonic.startswith("v")
        f.zmm += "%zmm" in line
        if FMA.match(mnemonic):
            f.fma_ymm += "%ymm" in line
            f.fma_zmm += "%zmm" in line
    return dict(found)


def problems(modules: dict[str, dict[str, Function]]) -> list[str]:
    """Every violation of the rules above, one line each."""
    bad = []
    for module, funcs in modules.items():
        for name, f in sorted(funcs.items()):
            if f.zmm and not ZMM_ALLOWED.search(name):
                bad.append(f"{module}: {name} uses zmm registers (AVX-512) without a run-time check")
            if f.vex and not VEX_ALLOWED.search(name):
                bad.append(f"{module}: {name} uses {f.vex} VEX-encoded instructions (AVX) outside "
                           f"the run-time-chosen functions")
            if name.endswith(".default") and f.vex:
                bad.append(f"{module}: the baseline clone {name} uses AVX")
            # the "h" tiles end in a ymm tail (the 1-vector ones are all ymm)
            if re.match(r"fm_tile512k?_", name) and not f.fma_zmm:
                bad.append(f"{module}: {name} holds no FMA on zmm registers")
            if re.match(r"fm_tile512hk?_", name) and not f.fma_ymm:
                bad.append(f"{module}: {name} holds no FMA")
            if re.match(r"fm_tile256", name) and (not f.fma_ymm or f.zmm):
                bad.append(f"{module}: {name} is not AVX2 with FMA alone")
    optim = modules.get("optim")
    if optim is not None:
        for _, name in FMA_CLONES:
            f = optim.get(name)
            if f is None:
                bad.append(f"optim: no function {name} (the x86-64-v3 clone is missing)")
            elif not f.fma_ymm:
                bad.append(f"optim: {name} holds no FMA on ymm registers")
    small_gemm = modules.get("small_gemm")
    if small_gemm is not None:
        for prefix in ("fm_tile512", "fm_tile256"):
            if not any(name.startswith(prefix) for name in small_gemm):
                bad.append(f"small_gemm: no {prefix}* function")
    return bad


def compiled_modules() -> list[Path]:
    import fastmlp._kernels as kernels
    return sorted(Path(kernels.__file__).parent.glob("*.so"))


def read(paths: Iterable[Path]) -> dict[str, dict[str, Function]]:
    """Module name (the part before the first dot) -> its functions."""
    return {path.name.split(".")[0]: functions(path) for path in paths}


def main() -> None:
    if shutil.which("objdump") is None:
        sys.exit("objdump not found (binutils)")
    paths = [Path(p) for p in sys.argv[1:]] or compiled_modules()
    modules = read(paths)
    bad = problems(modules)
    for line in bad:
        print(line)
    counted = sum(len(funcs) for funcs in modules.values())
    print(f"{len(paths)} modules, {counted} functions read; {len(bad)} problems")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
