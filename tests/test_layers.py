"""The compiled layers: gradients by central differences, agreement with the NumPy twin layers,
the book's attributes and in-place semantics, buffer reuse, and errors for bad input."""

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


# -- gradients against central differences (float64) ---------------------------------------------


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


# -- against the NumPy twin layers ------------------------------------------------------------------


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


# -- the book's semantics ---------------------------------------------------------------------------


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


def test_buffers_are_reused_across_calls_of_the_same_shape(rng):
    layer = L.Affine(rng.standard_normal((4, 3)), np.zeros(3))
    x = rng.standard_normal((2, 4))
    out1 = layer.forward(x)
    dx1 = layer.backward(np.ones((2, 3)))
    dW1 = layer.dW
    assert layer.forward(x) is out1
    assert np.shares_memory(layer.backward(np.ones((2, 3))), dx1) and layer.dW is dW1
    assert layer.forward(rng.standard_normal((5, 4))) is not out1  # another batch size: new buffer


def test_mul_and_add_layers_compute_the_books_apple_example():
    apple, apple_num, tax = 100, 2, 1.1
    mul_apple, mul_tax = L.MulLayer(), L.MulLayer()
    price = mul_tax.forward(mul_apple.forward(apple, apple_num), tax)
    assert price == pytest.approx(220.0)
    dapple_price, dtax = mul_tax.backward(1)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert (dapple, dapple_num, dtax) == pytest.approx((2.2, 110.0, 200.0))

    add = L.AddLayer()
    assert add.forward(130, 585) == 715
    dx, dy = add.backward(np.ones(3))
    assert dx is not dy


# -- bad input --------------------------------------------------------------------------------------

BAD_ARRAYS = [
    (np.ones((2, 3), dtype=np.int64), TypeError, "dtype int64"),
    (np.ones((2, 3), dtype=object), TypeError, "dtype object"),
    (np.ones((2, 3), dtype=bool), TypeError, "dtype bool"),
    (np.array([[1.0, np.nan, 0.0], [0, 0, 0]]), ValueError, "NaN or inf"),
    (np.array([[1.0, np.inf, 0.0], [0, 0, 0]]), ValueError, "NaN or inf"),
    ("abc", TypeError, "str"),
]


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


@pytest.mark.parametrize("cls", [L.MulLayer, L.AddLayer])
def test_scalar_layers_reject_non_numbers(cls):
    name = cls.__name__
    with pytest.raises(TypeError, match=f"{name}.forward: x must be a real number"):
        cls().forward("1", 2)
    with pytest.raises(TypeError, match=f"{name}.forward: y must be numeric"):
        cls().forward(1.0, np.array(["a"]))
    with pytest.raises(ValueError, match=f"{name}.forward: x and y must broadcast"):
        cls().forward(np.ones(2), np.ones(3))


def test_star_import_surface():
    ns = {}
    exec("from fastbp.layers import *", ns)
    for name in [
        "np",
        "Affine",
        "Relu",
        "Sigmoid",
        "SoftmaxWithLoss",
        "MulLayer",
        "AddLayer",
        "Tanh",
        "LeakyRelu",
        "softmax",
        "cross_entropy_error",
        "sigmoid",
        "relu",
    ]:
        assert name in ns, name
