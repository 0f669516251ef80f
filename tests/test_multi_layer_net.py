"""MultiLayerNet: the book's structure, initialisation, weight decay, gradients, backends."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from test_nets import blobs

from fastbp.nets import MultiLayerNet
from fastbp.optimizer import Adam
from fastbp.reference.optimizer import Adam as RefAdam


@pytest.mark.parametrize(
    "init, scales",
    [
        ("relu", lambda n: np.sqrt(2.0 / n)),
        ("He", lambda n: np.sqrt(2.0 / n)),
        ("sigmoid", lambda n: np.sqrt(1.0 / n)),
        ("XAVIER", lambda n: np.sqrt(1.0 / n)),
        (0.01, lambda n: 0.01),
    ],
)
def test_initialisation_draws_the_books_weights(init, scales):
    sizes = [20, 8, 6, 3]
    np.random.seed(5)
    want = [scales(sizes[i]) * np.random.randn(sizes[i], sizes[i + 1]) for i in range(3)]
    np.random.seed(5)
    net = MultiLayerNet(20, [8, 6], 3, weight_init_std=init)
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for i in range(3):
        assert_array_equal(net.params[f"W{i + 1}"], want[i])
        assert_array_equal(net.params[f"b{i + 1}"], np.zeros(sizes[i + 1]))
    assert list(net.layers) == [
        "Affine1",
        "Activation_function1",
        "Affine2",
        "Activation_function2",
        "Affine3",
    ]
    assert net.layers["Affine2"].W is net.params["W2"]
    assert type(net.last_layer).__name__ == "SoftmaxWithLoss"


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "leaky_relu"])
@pytest.mark.parametrize("lam", [0, 0.1])
def test_gradient_check(activation, lam):
    np.random.seed(0)
    net = MultiLayerNet(12, [7, 5, 6], 4, activation=activation, weight_init_std=0.5, weight_decay_lambda=lam)
    x = np.random.rand(3, 12)
    t = np.array([0, 3, 1])
    num, bp = net.numerical_gradient(x, t), net.gradient(x, t)
    for k in num:
        assert np.mean(np.abs(bp[k] - num[k])) < 1e-8, k


def test_weight_decay_is_added_to_loss_and_gradient():
    np.random.seed(0)
    plain = MultiLayerNet(6, [5], 3)
    np.random.seed(0)
    decayed = MultiLayerNet(6, [5], 3, weight_decay_lambda=0.3)
    x, t = np.random.rand(4, 6), np.array([0, 1, 2, 0])
    penalty = 0.5 * 0.3 * sum(np.sum(decayed.params[k] ** 2) for k in ("W1", "W2"))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + penalty, rel=1e-14)
    g0 = {k: v.copy() for k, v in plain.gradient(x, t).items()}
    g1 = decayed.gradient(x, t)
    assert_allclose(g1["W1"], g0["W1"] + 0.3 * decayed.params["W1"], rtol=1e-14)
    assert_allclose(g1["b1"], g0["b1"], rtol=1e-14)


@pytest.mark.parametrize("lam", [0, 0.01])
def test_fastbp_and_numpy_backends_agree_over_100_adam_steps(lam):
    x, t = blobs(600)
    nets = []
    for backend, opt in (("fastbp", Adam()), ("numpy", RefAdam())):
        np.random.seed(0)
        net = MultiLayerNet(784, [100] * 5, 10, weight_decay_lambda=lam, backend=backend)
        np.random.seed(1)
        losses = []
        for _ in range(100):
            idx = np.random.choice(600, 100)
            opt.update(net.params, net.gradient(x[idx], t[idx]))
            losses.append(float(net.loss(x[idx], t[idx])))
        nets.append((net, np.array(losses)))
    (fast, lf), (slow, ls) = nets
    assert_allclose(lf, ls, rtol=1e-10)
    for k in fast.params:
        assert_allclose(fast.params[k], slow.params[k], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize(
    "args, kwargs, words",
    [
        ((10, [5, 0], 3), {}, "hidden_size_list entries must be a positive integer"),
        ((10, 5, 3), {}, "hidden_size_list must be a list of positive integers"),
        ((10, [5], 3), {"activation": "softplus"}, "activation must be one of"),
        ((10, [5], 3), {"weight_init_std": "lecun"}, "weight_init_std must be a number, 'relu'/'he'"),
        ((10, [5], 3), {"weight_decay_lambda": -1}, "weight_decay_lambda must be a finite number >= 0"),
    ],
)
def test_constructor_rejects_bad_arguments(args, kwargs, words):
    with pytest.raises(ValueError, match=words):
        MultiLayerNet(*args, **kwargs)


def test_empty_hidden_list_is_softmax_regression():
    np.random.seed(0)
    net = MultiLayerNet(5, [], 3)
    assert list(net.layers) == ["Affine1"]
    x, t = np.random.rand(4, 5), np.array([0, 1, 2, 1])
    num, bp = net.numerical_gradient(x, t), net.gradient(x, t)
    for k in num:
        assert np.abs(bp[k] - num[k]).max() < 1e-8
