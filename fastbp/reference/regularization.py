"""Twins of ``fastbp.kernels.regularization``: the book's dropout and batch norm."""

import numpy as np

__all__ = [
    "dropout_forward",
    "scale",
    "dropout_backward",
    "batchnorm_forward_train",
    "batchnorm_forward_test",
    "batchnorm_backward",
]


def dropout_forward(x, u, ratio):
    mask = u > ratio
    return x * mask, mask


def scale(x, factor):
    return x * x.dtype.type(factor)


def dropout_backward(dout, mask):
    return dout * mask


def batchnorm_forward_train(x, gamma, beta, momentum, running_mean, running_var):
    mu = x.mean(axis=0)
    xc = x - mu
    var = np.mean(xc**2, axis=0)
    std = np.sqrt(var + 10e-7)
    xn = xc / std
    rm = momentum * running_mean + (1 - momentum) * mu
    rv = momentum * running_var + (1 - momentum) * var
    return gamma * xn + beta, xc, xn, std, rm, rv


def batchnorm_forward_test(x, gamma, beta, running_mean, running_var):
    return gamma * ((x - running_mean) / np.sqrt(running_var + 10e-7)) + beta


def batchnorm_backward(dout, gamma, xc, xn, std):
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(xn * dout, axis=0)
    dxn = gamma * dout
    dxc = dxn / std
    dstd = -np.sum((dxn * xc) / (std * std), axis=0)
    dvar = 0.5 * dstd / std
    dxc += (2.0 / n) * xc * dvar
    dmu = np.sum(dxc, axis=0)
    return dxc - dmu / n, dgamma, dbeta
