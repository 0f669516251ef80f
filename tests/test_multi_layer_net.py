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


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n", [1, 2, 4])
def test_small_batch_path_equals_the_layered_path(monkeypatch, n, dtype):
    x, t = blobs(n, seed=n)
    x[:, ::3] = 0  # zero inputs are skipped by the loops
    results = []
    for small in (MultiLayerNet.SMALL_BATCH, 0):
        monkeypatch.setattr(MultiLayerNet, "SMALL_BATCH", small)
        np.random.seed(0)
        net = MultiLayerNet(784, [30, 20], 10, dtype=dtype)
        assert (net._small(n) is not None) == (small > 0)
        grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
        state = (
            net.layers["Activation_function1"].mask.copy(),
            net.layers["Affine2"].x.copy(),
            net.layers["Affine1"].dW is grads["W1"] or net.layers["Affine1"].dW.copy(),
        )
        results.append((float(net.loss(x, t)), net.predict(x), grads, state))
    (l1, p1, g1, s1), (l2, p2, g2, s2) = results
    tol = 1e-12 if dtype == "float64" else 2e-5
    assert l1 == pytest.approx(l2, rel=tol)
    assert_allclose(p1, p2, rtol=tol, atol=tol)
    for k in g1:
        assert_allclose(g1[k], g2[k], rtol=tol, atol=tol)
    assert_array_equal(s1[0], s2[0])
    assert_allclose(s1[1], s2[1], rtol=tol, atol=tol)


def test_small_batch_path_sees_rebound_and_in_place_weights():
    np.random.seed(0)
    net = MultiLayerNet(8, [5], 3)
    x, t = np.random.rand(2, 8), np.array([0, 2])
    l0 = net.loss(x, t)
    net.params["W2"][:, 0] += 1.0  # in place: seen
    assert net.loss(x, t) != l0
    net.layers["Affine2"].b = np.full(3, 5.0)  # rebound: the cache notices
    np.testing.assert_allclose(net.predict(x), net.predict(x))
    want = np.maximum(x @ net.params["W1"] + net.params["b1"], 0) @ net.params["W2"] + 5.0
    assert_allclose(net.predict(x), want, rtol=1e-12)


@pytest.mark.parametrize("onehot", [False, True])
@pytest.mark.parametrize("n", [1, 3])
def test_small_batch_step_leaves_the_loss_layer_and_grads_as_the_layered_path(monkeypatch, n, onehot):
    x, t = blobs(n, seed=n)
    if onehot:
        t = np.eye(10)[t]
    seen = []
    for small in (MultiLayerNet.SMALL_BATCH, 0):
        monkeypatch.setattr(MultiLayerNet, "SMALL_BATCH", small)
        np.random.seed(0)
        net = MultiLayerNet(784, [30, 20], 10)
        grads = net.gradient(x, t)
        assert list(grads) == ["W1", "b1", "W2", "b2", "W3", "b3"]
        for i, a in enumerate(net._affines(), start=1):
            assert grads[f"W{i}"] is a.dW and grads[f"b{i}"] is a.db
        last = net.last_layer
        seen.append(
            (float(last.loss), last.y.copy(), np.array(last.t), {k: v.copy() for k, v in grads.items()})
        )
    (l1, y1, t1, g1), (l2, y2, t2, g2) = seen
    assert l1 == pytest.approx(l2, rel=1e-12)
    assert_allclose(y1, y2, rtol=1e-12, atol=1e-15)
    assert_array_equal(t1, t2)
    for k in g1:
        assert_allclose(g1[k], g2[k], rtol=1e-12, atol=1e-15)


def test_small_batch_path_honours_a_loss_layer_subclass(monkeypatch):
    """The one-call batch-1 step computes softmax cross-entropy itself: a subclass of the loss layer
    with its own backward must still be called."""
    from fastbp.layers import SoftmaxWithLoss

    class Doubled(SoftmaxWithLoss):
        def _backward(self, dout=1.0, need_dx=True, out=None):
            dx = super()._backward(dout, need_dx, out)
            dx *= 2
            return dx

    x, t = blobs(2, seed=3)
    np.random.seed(0)
    plain = MultiLayerNet(784, [30], 10)
    np.random.seed(0)
    custom = MultiLayerNet(784, [30], 10)
    custom.last_layer = Doubled()
    assert custom._small(2) is not None
    g1, g2 = plain.gradient(x, t), custom.gradient(x, t)
    assert_allclose(g2["b2"], 2 * g1["b2"], rtol=1e-12)
