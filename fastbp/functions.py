"""The book's free functions (``common/functions.py``), in NumPy.

These are the chapter 3-4 building blocks that scripts call on whole arrays; the layers use the
compiled kernels instead. Elementwise results are bit for bit the book's: the same NumPy ufuncs in the
same order, applied in place on one buffer where the book allocates a temporary per step.

Speed (``bench/bench_functions.py``): the scripts call these on arrays of 2 to 10,000 elements, where
each NumPy ufunc call costs ~0.4 us. There is no Numba here: a compiled sigmoid, tried on this
project's machine (AVX-512), was faster on 3 elements (0.6 vs 1.8 us) but 2.5x slower on (100, 50),
and its exp (libm's) differs from NumPy's SIMD exp in the last bit, so its numbers would not be the
book's. The argument checks cost one type and one dtype test on the common path (a float ndarray);
anything else takes the slow, general path with the same errors.

Differences from the book, all deliberate:

- ``cross_entropy_error`` is the exact ``-mean(log y[t])``, without the book's 1e-7 inside the log
  (a zero probability gives inf, the true value, with NumPy's divide-by-zero warning); ``softmax_loss``
  works from the logits by log-sum-exp, so it is finite for any finite input. Labels outside [0, C)
  are an error.
- ``step_function`` returns int64 (the book's ``np.int`` no longer exists in NumPy).
- ``sigmoid_grad`` evaluates the sigmoid once (the book's twice; the values are the same).

``sigmoid`` overflows as the book's does: exp(-x) is inf for x < -709 (float64), so the result is
exactly 0, with NumPy's "overflow encountered in exp" RuntimeWarning. NumPy's floating-point
warnings are left as they are: silencing one with ``np.errstate`` costs 0.8-1.2 us per call, half the
book's whole sigmoid on 3 elements and a fifth of its cross_entropy_error on a batch of 100.
"""

from __future__ import annotations

import numpy as np

from . import config

__all__ = [
    "np",
    "identity_function",
    "step_function",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "relu_grad",
    "softmax",
    "sum_squared_error",
    "mean_squared_error",
    "cross_entropy_error",
    "softmax_loss",
]


def _numeric(x, name: str, where: str) -> np.ndarray:
    if type(x) is not np.ndarray:  # lists, scalars, subclasses: the exact type test is the cheap one
        x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{where}: {name} must be a numeric array, got dtype {x.dtype}")
    return x


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


# Per float dtype (by dtype.char), 0 and 1 as read-only 0-d arrays of that dtype. A Python scalar
# operand costs each ufunc call ~0.3 us to convert (NEP 50 "weak" scalar); a 0-d array of x's own
# dtype gives the same result dtype and the same bits without that cost. The fast paths test
# ``type(x) is np.ndarray and x.ndim`` (0-d input would come back as a scalar, not an out= buffer),
# then look x's dtype up here (float only), inline: a helper's call costs ~0.1 us.
_FLOATS = (np.float16, np.float32, np.float64, np.longdouble)
_ZERO = {np.dtype(d).char: _frozen(np.zeros((), d)) for d in _FLOATS}
_ONE = {np.dtype(d).char: _frozen(np.ones((), d)) for d in _FLOATS}

# The reductions as ufunc methods: what x.max()/np.sum() call, without their Python wrappers (0.3 us)
_max, _min, _sum = np.maximum.reduce, np.minimum.reduce, np.add.reduce

# np.arange(n) for the row index of a fancy gather, sliced from one cached array (0.2 us, not 0.6 us)
_ROWS = _frozen(np.arange(1024))


def identity_function(x):
    """x, unchanged (the output activation for regression)."""
    return x


def step_function(x):
    """1 where x > 0, else 0, as int64; an array of x's shape."""
    if type(x) is np.ndarray and x.ndim:
        zero = _ZERO.get(x.dtype.char)
        if zero is not None:
            return np.array(np.greater(x, zero), dtype=np.int64)
    return np.array(_numeric(x, "x", "step_function") > 0, dtype=np.int64)


def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise; x's shape, float dtype (int input gives float64).

    Bit for bit the book's; for x < -709 (float64) exp(-x) overflows and the result is exactly 0,
    with NumPy's overflow RuntimeWarning, as the book's.
    """
    if type(x) is np.ndarray and x.ndim:
        one = _ONE.get(x.dtype.char)
        if one is not None:  # the book's four ufuncs in the book's order, in place on one buffer
            e = np.negative(x)
            np.exp(e, out=e)
            np.add(one, e, out=e)
            return np.divide(one, e, out=e)
    x = _numeric(x, "x", "sigmoid")
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    """d sigmoid / dx = (1 - sigmoid(x)) sigmoid(x), elementwise; x's shape."""
    s = sigmoid(x)
    return (1.0 - s) * s


def relu(x):
    """max(0, x), elementwise; x's shape and dtype."""
    if type(x) is np.ndarray and x.ndim:
        zero = _ZERO.get(x.dtype.char)
        if zero is not None:
            return np.maximum(zero, x)
    return np.maximum(0, _numeric(x, "x", "relu"))


def relu_grad(x):
    """1 where x >= 0, else 0 (note: 1 at x = 0, as the book's function; the Relu layer uses 0)."""
    x = _numeric(x, "x", "relu_grad")
    grad = np.zeros_like(x)
    grad[x >= 0] = 1
    return grad


def softmax(x):
    """exp(x - max) / sum(exp(x - max)) along the last axis; any rank >= 1, x's shape."""
    if not (type(x) is np.ndarray and x.ndim and x.dtype.char in _ONE):
        x = _numeric(x, "x", "softmax")
        if x.ndim == 0:
            raise ValueError("softmax: x must have at least 1 dimension, got a scalar")
        if x.dtype.kind != "f":  # ints, bools: the out-of-place formula promotes them to float
            e = np.exp(x - _max(x, axis=-1, keepdims=True))
            return e / _sum(e, axis=-1, keepdims=True)
    # the book's operations in place on one buffer (the max shift keeps exp <= 1: no overflow)
    e = np.subtract(x, _max(x, axis=-1, keepdims=True))
    np.exp(e, out=e)
    return np.divide(e, _sum(e, axis=-1, keepdims=True), out=e)


def sum_squared_error(y, t):
    """0.5 * sum((y - t)^2) over all elements (not divided by the batch size, as in the book)."""
    y, t = _numeric(y, "y", "sum_squared_error"), _numeric(t, "t", "sum_squared_error")
    if y.shape != t.shape:
        raise ValueError(f"sum_squared_error: y and t must have the same shape, got {y.shape} and {t.shape}")
    return 0.5 * np.sum((y - t) ** 2)


mean_squared_error = sum_squared_error  # the book's name before 2019


def _as_rows(y, t, where: str):
    """The book's conventions: 1-D y is one sample; t of y's size is one-hot, else class indices."""
    y, t = _numeric(y, "y", where), _numeric(t, "t", where)
    if y.ndim == 1:
        y, t = y.reshape(1, -1), t.reshape(1, -1) if t.size == y.size else t.reshape(1)
    if y.ndim != 2:
        raise ValueError(f"{where}: y must be 1-D or 2-D (samples, classes), got shape {y.shape}")
    n, c = y.shape
    if t.size == y.size:
        t = t.reshape(n, c).argmax(axis=1)
    elif t.size == n and t.dtype.kind in "iu":
        t = t.reshape(n)
    else:
        raise ValueError(
            f"{where}: t must be {n} integer class indices or one-hot rows of shape {y.shape}, "
            f"got shape {t.shape} and dtype {t.dtype}"
        )
    if n and (t.min() < 0 or t.max() >= c):
        _bad_labels(c, where)
    return y, t


def _bad_labels(c: int, where: str):
    raise ValueError(f"{where}: t holds a class index outside [0, {c})")


def cross_entropy_error(y, t):
    """-(1/N) sum_i log y[i, t_i] for probabilities y (N, C), or (C,) as one sample.

    t: N class indices (any integer dtype; a 0-d array or a 1-element array for one sample), or
    one-hot rows of y's size (then t = argmax, as the book). A zero probability gives inf, with
    NumPy's divide-by-zero RuntimeWarning from the log. With ``FASTBP_BOOK_LOSS=1``
    (``fastbp.config.BOOK_LOSS``) it is the book's -log(y + 1e-7), capped at 16.118 per sample.
    """
    if type(y) is np.ndarray and type(t) is np.ndarray and y.dtype.kind == "f":
        n = y.shape[0]
        if y.ndim == 2 and n:
            c, kind = y.shape[1], t.dtype.kind
            if t.size == y.size:  # one-hot
                idx = (t if t.ndim == 2 else t.reshape(n, c)).argmax(axis=1)
            elif t.size == n and kind in "iu":
                idx = t if t.ndim == 1 else t.reshape(n)
                if kind == "i" and _min(idx) < 0:  # a negative label would wrap around silently
                    _bad_labels(c, "cross_entropy_error")
            else:
                idx = None
            if idx is not None:
                try:
                    p = y[_ROWS[:n] if n <= _ROWS.size else np.arange(n), idx]
                except IndexError:  # a label >= C
                    _bad_labels(c, "cross_entropy_error")
                return -_sum(_log(p)) / n
        elif y.ndim == 1:  # one sample: a scalar gather and a scalar log
            c = y.shape[0]
            if t.size == c:
                k = t.argmax()
            elif t.size == 1 and t.dtype.kind in "iu":
                k = t.item()
            else:
                k = None
            if k is not None:
                if not 0 <= k < c:
                    _bad_labels(c, "cross_entropy_error")
                return -_log(y[k])
    y, t = _as_rows(y, t, "cross_entropy_error")
    return -np.sum(_log(y[np.arange(y.shape[0]), t])) / y.shape[0]


def _log(p):
    """log p, or the book's log(p + 1e-7) under FASTBP_BOOK_LOSS (read at each call)."""
    return np.log(p + 1e-7) if config.BOOK_LOSS else np.log(p)


def softmax_loss(X, t):
    """cross_entropy_error(softmax(X), t), computed stably from the logits by log-sum-exp."""
    X, t = _as_rows(X, t, "softmax_loss")
    m = X.max(axis=1, keepdims=True)
    log_p = X - m - np.log(np.exp(X - m).sum(axis=1, keepdims=True))
    return -np.sum(log_p[np.arange(X.shape[0]), t]) / X.shape[0]
