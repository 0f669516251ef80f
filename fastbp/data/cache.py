"""The parsed-array cache: MNIST's arrays kept as ``.npy`` files beside the sources (never a pickle).

A cache file is named after the digest of the verified source it was parsed from and the digest of its
own array, so a read can tell it from other sources' caches and from damage, even well-formed damage.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .files import MNIST_FILES, MNIST_SHAPES, _check_pair, _temp_beside


def _array_digest(a: np.ndarray) -> str:
    """CRC-32 of an array's dtype, shape and bytes (C order), as 8 hex digits. It tells a damaged cache
    file from the parsed arrays (the sources themselves are checked by SHA-256); every load pays it,
    and on the 47 MB of training images it takes 17 ms here, SHA-256 35 ms."""
    crc = zlib.crc32(f"{a.dtype.str}{a.shape}".encode())
    return f"{zlib.crc32(np.ascontiguousarray(a).data, crc):08x}"


def _cache_name(name: str, sha: str, digest: str) -> str:
    # "<file>.<source digest>.<array digest>.npy": the source digest ties the cache to verified .gz
    # content (other bytes, another name); the array digest lets a read tell a damaged cache file,
    # even a well-formed one, from the arrays that were parsed.
    return f"{name.removesuffix('.gz')}.{sha[:16]}.{digest}.npy"


def _cache_files(directory: Path, name: str, sha: str) -> list[tuple[Path, str]]:
    """The cache files of source ``name`` with digest ``sha`` in ``directory``: (path, array digest).
    Any length of digest: the 32-digit SHA-256 names of earlier versions are listed too (never read,
    as no CRC matches them; removed by the next write)."""
    pattern = re.compile(re.escape(f"{name.removesuffix('.gz')}.{sha[:16]}.") + r"([0-9a-f]+)\.npy")
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
        if a.dtype != np.uint8 or _array_digest(a) != digest:
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
