"""The step benchmarks' inputs: three kinds of data, each made once per process and shared.

- ``mnist``: the shipped MNIST subset (10,000 training images, pixels in [0, 1]; ~81% zeros).
- ``standardized``: the same images with each pixel standardised over the subset (mean 0, std 1; a
  pixel that is 0 in every image stays 0, as scikit-learn's StandardScaler leaves it): dense.
- ``uniform``: uniform noise in [0, 1) of the same shape (``default_rng(1)``), no zeros.

The labels are MNIST's in all three. Each array is made once per (data, dtype), read-only (every case
reads the same one), and the batches are views of it: a case costs nothing to set up.
"""

from __future__ import annotations

import functools

import numpy as np

DATA = ("mnist", "standardized", "uniform")


@functools.cache
def _mnist():
    from ..data import load_embedded_mnist

    (x, t), _ = load_embedded_mnist()
    return x, t


def _standardized(x):
    x = x.astype(np.float64)
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0  # a constant pixel (the border's zeros) stays 0
    return (x - x.mean(axis=0)) / sd


@functools.cache
def _source(data):
    x, t = _mnist()
    if data == "mnist":
        return x, t
    if data == "standardized":
        return _standardized(x), t
    if data == "uniform":
        return np.random.default_rng(1).random(x.shape), t
    raise ValueError(f"no benchmark data named {data!r}: one of {', '.join(DATA)}")


@functools.cache
def pool(data: str, dtype: str):
    """(x, t): every sample of ``data`` as a read-only C-contiguous (10000, 784) array of ``dtype``,
    and the labels."""
    x, t = _source(data)
    x = np.ascontiguousarray(x, dtype=dtype)
    if x is _source(data)[0]:
        x = x.copy()
    x.setflags(write=False)
    return x, t


def density(x) -> float:
    """The fraction of nonzero entries."""
    return float(np.count_nonzero(x)) / x.size
