"""Convolution followed by ReLU (and max pooling), run as one graph node."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..kernels import conv as _conv
from ..kernels import pool as _pool
from ..kernels.checks import all_finite
from ..layers.activations import Relu
from ..layers.base import _out_size
from ..layers.conv import Convolution, Pooling
from .base import Fused


class Kept(NamedTuple):
    """The patches a first-layer forward kept: per sample the nonzero patches (``patches``), the output
    positions they belong to (``cols``) and how many there are (``counts``)."""

    patches: np.ndarray
    cols: np.ndarray
    counts: np.ndarray


class ConvRelu(Fused):
    """Convolution -> Relu as one node: bias and ReLU in the pass after each sample's product, the mask
    and the bias gradient in one pass on the way back."""

    def __init__(self, conv: Convolution, relu: Relu):
        self.conv, self.relu = conv, relu
        self.layers = (conv, relu)

    def _forward(self, x):
        out = self.conv.convolve(x, relu=True)
        self.relu.record(out)
        return out

    def _backward(self, dout, needs_dx=True):
        return self.conv.backprop(dout, needs_dx, self.relu.out)


def _finite(x) -> bool:
    """Whether x (any layout) holds no NaN/inf."""
    return bool(all_finite(x.reshape(-1))) if x.flags.c_contiguous else bool(np.isfinite(x).all())


class ConvReluPool(Fused):
    """Convolution -> Relu -> Pooling (no pool padding) run one sample at a time, as one node.

    Per sample: the patches into a buffer, one BLAS product, then bias + ReLU + max pooling read straight
    from the product -- the full-size convolution output is never written (it was the largest array of
    the step, written and read twice).

    Two ways back, chosen at construction by ``needs_dx`` (whether the block's input needs a gradient):

    - ``needs_dx=False`` (the network's first layer): a training forward keeps each sample's patches (as
      the book's layer keeps ``col``; a test-mode forward, such as ``predict``, keeps none), only those
      holding a nonzero (an MNIST digit's background is 0: ~40% of the 5x5 patches are all zero, and
      their outputs are the bias alone), so the product skips them; backward sends each window winner's
      gradient to its patch's column and takes dW as one product per sample, with no patches rebuilt.
    - ``needs_dx=True``: backward rebuilds each sample's patches and visits only the window winners (at
      most one position in ph*pw carries a gradient), for dW and the patches' gradient.

    The layers keep what the book's attributes describe: ``conv.x``, ``conv.dW``, ``conv.db``,
    ``pool.arg_max`` (as a separate Pooling would record it), ``conv.col`` (computed on access);
    ``relu.out`` is not materialized in this fused form (None).

    When W, b or the input holds NaN or inf, the node runs its layers one by one (``relu.out`` is then
    set): results and gradients are the unfused network's, NaN positions included.
    """

    uses_grad = True  # the patches are kept only when a backward will follow

    def __init__(self, conv: Convolution, relu: Relu, pool: Pooling, needs_dx: bool = True):
        self.conv, self.relu, self.pool = conv, relu, pool
        self.layers = (conv, relu, pool)
        self.needs_dx = needs_dx
        self._kept: Kept | None = None  # the patches of the last forward, when it kept them
        self._x = self._out = self._arg = None
        self._settings: tuple | None = None  # _now() at the last forward
        self._unfused = False  # the last forward ran the layers one by one (NaN/inf weights)

    def _geometry(self, x):
        conv, pool = self.conv, self.pool
        fn, c, fh, fw = conv.W.shape
        oh = _out_size(x.shape[2], fh, conv.stride, conv.pad)
        ow = _out_size(x.shape[3], fw, conv.stride, conv.pad)
        poh = _out_size(oh, pool.pool_h, pool.stride, 0)
        pow_ = _out_size(ow, pool.pool_w, pool.stride, 0)
        return fn, c * fh * fw, oh, ow, poh, pow_

    def _now(self) -> tuple:
        """The settings the passes' indices follow (layer attributes a user's code may change)."""
        conv, pool = self.conv, self.pool
        return conv.W.shape, conv.stride, conv.pad, pool.pool_h, pool.pool_w, pool.stride, pool.pad

    def _forward(self, x, grad=False):
        conv, pool = self.conv, self.pool
        W = conv.W
        conv.check_agrees(x, "Convolution.forward")
        # NaN/inf in W, b or x (a diverged step, an overflow upstream): the layers one by one, as the
        # unfused network routes them. The fused backward visits the window winners only, so a NaN
        # would reach other gradients than the twin's dense products give it (0 * inf in col^T dout).
        # The scans cost <1% of the block.
        self._settings = None  # (set again once this pass has run: a refused pass leaves no old state)
        # A pooling pad set after the network was built (the fusion rule saw none): the layers, which
        # pad; the fused kernels do not.
        self._unfused = pool.pad != 0 or not (
            all_finite(W.ravel()) and all_finite(conv.b.ravel()) and _finite(x)
        )
        if self._unfused:
            self._kept = None
            for layer in self.layers:
                x = layer._forward(x)
            return x
        x = conv.images(x)
        fn, ck, oh, ow, poh, pow_ = self._geometry(x)
        n = x.shape[0]
        p = oh * ow
        out = self._buffer("out", (n, fn, poh, pow_), W.dtype)
        arg = self._buffer("arg", (n, fn, poh, pow_), np.int64)
        Wf = W.reshape(fn, -1)
        fh, fw = W.shape[2], W.shape[3]
        stride, pad, b = conv.stride, conv.pad, conv.b
        ph, pw, ps = pool.pool_h, pool.pool_w, pool.stride
        rows = self._buffer("rowst", (fn * (p + 1),), W.dtype)
        if self.needs_dx or not grad:
            colt = self._buffer("colt", (ck, p), W.dtype)
            cols = (self._bufs or {}).get("ident")
            if cols is None or cols.shape != (p,):  # output position r is the product's column r
                cols = self._buffer("ident", (p,), np.int64)
                cols[:] = np.arange(p)
            y = rows[: fn * p].reshape(fn, p)
            for s in range(n):  # per sample: every intermediate stays in the cache
                _conv.im2col_t(x[s], fh, fw, stride, pad, colt)
                np.dot(Wf, colt, out=y)
                _pool.relu_pool_t(y, cols, b, ow, ph, pw, ps, out[s], arg[s])
            self._kept = None
        else:
            kept = self._buffer("patches", (n, ck * (p + 1)), W.dtype)
            cols = self._buffer("cols", (n, p), np.int64)
            counts = self._buffer("counts", (n,), np.int64)
            rowany = self._buffer("rowany", (x.shape[2], ow), np.uint8)
            starts = self._buffer("starts", (2, p + 1), np.int64)
            for s in range(n):
                m = _conv.active_patches_t(x[s], fh, fw, stride, pad, cols[s], rowany, starts, kept[s])
                counts[s] = m
                y = rows[: fn * m].reshape(fn, m)
                np.dot(Wf, kept[s, : ck * m].reshape(ck, m), out=y)
                _pool.relu_pool_t(y, cols[s], b, ow, ph, pw, ps, out[s], arg[s])
            self._kept = Kept(kept, cols, counts)
        self._x, self._out, self._arg = x, out, arg
        self._settings = self._now()
        conv.record(x, None)
        self.relu.record(None)
        pool.record(None, out, arg)
        return out

    def _backward(self, dout, needs_dx=True):
        if self._unfused:
            for i, layer in enumerate(reversed(self.layers)):
                dout = layer._backward(dout, needs_dx or i < len(self.layers) - 1)
            return dout
        conv, pool = self.conv, self.pool
        W, x = conv.W, self._x
        conv.check_agrees(x, "Convolution.backward")
        if self._now() != self._settings:  # (the backward indexes by the forward's geometry)
            raise ValueError(
                "Convolution+Relu+Pooling backward: the filters' shape, a stride, the padding or the "
                "pooling window changed since the forward pass"
            )
        fn, ck, oh, ow, _, _ = self._geometry(x)
        fh, fw = W.shape[2], W.shape[3]
        Wf = W.reshape(fn, -1)
        db = self._buffer("db", conv.b.shape, W.dtype)
        dW = self._buffer("dW", W.shape, W.dtype)
        conv.record_grads(dW, db)
        dWf = dW.reshape(fn, -1)
        db[...] = 0
        dWf[...] = 0
        out, arg = self._out, self._arg
        if self._kept is not None and not needs_dx:  # the forward kept the patches: one product each
            kept, cols, counts = self._kept
            g = self._buffer("gcols", (fn * (oh * ow + 1),), W.dtype)
            part = self._buffer("dWpart", (fn, ck), W.dtype)
            for s in range(x.shape[0]):
                m = int(counts[s])
                gs = g[: fn * m].reshape(fn, m)
                _pool.relu_pool_grad_cols(
                    dout[s], out[s], arg[s], ow, pool.pool_h, pool.pool_w, pool.stride, cols[s], gs, db
                )
                np.dot(gs, kept[s, : ck * m].reshape(ck, m).T, out=part)
                np.add(dWf, part, out=dWf)
            return None
        # (relu_pool_grad_cols checks each maximum against its window; the sparse pass below knows no
        # window height: arg_max, which the user may change in place, is checked here)
        _pool._maxima_fit(dout, out, arg, pool.pool_h * pool.pool_w)
        col = self._buffer("col1", (oh * ow, ck), W.dtype)
        dx = self._buffer("dx", x.shape, W.dtype) if needs_dx else None
        dcol = self._buffer("dcol1", (oh * ow, ck), W.dtype) if needs_dx else col
        for s in range(x.shape[0]):
            # at most one position per pooling window carries a gradient: a sparse pass beats GEMMs
            _conv.im2col(x[s : s + 1], fh, fw, conv.stride, conv.pad, col)
            _pool.relu_pool_backward_sparse(
                dout[s], out[s], arg[s], ow, pool.pool_w, pool.stride, col, Wf, dWf, db, dcol, needs_dx
            )
            if needs_dx:
                _conv.col2im(dcol, fh, fw, conv.stride, conv.pad, dx[s : s + 1])
        return dx
