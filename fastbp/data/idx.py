"""The IDX file format MNIST is distributed in.

A big-endian header -- two zero bytes, a type code (0x08 = uint8), the number of dimensions -- then one
big-endian uint32 per dimension, then the data in C order. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

__all__ = ["read_idx"]

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


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
