"""layers/products.py: a layer's products in the layout BLAS runs faster, chosen per shape where it
runs, and only among layouts whose numbers are the usual one's bit for bit."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastbp import config
from fastbp.layers import Affine, products
from fastbp.nets import MultiLayerNet, TwoLayerNet
from fastbp.optimizer import SGD


@pytest.fixture
def fresh(monkeypatch):
    """Choices forgotten before and after; the other layout kept whenever it is allowed to be."""
    products.forget()
    monkeypatch.setattr(config, "LAYOUT_MIN_GAIN", 1e9)
    yield
    products.forget()


def bits(a):
    return a.view({8: np.uint64, 4: np.uint32}[a.itemsize])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(1, 7, 3), (127, 20, 5), (128, 33, 1), (300, 784, 50), (200, 17, 40)])
def test_both_products_are_numpys_on_every_call(fresh, dtype, shape):
    n, d, m = shape
    rng = np.random.default_rng(0)
    owner = Affine(rng.standard_normal((d, m)).astype(dtype), np.zeros(m, dtype))
    for call in range(2 * config.LAYOUT_TRIALS + 3):  # the first, the trials, then the choice
        x = rng.standard_normal((n, d)).astype(dtype)
        g = rng.standard_normal((n, m)).astype(dtype)
        out, dW = np.full((n, m), np.nan, dtype), np.full((d, m), np.nan, dtype)
        products.forward(owner, x, owner.W, out)
        products.weight_grad(owner, x, g, dW)
        assert_array_equal(bits(out), bits(np.dot(x, owner.W)), err_msg=f"call {call}")
        assert_array_equal(bits(dW), bits(np.dot(x.T, g)), err_msg=f"call {call}")
    if n >= config.LAYOUT_MIN_ROWS:
        assert len(products.chosen()) == 2  # (both shapes were decided)
    else:
        assert products.chosen() == {}


def test_a_layout_whose_bits_differ_is_never_kept(fresh, monkeypatch):
    """The other layout is tried only as a matter of speed: where its sums come out otherwise (here
    made so), the usual one is kept, however fast the other."""
    real = products.transpose_into

    def off_by_an_ulp(src, dst):
        real(src, dst)
        dst[0, 0] = np.nextafter(dst[0, 0], np.inf)

    monkeypatch.setattr(products, "transpose_into", off_by_an_ulp)
    monkeypatch.setattr(products, "_agree", lambda *key: True)  # (as if random operands had agreed)
    rng = np.random.default_rng(1)
    owner = Affine(rng.standard_normal((30, 4)), np.zeros(4))
    x = rng.standard_normal((200, 30))
    for call in range(2 * config.LAYOUT_TRIALS + 2):
        out = np.empty((200, 4))
        products.forward(owner, x, owner.W, out)
        assert_array_equal(bits(out), bits(np.dot(x, owner.W)), err_msg=f"call {call}")
    assert set(products.chosen().values()) == {"usual"}


@pytest.mark.parametrize("make", [lambda dt: TwoLayerNet(784, 50, 10, dtype=dt),
                                  lambda dt: MultiLayerNet(784, [100, 100], 10, dtype=dt)])  # fmt: skip
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_ends_as_with_the_usual_layout_only(fresh, monkeypatch, make, dtype):
    runs = []
    for min_rows in (config.LAYOUT_MIN_ROWS, 10**9):  # the other layouts allowed, then never
        monkeypatch.setattr(config, "LAYOUT_MIN_ROWS", min_rows)
        np.random.seed(0)
        net, opt = make(dtype), SGD(0.1)
        for s in range(2 * config.LAYOUT_TRIALS + 3):
            r = np.random.default_rng(s)
            x = r.random((160, 784)).astype(dtype)  # dense: the BLAS path
            opt.update(net.params, net.gradient(x, r.integers(0, 10, 160)))
        runs.append(net.params)
    for k in runs[1]:
        assert_array_equal(bits(runs[0][k]), bits(runs[1][k]), err_msg=k)
    if not any(v == "other" for v in products.chosen().values()):
        pytest.skip("this BLAS sums every shape here otherwise in the other layout: none was tried")


@pytest.mark.parametrize("dtype, shape", [(np.float64, (500, 1000, 13)), (np.float32, (128, 300, 7))])
def test_a_first_product_that_is_exact_proves_nothing(fresh, dtype, shape):
    """A weight of zeros (logistic regression's start) makes the first product exact in any summation
    order; the layouts of these shapes sum differently with OpenBLAS here: no call may give other bits
    than np.dot's, then or later."""
    n, d, m = shape
    rng = np.random.default_rng(5)
    owner = Affine(np.zeros((d, m), dtype), np.zeros(m, dtype))
    for call in range(2 * config.LAYOUT_TRIALS + 4):
        x = rng.standard_normal((n, d)).astype(dtype)
        out = np.empty((n, m), dtype)
        products.forward(owner, x, owner.W, out)
        assert_array_equal(bits(out), bits(np.dot(x, owner.W)), err_msg=f"call {call}")
        owner.W[...] = rng.standard_normal((d, m))  # (the weights move on)


def test_another_blas_thread_count_is_another_shape(fresh, monkeypatch):
    """OpenBLAS may sum in another order with another thread count: a layout checked at one count is
    not used at another (the count is part of the key)."""
    from fastbp import _blas_lib

    rng = np.random.default_rng(6)
    owner = Affine(rng.standard_normal((40, 6)), np.zeros(6))
    x = rng.standard_normal((150, 40))
    for count in (1, 2):
        monkeypatch.setattr(_blas_lib, "threads", lambda count=count: count)
        out = np.empty((150, 6))
        products.forward(owner, x, owner.W, out)
    assert {k[-1] for k in products._TRIALS} == {1, 2}
