"""scipy's table of BLAS functions for Cython (scipy.linalg.cython_blas), loaded without the
rest of scipy.linalg.

Why: blas.pyx cimports its functions, so importing the kernels imports that module, and
Python imports a submodule's package first: scipy.linalg's __init__ imports all of
scipy.linalg (its array-API layer pulls in numpy.testing and numpy.f2py), 200 ms of a 320 ms
`import fastmlp` on the AMD Zen 4 VM, where the extension module alone loads in 3 ms. A service's
cold start pays that for functions fastmlp never calls.

load() registers the extension module under its own name before the kernels import it; when
scipy.linalg is imported later (by the user or by anything else), a one-shot import hook sets
the package's `cython_blas` attribute to that same module, as importing it normally would. If
scipy.linalg is imported already, or the file is not where scipy keeps it, nothing is done and
the kernels' import takes the usual way.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Optional

NAME = "scipy.linalg.cython_blas"
PACKAGE = "scipy.linalg"


def load() -> None:
    """Loads scipy.linalg.cython_blas alone, if it can (see the module's docstring)."""
    if NAME in sys.modules or PACKAGE in sys.modules:
        return
    import scipy
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(scipy.__path__[0], "linalg", "cython_blas" + suffix)
        if os.path.exists(path):
            break
    else:
        return
    spec = importlib.util.spec_from_file_location(NAME, path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[NAME]  # the kernels' import takes the usual way (and says what fails)
        return
    sys.meta_path.insert(0, _AttachToPackage())


class _AttachToPackage(importlib.abc.MetaPathFinder):
    """When scipy.linalg is imported, has its loader set the package's cython_blas attribute to
    the module load() registered (then leaves sys.meta_path)."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]],
                  target: Optional[ModuleType] = None) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != PACKAGE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)  # the finders after this one
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(package: ModuleType) -> None:
            run(package)
            package.cython_blas = sys.modules[NAME]  # type: ignore[attr-defined]

        spec.loader.exec_module = exec_module  # type: ignore[method-assign,assignment]
        return spec
