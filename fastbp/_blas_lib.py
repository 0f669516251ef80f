"""Where NumPy's own BLAS routines are: the address kernels/blas.py calls (not a kernel itself)."""

from __future__ import annotations

import ctypes
import functools
import glob
import os

import numpy as np

__all__ = ["address", "threads"]

_SYMBOLS = {"d": "scipy_cblas_dgemm64_", "f": "scipy_cblas_sgemm64_"}


@functools.cache
def _library():
    """NumPy's bundled scipy-openblas (64-bit integers), or None."""
    root = os.path.dirname(np.__file__)
    for pattern in (
        "../numpy.libs/*scipy_openblas64_*",
        ".dylibs/*scipy_openblas64_*",
        "../numpy.libs/*.dll",
    ):
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            if all(hasattr(lib, s) for s in _SYMBOLS.values()):
                return lib
    return None


def address(dtype) -> int:
    """The address of NumPy's BLAS ``cblas_?gemm`` for ``dtype`` (float32 or float64), or 0."""
    lib = _library()
    char = np.dtype(dtype).char
    if lib is None or char not in _SYMBOLS:
        return 0
    return ctypes.cast(getattr(lib, _SYMBOLS[char]), ctypes.c_void_p).value or 0


@functools.cache
def _get_num_threads():
    lib = _library()
    f = getattr(lib, "scipy_openblas_get_num_threads64_", None) if lib is not None else None
    if f is not None:
        f.restype, f.argtypes = ctypes.c_int, []
    return f


def threads() -> int:
    """How many threads NumPy's BLAS uses now (0 when that BLAS is not the one found here): the order
    in which OpenBLAS sums a product can depend on it."""
    f = _get_num_threads()
    return f() if f is not None else 0
