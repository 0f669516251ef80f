"""fastbp.gradient: the book's numerical_gradient, its numbers, its in-place perturbation, its restore."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp.gradient import numerical_gradient, numerical_gradient_1d, numerical_gradient_2d
from fastbp.reference.gradient import numerical_gradient as book_numerical_gradient


def _recording(x, loss):
    """f reading the outer array x (as the book's lambdas read params), recording what it saw."""
    seen = []

    def f(v):
        seen.append(x.copy())
        return loss(x)

    return f, seen


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["C", "transposed", "strided"])
def test_numerical_gradient_is_the_books_bit_for_bit(rng, dtype, layout):
    base = rng.standard_normal((4, 6)).astype(dtype)
    views = {"C": lambda a: a, "transposed": lambda a: a.T, "strided": lambda a: a[::2, 1::2]}

    def loss(v):
        return np.sum(np.sin(v) * v**2)

    got_base, want_base = base.copy(), base.copy()
    x, y = views[layout](got_base), views[layout](want_base)
    f, seen = _recording(x, loss)
    g, want_f_seen = numerical_gradient(f, x), _recording(y, loss)
    want = book_numerical_gradient(want_f_seen[0], y)
    assert g.dtype == dtype and g.shape == x.shape
    assert g.tobytes() == np.ascontiguousarray(want).tobytes()
    # every probe saw exactly the book's perturbed array, and the memory is as it was
    assert len(seen) == 2 * x.size and all(
        a.tobytes() == b.tobytes() for a, b in zip(seen, want_f_seen[1], strict=True)
    )
    assert got_base.tobytes() == base.tobytes()


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


def test_numerical_gradient_of_0d_and_empty_arrays():
    x = np.array(3.0)
    g = numerical_gradient(lambda v: float(x) ** 2, x)
    assert g.shape == () and g == pytest.approx(6.0)
    for empty in (np.zeros((0, 3)), np.zeros((3, 0)).T):
        assert numerical_gradient(lambda v: 1.0, empty).shape == empty.shape


class Boom(Exception):
    pass


def _raising_on_call(k, exc):
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == k:
            raise exc
        return float(np.sum(v))

    return f


def _awkward_values(rng, shape):
    """Values that x+h-h would not give back: -0.0, a subnormal, NaN, huge, tiny."""
    x = rng.standard_normal(shape)
    x.flat[:6] = [-0.0, 5e-324, np.nan, 1e300, 1e-300, 0.1]
    return x


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), Boom("in the loss")])
@pytest.mark.parametrize("k", [1, 2, 4, 5, 6, 9])  # +h and -h probes, first and later elements
@pytest.mark.parametrize(
    "variant, make",
    [
        ("numerical_gradient", lambda x: x),
        ("numerical_gradient", lambda x: x.reshape(6, 4).T),  # not contiguous: the flat iterator
        ("numerical_gradient_1d", lambda x: x.reshape(-1)),
        ("numerical_gradient_2d", lambda x: x.reshape(6, 4)),
    ],
)
def test_an_exception_in_the_loss_leaves_x_as_it_was(rng, exc, k, variant, make):
    """Issue 11.9: Ctrl-C during a gradient check must not leave a weight perturbed by h."""
    fn = {
        "numerical_gradient": numerical_gradient,
        "numerical_gradient_1d": numerical_gradient_1d,
        "numerical_gradient_2d": numerical_gradient_2d,
    }[variant]
    base = _awkward_values(rng, (2, 3, 4))
    before = base.tobytes()
    x = make(base)
    assert np.shares_memory(x, base)
    with pytest.raises(type(exc)):
        fn(_raising_on_call(k, exc), x)
    assert base.tobytes() == before  # bit for bit: -0.0, the subnormal and the NaN included


def test_numerical_gradient_variants(rng):
    x = rng.standard_normal(5)
    assert_allclose(numerical_gradient_1d(lambda v: np.sum(v**3), x), 3 * x**2, rtol=1e-6)
    X = rng.standard_normal((3, 2))
    assert_allclose(numerical_gradient_2d(lambda v: np.sum(v**2), X), 2 * X, rtol=1e-7)
    assert_allclose(numerical_gradient_2d(lambda v: np.sum(v**2), X[0]), 2 * X[0], rtol=1e-7)
    with pytest.raises(ValueError, match="numerical_gradient_1d: x must be 1-D, got shape"):
        numerical_gradient_1d(lambda v: 0.0, X)
    with pytest.raises(ValueError, match="numerical_gradient_2d: X must be 1-D or 2-D, got shape"):
        numerical_gradient_2d(lambda v: 0.0, np.zeros((2, 2, 2)))


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
