"""Rules several kernels share, each written once and inlined into its callers.

- ReLU: ``relu(v) = 0 if v <= 0 else v``, the book's ``mask = (x <= 0)``: NaN is not masked, so it
  propagates (``np.maximum`` would too; ``max(v, 0)`` in a loop would not). Backward: the gradient
  passes where the kept output is not ``<= 0`` (``relu_keeps``), which is where x > 0 or x is NaN.
- Max pooling's winner: a value takes over a window's best so far when it is strictly larger (so the
  first of equal maxima stays, as the book's ``np.argmax``) or when it is a NaN and the best is not (so
  the first NaN wins, as ``np.max``/``np.argmax`` do). ``pool_wins_no_nan`` is its fast form, for loops
  that check for NaN on the side.

``inline="always"`` inlines them at Numba's IR level, before typing: each kernel compiles them with its
own options and dtypes, and the loops vectorise as if the rule were written in place. ``type(v)(0)``
is a zero of v's own type, so float32 arithmetic stays float32. With ``NUMBA_DISABLE_JIT=1`` they are
plain Python functions.

Numba's on-disk cache keys a kernel to its own file only; fastbp's cache folder is named by a digest
of every kernel module, so an edit here compiles the kernels that inline these again (``fastbp/_jit.py``).
"""

from .._jit import jit


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
