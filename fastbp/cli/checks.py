"""Argument checks that run before any data is loaded or any network is built.

Each raises :class:`UsageError` with one line that names the user's argument; ``main`` prints it as
``fastbp <command>: error: ...`` and exits with status 2.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

# An allocation above this is a typo (an extra zero), not an experiment: refuse it before numpy tries.
MEMORY_LIMIT_BYTES = 4 << 30

# The largest training set the CLI can load (full MNIST); a batch beyond the loaded set is refused later.
MNIST_TRAIN_SIZE = 60000


class UsageError(Exception):
    """A command-line argument that cannot work; reported in one line, exit status 2."""


def positive(option: str, value, *, integer: bool = False) -> None:
    """``value`` is a finite number > 0 (an integer if ``integer``)."""
    if value is None:
        return
    if integer and value < 1:
        raise UsageError(f"{option} must be a positive integer, got {value}")
    if not integer and not (math.isfinite(value) and value > 0):
        raise UsageError(f"{option} must be a finite number > 0, got {value:g}")


def in_range(option: str, value, low, high, *, high_open: bool = False) -> None:
    """``low <= value <= high`` (``< high`` if ``high_open``), and finite."""
    if value is None:
        return
    ok = math.isfinite(value) and low <= value and (value < high if high_open else value <= high)
    if not ok:
        raise UsageError(f"{option} must be in [{low:g}, {high:g}{')' if high_open else ']'}, got {value:g}")


def memory(what: str, nbytes: float) -> None:
    """Refuse ``what`` when it would take more than :data:`MEMORY_LIMIT_BYTES`."""
    if nbytes > MEMORY_LIMIT_BYTES:
        raise UsageError(
            f"{what} would need about {nbytes / 2**30:,.0f} GiB of memory "
            f"(more than the {MEMORY_LIMIT_BYTES >> 30} GiB this command allows)"
        )


def output_file(option: str, path: str | None) -> None:
    """``path`` can be written: not a directory, in a folder that exists and takes new files.

    Checked by creating (and removing) a hidden file there, because permission bits do not tell the
    whole story (root, read-only mounts, ACLs)."""
    if path is None:
        return
    if not path:
        raise UsageError(f"{option} needs a file name")
    if path.endswith(("/", os.sep)) or Path(path).expanduser().is_dir():
        raise UsageError(f"{option} {path!r} is a directory; give a file name in it")
    folder = Path(path).expanduser().absolute().parent
    if not folder.exists():
        raise UsageError(f"{option} {path!r}: the folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise UsageError(f"{option} {path!r}: {str(folder)!r} is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".fastbp-write-check-"):
            pass
    except OSError as e:
        raise UsageError(f"{option} {path!r}: cannot write into {str(folder)!r} ({e.strerror})") from None


def data_spec(spec: str) -> None:
    """``--data``: 'embedded', 'mnist' or a folder that exists (a typo must not create a new folder)."""
    if spec in ("embedded", "mnist"):
        return
    p = Path(spec).expanduser()
    if not p.exists():
        raise UsageError(
            f"--data {spec!r}: no such folder (give 'embedded', 'mnist' or an existing folder for the "
            "four MNIST .gz files)"
        )
    if not p.is_dir():
        raise UsageError(f"--data {spec!r} is not a folder")


def hidden_sizes(text: str) -> list[int]:
    """``--hidden``: comma-separated positive integers."""
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(s < 1 for s in sizes):
        raise UsageError(f"--hidden must be comma-separated positive integers, got {text!r}")
    return sizes
