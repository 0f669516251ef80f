"""The book's free functions (fastbp.functions) and numerical_gradient (fastbp.gradient)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import functions as F
from fastbp.gradient import numerical_gradient, numerical_gradient_1d, numerical_gradient_2d


def test_elementwise_functions():
    x = np.array([-2.0, 0.0, 3.0])
    assert F.identity_function(x) is x
    assert_array_equal(F.step_function(x), [0, 0, 1])
    assert F.step_function(x).dtype == np.int64
    assert_allclose(F.sigmoid(x), 1 / (1 + np.exp(-x)))
    assert_allclose(F.sigmoid_grad(x), F.sigmoid(x) * (1 - F.sigmoid(x)))
    assert_array_equal(F.relu(x), [0.0, 0.0, 3.0])
    assert_array_equal(F.relu_grad(x), [0.0, 1.0, 1.0])  # the book's function: 1 at x = 0


def test_sigmoid_has_no_overflow_warning():
    # filterwarnings = error: an overflow RuntimeWarning would fail this test
    assert_array_equal(F.sigmoid(np.array([-1e4, 1e4])), [0.0, 1.0])


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)])
def test_softmax_any_rank_sums_to_one_along_last_axis(rng, shape):
    x = 100 * rng.standard_normal(shape)
    y = F.softmax(x)
    assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-14)
    assert_allclose(F.softmax(x + 1000.0), y, rtol=1e-12)


def test_softmax_rejects_scalars_and_strings():
    with pytest.raises(ValueError, match="softmax: x must have at least 1 dimension"):
        F.softmax(np.float64(1.0))
    with pytest.raises(TypeError, match="softmax: x must be a numeric array"):
        F.softmax(np.array(["a"]))


def test_sum_squared_error_is_the_books():
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    t = np.zeros(10)
    t[2] = 1
    assert F.sum_squared_error(y, t) == pytest.approx(0.0975)
    assert F.mean_squared_error is F.sum_squared_error
    with pytest.raises(ValueError, match="same shape"):
        F.sum_squared_error(y, t[:5])


def test_cross_entropy_error_label_forms():
    y = np.array([[0.1, 0.6, 0.3], [0.8, 0.1, 0.1]])
    want = -(np.log(0.6) + np.log(0.8)) / 2
    assert F.cross_entropy_error(y, np.array([1, 0])) == pytest.approx(want, rel=1e-15)
    assert F.cross_entropy_error(y, np.eye(3)[[1, 0]]) == pytest.approx(want, rel=1e-15)
    assert F.cross_entropy_error(y[0], np.array([0.0, 1.0, 0.0])) == pytest.approx(-np.log(0.6))
    assert F.cross_entropy_error(y[0], np.array(1)) == pytest.approx(-np.log(0.6))
    assert F.cross_entropy_error(np.array([[0.0, 1.0]]), np.array([0])) == np.inf  # exact, no warning


def test_cross_entropy_error_rejects_bad_labels():
    y = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"class index outside \[0, 3\)"):
        F.cross_entropy_error(y, np.array([0, 3]))
    with pytest.raises(ValueError, match="t must be 2 integer class indices or one-hot rows"):
        F.cross_entropy_error(y, np.array([0, 1, 2]))


def test_softmax_loss_is_stable(rng):
    x = rng.standard_normal((4, 5))
    t = np.array([0, 4, 2, 1])
    assert F.softmax_loss(x, t) == pytest.approx(F.cross_entropy_error(F.softmax(x), t), rel=1e-13)
    assert F.softmax_loss(np.array([[1e4, -1e4]]), np.array([1])) == pytest.approx(2e4)


def test_numerical_gradient_perturbs_in_place_and_restores(rng):
    x = rng.standard_normal((3, 4))
    before = x.copy()
    seen = []

    def f(v):
        seen.append(v is x)
        return np.sum(x**2)  # reads the outer array, as the book's lambdas do

    g = numerical_gradient(f, x)
    assert all(seen)
    assert_array_equal(x, before)
    assert_allclose(g, 2 * x, rtol=1e-7)


def test_numerical_gradient_variants(rng):
    x = rng.standard_normal(5)
    assert_allclose(numerical_gradient_1d(lambda v: np.sum(v**3), x), 3 * x**2, rtol=1e-6)
    X = rng.standard_normal((3, 2))
    assert_allclose(numerical_gradient_2d(lambda v: np.sum(v**2), X), 2 * X, rtol=1e-7)


def test_numerical_gradient_refuses_integer_arrays():
    # the book's version returns garbage here ([5000, 15000] for [2, 4])
    with pytest.raises(TypeError, match="x must be a float array, got dtype int64"):
        numerical_gradient(lambda v: np.sum(v**2), np.array([1, 2]))
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        numerical_gradient(lambda v: v**2, 3.0)
    ro = np.ones(2)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="x must be writeable"):
        numerical_gradient(lambda v: np.sum(v), ro)
