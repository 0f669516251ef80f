"""Twins of ``fastbp.kernels.sparse_input``: the same products, dense."""

import numpy as np

from .activations import relu_forward

__all__ = [
    "compact_rows",
    "compact_rows_vector",
    "compact_rows_scalar",
    "csr_affine_forward",
    "csr_weight_grad",
]


def compact_rows(x):
    """x's nonzeros row by row: (columns, values, row pointers)."""
    rows, cols = np.nonzero(x)
    ptr = np.searchsorted(rows, np.arange(x.shape[0] + 1))
    return cols, x[rows, cols], ptr


compact_rows_vector = compact_rows_scalar = compact_rows  # the kernel's two implementations of one thing


def csr_affine_forward(x, W, b, relu):
    y = x @ W + b
    return relu_forward(y) if relu else y


def csr_weight_grad(x, dout):
    return x.T @ dout
