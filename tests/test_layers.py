"""fastbp.layers as a package and what every layer shares (layers/__init__.py, layers/base.py): the
book's star-import surface, output buffers reused across calls."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastbp import layers as L


def test_buffers_are_reused_across_calls_of_the_same_shape(rng):
    layer = L.Affine(rng.standard_normal((4, 3)), np.zeros(3))
    x = rng.standard_normal((2, 4))
    out1 = layer.forward(x)
    dx1 = layer.backward(np.ones((2, 3)))
    dW1 = layer.dW
    assert layer.forward(x) is out1
    assert np.shares_memory(layer.backward(np.ones((2, 3))), dx1) and layer.dW is dW1
    assert layer.forward(rng.standard_normal((5, 4))) is not out1  # another batch size: new buffer


def test_star_import_surface():
    ns = {}
    exec("from fastbp.layers import *", ns)
    for name in [
        "np",
        "Affine",
        "Relu",
        "Sigmoid",
        "SoftmaxWithLoss",
        "MulLayer",
        "AddLayer",
        "Tanh",
        "LeakyRelu",
        "softmax",
        "cross_entropy_error",
        "sigmoid",
        "relu",
    ]:
        assert name in ns, name


def test_a_layer_fed_its_own_output_keeps_the_first_output_as_its_input():  # 11.1
    rng = np.random.default_rng(0)
    a = L.Affine(rng.standard_normal((4, 4)), rng.standard_normal(4))
    x, d = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    y1 = a.forward(x).copy()
    a.forward(a.forward(x))
    a.backward(d)
    assert_allclose(a.dW, y1.T @ d, rtol=1e-12)  # the book's: the second call's input was y1
    c = L.Convolution(rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2), 1, 1)
    x = rng.standard_normal((2, 2, 5, 5))
    y1 = c.forward(x).copy()
    y2 = c.forward(c.forward(x))
    d = rng.standard_normal(y2.shape)
    c.backward(d)
    fresh = L.Convolution(c.W, c.b, 1, 1)
    fresh.forward(y1)
    fresh.backward(d)
    assert_allclose(c.dW, fresh.dW, rtol=1e-12)


def test_float64_beyond_float32_range_is_refused_by_a_float32_layer():  # 11.5
    a = L.Affine(np.ones((3, 2), np.float32), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="beyond the range of float32"):
        a.forward(np.array([[1.0, 1e39, 0.0]]))
    c = L.Convolution(np.ones((1, 1, 2, 2), np.float32), np.zeros(1, np.float32))
    with pytest.raises(ValueError, match="beyond the range of float32"):
        c.forward(np.full((1, 1, 3, 3), -1e40))
    bn = L.BatchNormalization(np.ones(3, np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="beyond the range of float32"):
        bn.forward(np.array([[1.0, 2.0, 3e38 * 10], [0.0, 0.0, 0.0]]))


@pytest.mark.parametrize("bias", [0, 0.0, np.float32(0.5), np.array(1.5)])
def test_a_scalar_bias_broadcasts_as_the_books(bias):
    rng = np.random.default_rng(5)
    W = rng.standard_normal((2, 1, 3, 3))
    c = L.Convolution(W, bias)
    x = rng.standard_normal((1, 1, 5, 5))
    want = L.Convolution(W, np.full(2, float(bias))).forward(x)
    assert_allclose(c.forward(x), want, rtol=1e-14)
    a = L.Affine(rng.standard_normal((4, 3)), bias)
    assert a.b.shape == (3,) and a.b.dtype == a.W.dtype and (a.b == float(bias)).all()
    with pytest.raises(TypeError, match="b must be a"):
        L.Affine(rng.standard_normal((4, 3)), "0")
