"""fastbp.layers.loss: SoftmaxWithLoss -- gradients for every label form, the NumPy twin, the book's
attributes, an exact loss for extreme scores, and errors for bad input."""

import numpy as np
import pytest
from conftest import DTYPES, TOL, numgrad, rel_err
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import layers as L
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
