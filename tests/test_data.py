"""The IDX reader, on files the tests write."""

import gzip
import struct

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastbp.data import read_idx


def write_idx(path, a, compress=False, cut=0):
    raw = struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()
    raw = raw[: len(raw) - cut]
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(raw)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, rng, compress):
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    sfx = ".gz" if compress else ""
    assert_array_equal(read_idx(write_idx(tmp_path / f"i{sfx}", images, compress)), images)
    assert_array_equal(read_idx(write_idx(tmp_path / f"l{sfx}", labels, compress)), labels)


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    a = np.zeros((3, 4), np.uint8)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(write_idx(tmp_path / "t.gz", a, True, cut=2))
    (tmp_path / "x").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="does not start with an IDX header"):
        read_idx(tmp_path / "x")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError, match="not a readable IDX file"):
        read_idx(tmp_path / "bad.gz")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing.gz")
