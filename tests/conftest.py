import os

import numpy as np
import pytest

# The tests assume config's default thresholds (a batch of 4 takes the small-batch loops, ...): the
# values `fastbp warmup` measured on this machine are not read (FASTBP_TUNING=1 to run with them).
os.environ.setdefault("FASTBP_TUNING", "0")

DTYPES = [np.float32, np.float64]
# Kernel against its NumPy twin: the same math, possibly another summation order or libm.
TOL = {np.float32: 2e-5, np.float64: 1e-12}


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def numgrad(f, x, h=1e-5):
    """Central differences of scalar f at a float64 array x (restored exactly after each probe)."""
    x = np.asarray(x)
    g = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        orig = x[idx]
        x[idx] = orig + h
        fp = f(x)
        x[idx] = orig - h
        fm = f(x)
        x[idx] = orig
        g[idx] = (fp - fm) / (2 * h)
    return g


def rel_err(analytic, numeric):
    """max |a - n|, relative to the largest |n| (the gradient's own scale)."""
    a, n = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return float(np.abs(a - n).max() / max(np.abs(n).max(), 1e-8))


def blobs(n, d=784, c=10, noise=0.6, seed=0):
    """MNIST-shaped data: c noisy prototypes in [0, 1]^d, float32 like the book's images; uint8 labels."""
    r = np.random.default_rng(seed)
    protos = (r.random((c, d)) < 0.2).astype(np.float32)
    t = r.integers(0, c, n).astype(np.uint8)
    x = np.clip(protos[t] + noise * r.standard_normal((n, d)), 0, 1).astype(np.float32)
    return x, t
