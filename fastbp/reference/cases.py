"""One table of kernels and their twins, for the tests and the benchmarks alike.

Each ``Case`` names a kernel, how to call it (``fast``: allocates what the kernel writes into, calls it,
returns its results), its twin (``twin``: the same arguments, the same results, from this package), the
inputs (``make(rng, dtype, size)`` for each ``size`` in ``sizes``) and a tolerance factor on ``TOL``.
``run(case, size, dtype)`` checks one pair; the tests parametrize over ``CASES``, and a benchmark can
time ``case.fast`` and ``case.twin`` on the same ``case.make`` inputs, so nothing is benchmarked that
is not tested.

Sizes are small and odd on purpose (one channel or filter, 7x13 images, stride 2, pad 1, 2x2 and 3x3
pools, batch 1); some makers fill windows with ties and NaNs to pin pooling's winner rule. (``fast``
allocates its outputs on each call; the layers reuse theirs.)
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from typing import Any, NamedTuple

import numpy as np

from ..kernels import conv as _kc
from ..kernels import mlp as _km
from . import conv as _rc
from . import mlp as _rm

__all__ = ["Case", "CASES", "TOL", "run", "check"]

TOL = {np.float32: 2e-5, np.float64: 1e-12}  # relative and absolute, per dtype


class Case(NamedTuple):
    name: str  # the kernel's name (with a variant after a space: "relu_pool_t ties")
    family: str  # the kernel's module in fastbp.kernels
    fast: Callable
    twin: Callable
    make: Callable[[np.random.Generator, type, Any], tuple]
    sizes: tuple
    tol: float = 1.0  # times TOL[dtype]


def run(case: Case, size, dtype, seed: int = 0):
    """Make the inputs, run the kernel and its twin on copies of them, and check they agree."""
    args = case.make(np.random.default_rng(seed), dtype, size)
    check(case.fast(*deepcopy(args)), case.twin(*deepcopy(args)), dtype, case.tol)


def check(got, want, dtype, tol=1.0):
    """got == want within TOL[dtype] * tol, elementwise through tuples and lists; float arrays keep the
    dtype, integer arrays and Nones match exactly, NaN matches NaN."""
    from numpy.testing import assert_allclose, assert_array_equal

    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want), (type(got), len(got), len(want))
        for g, w in zip(got, want, strict=True):
            check(g, w, dtype, tol)
    elif want is None:
        assert got is None
    elif isinstance(want, np.ndarray) and want.dtype.kind in "iub":
        assert_array_equal(got, want)
    else:
        if isinstance(want, np.ndarray):
            assert got.dtype == dtype, f"{got.dtype} out for {np.dtype(dtype)} in"
        t = TOL[dtype] * tol
        assert_allclose(got, want, rtol=t, atol=t)


def _filled(shape, dtype):
    return np.full(shape, np.nan, dtype)  # NaN: a kernel must overwrite what it does not accumulate


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


# mlp: a whole small ReLU network -----------------------------------------------------------------

# (N, layer widths D_0 .. D_L): batch 1, odd widths, one layer only, three layers
MLP_SIZES = ((1, (13, 7, 5)), (7, (9, 3)), (4, (13, 7, 6, 5)), (2, (11, 1, 4)))


def _make_net(rng, dtype, size):
    n, dims = size
    x = rng.standard_normal((n, dims[0])).astype(dtype)
    x[rng.random(x.shape) < 0.5] = 0  # the kernels skip zero inputs
    Ws = tuple(rng.standard_normal((a, b)).astype(dtype) for a, b in zip(dims[:-1], dims[1:], strict=False))
    bs = tuple(rng.standard_normal(b).astype(dtype) for b in dims[1:])
    return x, Ws, bs


def _make_dense(rng, dtype, size):
    x, Ws, bs = _make_net(rng, dtype, size)
    return x, Ws[0], bs[0], len(Ws) > 1  # ReLU on for the multi-layer sizes


def _fast_dense_forward(x, W, b, relu):
    out = _filled((x.shape[0], W.shape[1]), x.dtype)
    _km.dense_forward(x, W, b, out, relu)
    return out


def _make_dense_backward(rng, dtype, size):
    x, W, _, need_dx = _make_dense(rng, dtype, size)
    return x, W, rng.standard_normal((x.shape[0], W.shape[1])).astype(dtype), need_dx


def _fast_dense_backward(x, W, dout, need_dx):
    dW, db, dx = _filled(W.shape, x.dtype), _filled(W.shape[1], x.dtype), _filled(x.shape, x.dtype)
    _km.dense_backward(x, W, dout, dW, db, dx, need_dx)
    return dW, db, (dx if need_dx else None)


def _outputs(x, Ws):
    return tuple(_filled((x.shape[0], W.shape[1]), x.dtype) for W in Ws)


def _fast_mlp_forward(x, Ws, bs):
    hs = _outputs(x, Ws)
    _km.mlp_forward(x, Ws, bs, hs)
    return hs


def _make_mlp_backward(rng, dtype, size):
    x, Ws, bs = _make_net(rng, dtype, size)
    hs = tuple(_rm.mlp_forward(x, Ws, bs))
    return x, Ws, hs, rng.standard_normal(hs[-1].shape).astype(dtype)


def _fast_mlp_backward(x, Ws, hs, dscores):
    ds = _outputs(x, Ws)
    ds[-1][...] = dscores
    dWs, dbs = tuple(_filled(W.shape, x.dtype) for W in Ws), tuple(_filled(W.shape[1], x.dtype) for W in Ws)
    _km.mlp_backward(x, Ws, hs, ds, dWs, dbs)
    return dWs, dbs, ds


def _make_mlp_step(rng, dtype, size):
    x, Ws, bs = _make_net(rng, dtype, size)
    return x, rng.integers(0, Ws[-1].shape[1], x.shape[0]), Ws, bs


def _fast_mlp_step(x, t, Ws, bs):
    hs, ds = _outputs(x, Ws), _outputs(x, Ws)
    dWs, dbs = tuple(_filled(W.shape, x.dtype) for W in Ws), tuple(_filled(W.shape[1], x.dtype) for W in Ws)
    y = _filled(hs[-1].shape, x.dtype)
    loss = _km.mlp_step(x, t, Ws, bs, hs, ds, dWs, dbs, y)
    return loss, hs, y, dWs, dbs, ds


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
    Case("dense_forward", "mlp", _fast_dense_forward, _rm.dense_forward, _make_dense, MLP_SIZES),
    Case("dense_backward", "mlp", _fast_dense_backward, _rm.dense_backward, _make_dense_backward, MLP_SIZES),
    Case("mlp_forward", "mlp", _fast_mlp_forward, _rm.mlp_forward, _make_net, MLP_SIZES),
    Case("mlp_backward", "mlp", _fast_mlp_backward, _rm.mlp_backward, _make_mlp_backward, MLP_SIZES),
    Case("mlp_step", "mlp", _fast_mlp_step, _rm.mlp_step, _make_mlp_step, MLP_SIZES),
)
