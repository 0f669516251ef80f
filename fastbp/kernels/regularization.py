"""Dropout and batch normalization (chapter 6), forward and backward.

Dropout is the book's non-inverted kind: in training the mask comes from ``u > ratio`` for uniform
draws ``u`` the layer takes from the global NumPy RNG (so the same seed gives the same mask), and the
output is ``x * mask``; at test time the output is ``x * (1 - ratio)``.

Batch normalization normalizes each column (feature) over the batch: mean, *biased* variance,
``std = sqrt(var + 1e-6)`` (the book's ``10e-7``). Each direction takes three passes over the (N, D)
data where NumPy's expression takes a dozen, and follows the book's operation order.
"""

import numpy as np

from .._jit import jit

BN_EPS = 10e-7  # the book writes 10e-7, i.e. 1e-6

# The arrays below come from layer attributes a user's code may rebind (the book's code reads and sets
# them): each kernel checks their sizes before it writes, as compiled code checks no index.


@jit
def _same_size(a, b):
    """ValueError unless a and b hold as many elements (dropout's mask against the gradient)."""
    if a.size != b.size:
        raise ValueError("the dropout mask is not the gradient's size (was mask rebound?)")


@jit
def _one_per_feature(d, v):
    """ValueError unless the vector v has d entries (batch normalization's per-feature arrays)."""
    if v.shape[0] != d:
        raise ValueError(
            "gamma, beta, the running statistics or std do not have one entry per feature (rebound?)"
        )


@jit
def dropout_forward(x, u, ratio, out, mask):
    """mask = u > ratio; out = x * mask (x * 0 keeps NaN as NaN, as NumPy's product does)."""
    xf, uf, of, mf = x.ravel(), u.ravel(), out.ravel(), mask.ravel()
    one, zero = xf.dtype.type(1), xf.dtype.type(0)
    for i in range(xf.size):
        keep = uf[i] > ratio
        mf[i] = keep
        of[i] = xf[i] * (one if keep else zero)


@jit
def scale(x, factor, out):
    """out = x * factor, factor in x's dtype (dropout at test time)."""
    xf, of = x.ravel(), out.ravel()
    f = xf.dtype.type(factor)
    for i in range(xf.size):
        of[i] = xf[i] * f


@jit
def dropout_backward(dout, mask, dx):
    """dx = dout * mask."""
    _same_size(mask, dout)
    _same_size(dx, dout)
    df, mf, xf = dout.ravel(), mask.ravel(), dx.ravel()
    one, zero = df.dtype.type(1), df.dtype.type(0)
    for i in range(df.size):
        xf[i] = df[i] * (one if mf[i] else zero)


@jit
def batchnorm_forward_train(x, gamma, beta, momentum, running_mean, running_var, xc, xn, std, out):
    """Batch statistics, the normalized x, the output and the running statistics, in three passes.

    x, xc, xn, out: (N, D); gamma, beta, std, running_*: (D,).
    mu = mean_i x; xc = x - mu; var = mean_i xc^2; std = sqrt(var + 1e-6); xn = xc / std;
    out = gamma xn + beta; running = momentum running + (1 - momentum) batch statistic.
    """
    n, d = x.shape
    _one_per_feature(d, gamma)  # (one call each: a loop over a tuple needs them all of one type,
    _one_per_feature(d, beta)  # and a read-only or strided gamma is another type)
    _one_per_feature(d, running_mean)
    _one_per_feature(d, running_var)
    _one_per_feature(d, std)
    dt = x.dtype.type
    mu = np.zeros(d, x.dtype)
    var = np.zeros(d, x.dtype)
    for i in range(n):
        for j in range(d):
            mu[j] += x[i, j]
    for j in range(d):
        mu[j] /= n
    for i in range(n):
        for j in range(d):
            c = x[i, j] - mu[j]
            xc[i, j] = c
            var[j] += c * c
    eps = dt(BN_EPS)
    m, m1 = dt(momentum), dt(1 - momentum)
    for j in range(d):
        var[j] /= n
        std[j] = np.sqrt(var[j] + eps)
        running_mean[j] = m * running_mean[j] + m1 * mu[j]
        running_var[j] = m * running_var[j] + m1 * var[j]
    for i in range(n):
        for j in range(d):
            v = xc[i, j] / std[j]
            xn[i, j] = v
            out[i, j] = gamma[j] * v + beta[j]


@jit
def batchnorm_forward_test(x, gamma, beta, running_mean, running_var, out):
    """out = gamma (x - running_mean) / sqrt(running_var + 1e-6) + beta."""
    n, d = x.shape
    _one_per_feature(d, gamma)
    _one_per_feature(d, beta)
    _one_per_feature(d, running_mean)
    _one_per_feature(d, running_var)
    eps = x.dtype.type(BN_EPS)
    s = np.empty(d, x.dtype)
    for j in range(d):
        s[j] = np.sqrt(running_var[j] + eps)
    for i in range(n):
        for j in range(d):
            out[i, j] = gamma[j] * ((x[i, j] - running_mean[j]) / s[j]) + beta[j]


@jit
def batchnorm_backward(dout, gamma, xc, xn, std, dx, dgamma, dbeta):
    """The book's chain through xc and std, in three passes.

    dbeta = sum dout; dgamma = sum xn dout; dxn = gamma dout; dxc = dxn / std;
    dstd = -sum dxn xc / std^2; dvar = dstd / (2 std); dxc += (2 / N) xc dvar;
    dmu = sum dxc; dx = dxc - dmu / N.
    """
    n, d = dout.shape
    _one_per_feature(d, gamma)
    _one_per_feature(d, std)
    _one_per_feature(d, dgamma)
    _one_per_feature(d, dbeta)
    if xc.shape != dout.shape or xn.shape != dout.shape or dx.shape != dout.shape:
        raise ValueError("xc or xn is not the gradient's shape (rebound since the forward pass?)")
    dt = dout.dtype.type
    dstd = np.zeros(d, dout.dtype)
    for j in range(d):
        dbeta[j] = 0
        dgamma[j] = 0
    for i in range(n):
        for j in range(d):
            g = dout[i, j]
            dbeta[j] += g
            dgamma[j] += xn[i, j] * g
            dstd[j] += (gamma[j] * g) * xc[i, j] / (std[j] * std[j])
    dmu = np.zeros(d, dout.dtype)
    two_n = dt(2.0 / n)
    half = dt(0.5)
    for j in range(d):
        dstd[j] = -dstd[j]
    for i in range(n):
        for j in range(d):
            dvar = half * dstd[j] / std[j]
            v = (gamma[j] * dout[i, j]) / std[j] + two_n * xc[i, j] * dvar
            dx[i, j] = v
            dmu[j] += v
    for i in range(n):
        for j in range(d):
            dx[i, j] -= dmu[j] / n
