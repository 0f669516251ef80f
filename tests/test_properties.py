"""Property tests (hypothesis): kernels agree with their twins on arbitrary finite inputs."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose

from fastbp.kernels import activations, softmax_ce
from fastbp.layers import Sigmoid, Tanh
from fastbp.reference import kernels as ref

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


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(1, 50), elements=st.floats(-1e300, 1e300, width=64)))
def test_sigmoid_and_tanh_are_finite_and_bounded(x):
    x = np.ascontiguousarray(x)
    for layer, lo, hi in ((Sigmoid(), 0.0, 1.0), (Tanh(), -1.0, 1.0)):
        out = layer.forward(x)
        assert np.isfinite(out).all() and (out >= lo).all() and (out <= hi).all()
    out = np.exp(-np.abs(x))
    activations.sigmoid_forward(x, out)
    assert_allclose(out, ref.sigmoid_forward(x), rtol=1e-15, atol=1e-300)
