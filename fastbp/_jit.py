"""Numba options for every fastbp kernel, in one place.

- ``cache=True``: compiled code persists on disk, so the second process starts fast. Numba raises
  at decoration time when no cache directory is writable; we then compile without a cache rather
  than make ``import fastbp`` fail. ``FASTBP_CACHE=0`` turns caching off.
  Numba keys each cached kernel to its own source file only: after editing a module whose helpers
  other kernels inline (``kernels/rules.py``: ReLU and the pooling winner, used by the activation,
  affine, conv, mlp and sparse_input kernels; ``kernels/simd.py``, ``kernels/softmax_ce.py``, ...), clear the
  ``__pycache__`` directories or run with ``FASTBP_CACHE=0`` (an installed release changes every file).
- ``nogil=True``: kernels release the GIL, so user threads can overlap them.
- ``error_model="numpy"``: division by zero gives inf/NaN instead of raising; the "python" model
  adds a branch to every division and made update loops 2-5x slower here.
- No explicit signatures: they would compile every kernel at import time.
- ``inline="always"`` (for small rules shared by several kernels, ``kernels/rules.py``): Numba inlines
  the function's IR into each caller before typing, so it compiles with the caller's options and
  dtypes and costs nothing at run time.
- ``fastmath`` is off unless a kernel asks; when it does it gets the named flags in ``FASTMATH``,
  never ``nnan``/``ninf``, which would let LLVM drop NaN and inf handling.
"""

from __future__ import annotations

import os

import numba

__all__ = ["jit", "FASTMATH", "CACHE"]

FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})
CACHE = os.environ.get("FASTBP_CACHE", "1") != "0"


def jit(fn=None, *, parallel: bool = False, fastmath: bool | frozenset = False, inline: str = "never"):
    """Compile ``fn`` with fastbp's Numba options (usable bare or with keyword arguments)."""

    def wrap(f):
        opts = dict(
            nogil=True,
            error_model="numpy",
            parallel=parallel,
            fastmath=set(FASTMATH) if fastmath is True else fastmath,
            inline=inline,
        )
        if CACHE:
            try:
                return numba.njit(cache=True, **opts)(f)
            except RuntimeError:  # "cannot cache function ...: no locator available"
                pass
        return numba.njit(**opts)(f)

    return wrap if fn is None else wrap(fn)
