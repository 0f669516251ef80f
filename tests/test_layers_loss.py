"""fastbp.layers.loss: SoftmaxWithLoss -- gradients for every label form, the NumPy twin, the book's
attributes, an exact loss for extreme scores, and errors for bad input."""

import numpy as np
import pytest
from conftest import DTYPES, TOL, numgrad, rel_err
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import layers as L
from fastbp.nets import MultiLayerNet
from fastbp.reference import layers as R


@pytest.mark.parametrize("labels", ["index", "index_2d", "onehot", "soft"])
@pytest.mark.parametrize("n, c", [(1, 2), (4, 3), (6, 10)])
def test_softmax_with_loss_backward_is_the_gradient(rng, n, c, labels):
    x = rng.standard_normal((n, c))
    idx = rng.integers(0, c, n)
    t = {
        "index": idx,
        "index_2d": idx.reshape(n, 1),
        "onehot": np.eye(c)[idx],
        "soft": rng.dirichlet(np.ones(c), n),
    }[labels]
    layer = L.SoftmaxWithLoss()
    want = numgrad(lambda v: layer.forward(v, t), x)
    layer.forward(x, t)
    assert rel_err(layer.backward(), want) < 1e-6
    assert rel_err(layer.backward(3.0), 3 * want) < 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, c", [(1, 10), (5, 3), (100, 10)])
def test_softmax_with_loss_matches_reference(rng, n, c, dtype):
    x = (4 * rng.standard_normal((n, c))).astype(dtype)
    t = rng.integers(0, c, n).astype(np.uint8)
    fast, slow = L.SoftmaxWithLoss(), R.SoftmaxWithLoss()
    loss = fast.forward(x, t)
    assert loss.dtype == dtype
    assert loss == pytest.approx(slow.forward(x, t), rel=TOL[dtype])
    assert_allclose(fast.y, slow.y, rtol=TOL[dtype], atol=TOL[dtype])
    assert_allclose(fast.backward(), slow.backward(), rtol=TOL[dtype], atol=TOL[dtype])


def test_softmax_with_loss_label_forms_agree(rng):
    x = rng.standard_normal((4, 3))
    idx = np.array([0, 2, 1, 2])
    losses = []
    grads = []
    for t in (idx, idx.astype(np.uint8), idx.reshape(4, 1), np.eye(3)[idx], np.eye(3, dtype=int)[idx]):
        layer = L.SoftmaxWithLoss()
        losses.append(layer.forward(x, t))
        grads.append(layer.backward().copy())
    assert np.ptp(losses) < 1e-15
    for g in grads[1:]:
        assert_allclose(g, grads[0], rtol=1e-15, atol=1e-17)


def test_softmax_with_loss_keeps_y_t_loss(rng):
    x = rng.standard_normal((2, 3))
    layer = L.SoftmaxWithLoss()
    loss = layer.forward(x, np.array([1, 0]))
    assert layer.loss == loss
    assert_allclose(layer.y.sum(axis=1), 1.0, rtol=1e-15)
    assert_array_equal(layer.t, [1, 0])


def test_softmax_with_loss_is_exact_and_finite_for_extreme_scores():
    layer = L.SoftmaxWithLoss()
    loss = layer.forward(np.array([[1e4, -1e4]]), np.array([1]))
    assert loss == 2e4
    assert np.isfinite(layer.backward()).all()


@pytest.mark.parametrize(
    "x, t, exc, words",
    [
        (np.ones((2, 3)), np.array([0, 3]), ValueError, r"t\[1\] = 3 is not a class index in \[0, 3\)"),
        (np.ones((2, 3)), np.array([-1, 0]), ValueError, r"t\[0\] = -1 is not a class index"),
        (np.ones((2, 3)), np.array([0, 1, 2]), ValueError, r"one label per sample \(2\)"),
        (np.ones((2, 3)), np.array([0.0, 1.0]), TypeError, "class indices t must be integers"),
        (np.ones((2, 3)), np.array(["a", "b"]), TypeError, "t must hold integer class indices"),
        (np.ones((2, 3)), np.ones((2, 2)), ValueError, r"t must be class indices of shape \(2,\)"),
        (np.ones((2, 3)), np.full((2, 3), np.nan), ValueError, "t contains NaN"),
        (np.ones(3), np.array([0]), ValueError, "x must be 2-D"),
        (np.ones((2, 3), dtype=np.int64), np.array([0, 1]), TypeError, "x must be a float32 or float64"),
        (np.array([[0.0, np.nan, 1.0], [0, 0, 0]]), np.array([0, 1]), ValueError, "x contains NaN or inf"),
    ],
)
def test_softmax_with_loss_rejects_bad_input(x, t, exc, words):
    layer = L.SoftmaxWithLoss()
    with pytest.raises(exc, match="SoftmaxWithLoss.forward: .*" + words):
        layer.forward(x, t)
    assert layer.loss is None and layer.t is None


def test_softmax_with_loss_backward_rejects_bad_dout():
    layer = L.SoftmaxWithLoss()
    with pytest.raises(RuntimeError, match="call forward before backward"):
        layer.backward()
    layer.forward(np.ones((2, 3)), np.array([0, 1]))
    with pytest.raises(TypeError, match="dout must be a real scalar"):
        layer.backward(np.ones(2))
    with pytest.raises(ValueError, match="dout must be finite"):
        layer.backward(np.nan)


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
