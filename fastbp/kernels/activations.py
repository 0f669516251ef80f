"""Elementwise activations and their derivatives.

Every kernel takes C-contiguous arrays of any shape and walks them flat. Backward kernels use the
forward *output* (not the input), so a layer keeps one array per activation.

Arrays passed as different arguments must not overlap: LLVM vectorises a loop only after a runtime
check that its arrays do not alias, and falls back to scalar code when they do (ReLU's backward ran 10x
slower in place, measured here). A kernel that works in place says so and takes the array once.

exp and tanh are not evaluated here: Numba calls the scalar libm function per element, 5-10x slower
than NumPy's SIMD ufuncs. The layers let NumPy compute them (``np.tanh(x, out=...)``,
``np.exp(-|x|, out=...)``) and the kernels fuse the rest of the pass.

Constants are made in the array's dtype (``dtype.type(1)``): a bare ``1.0`` is float64 in Numba and
would silently promote float32 arithmetic (half the SIMD width, and results that differ from NumPy's
float32 ones).
"""

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
def relu_backward(dout, out):
    """dout = 0 where out <= 0, in place: the derivative of ReLU is taken as 0 at x = 0.

    ``out`` is the forward output; out > 0 exactly where x > 0 (NaN inputs pass dout through,
    as the book's ``mask = (x <= 0)`` does).
    """
    df, of = dout.ravel(), out.ravel()
    zero = df.dtype.type(0)
    for i in range(df.size):
        df[i] = zero if of[i] <= zero else df[i]


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
    df, of, xf = dout.ravel(), out.ravel(), dx.ravel()
    one = df.dtype.type(1)
    for i in range(df.size):
        y = of[i]
        xf[i] = df[i] * (one - y) * y


@jit
def tanh_backward(dout, out, dx):
    """dx = dout * (1 - out^2), with out = tanh(x)."""
    df, of, xf = dout.ravel(), out.ravel(), dx.ravel()
    one = df.dtype.type(1)
    for i in range(df.size):
        y = of[i]
        xf[i] = df[i] * (one - y * y)
