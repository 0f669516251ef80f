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


def numerical_gradient(f, x):
    """Central-difference gradient (f(x+h) - f(x-h)) / 2h of scalar ``f`` at ``x``, h = 1e-4.

    ``x``: a float array of any shape; each element is perturbed in place, ``f(x)`` is called, and
    the element is restored (exactly: the original value is put back, not x+h-h).
    Returns an array of x's shape and dtype.
    """
    x = _float_target(x, "numerical_gradient")
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        orig = x[idx]
        x[idx] = orig + H
        fxh1 = f(x)
        x[idx] = orig - H
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * H)
        x[idx] = orig
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
