"""fastbp.kernels.sparse_input beyond the kernel table (tests/test_kernels.py, which checks the listing
and the CSR products against their dense twins): NaN/inf and dense batches reported, the listing's
implementation, widths refused, NaN kept."""

import numpy as np
import pytest
from conftest import DTYPES

from fastbp.kernels import simd
from fastbp.kernels import sparse_input as S


def sparse(rng, shape, density, dtype):
    """MNIST-like: values in (0, 1] on a random `density` of the entries, zeros elsewhere."""
    x = rng.random(shape)
    x[rng.random(shape) >= density] = 0
    return x.astype(dtype)


def csr(x, limit=1.0, kernel=None):
    idx = np.full(x.size, -1, np.int32)
    val = np.full(x.size, np.nan, x.dtype)
    ptr = np.full(x.shape[0] + 1, -1, np.int64)
    return (kernel or S.compact_rows)(x, idx, val, ptr, limit), idx, val, ptr


# Both listings: the vector one runs wherever LLVM has the compress intrinsic (expanded lane by
# lane without AVX-512), so its results are checked on any machine.
COMPACT = [
    S.compact_rows_scalar,
    pytest.param(
        S.compact_rows_vector,
        marks=pytest.mark.skipif(not simd.AVAILABLE, reason="LLVM < 19 or NUMBA_DISABLE_JIT"),
    ),
]


@pytest.mark.parametrize("kernel", COMPACT, ids=["scalar", "vector"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0), (2, 15), (2, 16), (4, 39)])  # in a block, in the tail
def test_compact_rows_reports_nan_and_inf(rng, dtype, bad, where, kernel):
    x = sparse(rng, (5, 40), 0.3, dtype)
    assert csr(x, kernel=kernel)[0] == np.count_nonzero(x)
    x[where] = bad
    assert csr(x, kernel=kernel)[0] == -2


@pytest.mark.parametrize("kernel", COMPACT, ids=["scalar", "vector"])
def test_compact_rows_gives_up_on_a_dense_batch(rng, kernel):
    x = sparse(rng, (20, 50), 0.5, np.float64)
    assert csr(x, limit=0.3, kernel=kernel)[0] == -1
    assert csr(x, limit=0.7, kernel=kernel)[0] == np.count_nonzero(x)
    x[:8] = 0  # only the first 8 rows are probed
    assert csr(x, limit=0.3, kernel=kernel)[0] == np.count_nonzero(x)


def test_compact_rows_is_the_vector_form_where_the_compress_is_native():
    assert (S.compact_rows is S.compact_rows_vector) == simd.NATIVE


def test_csr_kernels_refuse_other_widths_and_keep_nan(rng):
    x = sparse(rng, (3, 10), 0.5, np.float64)
    _, idx, val, ptr = csr(x)
    with pytest.raises(ValueError, match="not one of WIDTHS"):
        S.csr_affine_forward(idx, val, ptr, np.ones((10, 7)), np.ones(7), np.empty((3, 7)), False)
    with pytest.raises(ValueError, match="not one of WIDTHS"):
        S.csr_weight_grad(idx, val, ptr, np.ones((3, 7)), np.empty((10, 7)))
    W = rng.standard_normal((10, 50))
    W[int(np.flatnonzero(x[0])[0]), 3] = np.nan  # a NaN weight that a nonzero input meets
    out = np.empty((3, 50))
    S.csr_affine_forward(idx, val, ptr, W, np.zeros(50), out, True)
    assert np.isnan(out[0, 3])  # ReLU keeps NaN, as the Relu layer


@pytest.mark.parametrize("b_size", [49, 51])
def test_csr_affine_forward_refuses_a_bias_of_another_width_before_writing(rng, b_size):
    x = sparse(rng, (3, 10), 0.5, np.float64)
    _, idx, val, ptr = csr(x)
    out = np.full((3, 50), 7.0)
    with pytest.raises(ValueError, match="one entry per column"):
        S.csr_affine_forward(idx, val, ptr, np.ones((10, 50)), np.ones(b_size), out, True)
    assert (out == 7.0).all()
