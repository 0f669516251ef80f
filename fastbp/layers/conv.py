"""Convolution and max pooling, NCHW."""

from __future__ import annotations

import numpy as np

from .. import _checks as _chk
from .. import _threads
from ..kernels import conv as _conv
from ..kernels import pool as _pool
from ..util import im2col
from .base import Layer, _bias, _contiguous, _int_arg, _out_size


class Convolution(Layer):
    """2-D convolution (cross-correlation, as the book): NCHW in, NCHW out.

    W: (FN, C, FH, FW), b: (FN,), ``stride`` >= 1, ``pad`` >= 0 (zeros). x: (N, C, H, W) ->
    (N, FN, OH, OW) with OH = (H + 2 pad - FH) // stride + 1, a contiguous array (the book returns a
    transposed view). Runs one sample at a time: the sample's patches, one BLAS product written straight
    into the output, the bias in place. Attributes as the book: ``x``, ``dW``, ``db``, and ``col``
    (N*OH*OW, C*FH*FW) and ``col_W`` (C*FH*FW, FN), computed on access.
    """

    def __init__(self, W, b, stride=1, pad=0):
        where = "Convolution"
        _threads.ensure_applied()  # BLAS layers: fastbp's thread setting, applied once
        W = _chk.float_array(W, "W", where, ndim=4)
        b = _bias(b, W, 0, where)  # (a scalar, as the book's ch07/apply_filter.py passes, broadcasts)
        _chk.finite(W, "W", where)
        _chk.finite(b, "b", where)
        self.W, self.b = W, b
        self.stride = _int_arg(stride, "stride", where, 1)
        self.pad = _int_arg(pad, "pad", where, 0)
        self.x = self.dW = self.db = None
        self._out = None
        self._passed = None  # (stride, pad) of the last forward: the backward makes its patches again

    def forward(self, x):
        """The convolution of a batch x (N, C, H, W) with the FN filters, plus b."""
        where = "Convolution.forward"
        x = _chk.float_array(x, "x", where, ndim=4, convert=True)
        fn, c, fh, fw = self.W.shape
        if x.shape[1] != c:
            raise ValueError(f"{where}: x has {x.shape[1]} channels (shape {x.shape}), W expects {c}")
        if x.shape[0] == 0:
            raise ValueError(f"{where}: x holds no samples (shape {x.shape})")
        h, w = x.shape[2] + 2 * self.pad, x.shape[3] + 2 * self.pad
        if fh > h or fw > w:
            raise ValueError(
                f"{where}: the filter ({fh}x{fw}) is larger than the padded input ({h}x{w}; "
                f"x shape {x.shape}, pad {self.pad})"
            )
        _chk.finite(x, "x", where)
        _chk.fits(x, self.W.dtype, "x", where)
        return self._forward(x)

    def backward(self, dout):
        """dx (x's shape); stores dW (W's shape) and db."""
        dout = self._grad_in(dout, self._out, "Convolution.backward")
        return self._backward(dout)

    @property
    def col(self):
        """The book's im2col matrix of the last input, (N*OH*OW, C*FH*FW), computed on access (the
        compiled path works one sample at a time and never holds it)."""
        if self.x is None:
            return None
        fh, fw = self.W.shape[2], self.W.shape[3]
        return im2col(self.x, fh, fw, self.stride, self.pad)

    @col.setter
    def col(self, value):  # accepted for the book's code that assigns it; recomputed on access
        pass

    @property
    def col_W(self):
        """W as the book's (C*FH*FW, FN) matrix (a view of W)."""
        return self.W.reshape(self.W.shape[0], -1).T

    @col_W.setter
    def col_W(self, value):
        pass

    def _geometry(self, x):
        fn, c, fh, fw = self.W.shape
        oh = _out_size(x.shape[2], fh, self.stride, self.pad)
        ow = _out_size(x.shape[3], fw, self.stride, self.pad)
        return fn, c * fh * fw, oh, ow

    def images(self, x) -> np.ndarray:
        """x as a C-contiguous array in W's dtype: x itself when it is one, else a copy in a buffer."""
        if x.dtype != self.W.dtype or not x.flags.c_contiguous:
            xb = self._buffer("x", x.shape, self.W.dtype)
            np.copyto(xb, x)
            x = xb
        return x

    def record_grads(self, dW, db):
        """Keep ``dW`` and ``db`` (the arrays the networks' ``gradient`` returns)."""
        self.dW, self.db = dW, db

    def record(self, x, out):
        """Keep the state of a forward pass: the input ``x`` (the book's attribute) and the output."""
        self._passed = (self.stride, self.pad)
        self.x, self._out = x, out

    def _forward(self, x):
        return self.convolve(x, relu=False)

    def check_agrees(self, x, where: str) -> None:
        """ValueError unless W (FN, C, FH, FW), b (FN,) and the images x (N, C, H, W) agree: these are
        attributes the book's code may rebind after construction (and networks skip the layer's
        forward checks), and the kernels check no index."""
        W, b = self.W, self.b
        if W.ndim != 4 or b.shape != W.shape[:1] or x.ndim != 4 or x.shape[1] != W.shape[1]:
            raise ValueError(
                f"{where}: W {W.shape}, b {b.shape} and x {x.shape} do not agree "
                "(W (FN, C, FH, FW), b (FN,), x (N, C, H, W))"
            )

    def _backward(self, dout, needs_dx=True):
        return self.backprop(dout, needs_dx, None)

    def convolve(self, x, relu: bool):
        """The forward pass, with the ReLU applied in the same pass when ``relu``. Per sample: the
        patches (transposed) into a small buffer, W @ patches straight into the NCHW output, bias (and
        ReLU) in place -- every intermediate stays in the cache."""
        W = self.W
        self.check_agrees(x, "Convolution.forward")
        x = self.images(x)
        fn, ck, oh, ow = self._geometry(x)
        fh, fw = W.shape[2], W.shape[3]
        n = x.shape[0]
        out = self._buffer_apart("out", (n, fn, oh, ow), W.dtype, x)
        colt = self._buffer("colt", (ck, oh * ow), W.dtype)
        Wf = W.reshape(fn, -1)
        for s in range(n):
            _conv.im2col_t(x[s], fh, fw, self.stride, self.pad, colt)
            y = out[s].reshape(fn, oh * ow)
            np.dot(Wf, colt, out=y)
            _conv.bias_act_t(y, self.b, relu)
        self.record(x, out)
        return out

    def backprop(self, dout, needs_dx: bool, relu_out):
        """The backward pass; ``relu_out``: the output of a ReLU applied to this layer's output (its
        mask is applied to dout in the same pass), or None."""
        W, x = self.W, self.x
        self.check_agrees(x, "Convolution.backward")
        if (self.stride, self.pad) != self._passed:
            raise ValueError(
                f"Convolution.backward: stride and pad are ({self.stride}, {self.pad}), the forward pass "
                f"ran with {self._passed}"
            )
        fn, ck, oh, ow = self._geometry(x)
        fh, fw = W.shape[2], W.shape[3]
        Wf = W.reshape(fn, -1)
        colt = self._buffer("colt", (ck, oh * ow), W.dtype)
        part = self._buffer("dWpart", (fn, ck), W.dtype)
        db = self._buffer("db", self.b.shape, W.dtype)
        dW = self._buffer("dW", W.shape, W.dtype)
        dWf = dW.reshape(fn, -1)
        db[...] = 0
        dWf[...] = 0
        dx = self._buffer("dx", x.shape, W.dtype) if needs_dx else None
        dcolt = self._buffer("dcolt", (ck, oh * ow), W.dtype) if needs_dx else None
        relu = relu_out is not None
        for s in range(x.shape[0]):
            g = dout[s].reshape(fn, oh * ow)
            act = relu_out[s].reshape(fn, oh * ow) if relu else g
            _conv.act_bias_t_backward(g, act, relu, db)
            _conv.im2col_t(x[s], fh, fw, self.stride, self.pad, colt)
            np.dot(g, colt.T, out=part)
            np.add(dWf, part, out=dWf)
            if needs_dx:
                np.dot(Wf.T, g, out=dcolt)
                _conv.col2im_t(dcolt, fh, fw, self.stride, self.pad, dx[s])
        self.record_grads(dW, db)
        return dx


class Pooling(Layer):
    """Max pooling over pool_h x pool_w windows: NCHW in and out.

    ``Pooling(pool_h, pool_w, stride=2, pad=0)`` (the book's current default stride). Unlike the
    book's, padding works: padded positions never win the max. ``arg_max`` holds, per output, the
    flat index of the maximum inside its window (first on ties), shape (N, C, OH, OW).
    """

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        where = "Pooling"
        self.pool_h = _int_arg(pool_h, "pool_h", where, 1)
        self.pool_w = _int_arg(pool_w, "pool_w", where, 1)
        self.stride = _int_arg(stride, "stride", where, 1)
        self.pad = _int_arg(pad, "pad", where, 0)
        if self.pad >= min(self.pool_h, self.pool_w):
            raise ValueError(f"{where}: pad ({pad}) must be smaller than the window ({pool_h}x{pool_w})")
        self.x = self.arg_max = None
        self._out = None

    def forward(self, x):
        """The window maxima of x (N, C, H, W)."""
        where = "Pooling.forward"
        x = _chk.float_array(x, "x", where, ndim=4)
        h, w = x.shape[2] + 2 * self.pad, x.shape[3] + 2 * self.pad
        if self.pool_h > h or self.pool_w > w:
            raise ValueError(
                f"{where}: the window ({self.pool_h}x{self.pool_w}) is larger than the padded input ({h}x{w})"
            )
        if x.shape[0] == 0:
            raise ValueError(f"{where}: x holds no samples (shape {x.shape})")
        _chk.finite(x, "x", where)
        return self._forward(_contiguous(x))

    def backward(self, dout):
        """dx: each output gradient at the position of its window's maximum (summed where windows overlap)."""
        dout = self._grad_in(dout, self._out, "Pooling.backward")
        if self.x is None:
            raise RuntimeError(
                "Pooling.backward: this layer last ran inside a fused Convolution+Relu+Pooling node, which "
                "keeps no input for it: call the network's gradient, or run the layer's own forward first"
            )
        return self._backward(dout)

    def _forward(self, x):
        n, c, h, w = x.shape
        oh = _out_size(h, self.pool_h, self.stride, self.pad)
        ow = _out_size(w, self.pool_w, self.stride, self.pad)
        out = self._buffer("out", (n, c, oh, ow), x.dtype)
        arg = self._buffer("arg", (n, c, oh, ow), np.int64)
        _pool.maxpool_forward(x, self.pool_h, self.pool_w, self.stride, self.pad, out, arg)
        self.record(x, out, arg)
        return out

    def record(self, x, out, arg_max):
        """Keep the state of a forward pass: ``x`` (None when a fused node did not materialize it),
        the output and ``arg_max``."""
        self.x, self._out, self.arg_max = x, out, arg_max

    def output_shape(self, n: int, c: int, h: int, w: int) -> tuple:
        """The (N, C, OH, OW) shape of the pooled output of an (n, c, h, w) input."""
        return (
            n,
            c,
            _out_size(h, self.pool_h, self.stride, self.pad),
            _out_size(w, self.pool_w, self.stride, self.pad),
        )

    def _backward(self, dout, needs_dx=True):
        dx = self._buffer("dx", self.x.shape, dout.dtype)
        _pool.maxpool_backward(dout, self.arg_max, self.pool_w, self.stride, self.pad, dx)
        return dx
