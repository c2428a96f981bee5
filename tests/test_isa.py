"""The compiled kernels' machine code (tools/check_isa.py, objdump): AVX-512 and AVX2 only in
the functions the code picks at run time, FMAs in the x86-64-v3 clones and fastmlp's GEMM
tiles, none of either in the baseline code, so one wheel runs on any x86-64 CPU."""
import importlib.util
import platform
import shutil
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "check_isa.py"
spec = importlib.util.spec_from_file_location("check_isa", TOOL)
check_isa = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_isa)

x86_objdump = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or shutil.which("objdump") is None,
                                 reason="reads x86-64 machine code with objdump (binutils)")


@x86_objdump
def test_the_installed_kernels_choose_their_simd_at_run_time():
    modules = check_isa.read(check_isa.compiled_modules())
    named = [name for funcs in modules.values() for name in funcs if name.startswith("fm_")]
    if not named:
        pytest.skip("the compiled modules carry no symbols (stripped): nothing to read")
    assert set(modules) >= {"optim", "small_gemm", "network", "dense"}
    assert check_isa.problems(modules) == []
    optim = modules["optim"]
    # the checks look at real code: the clones and the AVX-512 loop are there, and differ
    assert optim["fm_adam_f.arch_x86_64_v3"].fma_ymm > 0
    assert optim["fm_adam_f.default"].vex == 0
    assert optim["fm_adam_split512"].zmm > 0


def _function(vex=0, zmm=0, fma_ymm=0, fma_zmm=0):
    f = check_isa.Function()
    f.vex, f.zmm, f.fma_ymm, f.fma_zmm = vex, zmm, fma_ymm, fma_zmm
    return f


def _good_optim():
    return {name: _function(vex=10, fma_ymm=2) for _, name in check_isa.FMA_CLONES}


def test_each_rule_names_what_breaks_it():
    modules = {"optim": _good_optim(), "small_gemm": {
        "fm_tile512_6_2": _function(vex=9, zmm=9, fma_zmm=4),
        "fm_tile512h_6_1": _function(vex=9, fma_ymm=4),
        "fm_tile256_6_2": _function(vex=9, fma_ymm=4)}}
    assert check_isa.problems(modules) == []
    cases = {
        # -march=native or an AVX-512 clone: zmm in code that runs on any CPU
        ("network", "__pyx_f_7fastmlp_step"): (_function(vex=3, zmm=3), ["zmm", "VEX"]),
        ("optim", "fm_adam_f.arch_x86_64_v4"): (_function(vex=3, zmm=3, fma_zmm=1), ["zmm", "VEX"]),
        ("optim", "fm_adam_f.default"): (_function(vex=2), ["baseline clone"]),
        # "avx2" without "fma": a clone with no FMA in it
        ("optim", "fm_adam_f.arch_x86_64_v3"): (_function(vex=10), ["no FMA on ymm"]),
        ("small_gemm", "fm_tile512_6_2"): (_function(vex=9, fma_ymm=4), ["no FMA on zmm"]),
        ("small_gemm", "fm_tile256_6_2"): (_function(vex=9, zmm=9, fma_zmm=4), ["not AVX2 with FMA"]),
    }
    for (module, name), (function, words) in cases.items():
        broken = {m: dict(funcs) for m, funcs in modules.items()}
        broken.setdefault(module, {})[name] = function
        found = check_isa.problems(broken)
        assert found and all(name in line for line in found), (name, found)
        assert all(any(word in line for line in found) for word in words), (name, found)
    missing = {"optim": _good_optim()}
    del missing["optim"]["fm_adam_d.arch_x86_64_v3"]
    assert check_isa.problems(missing) == ["optim: no function fm_adam_d.arch_x86_64_v3 (the "
                                           "x86-64-v3 clone is missing)"]
