"""The book's helpers (``common/util.py``).

``smooth_curve`` smooths a loss curve for plotting; ``shuffle_dataset`` permutes samples and labels
together, drawing from the global ``np.random`` as the book does; ``im2col``/``col2im`` unfold image
patches into rows and fold them back (compiled kernels); ``conv_output_size`` is the book's formula.
"""

from __future__ import annotations

import numbers

import numpy as np

from .kernels import conv as _conv

__all__ = ["smooth_curve", "shuffle_dataset", "im2col", "col2im", "conv_output_size"]

_SMOOTH_HALF = 5  # an 11-point Kaiser window (beta = 2)


def smooth_curve(x):
    """The curve convolved with a normalised 11-point Kaiser window (beta 2): y_j = sum_k w_k x_(j-5+k).

    x: 1-D with more than 5 points -> float64, x's length. The book's values, ends included: past
    the start the signal is reflected without repeating x[0] (x[5], ..., x[1]), past the end
    reflected repeating the last point (x[-1], ..., x[-5]), as the book's padding by
    ``x[window_len-1:0:-1]`` and ``x[-1:-window_len:-1]`` does (only the 5 points nearest each end
    reach the output once the book drops its first and last 5).

    For 6 to 10 points the book's function returns a shorter array (0 to 9 points: its start padding
    is cut short); this one returns len(x) points by the same rule.
    """
    x = np.asarray(x, dtype=np.float64)
    h = _SMOOTH_HALF
    if x.ndim != 1 or x.size <= h:
        raise ValueError(f"smooth_curve: x must be 1-D with more than {h} points, got shape {x.shape}")
    w = np.kaiser(2 * h + 1, 2)
    padded = np.concatenate((x[h:0:-1], x, x[-1 : -h - 1 : -1]))
    return np.convolve(w / w.sum(), padded, mode="valid")


def shuffle_dataset(x, t):
    """(x[p], t[p]) for one ``np.random.permutation`` p of the samples (first axis)."""
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim == 0 or t.ndim == 0 or x.shape[0] != t.shape[0]:
        raise ValueError(
            f"shuffle_dataset: x and t must have the same number of samples, got {x.shape} and {t.shape}"
        )
    permutation = np.random.permutation(x.shape[0])
    return x[permutation], t[permutation]


def conv_output_size(input_size, filter_size, stride=1, pad=0):
    """(input_size + 2 pad - filter_size) / stride + 1, as a float (true division), as the book."""
    return (input_size + 2 * pad - filter_size) / stride + 1


def _geometry(shape, filter_h, filter_w, stride, pad, where):
    for name, v, lo in (
        ("filter_h", filter_h, 1),
        ("filter_w", filter_w, 1),
        ("stride", stride, 1),
        ("pad", pad, 0),
    ):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
            raise ValueError(f"{where}: {name} must be an integer >= {lo}, got {v!r}")
    if len(shape) != 4:
        raise ValueError(f"{where}: the input must be 4-D (N, C, H, W), got shape {tuple(shape)}")
    n, c, h, w = shape
    oh, ow = (h + 2 * pad - filter_h) // stride + 1, (w + 2 * pad - filter_w) // stride + 1
    if oh < 1 or ow < 1:
        raise ValueError(
            f"{where}: the filter ({filter_h}x{filter_w}) is larger than the padded input "
            f"({h + 2 * pad}x{w + 2 * pad})"
        )
    return n, c, h, w, oh, ow


def _float(a):
    a = np.asarray(a)
    return np.ascontiguousarray(a, dtype=a.dtype if a.dtype in (np.float32, np.float64) else np.float64)


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """Unfold (N, C, H, W) into (N*OH*OW, C*FH*FW): one row per output position, (c, i, j) columns.

    Zero padding of ``pad``; float32 stays float32, anything else becomes float64 (as the book's).
    """
    x = _float(input_data)
    n, c, h, w, oh, ow = _geometry(x.shape, filter_h, filter_w, stride, pad, "im2col")
    col = np.empty((n * oh * ow, c * filter_h * filter_w), x.dtype)
    _conv.im2col(x, filter_h, filter_w, stride, pad, col)
    return col


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of im2col: each entry added back at its input position (overlaps accumulate)."""
    col = _float(col)
    n, c, h, w, oh, ow = _geometry(tuple(input_shape), filter_h, filter_w, stride, pad, "col2im")
    if col.shape != (n * oh * ow, c * filter_h * filter_w):
        raise ValueError(
            f"col2im: col must have shape {(n * oh * ow, c * filter_h * filter_w)}, got {col.shape}"
        )
    dx = np.empty((n, c, h, w), col.dtype)
    _conv.col2im(col, filter_h, filter_w, stride, pad, dx)
    return dx
