"""fastbp.nets.network: what every network shares -- save_params/load_params (the book's file name,
layers relinked to the loaded arrays, batch norm's running statistics kept)."""

import numpy as np
from numpy.testing import assert_array_equal

from fastbp.nets import MultiLayerNetExtend, SimpleConvNet, TwoLayerNet


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
