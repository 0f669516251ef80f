"""Datasets: the IDX file format MNIST is distributed in, and MNIST itself (downloaded, verified, cached).

IDX: a big-endian header -- two zero bytes, a type code (0x08 = uint8), the number of dimensions --
then one big-endian uint32 per dimension, then the data in C order. Files may be gzip-compressed.

MNIST is four such files (:data:`MNIST_FILES`). :func:`load_mnist` finds them in the data directory
(:func:`get_data_dir`), downloads what is missing from a list of mirrors, checks every file against its
SHA-256 before using it, and keeps the parsed arrays as ``.npy`` files beside them (never a pickle) so
the next load skips decompression. :func:`load_embedded_mnist` needs no files or network: it reads a
stratified 10,000 + 2,000 image subset shipped inside the package.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Mapping, Sequence
from http.client import HTTPException
from importlib import resources
from pathlib import Path

import numpy as np

from .checkpoint import _remove_stale_temporaries, _tmp_name

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

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

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

# Some servers (the original site among them) refuse urllib's default agent; the book sends a browser's.
_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
_CHUNK = 1 << 20
_PART = ".part"
# Before fastbp named temporaries after their process, a download's was ".<name>.<12 hex>.part";
# such a leftover untouched this long was left by a killed download and is removed.
_LEGACY_PART = re.compile(r"\.(.+)\.[0-9a-f]{12}\.part")
_LEGACY_STALE_SECONDS = 600.0
_SHA256 = re.compile(r"[0-9a-f]{64}")


class MnistError(OSError):
    """MNIST could not be loaded: files missing, undownloadable or corrupt."""


class MnistUnavailableError(MnistError):
    """Some MNIST files are missing and could not be downloaded (or downloads were disabled)."""


class MnistCorruptError(MnistError):
    """A present MNIST file does not have its expected SHA-256 (corrupt, truncated or another file)."""


# -- IDX ------------------------------------------------------------------------------------------


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` is decompressed), with its shape from the header.

    Raises ``ValueError`` naming the file when the header is malformed or the data is truncated.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ValueError(f"read_idx: {path} is not a readable IDX file ({e})") from e
    return _decode_idx(blob, path, "read_idx")


def _decode_idx(blob: bytes, path: str | os.PathLike, caller: str) -> np.ndarray:
    """The array in the IDX file whose bytes are ``blob`` (gunzipped first if ``path`` ends in .gz)."""
    path = os.fspath(path)
    raw = blob
    if path.endswith(".gz"):
        try:
            raw = gzip.decompress(blob)
        except (EOFError, OSError, zlib.error) as e:  # truncated stream, bad magic, bad deflate data
            raise ValueError(f"{caller}: {path} is not a readable IDX file ({e})") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{caller}: {path} does not start with an IDX header")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{caller}: {path} is truncated inside its header")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{caller}: {path} holds {len(raw)} bytes, its header {shape} implies {expected} (truncated?)"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


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


def _mirror_list(mirrors: str | Sequence[str] | None, caller: str) -> list[str]:
    if mirrors is None:
        mirrors = os.environ.get("FASTBP_MNIST_MIRRORS") or MNIST_MIRRORS
    if isinstance(mirrors, str):
        mirrors = mirrors.split(",")  # the environment variable's form, also accepted as an argument
    mirrors = list(mirrors)
    if not all(isinstance(m, str) for m in mirrors):
        raise TypeError(f"{caller}: mirrors must be base URLs (str), got {mirrors!r}")
    out = [m.strip() for m in mirrors if m.strip()]
    if not out:
        raise ValueError(f"{caller}: mirrors is empty; expected at least one base URL")
    return out


def _checksum_table(checksums: Mapping[str, str] | None, caller: str) -> dict[str, str]:
    if checksums is None:
        return dict(MNIST_FILES)
    if not isinstance(checksums, Mapping) or set(checksums) != set(MNIST_FILES):
        got = sorted(checksums) if isinstance(checksums, Mapping) else type(checksums).__name__
        raise ValueError(
            f"{caller}: checksums must map exactly the four MNIST file names {list(MNIST_FILES)} "
            f"to SHA-256 hex digests, got {got}"
        )
    table = {}
    for name in MNIST_FILES:
        sha = checksums[name]
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha.lower()):
            raise ValueError(f"{caller}: checksums[{name!r}] must be 64 hex digits, got {sha!r}")
        table[name] = sha.lower()
    return table


def _seconds(value, name: str, caller: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")
    if not ok:
        raise ValueError(f"{caller}: {name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _how_to_supply(directory: Path) -> str:
    return (
        f"To supply them by hand, copy the four MNIST files ({', '.join(MNIST_FILES)}) into {directory}, "
        "or point the environment variable FASTBP_DATA (or the data_dir argument) at a folder that "
        "holds them. To try other servers, set FASTBP_MNIST_MIRRORS (comma-separated base URLs) or pass "
        "mirrors=."
    )


# -- verification and download --------------------------------------------------------------------


def _verify(blob: bytes, sha: str, path: Path, caller: str) -> None:
    got = hashlib.sha256(blob).hexdigest()
    if got != sha:
        raise MnistCorruptError(
            f"{caller}: {path} is corrupt or truncated (or not the expected file): it holds "
            f"{len(blob)} bytes with SHA-256 {got}, expected {sha}. Delete it so that it is downloaded "
            "again, or replace it with a good copy."
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


def _fetch(url: str, dest: Path, sha: str, timeout: float, limit: int, deadline: float) -> None:
    """Stream ``url`` into a temporary file beside ``dest``; move it into place only if its SHA-256 is
    ``sha``. More than ``limit`` bytes, or more than ``deadline`` seconds in all (checked between
    reads, each of which may wait ``timeout``), abandon it. Raises OSError/HTTPException/ValueError
    describing the failure; leaves no file behind."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    end = time.monotonic() + deadline
    tmp = _temp_beside(dest)
    f = open(tmp, "xb")
    try:
        h = hashlib.sha256()
        size = 0
        with f:
            with urllib.request.urlopen(request, timeout=min(timeout, deadline)) as response:
                length = response.headers.get("Content-Length")
                if length is not None and length.isdigit() and int(length) > limit:
                    raise ValueError(f"the server announces {int(length)} bytes, over the limit of {limit}")
                # read1: whatever one network read brings; read(n) would wait for all n bytes, so a
                # slow drip would never reach the deadline check
                read = getattr(response, "read1", response.read)
                while chunk := read(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise ValueError(f"download exceeds {limit} bytes ({_SIZE_FACTOR}x the file's size)")
                    if time.monotonic() > end:
                        raise TimeoutError(f"download not finished within the deadline of {deadline:g} s")
                    h.update(chunk)
                    f.write(chunk)
            f.flush()
            os.fsync(f.fileno())  # the bytes reach the disk before the name does
        if length is not None and length.isdigit() and size != int(length):
            raise ValueError(f"truncated download: got {size} of {int(length)} bytes")
        if h.hexdigest() != sha:
            raise ValueError(f"wrong SHA-256 {h.hexdigest()} ({size} bytes), expected {sha}")
        os.replace(tmp, dest)  # atomic: readers see no file or the whole verified file
    finally:
        if tmp.exists():
            tmp.unlink()


def _describe(e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        if isinstance(e.reason, (ConnectionError, TimeoutError, socket.gaierror)):
            return f"cannot connect ({e.reason})"
        return str(e.reason)
    return str(e) or type(e).__name__


def _download(
    names: Sequence[str],
    directory: Path,
    table: Mapping[str, str],
    mirrors: Sequence[str],
    timeout: float,
    deadline: float,
    caller: str,
) -> None:
    """Each of ``names`` from the first mirror that serves it with the right SHA-256, into ``directory``."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MnistUnavailableError(
            f"{caller}: cannot create the data directory {directory} ({e}). " + _how_to_supply(directory)
        ) from e
    failures = {}
    for name in names:
        tried = []
        for base in mirrors:
            url = (base if base.endswith("/") else base + "/") + name
            try:
                limit = _SIZE_FACTOR * MNIST_SIZES[name]
                _fetch(url, directory / name, table[name], timeout, limit, deadline)
                break
            except urllib.error.HTTPError as e:
                e.close()  # an HTTPError holds the open response
                tried.append(f"{url}: {_describe(e)}")
            except (OSError, HTTPException, ValueError) as e:  # refused, timeout, cut off, wrong bytes
                tried.append(f"{url}: {_describe(e)}")
        else:
            failures[name] = tried
    if failures:
        lines = "\n".join(
            f"  {name}:\n" + "\n".join(f"    {t}" for t in tried) for name, tried in failures.items()
        )
        raise MnistUnavailableError(
            f"{caller}: could not download the MNIST file(s) {', '.join(failures)} into {directory}; "
            f"every mirror failed:\n{lines}\n" + _how_to_supply(directory)
        )


def _gather(
    names: Sequence[str],
    directory: Path,
    table: Mapping[str, str],
    download: bool,
    mirrors: str | Sequence[str] | None,
    timeout: float,
    deadline: float,
    caller: str,
) -> dict[str, bytes]:
    """The verified bytes of each of ``names``: present files are checked, missing ones downloaded."""
    blobs, missing = {}, []
    for name in names:
        path = directory / name
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            missing.append(name)
            continue
        _verify(blob, table[name], path, caller)
        blobs[name] = blob
    if missing:
        if not download:
            raise MnistUnavailableError(
                f"{caller}: the MNIST file(s) {', '.join(missing)} are missing from {directory} and "
                "downloading is off (download=False). " + _how_to_supply(directory)
            )
        _download(missing, directory, table, _mirror_list(mirrors, caller), timeout, deadline, caller)
        for name in missing:  # read back what was just verified: the bytes we parse are the checked ones
            blobs[name] = (directory / name).read_bytes()
            _verify(blobs[name], table[name], directory / name, caller)
    return blobs


def download_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    mirrors: str | Sequence[str] | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    deadline: float = 600.0,
) -> Path:
    """Make sure the four MNIST files are in the data directory and have their SHA-256; returns it.

    Missing files are fetched from ``mirrors`` in order (default: ``FASTBP_MNIST_MIRRORS``, else
    :data:`MNIST_MIRRORS`), ``timeout`` seconds per network operation and ``deadline`` seconds per
    file in all, into a temporary file that is renamed into place only once verified. A download is
    abandoned beyond twice its file's size (:data:`MNIST_SIZES`). Temporary files that killed
    downloads left are removed. Raises :class:`MnistUnavailableError` when every mirror fails for
    some file and :class:`MnistCorruptError` when a present file has the wrong digest.
    """
    directory = get_data_dir(data_dir)
    table = _checksum_table(checksums, "download_mnist")
    timeout = _seconds(timeout, "timeout", "download_mnist")
    deadline = _seconds(deadline, "deadline", "download_mnist")
    _gather(list(table), directory, table, True, mirrors, timeout, deadline, "download_mnist")
    return directory


# -- parsed cache ---------------------------------------------------------------------------------


def _array_digest(a: np.ndarray) -> str:
    """SHA-256 of an array's dtype, shape and bytes (C order)."""
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def _cache_name(name: str, sha: str, digest: str) -> str:
    # "<file>.<source digest>.<array digest>.npy": the source digest ties the cache to verified .gz
    # content (other bytes, another name); the array digest lets a read tell a damaged cache file,
    # even a well-formed one, from the arrays that were parsed.
    return f"{name.removesuffix('.gz')}.{sha[:16]}.{digest[:32]}.npy"


def _cache_files(directory: Path, name: str, sha: str) -> list[tuple[Path, str]]:
    """The cache files of source ``name`` with digest ``sha`` in ``directory``: (path, array digest)."""
    pattern = re.compile(re.escape(f"{name.removesuffix('.gz')}.{sha[:16]}.") + r"([0-9a-f]{32})\.npy")
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    return [(directory / e, m.group(1)) for e in entries if (m := pattern.fullmatch(e))]


def _read_cached_array(directory: Path, name: str, sha: str) -> np.ndarray | None:
    """The array cached for source ``name`` (digest ``sha``), or None when there is no cache file whose
    content is what was parsed: uint8, with the digest its name records, and for the published MNIST
    files the published shape."""
    for path, digest in _cache_files(directory, name, sha):
        try:
            # read_array, not np.load: only the .npy format is accepted (np.load would open an .npz too).
            with open(path, "rb") as f:
                a = np.lib.format.read_array(f, allow_pickle=False)
        except (OSError, ValueError, EOFError):  # absent, truncated, or not an .npy file
            continue
        if a.dtype != np.uint8 or _array_digest(a)[:32] != digest:
            continue
        if sha == MNIST_FILES.get(name) and a.shape != MNIST_SHAPES[name]:
            continue
        return a
    return None


def _read_cache(directory: Path, images: str, labels: str, table: Mapping[str, str]):
    """(images, labels) from the .npy cache, or None when absent, damaged or inconsistent."""
    pair = [_read_cached_array(directory, name, table[name]) for name in (images, labels)]
    if pair[0] is None or pair[1] is None:
        return None
    try:
        _check_pair(*pair, directory, images, labels, "load_mnist")
    except ValueError:
        return None
    return tuple(pair)


def _write_cache(directory: Path, name: str, sha: str, a: np.ndarray) -> None:
    """Save ``a`` atomically, then remove other cache files of the same source (damaged ones, and the
    ``<file>.<source digest>.npy`` of earlier fastbp versions); a folder we cannot write to (e.g. a
    read-only copy) just means no cache."""
    dest = directory / _cache_name(name, sha, _array_digest(a))
    try:
        tmp = _temp_beside(dest)
        f = open(tmp, "xb")
    except OSError:
        return
    try:
        with f:
            np.save(f, a, allow_pickle=False)
        os.replace(tmp, dest)
    except OSError:
        return
    finally:
        if tmp.exists():
            tmp.unlink()
    others = [p for p, _ in _cache_files(directory, name, sha) if p != dest]
    for old in [*others, directory / f"{name.removesuffix('.gz')}.{sha[:16]}.npy"]:
        try:
            old.unlink()
        except OSError:
            pass


# -- loading --------------------------------------------------------------------------------------


def _check_pair(x: np.ndarray, t: np.ndarray, directory, images: str, labels: str, caller: str) -> None:
    """Images (N, H, W) uint8 and labels (N,) uint8 in 0..9, or ValueError saying what is off."""
    if x.dtype != np.uint8 or x.ndim != 3 or t.dtype != np.uint8 or t.ndim != 1 or len(x) != len(t):
        raise ValueError(
            f"{caller}: {images} and {labels} in {directory} are not an MNIST set: expected uint8 "
            f"images (N, H, W) and uint8 labels (N,), got {x.dtype} {x.shape} and {t.dtype} {t.shape}"
        )
    if t.size and t.max() > 9:
        raise ValueError(f"{caller}: {labels} in {directory} has a label {t.max()}, expected 0..9")


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
