"""Twins of ``fastbp.kernels.activations``: elementwise activations and their derivatives."""

import numpy as np

__all__ = [
    "relu_forward",
    "relu_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_forward_float32",
    "tanh_backward",
]


def relu_forward(x):
    """The book's mask: 0 where x <= 0 (NaN is not masked, so it stays NaN)."""
    out = x.copy()
    out[x <= 0] = 0
    return out


def relu_backward(dout, out):
    dout[out <= 0] = 0  # in place, as the book
    return dout


def leaky_relu_forward(x, alpha):
    return np.where(x > 0, x, x.dtype.type(alpha) * x)


def leaky_relu_backward(dout, out, alpha):
    return np.where(out > 0, dout, dout.dtype.type(alpha) * dout)


def sigmoid_forward(x):
    with np.errstate(over="ignore"):  # exp(-x) = inf for x < -709 gives the exact limit 0
        return 1 / (1 + np.exp(-x))


def sigmoid_backward(dout, out):
    return dout * (1 - out) * out


def tanh_forward(x):
    return np.tanh(x)


tanh_forward_float32 = tanh_forward  # the kernel's float32-arithmetic variant: the same function


def tanh_backward(dout, out):
    return dout * (1 - out**2)
