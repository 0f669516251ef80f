"""Ctrl-C that is not lost while Numba compiles (the command line's commands).

Python raises KeyboardInterrupt in whatever Python code runs when the signal is handled. While Numba
compiles, that can be a callback LLVM makes through ctypes, and ctypes prints "Exception ignored on
calling ctypes callback function" and drops it: the compilation goes on and the command ignores the
Ctrl-C (a training run just kept training), or Numba's half-made state fails later with a
RuntimeError and a traceback. Measured on a cold kernel cache: one Ctrl-C in six, sent during the
first step, ended in that RuntimeError.

So the commands handle SIGINT themselves (``catching``): the handler notes the Ctrl-C before it
raises, a compilation that ends with a Ctrl-C noted raises it again (``raise_if_lost``, called by
fastbp._compiling), and a command that fails after a Ctrl-C counts as interrupted (``seen``; the
failure is named beside it). A command that catches the KeyboardInterrupt and goes on says so
(``handled``).
"""

from __future__ import annotations

import signal
import threading

__all__ = ["catching", "seen", "handled", "raise_if_lost"]

_SEEN = [False]  # a Ctrl-C came while ``catching`` was in force, and was not handled since
_ACTIVE = [False]  # ``catching`` is in force (its handler is SIGINT's)


def _handler(signum, frame):
    _SEEN[0] = True
    raise KeyboardInterrupt


class catching:
    """While in force, SIGINT raises KeyboardInterrupt as usual and is also noted. Takes effect only
    in the main thread, and only over Python's default handler (a handler the user set is kept)."""

    def __enter__(self):
        self._previous = None
        if threading.current_thread() is not threading.main_thread():
            return self
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return self  # (also inside a catching already in force: its Ctrl-C stays noted)
        _SEEN[0] = False
        try:  # (a Ctrl-C between the steps: put everything back, then let it through)
            self._previous = signal.default_int_handler  # (known: what signal.signal will return)
            signal.signal(signal.SIGINT, _handler)
            _ACTIVE[0] = True
        except BaseException:
            _ACTIVE[0] = False
            if self._previous is not None:
                signal.signal(signal.SIGINT, self._previous)
            raise
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            try:  # (a Ctrl-C here still puts the handler back)
                _ACTIVE[0] = _SEEN[0] = False  # (nothing pending once the command is over)
            finally:
                signal.signal(signal.SIGINT, self._previous)
        return False


def seen() -> bool:
    """Whether a Ctrl-C came while ``catching`` is in force and was not handled since."""
    return _SEEN[0]


def handled() -> None:
    """A command caught the KeyboardInterrupt and goes on (fastbp bench keeps what it measured):
    the Ctrl-C is no longer pending."""
    _SEEN[0] = False


def raise_if_lost() -> None:
    """KeyboardInterrupt if a Ctrl-C came while ``catching`` is in force and was not handled (where
    it may have been swallowed: the end of a compilation); raised once."""
    if _ACTIVE[0] and _SEEN[0]:
        _SEEN[0] = False
        raise KeyboardInterrupt
