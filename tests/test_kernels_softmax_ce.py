"""fastbp.kernels.softmax_ce beyond the kernel table (tests/test_kernels.py): index labels and one-hot
rows agree, extreme logits stay finite, and property tests on arbitrary finite logits."""

import numpy as np
import pytest
from conftest import DTYPES
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose

from fastbp.kernels import softmax_ce
from fastbp.reference import kernels as ref


@pytest.mark.parametrize("dtype", DTYPES)
def test_onehot_and_index_labels_agree(rng, dtype):
    x = rng.standard_normal((9, 4)).astype(dtype)
    t = rng.integers(0, 4, 9)
    p1, p2 = np.empty_like(x), np.empty_like(x)
    l1 = softmax_ce.softmax_ce_forward(x, t, p1)
    l2 = softmax_ce.softmax_ce_forward_dist(x, np.eye(4, dtype=dtype)[t], p2)
    assert l1 == pytest.approx(l2, rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_ce_extreme_logits_are_finite(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype)
    t = np.array([1, 0, 2])
    p = np.empty_like(x)
    loss = softmax_ce.softmax_ce_forward(x, t, p)
    assert np.isfinite(loss) and np.isfinite(p).all()
    # row 0: -log p[1] = 2e4; row 1: log 3; row 2: 1e4 + 1e4 + log 2 - (-1e4) ... exact by hand:
    want = (2e4 + np.log(3.0) + (1e4 + np.log(2.0) + 1e4)) / 3
    assert loss == pytest.approx(want, rel=1e-6)
    dx = np.empty_like(x)
    softmax_ce.softmax_ce_backward(1.0, p, t, dx)
    assert np.isfinite(dx).all()


finite64 = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def logits_and_labels(draw):
    n = draw(st.integers(1, 12))
    c = draw(st.integers(1, 12))
    x = draw(arrays(np.float64, (n, c), elements=finite64))
    t = draw(arrays(np.int64, n, elements=st.integers(0, c - 1)))
    return x, t


@settings(max_examples=200, deadline=None)
@given(logits_and_labels())
def test_softmax_ce_is_finite_and_matches_the_twin(xt):
    x, t = xt
    p = np.empty_like(x)
    loss = softmax_ce.softmax_ce_forward(x, t, p)
    want_loss, want_p = ref.softmax_ce_forward(x, t)
    assert np.isfinite(loss) and loss >= 0
    assert abs(loss - want_loss) <= 1e-12 * max(1.0, abs(want_loss))
    assert_allclose(p, want_p, rtol=1e-12, atol=1e-300)
    assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    dx = np.empty_like(x)
    softmax_ce.softmax_ce_backward(1.0, p, t, dx)
    assert_allclose(dx.sum(axis=1), 0.0, atol=1e-12)  # each row of p - onehot sums to 0
