"""Twins of ``fastbp.kernels.checks``: NaN/inf and label-range scans."""

import numpy as np

__all__ = ["all_finite", "copy_all_finite", "first_bad_label", "first_nonfinite"]


def all_finite(a):
    return bool(np.isfinite(a).all())


def copy_all_finite(src, dst):
    dst[...] = src.reshape(dst.shape)
    return bool(np.isfinite(src).all())


def first_bad_label(t, n_classes):
    bad = np.flatnonzero((t < 0) | (t >= n_classes))
    return int(bad[0]) if bad.size else -1


def first_nonfinite(a):
    bad = np.flatnonzero(~np.isfinite(a))
    return int(bad[0]) if bad.size else -1
