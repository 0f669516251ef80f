"""The bias half of the affine map y = x W + b.

The product x W runs in BLAS (called by the layer); these kernels do the pass over its output.
"""

from .._jit import jit


@jit
def bias_forward(y, b):
    """y[i, :] += b in place.  y: (N, M), b: (M,)."""
    n, m = y.shape
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
    for j in range(m):
        db[j] = 0.0
    for i in range(n):
        for j in range(m):
            db[j] += dy[i, j]
