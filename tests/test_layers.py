"""fastbp.layers as a package and what every layer shares (layers/__init__.py, layers/base.py): the
book's star-import surface, output buffers reused across calls."""

import numpy as np

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
