"""One table of ops, read by the tests and the benchmarks alike, so nothing is benchmarked that is not
tested.

- ``nodes.OPS``: every layer of ``fastbp.layers`` and node of ``fastbp.fused``, each with the chain of
  ``fastbp.reference.layers`` twins it stands for, its inputs per batch size and dtype, its sizes (the
  benchmark's first), tolerances, and whether (and at what size) its backward is checked against
  central differences. ``tests/test_ops.py`` and ``fastbp.bench`` (the op cases) read it.
- ``kernels.KERNELS``: every public kernel of ``fastbp.kernels`` against its twin in
  ``fastbp.reference`` (one module of cases per kernel family). ``tests/test_kernels.py`` reads it.
"""

from .check import TOL, Case, check, run
from .kernels import KERNELS
from .nodes import OPS, Op

__all__ = ["OPS", "Op", "KERNELS", "Case", "TOL", "check", "run"]
