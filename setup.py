"""Build script: cythonizes the kernels in fastmlp/_kernels (metadata lives in pyproject.toml)."""
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

KERNELS = ["codes", "blas", "small_gemm", "dense", "dropout", "loss", "optim", "network", "finite"]

# -O3 lets gcc vectorise the elementwise loops in csrc/; -march=native only on request,
# because a wheel built with it crashes on older CPUs. -g0: no debug sections, a small install.
compile_args = ["-O3", "-fno-math-errno", "-g0"]
if os.environ.get("FASTMLP_NATIVE") == "1":
    compile_args.append("-march=native")

extensions = [
    Extension(
        f"fastmlp._kernels.{name}",
        [f"fastmlp/_kernels/{name}.pyx"],
        include_dirs=["csrc", numpy.get_include()],
        extra_compile_args=compile_args,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for name in KERNELS
]

setup(
    ext_modules=cythonize(
        extensions,
        # the generated C stays out of the package tree, so it is not installed with it
        build_dir="build/cython",
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
