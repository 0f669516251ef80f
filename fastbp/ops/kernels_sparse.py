"""The kernel table's cases for ``fastbp.kernels.sparse_input``: the listing of a mostly-zero input's
nonzeros (both implementations) and the products from that list, against dense twins.

Inputs are MNIST-like (values in (0, 1] on a given fraction of the entries, zeros elsewhere, one
negative zero); shapes are whole 64-byte vectors and not, batch 1 to 100, 784 features.
"""

from __future__ import annotations

import numpy as np

from ..kernels import simd as _simd
from ..kernels import sparse_input as _ksp
from ..reference import sparse_input as _rsp
from .check import Case
from .check import filled as _filled


def sparse(rng, shape, density, dtype):
    """MNIST-like: values in (0, 1] on a random ``density`` of the entries, zeros elsewhere."""
    x = rng.random(shape)
    x[rng.random(shape) >= density] = 0
    return x.astype(dtype)


def listing(x, limit=1.0, kernel=None, val_dtype=None):
    """(count, idx, val, ptr) of x by ``kernel`` (default ``compact_rows``), into NaN/-1-filled arrays
    (``val`` in ``val_dtype``, default x's)."""
    idx = np.full(x.size, -1, np.int32)
    val = _filled(x.size, val_dtype or x.dtype)
    ptr = np.full(x.shape[0] + 1, -1, np.int64)
    return (kernel or _ksp.compact_rows)(x, idx, val, ptr, limit), idx, val, ptr


def _make_listing(rng, dtype, size):
    shape, density = size
    x = sparse(rng, shape, density, dtype)
    x[0, 0] = -0.0  # a negative zero is a zero
    return (x,)


def _fast_listing(kernel):
    def fast(x):
        n, idx, val, ptr = listing(x, kernel=kernel)
        return n, idx[: max(n, 0)], val[: max(n, 0)], ptr

    return fast


def _twin_listing(x):
    cols, vals, ptr = _rsp.compact_rows(x)
    return len(cols), cols, vals, ptr


# A float32 input listed into float64 values (a float32 batch into a float64 network's first layer):
# the values widened exactly, as a converted copy of x would hold them.
def _make_listing_f32(rng, dtype, size):
    return _make_listing(rng, np.float32, size)


def _fast_widening(kernel):
    def fast(x):
        n, idx, val, ptr = listing(x, kernel=kernel, val_dtype=np.float64)
        return n, idx[: max(n, 0)], val[: max(n, 0)], ptr

    return fast


def _twin_widening(x):
    return _twin_listing(x.astype(np.float64))


def _make_product(rng, dtype, size):
    n, d, density, width, relu = size
    x = sparse(rng, (n, d), density, dtype)
    W = rng.standard_normal((d, width)).astype(dtype)
    return x, W, rng.standard_normal(width).astype(dtype), relu


def _fast_csr_affine_forward(x, W, b, relu):
    _, idx, val, ptr = listing(x)
    out = _filled((x.shape[0], W.shape[1]), x.dtype)
    _ksp.csr_affine_forward(idx, val, ptr, W, b, out, relu)
    return out


def _make_weight_grad(rng, dtype, size):
    n, d, density, width, _ = size
    x = sparse(rng, (n, d), density, dtype)
    return x, rng.standard_normal((n, width)).astype(dtype)


def _fast_csr_weight_grad(x, dout):
    _, idx, val, ptr = listing(x)
    dW = _filled((x.shape[1], dout.shape[1]), x.dtype)
    _ksp.csr_weight_grad(idx, val, ptr, dout, dW)
    return dW


LISTING_SIZES = tuple(
    (shape, density)
    for shape in ((1, 1), (1, 9), (3, 8), (8, 13), (2, 16), (3, 17), (5, 33), (9, 784), (100, 784))
    for density in (0.0, 0.19, 1.0)
)
PRODUCT_SIZES = tuple(
    (n, d, density, width, relu)
    for n, d, density in ((1, 784, 0.19), (9, 784, 0.19), (100, 784, 0.19), (7, 13, 0.5), (4, 6, 0.0))
    for width in _ksp.WIDTHS
    for relu in (False, True)
)
_NO_VECTOR = "" if _simd.AVAILABLE else "LLVM < 19 or NUMBA_DISABLE_JIT: no vector listing"
_S = "sparse_input"
_EXACT = {np.float32: 0.0, np.float64: 0.0}  # a listing copies values: bit for bit

CASES = (
    Case("compact_rows", _S, _fast_listing(None), _twin_listing, _make_listing, LISTING_SIZES, _EXACT),
    Case(
        "compact_rows_scalar",
        _S,
        _fast_listing(_ksp.compact_rows_scalar),
        _twin_listing,
        _make_listing,
        LISTING_SIZES,
        _EXACT,
    ),
    # the vector listing runs wherever LLVM has the compress intrinsic (expanded lane by lane without
    # AVX-512), so its results are checked on any machine that compiles it
    Case(
        "compact_rows_vector",
        _S,
        _fast_listing(_ksp.compact_rows_vector),
        _twin_listing,
        _make_listing,
        LISTING_SIZES,
        _EXACT,
        skip=_NO_VECTOR,
    ),
    *(
        Case(
            f"{name} float32->float64",
            _S,
            _fast_widening(kernel),
            _twin_widening,
            _make_listing_f32,
            LISTING_SIZES,
            _EXACT,
            dtypes=(np.float64,),
            skip=_NO_VECTOR if name == "compact_rows_vector" else "",
        )
        for name, kernel in (
            ("compact_rows_scalar", _ksp.compact_rows_scalar),
            ("compact_rows_vector", _ksp.compact_rows_vector),
        )
    ),
    # sums of up to 784 products in another order: 10 x TOL
    Case(
        "csr_affine_forward",
        _S,
        _fast_csr_affine_forward,
        _rsp.csr_affine_forward,
        _make_product,
        PRODUCT_SIZES,
        10.0,
    ),
    Case(
        "csr_weight_grad",
        _S,
        _fast_csr_weight_grad,
        _rsp.csr_weight_grad,
        _make_weight_grad,
        PRODUCT_SIZES[::2],  # (relu plays no part)
        10.0,
    ),
)
