"""Fetching the MNIST files: from a list of mirrors, each checked against its SHA-256, with a size cap
and a deadline per file, into a temporary file renamed into place only once verified.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .files import (
    _SIZE_FACTOR,
    MNIST_FILES,
    MNIST_MIRRORS,
    MNIST_SIZES,
    MnistCorruptError,
    MnistUnavailableError,
    _how_to_supply,
    _temp_beside,
    get_data_dir,
)

__all__ = ["download_mnist"]

# Some servers (the original site among them) refuse urllib's default agent; the book sends a browser's.
_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


# -- arguments ------------------------------------------------------------------------------------


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


# -- verification and download --------------------------------------------------------------------


def _verify(blob: bytes, sha: str, path: Path, caller: str) -> None:
    got = hashlib.sha256(blob).hexdigest()
    if got != sha:
        raise MnistCorruptError(
            f"{caller}: {path} is corrupt or truncated (or not the expected file): it holds "
            f"{len(blob)} bytes with SHA-256 {got}, expected {sha}. Delete it so that it is downloaded "
            "again, or replace it with a good copy."
        )


def _fetch(url: str, dest: Path, sha: str, timeout: float, limit: int, deadline: float) -> None:
    """Stream ``url`` into a temporary file beside ``dest``; move it into place only if its SHA-256 is
    ``sha``. More than ``limit`` bytes, or more than ``deadline`` seconds in all (checked between
    reads, each of which may wait ``timeout``), abandon it. Raises OSError/HTTPException/ValueError
    describing the failure; leaves no file behind."""
    import urllib.request  # (here, not at import: 15 ms that a load from local files never needs)

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
    import urllib.error

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
    import urllib.error
    from http.client import HTTPException

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
