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
