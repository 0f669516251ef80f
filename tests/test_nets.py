"""TwoLayerNet: the book's initialisation, gradient check, agreement with the NumPy backend over a
training run, learning on generated data, bad input, and (opt-in) real MNIST."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp.nets import TwoLayerNet


def blobs(n, d=784, c=10, noise=0.6, seed=0):
    """MNIST-shaped data: c noisy prototypes in [0, 1]^d, float32 like the book's images; uint8 labels."""
    r = np.random.default_rng(seed)
    protos = (r.random((c, d)) < 0.2).astype(np.float32)
    t = r.integers(0, c, n).astype(np.uint8)
    x = np.clip(protos[t] + noise * r.standard_normal((n, d)), 0, 1).astype(np.float32)
    return x, t


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
def test_gradient_check_on_three_samples(backend):
    # the book's chapter 5 gradient check: mean |backprop - numerical| per parameter
    np.random.seed(1)
    net = TwoLayerNet(784, 50, 10, backend=backend)
    x, t = blobs(3, seed=1)
    num = net.numerical_gradient(x, t)
    bp = net.gradient(x, t)
    for key in ("W1", "b1", "W2", "b2"):
        diff = np.mean(np.abs(bp[key] - num[key]))
        assert diff < 1e-8, (key, diff)


def test_gradient_check_with_one_hot_labels():
    np.random.seed(2)
    net = TwoLayerNet(20, 7, 4, weight_init_std=0.5)
    x = np.random.rand(5, 20)
    t = np.eye(4)[[0, 3, 1, 1, 2]]
    num, bp = net.numerical_gradient(x, t), net.gradient(x, t)
    for key in num:
        assert np.abs(bp[key] - num[key]).max() < 1e-7, key


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


# -- bad input -------------------------------------------------------------------------------------

ENTRIES = ["predict", "loss", "accuracy", "gradient", "numerical_gradient"]


def call(net, entry, x, t):
    f = getattr(net, entry)
    return f(x) if entry == "predict" else f(x, t)


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
def test_constructor_rejects_bad_arguments(args, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        TwoLayerNet(*args, **kwargs)


# -- real MNIST (opt-in: runs only where the files are) -------------------------------------------


def _mnist_dir() -> Path:
    """FASTBP_MNIST_DIR, else the data folder fastbp.data reads (FASTBP_DATA, else the user cache)."""
    from fastbp.data import get_data_dir

    return Path(os.environ["FASTBP_MNIST_DIR"]) if os.environ.get("FASTBP_MNIST_DIR") else get_data_dir()


MNIST_DIR = _mnist_dir()


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
