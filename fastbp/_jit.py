"""Numba options for every fastbp kernel, in one place.

- ``cache=True``: compiled code persists on disk, so the second process starts fast. The cache goes
  into ``NUMBA_CACHE_DIR`` when that is set, else into a per-user folder,
  ``fastbp/numba`` inside the user cache folder (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
  ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%\\...\\Cache`` on Windows, as :mod:`fastbp.data`),
  never inside the installed package. Only fastbp's kernels are pointed there: the user's own
  ``@njit(cache=True)`` functions keep Numba's rules. When the folder cannot be written, or Numba finds
  no writable cache directory at decoration time, the kernels compile without a cache rather than make
  ``import fastbp`` fail. ``FASTBP_CACHE=0`` (or ``no``/``false``/``off``, any case) turns caching
  off; ``1``/``yes``/``true``/``on`` or unset keeps it on; anything else is refused at import.
  Inside that folder (or ``NUMBA_CACHE_DIR``) the kernels go to a folder ``src-<digest>``, the digest
  of the whole files they are compiled from (``kernels/*.py``, ``config.py`` for its compiled-in
  values, this file for the options; any edit of them, a comment too, compiles every kernel again):
  Numba checks a cached kernel against its own source file only (its time stamp and size), so a
  kernel whose callee in another module had changed (``kernels/softmax_ce.py``'s label check, called
  by ``kernels/mlp.py``) was loaded as it had been compiled before the change -- without the check,
  writing past the scores it was given. Folders of other digests are left in place. Sources that
  cannot be read (a zipped package) mean no cache, as an unwritable folder does.
- Compilation is visible: the first kernel compiled in a process (a cache miss) prints one line on
  stderr (``fastbp._compiling``: ``FASTBP_QUIET=1`` or the ``fastbp`` logger silence it).
- ``nogil=True``: kernels release the GIL, so user threads can overlap them.
- ``error_model="numpy"``: division by zero gives inf/NaN instead of raising; the "python" model
  adds a branch to every division and made update loops 2-5x slower here.
- No explicit signatures: they would compile every kernel at import time.
- ``inline="always"`` (for small rules shared by several kernels, ``kernels/rules.py``): Numba inlines
  the function's IR into each caller before typing, so it compiles with the caller's options and
  dtypes and costs nothing at run time.
- ``fastmath`` is off unless a kernel asks; when it does it gets the named flags in ``FASTMATH`` (or
  the subset it names, e.g. only ``contract``), never ``nnan``/``ninf``, which would let LLVM drop
  NaN and inf handling.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numba

from . import _compiling

__all__ = ["jit", "FASTMATH", "CACHE", "CACHE_DIR"]

FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})

_OFF = ("0", "no", "false", "off")
_ON = ("1", "yes", "true", "on", "")


def _cache_flag(value: str | None) -> bool:
    """``FASTBP_CACHE``'s value as on/off; ValueError naming the variable for anything unrecognised."""
    v = "1" if value is None else value.strip().lower()
    if v in _OFF:
        return False
    if v in _ON:
        return True
    raise ValueError(
        f"FASTBP_CACHE must be one of 0/no/false/off (no kernel cache) or 1/yes/true/on, got {value!r}"
    )


def _writable_dir(path: str) -> bool:
    """Whether ``path`` exists or can be created and a file can be made in it (then removed)."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    return True


def _cache_dir(cache: bool, environ) -> str | None:
    """fastbp's per-user cache root (the tuning file's folder; the kernels go to a folder inside it,
    ``_kernel_dir``): None when ``NUMBA_CACHE_DIR`` is set (the root is that) or caching is off,
    ``""`` when the per-user folder is not writable, else the folder."""
    if not cache or environ.get("NUMBA_CACHE_DIR"):
        return None
    from .data import _user_cache_dir

    folder = os.fspath(_user_cache_dir(sys.platform, environ) / "numba")
    return folder if _writable_dir(folder) else ""


def _source_digest() -> str:
    """A digest of every source a compiled kernel depends on: the kernel modules (which call and
    inline each other's functions), the compiled-in thresholds of ``config.py`` and the options here;
    and of Numba's index checking. ~0.3 ms at import."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    # (Numba's own key leaves out its index checking: kernels compiled with NUMBA_BOUNDSCHECK=1 are
    # slower and must not be loaded without it, nor the unchecked ones with it)
    digest.update(f"boundscheck={numba.config.BOUNDSCHECK}".encode())
    for path in sorted((here / "kernels").glob("*.py")) + [here / "config.py", here / "_jit.py"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _kernel_dir(cache: bool, environ) -> str | None:
    """The folder Numba's cache of fastbp's kernels goes to: one per version of their sources
    (``_source_digest``) inside ``NUMBA_CACHE_DIR`` or the per-user folder; None when caching is off,
    ``""`` when no such folder can be written (no cache)."""
    if not cache:
        return None
    root = environ.get("NUMBA_CACHE_DIR") or _cache_dir(cache, environ)
    if not root:
        return ""
    try:
        folder = os.path.join(root, "src-" + _source_digest())
    except OSError:  # (sources that cannot be read: a cache could not be told stale)
        return ""
    return folder if _writable_dir(folder) else ""


CACHE = _cache_flag(os.environ.get("FASTBP_CACHE"))
#: The kernel cache folder in use (``_kernel_dir``); None when caching is off, ``""`` when no folder is
#: writable (no cache).
CACHE_DIR = _kernel_dir(CACHE, os.environ)

_compiling.install(lambda: _compiling.message(CACHE_DIR, CACHE))  # the one-line notice on a cache miss


def _njit_cached(f, opts):
    """``numba.njit(cache=True)`` with Numba's cache folder pointed at ``CACHE_DIR`` for this one
    decoration: Numba fixes a function's cache location when it is decorated, so the setting is put
    back at once and the user's own cached functions keep Numba's defaults."""
    saved = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = CACHE_DIR
    try:
        return numba.njit(cache=True, **opts)(f)
    finally:
        numba.config.CACHE_DIR = saved


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
        if CACHE and CACHE_DIR != "":
            try:
                return _njit_cached(f, opts)
            except RuntimeError:  # "cannot cache function ...: no locator available"
                pass
        return numba.njit(**opts)(f)

    return wrap if fn is None else wrap(fn)
