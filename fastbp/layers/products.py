"""A layer's matrix products in whichever of two layouts BLAS runs faster for their shape, where it runs.

``x W`` can also be computed as ``(W^T x^T)^T`` and ``x^T g`` as ``(g^T x)^T``: the same sums, which
BLAS may run at quite different speeds, since it takes one operand as the long side of its kernel. On
this project's Intel machine (OpenBLAS 0.3.31, SkylakeX kernels) the second layout plus a transposing
copy took 0.69-0.78 of the usual one's time for the first layer of a float64 MLP at batch 1000, and
was slower for every float32 shape and every batch of 100 (config.LAYOUT_MIN_ROWS). That depends on
the CPU and BLAS, so it is measured per shape, in the process, on the first calls of each shape:

- the first call of a shape asks whether both layouts give the same bits, on random operands of that
  shape (BLAS may sum in another order in the other layout: then the usual one stays, for good; a
  product that happens to be exact, of zeros say, would agree in any order and prove nothing);
- the next calls time the layouts in turn (``config.LAYOUT_TRIALS`` each), each call computing both
  and comparing them on the caller's data too, and returning the usual layout's bits; the other one
  is kept if its best time is at most ``config.LAYOUT_MIN_GAIN`` of the usual one's.

So a layout is only ever a choice of speed, never of numbers.

The order BLAS sums in may also depend on its thread count: each count is a shape of its own.
Batches under ``config.LAYOUT_MIN_ROWS`` rows take the usual layout at once. The copy's scratch is the
calling layer's buffer (``owner``): a network belongs to one thread; the choices are shared.
"""

from __future__ import annotations

import time

import numpy as np

from .. import _blas_lib, config
from ..kernels.affine import transpose_into


class _Trial:
    """What is known of one shape's layouts: ``keep`` None while timing, then False (the usual) or True
    (the other); the best seconds of each seen so far, and the calls timed."""

    __slots__ = ("keep", "usual", "other", "calls")

    def __init__(self):
        self.keep, self.usual, self.other, self.calls = None, np.inf, np.inf, 0


_TRIALS: dict = {}  # (kind, dtype code, rows, depth, width, BLAS threads) -> _Trial


def forward(owner, x, W, out) -> None:
    """out = x W.  x: (N, D) and W: (D, M) C-contiguous; out: (N, M) C-contiguous."""
    n = x.shape[0]
    if n < config.LAYOUT_MIN_ROWS:
        np.dot(x, W, out=out)
        return
    key = ("xW", x.dtype.char, n, x.shape[1], W.shape[1], _blas_lib.threads())
    _run(key, lambda: np.dot(x, W, out=out), lambda: _other(owner, "xW^T", W.T, x.T, out), out)


def weight_grad(owner, x, g, dW) -> None:
    """dW = x^T g.  x: (N, D) and g: (N, M) C-contiguous; dW: (D, M) C-contiguous."""
    n = x.shape[0]
    if n < config.LAYOUT_MIN_ROWS:
        np.dot(x.T, g, out=dW)
        return
    key = ("xTg", x.dtype.char, n, x.shape[1], g.shape[1], _blas_lib.threads())
    _run(key, lambda: np.dot(x.T, g, out=dW), lambda: _other(owner, "dW^T", g.T, x, dW), dW)


def _other(owner, key, a, b, out):
    """out = (a b)^T through the owner's scratch (out's transpose)."""
    t = owner._buffer(key, out.shape[::-1], out.dtype)
    np.dot(a, b, out=t)
    transpose_into(t, out)


def _run(key, usual, other, out) -> None:
    trial = _TRIALS.get(key)
    if trial is not None and trial.keep is not None:
        (other if trial.keep else usual)()
        return
    if trial is None:  # the first call of this shape: do the layouts sum alike?
        trial = _TRIALS[key] = _Trial()
        if not _agree(*key):
            trial.keep = False  # (BLAS sums in another order there: the numbers decide, not speed)
    if trial.keep is None:  # timing: each call runs both, and the caller gets the usual one's bits
        use_other = trial.calls % 2 == 1
        start = time.perf_counter()
        (other if use_other else usual)()
        seconds = time.perf_counter() - start
        kept = out.copy()
        (usual if use_other else other)()
        if not np.array_equal(kept.view(_BITS[out.itemsize]), out.view(_BITS[out.itemsize])):
            trial.keep = False  # (a mismatch on this data ends it too)
        if use_other:
            trial.other = min(trial.other, seconds)
        else:
            trial.usual = min(trial.usual, seconds)
            np.copyto(out, kept)  # (out holds the other's)
        trial.calls += 1
        if trial.keep is None and trial.calls >= 2 * config.LAYOUT_TRIALS:
            trial.keep = bool(trial.other <= config.LAYOUT_MIN_GAIN * trial.usual)
        return
    usual()


def _agree(kind, char, n, d, m, threads) -> bool:
    """Whether both layouts give the same bits for this shape, asked of random operands (a product of
    zeros or of small integers would be exact in any summation order, and prove nothing): the order
    BLAS sums in depends on the shape, dtype and code path, not on the values."""
    r = np.random.default_rng(12345)  # (not the global generator: the book's draws stay as they were)
    dt = np.dtype(char)
    a = r.standard_normal((n, d)).astype(dt)
    b = r.standard_normal((d, m) if kind == "xW" else (n, m)).astype(dt)
    if kind == "xW":
        first, second = np.dot(a, b), np.dot(b.T, a.T).T
    else:
        first, second = np.dot(a.T, b), np.dot(b.T, a).T
    bits = _BITS[dt.itemsize]
    return np.array_equal(first.view(bits), np.ascontiguousarray(second).view(bits))


_BITS = {8: np.uint64, 4: np.uint32, 2: np.uint16}


def settled(dtype_char: str, n: int, shapes) -> tuple | None:
    """The layouts the x W and x^T g products of a chain of layers (``shapes``: each W's (D, M)) take
    at a batch of n rows, once every one has settled: per layer, whether x W and whether x^T g take
    the other layout (a tuple of 2 bools per layer), for a caller that makes the products itself
    (kernels/mlp_blas.py) and so gives what the layers would, as fast. None while any is untried or
    still being timed. Kept once known, until ``forget``."""
    shapes = tuple(shapes)
    if n < config.LAYOUT_MIN_ROWS:
        return (False,) * (2 * len(shapes))  # (never anything but the usual layout)
    key = (dtype_char, n, shapes, _blas_lib.threads())
    flips = _SETTLED.get(key)
    if flips is None:
        found = []
        for d, m in shapes:
            for kind in ("xW", "xTg"):
                trial = _TRIALS.get((kind, dtype_char, n, d, m, key[3]))
                if trial is None or trial.keep is None:
                    return None
                found.append(trial.keep)
        flips = _SETTLED[key] = tuple(found)
    return flips


_SETTLED: dict = {}  # settled's answers, once known


def chosen() -> dict:
    """The layouts chosen so far: ``{(kind, dtype code, rows, depth, width, BLAS threads): "usual" |
    "other"}``
    (kind ``xW`` for x W, ``xTg`` for x^T g); shapes still being timed are left out."""
    return {k: ("other" if t.keep else "usual") for k, t in list(_TRIALS.items()) if t.keep is not None}


def forget() -> None:
    """Forget every choice: the next calls of each shape measure again."""
    _TRIALS.clear()
    _SETTLED.clear()
