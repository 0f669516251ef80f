"""Elementwise activations: Relu, LeakyRelu, Sigmoid, Tanh."""

from __future__ import annotations

import numbers

import numpy as np

from .. import _checks as _chk
from .. import config
from ..kernels import activations as _act
from .base import Layer, _contiguous


class _Activation(Layer):
    """An elementwise activation y = f(x): forward keeps y, backward gives dout * f'(x) from y."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        """y = f(x), same shape and dtype as x (float32 or float64, any shape)."""
        where = f"{type(self).__name__}.forward"
        x = _chk.float_array(x, "x", where)
        _chk.finite(x, "x", where)
        return self._forward(_contiguous(x))

    def backward(self, dout):
        """dx = dout * f'(x), for dout of the forward output's shape."""
        dout = self._grad_in(dout, self.out, f"{type(self).__name__}.backward")
        return self._backward(dout)

    # The kernels get flat views: one compiled signature per dtype, whatever the input's rank.
    def _forward(self, x):
        out = self._buffer_apart("out", x.shape, x.dtype, x)  # (Sigmoid reads x after writing out)
        self._kernel_forward(x.reshape(-1), out.reshape(-1))
        self.out = out
        return out

    def _backward(self, dout, needs_dx=True):
        dx = self._buffer("dx", dout.shape, dout.dtype)
        self._kernel_backward(dout.reshape(-1), dx.reshape(-1))
        return dx


class Relu(_Activation):
    """y = max(x, 0); the derivative is 1 for x > 0 and 0 otherwise (0 at x = 0, as the book).

    As the book's layer, ``backward`` writes its result into ``dout`` and returns that same array
    (an array that is not writeable, or not contiguous in the layer's dtype, is copied first).
    ``mask`` is the book's boolean ``x <= 0`` of the last forward pass.
    """

    @property
    def mask(self):
        return None if self.out is None else self.out <= 0

    def record(self, out):
        """Keep ``out`` as this layer's last output, as a fused node that applied the ReLU itself does
        (``mask`` and ``backward`` read it). ``None``: the fused node did not materialize it."""
        self.out = out

    def _kernel_forward(self, x, out):
        _act.relu_forward(x, out)

    def backward(self, dout):
        """dx = dout where x > 0, else 0, written into dout (see the class docstring)."""
        where = "Relu.backward"
        if self.out is None:
            raise RuntimeError(f"{where}: call forward before backward")
        d = self._grad_in(dout, self.out, where)
        if d is dout and not d.flags.writeable:
            d = d.copy()
        return self._backward(d)

    def _backward(self, dout, needs_dx=True):
        _act.relu_backward(dout.reshape(-1), self.out.reshape(-1))
        return dout


class LeakyRelu(_Activation):
    """y = x for x > 0, alpha x otherwise (not in the book). alpha >= 0, default 0.01."""

    def __init__(self, alpha: float = 0.01):
        if not isinstance(alpha, numbers.Real) or not np.isfinite(alpha) or alpha < 0:
            raise ValueError(f"LeakyRelu: alpha must be a finite number >= 0, got {alpha!r}")
        super().__init__()
        self.alpha = float(alpha)

    def _kernel_forward(self, x, out):
        _act.leaky_relu_forward(x, self.alpha, out)

    def _kernel_backward(self, dout, dx):
        _act.leaky_relu_backward(dout, self.out.reshape(-1), self.alpha, dx)


class Sigmoid(_Activation):
    """y = 1 / (1 + exp(-x)); dy/dx = (1 - y) y. Finite and warning-free for any finite x."""

    def _kernel_forward(self, x, out):
        # exp(-|x|) by NumPy's SIMD ufuncs, in place in out; the kernel fuses the rest.
        np.abs(x, out=out)
        np.negative(out, out=out)
        np.exp(out, out=out)
        _act.sigmoid_forward(x, out)

    def _kernel_backward(self, dout, dx):
        _act.sigmoid_backward(dout, self.out.reshape(-1), dx)


_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)  # NumPy's native dtypes are single objects


class Tanh(_Activation):
    """y = tanh(x); dy/dx = 1 - y^2 (not in the book)."""

    def _forward(self, x):
        if x.size < config.TANH_NUMPY_BELOW and x.ndim:  # NumPy's own call, with the fewest checks before it
            self.out = out = np.tanh(x)
            return out
        dt = x.dtype
        out = self.out  # reused while it fits (the kernels read any layout of x: ravel copies)
        if out is None or out.dtype is not dt or out.shape != x.shape or not out.flags.c_contiguous:
            out = np.empty(x.shape, dt)
        if dt is _F64 and x.ndim:
            _act.tanh_forward(x, out)
        elif dt is _F32 and x.ndim:
            _act.tanh_forward_float32(x, out)
        else:  # 0-d (np.tanh would return a scalar), or another byte order
            np.tanh(x, out)
        self.out = out
        return out

    def _kernel_backward(self, dout, dx):
        _act.tanh_backward(dout, self.out.reshape(-1), dx)
