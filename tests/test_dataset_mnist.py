"""The book's ``dataset/mnist.py`` drop-in, on tiny MNIST files the tests write (file:// mirrors only)."""

import importlib
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from test_data import N_TEST, N_TRAIN, NAMES, make_mnist

from fastbp import data
from fastbp.dataset import mnist


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Tiny MNIST files in tmp_path/src, their digests standing in for the real ones; FASTBP_* unset."""
    for var in ("FASTBP_DATA", "FASTBP_MNIST_MIRRORS"):
        monkeypatch.delenv(var, raising=False)
    files = make_mnist(tmp_path / "src")
    for name, sha in files.sums.items():
        monkeypatch.setitem(data.MNIST_FILES, name, sha)
    return files


def test_the_books_module_constants():
    assert mnist.key_file == {
        "train_img": "train-images-idx3-ubyte.gz",
        "train_label": "train-labels-idx1-ubyte.gz",
        "test_img": "t10k-images-idx3-ubyte.gz",
        "test_label": "t10k-labels-idx1-ubyte.gz",
    }
    assert set(mnist.key_file.values()) == set(data.MNIST_FILES)
    assert (mnist.train_num, mnist.test_num, mnist.img_dim, mnist.img_size) == (
        60000,
        10000,
        (1, 28, 28),
        784,
    )
    assert mnist.url_base == data.MNIST_MIRRORS[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert not hasattr(mnist, "save_file")  # nothing is pickled


def test_dataset_dir_follows_fastbp_data_at_import(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTBP_DATA", str(tmp_path))
    try:
        assert importlib.reload(mnist).dataset_dir == str(tmp_path)
    finally:
        monkeypatch.delenv("FASTBP_DATA")
        importlib.reload(mnist)
    assert mnist.dataset_dir == str(data.get_data_dir())


@pytest.mark.parametrize("normalize, flatten, one_hot_label", [(True, True, False), (False, False, True)])
def test_load_mnist_reads_dataset_dir(tiny, monkeypatch, normalize, flatten, one_hot_label):
    monkeypatch.setattr(mnist, "dataset_dir", str(tiny.dir))
    (x, t), (xt, tt) = mnist.load_mnist(normalize=normalize, flatten=flatten, one_hot_label=one_hot_label)
    assert x.shape == ((N_TRAIN, 784) if flatten else (N_TRAIN, 1, 28, 28))
    assert xt.shape == ((N_TEST, 784) if flatten else (N_TEST, 1, 28, 28))
    assert x.dtype == (np.float32 if normalize else np.uint8)
    assert t.dtype == (np.float64 if one_hot_label else np.uint8)
    assert tt.shape == ((N_TEST, 10) if one_hot_label else (N_TEST,))
    want = tiny.arrays[NAMES[0]].reshape(x.shape)
    assert_array_equal(x, want.astype(np.float32) / np.float32(255) if normalize else want)


def test_download_and_init_fetch_verify_and_cache(tmp_path, tiny, monkeypatch):
    target = tmp_path / "data"
    monkeypatch.setattr(mnist, "dataset_dir", str(target))
    monkeypatch.setenv("FASTBP_MNIST_MIRRORS", f"{(tmp_path / 'nowhere').as_uri()},{tiny.dir.as_uri()}")
    assert mnist.download_mnist() is None
    assert sorted(p.name for p in target.iterdir()) == sorted(NAMES)
    assert mnist.init_mnist() is None
    cache = sorted(p.name for p in target.glob("*.npy"))  # named after the source and array digests
    want = (
        f"{n.removesuffix('.gz')}.{tiny.sums[n][:16]}.{data._array_digest(tiny.arrays[n])}.npy" for n in NAMES
    )
    assert cache == sorted(want)
    (x, t), _ = mnist.load_mnist(normalize=False)
    assert_array_equal(x.reshape(N_TRAIN, 28, 28), tiny.arrays[NAMES[0]])
    assert_array_equal(t, tiny.arrays[NAMES[1]])


def test_files_that_no_mirror_serves_raise_the_clear_error(tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(mnist, "dataset_dir", str(tmp_path / "empty"))
    monkeypatch.setenv("FASTBP_MNIST_MIRRORS", (tmp_path / "nowhere").as_uri())
    with pytest.raises(data.MnistUnavailableError, match="every mirror failed") as e:
        mnist.load_mnist()
    assert str(tmp_path / "empty") in str(e.value) and "FASTBP_DATA" in str(e.value)


def test_nothing_is_pickled():
    for path in [*Path(data.__file__).parent.glob("*.py"), Path(mnist.__file__)]:
        src = path.read_text(encoding="utf-8")
        assert "import pickle" not in src and "allow_pickle=True" not in src
