"""The book's usage patterns with only the import lines changed (code written for these tests)."""

import textwrap

import numpy as np
import pytest


def run(src):
    ns = {}
    exec(textwrap.dedent(src), ns)
    return ns


def test_chapter4_simple_net_with_numerical_gradient():
    ns = run(
        """
        import numpy as np
        from fastbp.functions import softmax, cross_entropy_error
        from fastbp.gradient import numerical_gradient

        class Simple:
            def __init__(self):
                self.W = np.random.randn(2, 3)
            def predict(self, x):
                return np.dot(x, self.W)
            def loss(self, x, t):
                return cross_entropy_error(softmax(self.predict(x)), t)

        np.random.seed(0)
        net = Simple()
        x = np.array([0.6, 0.9])
        t = np.array([0, 0, 1])
        dW = numerical_gradient(lambda w: net.loss(x, t), net.W)
        """
    )
    net, x = ns["net"], ns["x"]
    y = ns["softmax"](x @ net.W)
    np.testing.assert_allclose(ns["dW"], np.outer(x, y - ns["t"]), rtol=1e-6)


def test_chapter5_network_built_from_the_layers():
    # a reader's own two-layer network, written against the layer API with the star import
    ns = run(
        """
        from collections import OrderedDict
        from fastbp.layers import *
        from fastbp.gradient import numerical_gradient

        class Net:
            def __init__(self):
                self.params = {"W1": 0.1 * np.random.randn(6, 5), "b1": np.zeros(5),
                               "W2": 0.1 * np.random.randn(5, 3), "b2": np.zeros(3)}
                self.layers = OrderedDict()
                self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])
                self.layers["Relu1"] = Relu()
                self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])
                self.lastLayer = SoftmaxWithLoss()
            def loss(self, x, t):
                for layer in self.layers.values():
                    x = layer.forward(x)
                return self.lastLayer.forward(x, t)
            def gradient(self, x, t):
                self.loss(x, t)
                dout = self.lastLayer.backward(1)
                for layer in reversed(list(self.layers.values())):
                    dout = layer.backward(dout)
                return {"W1": self.layers["Affine1"].dW, "b1": self.layers["Affine1"].db,
                        "W2": self.layers["Affine2"].dW, "b2": self.layers["Affine2"].db}

        np.random.seed(0)
        net = Net()
        x = np.random.rand(4, 6)
        t = np.eye(3)[[0, 2, 1, 1]]
        grad = net.gradient(x, t)
        num = {k: numerical_gradient(lambda _: net.loss(x, t), net.params[k]) for k in net.params}
        diffs = {k: np.mean(np.abs(grad[k] - num[k])) for k in grad}
        """
    )
    for key, d in ns["diffs"].items():
        assert d < 1e-9, key


def test_chapter5_gradient_check_and_training_with_the_packaged_net():
    ns = run(
        """
        import numpy as np
        from fastbp.nets import TwoLayerNet

        np.random.seed(0)
        x_train = np.random.rand(200, 784).astype(np.float32)
        t_train = np.eye(10)[np.random.randint(0, 10, 200)]   # one-hot, as chapter 5 loads it
        network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
        grad_numerical = network.numerical_gradient(x_train[:3], t_train[:3])
        grad_backprop = network.gradient(x_train[:3], t_train[:3])
        diff = {k: np.average(np.abs(grad_backprop[k] - grad_numerical[k])) for k in grad_numerical}

        train_loss = []
        for i in range(20):
            mask = np.random.choice(200, 100)
            grad = network.gradient(x_train[mask], t_train[mask])
            for key in ("W1", "b1", "W2", "b2"):
                network.params[key] -= 0.1 * grad[key]
            train_loss.append(network.loss(x_train[mask], t_train[mask]))
        acc = network.accuracy(x_train, t_train)
        """
    )
    for key, d in ns["diff"].items():
        assert d < 1e-8, key
    assert ns["train_loss"][-1] < ns["train_loss"][0]
    assert 0.0 <= ns["acc"] <= 1.0


@pytest.mark.parametrize("module", ["fastbp.layers", "fastbp.functions", "fastbp.gradient", "fastbp.nets"])
def test_drop_in_modules_import(module):
    __import__(module)
