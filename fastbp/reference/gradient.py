"""Twin of ``fastbp.gradient.numerical_gradient``: the book's loop as BOOK_API.md describes it."""

import numpy as np

__all__ = ["numerical_gradient"]


def numerical_gradient(f, x):
    """Central differences of f at x, element by element in x's place, in np.nditer's order: x + h
    from float(x_i), x - h in x's dtype, then x_i restored (the tests' and benchmarks' reference)."""
    h = 1e-4
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        v = x[i]
        x[i] = float(v) + h
        up = f(x)
        x[i] = v - h
        down = f(x)
        grad[i] = (up - down) / (2 * h)
        x[i] = v
        it.iternext()
    return grad
