"""Twins of ``fastbp.kernels.pool``: max pooling through the book's im2col, and the fused
Conv -> ReLU -> Pool block's per-sample kernels written as whole-array NumPy.

Pooling's winner: the first maximum of a window (``np.argmax``), a NaN over any number
(``np.max``/``np.argmax`` return the first NaN). The per-sample kernels take one sample's product
(F, OH*OW) and its pooled output (F, POH, POW).
"""

import numpy as np

from .activations import relu_backward, relu_forward
from .conv import col2im, im2col, out_size

__all__ = [
    "maxpool_forward",
    "maxpool_backward",
    "relu_pool_t",
    "relu_pool_grad_cols",
    "relu_pool_backward_sparse",
]


def maxpool_forward(x, ph, pw, stride, pad):
    """(out, arg): window maxima and their flat index in the window; padding is -inf."""
    n, c, h, w = x.shape
    oh, ow = out_size(h, ph, stride, pad), out_size(w, pw, stride, pad)
    col = im2col(x, ph, pw, stride, pad, fill=-np.inf).reshape(-1, ph * pw)
    arg = np.argmax(col, axis=1)
    out = np.max(col, axis=1)
    to_nchw = lambda a: a.reshape(n, oh, ow, c).transpose(0, 3, 1, 2)  # noqa: E731
    return to_nchw(out), to_nchw(arg)


def maxpool_backward(dout, arg, x_shape, ph, pw, stride, pad):
    d = dout.transpose(0, 2, 3, 1).reshape(-1)
    dmax = np.zeros((d.size, ph * pw), dtype=dout.dtype)
    dmax[np.arange(d.size), arg.transpose(0, 2, 3, 1).reshape(-1)] = d
    return col2im(dmax.reshape(-1, x_shape[1] * ph * pw), x_shape, ph, pw, stride, pad)


# One sample at a time (the fused block) -----------------------------------------------------------


def relu_pool_t(rows, cols, b, ow, ph, pw, stride):
    """(out, arg) of max pooling (no padding) of ReLU(the conv output + bias), the conv output at
    position r being rows[:, cols[r]]; arg is 0 where the output is 0 (all ReLU outputs of the window
    are 0: the first wins), as a Pooling after a Relu records."""
    y = rows[:, cols] + b[:, None]  # (F, OH*OW)
    f = y.shape[0]
    oh = cols.size // ow
    out, arg = maxpool_forward(relu_forward(y).reshape(1, f, oh, ow), ph, pw, stride, 0)
    return out[0], arg[0]


def _pool_grad(dout, out, arg, ow, pw, stride, n_pos):
    """(F, n_pos): each window's gradient, through ReLU, at its winner's output position."""
    f, poh, pow_ = dout.shape
    v = relu_backward(dout.copy(), out)
    i, j = np.meshgrid(np.arange(poh), np.arange(pow_), indexing="ij")
    pos = (i * stride + arg // pw) * ow + j * stride + arg % pw
    g = np.zeros((f, n_pos), dout.dtype)
    np.add.at(g, (np.arange(f)[:, None, None], pos), v)
    return g


def relu_pool_grad_cols(dout, out, arg, ow, ph, pw, stride, cols, m, db):
    """(g, db'): g (F, m) the gradient of the product W @ patches (active_patches_t's columns, whose
    positions add up on their column), db' = db + the bias gradient."""
    gy = _pool_grad(dout, out, arg, ow, pw, stride, cols.size)
    g = np.zeros((gy.shape[0], m), gy.dtype)
    np.add.at(g.T, cols, gy.T)
    return g, db + gy.sum(axis=1)


def relu_pool_backward_sparse(dout, out, arg, ow, pw, stride, col, Wf, dW, db, need_dx):
    """(dW + dW of this sample, db + db of this sample, dcol or None) back through pooling, ReLU, bias
    and the convolution of one sample with patches col (OH*OW, C*FH*FW) and filters Wf (F, C*FH*FW)."""
    gy = _pool_grad(dout, out, arg, ow, pw, stride, col.shape[0])
    return dW + gy @ col, db + gy.sum(axis=1), (gy.T @ Wf if need_dx else None)
