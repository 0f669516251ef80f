"""fastbp.nets.conv: SimpleConvNet and DeepConvNet -- the book's structure, draws, gradient checks,
backends, the geometries they refuse, half-float inputs, and that they learn."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import layers as L
from fastbp.nets import DeepConvNet, MultiLayerNetExtend, SimpleConvNet
from fastbp.util import im2col


def small_simple(**kw):
    return SimpleConvNet(
        input_dim=(1, 10, 10),
        conv_param={"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1},
        hidden_size=10,
        output_size=10,
        **kw,
    )


def test_simple_conv_net_structure_and_draws():
    np.random.seed(0)
    net = SimpleConvNet()
    np.random.seed(0)
    W1 = 0.01 * np.random.randn(30, 1, 5, 5)
    W2 = 0.01 * np.random.randn(30 * 12 * 12, 100)
    assert_array_equal(net.params["W1"], W1)
    assert_array_equal(net.params["W2"], W2)
    assert list(net.layers) == ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]
    assert net.layers["Conv1"].W is net.params["W1"] and net.layers["Affine2"].b is net.params["b3"]


def test_simple_conv_net_gradient_check_as_chapter7():
    # the book's check: 10x10 input, 10 3x3 filters, hidden 10, the label given as a (1, 1) array
    np.random.seed(0)
    net = small_simple()
    x = np.random.rand(100).reshape((1, 1, 10, 10))
    t = np.array([1]).reshape((1, 1))
    num, bp = net.numerical_gradient(x, t), net.gradient(x, t)
    for k in num:
        assert np.mean(np.abs(bp[k] - num[k])) < 2e-5, k  # the book prints 1e-6 .. 1e-11


def test_simple_conv_net_gradient_relative_error():
    np.random.seed(1)
    net = small_simple(weight_init_std=0.3)
    x, t = np.random.rand(3, 1, 10, 10), np.array([1, 4, 7])
    num, bp = net.numerical_gradient(x, t), net.gradient(x, t)
    for k in num:
        assert np.abs(bp[k] - num[k]).max() / np.abs(num[k]).max() < 1e-6, k


def test_deep_conv_net_structure_draws_and_gradient():
    np.random.seed(0)
    net = DeepConvNet()
    assert (
        len(net.layers) == 20
        and [type(net.layers[i]).__name__ for i in DeepConvNet.PARAM_LAYERS]
        == ["Convolution"] * 6 + ["Affine"] * 2
    )
    np.random.seed(0)
    assert_array_equal(net.params["W1"], np.sqrt(2.0 / 9) * np.random.randn(16, 1, 3, 3))
    assert net.layers[7].pad == 2 and net.params["W7"].shape == (1024, 50)
    # gradient check on the training-mode loss with the dropout masks held fixed
    x, t = np.random.rand(2, 1, 28, 28), np.array([3, 4])
    state = np.random.get_state()

    def loss(_):
        np.random.set_state(state)
        return net.loss(x, t)

    np.random.set_state(state)
    grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    for key in ("W8", "b7", "W1"):
        p = net.params[key]
        for idx in [tuple(np.random.randint(0, s) for s in p.shape) for _ in range(3)]:
            orig = p[idx]
            p[idx] = orig + 1e-5
            fp = loss(None)
            p[idx] = orig - 1e-5
            fm = loss(None)
            p[idx] = orig
            assert grads[key][idx] == pytest.approx((fp - fm) / 2e-5, rel=1e-4, abs=1e-8), (key, idx)


def test_deep_conv_net_loss_is_training_mode_and_draws():
    np.random.seed(0)
    net = DeepConvNet()
    x, t = np.random.rand(3, 1, 28, 28), np.array([0, 1, 2])
    before = np.random.get_state()[1].copy()
    net.loss(x, t)
    assert not np.array_equal(np.random.get_state()[1], before)  # the two dropout masks were drawn
    before = np.random.get_state()[1].copy()
    net.predict(x)
    assert_array_equal(np.random.get_state()[1], before)  # prediction draws nothing


def test_accuracy_is_batched_with_the_books_under_count():
    np.random.seed(0)
    net = small_simple()
    x = np.random.rand(150, 1, 10, 10)
    y = np.argmax(net.predict(x), axis=1)
    acc = net.accuracy(x, y)  # labels = the predictions: the first 100 are right, the last 50 not counted
    assert acc == pytest.approx(100 / 150)


@pytest.mark.parametrize(
    "Net",
    [
        small_simple,
        lambda **kw: MultiLayerNetExtend(100, [20, 20], 10, use_batchnorm=True, use_dropout=True, **kw),
    ],
)
def test_backends_agree(Net):
    x = np.random.default_rng(0).random((6, 1, 10, 10))
    t = np.array([0, 1, 2, 3, 4, 5])
    out = []
    for backend in ("fastbp", "numpy"):
        np.random.seed(0)
        net = Net(backend=backend)
        if isinstance(net, MultiLayerNetExtend):
            xx = x.reshape(6, -1)
        else:
            xx = x
        np.random.seed(1)
        grads = {k: v.copy() for k, v in net.gradient(xx, t).items()}
        out.append((float(net.loss(xx, t)), grads, net.predict(xx)))
    (l1, g1, p1), (l2, g2, p2) = out
    assert l1 == pytest.approx(l2, rel=1e-12)
    assert_allclose(p1, p2, rtol=1e-10, atol=1e-12)
    for k in g1:
        assert_allclose(g1[k], g2[k], rtol=1e-9, atol=1e-12)


def test_conv_nets_learn_a_generated_task():
    # two classes of 10x10 images: a bright vertical bar vs a horizontal one, in noise
    r = np.random.default_rng(0)
    n = 200
    t = r.integers(0, 2, n)
    x = r.random((n, 1, 10, 10)) * 0.3
    pos = r.integers(2, 8, n)
    for i in range(n):
        if t[i]:
            x[i, 0, :, pos[i]] += 1
        else:
            x[i, 0, pos[i], :] += 1
    np.random.seed(0)
    net = SimpleConvNet(
        input_dim=(1, 10, 10),
        conv_param={"filter_num": 6, "filter_size": 3, "pad": 1, "stride": 1},
        hidden_size=20,
        output_size=2,
        weight_init_std=0.1,
    )
    from fastbp.optimizer import Adam

    opt = Adam(0.01)
    for _ in range(60):
        idx = np.random.choice(n, 20)
        opt.update(net.params, net.gradient(x[idx], t[idx]))
    assert net.accuracy(x, t, batch_size=50) > 0.95


def test_conv_net_input_errors():
    net = small_simple()
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 10, 10\)"):
        net.predict(np.ones((2, 100)))
    with pytest.raises(ValueError, match="conv_param must be a dict with keys"):
        SimpleConvNet(conv_param={"filter_num": 3})
    with pytest.raises(ValueError, match="too small to pool"):
        SimpleConvNet(
            input_dim=(1, 4, 4), conv_param={"filter_num": 3, "filter_size": 4, "pad": 0, "stride": 1}
        )


def test_save_and_load_round_trip(tmp_path):
    np.random.seed(0)
    a = DeepConvNet()
    a.save_params(tmp_path / "deep.pkl")
    np.random.seed(1)
    b = DeepConvNet()
    b.load_params(tmp_path / "deep.pkl")
    x = np.random.rand(2, 1, 28, 28)
    assert_array_equal(a.predict(x), b.predict(x))
    assert b.layers[18].W is b.params["W8"]


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


def test_simple_conv_net_refuses_geometries_its_affine_cannot_take():
    with pytest.raises(ValueError, match="conv_param gives a 7 wide convolution output"):
        SimpleConvNet(
            input_dim=(2, 13, 13), conv_param={"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 2}
        )
    with pytest.raises(ValueError, match="takes square images"):
        SimpleConvNet(
            input_dim=(1, 8, 12), conv_param={"filter_num": 3, "filter_size": 3, "pad": 0, "stride": 1}
        )
