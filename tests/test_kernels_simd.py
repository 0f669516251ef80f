"""The vector row updates of kernels/simd.py against NumPy, at widths that are and are not a whole
number of 64-byte vectors (16 float32, 8 float64 lanes)."""

import numpy as np
import pytest
from conftest import DTYPES, TOL
from numba import config, njit
from numba.core.errors import TypingError
from numpy.testing import assert_allclose

from fastbp.kernels.simd import gather_axpy4, row_axpy, scatter_axpy4

pytestmark = pytest.mark.skipif(config.DISABLE_JIT, reason="LLVM intrinsics need the JIT")
WIDTHS = [1, 3, 8, 16, 17, 50, 100]


def _kernels(width):
    @njit
    def one(y, yo, x, xo, v):
        row_axpy(y, yo, x, xo, v, width)

    @njit
    def gather(y, yo, x, xos, vs):
        gather_axpy4(y, yo, x, xos, vs, width)

    @njit
    def scatter(y, yos, x, xo, vs):
        scatter_axpy4(y, yos, x, xo, vs, width)

    return one, gather, scatter


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("width", WIDTHS)
def test_row_updates_match_numpy(rng, width, dtype):
    one, gather, scatter = _kernels(width)
    x = rng.standard_normal(9 * width + 5).astype(dtype)
    y = rng.standard_normal(7 * width + 3).astype(dtype)
    v = tuple(dtype(a) for a in rng.standard_normal(4))
    tol = TOL[dtype]

    want = y.copy()
    want[2 : 2 + width] += v[0] * x[5 : 5 + width]
    got = y.copy()
    one(got, 2, x, 5, v[0])
    assert_allclose(got, want, rtol=tol, atol=tol)  # and nothing outside the row changed

    xos = (0, 3 * width, 8 * width + 5, width + 1)
    want = y.copy()
    want[width : 2 * width] += sum(v[i] * x[o : o + width] for i, o in enumerate(xos))
    got = y.copy()
    gather(got, width, x, xos, v)
    assert_allclose(got, want, rtol=tol, atol=tol)

    yos = (0, 2 * width + 1, 6 * width + 3, 4 * width)
    want = y.copy()
    for i, o in enumerate(yos):
        want[o : o + width] += v[i] * x[width + 2 : 2 * width + 2]
    got = y.copy()
    scatter(got, yos, x, width + 2, v)
    assert_allclose(got, want, rtol=tol, atol=tol)


def test_row_updates_refuse_strided_arrays_and_runtime_widths():
    one, _, _ = _kernels(4)
    y, x = np.zeros(8), np.ones(8)
    with pytest.raises(TypingError):
        one(y[::2], 0, x, 0, 1.0)  # the code addresses the data pointer: contiguous only

    @njit
    def runtime_width(y, x, w):
        row_axpy(y, 0, x, 0, 1.0, w)

    with pytest.raises(TypingError):
        runtime_width(y, x, 4)


def test_the_vector_listing_follows_the_cpu_numba_compiles_for(monkeypatch):
    from numba import config as cfg

    from fastbp.kernels import simd

    monkeypatch.setattr(cfg, "CPU_FEATURES", "")  # what NUMBA_CPU_NAME=generic sets
    assert not simd._target_has_avx512()
    monkeypatch.setattr(cfg, "CPU_FEATURES", "+avx2,+fma,+avx512f,+avx512bw")
    assert simd._target_has_avx512()
    monkeypatch.setattr(cfg, "CPU_FEATURES", None)
    monkeypatch.setattr(cfg, "CPU_NAME", "haswell")
    assert not simd._target_has_avx512()


def test_row_updates_refuse_mixed_dtypes():
    one, _, _ = _kernels(4)
    with pytest.raises(TypingError):
        one(np.zeros(8, np.float32), 0, np.ones(8), 0, 1.0)


@pytest.mark.parametrize(
    "dtype, lo, hi", [(np.float32, -126, 127), (np.float64, -1022, 1023)], ids=["float32", "float64"]
)
def test_powers_of_two_from_their_bits_over_the_whole_normal_range(dtype, lo, hi):
    from fastbp.kernels.simd import exp2

    itype = np.int32 if dtype == np.float32 else np.int64

    @njit
    def powers(ks, out):
        for i in range(ks.size):
            out[i] = exp2(ks[i])

    ks = np.arange(lo, hi + 1, dtype=itype)
    out = np.empty(ks.size, dtype)
    powers(ks, out)
    assert np.array_equal(out, np.ldexp(np.ones(ks.size, dtype), ks))
