"""Layer attributes rebound after construction (the book's code reads and sets them) to arrays that no
longer fit: every path refuses them with a ValueError before it writes, instead of compiled code
reading or writing past an array's end (which had corrupted the heap: the interpreter then aborted).
The kernels check no index, so each kernel or its caller checks the sizes it relies on."""

import numpy as np
import pytest
from conftest import DTYPES

from fastbp import layers as L
from fastbp.nets import MultiLayerNet, MultiLayerNetExtend, Sequential, SimpleConvNet, TwoLayerNet


def rng():
    return np.random.default_rng(0)


def conv_net(channels=1):
    conv_param = {"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1}
    np.random.seed(0)
    net = SimpleConvNet(input_dim=(channels, 10, 10), conv_param=conv_param, hidden_size=8, output_size=3)
    return net, net.layers["Conv1"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("when", ["forward", "backward"])
def test_a_convolution_bias_of_another_length(dtype, when):
    conv = L.Convolution(rng().standard_normal((4, 1, 3, 3)).astype(dtype), np.zeros(4, dtype))
    x = rng().standard_normal((2, 1, 6, 6)).astype(dtype)
    if when == "backward":
        out = conv.forward(x)
    conv.b = np.zeros(1, dtype)
    with pytest.raises(ValueError, match=r"Convolution\.\w+: W \(4, 1, 3, 3\), b \(1,\)"):
        conv.forward(x) if when == "forward" else conv.backward(np.ones_like(out))


def test_a_convolution_input_of_other_channels_before_backward():
    conv = L.Convolution(rng().standard_normal((2, 1, 3, 3)), np.zeros(2))
    out = conv.forward(rng().standard_normal((2, 1, 6, 6)))
    conv.x = rng().standard_normal((2, 3, 6, 6))
    with pytest.raises(ValueError, match="do not agree"):
        conv.backward(np.ones_like(out))


@pytest.mark.parametrize("change", ["b", "W"])
def test_a_conv_net_whose_filters_were_rebound(change):
    """The fused convolution, ReLU and pooling node (networks skip the layers' own checks)."""
    net, conv = conv_net(channels=1 if change == "b" else 3)
    x = rng().standard_normal((2, conv.W.shape[1], 10, 10))
    if change == "b":
        conv.b = np.zeros(1)
    else:
        conv.W = np.ascontiguousarray(conv.W[:, :1])
    with pytest.raises(ValueError, match="do not agree"):
        net.gradient(x, np.array([0, 1]))
    with pytest.raises(ValueError, match="do not agree"):
        net.predict(x)


@pytest.mark.parametrize("change", ["stride", "x", "arg_max", "pad"])
def test_pooling_state_changed_between_the_passes(change):
    p = L.Pooling(2, 2, stride=2)
    x = rng().standard_normal((1, 1, 4, 4))
    if change == "pad":  # (the constructor refuses a pad as large as the window; the attribute not)
        p.pad = 2
    out = p.forward(x)
    if change == "stride":
        p.stride = 3
    elif change == "x":
        p.x = np.zeros((1, 1, 2, 2))
    elif change == "arg_max":
        p.arg_max = np.full_like(p.arg_max, 40)
    with pytest.raises(ValueError, match="maxim"):
        p.backward(np.ones_like(out))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("change", ["beta", "running_mean", "running_var", "gamma", "std"])
def test_batch_normalization_vectors_of_another_length(change, dtype):
    bn = L.BatchNormalization(np.ones(5, dtype), np.zeros(5, dtype))
    x = rng().standard_normal((3, 5)).astype(dtype)
    out = bn.forward(x)
    setattr(bn, change, np.ones(1, dtype))
    with pytest.raises(ValueError, match="one entry per feature"):
        if change in ("gamma", "std"):
            bn.backward(np.ones_like(out))
        else:
            bn.forward(x, train_flg=change != "running_var")


def test_a_network_whose_batch_normalization_was_rebound():
    np.random.seed(0)
    net = MultiLayerNetExtend(input_size=6, hidden_size_list=[5], output_size=3, use_batchnorm=True)
    net.layers["BatchNorm1"].gamma = np.ones(1)
    net.layers["BatchNorm1"].beta = np.zeros(1)
    with pytest.raises(ValueError, match="one entry per feature"):
        net.gradient(rng().standard_normal((4, 6)), np.array([0, 1, 2, 0]))


def test_a_dropout_mask_of_another_size():
    d = L.Dropout(0.5)
    out = d.forward(np.ones((4, 5)))
    d.mask = np.ones(2, bool)
    with pytest.raises(ValueError, match="dropout mask"):
        d.backward(np.ones_like(out))


@pytest.mark.parametrize("form", ["labels", "target rows"])
def test_softmax_labels_rebound_to_fewer_rows(form):
    s = L.SoftmaxWithLoss()
    x = rng().standard_normal((64, 3))
    t = np.zeros(64, np.int64)
    s.forward(x, t if form == "labels" else np.eye(3)[t])
    s.t = t[:1] if form == "labels" else np.eye(3)[:1].copy()
    with pytest.raises(ValueError, match="one (label|target row) per row"):
        s.backward()


def test_a_sparse_first_layer_whose_weights_lost_rows():
    """The listed (CSR) first layer indexes W's rows by x's columns: a W rebound to fewer rows goes to
    BLAS, which refuses it (it had read W and written dW past their ends)."""
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    net.layers["Affine1"].W = np.ascontiguousarray(net.layers["Affine1"].W[:100])
    r = rng()
    x = np.where(r.random((16, 784)) < 0.15, r.random((16, 784)), 0.0)  # sparse enough to be listed
    for call in (lambda: net.predict(x), lambda: net.gradient(x, r.integers(0, 10, 16))):
        with pytest.raises(ValueError, match="not aligned"):
            call()


def test_a_compiled_mlp_backward_after_the_first_layer_ran_on_another_batch():
    np.random.seed(0)
    net = TwoLayerNet(20, 50, 10)
    net.loss(rng().standard_normal((2, 20)), np.array([1, 2]))  # the compiled loops (batch 2)
    net.layers["Affine1"].forward(rng().standard_normal((64, 20)))
    with pytest.raises(ValueError, match="not the batch of the forward pass"):
        net.graph.backward(1.0)


@pytest.mark.parametrize("layout", ["read-only", "strided"])
def test_batch_normalization_takes_read_only_and_strided_vectors(layout):
    """(The size checks are one call per vector: a loop over a tuple of them failed to compile when
    they were of different array types.)"""
    bn = L.BatchNormalization(np.ones(5), np.zeros(5))
    if layout == "read-only":
        bn.gamma.flags.writeable = False
        bn.beta.flags.writeable = False
    else:
        bn.gamma = np.ones(10)[::2]
    x = rng().standard_normal((3, 5))
    ref = L.BatchNormalization(np.ones(5), np.zeros(5))
    np.testing.assert_array_equal(bn.forward(x), ref.forward(x))
    np.testing.assert_array_equal(bn.backward(np.ones((3, 5))), ref.backward(np.ones((3, 5))))
    np.testing.assert_array_equal(bn.forward(x, train_flg=False), ref.forward(x, train_flg=False))


@pytest.mark.parametrize("path", ["kept", "loss"])  # (the forward kept the patches, or did not)
@pytest.mark.parametrize("change", ["pool stride", "pool_w", "conv pad", "conv stride", "5x5 W", "arg_max"])
def test_a_conv_net_whose_settings_changed_between_the_passes(change, path):
    net, conv = conv_net()
    pool = net.layers["Pool1"]
    x, t = rng().standard_normal((2, 1, 10, 10)), np.array([0, 1])
    if path == "kept":
        net.graph.forward(x, t, train_flg=True, grad=True)
    else:
        net.loss(x, t)
    if change == "pool stride":
        pool.stride = 3
    elif change == "pool_w":
        pool.pool_w = 1
    elif change == "conv pad":
        conv.pad = 2
    elif change == "conv stride":
        conv.stride = 2
    elif change == "5x5 W":
        conv.W = np.ones((4, 1, 5, 5))
    else:
        pool.arg_max[...] = 40  # (in place: the fused node holds the same array)
    with pytest.raises(ValueError, match="changed since the forward pass|recorded maximum lies outside"):
        net.graph.backward(1.0)


@pytest.mark.parametrize("n", [2, 32])  # the compiled loops; the one-call BLAS step
@pytest.mark.parametrize("change", ["W2 between the passes", "hidden x", "gradient returned"])
def test_a_compiled_mlp_whose_arrays_were_reshaped_in_place(change, n):
    np.random.seed(0)
    net = TwoLayerNet(20, 50, 10)
    r = rng()
    x, t = r.standard_normal((n, 20)), r.integers(0, 10, n)
    with pytest.raises(ValueError, match="no longer chain|wrong dimensions"):
        if change == "W2 between the passes":
            net.loss(x, t)
            net.params["W2"].shape = (100, 5)
            net.graph.backward(1.0)
        elif change == "hidden x":  # (the second layer's x is the node's buffer of the first's output)
            net.gradient(x, t)
            net.layers["Affine2"].x.shape = (1, n * 50)
            net.gradient(x, t)
        else:
            net.gradient(x, t)["W2"].shape = (10, 50)
            net.gradient(x, t)


@pytest.mark.parametrize("net_kind", ["sigmoid", "relu"])
def test_an_activation_output_rebound_between_the_passes(net_kind):
    np.random.seed(0)
    r = rng()
    x, t = r.standard_normal((200, 20)), r.integers(0, 10, 200)
    if net_kind == "sigmoid":
        net = MultiLayerNet(20, [50], 10, activation="sigmoid")
        layer = "Activation_function1"
    else:  # (the fused Affine+ReLU's backward reads the Relu's out)
        net = MultiLayerNet(20, [50, 50], 10)
        layer = "Activation_function2"
    net.loss(x, t)
    net.layers[layer].out = np.ones((1, 50))
    with pytest.raises(ValueError, match="out is not the gradient's"):
        net.graph.backward(1.0)


@pytest.mark.parametrize("where", ["layer", "conv net"])
@pytest.mark.parametrize("size", [0, -1])
def test_a_pooling_window_rebound_to_nothing(where, size):
    x = rng().standard_normal((2, 1, 10, 10))
    if where == "layer":
        p = L.Pooling(2, 2, stride=2)
        p.pool_w = size
        call = lambda: p.forward(x)  # noqa: E731
    else:
        net, _ = conv_net()
        net.layers["Pool1"].pool_h = size
        call = lambda: net.predict(x)  # noqa: E731
    with pytest.raises(ValueError, match="window and stride must be positive"):
        call()


def test_a_listed_first_layer_does_not_write_past_a_gradient_for_other_rows():
    """The list's columns are kept with it: W and x both rebound to 100 columns pass a size test, but
    not that one (its kernel had written 22,700 entries past dW's end)."""
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    r = rng()
    x = np.where(r.random((16, 784)) < 0.15, r.random((16, 784)), 0.0)
    net.loss(x, r.integers(0, 10, 16))
    a = net.layers["Affine1"]
    assert net.node_of(a).listed
    a.W = np.ascontiguousarray(a.W[:100])
    a.x = np.zeros((16, 100))
    guard = np.zeros(784 * 50 + 1000)
    a._bufs["dW"] = guard[: 100 * 50].reshape(100, 50)
    net.graph.backward(1.0)
    assert not guard[100 * 50 :].any()


@pytest.mark.parametrize("path", ["kept", "loss"])
def test_a_recorded_maximum_moved_out_of_its_window_in_place(path):
    """(11 x 11 images: the 9 x 9 convolution output pools to 4 x 4, so a moved maximum may still land
    inside the output, where only the window check sees it.)"""
    r = rng()
    conv = L.Convolution(r.standard_normal((4, 1, 3, 3)), np.zeros(4))
    pool = L.Pooling(2, 2, stride=2)
    net = Sequential([conv, L.Relu(), pool, L.Affine(r.standard_normal((64, 3)), np.zeros(3))])
    x, t = r.standard_normal((2, 1, 11, 11)), np.array([0, 1])
    if path == "kept":
        net.graph.forward(x, t, train_flg=True, grad=True)
    else:
        net.loss(x, t)
    pool.arg_max[...] = 4
    with pytest.raises(ValueError, match="outside its window"):
        net.graph.backward(1.0)


def test_a_pooling_pad_set_after_the_network_was_built_is_applied():
    """The fused node has no padding: such a pool runs as the layers (it had been silently ignored)."""
    net, _ = conv_net()
    x = rng().standard_normal((2, 1, 10, 10))
    unpadded = net.predict(x)
    net.layers["Pool1"].pad = 1
    net.layers["Affine1"].W = np.ones((4 * 5 * 5, 8))  # (the padded pool gives 5 x 5)
    by_hand = x
    for layer in net.layers.values():
        by_hand = layer.forward(by_hand)
    np.testing.assert_allclose(net.predict(x), by_hand, rtol=1e-12)
    assert net.predict(x).shape == unpadded.shape


def test_a_convolution_whose_stride_or_pad_changed_between_the_passes():
    """Its backward makes the patches again: with another stride and pad (an output of the same size)
    it had given another dW, silently."""
    conv = L.Convolution(rng().standard_normal((2, 1, 3, 3)), np.zeros(2))
    out = conv.forward(rng().standard_normal((2, 1, 10, 10)))
    conv.stride, conv.pad = 2, 4
    with pytest.raises(ValueError, match=r"stride and pad are \(2, 4\), the forward pass ran with \(1, 0\)"):
        conv.backward(np.ones_like(out))
