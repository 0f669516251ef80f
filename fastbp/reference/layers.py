"""The book's layers in plain NumPy: the twin of ``fastbp.layers`` and the benchmarks' baseline.

Written as the book writes them -- a new array per operation, no buffers, no checks -- with the
two conventions fastbp keeps everywhere: the loss is exact (log-sum-exp, no 1e-7 in the log, unless
``FASTBP_BOOK_LOSS=1``), and
Affine computes in the dtype of W (a float input of the other precision is converted first).
"""

import numpy as np

from .. import config
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
            forward = k.softmax_ce_forward_dist
        else:
            self.t = t.reshape(x.shape[0])
            forward = k.softmax_ce_forward
        loss, self.y = (k.book_softmax_ce_forward if config.BOOK_LOSS else forward)(x, self.t)
        self.loss = x.dtype.type(loss)
        return self.loss

    def backward(self, dout=1):
        if self.t.ndim == 2:
            return k.softmax_ce_backward_dist(dout, self.y, self.t)
        return k.softmax_ce_backward(dout, self.y, self.t)


class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad
        self.x = self.col = self.col_W = self.dW = self.db = None

    def forward(self, x):
        fn = self.W.shape[0]
        self.x = x.astype(self.W.dtype, copy=False)
        self.col = k.im2col(self.x, self.W.shape[2], self.W.shape[3], self.stride, self.pad)
        self.col_W = self.W.reshape(fn, -1).T
        n, _, h, w = x.shape
        oh = k.out_size(h, self.W.shape[2], self.stride, self.pad)
        ow = k.out_size(w, self.W.shape[3], self.stride, self.pad)
        out = np.dot(self.col, self.col_W) + self.b
        return out.reshape(n, oh, ow, fn).transpose(0, 3, 1, 2)

    def backward(self, dout):
        fn, c, fh, fw = self.W.shape
        d = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = np.sum(d, axis=0)
        self.dW = np.dot(self.col.T, d).transpose(1, 0).reshape(fn, c, fh, fw)
        dcol = np.dot(d, self.col_W.T)
        return k.col2im(dcol, self.x.shape, fh, fw, self.stride, self.pad)


class Pooling:
    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad
        self.x = self.arg_max = None

    def forward(self, x):
        self.x = x
        out, self.arg_max = k.maxpool_forward(x, self.pool_h, self.pool_w, self.stride, self.pad)
        return out

    def backward(self, dout):
        return k.maxpool_backward(
            dout, self.arg_max, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad
        )


class Dropout:
    uses_train_flg = True

    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        if train_flg:
            out, self.mask = k.dropout_forward(x, np.random.rand(*x.shape), self.dropout_ratio)
            return out
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return k.dropout_backward(dout, self.mask)


class BatchNormalization:
    uses_train_flg = True

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma, self.beta, self.momentum = gamma, beta, momentum
        self.running_mean, self.running_var = running_mean, running_var
        self.input_shape = self.batch_size = self.xc = self.xn = self.std = self.dgamma = self.dbeta = None

    def forward(self, x, train_flg=True):
        self.input_shape = x.shape
        x = x.reshape(x.shape[0], -1).astype(self.gamma.dtype, copy=False)
        if self.running_mean is None:
            self.running_mean = np.zeros(x.shape[1], self.gamma.dtype)
            self.running_var = np.zeros(x.shape[1], self.gamma.dtype)
        if train_flg:
            out, self.xc, self.xn, self.std, self.running_mean, self.running_var = k.batchnorm_forward_train(
                x, self.gamma, self.beta, self.momentum, self.running_mean, self.running_var
            )
            self.batch_size = x.shape[0]
        else:
            out = k.batchnorm_forward_test(x, self.gamma, self.beta, self.running_mean, self.running_var)
        return out.reshape(self.input_shape)

    def backward(self, dout):
        dx, self.dgamma, self.dbeta = k.batchnorm_backward(
            dout.reshape(dout.shape[0], -1), self.gamma, self.xc, self.xn, self.std
        )
        return dx.reshape(self.input_shape)
