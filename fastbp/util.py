"""The book's helpers (``common/util.py``) that the training chapters use.

``smooth_curve`` smooths a loss curve for plotting; ``shuffle_dataset`` permutes samples and labels
together, drawing from the global ``np.random`` as the book does.
"""

from __future__ import annotations

import numpy as np

__all__ = ["smooth_curve", "shuffle_dataset"]

_SMOOTH_HALF = 5  # an 11-point Kaiser window (beta = 2)


def smooth_curve(x):
    """The curve convolved with a normalised 11-point Kaiser window (beta 2), same length as x.

    The ends are extended by reflection (x[5], ..., x[1] before the start; likewise after the end),
    so the output has no edge drop.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size <= _SMOOTH_HALF:
        raise ValueError(
            f"smooth_curve: x must be 1-D with more than {_SMOOTH_HALF} points, got shape {x.shape}"
        )
    w = np.kaiser(2 * _SMOOTH_HALF + 1, 2)
    return np.convolve(np.pad(x, _SMOOTH_HALF, mode="reflect"), w / w.sum(), mode="valid")


def shuffle_dataset(x, t):
    """(x[p], t[p]) for one ``np.random.permutation`` p of the samples (first axis)."""
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim == 0 or t.ndim == 0 or x.shape[0] != t.shape[0]:
        raise ValueError(
            f"shuffle_dataset: x and t must have the same number of samples, got {x.shape} and {t.shape}"
        )
    permutation = np.random.permutation(x.shape[0])
    return x[permutation], t[permutation]
