"""Twins of ``fastbp.kernels.optim``: the book's update rules, in place, as the book's optimizers."""

import numpy as np

from ..config import ROWS_MIN_SKIPPED, ROWS_PROBE

__all__ = [
    "EPS",
    "sgd_update",
    "momentum_update",
    "nesterov_update",
    "adagrad_update",
    "rmsprop_update",
    "adam_update",
    "sgd_update_rows",
    "sgd_update_param",
    "sgd_update_all",
    "momentum_update_all",
    "nesterov_update_all",
    "adagrad_update_all",
    "rmsprop_update_all",
    "adam_update_all",
]

EPS = 1e-7


def sgd_update(p, g, lr):
    p -= lr * g


def momentum_update(p, g, v, lr, momentum):
    v[...] = momentum * v - lr * g
    p += v


def nesterov_update(p, g, v, lr, momentum):
    p += momentum * momentum * v
    p -= (1 + momentum) * lr * g
    v *= momentum
    v -= lr * g


def adagrad_update(p, g, h, lr):
    h += g * g
    p -= lr * g / (np.sqrt(h) + EPS)


def rmsprop_update(p, g, h, lr, decay_rate):
    h *= decay_rate
    h += (1 - decay_rate) * g * g
    p -= lr * g / (np.sqrt(h) + EPS)


def adam_update(p, g, m, v, lr_t, beta1, beta2):
    m += (1 - beta1) * (g - m)
    v += (1 - beta2) * (g**2 - v)
    p -= lr_t * m / (np.sqrt(v) + EPS)


def sgd_update_rows(p, g, lr, width):
    """sgd_update on the rows (``width`` elements) of flat p, g whose gradient is not all zero; returns
    the number of rows left as they were."""
    pr, gr = p.reshape(-1, width), g.reshape(-1, width)
    moving = (gr != 0).any(axis=1)
    pr[moving] -= lr * gr[moving]
    return int(np.count_nonzero(~moving))


def sgd_update_param(p, g, width, modes, i, lr):
    """sgd_update of flat p, with ``modes[i]`` as the kernel leaves it: a float64 parameter whose mode
    is < 0 or >= ROWS_PROBE makes a row pass (-1 if at least ROWS_MIN_SKIPPED of g's rows of ``width``
    are all 0, else 0); any other step counts up."""
    m = modes[i]
    if p.itemsize == 8 and (m < 0 or m >= ROWS_PROBE) and np.isfinite(lr):
        rows = g.reshape(-1, width)
        skipped = np.count_nonzero(~(rows != 0).any(axis=1))
        modes[i] = -1 if skipped >= ROWS_MIN_SKIPPED * rows.shape[0] else 0
    else:
        modes[i] = m + 1
    with np.errstate(invalid="ignore"):
        sgd_update(p, g, lr)


def sgd_update_all(ps, gs, widths, modes, lr):
    """sgd_update for every parameter (``widths`` and ``modes`` only steer the kernel's row skipping,
    which changes nothing but the sign of a zero)."""
    for p, g in zip(ps, gs, strict=True):
        sgd_update(p, g, lr)


def momentum_update_all(ps, gs, vs, lr, momentum):
    for p, g, v in zip(ps, gs, vs, strict=True):
        momentum_update(p, g, v, lr, momentum)


def nesterov_update_all(ps, gs, vs, lr, momentum):
    for p, g, v in zip(ps, gs, vs, strict=True):
        nesterov_update(p, g, v, lr, momentum)


def adagrad_update_all(ps, gs, hs, lr):
    for p, g, h in zip(ps, gs, hs, strict=True):
        adagrad_update(p, g, h, lr)


def rmsprop_update_all(ps, gs, hs, lr, decay_rate):
    for p, g, h in zip(ps, gs, hs, strict=True):
        rmsprop_update(p, g, h, lr, decay_rate)


def adam_update_all(ps, gs, ms, vs, lr_t, beta1, beta2):
    for p, g, m, v in zip(ps, gs, ms, vs, strict=True):
        adam_update(p, g, m, v, lr_t, beta1, beta2)
