"""fastbp.layers.activations: Relu, LeakyRelu, Sigmoid, Tanh -- gradients, the NumPy twins, the book's
in-place ReLU and its mask, 0-d arrays, any layout on the unchecked path, and errors for bad input."""

import numpy as np
import pytest
from conftest import DTYPES, TOL, numgrad, rel_err
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import layers as L
from fastbp.reference import layers as R

ACTIVATIONS = {
    "Relu": (L.Relu, R.Relu, ()),
    "Sigmoid": (L.Sigmoid, R.Sigmoid, ()),
    "Tanh": (L.Tanh, R.Tanh, ()),
    "LeakyRelu": (L.LeakyRelu, R.LeakyRelu, (0.05,)),
}


def away_from_kinks(rng, shape):
    """Inputs at least 0.01 from 0, so h = 1e-5 never crosses the ReLU kink."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + 0.01, x - 0.01)


BAD_ARRAYS = [
    (np.ones((2, 3), dtype=np.int64), TypeError, "dtype int64"),
    (np.ones((2, 3), dtype=object), TypeError, "dtype object"),
    (np.ones((2, 3), dtype=bool), TypeError, "dtype bool"),
    (np.array([[1.0, np.nan, 0.0], [0, 0, 0]]), ValueError, "NaN or inf"),
    (np.array([[1.0, np.inf, 0.0], [0, 0, 0]]), ValueError, "NaN or inf"),
    ("abc", TypeError, "str"),
]


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (2, 3, 4)])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_backward_is_the_gradient(rng, name, shape):
    cls, _, args = ACTIVATIONS[name]
    layer = cls(*args)
    x = away_from_kinks(rng, shape)
    r = rng.standard_normal(shape)
    want = numgrad(lambda v: np.sum(layer.forward(v) * r), x)
    layer.forward(x)
    assert rel_err(layer.backward(r.copy()), want) < 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 3), (2, 3, 5)])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_reference(rng, name, shape, dtype):
    cls, ref_cls, args = ACTIVATIONS[name]
    x = (2 * rng.standard_normal(shape)).astype(dtype)
    d = rng.standard_normal(shape).astype(dtype)
    fast, slow = cls(*args), ref_cls(*args)
    out = fast.forward(x)
    assert out.dtype == dtype and out.shape == shape
    assert_allclose(out, slow.forward(x), rtol=TOL[dtype], atol=TOL[dtype])
    assert_allclose(fast.backward(d.copy()), slow.backward(d.copy()), rtol=TOL[dtype], atol=TOL[dtype])


def test_relu_backward_writes_into_dout_and_mask_is_the_books(rng):
    layer = L.Relu()
    x = np.array([[-1.0, 0.0, 2.0], [3.0, -0.5, np.nan]])
    layer.forward(np.nan_to_num(x, nan=1.0))
    assert_array_equal(layer.mask, np.nan_to_num(x, nan=1.0) <= 0)
    dout = np.ones((2, 3))
    dx = layer.backward(dout)
    assert dx is dout  # the book's in-place behaviour
    assert_array_equal(dx, [[0, 0, 1], [1, 0, 1]])


def test_relu_backward_copies_a_read_only_dout():
    layer = L.Relu()
    layer.forward(np.array([[-1.0, 1.0]]))
    dout = np.ones((1, 2))
    dout.setflags(write=False)
    dx = layer.backward(dout)
    assert dx is not dout
    assert_array_equal(dx, [[0.0, 1.0]])


def test_relu_gradient_is_zero_at_zero():
    layer = L.Relu()
    layer.forward(np.array([[0.0, -0.0]]))
    assert_array_equal(layer.backward(np.ones((1, 2))), [[0.0, 0.0]])


@pytest.mark.parametrize("bad, exc, words", BAD_ARRAYS)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_forward_rejects_bad_x(name, bad, exc, words):
    cls, _, args = ACTIVATIONS[name]
    with pytest.raises(exc, match=rf"{name}\.forward: x .*{words}"):
        cls(*args).forward(bad)


@pytest.mark.parametrize("bad, exc, words", BAD_ARRAYS)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_backward_rejects_bad_dout(name, bad, exc, words):
    cls, _, args = ACTIVATIONS[name]
    layer = cls(*args)
    layer.forward(np.ones((2, 3)))
    with pytest.raises(exc, match=rf"{name}\.backward: dout .*{words}"):
        layer.backward(bad)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_backward_before_forward_and_wrong_dout_shape(name):
    cls, _, args = ACTIVATIONS[name]
    with pytest.raises(RuntimeError, match="call forward before backward"):
        cls(*args).backward(np.ones((2, 3)))
    layer = cls(*args)
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape \(2, 3\)"):
        layer.backward(np.ones((3, 2)))


@pytest.mark.parametrize("alpha", [-0.1, np.nan, "0.1"])
def test_leaky_relu_rejects_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        L.LeakyRelu(alpha)


@pytest.mark.parametrize("cls", [L.Relu, L.Sigmoid, L.Tanh, L.LeakyRelu])
def test_zero_d_arrays_keep_their_shape(cls):
    layer = cls()
    y = layer.forward(np.array(-3.0))
    assert y.shape == ()
    assert layer.backward(np.array(1.0)).shape == ()


def test_tanh_unchecked_path_takes_any_layout_and_keeps_0d_arrays():
    from fastbp.graph import Graph

    x = np.asfortranarray(np.random.default_rng(3).standard_normal((100, 50)))
    y = Graph.sequential([L.Tanh()], validate=False).forward(x)
    assert_allclose(y, np.tanh(x), rtol=1e-14)
    assert isinstance(L.Tanh()._forward(np.array(0.5)), np.ndarray)


@pytest.mark.parametrize("cls", [L.Sigmoid, L.Tanh, L.Relu, L.LeakyRelu])
def test_an_activation_fed_its_own_output_edited_in_place(cls):  # 11.2
    x = np.linspace(-3, 3, 12)
    layer, twin = cls(), cls()
    h = layer.forward(x)
    h -= 1.0  # the user edits the returned array in place, then feeds it back
    want = twin.forward(h.copy())
    assert_allclose(layer.forward(h), want, rtol=1e-14)
