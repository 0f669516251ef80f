"""save_params / load_params: .npz, atomic, validated, pickles refused unless asked for."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastbp.nets import MultiLayerNet, TwoLayerNet


def net(seed=0, **kw):
    np.random.seed(seed)
    return TwoLayerNet(6, 4, 3, weight_init_std=1.0, **kw)


def test_round_trip_in_place_keeps_layers_linked(tmp_path):
    a, b = net(0), net(1)
    a.save_params(tmp_path / "p.npz")
    W1 = b.params["W1"]
    b.load_params(tmp_path / "p.npz")
    assert b.params["W1"] is W1 and b.layers["Affine1"].W is W1
    for k in a.params:
        assert_array_equal(b.params[k], a.params[k])
    x = np.random.rand(2, 6)
    assert_array_equal(b.predict(x), a.predict(x))


def test_the_books_file_name_gets_npz_content(tmp_path):
    a = net(0)
    a.save_params(tmp_path / "params.pkl")
    assert (tmp_path / "params.pkl").read_bytes()[:4] == b"PK\x03\x04"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.pkl"]  # no temporary left
    b = net(1)
    b.load_params(tmp_path / "params.pkl")
    assert_array_equal(b.params["W2"], a.params["W2"])


def test_float64_file_into_float32_net(tmp_path):
    a = net(0)
    a.save_params(tmp_path / "p.npz")
    b = net(1, dtype=np.float32)
    b.load_params(tmp_path / "p.npz")
    assert b.params["W1"].dtype == np.float32
    assert_array_equal(b.params["W1"], a.params["W1"].astype(np.float32))


def test_pickles_are_refused_unless_allowed(tmp_path):
    a = net(0)
    path = tmp_path / "book.pkl"
    with open(path, "wb") as f:
        pickle.dump({k: v.copy() for k, v in a.params.items()}, f)
    b = net(1)
    before = b.params["W1"].copy()
    with pytest.raises(ValueError, match="is a pickle .* allow_pickle=True"):
        b.load_params(path)
    assert_array_equal(b.params["W1"], before)
    b.load_params(path, allow_pickle=True)
    assert_array_equal(b.params["W1"], a.params["W1"])


def test_mismatched_or_corrupt_files_change_nothing(tmp_path):
    b = net(1)
    before = {k: v.copy() for k, v in b.params.items()}
    np.random.seed(0)
    MultiLayerNet(6, [4, 4], 3).save_params(tmp_path / "other.npz")
    with pytest.raises(
        ValueError, match=r"does not match the network: missing \[\], unexpected \['W3', 'b3'\]"
    ):
        b.load_params(tmp_path / "other.npz")
    np.savez(tmp_path / "shape.npz", **{**before, "W1": np.zeros((4, 6))})
    with pytest.raises(ValueError, match=r"W1 has shape \(4, 6\), the network's has \(6, 4\)"):
        b.load_params(tmp_path / "shape.npz")
    np.savez(tmp_path / "nan.npz", **{**before, "b2": np.array([0, np.nan, 0])})
    with pytest.raises(ValueError, match="b2 contains NaN"):
        b.load_params(tmp_path / "nan.npz")
    good = tmp_path / "good.npz"
    net(0).save_params(good)
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        b.load_params(tmp_path / "cut.npz")
    (tmp_path / "junk").write_bytes(b"hello")
    with pytest.raises(ValueError, match="not a parameter file"):
        b.load_params(tmp_path / "junk")
    with pytest.raises(FileNotFoundError, match="no parameter file"):
        b.load_params(tmp_path / "missing.npz")
    for k in before:
        assert_array_equal(b.params[k], before[k])
