"""The record of one kernel case, and how a kernel's results are checked against its twin's.

A ``Case`` names a kernel, how to call it (``fast``: allocates what the kernel writes into, calls it,
returns its results), its twin (``twin``: the same arguments, the same results, from
``fastbp.reference``), the inputs (``make(rng, dtype, size)`` for each ``size`` in ``sizes``) and a
tolerance. ``run(case, size, dtype)`` checks one pair. (``fast`` allocates its outputs on each call;
the layers reuse theirs.)
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Case", "TOL", "run", "check", "filled"]

TOL = {np.float32: 2e-5, np.float64: 1e-12}  # relative and absolute, per dtype
DTYPES = (np.float32, np.float64)


@dataclass(frozen=True)
class Case:
    name: str  # the kernel's name (with a variant after a space: "relu_pool_t ties")
    family: str  # the kernel's module in fastbp.kernels
    fast: Callable
    twin: Callable
    make: Callable[[np.random.Generator, type, Any], tuple]
    sizes: tuple
    tol: float | dict = 1.0  # times TOL[dtype]; or {dtype: tolerance}
    dtypes: tuple = DTYPES  # the float dtypes the case runs in (one, where the kernel takes no floats)
    skip: str = ""  # why the case cannot run on this machine, if it cannot

    def tolerance(self, dtype) -> float:
        return self.tol[dtype] if isinstance(self.tol, dict) else TOL[dtype] * self.tol


def run(case: Case, size, dtype, seed: int = 0):
    """Make the inputs, run the kernel and its twin on copies of them, and check they agree."""
    args = case.make(np.random.default_rng(seed), dtype, size)
    check(case.fast(*deepcopy(args)), case.twin(*deepcopy(args)), dtype, case.tolerance(dtype))


def check(got, want, dtype, tol=None):
    """got == want within ``tol`` (default TOL[dtype]), elementwise through tuples and lists; float
    arrays keep the dtype, integer and bool arrays and scalars and Nones match exactly, NaN matches NaN."""
    from numpy.testing import assert_allclose, assert_array_equal

    tol = TOL[dtype] if tol is None else tol
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want), (type(got), len(got), len(want))
        for g, w in zip(got, want, strict=True):
            check(g, w, dtype, tol)
    elif want is None:
        assert got is None
    elif isinstance(want, (bool, int, np.bool_, np.integer)):
        assert isinstance(got, (bool, int, np.bool_, np.integer)) and got == want, (got, want)
    elif isinstance(want, np.ndarray) and want.dtype.kind in "iub":
        assert_array_equal(got, want)
    else:
        if isinstance(want, np.ndarray):
            assert got.dtype == dtype, f"{got.dtype} out for {np.dtype(dtype)} in"
        assert_allclose(got, want, rtol=tol, atol=tol)


def filled(shape, dtype):
    return np.full(shape, np.nan, dtype)  # NaN: a kernel must overwrite what it does not accumulate
