"""The book's free functions (``common/functions.py``), in NumPy.

These are the chapter 3-4 building blocks that scripts call on whole arrays; the layers use the
compiled kernels instead. Differences from the book, all deliberate:

- ``sigmoid`` does not warn on overflow: for x < -709 it returns exactly 0, the correct limit.
- ``cross_entropy_error`` is the exact ``-mean(log y[t])``, without the book's 1e-7 inside the log
  (a zero probability gives inf, the true value); ``softmax_loss`` works from the logits by
  log-sum-exp, so it is finite for any finite input.
- ``step_function`` returns int64 (the book's ``np.int`` no longer exists in NumPy).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "np",
    "identity_function",
    "step_function",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "relu_grad",
    "softmax",
    "sum_squared_error",
    "mean_squared_error",
    "cross_entropy_error",
    "softmax_loss",
]


def _numeric(x, name: str, where: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {name} must be a numeric array, got dtype {x.dtype}")
    return x


def identity_function(x):
    """x, unchanged (the output activation for regression)."""
    return x


def step_function(x):
    """1 where x > 0, else 0, as int64."""
    return np.array(_numeric(x, "x", "step_function") > 0, dtype=np.int64)


def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise; exactly 0 (no overflow warning) for very negative x."""
    x = _numeric(x, "x", "sigmoid")
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    """d sigmoid / dx = (1 - sigmoid(x)) sigmoid(x)."""
    s = sigmoid(x)
    return (1.0 - s) * s


def relu(x):
    """max(0, x), elementwise."""
    return np.maximum(0, _numeric(x, "x", "relu"))


def relu_grad(x):
    """1 where x >= 0, else 0 (note: 1 at x = 0, as the book's function; the Relu layer uses 0)."""
    x = _numeric(x, "x", "relu_grad")
    grad = np.zeros_like(x)
    grad[x >= 0] = 1
    return grad


def softmax(x):
    """exp(x - max) / sum(exp(x - max)) along the last axis; any rank >= 1."""
    x = _numeric(x, "x", "softmax")
    if x.ndim == 0:
        raise ValueError("softmax: x must have at least 1 dimension, got a scalar")
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sum_squared_error(y, t):
    """0.5 * sum((y - t)^2) over all elements (not divided by the batch size, as in the book)."""
    y, t = _numeric(y, "y", "sum_squared_error"), _numeric(t, "t", "sum_squared_error")
    if y.shape != t.shape:
        raise ValueError(f"sum_squared_error: y and t must have the same shape, got {y.shape} and {t.shape}")
    return 0.5 * np.sum((y - t) ** 2)


mean_squared_error = sum_squared_error  # the book's name before 2019


def _as_rows(y, t, where: str):
    """The book's conventions: 1-D y is one sample; t of y's size is one-hot, else class indices."""
    y, t = _numeric(y, "y", where), _numeric(t, "t", where)
    if y.ndim == 1:
        y, t = y.reshape(1, -1), t.reshape(1, -1) if t.size == y.size else t.reshape(1)
    if y.ndim != 2:
        raise ValueError(f"{where}: y must be 1-D or 2-D (samples, classes), got shape {y.shape}")
    n, c = y.shape
    if t.size == y.size:
        t = t.reshape(n, c).argmax(axis=1)
    elif t.size == n and t.dtype.kind in "iu":
        t = t.reshape(n)
    else:
        raise ValueError(
            f"{where}: t must be {n} integer class indices or one-hot rows of shape {y.shape}, "
            f"got shape {t.shape} and dtype {t.dtype}"
        )
    if n and (t.min() < 0 or t.max() >= c):
        raise ValueError(f"{where}: t holds a class index outside [0, {c})")
    return y, t


def cross_entropy_error(y, t):
    """-mean_i log y[i, t_i] for probabilities y (N, C) or (C,), labels as indices or one-hot."""
    y, t = _as_rows(y, t, "cross_entropy_error")
    with np.errstate(divide="ignore"):
        return -np.sum(np.log(y[np.arange(y.shape[0]), t])) / y.shape[0]


def softmax_loss(X, t):
    """cross_entropy_error(softmax(X), t), computed stably from the logits by log-sum-exp."""
    X, t = _as_rows(X, t, "softmax_loss")
    m = X.max(axis=1, keepdims=True)
    log_p = X - m - np.log(np.exp(X - m).sum(axis=1, keepdims=True))
    return -np.sum(log_p[np.arange(X.shape[0]), t]) / X.shape[0]
