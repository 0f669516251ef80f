"""Compilation you can see: one line on stderr when fastbp's kernels must be compiled.

Numba compiles a kernel the first time it meets a new type signature, unless the on-disk cache
(``fastbp._jit``) already holds it. On a cold cache that is a pause of seconds with nothing to say
why, so the first compilation of a fastbp kernel in a process announces itself, once::

    fastbp: compiling kernels for first use (about 5 s per kind of network; cached for later runs;
    `fastbp warmup` compiles them ahead of time)

Nothing is said when the cache is warm (loading a cached kernel is not a compilation) or when the
kernels run as Python (``NUMBA_DISABLE_JIT=1``).

How it is detected: Numba's ``"numba:compile"`` event, which a dispatcher triggers only on a cache miss,
just before it compiles. One listener, registered when the kernels are first imported, filters the
events to dispatchers of fastbp's own modules and counts and times the outermost compilations
(:func:`stats`; ``fastbp train`` and ``fastbp warmup`` report the seconds). It adds nothing to a
kernel call.

Why logging, and how to silence it: the notice is information, not a warning (it asks the user to
change nothing, and ``warnings`` filters set to "error", as test suites do, would turn a cold cache
into failures). It is an INFO record of the ``fastbp`` logger:

- an application that configured logging receives it through its own handlers and levels
  (``logging.basicConfig(level=logging.INFO)`` shows it; the default WARNING level drops it);
- with no logging configured (a script, the CLI), it is written to stderr as one line, as Python's
  own last-resort handler would for a warning. No handler is attached to any logger;
- ``FASTBP_QUIET=1`` (or ``yes``/``true``/``on``), or ``logging.getLogger("fastbp").setLevel(
  logging.WARNING)``, silences it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import NamedTuple

from . import _interrupt

__all__ = ["stats", "CompileStats", "install", "announced", "notify", "message", "ESTIMATE_SECONDS"]

log = logging.getLogger("fastbp")

#: The cold compilation of one network's training step and evaluation, seconds, rounded: TwoLayerNet
#: float64 3.9 s and SimpleConvNet 6-7 s measured on this project's 2-core machine (numba 0.68).
ESTIMATE_SECONDS = 5


class CompileStats(NamedTuple):
    """Kernel compilations in this process so far (cache misses of fastbp's kernels)."""

    kernels: int  # signatures compiled (a kernel compiled for float32 and float64 counts twice)
    seconds: float  # wall time inside the outermost compilations


def _quiet() -> bool:
    return os.environ.get("FASTBP_QUIET", "").strip().lower() in ("1", "yes", "true", "on")


def message(cache_dir: str | None, cache: bool) -> str:
    """The notice, for the kernel cache in use (``fastbp._jit``'s ``CACHE_DIR`` and ``CACHE``)."""
    if not cache:
        why = "the kernel cache is off (FASTBP_CACHE=0): every run compiles"
    elif cache_dir == "":
        why = "no writable kernel cache folder: every run compiles"
    else:
        why = "cached for later runs; `fastbp warmup` compiles them ahead of time"
    return f"compiling kernels for first use (about {ESTIMATE_SECONDS} s per kind of network; {why})"


def notify(text: str) -> None:
    """Emit ``text`` as the ``fastbp`` logger's INFO record, or on stderr when logging is unconfigured."""
    if _quiet() or log.level > logging.INFO:
        return
    if log.hasHandlers():
        log.info(text)
        return
    handler = logging.StreamHandler(sys.stderr)  # a stand-in for logging.lastResort, used once
    handler.setFormatter(logging.Formatter("fastbp: %(message)s"))
    handler.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, text, None, None))


class _Watch:
    """Numba event listener (``numba.core.event.Listener``'s interface): fastbp compilations only."""

    def __init__(self, text):
        self.text = text  # a callable giving the notice
        self.kernels = 0
        self.seconds = 0.0
        self.announced = False
        self._depth = 0
        self._t0 = 0.0

    @staticmethod
    def _ours(event) -> bool:
        dispatcher = (event.data or {}).get("dispatcher")
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
        return module.startswith("fastbp.")

    def notify(self, event):  # numba calls on_start / on_end; both arrive here
        if not self._ours(event):
            return
        if event.is_start:
            if self._depth == 0:
                self._t0 = time.perf_counter()
            self._depth += 1
            self.kernels += 1
            if not self.announced:
                self.announced = True
                notify(self.text())
        elif self._depth > 0:
            self._depth -= 1
            if self._depth == 0:
                self.seconds += time.perf_counter() - self._t0
                _interrupt.raise_if_lost()  # (a Ctrl-C that LLVM's callbacks swallowed: fastbp._interrupt)


_watch: _Watch | None = None


def install(text) -> None:
    """Register the listener once (``text()`` gives the notice); later calls do nothing."""
    global _watch
    if _watch is not None:
        return
    from numba.core import event

    class Listener(event.Listener):
        def on_start(self, ev):
            _watch.notify(ev)

        def on_end(self, ev):
            _watch.notify(ev)

    _watch = _Watch(text)
    event.register("numba:compile", Listener())


def announced() -> None:
    """Treat the notice as given (``fastbp warmup`` shows its own progress instead)."""
    if _watch is not None:
        _watch.announced = True


def stats() -> CompileStats:
    """How many fastbp kernel signatures this process compiled, and the seconds it took."""
    if _watch is None:
        return CompileStats(0, 0.0)
    return CompileStats(_watch.kernels, _watch.seconds)
