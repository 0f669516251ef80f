"""MNIST as the book's ``load_mnist`` returns it: from the verified (and cached) files, or from the
subset shipped inside the package.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from importlib import resources

import numpy as np

from .cache import _read_cache, _write_cache
from .download import _checksum_table, _gather, _seconds
from .files import _PAIRS, EMBEDDED_MNIST_FILES, MnistCorruptError, _check_pair, get_data_dir
from .idx import _decode_idx

__all__ = ["load_embedded_mnist", "load_mnist"]


def _book_form(x: np.ndarray, t: np.ndarray, normalize: bool, flatten: bool, one_hot_label: bool):
    """The book's conversions: float32 x/255, float64 one-hot (N, 10), (N, 784) or (N, 1, 28, 28)."""
    if normalize:
        x = x.astype(np.float32)
        x /= 255.0  # in float32, as the book does: the same rounding as its values
    if one_hot_label:
        hot = np.zeros((t.size, 10))
        hot[np.arange(t.size), t] = 1.0
        t = hot
    x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *x.shape[1:])
    return x, t


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    mirrors: str | Sequence[str] | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    deadline: float = 600.0,
):
    """MNIST as the book's ``load_mnist`` returns it: ``(x_train, t_train), (x_test, t_test)``.

    Images are uint8 (N, 784); ``normalize`` makes them float32 x / 255 in [0, 1]; ``flatten=False``
    gives (N, 1, 28, 28). Labels are uint8 (N,), or float64 one-hot (N, 10) with ``one_hot_label``.
    N is 60000 and 10000 for the real files.

    The files are looked for in :func:`get_data_dir` ``(data_dir)``. Each is checked against its SHA-256
    in ``checksums`` (file name -> hex digest, default :data:`MNIST_FILES`) before it is used; a file
    that does not match raises :class:`MnistCorruptError` and is left alone. Missing files are
    downloaded as :func:`download_mnist` does (``timeout``, ``deadline``) unless ``download`` is
    false, in which case :class:`MnistUnavailableError` says how to supply them. The parsed arrays are
    cached beside the files as ``.npy`` (named after the source digest and their own, loaded without
    pickle): later loads read only those, check them against their digest (and, for the published
    files, the published shapes), and rebuild them from the .gz files if a cache file is damaged.
    """
    directory = get_data_dir(data_dir)
    table = _checksum_table(checksums, "load_mnist")
    timeout = _seconds(timeout, "timeout", "load_mnist")
    deadline = _seconds(deadline, "deadline", "load_mnist")
    sets = {pair: _read_cache(directory, *pair, table) for pair in _PAIRS}
    todo = [name for pair, got in sets.items() if got is None for name in pair]
    if todo:
        blobs = _gather(todo, directory, table, download, mirrors, timeout, deadline, "load_mnist")
        for (images, labels), got in sets.items():
            if got is None:
                x = _decode_idx(blobs.pop(images), directory / images, "load_mnist")
                t = _decode_idx(blobs.pop(labels), directory / labels, "load_mnist")
                _check_pair(x, t, directory, images, labels, "load_mnist")
                _write_cache(directory, images, table[images], x)
                _write_cache(directory, labels, table[labels], t)
                sets[images, labels] = (x, t)
    return tuple(_book_form(*sets[pair], normalize, flatten, one_hot_label) for pair in _PAIRS)


def load_embedded_mnist(normalize: bool = True, flatten: bool = True, one_hot_label: bool = False):
    """A stratified MNIST subset that ships with fastbp: 10,000 training and 2,000 test images.

    Same return form and flags as :func:`load_mnist`; no files, network or cache involved. Each class
    has its share of the full set (to the nearest image); the samples keep their original order.
    The shipped files are checked against :data:`EMBEDDED_MNIST_FILES`.
    """
    folder = resources.files("fastbp") / "_data" / "mnist_subset"
    arrays = {}
    for name, sha in EMBEDDED_MNIST_FILES.items():
        where = f"fastbp/_data/mnist_subset/{name}"
        blob = (folder / name).read_bytes()
        if hashlib.sha256(blob).hexdigest() != sha:
            raise MnistCorruptError(
                f"load_embedded_mnist: the shipped file {where} does not have its SHA-256 {sha}; "
                "the installation is damaged: reinstall fastbp"
            )
        arrays[name] = _decode_idx(blob, where, "load_embedded_mnist")
    out = []
    for images, labels in _PAIRS:
        x, t = arrays[images], arrays[labels]
        _check_pair(x, t, "fastbp/_data/mnist_subset", images, labels, "load_embedded_mnist")
        out.append(_book_form(x, t, normalize, flatten, one_hot_label))
    return tuple(out)
