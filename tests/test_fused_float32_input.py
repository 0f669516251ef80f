"""A float32 batch into a float64 network (the book's MNIST arrays are float32): the first layer lists
its nonzeros straight from it, widening them, instead of the network making a float64 copy first. The
results must be those of the float64 copy, bit for bit, on every path (listed, BLAS, small batch)."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastbp.nets import MultiLayerNet, Sequential, TwoLayerNet


def sparse(rng, shape, density):
    x = rng.random(shape)
    x[rng.random(shape) >= density] = 0
    return x.astype(np.float32)


NETS = {
    "two": lambda: TwoLayerNet(784, 50, 10),
    "multi": lambda: MultiLayerNet(784, [100, 100], 10),
}


def pair(make):
    np.random.seed(0)
    a = make()
    np.random.seed(0)
    return a, make()


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("n", [1, 3, 8, 32, 100])
@pytest.mark.parametrize("density", [0.19, 1.0])
def test_a_float32_batch_gives_what_its_float64_copy_gives(name, n, density):
    rng = np.random.default_rng(n)
    x = sparse(rng, (n, 784), density)
    t = rng.integers(0, 10, n)
    a, b = pair(NETS[name])
    assert a._takes_float32
    for _ in range(3):  # and after steps, with the buffers reused
        ga, gb = a.gradient(x, t), b.gradient(x.astype(np.float64), t)
        for k in gb:
            assert ga[k].dtype == np.float64
            assert_array_equal(ga[k], gb[k])
            a.params[k] -= 0.1 * ga[k]
            b.params[k] -= 0.1 * gb[k]
    assert a.loss(x, t) == b.loss(x.astype(np.float64), t)
    assert_array_equal(a.predict(x), b.predict(x.astype(np.float64)))
    assert a.accuracy(x, t) == b.accuracy(x.astype(np.float64), t)
    if n >= 8 and density < 0.5:
        assert a.node_of(a.layers["Affine1"]).listed  # (the case the widening listing is for)


def test_the_first_layer_keeps_the_float32_batch_and_its_own_backward_works():
    rng = np.random.default_rng(1)
    x = sparse(rng, (32, 784), 0.19)
    t = rng.integers(0, 10, 32)
    a, b = pair(NETS["two"])
    a.gradient(x, t)
    b.gradient(x.astype(np.float64), t)
    la, lb = a.layers["Affine1"], b.layers["Affine1"]
    assert la.x is x  # as the book's layer keeps its input
    dout = rng.standard_normal((32, 50))
    assert_array_equal(la.backward(dout.copy()), lb.backward(dout.copy()))
    assert_array_equal(la.dW, lb.dW)


def test_a_nonfinite_gradient_into_a_listed_float32_batch_goes_through_blas_as_numpy():
    """An inf in W2 makes the first layer's incoming gradient non-finite: dW1 then comes from BLAS,
    which needs the batch converted there (0 * inf is NaN: the list would leave it out)."""
    rng = np.random.default_rng(2)
    x = sparse(rng, (16, 784), 0.19)
    t = rng.integers(0, 10, 16)
    a, b = pair(NETS["two"])
    for net in (a, b):
        net.params["W2"][3, 4] = np.inf
    with np.errstate(invalid="ignore", over="ignore"):
        ga, gb = a.gradient(x, t), b.gradient(x.astype(np.float64), t)
    for k in gb:
        assert_array_equal(ga[k], gb[k])
    assert np.isnan(ga["W1"]).any()


@pytest.mark.parametrize("n", [2, 16])
@pytest.mark.parametrize("density", [0.19, 1.0])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_float32_batch_with_nan_or_inf_is_refused_before_anything_changes(n, density, bad):
    rng = np.random.default_rng(3)
    x = sparse(rng, (n, 784), density)
    t = rng.integers(0, 10, n)
    net = NETS["two"]()
    net.gradient(x, t)
    first = net.layers["Affine1"]
    held = first.x.copy()
    before = {k: v.copy() for k, v in net.params.items()}
    x[n - 1, 300] = bad
    for entry in (net.gradient, net.loss, net.predict):
        args = (x,) if entry == net.predict else (x, t)
        with pytest.raises(ValueError, match=rf"x contains NaN or inf \(first at index \({n - 1}, 300\)\)"):
            entry(*args)
    if first.x is not x:  # (a listed batch is held as given, as the book's layer holds its input)
        assert_array_equal(first.x, held)  # a converted copy was not overwritten by the refused batch
    for k in before:
        assert_array_equal(net.params[k], before[k])


def test_other_layouts_and_networks_that_cannot_take_float32_still_convert():
    rng = np.random.default_rng(4)
    x = sparse(rng, (20, 784), 0.19)
    t = rng.integers(0, 10, 20)
    a, b = pair(NETS["two"])
    xf = np.asfortranarray(x)  # (not C-contiguous: converted by the network)
    assert_array_equal(a.gradient(xf, t)["W1"], b.gradient(x.astype(np.float64), t)["W1"])
    assert not TwoLayerNet(784, 50, 10, dtype=np.float32)._takes_float32  # (already its dtype)
    from fastbp import layers as L

    np.random.seed(0)
    tanh = Sequential(
        [L.Affine(np.random.randn(784, 8), np.zeros(8)), L.Tanh(), L.Affine(np.random.randn(8, 10), 0)]
    )
    assert tanh._takes_float32  # a first Affine on the data lists its nonzeros whatever follows
    np.random.seed(0)
    tanh64 = Sequential(
        [L.Affine(np.random.randn(784, 8), np.zeros(8)), L.Tanh(), L.Affine(np.random.randn(8, 10), 0)]
    )
    assert_array_equal(tanh.gradient(x, t)["W1"], tanh64.gradient(x.astype(np.float64), t)["W1"])


@pytest.mark.parametrize("n", [1, 3, 16])
def test_a_float64_network_whose_weights_the_user_made_float32_still_gives_the_converted_results(n):
    """The network's dtype says float64, but every W and b is now float32: a float32 batch must give
    what its float64 copy gives (through BLAS, in the layers' mixed precision), not run the float32
    loops. Whether the first layer takes float32 is asked at each call."""

    def rebound():
        np.random.seed(0)
        net = TwoLayerNet(784, 50, 10)
        for i in (1, 2):
            for p in "Wb":
                arr = net.params[f"{p}{i}"].astype(np.float32)
                net.params[f"{p}{i}"] = arr
                setattr(net.layers[f"Affine{i}"], p, arr)
        return net

    rng = np.random.default_rng(n)
    x = sparse(rng, (n, 784), 0.19)
    t = rng.integers(0, 10, n)
    a, b = rebound(), rebound()
    ga, gb = a.gradient(x, t), b.gradient(x.astype(np.float64), t)
    for k in gb:
        assert_array_equal(ga[k], gb[k])


@pytest.mark.parametrize("n", [1, 3, 16])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_image_batch_into_a_sequential_mlp_is_flattened_per_sample_on_every_path(n, dtype):
    from fastbp import layers as L

    def net(input_shape=None):
        np.random.seed(0)
        W1, W2 = np.random.randn(784, 50) * 0.1, np.random.randn(50, 10) * 0.1
        return Sequential([L.Affine(W1, np.zeros(50)), L.Relu(), L.Affine(W2, 0)], input_shape=input_shape)

    rng = np.random.default_rng(n)
    x = sparse(rng, (n, 1, 28, 28), 0.19).astype(dtype)
    t = rng.integers(0, 10, n)
    a, b = net((1, 28, 28)), net()
    ga, gb = a.gradient(x, t), b.gradient(x.reshape(n, 784), t)
    for k in gb:
        assert_array_equal(ga[k], gb[k])
    assert a.layers["Affine1"].original_x_shape == x.shape
    assert_array_equal(a.predict(x), b.predict(x.reshape(n, 784)))
    x[n - 1, 0, 27, 5] = np.nan
    with pytest.raises(ValueError, match=rf"x contains NaN or inf \(first at index \({n - 1}, 0, 27, 5\)\)"):
        a.gradient(x, t)
