"""Benchmark cases: fastbp against its NumPy twin on the same inputs, the GEMM floor of each step, and
(when installed) the same step in PyTorch and JAX.

One registry serves both front ends: ``bench/`` (pytest-benchmark, ``pytest bench``) and ``fastbp
bench`` (a self-contained timer that prints the table and saves JSON). A ``Case`` is a ``group`` (op
or network, shape, dtype, data), an ``impl`` and a ``make`` that builds the inputs and returns the
thunk to time; the first call of the thunk (compilation, buffer allocation) happens before timing.

- ``ops``: every op of the op table and every optimizer update, fastbp against the twin.
- ``steps``: training steps of the book's networks and of ReLU MLPs of any width, on MNIST images,
  standardised MNIST and uniform noise (``data``), float32, float64 and a float32 input to a float64
  network, with the GEMM floor and the peers (``peers``).
- ``runner``: the timer, the table, the machine's description.
"""

from __future__ import annotations

from . import data, peers, steps
from .base import STEP_BATCHES, Case, batches, cycling
from .data import DATA
from .ops import op_cases
from .runner import format_table, machine, run, table
from .steps import ALL_DTYPES, BATCHES, DTYPES, NET_SETS, WIDTHS, step_cases

# What ``fastbp bench`` and ``pytest bench`` time when not told otherwise.
DEFAULT_NETS = ("book",)
DEFAULT_DATA = ("mnist", "uniform")


def cases(
    kinds=("op", "step"),
    batches=BATCHES,
    dtypes=DTYPES,
    nets=DEFAULT_NETS,
    data=DEFAULT_DATA,
    peers=(),
) -> list[Case]:
    """The benchmark cases of the given kinds, batch sizes and dtypes (``float64``, ``float32``, and
    for steps ``mixed``: a float32 input to a float64 network); steps of the networks ``nets`` (keys
    or sets of ``steps.NET_SETS``: ``book``, ``sweep``, ``all``, ``two``, ``256``, ``256x3``, ...) on
    ``data`` (of ``DATA``), with the ``peers`` (of ``peers.PEERS``) beside fastbp on the MLPs."""
    out = []
    if "op" in kinds:
        out += op_cases(batches, [d for d in dtypes if d != "mixed"])
    if "step" in kinds:
        out += step_cases(batches, dtypes, nets, data, peers)
    return out


__all__ = [
    "ALL_DTYPES", "BATCHES", "Case", "DATA", "DEFAULT_DATA", "DEFAULT_NETS", "DTYPES", "NET_SETS",
    "STEP_BATCHES", "WIDTHS", "batches", "cases", "cycling", "data", "format_table", "machine", "peers",
    "run", "steps", "table",
]  # fmt: skip
