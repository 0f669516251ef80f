"""Elementwise activations and their derivatives.

Every kernel takes C-contiguous arrays of any shape and walks them flat. Backward kernels use the
forward *output* (not the input), so a layer keeps one array per activation; ``dx`` may be the same
array as ``dout`` (in place).

Constants are made in the array's dtype (``dtype.type(1)``): a bare ``1.0`` is float64 in Numba and
would silently promote float32 arithmetic (half the SIMD width, and results that differ from NumPy's
float32 ones).
"""

import numpy as np

from .._jit import jit


@jit
def relu_forward(x, out):
    """out = max(x, 0); NaN stays NaN, as ``np.maximum`` would have it."""
    xf, of = x.ravel(), out.ravel()
    zero = xf.dtype.type(0)
    for i in range(xf.size):
        v = xf[i]
        of[i] = zero if v <= zero else v


@jit
def relu_backward(dout, out, dx):
    """dx = dout where out > 0, else 0: the derivative of ReLU is taken as 0 at x = 0.

    ``out`` is the forward output; out > 0 exactly where x > 0 (NaN inputs pass dout through,
    as the book's ``mask = (x <= 0)`` does).
    """
    df, of, xf = dout.ravel(), out.ravel(), dx.ravel()
    zero = df.dtype.type(0)
    for i in range(df.size):
        xf[i] = zero if of[i] <= zero else df[i]


@jit
def leaky_relu_forward(x, alpha, out):
    """out = x for x > 0, alpha x otherwise (alpha >= 0)."""
    xf, of = x.ravel(), out.ravel()
    a = xf.dtype.type(alpha)
    for i in range(xf.size):
        v = xf[i]
        of[i] = v if v > 0 else a * v


@jit
def leaky_relu_backward(dout, out, alpha, dx):
    """dx = dout where out > 0, alpha dout otherwise (for alpha >= 0, out > 0 iff x > 0)."""
    df, of, xf = dout.ravel(), out.ravel(), dx.ravel()
    a = df.dtype.type(alpha)
    for i in range(df.size):
        xf[i] = df[i] if of[i] > 0 else a * df[i]


@jit
def sigmoid_forward(x, out):
    """out = 1 / (1 + exp(-x)), evaluated as exp(x) / (1 + exp(x)) for x < 0.

    The split keeps exp's argument <= 0, so nothing overflows for any finite x (and no warning is
    raised when the kernels run as plain Python under NUMBA_DISABLE_JIT=1); for x >= 0 it is the
    book's expression exactly.
    """
    xf, of = x.ravel(), out.ravel()
    one = xf.dtype.type(1)
    for i in range(xf.size):
        v = xf[i]
        if v >= 0:
            of[i] = one / (one + np.exp(-v))
        else:
            e = np.exp(v)
            of[i] = e / (one + e)


@jit
def sigmoid_backward(dout, out, dx):
    """dx = dout * (1 - out) * out, with out = sigmoid(x)."""
    df, of, xf = dout.ravel(), out.ravel(), dx.ravel()
    one = df.dtype.type(1)
    for i in range(df.size):
        y = of[i]
        xf[i] = df[i] * (one - y) * y


@jit
def tanh_forward(x, out):
    """out = tanh(x)."""
    xf, of = x.ravel(), out.ravel()
    for i in range(xf.size):
        of[i] = np.tanh(xf[i])


@jit
def tanh_backward(dout, out, dx):
    """dx = dout * (1 - out^2), with out = tanh(x)."""
    df, of, xf = dout.ravel(), out.ravel(), dx.ravel()
    one = df.dtype.type(1)
    for i in range(df.size):
        y = of[i]
        xf[i] = df[i] * (one - y * y)
