"""Twins of ``fastbp.kernels.conv``: the book's im2col approach, and each per-sample kernel of the
Convolution layer and the fused Conv -> ReLU -> Pool block's patches written as whole-array NumPy.

The per-sample kernels take one sample (C, H, W) or one sample's product (F, OH*OW); their twins are
the batch twins on a batch of one. Pooling's twins are in ``fastbp.reference.pool`` (also readable
from here, the old path).
"""

import numpy as np

from .activations import relu_backward, relu_forward

__all__ = [
    "out_size",
    "im2col",
    "col2im",
    "im2col_t",
    "col2im_t",
    "active_patches_t",
    "bias_act_t",
    "act_bias_t_backward",
]

# The pooling twins moved to .pool, which imports im2col from here: for the code that still reads them
# here, the old path, they are looked up on first use (PEP 562), so either module may be imported first.
_MOVED_TO_POOL = frozenset(
    {"maxpool_forward", "maxpool_backward", "relu_pool_t", "relu_pool_grad_cols", "relu_pool_backward_sparse"}
)


def __getattr__(name):
    if name in _MOVED_TO_POOL:
        from . import pool

        return getattr(pool, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
