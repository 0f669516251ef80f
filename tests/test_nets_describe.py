"""Self-describing checkpoints: a saved network records its class and constructor arguments."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastbp import checkpoint, nets

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
