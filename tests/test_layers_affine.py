"""fastbp.layers.affine: Affine -- gradients, the NumPy twin, the book's attributes and arrays held by
reference, dtypes and layouts, and errors for bad input."""

import numpy as np
import pytest
from conftest import DTYPES, TOL, numgrad, rel_err
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import layers as L
from fastbp.reference import layers as R


@pytest.mark.parametrize("x_shape, w_shape", [((1, 4), (4, 3)), ((5, 7), (7, 1)), ((2, 3, 2, 2), (12, 5))])
def test_affine_backward_is_the_gradient(rng, x_shape, w_shape):
    W, b = rng.standard_normal(w_shape), rng.standard_normal(w_shape[1])
    layer = L.Affine(W, b)
    x = rng.standard_normal(x_shape)
    r = rng.standard_normal((x_shape[0], w_shape[1]))

    def f(_):
        return np.sum(layer.forward(x) * r)

    want_dx = numgrad(lambda v: np.sum(layer.forward(v) * r), x)
    want_dW, want_db = numgrad(f, W), numgrad(f, b)  # perturbs the live W and b in place
    layer.forward(x)
    dx = layer.backward(r)
    assert dx.shape == x_shape
    assert rel_err(dx, want_dx) < 1e-6
    assert rel_err(layer.dW, want_dW) < 1e-6
    assert rel_err(layer.db, want_db) < 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, d, m", [(1, 1, 1), (1, 784, 50), (3, 5, 7), (100, 784, 50), (33, 50, 10)])
def test_affine_matches_reference(rng, n, d, m, dtype):
    W, b = rng.standard_normal((d, m)).astype(dtype), rng.standard_normal(m).astype(dtype)
    x = rng.standard_normal((n, d)).astype(dtype)
    dout = rng.standard_normal((n, m)).astype(dtype)
    fast, slow = L.Affine(W, b), R.Affine(W, b)
    tol = dict(rtol=10 * TOL[dtype], atol=10 * TOL[dtype] * np.sqrt(d))
    out = fast.forward(x)
    assert out.dtype == dtype
    assert_allclose(out, slow.forward(x), **tol)
    dx = fast.backward(dout)
    assert dx.dtype == dtype
    assert_allclose(dx, slow.backward(dout), **tol)
    assert_allclose(fast.dW, slow.dW, **tol)
    assert_allclose(fast.db, slow.db, **tol)


def test_affine_holds_the_callers_arrays_and_sees_in_place_changes(rng):
    W, b = rng.standard_normal((4, 3)), np.zeros(3)
    layer = L.Affine(W, b)
    assert layer.W is W and layer.b is b
    x = rng.standard_normal((2, 4))
    before = layer.forward(x).copy()
    W += 1.0  # as an optimizer does
    b -= 2.0
    assert_allclose(layer.forward(x), before + x.sum(axis=1, keepdims=True) - 2.0, rtol=1e-12)


def test_affine_keeps_the_books_attributes(rng):
    W, b = rng.standard_normal((12, 2)), rng.standard_normal(2)
    layer = L.Affine(W, b)
    x = rng.standard_normal((3, 1, 3, 4))
    layer.forward(x)
    assert layer.original_x_shape == (3, 1, 3, 4)
    assert layer.x.shape == (3, 12)
    assert_array_equal(layer.x, x.reshape(3, 12))
    dx = layer.backward(np.ones((3, 2)))
    assert dx.shape == (3, 1, 3, 4)
    assert layer.dW.shape == W.shape and layer.db.shape == b.shape


def test_affine_converts_float32_input_to_the_weights_dtype(rng):
    W, b = rng.standard_normal((5, 2)), rng.standard_normal(2)
    x32 = rng.standard_normal((3, 5)).astype(np.float32)
    out = L.Affine(W, b).forward(x32)
    assert out.dtype == np.float64
    assert_allclose(out, x32.astype(np.float64) @ W + b, rtol=1e-13)


def test_affine_accepts_non_contiguous_input(rng):
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    x = rng.standard_normal((2, 8))[:, ::2]
    assert not x.flags.c_contiguous
    assert_allclose(L.Affine(W, b).forward(x), x @ W + b, rtol=1e-13)


@pytest.mark.parametrize(
    "W, b, exc, words",
    [
        (np.ones(3), np.ones(3), ValueError, "W must be 2-D"),
        (np.ones((3, 2)), np.ones(3), ValueError, r"b must have W.shape\[1\] = 2 entries"),
        (np.ones((3, 2)), np.ones((1, 2)), ValueError, "b must be 1-D"),
        (np.ones((3, 2), dtype=int), np.ones(2), TypeError, "W must be a float32 or float64 array"),
        (np.ones((3, 2)), np.ones(2, np.float32), TypeError, "same dtype"),
        (np.full((3, 2), np.nan), np.ones(2), ValueError, "W contains NaN"),
    ],
)
def test_affine_rejects_bad_parameters(W, b, exc, words):
    with pytest.raises(exc, match=words):
        L.Affine(W, b)


@pytest.mark.parametrize(
    "x, exc, words",
    [
        (np.ones(4), ValueError, "at least 2 dimensions"),
        (np.ones((2, 5)), ValueError, "x has 5 features per sample .* W expects 4"),
        (np.ones((0, 4)), ValueError, "no samples"),
        (np.ones((2, 4), dtype=np.int32), TypeError, "x must be a float32 or float64 array"),
        (np.full((2, 4), np.inf), ValueError, "x contains NaN or inf"),
    ],
)
def test_affine_forward_rejects_bad_x(x, exc, words):
    layer = L.Affine(np.ones((4, 3)), np.zeros(3))
    with pytest.raises(exc, match="Affine.forward: .*" + words):
        layer.forward(x)
    assert layer.x is None  # nothing was half-updated


def test_affine_backward_rejects_bad_dout():
    layer = L.Affine(np.ones((4, 3)), np.zeros(3))
    layer.forward(np.ones((2, 4)))
    with pytest.raises(
        ValueError, match=r"Affine.backward: dout must have the forward output's shape \(2, 3\)"
    ):
        layer.backward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="Affine.backward: dout contains NaN"):
        layer.backward(np.full((2, 3), np.nan))
    assert layer.dW is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("when", ["before forward", "before backward"])
def test_a_bias_rebound_to_another_width_is_an_error_not_a_read_past_its_end(dtype, when):
    """The constructor checks b against W; an attribute rebound later (the book's code may) is refused
    by the kernels before they write, in both passes."""
    layer = L.Affine(np.ones((4, 3), dtype), np.zeros(3, dtype))
    if when == "before backward":
        layer.forward(np.ones((2, 4), dtype))
    layer.b = np.zeros(5, dtype)
    with pytest.raises(ValueError, match="one entry per column of x W"):
        if when == "before forward":
            layer.forward(np.ones((2, 4), dtype))
        else:
            layer.backward(np.ones((2, 3), dtype))
