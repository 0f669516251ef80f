"""Thread settings: how many threads BLAS (NumPy's OpenBLAS) and Numba may use.

Measured on this project's 2-core machine with the other core busy: two BLAS threads turned a 1 ms
NumPy training step into 32 ms, and an OpenMP parallel region cost a scheduler quantum (~8 ms) even
for tiny arrays. fastbp's kernels are serial, and at the book's sizes a single BLAS thread is within a
few percent of two on an idle machine and never catastrophic on a busy one. So fastbp runs BLAS on one
thread unless told otherwise:

- ``import fastbp`` changes nothing: the setting is applied when the first fastbp network, ``Affine``
  or ``Convolution`` is built (the objects whose steps call BLAS), through :func:`ensure_applied`.
  From then on it holds for the whole process (BLAS has one thread pool), NumPy's own matrix products
  outside fastbp included. Scoping it to fastbp's calls instead would cost more than a step: a
  threadpoolctl context measured 46 µs per entry and exit, and even a bare get/set/set of OpenBLAS's
  count 16 µs, against ~30 µs for a whole TwoLayerNet step at batch 1.
- ``FASTBP_NUM_THREADS`` (environment, read at import; a bad value fails the import): a positive
  count, or ``0``/``keep`` to leave the process's thread settings alone. Default ``1``.
- ``fastbp.set_num_threads(n)`` at any time (before the first network too: then the default is never
  applied); ``fastbp.get_num_threads()`` reports BLAS's count.

BLAS threads are set through threadpoolctl (a dependency). ``set_num_threads`` also sets Numba's count
(per Python thread), though no fastbp kernel uses ``prange`` today; the default applied at the first
network does not touch Numba, since ``numba.set_num_threads`` starts Numba's threading layer.
``OPENBLAS_NUM_THREADS``, ``NUMBA_NUM_THREADS`` and ``OMP_WAIT_POLICY=passive`` work as usual when
``FASTBP_NUM_THREADS=keep``.
"""

from __future__ import annotations

import os

__all__ = ["set_num_threads", "get_num_threads", "ensure_applied"]

_controller = None


def _blas():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def _blas_limit(n: int) -> None:
    _blas().limit(limits=n, user_api="blas")


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for BLAS (process-wide) and for Numba (this Python thread).

    An explicit choice: ``FASTBP_NUM_THREADS`` is not applied after it.
    """
    global _pending
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
    import numba

    _pending = False
    _blas_limit(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    from .layers import products

    products.forget()  # (the layouts were checked at the old thread count; where it cannot be read)


def get_num_threads() -> int:
    """The number of threads BLAS uses now (the largest, if several BLAS libraries are loaded)."""
    counts = [lib.num_threads for lib in _blas().select(user_api="blas").lib_controllers]
    return max(counts) if counts else 1


def _wanted(raw: str | None) -> int | None:
    """``FASTBP_NUM_THREADS``'s value as a BLAS thread count, or None for "keep"; a bad value is a
    ValueError naming the variable and the value."""
    raw = "1" if raw is None else raw
    value = raw.strip().lower()
    if value in ("0", "keep", ""):
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:  # "-1" parses, but set_num_threads' own message would not name the variable
        raise ValueError(f"FASTBP_NUM_THREADS must be a positive integer, 0 or 'keep', got {raw!r}")
    return n


WANTED = _wanted(os.environ.get("FASTBP_NUM_THREADS"))  #: BLAS threads for fastbp's steps; None: keep
_pending = WANTED is not None  # the setting is still to be applied (once, by ensure_applied)


def ensure_applied() -> None:
    """Apply ``FASTBP_NUM_THREADS`` (default: one BLAS thread) the first time it is called; later
    calls, and calls after :func:`set_num_threads`, do nothing (one global test).

    Called from the constructors of fastbp's networks and BLAS-calling layers, never from a step.
    """
    global _pending
    if _pending:
        _pending = False
        _blas_limit(WANTED)
