"""Numerical differentiation, as the book does it (``common/gradient.py``).

``numerical_gradient(f, x)`` perturbs ``x`` *in place* and calls ``f`` after each change; the book's
networks pass a lambda that ignores its argument and recomputes the loss from their ``params``. That
only works because the layers read the very arrays held in ``params`` -- which fastbp's layers do.
"""

from __future__ import annotations

import numpy as np

__all__ = ["numerical_gradient", "numerical_gradient_1d", "numerical_gradient_2d"]

H = 1e-4  # the book's step: small enough for accuracy, large enough for float64 round-off


def _float_target(x, where: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{where}: x must be a NumPy array that f reads (it is perturbed in place), "
            f"got {type(x).__name__}"
        )
    if x.dtype.kind != "f":
        # The book's code silently truncates x + h on integer arrays and returns garbage.
        raise TypeError(
            f"{where}: x must be a float array, got dtype {x.dtype} (x + 1e-4 would be truncated)"
        )
    if not x.flags.writeable:
        raise ValueError(f"{where}: x must be writeable: it is perturbed in place")
    return x


def _nditer_order(x: np.ndarray) -> list:
    """x's multi-indices in the order the book's np.nditer visits them (memory order, 'K')."""
    it = np.nditer(x, flags=["multi_index", "refs_ok", "zerosize_ok"])
    keys = []
    while not it.finished:
        keys.append(it.multi_index)
        it.iternext()
    return keys


def numerical_gradient(f, x):
    """Central-difference gradient (f(x+h) - f(x-h)) / 2h of scalar ``f`` at ``x``, h = 1e-4.

    ``x``: a float array of any shape, perturbed in place one element at a time: set to x+h, ``f(x)``,
    set to x-h, ``f(x)``, then put back (the original value itself, not x+h-h). The element is put
    back even when ``f`` raises (a Ctrl-C in a gradient check leaves the weights as they were).
    Returns an array of x's shape and dtype.

    The same numbers as the book's: x+h is computed in float64 (``float(x_i) + h``) and x-h in x's
    dtype (``x_i - h``), as the book does under NumPy 2.
    """
    x = _float_target(x, "numerical_gradient")
    grad = np.empty_like(x)  # every element is written (the book's zeros_like costs a fill)
    if x.flags.c_contiguous and type(x) is np.ndarray:  # (a np.matrix reshapes to 2-D)
        # One flat index per element into a view of x's own memory: Python-int indexing of a 1-D
        # view is the cheapest element access NumPy has (the book's nditer with multi_index costs
        # ~0.5 us per element more, per bench_functions.py's loop-only cases).
        flat, g, keys = x.reshape(-1), grad.reshape(-1), range(x.size)
    else:  # other strides, subclasses: x itself, in the book's order (nditer's: memory order)
        flat, g, keys = x, grad, _nditer_order(x)
    h, two_h = H, 2 * H
    perturbed = None  # the element now away from its value ``orig``; None while none is
    orig = None
    try:
        for i in keys:
            orig = flat[i]  # only ever read while perturbed is None
            perturbed = i
            flat[i] = float(orig) + h
            fxh1 = f(x)
            flat[i] = orig - h
            fxh2 = f(x)
            flat[i] = orig
            perturbed = None
            g[i] = (fxh1 - fxh2) / two_h
    finally:
        if perturbed is not None:  # f raised (or an interrupt came) mid-element: put it back
            flat[perturbed] = orig
    return grad


def numerical_gradient_1d(f, x):
    """numerical_gradient for a 1-D x (the book's older loop variant)."""
    x = _float_target(x, "numerical_gradient_1d")
    if x.ndim != 1:
        raise ValueError(f"numerical_gradient_1d: x must be 1-D, got shape {x.shape}")
    return numerical_gradient(f, x)


def numerical_gradient_2d(f, X):
    """Row by row: the gradient of f at each row of a 2-D X (a 1-D X is treated as one row)."""
    X = _float_target(X, "numerical_gradient_2d")
    if X.ndim == 1:
        return numerical_gradient_1d(f, X)
    if X.ndim != 2:
        raise ValueError(f"numerical_gradient_2d: X must be 1-D or 2-D, got shape {X.shape}")
    grad = np.zeros_like(X)
    for i, row in enumerate(X):
        grad[i] = numerical_gradient_1d(f, row)
    return grad
