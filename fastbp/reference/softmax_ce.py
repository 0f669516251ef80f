"""Twins of ``fastbp.kernels.softmax_ce``: softmax followed by cross-entropy."""

import numpy as np

__all__ = [
    "BOOK_EPS",
    "book_softmax_ce_forward",
    "softmax",
    "softmax_ce_forward",
    "softmax_ce_forward_dist",
    "softmax_ce_backward",
    "softmax_ce_backward_dist",
]


def _log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    z = x - m
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_ce_forward(x, t):
    """(mean_i -log softmax(x)[i, t_i], softmax(x)) for class indices t."""
    loss = -_log_softmax(x)[np.arange(x.shape[0]), t].astype(np.float64).mean()
    return loss, softmax(x)


def softmax_ce_forward_dist(x, t):
    """(mean_i -sum_j t_ij log softmax(x)_ij, softmax(x)) for target rows t."""
    logp = _log_softmax(x).astype(np.float64)
    loss = -np.where(t != 0, t * logp, 0.0).sum() / x.shape[0]
    return loss, softmax(x)


def softmax_ce_backward(dout, p, t):
    dx = p.copy()
    dx[np.arange(p.shape[0]), t] -= 1
    return dx * p.dtype.type(dout) / p.dtype.type(p.shape[0])


def softmax_ce_backward_dist(dout, p, t):
    return (p - t) * p.dtype.type(dout) / p.dtype.type(p.shape[0])


BOOK_EPS = 1e-7  # the book's guard inside the log


def book_softmax_ce_forward(x, t):
    """(loss, softmax(x)) computed as the book computes them, operation for operation: the softmax of
    the max-shifted scores, then -sum(log(y[i, t_i] + 1e-7)) / N. Target rows are turned into their
    argmax first, as the book does (exact for one-hot rows; a soft target counts as its largest class)."""
    z = x - np.max(x, axis=-1, keepdims=True)
    y = np.exp(z) / np.sum(np.exp(z), axis=-1, keepdims=True)
    n = x.shape[0]
    if t.ndim != 1:
        t = t.argmax(axis=1)
    return -np.sum(np.log(y[np.arange(n), t] + BOOK_EPS)) / n, y
