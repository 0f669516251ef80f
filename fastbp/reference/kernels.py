"""Pure-NumPy twins of ``fastbp.kernels``: same names, same math, new arrays instead of ``out=``.

Each function states the math once, in the shortest NumPy; the compiled kernel of the same name must
agree with it (float64 to ~1e-12, float32 to ~1e-5).
"""

import numpy as np


def all_finite(a):
    return bool(np.isfinite(a).all())


def copy_all_finite(src, dst):
    dst[...] = src.reshape(dst.shape)
    return bool(np.isfinite(src).all())


def first_bad_label(t, n_classes):
    bad = np.flatnonzero((t < 0) | (t >= n_classes))
    return int(bad[0]) if bad.size else -1


# affine.py ------------------------------------------------------------------------------------


def bias_forward(y, b):
    return y + b


def bias_backward(dy):
    return dy.sum(axis=0)


# activations.py -------------------------------------------------------------------------------


def relu_forward(x):
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


def tanh_backward(dout, out):
    return dout * (1 - out**2)


# softmax_ce.py --------------------------------------------------------------------------------


def _log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    z = x - m
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_ce_forward(x, t):
    """(mean_i -log softmax(x)[i, t_i], softmax(x)) for class indices t."""
    loss = -_log_softmax(x)[np.arange(x.shape[0]), t].astype(np.float64).mean()
    return loss, softmax(x)


def softmax_ce_forward_dist(x, t):
    """(mean_i -sum_j t_ij log softmax(x)_ij, softmax(x)) for target rows t."""
    logp = _log_softmax(x).astype(np.float64)
    loss = -np.where(t != 0, t * logp, 0.0).sum() / x.shape[0]
    return loss, softmax(x)


def softmax_ce_backward(dout, p, t):
    dx = p.copy()
    dx[np.arange(p.shape[0]), t] -= 1
    return dx * p.dtype.type(dout) / p.dtype.type(p.shape[0])


def softmax_ce_backward_dist(dout, p, t):
    return (p - t) * p.dtype.type(dout) / p.dtype.type(p.shape[0])


# optim.py: in place, as the book's optimizers -----------------------------------------------------

EPS = 1e-7


def sgd_update(p, g, lr):
    p -= lr * g


def momentum_update(p, g, v, lr, momentum):
    v[...] = momentum * v - lr * g
    p += v


def nesterov_update(p, g, v, lr, momentum):
    p += momentum * momentum * v
    p -= (1 + momentum) * lr * g
    v *= momentum
    v -= lr * g


def adagrad_update(p, g, h, lr):
    h += g * g
    p -= lr * g / (np.sqrt(h) + EPS)


def rmsprop_update(p, g, h, lr, decay_rate):
    h *= decay_rate
    h += (1 - decay_rate) * g * g
    p -= lr * g / (np.sqrt(h) + EPS)


def adam_update(p, g, m, v, lr_t, beta1, beta2):
    m += (1 - beta1) * (g - m)
    v += (1 - beta2) * (g**2 - v)
    p -= lr_t * m / (np.sqrt(v) + EPS)


# regularizers.py ----------------------------------------------------------------------------------


def l2_penalty(W):
    return np.sum(W**2, dtype=np.float64)


def l2_backward(dW, W, lam):
    return dW + lam * W


def bias_relu_forward(y, b):
    return relu_forward(y + b)


def relu_bias_backward(dy, out):
    dy = relu_backward(dy.copy(), out)
    return dy, dy.sum(axis=0)


# sparse_input.py: the same products, dense ------------------------------------------------------------


def compact_rows(x):
    """x's nonzeros row by row: (columns, values, row pointers)."""
    rows, cols = np.nonzero(x)
    ptr = np.searchsorted(rows, np.arange(x.shape[0] + 1))
    return cols, x[rows, cols], ptr


def csr_affine_forward(x, W, b, relu):
    y = x @ W + b
    return relu_forward(y) if relu else y


def csr_weight_grad(x, dout):
    return x.T @ dout


# conv.py: the book's im2col approach in NumPy --------------------------------------------------------


def out_size(size, filt, stride, pad):
    return (size + 2 * pad - filt) // stride + 1


def im2col(x, fh, fw, stride=1, pad=0, fill=0.0):
    """(N*OH*OW, C*FH*FW): one strided slice per filter offset, then one transpose."""
    n, c, h, w = x.shape
    oh, ow = out_size(h, fh, stride, pad), out_size(w, fw, stride, pad)
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], constant_values=fill)
    col = np.empty((n, c, fh, fw, oh, ow), dtype=x.dtype)
    for i in range(fh):
        for j in range(fw):
            col[:, :, i, j] = xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def col2im(col, shape, fh, fw, stride=1, pad=0):
    """The adjoint of im2col: overlapping windows add up; padding is cropped."""
    n, c, h, w = shape
    oh, ow = out_size(h, fh, stride, pad), out_size(w, fw, stride, pad)
    col = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), dtype=col.dtype)
    for i in range(fh):
        for j in range(fw):
            img[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += col[:, :, i, j]
    return img[:, :, pad : h + pad, pad : w + pad]


def maxpool_forward(x, ph, pw, stride, pad):
    """(out, arg): window maxima and their flat index in the window; padding is -inf."""
    n, c, h, w = x.shape
    oh, ow = out_size(h, ph, stride, pad), out_size(w, pw, stride, pad)
    col = im2col(x, ph, pw, stride, pad, fill=-np.inf).reshape(-1, ph * pw)
    arg = np.argmax(col, axis=1)
    out = np.max(col, axis=1)
    to_nchw = lambda a: a.reshape(n, oh, ow, c).transpose(0, 3, 1, 2)  # noqa: E731
    return to_nchw(out), to_nchw(arg)


def maxpool_backward(dout, arg, x_shape, ph, pw, stride, pad):
    d = dout.transpose(0, 2, 3, 1).reshape(-1)
    dmax = np.zeros((d.size, ph * pw), dtype=dout.dtype)
    dmax[np.arange(d.size), arg.transpose(0, 2, 3, 1).reshape(-1)] = d
    return col2im(dmax.reshape(-1, x_shape[1] * ph * pw), x_shape, ph, pw, stride, pad)


# regularization.py: the book's dropout and batch norm --------------------------------------------


def dropout_forward(x, u, ratio):
    mask = u > ratio
    return x * mask, mask


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
