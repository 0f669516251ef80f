"""Dropout and batch normalization (the book's chapter 6 layers)."""

from __future__ import annotations

import numbers

import numpy as np

from .. import _checks as _chk
from ..kernels import regularization as _reg
from .base import Layer, _contiguous


class Dropout(Layer):
    """Dropout as the book does it (non-inverted): in training each element is kept where a uniform
    draw exceeds ``dropout_ratio`` (``mask``), else zeroed; at test time x is scaled by 1 - ratio.

    The draws are ``np.random.rand(*x.shape)`` from the global NumPy RNG, as the book's, so a given
    ``np.random.seed`` gives the book's masks (they are float64 draws whatever x's dtype).
    """

    uses_train_flg = True  # the networks pass train_flg to this layer's forward

    def __init__(self, dropout_ratio=0.5):
        r = dropout_ratio
        if isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0 <= r < 1:
            raise ValueError(f"Dropout: dropout_ratio must be a number in [0, 1), got {dropout_ratio!r}")
        self.dropout_ratio = float(r)
        self.mask = None
        self._out = self._train_out = None

    def forward(self, x, train_flg=True):
        """x * mask (training, a new mask each call) or x * (1 - dropout_ratio) (test)."""
        x = _chk.float_array(x, "x", "Dropout.forward")
        _chk.finite(x, "x", "Dropout.forward")
        return self._forward(_contiguous(x), train_flg)

    def backward(self, dout):
        """dout * mask (of the last training forward)."""
        if self.mask is None:
            raise RuntimeError("Dropout.backward: call forward with train_flg=True before backward")
        dout = self._grad_in(dout, self._train_out, "Dropout.backward")  # the mask's shape
        return self._backward(dout)

    # The kernels get flat views: one compiled signature per dtype, whatever the input's rank (0-d too).
    def _forward(self, x, train_flg=True):
        out = self._buffer_apart("out", x.shape, x.dtype, x)
        if train_flg:
            u = np.asarray(np.random.rand(*x.shape))  # (the book's draw: a float for a 0-d x)
            mask = self._buffer("mask", x.shape, np.bool_)
            _reg.dropout_forward(
                x.reshape(-1), u.reshape(-1), self.dropout_ratio, out.reshape(-1), mask.reshape(-1)
            )
            self.mask, self._train_out = mask, out
        else:
            _reg.scale(x.reshape(-1), 1.0 - self.dropout_ratio, out.reshape(-1))
        self._out = out
        return out

    def _backward(self, dout, needs_dx=True):
        dx = self._buffer("dx", dout.shape, dout.dtype)
        _reg.dropout_backward(dout.reshape(-1), self.mask.reshape(-1), dx.reshape(-1))
        return dx


class BatchNormalization(Layer):
    """Batch normalization per activation, as the book: y = gamma (x - mean) / sqrt(var + 1e-6) + beta.

    ``BatchNormalization(gamma, beta, momentum=0.9, running_mean=None, running_var=None)``; a 4-D input
    is flattened to (N, C*H*W), so gamma and beta have one entry per activation. ``forward(x,
    train_flg=True)`` uses the batch's mean and biased variance and updates the running statistics
    (created as zeros on the first call), or, at test time, the running statistics. Attributes as the
    book's: ``input_shape``, ``batch_size``, ``xc``, ``xn``, ``std``, ``running_mean``, ``running_var``,
    ``dgamma``, ``dbeta``. Forward and backward are three compiled passes each.
    """

    uses_train_flg = True

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        where = "BatchNormalization"
        gamma = _chk.float_array(gamma, "gamma", where, ndim=1)
        beta = _chk.float_array(beta, "beta", where, ndim=1)
        if beta.shape != gamma.shape or beta.dtype != gamma.dtype:
            raise ValueError(
                f"{where}: beta must match gamma ({gamma.shape} {gamma.dtype}), got {beta.shape} {beta.dtype}"
            )
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
            raise ValueError(f"{where}: momentum must be a number in [0, 1], got {momentum!r}")
        self.gamma, self.beta, self.momentum = gamma, beta, float(momentum)
        self.running_mean = None if running_mean is None else self._stat(running_mean, "running_mean")
        self.running_var = None if running_var is None else self._stat(running_var, "running_var")
        self.input_shape = self.batch_size = self.xc = self.xn = self.std = None
        self.dgamma = self.dbeta = None
        self._out = self._train_out = None

    def _stat(self, a, name):
        a = _chk.float_array(a, name, "BatchNormalization", ndim=1)
        if a.shape != self.gamma.shape:
            raise ValueError(f"BatchNormalization: {name} must have shape {self.gamma.shape}, got {a.shape}")
        return np.ascontiguousarray(a, dtype=self.gamma.dtype)

    def forward(self, x, train_flg=True):
        """The normalized, scaled and shifted x, in x's shape."""
        where = "BatchNormalization.forward"
        x = _chk.float_array(x, "x", where, min_ndim=2)
        d = int(np.prod(x.shape[1:]))
        if d != self.gamma.shape[0]:
            raise ValueError(
                f"{where}: x has {d} activations per sample (shape {x.shape}), "
                f"gamma has {self.gamma.shape[0]}"
            )
        if train_flg and x.shape[0] < 1:
            raise ValueError(f"{where}: x holds no samples (shape {x.shape})")
        _chk.finite(x, "x", where)
        _chk.fits(x, self.gamma.dtype, "x", where)
        return self._forward(x, train_flg)

    def backward(self, dout):
        """dx in the input's shape; stores dgamma and dbeta."""
        if self.xc is None:
            raise RuntimeError(
                "BatchNormalization.backward: call forward with train_flg=True before backward"
            )
        dout = self._grad_in(dout, self._train_out, "BatchNormalization.backward")  # xc, std's batch
        return self._backward(dout)

    def _forward(self, x, train_flg=True):
        dt = self.gamma.dtype
        self.input_shape = x.shape
        n = x.shape[0]
        x2 = x.reshape(n, -1)
        if x2.dtype != dt or not x2.flags.c_contiguous:
            x2 = np.ascontiguousarray(x2, dtype=dt)
        d = x2.shape[1]
        if self.running_mean is None:
            self.running_mean = np.zeros(d, dt)
            self.running_var = np.zeros(d, dt)
        out = self._buffer("out", x2.shape, dt)
        if train_flg:
            self.batch_size = n
            self.xc = self._buffer("xc", x2.shape, dt)
            self.xn = self._buffer("xn", x2.shape, dt)
            self.std = self._buffer("std", (d,), dt)
            _reg.batchnorm_forward_train(
                x2,
                self.gamma,
                self.beta,
                self.momentum,
                self.running_mean,
                self.running_var,
                self.xc,
                self.xn,
                self.std,
                out,
            )
        else:
            _reg.batchnorm_forward_test(x2, self.gamma, self.beta, self.running_mean, self.running_var, out)
        self._out = out.reshape(self.input_shape)
        if train_flg:
            self._train_out = self._out
        return self._out

    def _backward(self, dout, needs_dx=True):
        d2 = dout.reshape(dout.shape[0], -1)
        dt = self.gamma.dtype
        dx = self._buffer("dx", d2.shape, dt)
        self.dgamma = self._buffer("dgamma", self.gamma.shape, dt)
        self.dbeta = self._buffer("dbeta", self.beta.shape, dt)
        _reg.batchnorm_backward(d2, self.gamma, self.xc, self.xn, self.std, dx, self.dgamma, self.dbeta)
        return dx.reshape(self._train_out.shape)
