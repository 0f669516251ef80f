"""Optimizer updates, in place, one pass over each parameter.

Each ``<rule>_update(p, g, *state, *hyper)`` walks a C-contiguous parameter ``p``, its gradient ``g``
and the rule's state arrays together, updates ``p`` and the state in place and returns None. The
operations and their order are the book's (``common/optimizer.py``), element by element, so a float64
run is bit-for-bit the NumPy one (SGD's row skipping, below, may keep a -0.0 weight where NumPy
writes +0.0). Hyperparameters are cast to ``p``'s dtype first, as NumPy does with
a Python scalar, so float32 stays float32.

Each iteration loads all its operands before it stores any. Large NumPy arrays start at the same
offset within a 4 KiB page, so element i of every array shares its low address bits; a load issued
after a store with the same low bits waits for it (4K aliasing). Storing m[i] before loading v[i]
made Adam run at half speed, depending on where the arrays happened to land (measured here: 35 vs
72 us for 39k float64 parameters).
"""

import numpy as np

from .._jit import jit
from ..config import ROWS_MIN_SKIPPED, ROWS_PROBE

EPS = 1e-7  # the book's epsilon in AdaGrad, RMSprop and Adam


@jit
def sgd_update(p, g, lr):
    """p -= lr g."""
    pf, gf = p.ravel(), g.ravel()
    a = pf.dtype.type(lr)
    for i in range(pf.size):
        pf[i] -= a * gf[i]


@jit
def momentum_update(p, g, v, lr, momentum):
    """v = momentum v - lr g;  p += v."""
    pf, gf, vf = p.ravel(), g.ravel(), v.ravel()
    a, m = pf.dtype.type(lr), pf.dtype.type(momentum)
    for i in range(pf.size):
        gi, vi, pi = gf[i], vf[i], pf[i]
        vi = m * vi - a * gi
        vf[i] = vi
        pf[i] = pi + vi


@jit
def nesterov_update(p, g, v, lr, momentum):
    """p += momentum^2 v;  p -= (1 + momentum) lr g;  v = momentum v - lr g (the book's order)."""
    pf, gf, vf = p.ravel(), g.ravel(), v.ravel()
    a, m = pf.dtype.type(lr), pf.dtype.type(momentum)
    mm = pf.dtype.type(momentum * momentum)
    step = pf.dtype.type((1 + momentum) * lr)
    for i in range(pf.size):
        gi, vi, pi = gf[i], vf[i], pf[i]
        pi += mm * vi
        pf[i] = pi - step * gi
        vf[i] = m * vi - a * gi


@jit
def adagrad_update(p, g, h, lr):
    """h += g^2;  p -= lr g / (sqrt(h) + 1e-7)."""
    pf, gf, hf = p.ravel(), g.ravel(), h.ravel()
    a, eps = pf.dtype.type(lr), pf.dtype.type(EPS)
    for i in range(pf.size):
        gi, hi, pi = gf[i], hf[i], pf[i]
        hi += gi * gi
        hf[i] = hi
        pf[i] = pi - a * gi / (np.sqrt(hi) + eps)


@jit
def rmsprop_update(p, g, h, lr, decay_rate):
    """h = decay h + (1 - decay) g^2;  p -= lr g / (sqrt(h) + 1e-7)."""
    pf, gf, hf = p.ravel(), g.ravel(), h.ravel()
    a, eps = pf.dtype.type(lr), pf.dtype.type(EPS)
    d, c = pf.dtype.type(decay_rate), pf.dtype.type(1 - decay_rate)
    for i in range(pf.size):
        gi, hi, pi = gf[i], hf[i], pf[i]
        hi = hi * d + c * gi * gi
        hf[i] = hi
        pf[i] = pi - a * gi / (np.sqrt(hi) + eps)


@jit
def adam_update(p, g, m, v, lr_t, beta1, beta2):
    """m += (1 - b1)(g - m);  v += (1 - b2)(g^2 - v);  p -= lr_t m / (sqrt(v) + 1e-7).

    ``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)`` is the book's bias correction, computed once per step
    by the caller; the epsilon sits outside it, as in the book.
    """
    pf, gf, mf, vf = p.ravel(), g.ravel(), m.ravel(), v.ravel()
    a, eps = pf.dtype.type(lr_t), pf.dtype.type(EPS)
    c1, c2 = pf.dtype.type(1 - beta1), pf.dtype.type(1 - beta2)
    for i in range(pf.size):
        gi, mi, vi, pi = gf[i], mf[i], vf[i], pf[i]
        mi += c1 * (gi - mi)
        vi += c2 * (gi * gi - vi)
        mf[i] = mi
        vf[i] = vi
        pf[i] = pi - a * mi / (np.sqrt(vi) + eps)


# One call per step: each rule over tuples of parameters, gradients and states (flat views of one
# dtype). Per-parameter calls cost ~0.3 us each in dispatch; MultiLayerNet has 12 parameters.


# SGD over all parameters skips rows whose gradient is all zero (dW = x^T dout has a zero row for every
# input feature that is 0 across the batch): a parameter goes row by row while at least
# config.ROWS_MIN_SKIPPED of its rows were skipped at the last row pass, with a row pass every
# config.ROWS_PROBE steps to look again (the measurements are in config). A skipped row is exactly what
# the update would compute (p - lr * 0 = p) except for the sign of zero: a weight of -0.0 with a
# gradient of -0.0 stays -0.0 where p - lr g gives +0.0.


@jit
def sgd_update_rows(p, g, lr, width):
    """sgd_update, leaving the rows (``width`` elements each) whose gradient is all +-0 as they are;
    returns the number of rows left. ``p``, ``g``: flat, ``p.size`` a multiple of ``width``."""
    a = p.dtype.type(lr)
    zero = p.dtype.type(0)
    skipped = 0
    for r in range(p.size // width):
        gr = g[r * width : (r + 1) * width]  # slices: indices from 0, so the loops vectorise
        nonzero = 0
        for j in range(width):
            nonzero += gr[j] != zero
        if nonzero:
            pr = p[r * width : (r + 1) * width]
            for j in range(width):
                pr[j] -= a * gr[j]
        else:
            skipped += 1
    return skipped


@jit
def sgd_update_param(p, g, width, modes, i, lr):
    """sgd_update of parameter i of sgd_update_all (flat ``p``, ``g``): by rows of ``width`` where that
    pays (see above), by ``modes[i]``, which it updates. (kernels/mlp_blas folds it into a step.)"""
    m = modes[i]
    if p.itemsize == 8 and (m < 0 or m >= ROWS_PROBE) and abs(p.dtype.type(lr)) < np.inf:
        rows = p.size // width
        skipped = sgd_update_rows(p, g, lr, width)
        modes[i] = -1 if skipped >= ROWS_MIN_SKIPPED * rows else 0
    else:
        sgd_update(p, g, lr)
        modes[i] = m + 1


@jit
def sgd_update_all(ps, gs, widths, modes, lr):
    """sgd_update for every (ps[i], gs[i]), by rows of ``widths[i]`` where that pays (see above).

    ``modes[i]``: -1 while parameter i goes by rows, else the number of plain steps since its last
    row pass; updated here. A non-finite lr never skips (lr * 0 is then NaN); nor does float32.
    """
    for i in range(len(ps)):
        sgd_update_param(ps[i], gs[i], widths[i], modes, i, lr)


@jit
def momentum_update_all(ps, gs, vs, lr, momentum):
    """momentum_update for every (ps[i], gs[i], vs[i])."""
    for i in range(len(ps)):
        momentum_update(ps[i], gs[i], vs[i], lr, momentum)


@jit
def nesterov_update_all(ps, gs, vs, lr, momentum):
    """nesterov_update for every (ps[i], gs[i], vs[i])."""
    for i in range(len(ps)):
        nesterov_update(ps[i], gs[i], vs[i], lr, momentum)


@jit
def adagrad_update_all(ps, gs, hs, lr):
    """adagrad_update for every (ps[i], gs[i], hs[i])."""
    for i in range(len(ps)):
        adagrad_update(ps[i], gs[i], hs[i], lr)


@jit
def rmsprop_update_all(ps, gs, hs, lr, decay_rate):
    """rmsprop_update for every (ps[i], gs[i], hs[i])."""
    for i in range(len(ps)):
        rmsprop_update(ps[i], gs[i], hs[i], lr, decay_rate)


@jit
def adam_update_all(ps, gs, ms, vs, lr_t, beta1, beta2):
    """adam_update for every (ps[i], gs[i], ms[i], vs[i])."""
    for i in range(len(ps)):
        adam_update(ps[i], gs[i], ms[i], vs[i], lr_t, beta1, beta2)
