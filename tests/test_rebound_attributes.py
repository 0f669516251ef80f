"""Layer attributes rebound after construction (the book's code reads and sets them) to arrays that no
longer fit: every path refuses them with a ValueError before it writes, instead of compiled code
reading or writing past an array's end (which had corrupted the heap: the interpreter then aborted).
The kernels check no index, so each kernel or its caller checks the sizes it relies on."""

import numpy as np
import pytest
from conftest import DTYPES

from fastbp import layers as L
from fastbp.nets import MultiLayerNetExtend, SimpleConvNet, TwoLayerNet


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
