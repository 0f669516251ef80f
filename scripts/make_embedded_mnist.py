"""Build the MNIST subset that fastbp ships: fastbp/_data/mnist_subset/ (four gzip IDX files + README.md).

    python scripts/make_embedded_mnist.py [SOURCE_DIR]     # default: fastbp's data folder

Reads the four canonical MNIST files from SOURCE_DIR, checks their SHA-256 against
``fastbp.data.MNIST_FILES``, and keeps 10,000 of the 60,000 training and 2,000 of the 10,000 test
images. Stratified: class c gets its share n_c * k / N of the k images, rounded by largest remainder
so the shares sum to k exactly; within a class the images are drawn at random (fixed seed) and the
kept images stay in their original order. Written with gzip mtime=0 and no file name in the header,
so a rebuild is byte-identical (for the same zlib). Prints the SHA-256 table to paste into
``fastbp.data.EMBEDDED_MNIST_FILES`` and says whether it already matches.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import struct
import sys
from pathlib import Path

import numpy as np

from fastbp.data import (
    EMBEDDED_MNIST_FILES,
    MNIST_FILES,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    get_data_dir,
    read_idx,
)

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "fastbp" / "_data" / "mnist_subset"
SEED = 20240527
N_TRAIN, N_TEST = 10_000, 2_000


def shares(counts: np.ndarray, k: int) -> np.ndarray:
    """Integers proportional to ``counts`` summing to ``k`` (largest remainder; ties to the lower class)."""
    exact = counts * k / counts.sum()
    out = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - out), kind="stable")
    out[order[: k - out.sum()]] += 1
    return out


def stratified(labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of k samples, each class in proportion, sorted (original order kept)."""
    counts = np.bincount(labels, minlength=10)
    chosen = []
    for c, m in enumerate(shares(counts, k)):
        idx = np.flatnonzero(labels == c)
        # Ranking uniform keys rather than rng.choice: random() is the most stable stream across numpy.
        chosen.append(idx[np.argsort(rng.random(idx.size), kind="stable")[:m]])
    return np.sort(np.concatenate(chosen))


def idx_bytes(a: np.ndarray) -> bytes:
    """A uint8 array as an IDX file: 0, 0, type 0x08, ndim, big-endian dimensions, then the data."""
    assert a.dtype == np.uint8
    return struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def gzip_bytes(raw: bytes) -> bytes:
    buf = io.BytesIO()
    # mtime=0 and an empty name: the header holds nothing that changes between builds.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as f:
        f.write(raw)
    return buf.getvalue()


def readme(table: dict[str, tuple[int, str]], train_counts: np.ndarray, test_counts: np.ndarray) -> str:
    rows = "\n".join(f"| {name} | {size:,} | {sha} |" for name, (size, sha) in table.items())
    total = sum(size for size, _ in table.values())
    return f"""# MNIST subset shipped with fastbp

The MNIST database of handwritten digits, by Yann LeCun, Corinna Cortes and Christopher J. C. Burges
(http://yann.lecun.com/exdb/mnist/), distributed under the Creative Commons Attribution-Share Alike
3.0 license (CC BY-SA 3.0). These files hold a subset of it (the images and labels unchanged), under
the same license.

What it is: {N_TRAIN:,} of the 60,000 training images and {N_TEST:,} of the 10,000 test images, with their
labels, in the original IDX format, gzip-compressed. Stratified: each digit has its share of the full
set (rounded by largest remainder); within a digit the images were drawn at random (numpy
`default_rng({SEED})`), and the kept images are in their original order. Images per digit 0-9:

- training: {", ".join(str(int(n)) for n in train_counts)}
- test: {", ".join(str(int(n)) for n in test_counts)}

Load it with `fastbp.data.load_embedded_mnist()`, which checks these SHA-256 digests
(`fastbp.data.EMBEDDED_MNIST_FILES`). Rebuilt byte-identically from the four canonical files by
`python scripts/make_embedded_mnist.py SOURCE_DIR` (gzip level 9, mtime 0, no file name).

| file | bytes | SHA-256 |
|---|---|---|
{rows}

Total: {total:,} bytes.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source", nargs="?", default=str(get_data_dir()), help="MNIST folder (default: %(default)s)"
    )
    parser.add_argument("--out", default=str(OUT), help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    src, out = Path(args.source), Path(args.out)

    for name, sha in MNIST_FILES.items():
        got = hashlib.sha256((src / name).read_bytes()).hexdigest()
        if got != sha:
            sys.exit(f"make_embedded_mnist: {src / name} has SHA-256 {got}, expected {sha}")
    x_train, t_train = read_idx(src / TRAIN_IMAGES), read_idx(src / TRAIN_LABELS)
    x_test, t_test = read_idx(src / TEST_IMAGES), read_idx(src / TEST_LABELS)

    rng = np.random.default_rng(SEED)
    keep_train = stratified(t_train, N_TRAIN, rng)
    keep_test = stratified(t_test, N_TEST, rng)
    arrays = {
        TRAIN_IMAGES: x_train[keep_train],
        TRAIN_LABELS: t_train[keep_train],
        TEST_IMAGES: x_test[keep_test],
        TEST_LABELS: t_test[keep_test],
    }

    out.mkdir(parents=True, exist_ok=True)
    table = {}
    for name, a in arrays.items():
        blob = gzip_bytes(idx_bytes(a))
        (out / name).write_bytes(blob)
        table[name] = (len(blob), hashlib.sha256(blob).hexdigest())
    counts = (np.bincount(arrays[TRAIN_LABELS], minlength=10), np.bincount(arrays[TEST_LABELS], minlength=10))
    (out / "README.md").write_text(readme(table, *counts), encoding="utf-8")

    print(f"wrote {out} ({sum(size for size, _ in table.values()):,} bytes in the four files)")
    print("EMBEDDED_MNIST_FILES = {")
    for name, (_, sha) in table.items():
        print(f'    "{name}": "{sha}",')
    print("}")
    same = all(EMBEDDED_MNIST_FILES[name] == sha for name, (_, sha) in table.items())
    print("matches fastbp.data.EMBEDDED_MNIST_FILES" if same else "fastbp.data.EMBEDDED_MNIST_FILES differs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
