"""The kernel table's cases for the elementwise and column-wise kernels: ``activations``, ``affine``,
``regularization`` and ``regularizers``.

Shapes hold batch 1, single features and odd sizes; the activations' inputs include the kink (0);
each backward that may run in place (``dx`` is ``dout``) is also checked that way.
"""

from __future__ import annotations

import numpy as np

from ..kernels import activations as _ka
from ..kernels import affine as _kf
from ..kernels import regularization as _kr
from ..kernels import regularizers as _kl
from ..reference import activations as _ra
from ..reference import affine as _rf
from ..reference import regularization as _rr
from ..reference import regularizers as _rl
from .check import Case
from .check import filled as _filled

SHAPES_2D = ((1, 1), (1, 7), (3, 5), (7, 3), (64, 10), (100, 50))
SHAPES_ND = ((1,), (5,), (1, 1), (3, 5), (2, 3, 4), (2, 1, 5, 3))


def _into(kernel, n_in):
    """fast(*inputs): kernel(*inputs, out) into a new NaN-filled array like the first input; returns out."""

    def fast(*args):
        out = _filled(args[0].shape, args[0].dtype)
        kernel(*args[:n_in], out, *args[n_in:])
        return out

    return fast


def _in_place(kernel, returns=(0,)):
    """fast(*args): kernel(*args), which writes into some of its arguments; returns those."""

    def fast(*args):
        kernel(*args)
        return args[returns[0]] if len(returns) == 1 else tuple(args[i] for i in returns)

    return fast


# activations -----------------------------------------------------------------------------------


def _make_x(rng, dtype, shape):
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    x.flat[0] = 0.0  # the kink
    return (x,)


def _make_x_alpha(rng, dtype, shape):
    return (*_make_x(rng, dtype, shape), 0.1)


def _backward_maker(forward, alpha=False):
    """(dout, out[, alpha]): out = the twin's forward of an input with the kink."""

    def make(rng, dtype, shape):
        (x,) = _make_x(rng, dtype, shape)
        dout = rng.standard_normal(shape).astype(dtype)
        out = (forward(x, 0.1) if alpha else forward(x)).astype(dtype)
        return (dout, out, 0.1) if alpha else (dout, out)

    return make


def _fast_relu_forward(x):
    out = _filled(x.shape, x.dtype)
    _ka.relu_forward(x, out)
    return out


def _fast_sigmoid_forward(x):
    e = np.exp(-np.abs(x))  # what the layer computes with NumPy before the kernel
    _ka.sigmoid_forward(x, e)
    return e


def _fast_leaky_relu_forward(x, alpha):
    out = _filled(x.shape, x.dtype)
    _ka.leaky_relu_forward(x, alpha, out)
    return out


def _backward_into(kernel, in_place=False):
    """fast(dout, out, *hyper): kernel(dout, out, *hyper, dx), dx a new array or dout itself."""

    def fast(dout, out, *hyper):
        dx = dout if in_place else _filled(dout.shape, dout.dtype)
        kernel(dout, out, *hyper, dx)
        return dx

    return fast


def _activation_cases():
    bwd_relu = _backward_maker(_ra.relu_forward)
    bwd_leaky = _backward_maker(_ra.leaky_relu_forward, alpha=True)
    bwd_sig = _backward_maker(_ra.sigmoid_forward)
    bwd_tanh = _backward_maker(_ra.tanh_forward)
    a = "activations"
    cases = [
        Case("relu_forward", a, _fast_relu_forward, _ra.relu_forward, _make_x, SHAPES_ND),
        Case("relu_backward", a, _in_place(_ka.relu_backward), _ra.relu_backward, bwd_relu, SHAPES_ND),
        Case(
            "leaky_relu_forward",
            a,
            _fast_leaky_relu_forward,
            _ra.leaky_relu_forward,
            _make_x_alpha,
            SHAPES_ND,
        ),
        Case("sigmoid_forward", a, _fast_sigmoid_forward, _ra.sigmoid_forward, _make_x, SHAPES_ND),
        Case("tanh_forward", a, _into(_ka.tanh_forward, 1), _ra.tanh_forward, _make_x, SHAPES_ND),
        Case(
            "tanh_forward_float32",
            a,
            _into(_ka.tanh_forward_float32, 1),
            _ra.tanh_forward_float32,
            _make_x,
            SHAPES_ND,
            dtypes=(np.float32,),  # the float32 layer's kernel
        ),
    ]
    for name, make in (
        ("leaky_relu_backward", bwd_leaky),
        ("sigmoid_backward", bwd_sig),
        ("tanh_backward", bwd_tanh),
    ):
        kernel, twin = getattr(_ka, name), getattr(_ra, name)
        cases.append(Case(name, a, _backward_into(kernel), twin, make, SHAPES_ND))
        cases.append(Case(f"{name} in place", a, _backward_into(kernel, True), twin, make, SHAPES_ND))
    return cases


# affine ------------------------------------------------------------------------------------------


def _make_bias(rng, dtype, shape):
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)


def _make_dy(rng, dtype, shape):
    return (rng.standard_normal(shape).astype(dtype),)


def _fast_bias_backward(dy):
    db = _filled(dy.shape[1], dy.dtype)  # the kernel must overwrite, not accumulate
    _kf.bias_backward(dy, db)
    return db


def _make_relu_bias_backward(rng, dtype, shape):
    y, b = _make_bias(rng, dtype, shape)
    return rng.standard_normal(shape).astype(dtype), _rf.bias_relu_forward(y, b)  # out: zeros included


def _fast_relu_bias_backward(dy, out):
    db = _filled(dy.shape[1], dy.dtype)
    _kf.relu_bias_backward(dy, out, db)  # masks dy in place
    return dy, db


def _fast_transpose_into(src):
    dst = _filled(src.shape[::-1], src.dtype)
    _kf.transpose_into(src, dst)
    return dst


def _affine_cases():
    a = "affine"
    return [
        Case("bias_forward", a, _in_place(_kf.bias_forward), _rf.bias_forward, _make_bias, SHAPES_2D),
        Case("bias_backward", a, _fast_bias_backward, _rf.bias_backward, _make_dy, SHAPES_2D),
        Case(
            "bias_relu_forward",
            a,
            _in_place(_kf.bias_relu_forward),
            _rf.bias_relu_forward,
            _make_bias,
            SHAPES_2D,
        ),
        Case(
            "relu_bias_backward",
            a,
            _fast_relu_bias_backward,
            _rf.relu_bias_backward,
            _make_relu_bias_backward,
            SHAPES_2D,
        ),
        # (tiles of 16: shapes across a tile's edge)
        Case("transpose_into", a, _fast_transpose_into, _rf.transpose_into, _make_dy, (*SHAPES_2D, (17, 33))),
    ]


# regularization and regularizers ---------------------------------------------------------------

BN_SIZES = ((1, 3), (5, 4), (3, 18), (64, 100))


def _make_dropout(rng, dtype, size):
    shape, ratio = size
    return rng.standard_normal(shape).astype(dtype), rng.random(shape), ratio


def _fast_dropout_forward(x, u, ratio):
    out, mask = _filled(x.shape, x.dtype), np.zeros(x.shape, np.bool_)
    _kr.dropout_forward(x, u, ratio, out, mask)
    return out, mask


def _make_dropout_backward(rng, dtype, size):
    shape, ratio = size
    return rng.standard_normal(shape).astype(dtype), rng.random(shape) > ratio


def _make_scale(rng, dtype, size):
    shape, ratio = size
    return rng.standard_normal(shape).astype(dtype), 1.0 - ratio


def _make_bn(rng, dtype, size):
    n, d = size
    x = (2 * rng.standard_normal((n, d)) + 1).astype(dtype)
    gamma, beta = rng.standard_normal(d).astype(dtype), rng.standard_normal(d).astype(dtype)
    rm, rv = rng.standard_normal(d).astype(dtype), rng.random(d).astype(dtype)
    return x, gamma, beta, 0.9, rm, rv


def _fast_bn_train(x, gamma, beta, momentum, rm, rv):
    xc, xn, out = (_filled(x.shape, x.dtype) for _ in range(3))
    std = _filled(x.shape[1], x.dtype)
    _kr.batchnorm_forward_train(x, gamma, beta, momentum, rm, rv, xc, xn, std, out)  # rm, rv in place
    return out, xc, xn, std, rm, rv


def _make_bn_test(rng, dtype, size):
    x, gamma, beta, _, rm, rv = _make_bn(rng, dtype, size)
    return x, gamma, beta, rm, rv


def _make_bn_backward(rng, dtype, size):
    x, gamma, beta, momentum, rm, rv = _make_bn(rng, dtype, size)
    _, xc, xn, std, _, _ = _rr.batchnorm_forward_train(x, gamma, beta, momentum, rm, rv)
    return rng.standard_normal(x.shape).astype(dtype), gamma, xc, xn, std


def _fast_bn_backward(dout, gamma, xc, xn, std):
    dx = _filled(dout.shape, dout.dtype)
    dgamma, dbeta = _filled(gamma.shape, dout.dtype), _filled(gamma.shape, dout.dtype)
    _kr.batchnorm_backward(dout, gamma, xc, xn, std, dx, dgamma, dbeta)
    return dx, dgamma, dbeta


def _make_l2(rng, dtype, shape):
    return (rng.standard_normal(shape).astype(dtype),)


def _make_l2_backward(rng, dtype, shape):
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype), 0.1


def _regularization_cases():
    r = "regularization"
    drop = (((1, 5), 0.3), ((7, 3), 0.5), ((2, 3, 4, 4), 0.3))
    bn_tol = {np.float32: 1e-4, np.float64: 1e-10}  # sums over the batch, in another order
    return [
        Case("dropout_forward", r, _fast_dropout_forward, _rr.dropout_forward, _make_dropout, drop),
        Case("scale", r, _into(_kr.scale, 2), _rr.scale, _make_scale, drop),
        Case(
            "dropout_backward",
            r,
            _into(_kr.dropout_backward, 2),
            _rr.dropout_backward,
            _make_dropout_backward,
            drop,
        ),
        Case(
            "batchnorm_forward_train",
            r,
            _fast_bn_train,
            _rr.batchnorm_forward_train,
            _make_bn,
            BN_SIZES,
            bn_tol,
        ),
        Case(
            "batchnorm_forward_test",
            r,
            _into(_kr.batchnorm_forward_test, 5),
            _rr.batchnorm_forward_test,
            _make_bn_test,
            BN_SIZES,
            bn_tol,
        ),
        Case(
            "batchnorm_backward",
            r,
            _fast_bn_backward,
            _rr.batchnorm_backward,
            _make_bn_backward,
            BN_SIZES,
            bn_tol,
        ),
        Case("l2_penalty", "regularizers", _kl.l2_penalty, _rl.l2_penalty, _make_l2, SHAPES_ND),
        Case(
            "l2_backward",
            "regularizers",
            _into(_kl.l2_backward, 3),
            _rl.l2_backward,
            _make_l2_backward,
            SHAPES_ND,
        ),
    ]


CASES = tuple(_activation_cases() + _affine_cases() + _regularization_cases())
