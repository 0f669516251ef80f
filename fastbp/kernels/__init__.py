"""Numba kernels: stateless functions over C-contiguous float32/float64 arrays.

Each module holds one op family. Kernels write into arrays the caller passes, so a layer that keeps
its buffers allocates nothing in the steady state. Matrix products are not here: the layers call
NumPy's BLAS directly (see ``fastbp/layers.py``) and the kernels fuse what comes after them.
"""
