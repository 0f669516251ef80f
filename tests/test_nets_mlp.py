"""fastbp.nets.mlp: TwoLayerNet, MultiLayerNet and MultiLayerNetExtend -- the book's initialisation and
structure, gradient checks, weight decay, the book's key order, agreement with the NumPy backend over
training runs, learning on generated data, bad input, and (opt-in) real MNIST."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import blobs
from numpy.testing import assert_allclose, assert_array_equal

from fastbp.nets import MultiLayerNet, MultiLayerNetExtend, TwoLayerNet
from fastbp.optimizer import Adam
from fastbp.reference.optimizer import Adam as RefAdam


def sgd_run(net, x, t, steps, batch=100, lr=0.1, seed=0):
    np.random.seed(seed)
    losses = []
    for _ in range(steps):
        idx = np.random.choice(x.shape[0], batch)
        grads = net.gradient(x[idx], t[idx])
        for key in ("W1", "b1", "W2", "b2"):
            net.params[key] -= lr * grads[key]
        losses.append(float(net.loss(x[idx], t[idx])))
    return np.array(losses)


ENTRIES = ["predict", "loss", "accuracy", "gradient", "numerical_gradient"]


def call(net, entry, x, t):
    f = getattr(net, entry)
    return f(x) if entry == "predict" else f(x, t)


def _mnist_dir() -> Path:
    """FASTBP_MNIST_DIR, else the data folder fastbp.data reads (FASTBP_DATA, else the user cache)."""
    from fastbp.data import get_data_dir

    return Path(os.environ["FASTBP_MNIST_DIR"]) if os.environ.get("FASTBP_MNIST_DIR") else get_data_dir()


MNIST_DIR = _mnist_dir()


def test_initial_weights_are_the_books_draws():
    np.random.seed(7)
    W1 = 0.01 * np.random.randn(784, 50)
    W2 = 0.01 * np.random.randn(50, 10)
    np.random.seed(7)
    net = TwoLayerNet(784, 50, 10)
    assert_array_equal(net.params["W1"], W1)
    assert_array_equal(net.params["W2"], W2)
    assert_array_equal(net.params["b1"], np.zeros(50))
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert list(net.layers) == ["Affine1", "Relu1", "Affine2"]
    assert net.layers["Affine1"].W is net.params["W1"] and net.layers["Affine2"].b is net.params["b2"]
    assert type(net.lastLayer).__name__ == "SoftmaxWithLoss"


@pytest.mark.parametrize("backend", ["fastbp", "numpy"])
def test_two_layer_net_gradient_check_on_three_samples(backend):
    # the book's chapter 5 gradient check: mean |backprop - numerical| per parameter
    np.random.seed(1)
    net = TwoLayerNet(784, 50, 10, backend=backend)
    x, t = blobs(3, seed=1)
    num = net.numerical_gradient(x, t)
    bp = net.gradient(x, t)
    for key in ("W1", "b1", "W2", "b2"):
        diff = np.mean(np.abs(bp[key] - num[key]))
        assert diff < 1e-8, (key, diff)


def test_two_layer_net_gradient_check_with_one_hot_labels():
    np.random.seed(2)
    net = TwoLayerNet(20, 7, 4, weight_init_std=0.5)
    x = np.random.rand(5, 20)
    t = np.eye(4)[[0, 3, 1, 1, 2]]
    num, bp = net.numerical_gradient(x, t), net.gradient(x, t)
    for key in num:
        assert np.abs(bp[key] - num[key]).max() < 1e-7, key


def test_fastbp_and_numpy_backends_agree_over_100_sgd_steps():
    x, t = blobs(1000)
    np.random.seed(0)
    fast = TwoLayerNet(784, 50, 10)
    np.random.seed(0)
    ref = TwoLayerNet(784, 50, 10, backend="numpy")
    for key in fast.params:
        assert_array_equal(fast.params[key], ref.params[key])
    lf, lr = sgd_run(fast, x, t, 100), sgd_run(ref, x, t, 100)
    assert_allclose(lf, lr, rtol=1e-10)
    for key in fast.params:
        assert_allclose(fast.params[key], ref.params[key], rtol=1e-9, atol=1e-12)


def test_float32_net_stays_float32_and_tracks_float64():
    x, t = blobs(500)
    np.random.seed(0)
    n64 = TwoLayerNet(784, 50, 10)
    np.random.seed(0)
    n32 = TwoLayerNet(784, 50, 10, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in n32.params.values())
    l64, l32 = sgd_run(n64, x, t, 50), sgd_run(n32, x, t, 50)
    assert all(g.dtype == np.float32 for g in n32.gradient(x[:10], t[:10]).values())
    assert n32.predict(x[:3]).dtype == np.float32
    assert_allclose(l32, l64, rtol=1e-4)


def test_book_style_training_loop_learns():
    # chapter 5's loop: SGD lr 0.1, batch 100, one-hot or index labels
    x, t = blobs(3000, seed=3)
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    acc0 = net.accuracy(x, t)
    sgd_run(net, x, t, 300)
    assert acc0 < 0.3
    assert net.accuracy(x, t) >= 0.90
    onehot = np.eye(10)[t]
    assert net.accuracy(x, onehot) == net.accuracy(x, t)


def test_predict_returns_a_new_array_and_accepts_images():
    np.random.seed(0)
    net = TwoLayerNet(784, 5, 3)
    x = np.random.rand(4, 1, 28, 28).astype(np.float32)
    y1 = net.predict(x)
    y2 = net.predict(x[:, :, ::-1])
    assert y1.shape == (4, 3) and not np.shares_memory(y1, y2)
    p = net.params
    h = np.maximum(x.reshape(4, -1).astype(np.float64) @ p["W1"] + p["b1"], 0)
    assert_allclose(y1, h @ p["W2"] + p["b2"], rtol=1e-12, atol=1e-15)


def test_numerical_gradient_sees_in_place_parameter_changes():
    np.random.seed(0)
    net = TwoLayerNet(4, 3, 2, weight_init_std=1.0)
    x, t = np.random.rand(2, 4), np.array([0, 1])
    l0 = net.loss(x, t)
    net.params["W2"][:, 0] += 0.5  # class 0 gains: the loss of sample 0 falls, of sample 1 rises
    assert net.loss(x, t) != l0
    net.params["W2"][:, 0] -= 0.5
    assert net.loss(x, t) == pytest.approx(l0, rel=1e-14)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(
    "x, t, exc, words",
    [
        (np.ones((2, 5)), np.array([0, 1]), ValueError, "x has 5 features per sample .* expects 4"),
        (np.ones(4), np.array([0]), ValueError, "x must have at least 2 dimensions"),
        (
            np.ones((2, 4), dtype=np.int64),
            np.array([0, 1]),
            TypeError,
            "x must be a float32 or float64 array, got dtype int64",
        ),
        (np.ones((2, 4), dtype=object), np.array([0, 1]), TypeError, "x must be .* got dtype object"),
        (
            np.array([[0, 0, np.nan, 0], [0, 0, 0, 0.0]]),
            np.array([0, 1]),
            ValueError,
            r"x contains NaN or inf \(first at index \(0, 2\)\)",
        ),
        (np.full((2, 4), -np.inf), np.array([0, 1]), ValueError, "x contains NaN or inf"),
        (np.ones((2, 4)), np.array([0, 3]), ValueError, r"t\[1\] = 3 is not a class index in \[0, 3\)"),
        (np.ones((2, 4)), np.array([0, 1, 2]), ValueError, r"t must have one label per sample \(2\)"),
        (np.ones((2, 4)), np.array([0.0, 1.0]), TypeError, "class indices t must be integers"),
        (np.ones((2, 4)), np.array([[0.0, np.nan, 1.0]] * 2), ValueError, "t contains NaN"),
    ],
)
def test_public_entries_reject_bad_input(entry, x, t, exc, words):
    if entry == "predict" and re.search(r"\bt\b", words):
        pytest.skip("predict takes no labels")
    np.random.seed(0)
    net = TwoLayerNet(4, 3, 3)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(exc, match=f"{entry}: .*{words}"):
        call(net, entry, x, t)
    for k in before:  # nothing half-updated
        assert_array_equal(net.params[k], before[k])


@pytest.mark.parametrize(
    "args, kwargs, exc, words",
    [
        ((0, 3, 2), {}, ValueError, "input_size must be a positive integer"),
        ((4, 2.5, 2), {}, ValueError, "hidden_size must be a positive integer"),
        ((4, 3, 2, np.nan), {}, ValueError, "weight_init_std must be a finite number"),
        ((4, 3, 2), {"dtype": np.int32}, TypeError, "dtype must be float32 or float64"),
        ((4, 3, 2), {"dtype": "float16"}, TypeError, "dtype must be float32 or float64"),
        ((4, 3, 2), {"backend": "torch"}, ValueError, r"backend must be one of \['fastbp', 'numpy'\]"),
    ],
)
def test_two_layer_net_constructor_rejects_bad_arguments(args, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        TwoLayerNet(*args, **kwargs)


@pytest.mark.mnist
@pytest.mark.skipif(
    not (MNIST_DIR / "train-images-idx3-ubyte.gz").exists(), reason=f"no MNIST files in {MNIST_DIR}"
)
def test_two_layer_net_learns_real_mnist():
    from fastbp.data import read_idx

    x = read_idx(MNIST_DIR / "train-images-idx3-ubyte.gz").reshape(60000, 784).astype(np.float32) / 255
    t = read_idx(MNIST_DIR / "train-labels-idx1-ubyte.gz")
    xt = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz").reshape(10000, 784).astype(np.float32) / 255
    tt = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    sgd_run(net, x, t, 2000)
    assert net.accuracy(xt, tt) >= 0.93


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
def test_multi_layer_net_initialisation_draws_the_books_weights(init, scales):
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
def test_multi_layer_net_gradient_check(activation, lam):
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
def test_multi_layer_net_constructor_rejects_bad_arguments(args, kwargs, words):
    with pytest.raises(ValueError, match=words):
        MultiLayerNet(*args, **kwargs)


def test_multi_layer_net_with_no_hidden_layer_is_softmax_regression():
    np.random.seed(0)
    net = MultiLayerNet(5, [], 3)
    assert list(net.layers) == ["Affine1"]
    x, t = np.random.rand(4, 5), np.array([0, 1, 2, 1])
    num, bp = net.numerical_gradient(x, t), net.gradient(x, t)
    for k in num:
        assert np.abs(bp[k] - num[k]).max() < 1e-8


def test_extend_structure_and_gradient_check():
    np.random.seed(0)
    net = MultiLayerNetExtend(
        12, [6, 5], 3, use_batchnorm=True, use_dropout=True, dropout_ration=0.2, weight_init_std=0.5
    )
    assert list(net.layers) == [
        "Affine1",
        "BatchNorm1",
        "Activation_function1",
        "Dropout1",
        "Affine2",
        "BatchNorm2",
        "Activation_function2",
        "Dropout2",
        "Affine3",
    ]
    assert net.layers["BatchNorm1"].gamma is net.params["gamma1"]
    np.random.seed(0)
    plain = MultiLayerNetExtend(12, [6, 5], 3, use_batchnorm=True, weight_init_std=0.5)
    x, t = np.random.rand(4, 12), np.array([0, 1, 2, 0])
    num, bp = plain.numerical_gradient(x, t), plain.gradient(x, t)
    for k in num:
        assert np.abs(bp[k] - num[k]).max() < 1e-7, k


def test_extend_gradient_keys_follow_the_books_order():
    np.random.seed(0)
    net = MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True)
    x, t = np.random.rand(3, 6), np.array([0, 1, 2])
    want = ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    assert list(net.gradient(x, t)) == want
    assert list(net.numerical_gradient(x, t)) == want


def test_weight_decay_leaves_the_layers_data_gradient():
    np.random.seed(0)
    net = MultiLayerNet(6, [5], 3, weight_decay_lambda=0.5)
    x, t = np.random.rand(4, 6), np.array([0, 1, 2, 0])
    g = net.gradient(x, t)
    a1 = net.layers["Affine1"]
    assert g["W1"] is not a1.dW
    assert_allclose(g["W1"], a1.dW + 0.5 * a1.W, rtol=1e-15)


def test_a_refilled_batch_after_a_failed_call_gives_the_new_batch_output():  # 11.8
    rng = np.random.default_rng(1)
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    xb = rng.random((100, 784))
    xb[xb < 0.8] = 0
    with pytest.raises(ValueError):
        net.gradient(xb, np.full(100, 99))  # bad labels
    xb[...] = rng.random((100, 784))
    xb[xb < 0.8] = 0
    a = net.layers["Affine1"]
    assert_allclose(a.forward(xb), xb @ a.W + a.b, rtol=1e-12)
