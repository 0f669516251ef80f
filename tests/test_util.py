"""fastbp.util: smooth_curve and shuffle_dataset."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp.util import shuffle_dataset, smooth_curve


def test_smooth_curve_keeps_length_and_constants(rng):
    assert_allclose(smooth_curve(np.full(30, 2.5)), 2.5, rtol=1e-15)
    y = rng.standard_normal(200)
    s = smooth_curve(y)
    assert s.shape == y.shape
    assert s.std() < y.std()  # it smooths
    w = np.kaiser(11, 2)
    w /= w.sum()
    assert s[50] == pytest.approx(np.dot(w, y[45:56]), rel=1e-13)  # an interior point, by hand
    ext = np.r_[y[5:0:-1], y[:6]]  # the reflected start
    assert s[0] == pytest.approx(np.dot(w, ext), rel=1e-13)
    ext = np.r_[y[-6:], y[-1:-6:-1]]  # the end, reflected repeating the last point (the book's)
    assert s[-1] == pytest.approx(np.dot(w, ext), rel=1e-13)


def book_smooth_curve(x):
    """The book's smooth_curve as described (BOOK_API.md, issue 12.3): pad, 'valid' convolution, trim 5."""
    window_len = 11
    s = np.r_[x[window_len - 1 : 0 : -1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5 : len(y) - 5]


def direct_smooth_curve(x):
    """Point by point: y_j = sum_k w_k x[m(j - 5 + k)], m reflecting at the start and repeating the end."""
    n, w = len(x), np.kaiser(11, 2)
    w = w / w.sum()

    def m(i):
        return -i if i < 0 else (2 * n - 1 - i if i >= n else i)

    return np.array([sum(w[k] * x[m(j - 5 + k)] for k in range(11)) for j in range(n)])


@pytest.mark.parametrize("n", [11, 12, 50, 1000])
def test_smooth_curve_is_the_books_ends_included(rng, n):
    x = rng.standard_normal(n) + rng.random() * 10
    got, want = smooth_curve(x), book_smooth_curve(x)
    assert len(want) == n and got.shape == (n,)
    assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert_allclose(got, direct_smooth_curve(x), rtol=1e-12, atol=1e-12)
    assert_allclose(
        smooth_curve(x.astype(np.float32).tolist()), book_smooth_curve(x.astype(np.float32)), rtol=1e-12
    )


@pytest.mark.parametrize("n", range(6, 11))
def test_smooth_curve_short_curves_keep_their_length(rng, n):
    # the book's returns 0 to 9 points here; fastbp's the same rule at full length
    x = rng.standard_normal(n)
    assert len(book_smooth_curve(x)) < n
    assert_allclose(smooth_curve(x), direct_smooth_curve(x), rtol=1e-12, atol=1e-12)


def test_smooth_curve_rejects_short_or_2d_input():
    with pytest.raises(ValueError, match="more than 5 points"):
        smooth_curve([1.0, 2.0])
    with pytest.raises(ValueError, match="must be 1-D"):
        smooth_curve(np.ones((3, 10)))


@pytest.mark.parametrize("shape", [(10, 4), (10, 1, 3, 3)])
def test_shuffle_dataset_draws_one_permutation(rng, shape):
    x = rng.standard_normal(shape)
    t = np.arange(10)
    np.random.seed(4)
    xs, ts = shuffle_dataset(x, t)
    np.random.seed(4)
    p = np.random.permutation(10)
    assert_array_equal(ts, p)
    assert_array_equal(xs, x[p])
    with pytest.raises(ValueError, match="same number of samples"):
        shuffle_dataset(x, t[:5])
