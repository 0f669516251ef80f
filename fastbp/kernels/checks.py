"""Cheap scans over inputs: NaN/inf and label range."""

import numpy as np

from .._jit import jit


@jit
def all_finite(a):
    """True when no element of ``a`` (any shape, C-contiguous) is NaN or +-inf.

    No early exit: the loop vectorises (8.5 us for 100x784 float64 here, against 15 us for
    ``np.isfinite(a).all()`` and 65 us for a ``sum(v * 0)`` trick, which cannot reorder its adds).
    """
    flat = a.ravel()
    ok = True
    for i in range(flat.size):
        ok &= np.isfinite(flat[i])
    return ok


@jit
def first_nonfinite(a):
    """The flat index of the first NaN or +-inf of ``a`` (any shape, C-contiguous), or -1: for kernels
    that check their input before they write anything (an early exit: the input is small there)."""
    flat = a.ravel()
    for i in range(flat.size):
        if not np.isfinite(flat[i]):
            return i
    return -1


@jit
def first_bad_label(t, n_classes):
    """Index of the first label outside ``[0, n_classes)``, or -1 when all are valid."""
    flat = t.ravel()
    for i in range(flat.size):
        if flat[i] < 0 or flat[i] >= n_classes:
            return i
    return -1


@jit
def copy_all_finite(src, dst):
    """dst = src converted to dst's dtype, in one pass; True when no element is NaN or +-inf.

    src, dst: C-contiguous, same size (any shapes); the input conversion and its check fused.
    """
    sf, df = src.ravel(), dst.ravel()
    ok = True
    for i in range(sf.size):
        v = sf[i]
        ok &= np.isfinite(v)
        df[i] = v
    return ok
