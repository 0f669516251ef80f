"""Moved: the kernel table is ``fastbp.ops.kernels`` (every public kernel against its twin). This name
stays for code that imports it from here; ``CASES`` is the whole table."""

from ..ops.check import TOL, Case, check, run
from ..ops.kernels import KERNELS as CASES

__all__ = ["Case", "CASES", "TOL", "run", "check"]
