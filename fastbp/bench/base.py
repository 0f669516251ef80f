"""What every benchmark case is made of: a ``Case``, and a step that cycles through batches."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# A step benchmark cycles through this many different batches, as training does: on one batch
# repeated, the branch predictor learns the data (the input's zeros) and flatters data-dependent
# code (measured: MultiLayerNet batch 1 float64 65 us on one image, 71 us cycling through 16).
STEP_BATCHES = 8


@dataclass(frozen=True)
class Case:
    """One thing to time: ``make()`` builds the inputs and returns the thunk to time.

    ``kind``: "op" or "step"; ``group``: what is computed (op or network, shape, dtype, data), the
    row of the table; ``impl``: who computes it ("fastbp", "numpy" -- the twin --, "gemm" -- the
    step's bare products --, or a peer: "jax", "torch"). ``net``, ``data``, ``batch``, ``dtype``:
    the step's parameters (None for ops), for selecting and tabulating.
    """

    kind: str
    group: str
    impl: str
    make: Callable[[], Callable[[], object]]
    net: str | None = None
    data: str | None = None
    batch: int | None = None
    dtype: str | None = None


def rng():
    return np.random.default_rng(0)


def batches(x, t, n, dtype=None):
    """Up to STEP_BATCHES consecutive batches of n samples of (x, t), each C-contiguous in dtype (views
    when x already is: no copy)."""
    k = max(1, min(STEP_BATCHES, len(x) // n))
    return [
        (np.ascontiguousarray(x[i * n : (i + 1) * n], dtype=dtype), t[i * n : (i + 1) * n]) for i in range(k)
    ]


def cycling(step, batches):
    """A thunk that runs step(x, t) on the next of the batches each call."""
    nxt = itertools.cycle(batches).__next__

    def run():
        step(*nxt())

    return run
