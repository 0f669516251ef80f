"""Behaviours found by review: the book's float16 experiment, checkpoint state, key order, shapes."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import layers as L
from fastbp.nets import DeepConvNet, MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, TwoLayerNet
from fastbp.util import im2col


def test_float16_inputs_as_in_chapter8_half_float_network():
    np.random.seed(0)
    net = DeepConvNet()
    x = np.random.rand(100, 1, 28, 28).astype(np.float32)
    t = np.random.randint(0, 10, 100)
    want = net.accuracy(x, t)
    for p in net.params.values():
        p[...] = p.astype(np.float16)  # the book rounds the values; the arrays stay float64
    acc = net.accuracy(x.astype(np.float16), t)
    assert 0 <= acc <= 1 and abs(acc - want) <= 0.05
    assert im2col(np.ones((1, 1, 3, 3), np.float16), 2, 2).dtype == np.float64
    assert L.Affine(np.ones((4, 2)), np.zeros(2)).forward(np.ones((1, 4), np.float16)).dtype == np.float64


def test_extend_gradient_keys_follow_the_books_order():
    np.random.seed(0)
    net = MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True)
    x, t = np.random.rand(3, 6), np.array([0, 1, 2])
    want = ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    assert list(net.gradient(x, t)) == want
    assert list(net.numerical_gradient(x, t)) == want


def test_extend_checkpoint_keeps_batchnorm_running_statistics(tmp_path):
    np.random.seed(0)
    a = MultiLayerNetExtend(6, [5, 5], 3, use_batchnorm=True)
    x, t = np.random.rand(20, 6), np.random.randint(0, 3, 20)
    for _ in range(5):
        a.gradient(x, t)
    a.save_params(tmp_path / "a.npz")
    np.random.seed(1)
    b = MultiLayerNetExtend(6, [5, 5], 3, use_batchnorm=True)
    b.load_params(tmp_path / "a.npz")
    assert_array_equal(b.layers["BatchNorm1"].running_mean, a.layers["BatchNorm1"].running_mean)
    assert_array_equal(b.predict(x), a.predict(x))


def test_load_params_relinks_layers_like_the_book(tmp_path):
    np.random.seed(0)
    a = SimpleConvNet(
        input_dim=(1, 10, 10),
        conv_param={"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1},
        hidden_size=5,
    )
    a.save_params(tmp_path / "p.pkl")
    np.random.seed(1)
    b = SimpleConvNet(
        input_dim=(1, 10, 10),
        conv_param={"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1},
        hidden_size=5,
    )
    b.params = {k: v.copy() for k, v in b.params.items()}  # a script that rebinds params
    b.load_params(tmp_path / "p.pkl")
    assert b.layers["Conv1"].W is b.params["W1"] and b.layers["Affine2"].b is b.params["b3"]
    x = np.random.rand(2, 1, 10, 10)
    assert_array_equal(b.predict(x), a.predict(x))


def test_default_file_name_is_the_books(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.random.seed(0)
    net = TwoLayerNet(4, 3, 2)
    net.save_params()
    assert (tmp_path / "params.pkl").read_bytes()[:2] == b"PK"  # .npz content under the book's name
    net.load_params()


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


def test_weight_decay_leaves_the_layers_data_gradient():
    np.random.seed(0)
    net = MultiLayerNet(6, [5], 3, weight_decay_lambda=0.5)
    x, t = np.random.rand(4, 6), np.array([0, 1, 2, 0])
    g = net.gradient(x, t)
    a1 = net.layers["Affine1"]
    assert g["W1"] is not a1.dW
    assert_allclose(g["W1"], a1.dW + 0.5 * a1.W, rtol=1e-15)


@pytest.mark.parametrize("cls", [L.Relu, L.Sigmoid, L.Tanh, L.LeakyRelu])
def test_zero_d_arrays_keep_their_shape(cls):
    layer = cls()
    y = layer.forward(np.array(-3.0))
    assert y.shape == ()
    assert layer.backward(np.array(1.0)).shape == ()


def test_simple_conv_net_refuses_geometries_its_affine_cannot_take():
    with pytest.raises(ValueError, match="conv_param gives a 7 wide convolution output"):
        SimpleConvNet(
            input_dim=(2, 13, 13), conv_param={"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 2}
        )
    with pytest.raises(ValueError, match="takes square images"):
        SimpleConvNet(
            input_dim=(1, 8, 12), conv_param={"filter_num": 3, "filter_size": 3, "pad": 0, "stride": 1}
        )


# -- found by the review of the second session's speed work ---------------------------------------


def mnist_like(rng, n, d=784, density=0.19):
    x = rng.random((n, d))
    x[rng.random((n, d)) >= density] = 0
    return x


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_optimizer_fast_path_copes_with_read_only_and_mixed_arrays(name):
    import pickle

    from fastbp import optimizer as O

    p = {"W": np.ones((3, 2)), "b": np.ones(2, np.float32)}
    g = {"W": np.full((3, 2), 0.5), "b": np.full(2, 0.5, np.float32)}
    g["W"].flags.writeable = False  # read-only gradients are a different Numba type
    opt = getattr(O, name)(lr=0.1)
    for _ in range(3):
        opt.update(p, g)
    pickle.loads(pickle.dumps(opt))  # the plan is a cache and is not pickled
    p["W"].flags.writeable = False  # read-only since the last step: refused, not written through
    with pytest.raises(ValueError, match="must be writeable"):
        opt.update(p, g)


def test_optimizer_state_in_another_layout_is_updated():
    from fastbp import optimizer as O

    p = {"W": np.ones((3, 2))}
    g = {"W": np.ones((3, 2))}
    opt = O.Momentum(lr=0.1, momentum=0.5)
    opt.v = {"W": np.asfortranarray(np.full((3, 2), 0.2))}
    opt.update(p, g)
    assert_allclose(opt.v["W"], 0.5 * 0.2 - 0.1)
    assert_allclose(p["W"], 1 + 0.5 * 0.2 - 0.1)


def test_tanh_unchecked_path_takes_any_layout_and_keeps_0d_arrays():
    from fastbp.graph import Graph

    x = np.asfortranarray(np.random.default_rng(3).standard_normal((100, 50)))
    y = Graph.sequential([L.Tanh()], validate=False).forward(x)
    assert_allclose(y, np.tanh(x), rtol=1e-14)
    assert isinstance(L.Tanh()._forward(np.array(0.5)), np.ndarray)


def test_graph_chain_follows_validate_changes_and_stops_at_a_none_gradient():
    from fastbp.graph import Graph

    rng = np.random.default_rng(4)
    g = Graph(("x",), validate=False)
    g.add(L.Affine(rng.standard_normal((5, 4)), np.zeros(4)))
    g.add(L.Relu())
    g.forward(rng.standard_normal((3, 5)))
    g.validate = True
    with pytest.raises(ValueError, match="NaN"):
        g.forward(np.full((3, 5), np.nan))

    class NoGrad:
        def forward(self, x):
            return x * 1

        def backward(self, dout):
            return None

    h = Graph(("x",), wrt=("x",))
    h.add(L.Affine(rng.standard_normal((5, 4)), np.zeros(4)))
    h.add(NoGrad())
    h.forward(rng.standard_normal((3, 5)))
    assert h.backward(np.ones((3, 4))) == {}
