"""Twins of ``fastbp.kernels.conv``: the book's im2col approach, and each per-sample kernel of the
Convolution layer and the fused Conv -> ReLU -> Pool block written as whole-array NumPy.

The per-sample kernels take one sample (C, H, W) or one sample's product (F, OH*OW); their twins are
the batch twins on a batch of one. Pooling's winner: the first maximum of a window (``np.argmax``),
a NaN over any number (``np.max``/``np.argmax`` return the first NaN).
"""

import numpy as np

from .activations import relu_backward, relu_forward

__all__ = [
    "out_size",
    "im2col",
    "col2im",
    "maxpool_forward",
    "maxpool_backward",
    "im2col_t",
    "col2im_t",
    "active_patches_t",
    "bias_act_t",
    "act_bias_t_backward",
    "relu_pool_t",
    "relu_pool_grad_cols",
    "relu_pool_backward_sparse",
]


def out_size(size, filt, stride, pad):
    return (size + 2 * pad - filt) // stride + 1


def im2col(x, fh, fw, stride=1, pad=0, fill=0.0):
    """(N*OH*OW, C*FH*FW): one strided slice per filter offset, then one transpose."""
    n, c, h, w = x.shape
    oh, ow = out_size(h, fh, stride, pad), out_size(w, fw, stride, pad)
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], constant_values=fill)
    col = np.empty((n, c, fh, fw, oh, ow), dtype=x.dtype)
    for i in range(fh):
        for j in range(fw):
            col[:, :, i, j] = xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def col2im(col, shape, fh, fw, stride=1, pad=0):
    """The adjoint of im2col: overlapping windows add up; padding is cropped."""
    n, c, h, w = shape
    oh, ow = out_size(h, fh, stride, pad), out_size(w, fw, stride, pad)
    col = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), dtype=col.dtype)
    for i in range(fh):
        for j in range(fw):
            img[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += col[:, :, i, j]
    return img[:, :, pad : h + pad, pad : w + pad]


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


# One sample at a time (the Convolution layer and the fused block) ---------------------------------


def im2col_t(x, fh, fw, stride, pad):
    """One sample's patches, transposed: x (C, H, W) -> (C*FH*FW, OH*OW)."""
    return im2col(x[None], fh, fw, stride, pad).T


def col2im_t(colt, shape, fh, fw, stride, pad):
    """The adjoint of im2col_t: colt (C*FH*FW, OH*OW) -> (C, H, W) = ``shape``."""
    return col2im(colt.T, (1, *shape), fh, fw, stride, pad)[0]


def active_patches_t(x, fh, fw, stride, pad):
    """(m, cols, patches): the patches of x that hold a nonzero, as columns 1 .. m-1 of patches
    (C*FH*FW, m) in position order after a zero column 0; cols (OH*OW,) maps each output position to
    its column, 0 for the all-zero patches."""
    colt = im2col_t(x, fh, fw, stride, pad)
    keep = np.flatnonzero((colt != 0).any(axis=0))
    cols = np.zeros(colt.shape[1], np.int64)
    cols[keep] = np.arange(1, keep.size + 1)
    patches = np.concatenate([np.zeros((colt.shape[0], 1), colt.dtype), colt[:, keep]], axis=1)
    return keep.size + 1, cols, patches


def bias_act_t(y, b, relu):
    """y (F, P) + b[f] per row, then ReLU if ``relu``."""
    y = y + b[:, None]
    return relu_forward(y) if relu else y


def act_bias_t_backward(dy, out, relu, db):
    """(dy through ReLU if ``relu``, db + its row sums)."""
    if relu:
        dy = relu_backward(dy.copy(), out)
    return dy, db + dy.sum(axis=1)


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
