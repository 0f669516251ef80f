"""fastbp.nets.network: what every network shares -- save_params/load_params (the book's file name,
layers relinked to the loaded arrays, batch norm's running statistics kept)."""

import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import checkpoint, nets
from fastbp.nets import MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, TwoLayerNet


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


@pytest.mark.parametrize(
    "make",
    [lambda: TwoLayerNet(6, 5, 3, dtype=np.float32), lambda: MultiLayerNet(6, [5], 3, dtype=np.float32)],
)
def test_float64_beyond_float32_range_is_refused_by_a_float32_network(make):  # 11.5
    np.random.seed(0)
    net32 = make()
    x = np.ones((16, 6))
    x[3, 2] = 1e39
    for entry in (net32.loss, net32.gradient):
        with pytest.raises(
            ValueError, match=r"x holds values beyond the range of float32 \(first at index \(3, 2\)"
        ):
            entry(x, np.zeros(16, int))


def test_one_network_used_from_two_threads_is_refused_not_wrong():  # 11.11
    rng = np.random.default_rng(2)
    np.random.seed(0)
    net = MultiLayerNet(784, [100, 100], 10)
    batches = [(rng.random((64, 784)), rng.integers(0, 10, 64)) for _ in range(8)]
    want = [float(net.loss(x, t)) for x, t in batches]
    wrong, refused, done = [], [], []

    def work(seed):
        for i in range(60):
            j = (i + seed) % 8
            try:
                got = float(net.loss(*batches[j]))  # a scalar: nothing shared after the call
            except RuntimeError as e:
                assert "another thread" in str(e)
                refused.append(j)
                continue
            done.append(j)
            if got != want[j]:
                wrong.append((j, got, want[j]))

    threads = [threading.Thread(target=work, args=(s,)) for s in (0, 3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not wrong
    assert done


# -- self-describing checkpoints: a saved network records its class and constructor arguments --
SMALL_CONV = {"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1}
MAKERS = {
    "two": lambda: nets.TwoLayerNet(20, 7, 3),
    "multi-tanh": lambda: nets.MultiLayerNet(20, [7, 5], 3, activation="tanh", weight_decay_lambda=0.1),
    "extend": lambda: nets.MultiLayerNetExtend(20, [7], 3, use_batchnorm=True, use_dropout=True),
    "simple-conv": lambda: nets.SimpleConvNet((1, 12, 12), SMALL_CONV, hidden_size=6, output_size=3),
    "float32": lambda: nets.MultiLayerNet(20, [6], 3, dtype=np.float32),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_a_saved_network_is_rebuilt_from_its_file_alone(tmp_path, name):
    np.random.seed(0)
    net = MAKERS[name]()
    path = tmp_path / "net.npz"
    net.save_params(path)
    state = np.random.get_state()[1].copy()
    back = nets.load(path)
    assert (np.random.get_state()[1] == state).all()  # loading draws nothing from the user's stream
    assert type(back) is type(net) and back.dtype == net.dtype
    assert checkpoint.read_description(path) == net.describe()
    x = np.random.rand(4, *((1, 12, 12) if name == "simple-conv" else (20,)))
    assert_allclose(back.predict(x), net.predict(x), rtol=1e-12)


def test_parameters_of_another_kind_are_refused_naming_both(tmp_path):
    np.random.seed(0)
    nets.MultiLayerNet(20, [7], 3, activation="tanh").save_params(tmp_path / "tanh.npz")
    relu = nets.MultiLayerNet(20, [7], 3)
    before = {k: v.copy() for k, v in relu.params.items()}
    with pytest.raises(
        ValueError, match=r"holds the parameters of MultiLayerNet\(.*activation='tanh'.*not of this"
    ):
        relu.load_params(tmp_path / "tanh.npz")
    for k in before:
        assert (relu.params[k] == before[k]).all()
    other = nets.MultiLayerNet(20, [7], 3, activation="tanh", weight_decay_lambda=0.5, weight_init_std=0.1)
    other.load_params(tmp_path / "tanh.npz")  # training-only arguments may differ
    nets.MultiLayerNet(20, [7], 3, activation="tanh", dtype=np.float32).load_params(tmp_path / "tanh.npz")


def test_files_without_a_description_still_load_but_cannot_rebuild(tmp_path):
    np.random.seed(0)
    net = nets.TwoLayerNet(5, 4, 3)
    checkpoint.save(tmp_path / "old.npz", net.params)  # as an older fastbp wrote them
    nets.TwoLayerNet(5, 4, 3).load_params(tmp_path / "old.npz")
    assert checkpoint.read_description(tmp_path / "old.npz") is None
    with pytest.raises(ValueError, match="does not describe its network"):
        nets.load(tmp_path / "old.npz")
    with pytest.raises(ValueError, match="reserved"):
        checkpoint.save(tmp_path / "x.npz", {checkpoint.DESCRIPTION_KEY: np.zeros(2)})


def test_a_user_built_network_saves_without_a_description(tmp_path):
    from fastbp import layers as L

    rng = np.random.default_rng(0)
    seq = nets.Sequential([L.Affine(rng.standard_normal((4, 3)), np.zeros(3))])
    assert seq.describe() is None
    seq.save_params(tmp_path / "s.npz")
    seq.load_params(tmp_path / "s.npz")
    with pytest.raises(ValueError, match="does not describe"):
        nets.load(tmp_path / "s.npz")


# -- the network's guards: its graph, its layers, its input buffers, threads ---------------------------
def test_a_network_refuses_a_graph_whose_last_node_is_not_the_loss_on_the_scores():
    from fastbp import layers as L
    from fastbp.graph import Graph
    from fastbp.nets import Network

    rng = np.random.default_rng(0)
    g = Graph(("x", "t"))
    g.add(L.Affine(rng.standard_normal((4, 3)), np.zeros(3)), output="scores")
    g.add(L.SoftmaxWithLoss(), ("scores", "t"))  # n_grads defaults to 2: labels would get a gradient
    with pytest.raises(ValueError, match="n_grads=1"):
        Network(g)
    g = Graph(("x", "t"))
    h = g.add(L.Affine(rng.standard_normal((4, 3)), np.zeros(3)), output="scores")
    g.add(L.Relu(), h, output="h2")
    g.add(L.SoftmaxWithLoss(), ("h2", "t"), "loss", n_grads=1)  # the loss does not read the scores
    with pytest.raises(ValueError, match="reading \\('scores'"):
        Network(g)


def test_sequential_refuses_what_is_not_a_layer_and_takes_an_input_shape():
    from fastbp import layers as L
    from fastbp.nets import Sequential

    W = np.ones((4, 3))
    with pytest.raises(TypeError, match=r"layers\['int1'\] must be a layer"):
        Sequential([L.Affine(W, np.zeros(3)), 5])
    with pytest.raises(TypeError, match="loss is the class SoftmaxWithLoss; pass an instance"):
        Sequential([L.Affine(W, np.zeros(3))], loss=L.SoftmaxWithLoss)
    net = Sequential([L.Dropout(0.0), L.Affine(W, np.zeros(3))], input_shape=(4,))
    assert net.predict(np.ones((2, 4))).shape == (2, 3)


def test_a_user_subclass_of_multilayernet_builds_its_graph():
    class MyNet(MultiLayerNet):
        pass

    np.random.seed(0)
    net = MyNet(6, [4], 3)
    assert np.isfinite(net.loss(np.ones((2, 6)), np.array([0, 1])))


def test_parameters_no_gradient_reaches_are_zero_not_stale():
    from fastbp import layers as L
    from fastbp.nets import Sequential

    class Stop:  # a user layer that passes no gradient back
        def forward(self, x):
            return x * 1

        def backward(self, dout):
            return None

    rng = np.random.default_rng(1)
    net = Sequential(
        [
            L.Affine(rng.standard_normal((4, 3)), np.zeros(3)),
            Stop(),
            L.Affine(rng.standard_normal((3, 2)), np.zeros(2)),
        ]
    )
    x, t = rng.standard_normal((5, 4)), rng.integers(0, 2, 5)
    g = net.gradient(x, t)
    assert not g["W1"].any() and not g["b1"].any() and g["W2"].any()  # (the user's layer said: none)


def test_a_refused_input_does_not_overwrite_the_last_pass_input():
    np.random.seed(0)
    net = TwoLayerNet(6, 4, 3)
    x = np.random.rand(5, 6).astype(np.float32)  # converted into the network's float64 buffer
    net.gradient(x, np.zeros(5, int))
    kept = net.layers["Affine1"].x.copy()
    bad = x.copy()
    bad[-1, -1] = np.nan  # found at the end of the copy
    with pytest.raises(ValueError, match="NaN"):
        net.gradient(bad, np.zeros(5, int))
    assert_array_equal(net.layers["Affine1"].x, kept)


def test_two_threads_converting_their_input_on_one_network_never_mix_passes():
    rng = np.random.default_rng(3)
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    batches = [(rng.random((32, 784)).astype(np.float32), rng.integers(0, 10, 32)) for _ in range(6)]
    want = [float(net.loss(x, t)) for x, t in batches]
    wrong, done = [], []

    def work(seed):
        for i in range(80):
            j = (i + seed) % 6
            try:
                got = float(net.loss(*batches[j]))
            except RuntimeError:
                continue
            done.append(j)
            if got != want[j]:
                wrong.append(j)

    threads = [threading.Thread(target=work, args=(s,)) for s in (0, 3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert done and not wrong


@pytest.mark.parametrize("n", [1, 16])
def test_labels_in_another_byte_order_are_read_as_their_values(n):
    np.random.seed(0)
    net = TwoLayerNet(20, 8, 3)
    x = np.random.rand(n, 20)
    t = np.arange(n) % 3
    want = {k: v.copy() for k, v in net.gradient(x, t).items()}
    got = net.gradient(x, t.astype(">i8"))
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    with pytest.raises(ValueError, match=r"t\[0\] = 3 is not a class index"):
        net.gradient(x, (t + 3).astype(">i4"))
