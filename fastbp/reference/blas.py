"""Twin of ``fastbp.kernels.blas``: a matrix product with either operand transposed."""

__all__ = ["gemm"]


def gemm(a, a_t, b, b_t):
    """op(a) op(b), op(z) = z.T if z_t else z."""
    return (a.T if a_t else a) @ (b.T if b_t else b)
