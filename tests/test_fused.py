"""Fused nodes (fastbp/fused/) against the layers they stand for, and the fusion rules."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import DTYPES, TOL, blobs, numgrad, rel_err
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import config
from fastbp import layers as L
from fastbp.fused import AffineRelu, ConvRelu, ConvReluPool, SmallBatchMLP, SparseInputAffine
from fastbp.fused import mlp as fused_mlp
from fastbp.nets import MultiLayerNet, Sequential, SimpleConvNet, TwoLayerNet


def sparse(rng, shape, density, dtype):
    x = rng.random(shape)
    x[rng.random(shape) >= density] = 0
    return x.astype(dtype)


# -- Affine + Relu ---------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [AffineRelu, SparseInputAffine])
def test_fused_affine_relu_matches_the_two_layers_and_keeps_their_state(rng, make):
    W, b = rng.standard_normal((6, 4)), rng.standard_normal(4)
    x, dout = rng.standard_normal((9, 6)), rng.standard_normal((9, 4))
    a1, r1 = L.Affine(W, b), L.Relu()
    a2, r2 = L.Affine(W, b), L.Relu()
    fused = make(a2, r2)
    assert_array_equal(fused._forward(x), r1.forward(a1.forward(x)))
    assert_array_equal(r2.mask, r1.mask)
    assert_array_equal(fused._backward(dout.copy()), a1.backward(r1.backward(dout.copy())))
    assert_array_equal(a2.dW, a1.dW)
    assert_array_equal(a2.db, a1.db)
    assert fused._backward(dout.copy(), needs_dx=False) is None
    a3, r3 = L.Affine(W, b), L.Relu()  # the checked entry points run the two layers
    assert_array_equal(make(a3, r3).forward(x), r1.out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("density", [0.19, 0.9])
def test_first_affine_takes_the_list_only_when_it_pays(rng, density, dtype):
    x = sparse(rng, (16, 784), density, dtype)
    W, b = rng.standard_normal((784, 50)).astype(dtype), rng.standard_normal(50).astype(dtype)
    dense, node = L.Affine(W, b), SparseInputAffine(L.Affine(W, b))
    dout = rng.standard_normal((16, 50)).astype(dtype)
    tol = TOL[dtype] * 10
    assert_allclose(node._forward(x), dense._forward(x), rtol=tol, atol=tol)
    assert node.listed == (density < 0.2)
    node._backward(dout.copy(), needs_dx=False)
    dense._backward(dout.copy(), needs_dx=False)
    assert_allclose(node.affine.dW, dense.dW, rtol=tol, atol=tol)
    W *= 2  # in place, as an optimizer: the next forward reads the live array
    assert_allclose(node._forward(x), dense._forward(x), rtol=tol, atol=tol)


def test_nan_or_inf_in_weights_gives_numpys_nan_on_the_first_layer(rng):
    x = sparse(rng, (16, 784), 0.19, np.float64)
    W, b = rng.standard_normal((784, 50)), np.zeros(50)
    node = SparseInputAffine(L.Affine(W, b))
    W[int(np.flatnonzero(x[0] == 0)[0]), 0] = np.inf  # diverged in place; met only by zeros of x
    with np.errstate(invalid="ignore"):
        want = x @ W + b
        got = node._forward(x)
    assert_array_equal(np.isnan(got), np.isnan(want))
    assert not node.listed


def test_first_layer_backward_refuses_a_gradient_of_another_width(rng):
    node = SparseInputAffine(L.Affine(rng.standard_normal((784, 50)), np.zeros(50)))
    node._forward(sparse(rng, (16, 784), 0.19, np.float64))
    assert node.listed
    node.affine.W = rng.standard_normal((784, 100))  # rebound between forward and backward
    with pytest.raises(ValueError):  # BLAS's shape error, not a read past the end of dout
        node._backward(np.ones((16, 50)), needs_dx=False)


@pytest.mark.parametrize(
    "make", [lambda: TwoLayerNet(30, 50, 4, weight_init_std=0.3), lambda: MultiLayerNet(30, [100, 100], 4)]
)
def test_gradients_through_the_nonzero_list_are_the_numerical_ones(rng, make):
    np.random.seed(3)
    net = make()
    x = sparse(rng, (12, 30), 0.15, np.float64)
    t = rng.integers(0, 4, 12)
    grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    assert net.node_of(net.layers["Affine1"]).listed  # the path under test was taken
    for key, p in net.params.items():
        num = numgrad(lambda _: net.loss(x, t), p)
        assert rel_err(grads[key], num) < 1e-6, key


def test_list_and_blas_train_alike(monkeypatch):
    rng = np.random.default_rng(5)
    x = sparse(rng, (200, 784), 0.19, np.float32)
    t = rng.integers(0, 10, 200)
    nets = []
    for limits in (config.CSR_MAX_DENSITY, {}):
        monkeypatch.setattr(config, "CSR_MAX_DENSITY", limits)
        np.random.seed(0)
        net = TwoLayerNet(784, 50, 10)
        for step in range(30):
            idx = np.arange(step * 37, step * 37 + 100) % 200
            g = net.gradient(x[idx], t[idx])
            for k in net.params:
                net.params[k] -= 0.1 * g[k]
        nets.append((net, net.node_of(net.layers["Affine1"]).listed))
    (a, listed_a), (b, listed_b) = nets
    assert listed_a and not listed_b
    for k in a.params:
        assert_allclose(a.params[k], b.params[k], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("density", [0.15, 0.9])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_the_input_check_through_the_nonzero_list_names_nan_and_inf(rng, density, bad):
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    x = sparse(rng, (16, 784), density, np.float64)
    t = rng.integers(0, 10, 16)
    before = {k: v.copy() for k, v in net.params.items()}
    net.gradient(x, t)
    x[11, 300] = bad
    for entry in (net.gradient, net.loss, net.accuracy, net.predict, net.numerical_gradient):
        args = (x,) if entry == net.predict else (x, t)
        with pytest.raises(ValueError, match=r"x contains NaN or inf \(first at index \(11, 300\)\)"):
            entry(*args)
    for k in before:
        assert_array_equal(net.params[k], before[k])
    x[11, 300] = 0.5
    for g in net.gradient(x, t).values():  # nothing was left half-done
        assert np.isfinite(g).all()
    assert net.node_of(net.layers["Affine1"]).listed or density > 0.5


@pytest.mark.parametrize("x_dtype", DTYPES)
def test_first_layer_rebound_to_another_precision(rng, x_dtype):
    """A float64 network whose W1, b1 the user made float32: the layer converts or takes BLAS."""
    x = sparse(rng, (10, 784), 0.15, x_dtype)
    t = rng.integers(0, 10, 10)
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    want = net.gradient(x.astype(np.float64), t)
    a = net.layers["Affine1"]
    a.W, a.b = a.W.astype(np.float32), a.b.astype(np.float32)
    got = net.gradient(x, t)
    assert got["W1"].dtype == np.float32 and got["W2"].dtype == np.float64
    for k in want:
        assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-6)


def test_sparse_path_runs_without_the_jit():
    """NUMBA_DISABLE_JIT=1 runs every kernel as Python: the row updates and the vector listing,
    which are LLVM intrinsics when compiled, have plain-Python stand-ins."""
    code = """
import numpy as np
from fastbp import config
from fastbp.kernels import sparse_input as S
from fastbp.nets import TwoLayerNet
r = np.random.default_rng(0)
x = r.random((9, 784)); x[r.random(x.shape) > 0.15] = 0
t = r.integers(0, 10, 9)
idx, val, ptr = np.empty(x.size, np.int32), np.empty(x.size), np.empty(10, np.int64)
assert S.compact_rows_vector(x, idx, val, ptr, 1.0) == S.compact_rows_scalar(x, idx, val, ptr, 1.0)
grads = []
for limits in (config.CSR_MAX_DENSITY, {}):  # the list, then BLAS
    config.CSR_MAX_DENSITY = limits
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    grads.append(net.gradient(x, t))
    assert net.node_of(net.layers["Affine1"]).listed == bool(limits)
for k in grads[0]:
    np.testing.assert_allclose(grads[0][k], grads[1][k], rtol=1e-12, atol=1e-14)
print("ok")
"""
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout[-2000:] + out.stderr[-2000:]


# -- Convolution + Relu (+ Pooling) ------------------------------------------------------------------
def test_fused_conv_relu_equals_the_two_layers(rng):
    W, b = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    x = rng.standard_normal((2, 2, 6, 6))
    c1, r1, c2, r2 = L.Convolution(W, b, 1, 1), L.Relu(), L.Convolution(W, b, 1, 1), L.Relu()
    fused = ConvRelu(c2, r2)
    assert_array_equal(fused._forward(x), r1.forward(c1.forward(x)))
    d = rng.standard_normal((2, 3, 6, 6))
    assert_allclose(fused._backward(d.copy()), c1.backward(r1.backward(d.copy())), rtol=1e-14)
    assert_allclose(c2.dW, c1.dW, rtol=1e-14)
    assert_array_equal(r2.mask, r1.mask)


@pytest.mark.parametrize("pool", [(2, 2, 2), (3, 3, 2), (2, 2, 1)])
@pytest.mark.parametrize("conv", [(3, 1, 0), (3, 1, 1), (5, 2, 2)])
@pytest.mark.parametrize("needs_dx", [True, False])
def test_fused_conv_relu_pool_equals_the_three_layers(pool, conv, needs_dx):
    r = np.random.default_rng(0)
    fs, stride, pad = conv
    W, b = r.standard_normal((4, 2, fs, fs)), r.standard_normal(4) * 0.1
    b[0] = 0.3  # a positive bias: all-zero patches win windows (and pass their gradient to db)
    x = r.standard_normal((3, 2, 11, 10))
    x[0, 0, :2] = 0.0  # ties (zeros after ReLU) inside windows
    x[1, :, :6] = 0.0  # background: all-zero patches, which the first layer's path skips
    x[1, :, :, :4] = 0.0
    sep = [L.Convolution(W, b, stride, pad), L.Relu(), L.Pooling(*pool)]
    fused_layers = [L.Convolution(W, b, stride, pad), L.Relu(), L.Pooling(*pool)]
    fused = ConvReluPool(*fused_layers, needs_dx=needs_dx)
    want = sep[2].forward(sep[1].forward(sep[0].forward(x)))
    got = fused._forward(x)
    assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    assert_array_equal(fused_layers[2].arg_max, sep[2].arg_max)
    d = r.standard_normal(want.shape)
    dx_want = sep[0].backward(sep[1].backward(sep[2].backward(d)))
    dx = fused._backward(d.copy(), needs_dx=needs_dx)
    if needs_dx:
        assert_allclose(dx, dx_want, rtol=1e-12, atol=1e-14)
    else:
        assert dx is None
    assert_allclose(fused_layers[0].dW, sep[0].dW, rtol=1e-12, atol=1e-14)
    assert_allclose(fused_layers[0].db, sep[0].db, rtol=1e-12, atol=1e-14)
    fused._forward(x)  # a dx asked of a block built without: the patches are rebuilt, dx is right
    assert_allclose(fused._backward(d.copy()), dx_want, rtol=1e-12, atol=1e-14)
    assert_allclose(fused_layers[0].dW, sep[0].dW, rtol=1e-12, atol=1e-14)
    x[1, 1, 3, 3] = np.nan  # NaN takes the exact path and wins, as in the separate layers
    got = fused._forward(x)
    want = sep[2]._forward(sep[1]._forward(sep[0]._forward(x)))  # unchecked: the public forward refuses NaN
    assert_array_equal(np.isnan(got), np.isnan(want))


def test_prediction_keeps_no_patches():
    np.random.seed(0)
    net = SimpleConvNet()
    x = np.random.rand(50, 1, 28, 28)
    x[x < 0.8] = 0
    net.predict(x)
    node = net.node_of(net.layers["Conv1"])
    assert isinstance(node, ConvReluPool) and "patches" not in (node._bufs or {})
    grads = net.gradient(x[:4], np.arange(4))  # training keeps them, as the book keeps col
    assert "patches" in node._bufs and np.isfinite(grads["W1"]).all()


# -- the whole small-batch MLP --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n", [1, 2, 4])
def test_small_batch_loops_equal_blas(monkeypatch, n, dtype):
    x, t = blobs(n, seed=n)
    x[:, ::3] = 0  # zero inputs are skipped by the loops
    results = []
    for small in (config.SMALL_BATCH, 0):
        monkeypatch.setattr(config, "SMALL_BATCH", small)
        monkeypatch.setattr(fused_mlp, "_ADDRESS", {"d": 0, "f": 0})  # (BLAS: the layers one by one)
        np.random.seed(0)
        net = MultiLayerNet(784, [30, 20], 10, dtype=dtype)
        grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
        assert (net.graph.nodes[0].layer._loops is not None) == (small > 0)
        state = (
            net.layers["Activation_function1"].mask.copy(),
            net.layers["Affine2"].x.copy(),
            net.layers["Affine1"].dW.copy(),
            net.last_layer.y.copy(),
        )
        results.append((float(net.loss(x, t)), net.predict(x), grads, state))
    (l1, p1, g1, s1), (l2, p2, g2, s2) = results
    tol = 1e-12 if dtype == "float64" else 2e-5
    assert l1 == pytest.approx(l2, rel=tol)
    assert_allclose(p1, p2, rtol=tol, atol=tol)
    for k in g1:
        assert_allclose(g1[k], g2[k], rtol=tol, atol=tol)
    assert_array_equal(s1[0], s2[0])
    for a, b in zip(s1[1:], s2[1:], strict=True):
        assert_allclose(a, b, rtol=tol, atol=tol)


def test_small_batch_loops_see_rebound_and_in_place_weights():
    np.random.seed(0)
    net = MultiLayerNet(8, [5], 3)
    x, t = np.random.rand(2, 8), np.array([0, 2])
    l0 = net.loss(x, t)
    net.params["W2"][:, 0] += 1.0  # in place: seen
    assert net.loss(x, t) != l0
    net.layers["Affine2"].b = np.full(3, 5.0)  # rebound: the node notices
    want = np.maximum(x @ net.params["W1"] + net.params["b1"], 0) @ net.params["W2"] + 5.0
    assert_allclose(net.predict(x), want, rtol=1e-12)


@pytest.mark.parametrize("onehot", [False, True])
def test_small_batch_step_with_another_dout_or_one_hot_labels(onehot):
    x, t = blobs(3, seed=1)
    if onehot:
        t = np.eye(10)[t]
    np.random.seed(0)
    net = MultiLayerNet(784, [30], 10)
    node = net.graph.nodes[0].layer
    assert isinstance(node, SmallBatchMLP)
    g1 = {k: v.copy() for k, v in net.gradient(x, t).items()}
    net.graph.forward(net._x(x, "test"), net._t(t, 3, "test"), grad=True)
    net.graph.backward(2.0)
    for k, layer in (("W1", net.layers["Affine1"]), ("b2", net.layers["Affine2"])):
        assert_allclose(getattr(layer, "d" + k[0]), 2 * g1[k], rtol=1e-12)


# -- the rules ------------------------------------------------------------------------------------
def layers_like_multilayernet(seed=0, sizes=(784, 100, 100, 100, 100, 100, 10), act=L.Relu):
    np.random.seed(seed)
    out = []
    for i in range(1, len(sizes)):
        W = np.sqrt(2.0 / sizes[i - 1]) * np.random.randn(sizes[i - 1], sizes[i])
        out.append(L.Affine(W, np.zeros(sizes[i])))
        if i < len(sizes) - 1:
            out.append(act())
    return out


def test_a_sequential_gets_the_fusions_and_gradients_of_multilayernet():
    x, t = blobs(100, seed=2)
    np.random.seed(0)
    book = MultiLayerNet(784, [100] * 5, 10)
    seq = Sequential(layers_like_multilayernet())
    assert [type(n.layer) for n in seq.graph.nodes] == [type(n.layer) for n in book.graph.nodes]
    assert [type(n) for n in seq.graph.nodes[0].layer.body] == [
        type(n) for n in book.graph.nodes[0].layer.body
    ]
    for n in (1, 4, 100):
        g1, g2 = book.gradient(x[:n], t[:n]), seq.gradient(x[:n], t[:n])
        assert list(g1) == list(g2)
        for k in g1:
            assert_allclose(g2[k], g1[k], rtol=1e-12, atol=1e-15)


class MyRelu(L.Relu):
    """A user's ReLU with its own forward/backward (a leaky one): the rules must not fuse it, and the
    graph must run its forward/backward, not the parent's unchecked ones."""

    calls = 0

    def forward(self, x):
        MyRelu.calls += 1
        self.x = np.array(x)
        return np.where(self.x > 0, self.x, 0.1 * self.x)

    def backward(self, dout):
        return dout * np.where(self.x > 0, 1.0, 0.1)


def test_a_layer_subclass_runs_unfused_and_its_gradients_are_right():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 12))
    t = rng.integers(0, 3, 6)
    W1, W2 = rng.standard_normal((12, 8)) * 0.5, rng.standard_normal((8, 3)) * 0.5
    layers = [L.Affine(W1, np.zeros(8)), MyRelu(), L.Affine(W2, np.zeros(3))]
    net = Sequential(layers)
    assert any(n.layer is layers[1] for n in net.graph.nodes)  # its own node
    h = x @ W1
    s = np.where(h > 0, h, 0.1 * h) @ W2
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    before = MyRelu.calls
    assert float(net.loss(x, t)) == pytest.approx(-np.mean(np.log(p[np.arange(6), t])), rel=1e-12)
    assert MyRelu.calls == before + 1  # its own forward ran
    for n in (2, 6):
        grads = net.gradient(x[:n], t[:n])
        num = net.numerical_gradient(x[:n], t[:n])
        for k in grads:
            assert rel_err(grads[k], num[k]) < 1e-6, k


def test_an_affine_subclass_with_its_own_forward_is_run_as_written():
    class Doubled(L.Affine):
        def forward(self, x):
            return 2 * super().forward(x)

        def backward(self, dout):
            return super().backward(2 * dout)

    rng = np.random.default_rng(1)
    W = rng.standard_normal((5, 3))
    x, t = rng.standard_normal((9, 5)), rng.integers(0, 3, 9)
    plain, doubled = Sequential([L.Affine(W, np.zeros(3))]), Sequential([Doubled(W, np.zeros(3))])
    assert_allclose(doubled.predict(x), 2 * plain.predict(x), rtol=1e-12)
    g = doubled.gradient(x, t)
    num = doubled.numerical_gradient(x, t)
    assert rel_err(g["W1"], num["W1"]) < 1e-6


def test_fusion_leaves_a_node_wired_otherwise_alone():
    """A Relu added with n_grads=0 (stop the gradient), a value read twice, a named value, an input
    that needs its gradient: no rule may swallow them."""
    from fastbp.fused.rules import fuse
    from fastbp.graph import Graph

    rng = np.random.default_rng(2)

    def affine(n_in, n_out):
        return L.Affine(rng.standard_normal((n_in, n_out)), np.zeros(n_out))

    g = Graph(("x", "t"), validate=False)
    g.add(affine(6, 5))
    g.add(L.Relu(), n_grads=0)
    g.add(affine(5, 3), output="scores")
    g.add(L.SoftmaxWithLoss(), ("scores", "t"), "loss", n_grads=1)
    kinds = [type(n.layer).__name__ for n in fuse(g).nodes]
    assert "Relu" in kinds and "SmallBatchMLP" not in kinds
    g2 = Graph(("x", "t"), validate=False)
    h = g2.add(affine(6, 5))
    r = g2.add(L.Relu(), h)
    s = g2.add(L.AddLayer(), (h, r))  # h is read twice: Affine and Relu stay apart
    g2.add(affine(5, 3), s, output="scores")
    g2.add(L.SoftmaxWithLoss(), ("scores", "t"), "loss", n_grads=1)
    assert [type(n.layer).__name__ for n in fuse(g2).nodes][:2] == ["SparseInputAffine", "Relu"]
    g3 = Graph(("x", "t"), wrt=("x",), validate=False)
    g3.add(affine(6, 5))
    g3.add(L.Relu())
    g3.add(affine(5, 3), output="scores")
    g3.add(L.SoftmaxWithLoss(), ("scores", "t"), "loss", n_grads=1)
    assert [type(n.layer).__name__ for n in fuse(g3).nodes] == ["AffineRelu", "Affine", "SoftmaxWithLoss"]


@pytest.mark.parametrize("make", [lambda W: W.copy(order="F"), lambda W: W.copy()])
def test_small_batch_with_read_only_or_other_layout_weights(make):
    np.random.seed(0)
    net = MultiLayerNet(12, [6], 3)
    x, t = np.random.rand(2, 12), np.array([0, 2])
    want = net.gradient(x, t)["W1"].copy()
    W = make(net.params["W1"])
    W.flags.writeable = False
    net.layers["Affine1"].W = W
    assert_allclose(net.gradient(x, t)["W1"], want, rtol=1e-12)


def test_one_hot_labels_take_the_compiled_small_batch_path():
    x, t = blobs(3, seed=1)
    np.random.seed(0)
    net = MultiLayerNet(784, [30], 10)
    g_index = {k: v.copy() for k, v in net.gradient(x, t).items()}
    g_onehot = net.gradient(x, np.eye(10)[t])
    assert net.graph.nodes[0].layer._loops is not None
    for k in g_index:
        assert_allclose(g_onehot[k], g_index[k], rtol=1e-12, atol=1e-15)


def test_a_loss_subclass_is_honoured():
    class Doubled(L.SoftmaxWithLoss):
        def _backward(self, dout=1.0, needs_dx=True, out=None):
            return super()._backward(dout, needs_dx, out) * 2

    x, t = blobs(2, seed=3)
    plain = Sequential(layers_like_multilayernet(sizes=(784, 30, 10)))
    custom = Sequential(layers_like_multilayernet(sizes=(784, 30, 10)), loss=Doubled())
    g1, g2 = plain.gradient(x, t), custom.gradient(x, t)
    assert_allclose(g2["b2"], 2 * g1["b2"], rtol=1e-12)


def _conv_pair(make, W1, W2, W3):
    return Sequential(
        [make.Convolution(W1, np.zeros(2)), make.Relu(), make.Convolution(W2, np.zeros(2)), make.Relu(),
         make.Pooling(2, 2, 2), make.Affine(W3, np.zeros(3))]
    )  # fmt: skip


def test_conv_relu_pool_fed_an_overflowed_input_routes_gradients_as_the_layers():
    """Finite weights, but the first convolution overflows to inf and the second sends it to -inf
    (ReLU 0): the fused block sees inf in its input, and the layers one by one (the twin) give NaN in
    dW2 through 0 * inf; the block must run its layers one by one too."""
    from fastbp.reference import layers as R

    rng = np.random.default_rng(0)
    W1 = np.abs(rng.standard_normal((2, 1, 3, 3)))
    W1[0] = 1e308
    W2 = rng.standard_normal((2, 2, 3, 3))
    W2[:, 0] = -np.abs(W2[:, 0]) - 0.1
    W2[:, 1] = np.abs(W2[:, 1])
    W3 = rng.standard_normal((8, 3))
    fast, twin = _conv_pair(L, W1, W2, W3), _conv_pair(R, W1, W2, W3)
    assert any(isinstance(n.layer, ConvReluPool) for n in fast.graph.nodes)
    x, t = 1 + rng.random((2, 1, 8, 8)), np.array([1, 2])
    with np.errstate(all="ignore"):
        assert fast.loss(x, t) == pytest.approx(twin.loss(x, t))
        got, want = fast.gradient(x, t), twin.gradient(x, t)
    assert np.isnan(want["W2"]).any()
    for k in want:
        assert_array_equal(np.isnan(got[k]), np.isnan(want[k]), err_msg=k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_relu_pool_ranks_a_window_after_the_bias_as_the_layers_do(dtype):
    """Products far below the bias's rounding step: different before the bias, equal after it. The
    unfused layers see a tie and take the first; so must the fused 2x2 pooling (and then dW1)."""
    nets = []
    for backend in ("fastbp", "numpy"):
        np.random.seed(0)
        conv = {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1}
        net = SimpleConvNet((1, 8, 8), conv, 30, 3, 0.1, dtype=dtype, backend=backend)
        net.params["b1"][:] = 1.0
        nets.append(net)
    fast, twin = nets
    x = (np.random.default_rng(0).standard_normal((2, 1, 8, 8)) * 1e-18).astype(dtype)
    t = np.array([0, 1])
    got, want = fast.gradient(x, t), twin.gradient(x, t)
    assert_array_equal(np.asarray(fast.layers["Pool1"].arg_max), np.asarray(twin.layers["Pool1"].arg_max))
    assert_allclose(got["W1"], want["W1"], rtol=TOL[dtype], atol=TOL[dtype] * np.abs(want["W1"]).max())


def test_conv_relu_pool_fuses_again_once_a_nonfinite_weight_is_repaired():
    np.random.seed(0)
    net = SimpleConvNet((1, 8, 8), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1}, 30, 3, 0.1)
    np.random.seed(0)
    twin = SimpleConvNet((1, 8, 8), {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1}, 30, 3, 0.1,
                         backend="numpy")  # fmt: skip
    node = next(n.layer for n in net.graph.nodes if isinstance(n.layer, ConvReluPool))
    x, t = np.random.default_rng(1).random((2, 1, 8, 8)), np.array([0, 2])
    good = net.params["W1"][0, 0, 0, 0]
    net.params["W1"][0, 0, 0, 0] = np.nan
    with np.errstate(all="ignore"):
        net.gradient(x, t)
    assert node._unfused and net.layers["Relu1"].out is not None
    net.params["W1"][0, 0, 0, 0] = good
    got, want = net.gradient(x, t), twin.gradient(x, t)
    assert not node._unfused and net.layers["Relu1"].out is None  # (the fused form again)
    for k in want:
        assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("at", [0, 5, 783])
def test_the_one_call_step_refuses_nan_x_naming_it_and_writing_nothing(at):
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    x, t = np.random.default_rng(0).random((2, 784)), np.array([3, 4])
    grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    node = net.graph.nodes[0].layer
    h = [a.copy() for a in node._loops.hs]
    bad = x.copy()
    bad.flat[at] = np.inf
    with pytest.raises(
        ValueError, match=rf"gradient: x contains NaN or inf \(first at index \({at // 784}, {at % 784}\)\)"
    ):
        net.gradient(bad, t)
    for a, b in zip(node._loops.hs, h, strict=True):
        assert_array_equal(a, b)  # nothing written
    for k, v in net.gradient(x, t).items():
        assert_array_equal(v, grads[k])
