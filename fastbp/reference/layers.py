"""The book's layers in plain NumPy: the twin of ``fastbp.layers`` and the benchmarks' baseline.

Written as the book writes them -- a new array per operation, no buffers, no checks -- with the
two conventions fastbp keeps everywhere: the loss is exact (log-sum-exp, no 1e-7 in the log), and
Affine computes in the dtype of W (a float input of the other precision is converted first).
"""

import numpy as np

from . import kernels as k


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0  # in place, as the book
        return dout


class LeakyRelu:
    def __init__(self, alpha=0.01):
        self.alpha = alpha
        self.out = None

    def forward(self, x):
        self.out = k.leaky_relu_forward(x, self.alpha)
        return self.out

    def backward(self, dout):
        return k.leaky_relu_backward(dout, self.out, self.alpha)


class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = k.sigmoid_forward(x)
        return self.out

    def backward(self, dout):
        return k.sigmoid_backward(dout, self.out)


class Tanh:
    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = k.tanh_forward(x)
        return self.out

    def backward(self, dout):
        return k.tanh_backward(dout, self.out)


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.original_x_shape = self.dW = self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1).astype(self.W.dtype, copy=False)
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = self.y = self.t = None

    def forward(self, x, t):
        if t.size == x.size:
            self.t = t.reshape(x.shape).astype(x.dtype, copy=False)
            loss, self.y = k.softmax_ce_forward_dist(x, self.t)
        else:
            self.t = t.reshape(x.shape[0])
            loss, self.y = k.softmax_ce_forward(x, self.t)
        self.loss = x.dtype.type(loss)
        return self.loss

    def backward(self, dout=1):
        if self.t.ndim == 2:
            return k.softmax_ce_backward_dist(dout, self.y, self.t)
        return k.softmax_ce_backward(dout, self.y, self.t)
