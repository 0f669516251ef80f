"""The bias half of the affine map y = x W + b.

The product x W runs in BLAS (called by the layer); these kernels do the pass over its output.
"""

from .._jit import jit
from . import rules


@jit
def _one_per_column(b, m):
    """ValueError, before anything is written, unless the bias (or its gradient) b has the product's m
    columns: a layer's b rebound apart from its W would be read or written past its end (compiled
    code checks no index)."""
    if b.shape[0] != m:
        raise ValueError("the bias does not have one entry per column of x W (was b or W rebound?)")


@jit
def bias_forward(y, b):
    """y[i, :] += b in place.  y: (N, M), b: (M,)."""
    n, m = y.shape
    _one_per_column(b, m)
    for i in range(n):
        for j in range(m):
            y[i, j] += b[j]


@jit
def bias_backward(dy, db):
    """db = sum_i dy[i, :], written into db.  dy: (N, M), db: (M,).

    Rows are added in order, as NumPy's ``dy.sum(axis=0)`` does, so float64 results match it bit
    for bit.
    """
    n, m = dy.shape
    _one_per_column(db, m)
    for j in range(m):
        db[j] = 0.0
    for i in range(n):
        for j in range(m):
            db[j] += dy[i, j]


@jit
def bias_relu_forward(y, b):
    """y = max(y + b, 0) in place: the bias and ReLU in the one pass over the GEMM output.

    y: (N, M), b: (M,). NaN stays NaN, as in relu_forward.
    """
    n, m = y.shape
    _one_per_column(b, m)
    for i in range(n):
        for j in range(m):
            y[i, j] = rules.relu(y[i, j] + b[j])


@jit
def relu_bias_backward(dy, out, db):
    """Through ReLU then the bias, in one pass: dy = 0 where out <= 0 (in place); db = sum_i dy[i, :].

    dy: (N, M) the gradient of the ReLU output, out: (N, M) the ReLU output, db: (M,).
    """
    n, m = dy.shape
    _one_per_column(db, m)
    if out.shape != dy.shape:
        raise ValueError("the ReLU's out is not the gradient's shape (rebound since the forward pass?)")
    zero = dy.dtype.type(0)
    for j in range(m):
        db[j] = zero
    for i in range(n):
        for j in range(m):
            g = rules.relu_grad(dy[i, j], out[i, j])
            dy[i, j] = g
            db[j] += g


@jit
def transpose_into(src, dst):
    """dst = src^T.  src: (M, N), dst: (N, M), both C-contiguous; in 16 x 16 tiles, so that both the
    reads and the writes stay within a few cache lines at a time."""
    n, m = dst.shape
    for i0 in range(0, n, 16):
        for j0 in range(0, m, 16):
            for i in range(i0, min(i0 + 16, n)):
                for j in range(j0, min(j0 + 16, m)):
                    dst[i, j] = src[j, i]
