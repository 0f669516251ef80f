"""A ReLU MLP's training step at batches above SMALL_BATCH runs as one compiled call through NumPy's
BLAS (kernels/mlp_blas.py), the first layer's products through its list of nonzeros where it would
list the batch -- from LAYOUT_MIN_ROWS on once the layers' products have settled on their layouts,
made in those: the numbers, the layers' attributes and the refusals must be those of the layers run one by
one."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from test_failed_calls import assert_unchanged, snapshot

from fastbp import config
from fastbp import layers as L
from fastbp._blas_lib import address
from fastbp.fused import mlp as fused_mlp
from fastbp.kernels import mlp_blas
from fastbp.nets import MultiLayerNet, Sequential, TwoLayerNet
from fastbp.optimizer import SGD

pytestmark = pytest.mark.skipif(not address(np.float64), reason="NumPy's BLAS is not scipy-openblas here")

NETS = {
    "two": lambda dt: TwoLayerNet(784, 50, 10, dtype=dt),
    "multi": lambda dt: MultiLayerNet(784, [100, 100, 100], 10, dtype=dt),
    "odd": lambda dt: MultiLayerNet(30, [7, 13], 4, dtype=dt),
    "images": lambda dt: Sequential(
        [
            L.Affine(np.random.randn(784, 20).astype(dt) * 0.05, np.zeros(20, dt)),
            L.Relu(),
            L.Affine(np.random.randn(20, 10).astype(dt) * 0.3, np.zeros(10, dt)),
        ],
        input_shape=(1, 28, 28),
    ),  # fmt: skip
}


def pair(name, dtype):
    np.random.seed(0)
    a = NETS[name](dtype)
    np.random.seed(0)
    return a, NETS[name](dtype)


def batch(rng, net, n, dtype, sparse):
    shape = (n, 1, 28, 28) if net._sample_shape == (1, 28, 28) else (n, net.params["W1"].shape[0])
    x = rng.random(shape)
    if sparse:
        x[x < 0.8] = 0
    return x.astype(dtype), rng.integers(0, net.output_size, n)


@pytest.fixture
def counted(monkeypatch):
    """How many compiled steps ran (and of them, how many went on to the end)."""
    seen = {"calls": 0, "done": 0, "listed": 0}
    real = mlp_blas.mlp_blas_step

    def step(*args):
        loss, code = real(*args)
        seen["calls"] += 1
        seen["done"] += code in (mlp_blas.DONE, mlp_blas.LISTED)
        seen["listed"] += code == mlp_blas.LISTED
        return loss, code

    monkeypatch.setattr(fused_mlp._mlp_blas, "mlp_blas_step", step)
    return seen


USUAL_ADDRESSES = fused_mlp._ADDRESS


def layers_one_by_one(monkeypatch, on):
    """With ``on``, no batch takes the compiled step (no BLAS to call from it); else as usual."""
    monkeypatch.setattr(fused_mlp, "_ADDRESS", {"d": 0, "f": 0} if on else USUAL_ADDRESSES)


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32, "mixed"])  # mixed: float32 x, float64 network
def test_steps_are_the_layers_one_by_one_bit_for_bit(monkeypatch, counted, name, dtype):
    a, b = pair(name, np.float64 if dtype == "mixed" else dtype)
    dtype = np.float32 if dtype == "mixed" else dtype
    oa, ob = SGD(0.1), SGD(0.1)
    rng = np.random.default_rng(1)
    sizes = [config.SMALL_BATCH + 1, 32, 100, 7, config.LAYOUT_MIN_ROWS - 1, 3, 16]
    for i, n in enumerate(sizes * 2):
        x, t = batch(rng, a, n, dtype, sparse=i % 5 == 4)
        layers_one_by_one(monkeypatch, False)
        la = a.train_step(x, t, oa)
        ga = {k: v.copy() for k, v in a.gradient(x, t).items()}
        layers_one_by_one(monkeypatch, True)  # b: the layers one by one (no compiled step at any batch)
        gb = b.gradient(x, t)
        lb = b.loss_layer.loss
        ob.update(b.params, gb)
        gb = b.gradient(x, t)
        assert la == lb, (i, n)
        for k in b.params:
            assert_array_equal(a.params[k], b.params[k], err_msg=f"{k} at step {i}")
            assert_array_equal(ga[k], gb[k], err_msg=f"d{k} at step {i}")
        for key, layer in b.layers.items():  # the attributes the book's scripts read
            for attr in ("x", "out", "mask"):
                if getattr(layer, attr, None) is not None:
                    got, want = getattr(a.layers[key], attr), getattr(layer, attr)
                    assert_array_equal(got, want, err_msg=key + attr)
                    assert got.dtype == want.dtype, key + attr  # (a listed float32 batch: kept as it is)
    assert counted["done"] >= 8  # (a's steps above SMALL_BATCH: 10, less a first one that sets SGD up)
    if name in ("two", "multi"):  # (the list's products: widths 50 and 100)
        assert counted["listed"] > 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32, "mixed"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_nan_or_inf_in_x_is_refused_naming_it_and_changes_nothing(counted, dtype, value):
    a, _ = pair("two", np.float64 if dtype == "mixed" else dtype)
    dtype = np.float32 if dtype == "mixed" else dtype
    opt = SGD(0.1)
    rng = np.random.default_rng(2)
    for _ in range(2):
        a.train_step(*batch(rng, a, 32, dtype, False), opt)
    x, t = batch(rng, a, 32, dtype, False)
    x[31, 700] = value
    before = snapshot(a, opt)
    for call in (lambda: a.train_step(x, t, opt), lambda: a.gradient(x, t)):
        with pytest.raises(ValueError, match=r"x contains NaN or inf \(first at index \(31, 700\)\)"):
            call()
        assert_unchanged(before, snapshot(a, opt))
    assert counted["calls"] >= 2  # (the good steps; a float32 batch is refused as it is converted)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weight", ["W1 inf", "W1 huge"])  # huge: the scores overflow, the gradients NaN
@pytest.mark.parametrize("dtype", [np.float64, "mixed"])
def test_a_nonfinite_weight_or_overflow_takes_numpys_numbers(monkeypatch, sparse, weight, dtype):
    a, b = pair("two", np.float64)
    for net in (a, b):
        if weight == "W1 inf":
            net.params["W1"][5, 3] = np.inf
        else:
            net.params["W1"][...] = 1e200
    x, t = batch(np.random.default_rng(3), a, 20, np.float32 if dtype == "mixed" else dtype, sparse)
    oa, ob = SGD(0.1), SGD(0.1)
    with np.errstate(all="ignore"):
        for _ in range(2):  # (the second folds the update in)
            layers_one_by_one(monkeypatch, False)
            la = a.train_step(x, t, oa)
            ga = a.gradient(x, t)
            layers_one_by_one(monkeypatch, True)
            gb = b.gradient(x, t)
            lb = b.loss_layer.loss
            ob.update(b.params, gb)
            gb = b.gradient(x, t)
            assert_array_equal(la, lb)
            for k in gb:
                assert_array_equal(a.params[k], b.params[k], err_msg=k)
                assert_array_equal(ga[k], gb[k], err_msg=k)


def test_without_numpys_blas_the_layers_run(monkeypatch, counted):
    monkeypatch.setattr(fused_mlp, "_ADDRESS", {"d": 0, "f": 0})
    a, b = pair("two", np.float64)
    x, t = batch(np.random.default_rng(4), a, 20, np.float64, False)
    ga, gb = a.gradient(x, t), b.gradient(x, t)
    for k in gb:
        assert_array_equal(ga[k], gb[k])
    assert counted["calls"] == 0


@pytest.mark.parametrize("sizes, n", [((30, [1, 5], 3), 20), ((1, [5], 3), 20), ((30, [5], 3), 1)])
def test_a_dimension_of_one_takes_the_layers(monkeypatch, counted, sizes, n):
    monkeypatch.setattr(config, "SMALL_BATCH", 0)  # (batch 1 above it too)
    np.random.seed(0)
    net = MultiLayerNet(*sizes)
    x, t = np.random.rand(n, sizes[0]), np.arange(n) % 3
    net.gradient(x, t)
    assert counted["calls"] == 0  # (NumPy makes a product with a dimension of 1 by gemv)


def test_small_batch_changed_between_calls_keeps_the_numbers(monkeypatch):
    """The arrays kept per batch size serve whatever SMALL_BATCH is when they are used (fastbp warmup
    switches it between calls on one network: the list buffers were once left out, and written past)."""
    a, b = pair("two", np.float64)
    x, t = batch(np.random.default_rng(6), a, 12, np.float64, True)
    layers_one_by_one(monkeypatch, True)
    want = {k: v.copy() for k, v in b.gradient(x, t).items()}
    layers_one_by_one(monkeypatch, False)
    loops = None  # (the compiled loops' numbers are their own: kernels/mlp.py)
    for small in (10**6, 0, 10**6, 0):
        monkeypatch.setattr(config, "SMALL_BATCH", small)
        got = {k: v.copy() for k, v in a.gradient(x, t).items()}
        if small:
            loops = loops or got
        for k in want:
            assert_array_equal(got[k], loops[k] if small else want[k], err_msg=f"{k}, SMALL_BATCH {small}")


@pytest.mark.parametrize("n", [2, 40])
@pytest.mark.parametrize("shape", [(784, 60), (700, 50)])
def test_weights_rebound_to_shapes_that_do_not_chain_are_numpys_error(n, shape):
    """The compiled code does not check its indices: weights whose shapes do not chain (from x's
    features to the scores) go to the layers, and NumPy refuses them."""
    a, _ = pair("two", np.float64)
    opt = SGD(0.1)
    rng = np.random.default_rng(7)
    for _ in range(2):
        a.train_step(*batch(rng, a, n, np.float64, False), opt)
    a.params["W1"] = a.layers["Affine1"].W = np.zeros(shape)
    x, t = batch(rng, a, n, np.float64, False)
    for call in (lambda: a.gradient(x, t), lambda: a.train_step(x, t, opt)):
        with pytest.raises(ValueError):
            call()


def test_a_refused_call_leaves_no_list_behind(monkeypatch):
    """The compiled step lists into the first layer's buffers: the list that layer held from an
    earlier pass is gone, as when the layers refuse the batch themselves."""
    nets = pair("two", np.float64)
    rng = np.random.default_rng(8)
    x, t = batch(rng, nets[0], 32, np.float64, True)
    bad = x.copy()
    bad[5, 300] = np.nan
    for net, on in zip(nets, (False, True), strict=True):
        layers_one_by_one(monkeypatch, on)
        net.gradient(x, np.eye(10)[t])  # (target rows: the layers run, and the first lists x)
        assert net.node_of(net.layers["Affine1"]).listed
        with pytest.raises(ValueError, match="x contains NaN"):
            net.gradient(bad, t)
        assert not net.node_of(net.layers["Affine1"]).listed


@pytest.mark.parametrize("change", ["read-only W2", "read-only b1", "W2 reshaped in place"])
@pytest.mark.parametrize("n", [3, 32])
def test_weights_changed_in_place_after_a_step_take_the_layers(n, change):
    a, b = pair("two", np.float64)
    rng = np.random.default_rng(9)
    x, t = batch(rng, a, n, np.float64, False)
    a.gradient(x, t)
    for net in (a, b):
        if change == "read-only W2":
            net.params["W2"].flags.writeable = False
        elif change == "read-only b1":
            net.params["b1"].flags.writeable = False
        else:
            net.params["W2"].shape = (10, 50)
    if change.startswith("read-only"):
        ga, gb = a.gradient(x, t), b.gradient(x, t)
        for k in gb:
            assert_array_equal(ga[k], gb[k])
    else:
        with pytest.raises(ValueError):
            a.gradient(x, t)


@pytest.mark.parametrize("n", [3, 32, 200])
@pytest.mark.parametrize("width", [2, 12])
@pytest.mark.parametrize("rows", [False, True])  # class indices, or target rows (one-hot)
def test_labels_that_do_not_fit_a_rebound_last_layer_are_an_error_not_a_crash(n, width, rows):
    """The network checks labels against its output size (10); a last layer rebound to another
    width must not be indexed past its end (or read target rows past theirs)."""
    a, _ = pair("two", np.float64)
    a.params["W2"] = a.layers["Affine2"].W = np.zeros((50, width))
    a.params["b2"] = a.layers["Affine2"].b = np.zeros(width)
    x, t = batch(np.random.default_rng(10), a, n, np.float64, False)
    t[:] = 9
    if rows:
        with pytest.raises(ValueError, match="target rows"):
            a.gradient(x, np.eye(10)[t])
    elif width == 2:
        with pytest.raises(ValueError, match="label"):
            a.gradient(x, t)
    else:  # (labels below 10 are columns of 12: nothing wrong to say)
        assert np.isfinite(a.gradient(x, t)["W2"]).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32, "mixed"])
@pytest.mark.parametrize("sparse", [False, True])
def test_from_layout_min_rows_on_the_one_call_waits_for_the_layouts_to_settle(
    monkeypatch, counted, dtype, sparse
):
    from fastbp.layers import products

    monkeypatch.setattr(config, "LAYOUT_TRIALS", 2)
    products.forget()  # (every shape untried: the first steps run the layers, which time the layouts)
    name = "two" if sparse else "odd"  # (the list's products: widths 50 and 100)
    a, b = pair(name, np.float64 if dtype == "mixed" else dtype)
    dtype = np.float32 if dtype == "mixed" else dtype
    oa, ob = SGD(0.1), SGD(0.1)
    rng = np.random.default_rng(2)
    n = config.LAYOUT_MIN_ROWS + 3

    def step(i):
        x, t = batch(rng, a, n, dtype, sparse=sparse and i % 2 == 1)
        la = a.train_step(x, t, oa)
        layers_one_by_one(monkeypatch, True)
        lb = b.train_step(x, t, ob)
        layers_one_by_one(monkeypatch, False)
        assert la == lb, i
        for k in b.params:
            assert_array_equal(a.params[k], b.params[k], err_msg=f"{k} at step {i}")

    for i in range(12):
        step(i)
        if i == 0:
            assert counted["calls"] == 0  # (nothing timed yet)
    keys = [k for k in products.chosen() if k[2] == n]
    assert len(keys) == 2 * len(a.params) // 2  # x W and x^T g of each layer, settled
    assert counted["done"] >= 6  # (the steps once the layouts settled, whichever they are)
    # every product in the other layout (the kernel then makes them as the layers do: the numbers
    # must still be the layers' own)
    for k in keys:
        products._TRIALS[k].keep = True
    products._SETTLED.clear()
    before = counted["done"]
    for i in range(12, 16):
        step(i)
    assert counted["done"] == before + 4
    products.forget()
