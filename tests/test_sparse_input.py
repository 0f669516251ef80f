"""The CSR path for mostly-zero inputs (kernels/sparse_input.py): kernels against their dense twins,
the Affine layer's choice of path, and gradients through networks that take it."""

import numpy as np
import pytest
from conftest import DTYPES, TOL
from numpy.testing import assert_allclose, assert_array_equal

from fastbp.kernels import simd
from fastbp.kernels import sparse_input as S
from fastbp.reference import kernels as ref


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
@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 9), (3, 8), (8, 13), (2, 16), (3, 17), (5, 33), (9, 784), (100, 784)]
)
@pytest.mark.parametrize("density", [0.0, 0.19, 1.0])
def test_compact_rows_lists_the_nonzeros_in_order(rng, shape, density, dtype, kernel):
    x = sparse(rng, shape, density, dtype)
    x[0, 0] = -0.0  # a negative zero is a zero
    n, idx, val, ptr = csr(x, kernel=kernel)
    cols, vals, want_ptr = ref.compact_rows(x)
    assert n == len(cols) == ptr[-1]
    assert_array_equal(ptr, want_ptr)
    assert_array_equal(idx[:n], cols)
    assert_array_equal(val[:n], vals)


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


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("width", S.WIDTHS)
@pytest.mark.parametrize(
    "n, d, density", [(1, 784, 0.19), (9, 784, 0.19), (100, 784, 0.19), (7, 13, 0.5), (4, 6, 0.0)]
)
@pytest.mark.parametrize("relu", [False, True])
def test_csr_products_match_the_dense_twins(rng, n, d, density, width, relu, dtype):
    x = sparse(rng, (n, d), density, dtype)
    W = rng.standard_normal((d, width)).astype(dtype)
    b = rng.standard_normal(width).astype(dtype)
    dout = rng.standard_normal((n, width)).astype(dtype)
    _, idx, val, ptr = csr(x)
    out = np.full((n, width), np.nan, dtype)
    S.csr_affine_forward(idx, val, ptr, W, b, out, relu)
    tol = TOL[dtype] * 10  # sums of up to 784 products in another order
    assert out.dtype == dtype
    assert_allclose(out, ref.csr_affine_forward(x, W, b, relu), rtol=tol, atol=tol)
    dW = np.full((d, width), np.nan, dtype)
    S.csr_weight_grad(idx, val, ptr, dout, dW)
    assert_allclose(dW, ref.csr_weight_grad(x, dout), rtol=tol, atol=tol)


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
