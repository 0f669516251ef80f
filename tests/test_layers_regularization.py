"""fastbp.layers.regularization: Dropout and BatchNormalization -- the book's draws and statistics, NumPy
twins, gradients, a backward after a test-mode forward, bad input."""

import numpy as np
import pytest
from conftest import DTYPES, numgrad, rel_err
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import layers as L
from fastbp.reference import layers as R


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 5), (7, 3), (2, 3, 4, 4)])
def test_dropout_draws_the_books_mask(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    np.random.seed(3)
    out = L.Dropout(0.3).forward(x)
    np.random.seed(3)
    mask = np.random.rand(*shape) > 0.3
    assert_array_equal(out, x * mask)
    assert out.dtype == dtype
    np.random.seed(3)
    ref = R.Dropout(0.3)
    assert_array_equal(ref.forward(x), out)


def test_dropout_train_and_test_modes_and_backward(rng):
    x = rng.standard_normal((4, 6))
    layer = L.Dropout(0.5)
    np.random.seed(0)
    layer.forward(x)
    mask = layer.mask.copy()
    d = rng.standard_normal((4, 6))
    assert_array_equal(layer.backward(d), d * mask)
    assert_allclose(layer.forward(x, train_flg=False), x * 0.5, rtol=1e-15)
    assert_array_equal(layer.mask, mask)  # test mode draws nothing and keeps the mask
    state = np.random.get_state()[1].copy()
    layer.forward(x, False)
    assert_array_equal(np.random.get_state()[1], state)


def test_dropout_rejects_bad_arguments():
    for r in (-0.1, 1.0, "0.5"):
        with pytest.raises(ValueError, match=r"dropout_ratio must be a number in \[0, 1\)"):
            L.Dropout(r)
    with pytest.raises(RuntimeError, match="call forward with train_flg=True before backward"):
        L.Dropout().backward(np.ones(3))
    with pytest.raises(TypeError, match="Dropout.forward: x must be a float32 or float64 array"):
        L.Dropout().forward(np.ones(3, int))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 3), (5, 4), (3, 2, 3, 3), (64, 100)])
def test_batchnorm_matches_the_twin_in_both_modes(shape, dtype, rng):
    d = int(np.prod(shape[1:]))
    gamma, beta = rng.standard_normal(d).astype(dtype), rng.standard_normal(d).astype(dtype)
    fast, slow = L.BatchNormalization(gamma, beta), R.BatchNormalization(gamma, beta)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype is np.float32 else dict(rtol=1e-10, atol=1e-12)
    for _ in range(3):
        x = (2 * rng.standard_normal(shape) + 1).astype(dtype)
        out = fast.forward(x)
        assert out.shape == shape and out.dtype == dtype
        assert_allclose(out, slow.forward(x), **tol)
    assert_allclose(fast.running_mean, slow.running_mean, **tol)
    assert_allclose(fast.running_var, slow.running_var, **tol)
    assert_allclose(fast.xn, slow.xn, **tol)
    g = rng.standard_normal(shape).astype(dtype)
    assert_allclose(fast.backward(g), slow.backward(g), **tol)
    assert_allclose(fast.dgamma, slow.dgamma, **tol)
    assert_allclose(fast.dbeta, slow.dbeta, **tol)
    assert_allclose(fast.forward(x, train_flg=False), slow.forward(x, train_flg=False), **tol)


def test_batchnorm_statistics_are_the_books(rng):
    x = rng.standard_normal((8, 3)) * 3 + 2
    layer = L.BatchNormalization(np.ones(3), np.zeros(3), momentum=0.9)
    out = layer.forward(x)
    std = np.sqrt(x.var(axis=0) + 1e-6)  # biased variance, eps 10e-7
    assert_allclose(layer.std, std, rtol=1e-14)
    assert_allclose(out, (x - x.mean(axis=0)) / std, rtol=1e-12)
    assert_allclose(layer.running_mean, 0.1 * x.mean(axis=0), rtol=1e-14)
    assert_allclose(layer.running_var, 0.1 * x.var(axis=0), rtol=1e-14)
    assert layer.batch_size == 8 and layer.input_shape == (8, 3)


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 2, 2)])
def test_batchnorm_backward_is_the_gradient(shape, rng):
    d = int(np.prod(shape[1:]))
    gamma, beta = rng.standard_normal(d), rng.standard_normal(d)
    layer = L.BatchNormalization(gamma, beta)
    x = rng.standard_normal(shape)
    r = rng.standard_normal(shape)

    def f(_):
        return np.sum(layer.forward(x) * r)

    want_dx = numgrad(lambda v: np.sum(layer.forward(v) * r), x)
    want_dg, want_db = numgrad(f, gamma), numgrad(f, beta)
    layer.forward(x)
    assert rel_err(layer.backward(r), want_dx) < 1e-6
    assert rel_err(layer.dgamma, want_dg) < 1e-6
    assert rel_err(layer.dbeta, want_db) < 1e-6


def test_batchnorm_rejects_bad_input():
    with pytest.raises(ValueError, match="x has 5 activations per sample .* gamma has 3"):
        L.BatchNormalization(np.ones(3), np.zeros(3)).forward(np.ones((2, 5)))
    with pytest.raises(ValueError, match="beta must match gamma"):
        L.BatchNormalization(np.ones(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0, 1\]"):
        L.BatchNormalization(np.ones(3), np.zeros(3), momentum=2)
    with pytest.raises(RuntimeError, match="before backward"):
        L.BatchNormalization(np.ones(3), np.zeros(3)).backward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\)"):
        L.BatchNormalization(np.ones(3), np.zeros(3), running_mean=np.zeros(2))


def test_backward_after_a_test_mode_forward_uses_the_training_batch():
    r = np.random.default_rng(0)
    x4 = r.standard_normal((4, 6))
    bn, ref = L.BatchNormalization(np.ones(6), np.zeros(6)), L.BatchNormalization(np.ones(6), np.zeros(6))
    bn.forward(x4, True)
    ref.forward(x4, True)
    bn.forward(x4[:2], False)
    g = r.standard_normal((4, 6))
    assert_allclose(bn.backward(g), ref.backward(g), rtol=1e-14)
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape \(4, 6\)"):
        bn.backward(np.ones((2, 6)))
    dr = L.Dropout()
    np.random.seed(0)
    dr.forward(x4, True)
    dr.forward(x4[:2], False)
    assert_array_equal(dr.backward(g), g * dr.mask)
    with pytest.raises(ValueError, match=r"shape \(4, 6\)"):
        dr.backward(np.ones((2, 6)))


def test_dropout_takes_a_0d_array_as_its_twin():  # 11.13
    from fastbp.reference import layers as R

    for train in (True, False):
        np.random.seed(5)
        got = L.Dropout(0.3).forward(np.array(2.0), train_flg=train)
        np.random.seed(5)
        want = R.Dropout(0.3).forward(np.array(2.0), train_flg=train)
        assert np.shape(got) == () and float(got) == float(want)
    layer = L.Dropout(0.5)
    np.random.seed(0)
    layer.forward(np.array(1.5))
    assert_array_equal(layer.backward(np.array(1.0)), layer.mask * 1.0)
