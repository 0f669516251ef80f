"""The book's ``dataset/mnist.py``, drop-in: change ``from dataset.mnist import load_mnist`` to
``from fastbp.dataset.mnist import load_mnist`` and nothing else.

``load_mnist`` returns what the book's does (see :func:`fastbp.data.load_mnist`), with the files
checked against their SHA-256 and downloaded from a working mirror. What differs, on purpose:

- ``dataset_dir`` is not the folder of this module but the data directory, resolved at import:
  ``FASTBP_DATA`` if set, else the user cache folder (:func:`fastbp.data.get_data_dir`). The functions
  here read it when called, so assigning ``mnist.dataset_dir = "..."`` redirects them, as in the book.
- Nothing is pickled, so there is no ``save_file``: the parsed arrays are cached as ``.npy`` files in
  ``dataset_dir`` and loaded without pickle.
- ``url_base`` is the first mirror (the original site now refuses); all of
  :data:`fastbp.data.MNIST_MIRRORS` are tried in turn.
"""

from __future__ import annotations

import os

from fastbp import data as _data

url_base = _data.MNIST_MIRRORS[0]
key_file = {
    "train_img": _data.TRAIN_IMAGES,
    "train_label": _data.TRAIN_LABELS,
    "test_img": _data.TEST_IMAGES,
    "test_label": _data.TEST_LABELS,
}
dataset_dir = os.fspath(_data.get_data_dir())
train_num = 60000
test_num = 10000
img_dim = (1, 28, 28)
img_size = 784


def download_mnist() -> None:
    """Download into ``dataset_dir`` those of the four files that are missing; check all four's SHA-256."""
    _data.download_mnist(dataset_dir)


def init_mnist() -> None:
    """Download and check the files, then parse them once to fill the ``.npy`` cache (the book pickles)."""
    download_mnist()
    _data.load_mnist(normalize=False, data_dir=dataset_dir)


def load_mnist(normalize: bool = True, flatten: bool = True, one_hot_label: bool = False):
    """``(x_train, t_train), (x_test, t_test)`` as the book returns them, from ``dataset_dir``.

    normalize: float32 pixels / 255 in [0, 1] (else uint8 0..255). flatten: images (N, 784), else
    (N, 1, 28, 28). one_hot_label: labels float64 (N, 10), else uint8 (N,). Missing files are downloaded.
    """
    return _data.load_mnist(normalize, flatten, one_hot_label, data_dir=dataset_dir)


if __name__ == "__main__":
    init_mnist()
