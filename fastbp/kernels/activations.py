"""Elementwise activations and their derivatives.

Every kernel takes C-contiguous arrays of any shape and walks them flat. Backward kernels use the
forward *output* (not the input), so a layer keeps one array per activation.

Arrays passed as different arguments must not overlap: LLVM vectorises a loop only after a runtime
check that its arrays do not alias, and falls back to scalar code when they do (ReLU's backward ran 10x
slower in place, measured here). A kernel that works in place says so and takes the array once.

exp is not evaluated here: Numba calls the scalar libm function per element, 5-10x slower than
NumPy's SIMD ufuncs. The layers let NumPy compute it (``np.exp(-|x|, out=...)``) and the kernels fuse
the rest of the pass. The tanh kernels avoid libm altogether (polynomial and arithmetic only, so
they vectorise): tanh_forward in float64 (NumPy's float64 tanh is not SIMD), tanh_forward_float32 in
float32 arithmetic, which needs 2^k built from its bits (``simd.exp2``) to beat NumPy's SIMD
float32 tanh. The Tanh layer leaves inputs below 2,048 elements to NumPy.

Constants are made in the array's dtype (``dtype.type(1)``): a bare ``1.0`` is float64 in Numba and
would silently promote float32 arithmetic (half the SIMD width, and results that differ from NumPy's
float32 ones).
"""

import numpy as np

from .._jit import jit
from . import rules
from .simd import exp2


@jit
def relu_forward(x, out):
    """out = max(x, 0); NaN stays NaN, as ``np.maximum`` would have it."""
    xf, of = x.ravel(), out.ravel()
    for i in range(xf.size):
        of[i] = rules.relu(xf[i])


@jit
def _fits(out, dout):
    """ValueError unless the forward output (the layer's ``out``, which the book's code may rebind)
    has the gradient's size: the backward kernels read it element by element, unchecked."""
    if out.size != dout.size:
        raise ValueError("the layer's out is not the gradient's size (rebound since the forward pass?)")


@jit
def relu_backward(dout, out):
    """dout = 0 where out <= 0, in place: the derivative of ReLU is taken as 0 at x = 0.

    ``out`` is the forward output; out > 0 exactly where x > 0 (NaN inputs pass dout through,
    as the book's ``mask = (x <= 0)`` does).
    """
    _fits(out, dout)
    df, of = dout.ravel(), out.ravel()
    for i in range(df.size):
        df[i] = rules.relu_grad(df[i], of[i])


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
    _fits(out, dout)
    _fits(dx, dout)
    df, of, xf = dout.ravel(), out.ravel(), dx.ravel()
    a = df.dtype.type(alpha)
    for i in range(df.size):
        xf[i] = df[i] if of[i] > 0 else a * df[i]


@jit
def sigmoid_forward(x, e):
    """sigmoid(x) = 1 / (1 + exp(-x)), written over ``e``, which holds exp(-|x|) on entry.

    For x >= 0 the result is 1 / (1 + e); for x < 0 it is e / (1 + e). exp's argument is never
    positive, so nothing overflows for any finite x, and the select keeps the loop vectorised.
    """
    xf, ef = x.ravel(), e.ravel()
    one = ef.dtype.type(1)
    for i in range(xf.size):
        r = one / (one + ef[i])
        ef[i] = r if xf[i] >= 0 else ef[i] * r


@jit
def sigmoid_backward(dout, out, dx):
    """dx = dout * (1 - out) * out, with out = sigmoid(x)."""
    _fits(out, dout)
    _fits(dx, dout)
    df, of, xf = dout.ravel(), out.ravel(), dx.ravel()
    one = df.dtype.type(1)
    for i in range(df.size):
        y = of[i]
        xf[i] = df[i] * (one - y) * y


@jit(fastmath={"contract"})
def tanh_forward(x, out):
    """out = tanh(x) (C-contiguous, any shape), evaluated in float64 whatever x's dtype (within 8 ulp
    of libm's in float64).

    With a = |x| and em = expm1(-2a): tanh(a) = -em / (2 + em), free of cancellation near 0. em is
    expm1(z) for z = -2a / 256 (|z| <= 0.172 once a is clamped at 22, where tanh is 1 in float64) by
    its Taylor series to z^13, then doubled 8 times with expm1(2u) = expm1(u) (2 + expm1(u)), which
    does not amplify rounding for u in (-1, 0]. Below 2^-28, tanh(a) rounds to a. The sign goes back
    on last; +-0 and NaN pass through.
    """
    xf, of = x.ravel(), out.ravel()  # views when C-contiguous (out always is; a strided x is copied)
    for i in range(xf.size):
        v = float(xf[i])
        z = min(abs(v), 22.0) * (-2.0 / 256.0)
        p = 1.0 / 6227020800.0  # 1/13!
        p = p * z + 1.0 / 479001600.0
        p = p * z + 1.0 / 39916800.0
        p = p * z + 1.0 / 3628800.0
        p = p * z + 1.0 / 362880.0
        p = p * z + 1.0 / 40320.0
        p = p * z + 1.0 / 5040.0
        p = p * z + 1.0 / 720.0
        p = p * z + 1.0 / 120.0
        p = p * z + 1.0 / 24.0
        p = p * z + 1.0 / 6.0
        p = p * z + 0.5
        em = z + z * z * p
        for _ in range(8):
            em = em * (2.0 + em)
        t = -em / (2.0 + em)
        if abs(v) < 2.0**-28:  # tanh(a) = a - a^3/3 rounds to a (and z would lose subnormal bits)
            t = abs(v)
        of[i] = t if v > 0.0 else (-t if v < 0.0 else v)


_LOG2E32, _LN2_HI32, _LN2_LO32 = (
    np.float32(1.4426950408889634),
    np.float32(0.693145751953125),
    np.float32(1.428606765330187e-06),
)
_EXPM1_32 = tuple(np.float32(1.0 / f) for f in (5040, 720, 120, 24, 6, 2, 1))  # 1/7! .. 1/1!


@jit(fastmath={"contract"})
def tanh_forward_float32(x, out):
    """out = tanh(x) for float32 x (any layout) and out (C-contiguous), in float32 arithmetic: within 3 ulp of
    the exact tanh (NumPy's float32 tanh: 1.4 ulp), 1.13-1.24x its speed here from 3,200 elements.

    With a = |x| (clamped at 9, where tanh is 1 in float32) and y = 2a: expm1(y) = 2^k (1 + q) - 1
    for k = round(y / ln 2), r = y - k ln 2 (|r| <= ln2 / 2, ln 2 in two parts) and q = expm1(r) by
    its Taylor series to r^7; 2^k is built from its bits (``simd.exp2``) so the loop
    vectorises. tanh(a) = expm1(y) / (expm1(y) + 2), exact at k = 0 where expm1(y) = q. The sign goes
    back on last; +-0 and NaN pass through.
    """
    xf, of = x.ravel(), out.ravel()
    c7, c6, c5, c4, c3, c2, c1 = _EXPM1_32
    one, two, half, lim = np.float32(1.0), np.float32(2.0), np.float32(0.5), np.float32(9.0)
    for i in range(xf.size):
        v = xf[i]
        a = abs(v)
        y = (a if a < lim else lim) * two  # NaN too: k stays a number (NaN comes back below)
        k = np.floor(y * _LOG2E32 + half)
        r = (y - k * _LN2_HI32) - k * _LN2_LO32
        q = c7
        q = q * r + c6
        q = q * r + c5
        q = q * r + c4
        q = q * r + c3
        q = q * r + c2
        q = (q * r + c1) * r
        s = exp2(np.int32(k))
        em = s * q + (s - one)
        t = em / (em + two)
        of[i] = np.copysign(t, v) if v == v else v


@jit
def tanh_backward(dout, out, dx):
    """dx = dout * (1 - out^2), with out = tanh(x)."""
    _fits(out, dout)
    _fits(dx, dout)
    df, of, xf = dout.ravel(), out.ravel(), dx.ravel()
    one = df.dtype.type(1)
    for i in range(df.size):
        y = of[i]
        xf[i] = df[i] * (one - y * y)
