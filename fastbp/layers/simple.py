"""The book's chapter 5 scalar layers: MulLayer and AddLayer."""

from __future__ import annotations

import numbers
import operator

import numpy as np


def _operand(v, name: str, where: str):
    """A number or a numeric array (the scalar layers take the book's ints and floats)."""
    if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.ndarray, np.generic)):
        raise TypeError(f"{where}: {name} must be a real number or a numeric array, got {type(v).__name__}")
    if np.asarray(v).dtype.kind not in "iuf":
        raise TypeError(f"{where}: {name} must be numeric, got dtype {np.asarray(v).dtype}")
    return v


def _combine(op, x, y, where: str):
    try:
        return op(x, y)
    except ValueError:
        raise ValueError(
            f"{where}: x and y must broadcast, got shapes {np.shape(x)} and {np.shape(y)}"
        ) from None


class MulLayer:
    """z = x * y for numbers or arrays (the book's chapter 5 example); backward gives (dz y, dz x)."""

    def __init__(self):
        self.x = self.y = None

    def forward(self, x, y):
        """x * y; keeps x and y for backward."""
        _operand(x, "x", "MulLayer.forward")
        _operand(y, "y", "MulLayer.forward")
        out = _combine(operator.mul, x, y, "MulLayer.forward")
        self.x, self.y = x, y
        return out

    def backward(self, dout):
        """(dout * y, dout * x)."""
        if self.x is None:
            raise RuntimeError("MulLayer.backward: call forward before backward")
        _operand(dout, "dout", "MulLayer.backward")
        return dout * self.y, dout * self.x


class AddLayer:
    """z = x + y; backward passes dout to both inputs (as two separate objects)."""

    def __init__(self):
        pass

    def forward(self, x, y):
        """x + y."""
        _operand(x, "x", "AddLayer.forward")
        _operand(y, "y", "AddLayer.forward")
        return _combine(operator.add, x, y, "AddLayer.forward")

    def backward(self, dout):
        """(dout, dout), each a separate object so that an in-place consumer cannot alias them."""
        _operand(dout, "dout", "AddLayer.backward")
        return dout * 1, dout * 1
