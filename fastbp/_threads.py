"""Thread settings: how many threads BLAS (NumPy's OpenBLAS) and Numba may use.

Measured on this project's 2-core machine with the other core busy: two BLAS threads turned a 1 ms
NumPy training step into 32 ms, and an OpenMP parallel region cost a scheduler quantum (~8 ms) even
for tiny arrays. fastbp's kernels are serial, and at the book's sizes a single BLAS thread is within a
few percent of two on an idle machine and never catastrophic on a busy one. So fastbp runs BLAS on one
thread unless told otherwise:

- ``FASTBP_NUM_THREADS`` (environment, read at import): a positive count, or ``0``/``keep`` to leave
  the process's thread settings alone. Default ``1``.
- ``fastbp.set_num_threads(n)`` at run time; ``fastbp.get_num_threads()`` reports BLAS's count.

BLAS threads are set through threadpoolctl (a dependency), for the whole process: NumPy's own matrix
products outside fastbp follow the same setting. Numba's count is set too (it is per Python thread),
though no fastbp kernel uses ``prange`` today. ``OPENBLAS_NUM_THREADS``, ``NUMBA_NUM_THREADS`` and
``OMP_WAIT_POLICY=passive`` work as usual when ``FASTBP_NUM_THREADS=keep``.
"""

from __future__ import annotations

import os

import numba

__all__ = ["set_num_threads", "get_num_threads"]

_controller = None


def _blas():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for BLAS (process-wide) and for Numba (this Python thread)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
    _blas().limit(limits=n, user_api="blas")
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def get_num_threads() -> int:
    """The number of threads BLAS uses now (the largest, if several BLAS libraries are loaded)."""
    counts = [lib.num_threads for lib in _blas().select(user_api="blas").lib_controllers]
    return max(counts) if counts else 1


def _apply_environment() -> None:
    """Apply ``FASTBP_NUM_THREADS``; a bad value is a ValueError naming the variable and the value."""
    raw = os.environ.get("FASTBP_NUM_THREADS", "1")
    value = raw.strip().lower()
    if value in ("0", "keep", ""):
        return
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:  # "-1" parses, but set_num_threads' own message would not name the variable
        raise ValueError(f"FASTBP_NUM_THREADS must be a positive integer, 0 or 'keep', got {raw!r}")
    set_num_threads(n)
