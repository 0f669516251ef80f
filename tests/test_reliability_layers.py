"""Issue 11's defects in the layers and networks, each with the test that would have caught it."""

import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import layers as L
from fastbp.nets import MultiLayerNet, TwoLayerNet


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


@pytest.mark.parametrize("cls", [L.Sigmoid, L.Tanh, L.Relu, L.LeakyRelu])
def test_an_activation_fed_its_own_output_edited_in_place(cls):  # 11.2
    x = np.linspace(-3, 3, 12)
    layer, twin = cls(), cls()
    h = layer.forward(x)
    h -= 1.0  # the user edits the returned array in place, then feeds it back
    want = twin.forward(h.copy())
    assert_allclose(layer.forward(h), want, rtol=1e-14)


@pytest.mark.parametrize(
    "make",
    [lambda: TwoLayerNet(6, 5, 3, dtype=np.float32), lambda: MultiLayerNet(6, [5], 3, dtype=np.float32)],
)
def test_float64_beyond_float32_range_is_refused_by_a_float32_network(make):  # 11.5
    np.random.seed(0)
    net32 = make()
    x = np.ones((16, 6))
    x[3, 2] = 1e39
    for entry in (net32.loss, net32.gradient):
        with pytest.raises(
            ValueError, match=r"x holds values beyond the range of float32 \(first at index \(3, 2\)"
        ):
            entry(x, np.zeros(16, int))


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


def test_one_network_used_from_two_threads_is_refused_not_wrong():  # 11.11
    rng = np.random.default_rng(2)
    np.random.seed(0)
    net = MultiLayerNet(784, [100, 100], 10)
    batches = [(rng.random((64, 784)), rng.integers(0, 10, 64)) for _ in range(8)]
    want = [float(net.loss(x, t)) for x, t in batches]
    wrong, refused, done = [], [], []

    def work(seed):
        for i in range(60):
            j = (i + seed) % 8
            try:
                got = float(net.loss(*batches[j]))  # a scalar: nothing shared after the call
            except RuntimeError as e:
                assert "another thread" in str(e)
                refused.append(j)
                continue
            done.append(j)
            if got != want[j]:
                wrong.append((j, got, want[j]))

    threads = [threading.Thread(target=work, args=(s,)) for s in (0, 3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not wrong
    assert done


def test_read_only_dout_into_convolution_backward():  # 11.12
    rng = np.random.default_rng(3)
    c = L.Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2))
    y = c.forward(rng.standard_normal((2, 1, 5, 5)))
    d = rng.standard_normal(y.shape)
    d.flags.writeable = False
    dx = c.backward(d)
    assert dx.shape == (2, 1, 5, 5) and np.isfinite(c.dW).all()


def test_dropout_takes_a_0d_array_as_its_twin():  # 11.13
    from fastbp.reference import layers as R

    for train in (True, False):
        np.random.seed(5)
        got = L.Dropout(0.3).forward(np.array(2.0), train_flg=train)
        np.random.seed(5)
        want = R.Dropout(0.3).forward(np.array(2.0), train_flg=train)
        assert np.shape(got) == () and float(got) == float(want)
    layer = L.Dropout(0.5)
    np.random.seed(0)
    layer.forward(np.array(1.5))
    assert_array_equal(layer.backward(np.array(1.0)), layer.mask * 1.0)


# -- issue 12: the book's loss, scalar biases ----------------------------------------------------------
def book_loss(x, t):
    """The book's SoftmaxWithLoss.forward, written from its description (BOOK_API.md)."""
    z = x - np.max(x, axis=-1, keepdims=True)
    y = np.exp(z) / np.sum(np.exp(z), axis=-1, keepdims=True)
    if t.size == y.size:
        t = t.argmax(axis=1)
    return -np.sum(np.log(y[np.arange(y.shape[0]), t] + 1e-7)) / y.shape[0]


@pytest.mark.parametrize("onehot", [False, True])
def test_fastbp_book_loss_gives_the_books_loss_digit_for_digit(monkeypatch, onehot):
    from fastbp import config
    from fastbp.reference import layers as R

    rng = np.random.default_rng(4)
    x = rng.standard_normal((100, 10)) * 3
    t = rng.integers(0, 10, 100)
    tt = np.eye(10)[t] if onehot else t
    exact = float(L.SoftmaxWithLoss().forward(x, tt))
    monkeypatch.setattr(config, "BOOK_LOSS", True)
    assert float(L.SoftmaxWithLoss().forward(x, tt)) == book_loss(x, tt)
    assert float(R.SoftmaxWithLoss().forward(x, tt)) == book_loss(x, tt)
    assert float(L.SoftmaxWithLoss().forward(np.array([[0.0, 40.0]]), np.array([0]))) == pytest.approx(
        16.118, abs=1e-3
    )
    assert exact != book_loss(x, tt)  # (the default stays exact)
    for n in (1, 3, 100):  # the networks too, the small-batch node included
        np.random.seed(0)
        net = MultiLayerNet(10, [8], 10)
        scores = net.predict(x[:n])
        assert float(net.loss(x[:n], tt[:n])) == book_loss(scores, tt[:n])


def test_the_book_loss_flag_is_read_from_the_environment():
    import subprocess
    import sys

    code = "import fastbp.config as c; print(c.BOOK_LOSS)"
    for value, want in (("1", "True"), ("0", "False"), ("", "False"), ("on", "True")):
        env = {"FASTBP_BOOK_LOSS": value, "PATH": "/usr/bin:/bin"}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.stdout.strip() == want, out.stderr
    out = subprocess.run(
        [sys.executable, "-c", code], env={"FASTBP_BOOK_LOSS": "maybe"}, capture_output=True, text=True
    )
    assert out.returncode != 0 and "FASTBP_BOOK_LOSS" in out.stderr


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
