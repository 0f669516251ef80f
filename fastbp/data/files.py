"""The MNIST files: their names, digests, sizes and shapes, the mirrors that serve them, the folder
they live in (and the temporaries written there), what a set of them holds, and the errors.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..checkpoint import _remove_stale_temporaries, _tmp_name

__all__ = [
    "EMBEDDED_MNIST_FILES",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNIST_SHAPES",
    "MNIST_SIZES",
    "TEST_IMAGES",
    "TEST_LABELS",
    "TRAIN_IMAGES",
    "TRAIN_LABELS",
    "MnistCorruptError",
    "MnistError",
    "MnistUnavailableError",
    "get_data_dir",
]

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
_PAIRS = ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS))

#: The four published MNIST files and their SHA-256 digests (LeCun, Cortes, Burges; CC BY-SA 3.0).
MNIST_FILES = {
    TRAIN_IMAGES: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    TRAIN_LABELS: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    TEST_IMAGES: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    TEST_LABELS: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: The four files' sizes in bytes. A download is cut off at ``_SIZE_FACTOR`` times its file's size.
MNIST_SIZES = {
    TRAIN_IMAGES: 9912422,
    TRAIN_LABELS: 28881,
    TEST_IMAGES: 1648877,
    TEST_LABELS: 4542,
}
_SIZE_FACTOR = 2

#: The arrays the four files hold, (N, 28, 28) images and (N,) labels; a parsed cache must match them.
MNIST_SHAPES = {
    TRAIN_IMAGES: (60000, 28, 28),
    TRAIN_LABELS: (60000,),
    TEST_IMAGES: (10000, 28, 28),
    TEST_LABELS: (10000,),
}

#: The subset shipped in ``fastbp/_data/mnist_subset/`` (built by ``scripts/make_embedded_mnist.py``).
EMBEDDED_MNIST_FILES = {
    TRAIN_IMAGES: "11d2329d66446da9df148e8c1263dd0b078d9a9e5f6512c01d205b1c06aaa67c",
    TRAIN_LABELS: "48a8d7b4bc57018dbb20723b176e32aebfdfd79d5172c2db6e4d68948353d7f1",
    TEST_IMAGES: "5641f23c547c4dcd25db6bfa209cb80d4a0501f937c45636c2c93ea544b2ab63",
    TEST_LABELS: "d7dc62c40ea651a388fd8c4d999fb2b1c695262e08653b9ade2111bee7906d46",
}

#: Tried in order. The S3 mirror is the one torchvision uses; the original site often refuses (403/503).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

_PART = ".part"
# Before fastbp named temporaries after their process, a download's was ".<name>.<12 hex>.part";
# such a leftover untouched this long was left by a killed download and is removed.
_LEGACY_PART = re.compile(r"\.(.+)\.[0-9a-f]{12}\.part")
_LEGACY_STALE_SECONDS = 600.0


class MnistError(OSError):
    """MNIST could not be loaded: files missing, undownloadable or corrupt."""


class MnistUnavailableError(MnistError):
    """Some MNIST files are missing and could not be downloaded (or downloads were disabled)."""


class MnistCorruptError(MnistError):
    """A present MNIST file does not have its expected SHA-256 (corrupt, truncated or another file)."""


# -- where the files live -------------------------------------------------------------------------


def get_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder that holds (or will hold) the MNIST files; it is not created here.

    ``data_dir`` if given, else the environment variable ``FASTBP_DATA``, else the user cache folder:
    ``$XDG_CACHE_HOME/fastbp`` or ``~/.cache/fastbp`` (Linux and other Unix), ``~/Library/Caches/fastbp``
    (macOS), ``%LOCALAPPDATA%\\fastbp\\Cache`` (Windows).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("FASTBP_DATA"):
        return Path(os.environ["FASTBP_DATA"]).expanduser()
    return _user_cache_dir(sys.platform, os.environ)


def _user_cache_dir(platform: str, environ: Mapping[str, str]) -> Path:
    if platform == "win32":
        base = environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "fastbp" / "Cache"
    if platform == "darwin":
        return Path.home() / "Library" / "Caches" / "fastbp"
    base = environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative value is invalid and must be ignored.
    return (Path(base) if base and os.path.isabs(base) else Path.home() / ".cache") / "fastbp"


def _how_to_supply(directory: Path) -> str:
    return (
        f"To supply them by hand, copy the four MNIST files ({', '.join(MNIST_FILES)}) into {directory}, "
        "or point the environment variable FASTBP_DATA (or the data_dir argument) at a folder that "
        "holds them. To try other servers, set FASTBP_MNIST_MIRRORS (comma-separated base URLs) or pass "
        "mirrors=."
    )


def _temp_beside(dest: Path) -> Path:
    """A fresh name in ``dest``'s folder (same file system, so ``os.replace`` onto ``dest`` is atomic).

    Hidden, ``.<name>.<pid>-<hex>.part``; created by the caller with mode "xb", which honours the umask
    (mkstemp's 0600 would leave the data readable by its owner only). The ``.part`` files that killed
    downloads (or cache writes) of the same ``dest`` left behind are removed first."""
    _remove_stale_temporaries(os.fspath(dest.parent), dest.name, _PART)
    try:
        for entry in os.listdir(dest.parent):
            m = _LEGACY_PART.fullmatch(entry)
            if m and m.group(1) == dest.name:
                old = dest.parent / entry
                if time.time() - old.stat().st_mtime > _LEGACY_STALE_SECONDS:
                    old.unlink()
    except OSError:
        pass  # an unreadable folder, or the leftover just went: it does not stop this download
    return dest.with_name(_tmp_name(dest.name, _PART))


# -- what a set holds -----------------------------------------------------------------------------


def _check_pair(x: np.ndarray, t: np.ndarray, directory, images: str, labels: str, caller: str) -> None:
    """Images (N, H, W) uint8 and labels (N,) uint8 in 0..9, or ValueError saying what is off."""
    if x.dtype != np.uint8 or x.ndim != 3 or t.dtype != np.uint8 or t.ndim != 1 or len(x) != len(t):
        raise ValueError(
            f"{caller}: {images} and {labels} in {directory} are not an MNIST set: expected uint8 "
            f"images (N, H, W) and uint8 labels (N,), got {x.dtype} {x.shape} and {t.dtype} {t.shape}"
        )
    if t.size and t.max() > 9:
        raise ValueError(f"{caller}: {labels} in {directory} has a label {t.max()}, expected 0..9")
