"""Twins of ``fastbp.kernels.mlp``: a fully connected ReLU network, layer by layer with BLAS.

The kernels skip the inputs that are exactly 0 in their products only while the weights (forward)
and the output gradient (backward) are finite, so they agree with these twins for any values: a NaN or
inf weight met only by zero inputs gives NaN here and there.
"""

import numpy as np

from ..config import ROWS_MIN_SKIPPED, ROWS_PROBE
from .activations import relu_backward, relu_forward
from .softmax_ce import softmax_ce_backward, softmax_ce_forward

__all__ = ["dense_forward", "dense_backward", "mlp_forward", "mlp_backward", "mlp_step", "mlp_sgd_step"]


def dense_forward(x, W, b, relu):
    """x W + b, then ReLU if ``relu``."""
    with np.errstate(invalid="ignore"):  # (0 * inf is NaN: the value wanted, no warning)
        y = x @ W + b
    return relu_forward(y) if relu else y


def dense_backward(x, W, dout, need_dx):
    """(dW, db, dx) = (x^T dout, sum_i dout[i], dout W^T if need_dx else None)."""
    with np.errstate(invalid="ignore"):
        return x.T @ dout, dout.sum(axis=0), (dout @ W.T if need_dx else None)


def mlp_forward(x, Ws, bs):
    """Every layer's output: ReLU(h W + b) for the hidden layers, the raw scores last."""
    hs = []
    for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        x = dense_forward(x, W, b, relu=i < len(Ws) - 1)
        hs.append(x)
    return hs


def mlp_backward(x, Ws, hs, dscores):
    """(dWs, dbs, ds): from the gradient of the scores back to every layer's dW and db; ds[l] is the
    gradient of hs[l] (through its ReLU for the hidden layers, as the kernel leaves it)."""
    n_layers = len(Ws)
    dWs, dbs, ds = [None] * n_layers, [None] * n_layers, [None] * n_layers
    g = dscores
    for i in range(n_layers - 1, -1, -1):
        if i < n_layers - 1:
            g = relu_backward(g.copy(), hs[i])
        ds[i] = g
        dWs[i], dbs[i], g = dense_backward(hs[i - 1] if i > 0 else x, Ws[i], g, need_dx=i > 0)
    return dWs, dbs, ds


def mlp_step(x, t, Ws, bs):
    """(loss, hs, softmax, dWs, dbs, ds): forward, softmax cross-entropy against labels t, backward."""
    hs = mlp_forward(x, Ws, bs)
    loss, p = softmax_ce_forward(hs[-1], t)
    dWs, dbs, ds = mlp_backward(x, Ws, hs, softmax_ce_backward(1.0, p, t))
    return loss, hs, p, dWs, dbs, ds


def mlp_sgd_step(x, t, Ws, bs, lr, modes):
    """(loss, params, modes): mlp_step, then SGD(lr) on the parameters ``(W1, b1, W2, b2, ...)`` (updated
    in place), with ``modes`` as kernels.optim.sgd_update_all leaves them: a float64 parameter whose
    mode is < 0 or >= ROWS_PROBE makes a row pass, counting the rows of its gradient that are all 0."""
    loss, _, _, dWs, dbs, _ = mlp_step(x, t, Ws, bs)
    ps = tuple(a for pair in zip(Ws, bs, strict=True) for a in pair)
    gs = tuple(g for pair in zip(dWs, dbs, strict=True) for g in pair)
    modes = modes.copy()
    for i, (p, g) in enumerate(zip(ps, gs, strict=True)):
        if p.itemsize == 8 and (modes[i] < 0 or modes[i] >= ROWS_PROBE) and np.isfinite(lr):
            rows = g.reshape(-1, p.shape[-1])
            skipped = np.count_nonzero(~(rows != 0).any(axis=1))
            modes[i] = -1 if skipped >= ROWS_MIN_SKIPPED * rows.shape[0] else 0
        else:
            modes[i] += 1
        with np.errstate(invalid="ignore"):
            p -= p.dtype.type(lr) * g
    return loss, ps, modes
