"""Affine products whose input is mostly zeros: an MNIST batch is ~81% zero pixels.

BLAS multiplies every zero. These kernels first list each row's nonzeros (``compact_rows``: CSR
form), then do only their work: the forward ``x W + b`` as, per row, the sum of the rows of W its
nonzeros select; the weight gradient ``x^T dout`` as, per nonzero, one row of dW gaining a multiple
of a row of dout. Both sweep whole rows of W/dW, so their speed rests on LLVM vectorising a loop over
the output width: with a width known only at run time it picks a vector body wider than a 50-wide
row and runs it all in the scalar remainder (measured: 2x slower). The widths the book's networks
use are therefore compiled as constants (``WIDTHS``); the layers take BLAS for any other width.

The loops index flat views with unsigned integers: Numba's handling of possibly negative indices
and 2-D address arithmetic cost 10-30% in these short inner loops (measured).

``idx``/``val``/``ptr``: row r's nonzeros are ``val[ptr[r]:ptr[r+1]]`` at columns ``idx[...]``,
in increasing column order.
"""

import numpy as np
from numba import int64, literally, uint64

from .._jit import jit
from ..config import CSR_PROBE_ROWS
from . import rules
from .simd import NATIVE, compress_nonzero, gather_axpy4, row_axpy, scatter_axpy4

# Output widths compiled as constants: the book's hidden layers (50: TwoLayerNet, 100:
# MultiLayerNet). Each costs one more compilation per dtype on a cold cache.
WIDTHS = (50, 100)

# compact_rows gives up (returns -1) when the first PROBE_ROWS rows are denser than max_density (see
# config.CSR_PROBE_ROWS).
PROBE_ROWS = CSR_PROBE_ROWS


@jit
def compact_rows_vector(x, idx, val, ptr, max_density):
    """compact_rows with one vector compress per 64 bytes of a row (``simd.compress_nonzero``)
    and the scalar append for the rest of the row."""
    n, d = x.shape
    xf = x.reshape(-1)
    zero = x.dtype.type(0)
    lanes = 64 // xf.itemsize
    budget = max_density * min(n, PROBE_ROWS) * d  # nonzeros the probe rows may hold
    p = 0
    finite = 1
    for r in range(n):
        ptr[r] = p
        base = r * d
        k = 0
        while k + lanes <= d:
            count, ok = compress_nonzero(xf, base + k, k, idx, val, p)
            p += count
            finite &= ok
            k += lanes
        while k < d:
            v = xf[base + k]
            idx[p] = k
            val[p] = v
            p += v != zero
            finite &= np.isfinite(v)
            k += 1
        if r < PROBE_ROWS and p > budget:  # (p only grows: the probe's answer is already known)
            return -1
    ptr[n] = p
    return p if finite else -2


@jit
def compact_rows_scalar(x, idx, val, ptr, max_density):
    """compact_rows in scalar code: blocks of 8 entries that are all zero are skipped after one
    test (background comes in runs); within a block the append is branch-free."""
    n, d = x.shape
    xf = x.reshape(-1)
    zero = x.dtype.type(0)
    one = uint64(1)
    p = uint64(0)
    d8 = uint64(d - d % 8)
    budget = max_density * min(n, PROBE_ROWS) * d  # nonzeros the probe rows may hold
    finite = True
    for r in range(n):
        ptr[r] = p
        base = uint64(r) * uint64(d)
        k0 = uint64(0)
        while k0 < d8:
            b = base + k0
            hit = (
                (xf[b] != zero)
                | (xf[b + one] != zero)
                | (xf[b + uint64(2)] != zero)
                | (xf[b + uint64(3)] != zero)
                | (xf[b + uint64(4)] != zero)
                | (xf[b + uint64(5)] != zero)
                | (xf[b + uint64(6)] != zero)
                | (xf[b + uint64(7)] != zero)
            )
            if hit:  # (a block of zeros is finite)
                for t in range(8):
                    v = xf[b + uint64(t)]
                    idx[p] = k0 + uint64(t)
                    val[p] = v
                    p += uint64(v != zero)
                    finite &= np.isfinite(v)
            k0 += uint64(8)
        for k in range(d8, uint64(d)):
            v = xf[base + k]
            idx[p] = k
            val[p] = v
            p += uint64(v != zero)
            finite &= np.isfinite(v)
        if r < PROBE_ROWS and p > budget:  # (p only grows: the probe's answer is already known)
            return -1
    ptr[n] = p
    return int64(p) if finite else -2


# x (N, D) C-contiguous -> its nonzeros in CSR form (idx: int32 and val: >= N*D entries; ptr: N+1);
# returns their count, or -1 as soon as the first PROBE_ROWS rows (or all, if fewer) turn out denser than
# max_density (the list would not pay: the caller takes BLAS; a dense batch is known after about
# max_density * PROBE_ROWS of its rows), or -2 when x holds a NaN or inf (the
# pass checks every entry: a network's input check can use it instead of its own). The vector form
# where the compress is one instruction (1000 MNIST images, float32: 110-130 us against 570-690).
compact_rows = compact_rows_vector if NATIVE else compact_rows_scalar


@jit
def _row(idx, p, w):
    """Flat offset of the row that nonzero p selects (unsigned: int32 * uint64 would be float)."""
    return uint64(idx[p]) * w


@jit
def _four(idx, val, p, w):
    """The row offsets (4-tuple) and values (4-tuple) of nonzeros p .. p+3."""
    p1, p2, p3 = p + uint64(1), p + uint64(2), p + uint64(3)
    return (_row(idx, p, w), _row(idx, p1, w), _row(idx, p2, w), _row(idx, p3, w)), (
        val[p],
        val[p1],
        val[p2],
        val[p3],
    )


@jit
def _forward_w(idx, val, ptr, W, b, out, relu, width):
    width = literally(width)
    Wf, of = W.reshape(-1), out.reshape(-1)
    w = uint64(width)
    for r in range(out.shape[0]):
        ob = uint64(r) * w
        for j in range(width):
            of[ob + uint64(j)] = b[j]
        p, e = uint64(ptr[r]), uint64(ptr[r + 1])
        while p + uint64(4) <= e:  # four rows of W per pass over the output row
            k, v = _four(idx, val, p, w)
            gather_axpy4(of, ob, Wf, k, v, width)
            p += uint64(4)
        while p < e:
            row_axpy(of, ob, Wf, _row(idx, p, w), val[p], width)
            p += uint64(1)
        if relu:
            for j in range(width):
                u = ob + uint64(j)
                of[u] = rules.relu(of[u])


@jit
def _weight_grad_w(idx, val, ptr, dout, dW, width):
    width = literally(width)
    dWf, df = dW.reshape(-1), dout.reshape(-1)
    w = uint64(width)
    for i in range(dWf.shape[0]):
        dWf[i] = 0
    for r in range(dout.shape[0]):
        rb = uint64(r) * w
        p, e = uint64(ptr[r]), uint64(ptr[r + 1])
        while p + uint64(4) <= e:  # four rows of dW per load of the dout row
            k, v = _four(idx, val, p, w)
            scatter_axpy4(dWf, k, df, rb, v, width)
            p += uint64(4)
        while p < e:
            row_axpy(dWf, _row(idx, p, w), df, rb, val[p], width)
            p += uint64(1)


@jit
def csr_affine_forward(idx, val, ptr, W, b, out, relu):
    """out (N, M) = x W + b, then max(., 0) if ``relu``, for x in CSR form.

    W (D, M), out: C-contiguous; M must be one of WIDTHS (ValueError otherwise).
    """
    m = W.shape[1]
    if b.shape[0] != m:  # (as kernels/affine.py: a b rebound apart from W is not read past its end)
        raise ValueError("the bias does not have one entry per column of x W (was b or W rebound?)")
    if m == 50:
        _forward_w(idx, val, ptr, W, b, out, relu, 50)
    elif m == 100:
        _forward_w(idx, val, ptr, W, b, out, relu, 100)
    else:
        raise ValueError("csr_affine_forward: the output width is not one of WIDTHS")


@jit
def csr_weight_grad(idx, val, ptr, dout, dW):
    """dW (D, M) = x^T dout for x (N, D) in CSR form; dout (N, M), dW: C-contiguous, M in WIDTHS."""
    m = dW.shape[1]
    if m == 50:
        _weight_grad_w(idx, val, ptr, dout, dW, 50)
    elif m == 100:
        _weight_grad_w(idx, val, ptr, dout, dW, 100)
    else:
        raise ValueError("csr_weight_grad: the output width is not one of WIDTHS")
