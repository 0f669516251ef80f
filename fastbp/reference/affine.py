"""Twins of ``fastbp.kernels.affine``: the bias half of y = x W + b (and ReLU fused with it)."""

from .activations import relu_backward, relu_forward

__all__ = ["bias_forward", "bias_backward", "bias_relu_forward", "relu_bias_backward", "transpose_into"]


def bias_forward(y, b):
    return y + b


def bias_backward(dy):
    return dy.sum(axis=0)


def bias_relu_forward(y, b):
    return relu_forward(y + b)


def relu_bias_backward(dy, out):
    dy = relu_backward(dy.copy(), out)
    return dy, dy.sum(axis=0)


def transpose_into(src):
    return src.T.copy()
