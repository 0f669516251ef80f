"""fastbp.kernels.softmax_ce beyond the kernel table (tests/test_kernels.py): index labels and one-hot
rows agree, extreme logits stay finite, and property tests on arbitrary finite logits."""

import numpy as np
import pytest
from conftest import DTYPES
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numba import njit
from numpy.testing import assert_allclose, assert_array_equal

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


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_softmax_exp_is_accurate_over_its_whole_range(rng, dtype):
    # (kernels/rules.exp_nonpositive, through the kernel that runs it over a batch of shifted scores)
    lowest = -746.0 if dtype == np.float64 else -104.0
    x = np.concatenate(
        [
            -rng.exponential(3.0, 20_000),
            rng.uniform(lowest, 0.0, 20_000),
            -(10.0 ** rng.uniform(-320, 2.9, 5_000)),
            np.linspace(lowest, 0.0, 20_001),
            [0.0, -0.0, -np.log(2) / 2, -745.13, -745.2, -745.3, -1e4, -np.finfo(dtype).max, -np.inf, np.nan],
        ]
    ).astype(dtype)
    got = x.copy().reshape(1, -1)
    njit(lambda p: softmax_ce._exp_all(p))(got)  # (compiled: the flat loop the kernels run)
    got = got.ravel()
    # against the exact exp: x86's long double carries 11 more bits than float64 (where it is float64
    # itself, NumPy's exp, within 1 ulp of the exact, is the reference and the bound doubles)
    extended = np.finfo(np.longdouble).eps < 1e-18
    want = np.exp(x.astype(np.longdouble if extended else np.float64))
    assert got.dtype == dtype
    assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.all(got[x == 0] == 1)  # the row's maximum: exactly 1
    if dtype == np.float64:  # the last argument whose exp rounds to the smallest subnormal, not to 0
        assert got[x == -745.13].tolist() == [5e-324]
    ok = ~np.isnan(want)
    ulp = np.maximum(np.spacing(want[ok].astype(dtype)), np.finfo(dtype).smallest_subnormal)
    err = np.abs(got[ok].astype(want.dtype) - want[ok]) / ulp.astype(want.dtype)
    # (measured here: float64 1.12 ulp at most, NumPy's own 0.69; float32 correctly rounded)
    assert err.max() <= (0.5 if dtype == np.float32 else 1.5 if extended else 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["in place", "F order", "strided"])
def test_the_forward_takes_any_layout_of_p_and_may_write_over_x(rng, dtype, layout):
    x = (3 * rng.standard_normal((7, 5))).astype(dtype)
    t = rng.integers(0, 5, 7)
    want = np.empty_like(x)
    loss = softmax_ce.softmax_ce_forward(x, t, want)
    onehot = np.eye(5, dtype=dtype)[t]
    for forward, target in ((softmax_ce.softmax_ce_forward, t), (softmax_ce.softmax_ce_forward_dist, onehot)):
        if layout == "in place":
            xs = p = x.copy()
        elif layout == "F order":
            xs, p = x, np.full(x.shape, 7, dtype, order="F")
        else:
            xs, p = x, np.full((7, 10), 7, dtype)[:, ::2]
        got = forward(xs, target, p)
        assert_allclose(got, loss, rtol=1e-6 if dtype == np.float32 else 1e-14)
        assert_allclose(p, want, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=0)
