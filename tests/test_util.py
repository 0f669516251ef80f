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
