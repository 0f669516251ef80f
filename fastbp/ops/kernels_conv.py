"""The kernel table's cases for ``fastbp.kernels.conv``: im2col and its transposes, max pooling, and the
fused convolution block (bias, ReLU, pooling read straight from the product).

Sizes are small and odd on purpose (one channel or filter, 7x13 images, stride 2, pad 1, 2x2 and 3x3
pools, batch 1); some makers fill windows with ties and NaNs to pin pooling's winner rule.
"""

from __future__ import annotations

import numpy as np

from ..kernels import conv as _kc
from ..reference import conv as _rc
from .check import Case
from .check import filled as _filled

# conv: one sample at a time -------------------------------------------------------------------------

# (C, H, W, FH, FW, stride, pad): batch-1-like single channels, odd 7x13 images, stride 2, pad 1, 1x1
CONV_SIZES = (
    (1, 5, 5, 3, 3, 1, 0),
    (3, 7, 13, 3, 3, 2, 1),
    (3, 7, 13, 2, 2, 1, 1),
    (2, 7, 13, 3, 3, 2, 0),
    (2, 6, 7, 1, 1, 3, 0),
    (1, 12, 12, 5, 5, 1, 0),
    (2, 5, 5, 5, 5, 1, 2),
)


def _geometry(size):
    c, h, w, fh, fw, stride, pad = size
    return c * fh * fw, _rc.out_size(h, fh, stride, pad), _rc.out_size(w, fw, stride, pad)


def _make_sample(rng, dtype, size):
    c, h, w, fh, fw, stride, pad = size
    x = rng.standard_normal((c, h, w)).astype(dtype)
    x[rng.random(x.shape) < 0.6] = 0  # background: some patches all zero
    x[:, :2] = 0  # a blank band, as above a digit
    return x, fh, fw, stride, pad


def _fast_im2col_t(x, fh, fw, stride, pad):
    ck, oh, ow = _geometry((x.shape[0], *x.shape[1:], fh, fw, stride, pad))
    colt = _filled((ck, oh * ow), x.dtype)
    _kc.im2col_t(x, fh, fw, stride, pad, colt)
    return colt


def _make_colt(rng, dtype, size):
    ck, oh, ow = _geometry(size)
    c, h, w, fh, fw, stride, pad = size
    return rng.standard_normal((ck, oh * ow)).astype(dtype), (c, h, w), fh, fw, stride, pad


def _fast_col2im_t(colt, shape, fh, fw, stride, pad):
    dx = _filled(shape, colt.dtype)
    _kc.col2im_t(colt, fh, fw, stride, pad, dx)
    return dx


def _fast_active_patches_t(x, fh, fw, stride, pad):
    ck, oh, ow = _geometry((x.shape[0], *x.shape[1:], fh, fw, stride, pad))
    cols = np.full(oh * ow, -1, np.int64)
    rowany = np.empty((x.shape[1], ow), np.uint8)
    starts = np.empty((2, oh * ow + 1), np.int64)
    buf = _filled(ck * (oh * ow + 1), x.dtype)
    m = _kc.active_patches_t(x, fh, fw, stride, pad, cols, rowany, starts, buf)
    return m, cols, buf[: ck * m].reshape(ck, m)


def _make_batch(rng, dtype, size):
    c, h, w, fh, fw, stride, pad = size
    x = rng.standard_normal((2, c, h, w)).astype(dtype)
    return x, fh, fw, stride, pad


def _fast_im2col(x, fh, fw, stride, pad):
    ck, oh, ow = _geometry((x.shape[1], *x.shape[2:], fh, fw, stride, pad))
    col = _filled((x.shape[0] * oh * ow, ck), x.dtype)
    _kc.im2col(x, fh, fw, stride, pad, col)
    return col


def _make_col(rng, dtype, size):
    ck, oh, ow = _geometry(size)
    c, h, w, fh, fw, stride, pad = size
    return rng.standard_normal((2 * oh * ow, ck)).astype(dtype), (2, c, h, w), fh, fw, stride, pad


def _fast_col2im(col, shape, fh, fw, stride, pad):
    dx = _filled(shape, col.dtype)
    _kc.col2im(col, fh, fw, stride, pad, dx)
    return dx


# (F, OH, OW, ph, pw, stride): pooling (no padding) of one sample's conv output; rows beyond the last
# window left over (7 = 3*2 + 1), 2x2 (the unrolled path) and 3x3 windows, overlapping ones, F = 1
POOL_SIZES = (
    (3, 7, 13, 2, 2, 2),
    (3, 7, 13, 3, 3, 2),
    (2, 5, 6, 3, 2, 1),
    (1, 2, 2, 2, 2, 2),
    (4, 8, 8, 2, 2, 2),
)


def _make_product(rng, dtype, size, values="normal"):
    """rows (F, M), cols (OH*OW,) into its columns (any, repeated: as active_patches_t's), b, ow, ph, pw,
    stride. values: "normal", "ties" (small integers: equal maxima everywhere) or "nan" (some NaNs)."""
    f, oh, ow, ph, pw, stride = size
    m = oh * ow // 2 + 1
    if values == "ties":
        rows = rng.integers(-2, 3, (f, m)).astype(dtype)
        b = rng.integers(-1, 2, f).astype(dtype)
    else:
        rows = rng.standard_normal((f, m)).astype(dtype)
        b = rng.standard_normal(f).astype(dtype)
    if values == "nan":
        rows[rng.random(rows.shape) < 0.1] = np.nan
    cols = rng.integers(0, m, oh * ow)
    return rows, cols, b, ow, ph, pw, stride


def _fast_relu_pool_t(rows, cols, b, ow, ph, pw, stride):
    oh = cols.size // ow
    shape = (rows.shape[0], _rc.out_size(oh, ph, stride, 0), _rc.out_size(ow, pw, stride, 0))
    out, arg = _filled(shape, rows.dtype), np.full(shape, -1, np.int64)
    _kc.relu_pool_t(rows, cols, b, ow, ph, pw, stride, out, arg)
    return out, arg


def _make_pool_grad(rng, dtype, size, values="normal"):
    """The fused block's backward inputs: dout, and out, arg from a forward (ReLU zeros included)."""
    rows, cols, b, ow, ph, pw, stride = _make_product(rng, dtype, size, values)
    out, arg = map(np.ascontiguousarray, _rc.relu_pool_t(rows, cols, b, ow, ph, pw, stride))
    dout = rng.standard_normal(out.shape).astype(dtype)
    db = rng.standard_normal(out.shape[0]).astype(dtype)  # the kernels accumulate into db
    return dout, out, arg, ow, ph, pw, stride, cols, rows.shape[1], db


def _fast_relu_pool_grad_cols(dout, out, arg, ow, ph, pw, stride, cols, m, db):
    g = _filled((dout.shape[0], m), dout.dtype)
    _kc.relu_pool_grad_cols(dout, out, arg, ow, ph, pw, stride, cols, g, db)
    return g, db


def _make_sparse_backward(rng, dtype, size, values="normal"):
    dout, out, arg, ow, ph, pw, stride, cols, _, db = _make_pool_grad(rng, dtype, size, values)
    ck = 5
    col = rng.standard_normal((cols.size, ck)).astype(dtype)
    Wf = rng.standard_normal((dout.shape[0], ck)).astype(dtype)
    dW = rng.standard_normal((dout.shape[0], ck)).astype(dtype)
    need_dx = size[0] != 4  # the network's first block takes no input gradient
    return dout, out, arg, ow, pw, stride, col, Wf, dW, db, need_dx


def _fast_relu_pool_backward_sparse(dout, out, arg, ow, pw, stride, col, Wf, dW, db, need_dx):
    dcol = _filled(col.shape, col.dtype)
    _kc.relu_pool_backward_sparse(dout, out, arg, ow, pw, stride, col, Wf, dW, db, dcol, need_dx)
    return dW, db, (dcol if need_dx else None)


# (F, P, relu)
BIAS_SIZES = ((1, 1, True), (3, 91, True), (3, 91, False), (5, 24, True))


def _make_bias_act(rng, dtype, size):
    f, p, relu = size
    return rng.standard_normal((f, p)).astype(dtype), rng.standard_normal(f).astype(dtype), relu


def _fast_bias_act_t(y, b, relu):
    _kc.bias_act_t(y, b, relu)  # in place
    return y


def _make_act_bias_backward(rng, dtype, size):
    f, p, relu = size
    out = np.maximum(rng.standard_normal((f, p)), 0).astype(dtype)  # a ReLU output: zeros included
    dy = rng.standard_normal((f, p)).astype(dtype)
    return dy, out, relu, rng.standard_normal(f).astype(dtype)


def _fast_act_bias_t_backward(dy, out, relu, db):
    _kc.act_bias_t_backward(dy, out, relu, db)  # dy in place, db accumulates
    return dy, db


# (N, C, H, W, ph, pw, stride, pad)
MAXPOOL_SIZES = (
    (1, 1, 4, 4, 2, 2, 2, 0),
    (2, 3, 7, 13, 3, 3, 2, 1),
    (2, 3, 7, 13, 2, 2, 2, 0),
    (1, 2, 6, 5, 3, 2, 1, 0),
    (2, 1, 5, 5, 2, 2, 1, 1),
)


def _make_pool_input(rng, dtype, size, values="normal"):
    n, c, h, w, ph, pw, stride, pad = size
    if values == "ties":
        x = rng.integers(-2, 3, (n, c, h, w)).astype(dtype)
    else:
        x = rng.standard_normal((n, c, h, w)).astype(dtype)
    if values == "nan":
        x[rng.random(x.shape) < 0.1] = np.nan
    return x, ph, pw, stride, pad


def _fast_maxpool_forward(x, ph, pw, stride, pad):
    n, c, h, w = x.shape
    shape = (n, c, _rc.out_size(h, ph, stride, pad), _rc.out_size(w, pw, stride, pad))
    out, arg = _filled(shape, x.dtype), np.full(shape, -1, np.int64)
    _kc.maxpool_forward(x, ph, pw, stride, pad, out, arg)
    return out, arg


def _make_maxpool_backward(rng, dtype, size):
    x, ph, pw, stride, pad = _make_pool_input(rng, dtype, size)
    out, arg = _rc.maxpool_forward(x, ph, pw, stride, pad)
    return (
        rng.standard_normal(out.shape).astype(dtype),
        np.ascontiguousarray(arg),
        x.shape,
        ph,
        pw,
        stride,
        pad,
    )


def _fast_maxpool_backward(dout, arg, x_shape, ph, pw, stride, pad):
    dx = _filled(x_shape, dout.dtype)
    _kc.maxpool_backward(dout, arg, pw, stride, pad, dx)
    return dx


def _variant(make, values):
    return lambda rng, dtype, size: make(rng, dtype, size, values)


CASES = (
    Case("im2col", "conv", _fast_im2col, _rc.im2col, _make_batch, CONV_SIZES),
    Case("col2im", "conv", _fast_col2im, _rc.col2im, _make_col, CONV_SIZES),
    Case("im2col_t", "conv", _fast_im2col_t, _rc.im2col_t, _make_sample, CONV_SIZES),
    Case("col2im_t", "conv", _fast_col2im_t, _rc.col2im_t, _make_colt, CONV_SIZES),
    Case("active_patches_t", "conv", _fast_active_patches_t, _rc.active_patches_t, _make_sample, CONV_SIZES),
    Case(
        "maxpool_forward", "conv", _fast_maxpool_forward, _rc.maxpool_forward, _make_pool_input, MAXPOOL_SIZES
    ),
    Case(
        "maxpool_forward ties",
        "conv",
        _fast_maxpool_forward,
        _rc.maxpool_forward,
        _variant(_make_pool_input, "ties"),
        MAXPOOL_SIZES,
    ),
    Case(
        "maxpool_forward nan",
        "conv",
        _fast_maxpool_forward,
        _rc.maxpool_forward,
        _variant(_make_pool_input, "nan"),
        MAXPOOL_SIZES,
    ),
    Case(
        "maxpool_backward",
        "conv",
        _fast_maxpool_backward,
        _rc.maxpool_backward,
        _make_maxpool_backward,
        MAXPOOL_SIZES,
    ),
    Case("bias_act_t", "conv", _fast_bias_act_t, _rc.bias_act_t, _make_bias_act, BIAS_SIZES),
    Case(
        "act_bias_t_backward",
        "conv",
        _fast_act_bias_t_backward,
        _rc.act_bias_t_backward,
        _make_act_bias_backward,
        BIAS_SIZES,
    ),
    Case("relu_pool_t", "conv", _fast_relu_pool_t, _rc.relu_pool_t, _make_product, POOL_SIZES),
    Case(
        "relu_pool_t ties",
        "conv",
        _fast_relu_pool_t,
        _rc.relu_pool_t,
        _variant(_make_product, "ties"),
        POOL_SIZES,
    ),
    Case(
        "relu_pool_t nan",
        "conv",
        _fast_relu_pool_t,
        _rc.relu_pool_t,
        _variant(_make_product, "nan"),
        POOL_SIZES,
    ),
    Case(
        "relu_pool_grad_cols",
        "conv",
        _fast_relu_pool_grad_cols,
        _rc.relu_pool_grad_cols,
        _make_pool_grad,
        POOL_SIZES,
    ),
    Case(
        "relu_pool_grad_cols nan",  # a NaN output passes its gradient, as Relu's mask does
        "conv",
        _fast_relu_pool_grad_cols,
        _rc.relu_pool_grad_cols,
        _variant(_make_pool_grad, "nan"),
        POOL_SIZES,
    ),
    Case(
        "relu_pool_backward_sparse",
        "conv",
        _fast_relu_pool_backward_sparse,
        _rc.relu_pool_backward_sparse,
        _make_sparse_backward,
        POOL_SIZES,
    ),
    Case(
        "relu_pool_backward_sparse nan",
        "conv",
        _fast_relu_pool_backward_sparse,
        _rc.relu_pool_backward_sparse,
        _variant(_make_sparse_backward, "nan"),
        POOL_SIZES,
    ),
)
