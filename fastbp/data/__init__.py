"""Datasets: the IDX file format MNIST is distributed in, and MNIST itself (downloaded, verified, cached).

IDX: a big-endian header -- two zero bytes, a type code (0x08 = uint8), the number of dimensions --
then one big-endian uint32 per dimension, then the data in C order. Files may be gzip-compressed.

MNIST is four such files (:data:`MNIST_FILES`). :func:`load_mnist` finds them in the data directory
(:func:`get_data_dir`), downloads what is missing from a list of mirrors, checks every file against its
SHA-256 before using it, and keeps the parsed arrays as ``.npy`` files beside them (never a pickle) so
the next load skips decompression. :func:`load_embedded_mnist` needs no files or network: it reads a
stratified 10,000 + 2,000 image subset shipped inside the package.

One idea a module:

- ``idx``: reading IDX files (:func:`read_idx`).
- ``files``: the four files' names, digests, sizes and shapes, the mirrors, the data directory, the
  errors.
- ``download``: fetching and verifying the files (:func:`download_mnist`).
- ``cache``: the verified cache of parsed arrays.
- ``mnist``: the book's forms (:func:`load_mnist`, :func:`load_embedded_mnist`).

The names are looked up in the module that defines them: to replace one in a test, patch it there
(``fastbp.data.download._gather``), not on this package.
"""

from .cache import _array_digest, _cache_name, _read_cache  # noqa: F401  (used by the tests)
from .download import download_mnist
from .files import (  # noqa: F401  (the file names and shapes: public, though not in __all__)
    EMBEDDED_MNIST_FILES,
    MNIST_FILES,
    MNIST_MIRRORS,
    MNIST_SHAPES,
    MNIST_SIZES,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    MnistCorruptError,
    MnistError,
    MnistUnavailableError,
    _user_cache_dir,  # fastbp._jit's cache folder, and the tests
    get_data_dir,
)
from .idx import read_idx
from .mnist import load_embedded_mnist, load_mnist

__all__ = [
    "EMBEDDED_MNIST_FILES",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNIST_SIZES",
    "MnistCorruptError",
    "MnistError",
    "MnistUnavailableError",
    "download_mnist",
    "get_data_dir",
    "load_embedded_mnist",
    "load_mnist",
    "read_idx",
]
