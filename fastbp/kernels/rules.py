"""Rules several kernels share, each written once and inlined into its callers.

- ReLU: ``relu(v) = 0 if v <= 0 else v``, the book's ``mask = (x <= 0)``: NaN is not masked, so it
  propagates (``np.maximum`` would too; ``max(v, 0)`` in a loop would not). Backward: the gradient
  passes where the kept output is not ``<= 0`` (``relu_keeps``), which is where x > 0 or x is NaN.
- Max pooling's winner: a value takes over a window's best so far when it is strictly larger (so the
  first of equal maxima stays, as the book's ``np.argmax``) or when it is a NaN and the best is not (so
  the first NaN wins, as ``np.max``/``np.argmax`` do). ``pool_wins_no_nan`` is its fast form, for loops
  that check for NaN on the side.
- ``exp_nonpositive(v)``: exp(v) for v <= 0 (or NaN), the softmax's exp(x - max), in code a loop
  vectorises (a call to the library's exp keeps it scalar: at 1000 x 10 scores that exp was most of
  the softmax's 90 us).

``inline="always"`` inlines them at Numba's IR level, before typing: each kernel compiles them with its
own options and dtypes, and the loops vectorise as if the rule were written in place. ``type(v)(0)``
is a zero of v's own type, so float32 arithmetic stays float32. With ``NUMBA_DISABLE_JIT=1`` they are
plain Python functions.

Numba's on-disk cache keys a kernel to its own file only; fastbp's cache folder is named by a digest
of every kernel module, so an edit here compiles the kernels that inline these again (``fastbp/_jit.py``).
"""

import numpy as np

from .._jit import jit
from .simd import exp2

# exp(r) = sum of r^k / k! to k = 13 for |r| <= ln(2) / 2: the first term left out is below 6e-18 of
# the sum. _INV_FACTORIAL[k] = 1 / k!.
_INV_FACTORIAL = tuple(1.0 / float(np.prod(np.arange(1.0, k + 1))) for k in range(14))
_LOG2E = 1.4426950408889634
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # ln 2 = HI + LO; k HI exact


@jit(inline="always")
def relu_keeps(out):
    """Whether ReLU keeps (passes the gradient at) a value: not ``out <= 0``, so NaN is kept."""
    return not out <= type(out)(0)


@jit(inline="always")
def relu(v):
    """max(v, 0) as the book's mask: 0 where v <= 0, v elsewhere (NaN stays NaN)."""
    return v if relu_keeps(v) else type(v)(0)


@jit(inline="always")
def relu_grad(g, out):
    """The gradient g through ReLU, given its output ``out``: 0 where out <= 0, g elsewhere."""
    return g if relu_keeps(out) else type(g)(0)


@jit(inline="always")
def pool_wins(v, best):
    """Whether v replaces ``best`` as a max-pooling window's maximum: v > best (ties keep the first),
    or v is NaN and best is not (the first NaN wins)."""
    return (v > best) | ((v != v) & (best == best))


@jit(inline="always")
def pool_wins_no_nan(v, best):
    """pool_wins for windows without NaN: v > best. A kernel that uses it must check for NaN on the side
    and redo the work with pool_wins when it finds one: the unrolled 2x2 and unpadded pooling loops ran
    1.2-1.6x slower with pool_wins itself (measured here, MNIST conv shapes)."""
    return v > best


@jit(inline="always")
def exp_nonpositive(v):
    """exp(v) for v <= 0 or NaN, in v's type: in float64 within 1.2 ulp of the exact exp (measured;
    NumPy's: 0.7); a float32 v's exp is rounded once from float64 (correctly rounded, measured).

    exp(v) = 2^k exp(r) for k = round(v / ln 2), r = v - k ln 2 (ln 2 in two parts, so k ln 2 is exact
    to ~1e-26 |k|), exp(r) by its Taylor series (``_INV_FACTORIAL``), 2^k from its bits in two halves (each
    a normal number down to the smallest subnormal result). Below -745.2 (where exp(v) rounds to 0,
    -inf too) it is 0; NaN stays NaN; exp(0) is exactly 1."""
    w = np.float64(v)
    wc = w if w > -746.0 else -746.0  # (-inf and NaN too: k is a number and no term overflows)
    k = np.floor(wc * _LOG2E + 0.5)
    r = (wc - k * _LN2_HI) - k * _LN2_LO
    # The terms from r^4 on in Estrin's order (pairs, then pairs of pairs in r^2, r^4, r^8), the first
    # four in Horner's: a chain of 8 multiply-adds where Horner's alone is 13 (the loop is bound by
    # that chain), and the last steps, which decide the rounding, as Horner's (all in Estrin's order
    # was 2 ulp off).
    f = _INV_FACTORIAL
    r2 = r * r
    r4 = r2 * r2
    a = (f[4] + f[5] * r) + (f[6] + f[7] * r) * r2
    b = (f[8] + f[9] * r) + (f[10] + f[11] * r) * r2
    high = (a + b * r4) + (f[12] + f[13] * r) * (r4 * r4)
    q = f[0] + r * (f[1] + r * (f[2] + r * (f[3] + r * high)))
    ki = np.int64(k)
    half = ki >> 1
    e = q * exp2(half) * exp2(ki - half)
    return type(v)(0.0 if w < -745.2 else e + (w - w))  # (w - w: 0, or NaN for a NaN)
