"""The fully connected layer."""

from __future__ import annotations

import numpy as np

from .. import _checks as _chk
from .. import _threads
from ..kernels import affine as _aff
from . import products
from .base import Layer, _bias


class Affine(Layer):
    """y = x W + b.  x: (N, D) or (N, d1, d2, ...) with d1*d2*... = D; W: (D, M); b: (M,) -> y: (N, M).

    Like the book, a higher-rank input is flattened per sample; ``x`` keeps the flattened input and
    ``original_x_shape`` its shape, and ``backward`` returns dx in that shape. ``W`` and ``b`` are
    the arrays passed in (not copies; a scalar ``b`` is broadcast to M entries, as the book's sum
    does). The products run in NumPy's BLAS, the bias in a kernel.
    """

    def __init__(self, W, b):
        _threads.ensure_applied()  # BLAS layers: fastbp's thread setting, applied once
        W = _chk.float_array(W, "W", "Affine", ndim=2)
        b = _bias(b, W, 1, "Affine")
        _chk.finite(W, "W", "Affine")
        _chk.finite(b, "b", "Affine")
        self.W, self.b = W, b
        self.x = self.original_x_shape = self.dW = self.db = None
        self._out = None

    def forward(self, x):
        """x W + b for a batch x of N samples with D = W.shape[0] features each."""
        where = "Affine.forward"
        x = _chk.float_array(x, "x", where, min_ndim=2, convert=True)
        d = int(np.prod(x.shape[1:]))
        if x.shape[0] == 0:
            raise ValueError(f"{where}: x holds no samples (shape {x.shape})")
        if d != self.W.shape[0]:
            raise ValueError(
                f"{where}: x has {d} features per sample (shape {x.shape}), but W expects {self.W.shape[0]}"
            )
        _chk.finite(x, "x", where)
        _chk.fits(x, self.W.dtype, "x", where)
        return self._forward(x)

    def backward(self, dout):
        """dx = dout W^T (in x's original shape); stores dW = x^T dout and db = sum_rows dout."""
        dout = self._grad_in(dout, self._out, "Affine.backward")
        return self._backward(dout)

    def rows(self, x) -> np.ndarray:
        """x as the (N, D) C-contiguous matrix in W's dtype the products take: x itself when it is one,
        else a copy in a buffer of this layer's."""
        x2 = x if x.ndim == 2 else x.reshape(x.shape[0], -1)
        if x2.dtype != self.W.dtype or not x2.flags.c_contiguous:
            buf = self._buffer("x", x2.shape, self.W.dtype)
            np.copyto(buf, x2)
            x2 = buf
        return x2

    def out_buffer(self, x2, key: str = "out") -> np.ndarray:
        """The (N, M) output buffer for input rows x2: never memory x2 lies in, so that
        ``a.forward(a.forward(x))`` keeps the first output as the second call's input."""
        return self._buffer_apart(key, (x2.shape[0], self.W.shape[1]), self.W.dtype, x2)

    def record(self, x2, out, original_x_shape):
        """Keep the state of a forward pass (``x``, ``original_x_shape``, the output) as the book's
        layer does; fused nodes that ran this layer's product call it."""
        self.x, self._out, self.original_x_shape = x2, out, original_x_shape

    def record_grads(self, dW, db):
        """Keep ``dW`` and ``db`` (the arrays the networks' ``gradient`` returns)."""
        self.dW, self.db = dW, db

    def grad_buffers(self):
        """This layer's (dW, db) buffers, in W's shape and dtype."""
        W = self.W
        return self._buffer("dW", W.shape, W.dtype), self._buffer("db", self.b.shape, W.dtype)

    def _forward(self, x):
        x2 = self.rows(x)
        out = self.out_buffer(x2)
        products.forward(self, x2, self.W, out)
        _aff.bias_forward(out, self.b)
        self.record(x2, out, x.shape)
        return out

    def _backward(self, dout, needs_dx=True):
        W = self.W
        if dout.dtype != W.dtype:  # W rebound to another precision than the layers after it: dW in W's
            dout = dout.astype(W.dtype)  # (np.dot(x.T, dout, out=dW) takes no mixed dtypes)
        dW, db = self.grad_buffers()
        _aff.bias_backward(dout, db)
        products.weight_grad(self, self.x, dout, dW)
        self.record_grads(dW, db)
        return self.input_grad(dout) if needs_dx else None

    def input_grad(self, dout):
        """dx = dout W^T, in the forward input's original shape (a buffer of this layer's)."""
        dx = np.dot(dout, self.W.T, out=self._buffer("dx", self.x.shape, self.W.dtype))
        return dx.reshape(self.original_x_shape)
