"""The book's free functions (fastbp.functions); numerical_gradient is in test_gradient.py."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import functions as F


def test_elementwise_functions():
    x = np.array([-2.0, 0.0, 3.0])
    assert F.identity_function(x) is x
    assert_array_equal(F.step_function(x), [0, 0, 1])
    assert F.step_function(x).dtype == np.int64
    assert_allclose(F.sigmoid(x), 1 / (1 + np.exp(-x)))
    assert_allclose(F.sigmoid_grad(x), F.sigmoid(x) * (1 - F.sigmoid(x)))
    assert_array_equal(F.relu(x), [0.0, 0.0, 3.0])
    assert_array_equal(F.relu_grad(x), [0.0, 1.0, 1.0])  # the book's function: 1 at x = 0


def test_sigmoid_overflows_as_the_books():
    # exp(1e4) is inf: the result is exactly 0, with NumPy's warning (silencing it cost 1.2 us a call)
    with pytest.warns(RuntimeWarning, match="overflow encountered in exp"):
        assert_array_equal(F.sigmoid(np.array([-1e4, 1e4])), [0.0, 1.0])


# What the book computes, operation by operation (BOOK_API.md): fastbp must give the same bits.
def book_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def book_softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64, np.uint8])
@pytest.mark.parametrize("shape", [(), (1,), (3,), (1, 784), (7, 5), (2, 3, 4)])
def test_elementwise_functions_are_the_books_bit_for_bit(rng, shape, dtype):
    x = (10 * rng.standard_normal(shape)).astype(dtype)
    if x.size >= 5 and x.dtype.kind == "f":  # signed zeros, NaN and infinities keep their bits too
        x.flat[:5] = [-0.0, 0.0, np.nan, np.inf, -np.inf]
    x0 = x.copy()
    with np.errstate(all="ignore"):  # float16 overflows at exp(11); -uint8 wraps around
        pairs = [
            (F.sigmoid(x), book_sigmoid(x)),
            (F.relu(x), np.maximum(0, x)),
            (F.step_function(x), np.array(x > 0, dtype=np.int64)),
            (F.sigmoid_grad(x), (1.0 - book_sigmoid(x)) * book_sigmoid(x)),
        ]
        if shape:  # x - max(x) wraps around for uint8 too, as in the book
            pairs.append((F.softmax(x), book_softmax(x)))
    for got, want in pairs:
        assert type(got) is type(want)
        assert np.asarray(got).dtype == np.asarray(want).dtype
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
    assert_array_equal(x, x0)  # the in-place fast paths never write into x


def test_elementwise_functions_take_lists_and_scalars():
    assert_array_equal(F.sigmoid([0.0, 1.0]), book_sigmoid(np.array([0.0, 1.0])))
    assert F.sigmoid(0.0) == 0.5
    assert_array_equal(F.relu([-1, 2]), [0, 2])
    assert_array_equal(F.step_function(3.0), 1)
    assert_array_equal(F.softmax([1.0, 1.0]), [0.5, 0.5])
    for fn in (F.sigmoid, F.relu, F.step_function, F.softmax):
        with pytest.raises(TypeError, match=f"{fn.__name__}: x must be a numeric array, got dtype <U1"):
            fn(np.array(["a"]))


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


def test_cross_entropy_error_rejects_bad_labels():
    y = np.full((2, 3), 1 / 3)
    outside = r"cross_entropy_error: t holds a class index outside \[0, 3\)"
    for bad in (3, -1, -4):
        for dtype in (np.int64, np.int8):
            with pytest.raises(ValueError, match=outside):
                F.cross_entropy_error(y, np.array([0, bad], dtype))
            with pytest.raises(ValueError, match=outside):
                F.cross_entropy_error(y[0], np.array(bad, dtype))
    with pytest.raises(ValueError, match=r"class index outside \[0, 3\)"):
        F.cross_entropy_error(y, np.array([0, 3], np.uint8))
    with pytest.raises(ValueError, match="t must be 2 integer class indices or one-hot rows"):
        F.cross_entropy_error(y, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="t must be 2 integer class indices or one-hot rows"):
        F.cross_entropy_error(y, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="cross_entropy_error: y must be a numeric array"):
        F.cross_entropy_error(np.array(["a", "b"]), np.array([0]))


@pytest.mark.parametrize("n", [1, 3, 100, 2000])
def test_cross_entropy_error_every_label_form_agrees(rng, n):
    y = book_softmax(rng.standard_normal((n, 10)))
    k = rng.integers(0, 10, n)
    want = -np.sum(np.log(y[np.arange(n), k])) / n
    forms = [k, k.astype(np.uint8), k.astype(np.int32), k.reshape(n, 1), np.eye(10)[k], np.eye(10)[k].ravel()]
    for t in forms:
        assert F.cross_entropy_error(y, t) == want
        assert F.cross_entropy_error(y.tolist(), t.tolist()) == want
    if n == 1:  # one sample as a 1-D row: the same number as the (1, C) batch
        for t in (k, k.reshape(()), k.astype(np.uint8), np.eye(10)[k][0]):
            assert F.cross_entropy_error(y[0], t) == want
    assert F.cross_entropy_error(y.astype(np.float32), k).dtype == np.float32


def test_cross_entropy_error_of_a_zero_probability_is_inf():
    y = np.array([[0.0, 1.0], [0.5, 0.5]])
    with pytest.warns(RuntimeWarning, match="divide by zero encountered in log"):
        assert F.cross_entropy_error(y, np.array([0, 1])) == np.inf
    with pytest.warns(RuntimeWarning, match="divide by zero encountered in log"):
        assert F.cross_entropy_error(y[0], np.array([1.0, 0.0])) == np.inf
    with pytest.warns(RuntimeWarning, match="divide by zero encountered in log"):
        assert F.cross_entropy_error(y.tolist(), [0, 1]) == np.inf


def test_softmax_loss_is_stable(rng):
    x = rng.standard_normal((4, 5))
    t = np.array([0, 4, 2, 1])
    assert F.softmax_loss(x, t) == pytest.approx(F.cross_entropy_error(F.softmax(x), t), rel=1e-13)
    assert F.softmax_loss(np.array([[1e4, -1e4]]), np.array([1])) == pytest.approx(2e4)


def _book_cross_entropy(y, t):
    """The book's cross_entropy_error, from its description (BOOK_API.md): 1e-7 inside the log."""
    if y.ndim == 1:
        t, y = t.reshape(1, t.size), y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    return -np.sum(np.log(y[np.arange(y.shape[0]), t] + 1e-7)) / y.shape[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_error_under_fastbp_book_loss_is_the_books_digit_for_digit(monkeypatch, dtype):
    from fastbp import config

    rng = np.random.default_rng(3)
    y = F.softmax(rng.standard_normal((5, 4)).astype(dtype))
    y[2, 1] = 0  # the book caps this sample's loss at -log(1e-7)
    t = np.array([0, 3, 1, 2, 2])
    onehot = np.eye(4, dtype=dtype)[t]
    cases = [(y, t), (y, onehot), (y[0], t[:1]), (y[0], onehot[0]), (y[2], np.array(1))]
    monkeypatch.setattr(config, "BOOK_LOSS", True)
    for yy, tt in cases:
        assert F.cross_entropy_error(yy, tt) == _book_cross_entropy(yy, np.asarray(tt))
    monkeypatch.setattr(config, "BOOK_LOSS", False)  # the default: exact, no cap
    with np.errstate(divide="ignore"):
        assert F.cross_entropy_error(y[2], np.array(1)) == np.inf
    assert F.cross_entropy_error(y[0], t[:1]) == -np.log(y[0, 0])
