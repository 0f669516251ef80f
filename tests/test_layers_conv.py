"""fastbp.layers.conv: Convolution and Pooling against the NumPy twins, central differences, the
book's API and bad input; and the book's im2col/col2im (fastbp.util, re-exported by fastbp.layers)."""

import numpy as np
import pytest
from conftest import DTYPES, numgrad, rel_err
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import layers as L
from fastbp.reference import kernels as RK
from fastbp.reference import layers as R
from fastbp.util import col2im, conv_output_size, im2col

GEOMETRIES = [  # x shape, filter (FN, FH, FW), stride, pad
    ((1, 1, 5, 5), (1, 3, 3), 1, 0),
    ((2, 3, 7, 6), (4, 3, 2), 1, 1),
    ((3, 2, 9, 8), (5, 3, 3), 2, 1),
    ((1, 2, 6, 7), (2, 1, 1), 3, 0),
    ((2, 1, 5, 5), (3, 5, 5), 1, 2),
]


TOL = {np.float32: 1e-4, np.float64: 1e-12}


def close(a, b, dtype):
    assert a.dtype == dtype
    assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype])


POOLS = [
    ((2, 3, 6, 6), 2, 2, 2, 0),
    ((1, 2, 7, 5), 3, 2, 2, 1),
    ((2, 1, 5, 5), 3, 3, 1, 1),
    ((1, 1, 4, 4), 2, 2, 1, 0),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, fs, stride, pad", GEOMETRIES)
def test_im2col_col2im_match_the_twin(rng, xs, fs, stride, pad, dtype):
    x = rng.standard_normal(xs).astype(dtype)
    col = im2col(x, fs[1], fs[2], stride, pad)
    close(col, RK.im2col(x, fs[1], fs[2], stride, pad), dtype)
    c2 = rng.standard_normal(col.shape).astype(dtype)
    close(col2im(c2, xs, fs[1], fs[2], stride, pad), RK.col2im(c2, xs, fs[1], fs[2], stride, pad), dtype)


def test_col2im_is_the_adjoint_of_im2col(rng):
    x = rng.standard_normal((2, 3, 7, 6))
    col = im2col(x, 3, 2, 2, 1)
    y = rng.standard_normal(col.shape)
    assert np.sum(col * y) == pytest.approx(np.sum(x * col2im(y, x.shape, 3, 2, 2, 1)), rel=1e-12)


def test_util_book_details():
    assert conv_output_size(28, 5) == 24.0 and isinstance(conv_output_size(28, 5), float)
    assert conv_output_size(7, 2, 2) == 3.5
    assert im2col(np.ones((1, 1, 3, 3), dtype=np.int64), 2, 2).dtype == np.float64
    with pytest.raises(ValueError, match="im2col: the filter .* is larger than the padded input"):
        im2col(np.ones((1, 1, 3, 3)), 4, 4)
    with pytest.raises(ValueError, match="col2im: col must have shape"):
        col2im(np.ones((3, 3)), (1, 1, 3, 3), 2, 2)
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        im2col(np.ones((1, 1, 3, 3)), 2, 2, stride=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, fs, stride, pad", GEOMETRIES)
def test_convolution_matches_the_twin(rng, xs, fs, stride, pad, dtype):
    W = rng.standard_normal((fs[0], xs[1], fs[1], fs[2])).astype(dtype)
    b = rng.standard_normal(fs[0]).astype(dtype)
    x = rng.standard_normal(xs).astype(dtype)
    fast, slow = L.Convolution(W, b, stride, pad), R.Convolution(W, b, stride, pad)
    out = fast.forward(x)
    close(out, slow.forward(x), dtype)
    assert (
        out.flags.c_contiguous and fast.col.shape == slow.col.shape and fast.col_W.shape == slow.col_W.shape
    )
    d = rng.standard_normal(out.shape).astype(dtype)
    close(fast.backward(d), slow.backward(d), dtype)
    close(fast.dW, slow.dW, dtype)
    close(fast.db, slow.db, dtype)


@pytest.mark.parametrize("xs, fs, stride, pad", GEOMETRIES[:4])
def test_convolution_backward_is_the_gradient(rng, xs, fs, stride, pad):
    W = rng.standard_normal((fs[0], xs[1], fs[1], fs[2]))
    b = rng.standard_normal(fs[0])
    x = rng.standard_normal(xs)
    layer = L.Convolution(W, b, stride, pad)
    r = rng.standard_normal(layer.forward(x).shape)

    def f(_):
        return np.sum(layer.forward(x) * r)

    want_dx = numgrad(lambda v: np.sum(layer.forward(v) * r), x)
    want_dW, want_db = numgrad(f, W), numgrad(f, b)
    layer.forward(x)
    assert rel_err(layer.backward(r), want_dx) < 1e-6
    assert rel_err(layer.dW, want_dW) < 1e-6
    assert rel_err(layer.db, want_db) < 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ph, pw, stride, pad", POOLS)
def test_pooling_matches_the_twin(rng, xs, ph, pw, stride, pad, dtype):
    x = rng.standard_normal(xs).astype(dtype)
    fast, slow = L.Pooling(ph, pw, stride, pad), R.Pooling(ph, pw, stride, pad)
    out = fast.forward(x)
    close(out, slow.forward(x), dtype)
    assert_array_equal(fast.arg_max, slow.arg_max)
    d = rng.standard_normal(out.shape).astype(dtype)
    close(fast.backward(d), slow.backward(d), dtype)


@pytest.mark.parametrize("xs, ph, pw, stride, pad", POOLS)
def test_pooling_backward_is_the_gradient(rng, xs, ph, pw, stride, pad):
    x = rng.permutation(np.arange(np.prod(xs), dtype=np.float64)).reshape(xs) * 0.1  # no ties
    layer = L.Pooling(ph, pw, stride, pad)
    r = rng.standard_normal(layer.forward(x).shape)
    want = numgrad(lambda v: np.sum(layer.forward(v) * r), x, h=1e-4)
    layer.forward(x)
    assert rel_err(layer.backward(r), want) < 1e-6


def test_pooling_ties_go_to_the_first_and_padding_never_wins():
    out = L.Pooling(2, 2, 2, 0)
    out.forward(np.ones((1, 1, 2, 2)))
    assert out.arg_max[0, 0, 0, 0] == 0
    p = L.Pooling(2, 2, 1, 1)
    y = p.forward(-np.ones((1, 1, 2, 2)))
    assert_array_equal(y, -np.ones((1, 1, 3, 3)))  # zero padding would have given 0


@pytest.mark.parametrize(
    "x, exc, words",
    [
        (np.ones((2, 4, 5, 5)), ValueError, "x has 4 channels .* W expects 3"),
        (np.ones((2, 3, 5)), ValueError, "x must be 4-D"),
        (np.ones((2, 3, 1, 1)), ValueError, r"the filter \(3x3\) is larger than the padded input \(1x1"),
        (np.ones((2, 3, 5, 5), dtype=np.int32), TypeError, "x must be a float32 or float64 array"),
        (np.full((2, 3, 5, 5), np.nan), ValueError, "x contains NaN or inf"),
        (np.ones((0, 3, 5, 5)), ValueError, "x holds no samples"),
    ],
)
def test_convolution_rejects_bad_input(x, exc, words):
    layer = L.Convolution(np.ones((2, 3, 3, 3)), np.zeros(2))
    with pytest.raises(exc, match="Convolution.forward: " + words):
        layer.forward(x)
    assert layer.x is None


@pytest.mark.parametrize(
    "args, words",
    [
        ((np.ones((2, 3, 3)), np.zeros(2)), "W must be 4-D"),
        ((np.ones((2, 3, 3, 3)), np.zeros(3)), r"b must have W.shape\[0\] = 2 entries"),
        ((np.ones((2, 3, 3, 3)), np.zeros(2), 0), "stride must be an integer >= 1"),
        ((np.ones((2, 3, 3, 3)), np.zeros(2), 1, -1), "pad must be an integer >= 0"),
    ],
)
def test_convolution_rejects_bad_parameters(args, words):
    with pytest.raises(ValueError, match=words):
        L.Convolution(*args)


def test_pooling_rejects_bad_input():
    with pytest.raises(ValueError, match=r"pad \(2\) must be smaller than the window"):
        L.Pooling(2, 2, 2, 2)
    with pytest.raises(ValueError, match="Pooling.forward: the window .* is larger than the padded input"):
        L.Pooling(3, 3).forward(np.ones((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="Pooling.forward: x must be 4-D"):
        L.Pooling(2, 2).forward(np.ones((2, 4)))
    p = L.Pooling(2, 2)
    p.forward(np.ones((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape \(1, 1, 2, 2\)"):
        p.backward(np.ones((1, 1, 4, 4)))


def test_pooling_nan_wins_like_numpy():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 1, 0] = np.nan
    for pad in (0, 1):
        fast = L.Pooling(2, 2, 2, pad)._forward(x)
        slow = R.Pooling(2, 2, 2, pad).forward(x)
        assert_array_equal(np.isnan(fast), np.isnan(slow))
        assert_array_equal(fast[~np.isnan(fast)], slow[~np.isnan(slow)])


def test_read_only_dout_into_convolution_backward():  # 11.12
    rng = np.random.default_rng(3)
    c = L.Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2))
    y = c.forward(rng.standard_normal((2, 1, 5, 5)))
    d = rng.standard_normal(y.shape)
    d.flags.writeable = False
    dx = c.backward(d)
    assert dx.shape == (2, 1, 5, 5) and np.isfinite(c.dW).all()


def test_pooling_backward_after_a_fused_pass_says_why_it_cannot():
    from fastbp.nets import SimpleConvNet

    np.random.seed(0)
    net = SimpleConvNet((1, 12, 12), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1}, 4, 3)
    x, t = np.random.rand(2, 1, 12, 12), np.array([0, 2])
    net.loss(x, t)
    dout = net.last_layer.backward(1)
    for name in ("Affine2", "Relu2", "Affine1"):
        dout = net.layers[name].backward(dout)
    with pytest.raises(RuntimeError, match="fused Convolution\\+Relu\\+Pooling"):
        net.layers["Pool1"].backward(dout)
