"""fastbp.kernels.activations beyond the kernel table (tests/test_kernels.py): tanh's accuracy over the
whole float range, sigmoid's extremes, ReLU and NaN, and property tests on arbitrary finite inputs."""

import numpy as np
import pytest
from conftest import DTYPES, TOL
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal

from fastbp.kernels import activations
from fastbp.layers import Sigmoid, Tanh
from fastbp.reference import kernels as ref


def close(got, want, dtype):
    assert got.dtype == dtype
    assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


def sigmoid_fwd(x, out):
    out[...] = np.exp(-np.abs(x))  # what the layer computes with NumPy before the kernel
    activations.sigmoid_forward(x, out)


def tanh_fwd(x, out):  # the layer's kernel for each dtype
    (activations.tanh_forward_float32 if x.dtype == np.float32 else activations.tanh_forward)(x, out)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_kernel_over_the_whole_range(rng, dtype):
    tiny = np.finfo(dtype).tiny
    x = np.concatenate(
        [
            rng.standard_normal(2000),
            30 * rng.standard_normal(200),
            10.0 ** rng.uniform(np.log10(tiny), 2, 500),
            [
                0.0,
                -0.0,
                tiny / 4,
                -tiny / 4,
                0.5493,
                19.0,
                21.99,
                22.0,
                23.0,
                np.finfo(dtype).max,
                np.inf,
                np.nan,
            ],
        ]
    ).astype(dtype)
    x = np.concatenate([x, -x])
    out = np.empty_like(x)
    tanh_fwd(x, out)
    want = np.tanh(x.astype(np.float64))  # float32: against the exact value rounded once
    assert_array_equal(np.isnan(out), np.isnan(want))
    ok = ~np.isnan(want)
    assert_array_equal(np.signbit(out[ok]), np.signbit(want[ok]))  # tanh(-0) = -0
    ulp = np.spacing(np.abs(want[ok]).astype(dtype)).astype(np.float64)
    bound = 8 if dtype == np.float64 else 3  # float64: within 8 ulp of libm; float32: of the exact
    err = np.abs(out[ok] - want[ok])
    assert np.all(err <= bound * np.maximum(ulp, np.finfo(dtype).smallest_subnormal))


def test_float32_tanh_kernel_on_a_dense_grid():
    x = np.linspace(-10, 10, 400_001, dtype=np.float32)
    out = np.empty_like(x)
    activations.tanh_forward_float32(x, out)
    want = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(out - want) / np.maximum(ulp, 1e-45)) <= 3


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_extremes_are_finite_and_exact(dtype):
    x = np.array([-1e4, -800.0, -100.0, 0.0, 100.0, 800.0, 1e4], dtype)
    out = np.empty_like(x)
    sigmoid_fwd(x, out)
    assert np.isfinite(out).all()
    assert out[0] == 0.0 and out[-1] == 1.0 and out[3] == 0.5
    close(out, ref.sigmoid_forward(x), dtype)


def test_relu_propagates_nan_like_the_book():
    x = np.array([np.nan, -1.0, 2.0])
    out = np.empty_like(x)
    activations.relu_forward(x, out)
    assert np.isnan(out[0]) and out[1] == 0.0 and out[2] == 2.0


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
