"""Portability check of the C helpers in csrc/ (the compiled kernels include them).

1. Each C compiler found (the host's gcc or cc, clang, aarch64-linux-gnu-gcc for a non-x86 CPU)
   compiles every header, with every function used, as strict C99: -Wall -Wextra -pedantic
   -Werror.
2. MSVC's view: the headers preprocessed as MSVC would see them (__GNUC__ undefined, _MSC_VER
   and _M_X64 defined, system headers stubbed) hold no GNU-only syntax (__attribute__,
   __builtin_*, __asm__) and no bare `restrict`.
3. An MSVC-mode compile, when clang is installed: clang targeting x86_64-pc-windows-msvc with
   Microsoft compatibility on and __clang__ undefined takes the headers' MSVC branches and
   checks them against the real Windows intrinsics (<intrin.h>, <xmmintrin.h>: clang's own),
   -Wall -Wextra -Werror. Step 2 stays: clang accepts some GNU syntax that MSVC refuses.

    python tools/check_portability.py        # from the repository root; exit 1 on a problem

tests/test_package.py runs it. Debian's gcc-aarch64-linux-gnu adds the aarch64 compile, its
clang (any version) the MSVC-mode compile.
"""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
STRICT = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Wno-unused-function", "-pedantic", "-Werror"]
GNU_ONLY = re.compile(r"__attribute__|__builtin_|__asm__|\brestrict\b")
# what the headers take from the C library, for the MSVC preprocessing (no system headers)
STUBS = {
    "math.h": "double exp(double); double log(double); double tanh(double); double sqrt(double);"
              "double fabs(double); double erf(double); double expm1(double); double log1p(double);"
              "double pow(double, double); double cos(double); float expf(float); float logf(float);"
              "float tanhf(float); float sqrtf(float); float fabsf(float); float erff(float);"
              "float expm1f(float); float log1pf(float);",
    "stddef.h": "typedef long long ptrdiff_t; typedef unsigned long long size_t;",
    "stdint.h": "typedef int int32_t; typedef unsigned int uint32_t; typedef long long int64_t;"
                "typedef unsigned long long uint64_t;",
    "string.h": "void *memcpy(void *, const void *, size_t);",
    "intrin.h": "long _InterlockedOr(long volatile *, long); long _InterlockedIncrement(long volatile *);"
                "long _InterlockedExchange(long volatile *, long); void _mm_pause(void);",
    "xmmintrin.h": "unsigned int _mm_getcsr(void); void _mm_setcsr(unsigned int);",
}


def headers():
    return sorted(p.name for p in CSRC.glob("*.h"))


def _write_stubs(work: Path, stubs: dict[str, str]) -> Path:
    """A folder of stub system headers, for -I."""
    folder = work / "stubs"
    folder.mkdir()
    for name, text in stubs.items():
        (folder / name).write_text(text + "\n")
    return folder


def _write_all_headers(work: Path) -> Path:
    """A C file that includes every header and uses what main() must link."""
    source = work / "all.c"
    source.write_text("".join(f'#include "{h}"\n' for h in headers())
                      + "int main(void) { return fm_simd_level() + (int)fm_flush_denormals_begin(); }\n")
    return source


def compile_all(compiler: str, work: Path) -> str:
    """'' if `compiler` compiles every header strictly, else its messages."""
    proc = subprocess.run([compiler, *STRICT, f"-I{CSRC}", "-c", str(_write_all_headers(work)),
                           "-o", str(work / "all.o")], capture_output=True, text=True)
    return "" if proc.returncode == 0 else proc.stderr


def msvc_view(work: Path) -> str:
    """'' if the headers, preprocessed as MSVC sees them, hold no GNU-only syntax."""
    stubs = _write_stubs(work, STUBS)
    problems = []
    for header in headers():
        proc = subprocess.run(["gcc", "-E", "-P", "-nostdinc", "-undef", "-D_MSC_VER=1930",
                               "-D_M_X64=100", "-D_WIN64=1", f"-I{stubs}", f"-I{CSRC}",
                               str(CSRC / header)], capture_output=True, text=True)
        if proc.returncode:
            problems.append(f"{header}: preprocessing failed: {proc.stderr.strip()}")
            continue
        for number, line in enumerate(proc.stdout.splitlines(), 1):
            if GNU_ONLY.search(line):
                problems.append(f"{header} (as MSVC sees it), line {number}: {line.strip()[:100]}")
    return "\n".join(problems)


def find_clang() -> str:
    """A clang on PATH ('clang' or Debian's versioned 'clang-NN'), or ''."""
    for name in ["clang", *(f"clang-{v}" for v in range(30, 10, -1))]:
        if shutil.which(name):
            return name
    return ""


# only the C library is stubbed; stddef.h, stdint.h and the intrinsics headers are clang's own
MSVC_STUBS = {"math.h": STUBS["math.h"], "string.h": "#include <stddef.h>\n" + STUBS["string.h"]}
MSVC_FLAGS = ["--target=x86_64-pc-windows-msvc", "-fms-compatibility", "-fms-extensions",
              "-fms-compatibility-version=19.30", "-U__clang__", "-Wno-builtin-macro-redefined",
              "-ffreestanding", "-std=c11", "-O2", "-Wall", "-Wextra", "-Wno-unused-function", "-Werror"]


def msvc_compile(clang: str, work: Path) -> str:
    """'' if every header compiles in MSVC mode (see step 3 above), else clang's messages."""
    stubs = _write_stubs(work, MSVC_STUBS)
    proc = subprocess.run([clang, *MSVC_FLAGS, f"-I{stubs}", f"-I{CSRC}", "-c",
                           str(_write_all_headers(work)), "-o", str(work / "all.obj")],
                          capture_output=True, text=True)
    return "" if proc.returncode == 0 else proc.stderr


def _report(label: str, messages: str) -> bool:
    """Prints a check's line (and its messages); True when it failed."""
    print(f"{label}: {'ok' if not messages else 'FAILED'}")
    if messages:
        print(messages)
    return bool(messages)


def main() -> int:
    clang = find_clang()
    compilers = [c for c in ("gcc", "cc", clang, "aarch64-linux-gnu-gcc") if c and shutil.which(c)]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        def work(name: str) -> Path:
            folder = Path(tmp) / name
            folder.mkdir()
            return folder
        for compiler in compilers:
            failed |= _report(compiler, compile_all(compiler, work(compiler)))
        failed |= _report("MSVC view (no GNU-only syntax)", msvc_view(work("msvc")))
        if clang:
            failed |= _report(f"MSVC-mode compile ({clang} --target=x86_64-pc-windows-msvc)",
                              msvc_compile(clang, work("msvc-compile")))
        else:
            print("MSVC-mode compile: skipped (no clang on PATH)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
