"""``Network.train_step(x, t, optimizer)``: one call for ``optimizer.update(net.params, net.gradient(x, t))``,
returning the batch's loss. With SGD on a ReLU MLP at up to SMALL_BATCH samples the update is folded
into the backward pass (kernels/mlp.mlp_sgd_step), and on a dense batch below LAYOUT_MIN_ROWS into the
one-call BLAS step (kernels/mlp_blas.py); every path must leave the parameters and the optimizer's
state bit for bit as the two calls do."""

import threading

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from test_failed_calls import assert_unchanged, snapshot

from fastbp import config
from fastbp import optimizer as OPT
from fastbp.nets import MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, TwoLayerNet

MLPS = {
    "two": lambda dt: TwoLayerNet(784, 50, 10, dtype=dt),
    "multi": lambda dt: MultiLayerNet(784, [100, 100, 100], 10, dtype=dt),
    "odd": lambda dt: MultiLayerNet(13, [7, 1, 5], 3, dtype=dt),
}


def pair(make, dtype):
    np.random.seed(0)
    a = make(dtype)
    np.random.seed(0)
    return a, make(dtype)


def batch(rng, n, d, k, dtype, density):
    x = rng.random((n, d))
    x[rng.random((n, d)) >= density] = 0
    return x.astype(dtype), rng.integers(0, k, n)


def two_calls(net, opt, x, t):
    grads = net.gradient(x, t)
    loss = net.loss_layer.loss
    opt.update(net.params, grads)
    return loss


def same(a, b, oa, ob):
    for k in b.params:
        assert_array_equal(a.params[k], b.params[k], err_msg=k)
        assert np.array_equal(np.signbit(a.params[k]), np.signbit(b.params[k])), k  # -0.0 kept as -0.0
    if type(ob) is OPT.SGD and ob._plan is not None:
        assert_array_equal(oa._plan.extras[1], ob._plan.extras[1])  # SGD's row modes


@pytest.mark.parametrize("name", sorted(MLPS))
@pytest.mark.parametrize("dtypes", ["float64", "float32", "mixed"])
@pytest.mark.parametrize("density", [0.19, 1.0])
def test_sgd_steps_are_the_two_calls_bit_for_bit(name, dtypes, density):
    net_dt, x_dt = {"float64": (np.float64,) * 2, "float32": (np.float32,) * 2,
                    "mixed": (np.float64, np.float32)}[dtypes]  # fmt: skip
    a, b = pair(MLPS[name], net_dt)
    oa, ob = OPT.SGD(0.1), OPT.SGD(0.1)
    d, k = a.params["W1"].shape[0], a.output_size
    rng = np.random.default_rng(1)
    # batch sizes through both paths, in turn; enough steps for SGD's probes (config.ROWS_PROBE)
    # (and a batch through the layers, whose gradient arrays the SGD is then set up for, then the
    # one-call BLAS step's again)
    sizes = [1, 2, 3, 4, config.SMALL_BATCH + 1, 1, 16] * 6 + [config.LAYOUT_MIN_ROWS, 40, 40, 2]
    for i, n in enumerate(sizes):
        x, t = batch(rng, n, d, k, x_dt, density)
        if i == 9:  # a lowered rate, and signed zeros in the weights
            oa.lr = ob.lr = 0.03
            a.params["W1"][:3] = b.params["W1"][:3] = -0.0
        la = a.train_step(x, t, oa)
        lb = two_calls(b, ob, x, t)
        assert la == lb and type(la) is type(lb), (i, la, lb)
        same(a, b, oa, ob)
    assert_array_equal(a.predict(x), b.predict(x))


def test_the_fold_runs_and_leaves_the_gradient_arrays_alone():
    a, b = pair(MLPS["two"], np.float64)
    oa = OPT.SGD(0.1)
    rng = np.random.default_rng(2)
    x, t = batch(rng, 2, 784, 10, np.float64, 0.2)
    a.train_step(x, t, oa)  # the first sets the optimizer up (two calls)
    dW = a.layers["Affine1"].dW.copy()
    node = a._sgd_node(oa, 2)
    assert node is not None and node.folds_sgd(x, t)
    a.train_step(x, t, oa)
    assert_array_equal(a.layers["Affine1"].dW, dW)  # not written: folded
    # and gradient is still the gradient
    for k, v in a.params.items():
        b.params[k][...] = v
    ga, gb = a.gradient(x, t), b.gradient(x, t)
    for k in gb:
        assert_array_equal(ga[k], gb[k])


@pytest.mark.parametrize("dtypes", ["float64", "float32", "mixed"])
def test_the_blas_fold_runs_and_leaves_this_steps_gradients(monkeypatch, dtypes):
    from fastbp.fused import mlp as fused_mlp

    net_dt, x_dt = {"float64": (np.float64,) * 2, "float32": (np.float32,) * 2,
                    "mixed": (np.float64, np.float32)}[dtypes]  # fmt: skip
    if not fused_mlp._blas_lib.address(np.dtype(net_dt)):
        pytest.skip("NumPy's BLAS is not one the one-call step can call")
    folded = []
    real = fused_mlp._mlp_blas.mlp_blas_step

    def step(*args):
        if args[4][0] is a.params["W1"]:  # (b's gradient takes the step too, with nothing folded)
            folded.append(len(args[-3]) > 0)  # (modes, before flip and scratch: empty when no SGD)
        return real(*args)

    monkeypatch.setattr(fused_mlp._mlp_blas, "mlp_blas_step", step)
    a, b = pair(MLPS["multi"], net_dt)
    oa, ob = OPT.SGD(0.1), OPT.SGD(0.1)
    rng = np.random.default_rng(11)
    for _ in range(5):
        x, t = batch(rng, 32, 784, 10, x_dt, 1.0)
        assert a.train_step(x, t, oa) == two_calls(b, ob, x, t)
        same(a, b, oa, ob)
        for name, attr in (("Affine1", "dW"), ("Affine2", "db"), ("Affine4", "dW")):
            g = getattr(a.layers[name], attr)
            assert_array_equal(g, getattr(b.layers[name], attr))
            assert g.dtype == net_dt
    assert folded == [False, True, True, True, True]  # (the first sets the SGD up: two calls)


@pytest.mark.parametrize("opt_name", ["Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"])
def test_other_optimizers_take_the_two_calls(opt_name):
    a, b = pair(MLPS["two"], np.float64)
    oa, ob = getattr(OPT, opt_name)(), getattr(OPT, opt_name)()
    rng = np.random.default_rng(3)
    for n in (1, 3, 20, 1):
        x, t = batch(rng, n, 784, 10, np.float64, 0.2)
        assert a.train_step(x, t, oa) == two_calls(b, ob, x, t)
        same(a, b, oa, ob)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MultiLayerNet(20, [8, 8], 4, weight_decay_lambda=0.1),
        lambda: MultiLayerNetExtend(20, [8, 8], 4, use_batchnorm=True, use_dropout=True, dropout_ration=0.2),
        lambda: SimpleConvNet((1, 8, 8), {"filter_num": 3, "filter_size": 3, "pad": 0, "stride": 1}, 6, 4),
    ],
    ids=["decay", "batchnorm-dropout", "conv"],
)
def test_other_networks_take_the_two_calls_and_return_the_loss_with_its_penalty(make):
    np.random.seed(0)
    a = make()
    np.random.seed(0)
    b = make()
    oa, ob = OPT.SGD(0.1), OPT.SGD(0.1)
    rng = np.random.default_rng(4)
    shape = (1, 8, 8) if isinstance(a, SimpleConvNet) else (20,)
    for n in (1, 2, 9):
        x, t = rng.random((n, *shape)), rng.integers(0, 4, n)
        np.random.seed(n)  # (dropout's masks)
        la = a.train_step(x, t, oa)
        np.random.seed(n)
        grads = b.gradient(x, t)
        want = b.loss_layer.loss + b._penalty()  # what b.loss(x, t) gives, from the weights before
        ob.update(b.params, grads)
        assert la == want
        for k in b.params:
            assert_array_equal(a.params[k], b.params[k], err_msg=k)
    if getattr(a, "weight_decay_lambda", 0):
        assert b._penalty() > 0  # (the case tests the penalty)


@pytest.mark.parametrize("n, density", [(1, 0.2), (3, 0.2), (12, 0.2), (40, 1.0)])
@pytest.mark.parametrize("bad", ["x-nan", "x-inf", "t-range", "t-shape"])
def test_a_refused_step_names_the_argument_and_changes_nothing(n, density, bad):
    a, _ = pair(MLPS["two"], np.float64)
    opt = OPT.SGD(0.1)
    rng = np.random.default_rng(5)
    for m in (n, n):  # set up: the next step folds (at small n, or dense)
        a.train_step(*batch(rng, m, 784, 10, np.float64, density), opt)
    x, t = batch(rng, n, 784, 10, np.float64, density)
    if bad.startswith("x"):
        x[n - 1, 700] = np.nan if bad == "x-nan" else np.inf
        match = r"train_step: x contains NaN or inf"
    elif bad == "t-range":
        t[-1] = 10
        match = r"train_step: .*t"
    else:
        t = t[:-1] if n > 1 else np.zeros(2, int)
        match = r"train_step: .*t"
    before = snapshot(a, opt)
    with pytest.raises(ValueError, match=match):
        a.train_step(x, t, opt)
    assert_unchanged(before, snapshot(a, opt))


def test_a_second_thread_is_refused():
    a, _ = pair(MLPS["two"], np.float64)
    opt = OPT.SGD(0.1)
    x, t = batch(np.random.default_rng(6), 2, 784, 10, np.float64, 0.2)
    a.train_step(x, t, opt)
    a._busy.acquire()  # another thread inside the network
    try:
        errors = []
        th = threading.Thread(
            target=lambda: errors.append(pytest.raises(RuntimeError, a.train_step, x, t, opt))
        )
        th.start()
        th.join()
        assert errors and "in use by another thread" in str(errors[0].value)
    finally:
        a._busy.release()


@pytest.mark.parametrize("n, density", [(2, 0.2), (9, 1.0)])
def test_a_rebound_parameter_or_a_new_optimizer_is_set_up_again(n, density):
    a, b = pair(MLPS["two"], np.float64)
    oa, ob = OPT.SGD(0.1), OPT.SGD(0.1)
    rng = np.random.default_rng(7)
    for i in range(6):
        x, t = batch(rng, n, 784, 10, np.float64, density)
        if i == 3:  # the user rebinds a weight, in both the params dict and the layer
            for net in (a, b):
                W = net.params["W2"].copy() * 0.5
                net.params["W2"] = net.layers["Affine2"].W = W
        assert a.train_step(x, t, oa) == two_calls(b, ob, x, t)
        same(a, b, oa, ob)


def test_weight_decay_switched_on_after_the_setup_is_not_folded_away():
    """The fold has no decay: a network whose decay the user switches on takes the two calls, even
    where its penalty rounds to 0 (tiny weights)."""
    make = lambda dt: MultiLayerNet(20, [8], 4, dtype=dt)  # noqa: E731
    a, b = pair(make, np.float64)
    oa, ob = OPT.SGD(0.1), OPT.SGD(0.1)
    rng = np.random.default_rng(8)
    for i in range(4):
        x, t = rng.random((2, 20)), rng.integers(0, 4, 2)
        if i == 2:
            for net in (a, b):
                net.weight_decay_lambda = 0.5
                for k in net.params:
                    net.params[k] *= 1e-170  # 0.5 lambda sum W^2 is exactly 0
        penalty = b._penalty()  # (0: the weights are too small)
        assert a.train_step(x, t, oa) == two_calls(b, ob, x, t) + penalty
        same(a, b, oa, ob)


@pytest.mark.parametrize("n", [2, 9])
def test_layers_sharing_one_weight_array_take_the_two_calls(n):
    """The fold updates a layer's W before the layer below reads it for its input gradient; layers
    bound to one array must see it as the two calls do (every gradient first)."""

    def make(dt):
        net = MultiLayerNet(5, [4, 4, 4], 3, dtype=dt)
        net.layers["Affine3"].W = net.params["W3"] = net.params["W2"]
        return net

    a, b = pair(make, np.float64)
    oa, ob = OPT.SGD(0.1), OPT.SGD(0.1)
    rng = np.random.default_rng(9)
    for _ in range(4):
        x, t = rng.random((n, 5)), rng.integers(0, 3, n)
        assert a.train_step(x, t, oa) == two_calls(b, ob, x, t)
        for k in b.params:
            assert_array_equal(a.params[k], b.params[k], err_msg=k)


def _rebind_params_only(net, opt):
    net.params["W2"] = net.params["W2"].copy()  # (the layer keeps the old array: the two calls
    # update the dict's, and the layer's gradient goes to it)


def _rebind_layer_only(net, opt):
    net.layers["Affine2"].W = net.layers["Affine2"].W.copy()


def _lower_rate(net, opt):
    opt.lr = 0.02


def _net_dtype(net, opt):
    net.dtype = np.dtype(np.float32)  # (a public attribute: x is converted to it, on both sides)


def _book_loss(net, opt, monkeypatch):
    monkeypatch.setattr(config, "BOOK_LOSS", True)


def _small_batch(net, opt, monkeypatch):
    monkeypatch.setattr(config, "SMALL_BATCH", 1)


STEADY_CHANGES = {
    "params-dict": _rebind_params_only,
    "layer-attribute": _rebind_layer_only,
    "rate": _lower_rate,
    "net-dtype": _net_dtype,
    "book-loss": _book_loss,
    "small-batch": _small_batch,
    "x-float32": "x-float32",
    "x-strided": "x-strided",
    "t-int32": "t-int32",
    "predict-between": "predict-between",
}


@pytest.mark.parametrize("n, density", [(2, 0.2), (40, 1.0)])
@pytest.mark.parametrize("change", sorted(STEADY_CHANGES))
def test_the_steady_state_sees_what_changed_between_steps(n, density, change, monkeypatch):
    """After a folded step on a plain batch, the next call checks again only what may have changed
    (nets/_step.py): each change here, made between two such steps, must give the two calls'
    numbers."""
    a, b = pair(MLPS["two"], np.float64)
    oa, ob = OPT.SGD(0.1), OPT.SGD(0.1)
    rng = np.random.default_rng(10)
    for i in range(7):
        x, t = batch(rng, n, 784, 10, np.float64, density)
        if i == 4:
            assert a._folded is not None  # (the steady state: the step before took x and t as they were)
            what = STEADY_CHANGES[change]
            if callable(what):
                for net, opt in ((a, oa), (b, ob)):
                    args = (net, opt, monkeypatch) if what in (_book_loss, _small_batch) else (net, opt)
                    what(*args)
            elif what == "x-float32":
                x = x.astype(np.float32)
            elif what == "x-strided":
                x = np.repeat(x, 2, axis=1)[:, ::2]
            elif what == "t-int32":
                t = t.astype(np.int32)
            else:
                assert_array_equal(a.predict(x), b.predict(x))
        la = a.train_step(x, t, oa)
        lb = two_calls(b, ob, x, t)
        assert la == lb and type(la) is type(lb), (i, la, lb)
        same(a, b, oa, ob)
        for key in ("W1", "W2"):  # the layers' arrays too (a rebinding may part them from params)
            layer = f"Affine{key[1]}"
            assert_array_equal(a.layers[layer].W, b.layers[layer].W)


def test_the_node_keeps_no_older_batch_sizes_buffers():
    """sgd_step's memo of matched arrays must not keep a replaced _Loops (and its buffers) alive."""
    a, _ = pair(MLPS["two"], np.float64)
    opt = OPT.SGD(0.1)
    rng = np.random.default_rng(11)
    for _ in range(3):
        a.train_step(*batch(rng, 40, 784, 10, np.float64, 1.0), opt)
    node = a.graph.nodes[0].layer
    assert node._matched is not None and node._matched[2] is node._built
    a.gradient(*batch(rng, 3, 784, 10, np.float64, 1.0))  # (another batch size: new buffers)
    assert node._matched is None or node._matched[2] is node._built
