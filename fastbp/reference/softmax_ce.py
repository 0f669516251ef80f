"""Twins of ``fastbp.kernels.softmax_ce``: softmax followed by cross-entropy."""

import numpy as np

__all__ = [
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
