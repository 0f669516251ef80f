import numpy as np
import pytest

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
