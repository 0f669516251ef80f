"""A dense batch through BLAS is checked for NaN/inf through its first product (fused/affine.py): the
network refuses it naming x, changing nothing, exactly as when x itself was scanned; a product that is
not finite for another reason (an overflow, a NaN/inf weight) is not a refusal, and gives NumPy's
numbers."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from test_failed_calls import assert_unchanged, snapshot

from fastbp import config
from fastbp import layers as L
from fastbp.nets import MultiLayerNet, Sequential, TwoLayerNet
from fastbp.optimizer import SGD

NETS = {
    "two": lambda dt: TwoLayerNet(784, 50, 10, dtype=dt),
    "two-wide": lambda dt: TwoLayerNet(784, 64, 10, dtype=dt),  # a width the list is not compiled for
    "multi": lambda dt: MultiLayerNet(784, [100, 100], 10, dtype=dt),
    "sequential": lambda dt: Sequential(
        [
            L.Affine(np.random.randn(784, 30).astype(dt) * 0.05, np.zeros(30, dt)),
            L.Tanh(),
            L.Affine(np.random.randn(30, 10).astype(dt) * 0.3, np.zeros(10, dt)),
        ]  # fmt: skip
    ),
}
# (network dtype, batch dtype): "mixed" is a float32 batch into a float64 network, converted as checked
DTYPES = {"float64": (np.float64, np.float64), "float32": (np.float32, np.float32),
          "mixed": (np.float64, np.float32)}  # fmt: skip


def batch(n, dtype, seed=0):
    r = np.random.default_rng(seed)
    return r.random((n, 784)).astype(dtype), r.integers(0, 10, n)  # dense: no zeros


def trained(name, net_dt, x_dt, n, steps=2):
    """A network and its SGD after ``steps`` good steps on dense batches of n (the buffers in use)."""
    np.random.seed(0)
    net, opt = NETS[name](net_dt), SGD(0.1)
    for s in range(steps):
        x, t = batch(n, x_dt, seed=10 + s)
        opt.update(net.params, net.gradient(x, t))
    return net, opt


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("dtypes", sorted(DTYPES))
@pytest.mark.parametrize("n", [config.SMALL_BATCH + 1, 40])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("steps", [1, 2])  # the held buffer is either of the two the product takes turns in
def test_a_dense_batch_with_nan_or_inf_is_refused_naming_x_and_changes_nothing(name, dtypes, n, value, steps):
    net_dt, x_dt = DTYPES[dtypes]
    net, opt = trained(name, net_dt, x_dt, n, steps)
    x, t = batch(n, x_dt, seed=1)
    at = (n - 1, 783) if n % 2 else (n // 2, 5)  # the last entry, or one inside
    x[at] = value
    for method in ("gradient", "loss", "predict"):
        before = snapshot(net, opt)
        with pytest.raises(
            ValueError, match=rf"x contains NaN or inf \(first at index \({at[0]}, {at[1]}\)\)"
        ):
            getattr(net, method)(*((x,) if method == "predict" else (x, t)))
        assert_unchanged(before, snapshot(net, opt))
    # and the network goes on as its twin that never saw the bad batch
    np.random.seed(0)
    twin, topt = trained(name, net_dt, x_dt, n, steps)
    x[...] = batch(n, x_dt, seed=2)[0]
    for a, o in ((net, opt), (twin, topt)):
        o.update(a.params, a.gradient(x, t))
    for k in twin.params:
        assert_array_equal(net.params[k], twin.params[k])


def test_a_nan_met_only_by_a_zero_row_of_w_is_still_found():
    """NaN * 0 is NaN: the product shows x's NaN even where the weights it meets are all zero."""
    net, opt = trained("two", np.float64, np.float64, 16)
    net.params["W1"][7] = 0.0
    x, t = batch(16, np.float64, seed=3)
    x[4, 7] = np.nan
    before = snapshot(net, opt)
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        net.gradient(x, t)
    assert_unchanged(before, snapshot(net, opt))


@pytest.mark.parametrize("name", ["two", "two-wide", "multi"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", ["overflow", "inf-weight", "nan-weight"])
def test_a_product_not_finite_for_another_reason_is_numpys(name, dtype, case):
    """A finite x whose product overflows, or a NaN/inf weight: no refusal, NumPy's numbers."""
    x, t = batch(24, dtype, seed=4)
    nets = []
    for backend in ("fastbp", "numpy"):
        np.random.seed(0)
        make = {"two": TwoLayerNet(784, 50, 10, dtype=dtype, backend=backend),
                "two-wide": TwoLayerNet(784, 64, 10, dtype=dtype, backend=backend),
                "multi": MultiLayerNet(784, [100, 100], 10, dtype=dtype, backend=backend)}  # fmt: skip
        nets.append(make[name])
    big = np.finfo(dtype).max / 4
    xs = x.copy()
    if case == "overflow":
        xs[3] = big  # finite, but x W overflows
    for net in nets:
        if case != "overflow":
            net.params["W1"][100, 2] = np.inf if case == "inf-weight" else np.nan
    with np.errstate(all="ignore"):
        got, want = (net.gradient(xs, t) for net in nets)
        losses = [net.loss(xs, t) for net in nets]
    tol = dict(rtol=1e-7, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-3, atol=1e-6)
    assert_allclose(losses[0], losses[1], **tol)
    for k in want:  # NaN where NumPy has NaN, inf where it has inf (assert_allclose compares those exactly)
        assert_allclose(got[k], want[k], **tol)


@pytest.mark.parametrize("n", [200, 40])  # the layers in BLAS; the one-call step (or, sparse, the layers)
@pytest.mark.parametrize("sparse", [False, True])
def test_an_image_batch_in_float32_is_refused_naming_its_own_index_and_changes_nothing(n, sparse):
    """A float32 image batch into a float64 Sequential: flattened, not converted into the first
    layer's buffer, before it is checked."""
    np.random.seed(0)
    net = Sequential(
        [L.Affine(np.random.randn(784, 50) * 0.05, np.zeros(50)), L.Relu(),
         L.Affine(np.random.randn(50, 10) * 0.3, np.zeros(10))], input_shape=(1, 28, 28),
    )  # fmt: skip
    opt = SGD(0.1)
    r = np.random.default_rng(7)
    x = r.random((n, 1, 28, 28)).astype(np.float32)
    if sparse:
        x[x < 0.8] = 0
    t = r.integers(0, 10, n)
    opt.update(net.params, net.gradient(x, t))
    x = x.copy()
    x[2, 0, 14, 0] = np.nan
    before = snapshot(net, opt)
    with pytest.raises(ValueError, match=r"x contains NaN or inf \(first at index \(2, 0, 14, 0\)\)"):
        net.gradient(x, t)
    assert_unchanged(before, snapshot(net, opt))
