"""Where a one-call training step's time goes beyond its GEMM floor: the compiled call, the node's
Python, the network's Python.

    python scripts/step_parts.py two:float32:32 two:float64:100 multi:float32:32

Each case is ``net:dtype:batch`` (net ``two``: 784-50-10, ``multi``: 784-100x5-10), a batch above
``config.SMALL_BATCH`` (the one-call BLAS step), on the benchmark's dense batches (uniform noise,
cycled as ``fastbp bench`` cycles them). Timed in one process, in alternating blocks of calls (21
rounds, medians):

- ``floor``: the step's bare products (``fastbp.bench.steps.gemm_floor``, as the suite times it);
- ``compiled``: the one-call step's compiled kernel (``kernels/mlp_blas.mlp_blas_step``) called with
  the arguments the node last gave it, only the batch swapped: the products, the passes between
  them and the folded SGD, and Numba's dispatch, with no Python of fastbp's around it;
- ``node``: the fused node's ``sgd_step`` (its checks of the layers' arrays, the path's choice, the
  records of the layers' attributes), without the network's checks;
- ``train_step``: the whole call, as the suite times it (after the first, its steady state:
  nets/_step.py);
- ``full_path``: ``train_step`` on a second, identical network whose steady-state record is cleared
  before each call (the full path's checks every time), stepped in turn with the first.

Each figure is also given over the floor. (The Python between two calls runs with the caches holding
the products' arrays: it is slower here than timed alone.)
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's fastbp

import numpy as np  # noqa: E402

import fastbp.kernels.mlp_blas as _mlp_blas  # noqa: E402
from fastbp import config  # noqa: E402
from fastbp import nets as N  # noqa: E402
from fastbp.bench import steps as S  # noqa: E402
from fastbp.bench.base import batches  # noqa: E402
from fastbp.bench.data import pool  # noqa: E402
from fastbp.optimizer import SGD  # noqa: E402

HIDDEN = {"two": [50], "multi": [100] * 5}


def parts(net_name: str, dtype: str, n: int, rounds: int = 21) -> dict | None:
    """{part: median us per step} for one case, or None when the batch does not take the one call."""
    hidden = HIDDEN[net_name]
    x, t = pool("uniform", dtype)
    bs = batches(x, t, n)

    def build():
        np.random.seed(0)
        if net_name == "two":
            return N.TwoLayerNet(784, hidden[0], 10, dtype=dtype), SGD(S.LR), itertools.cycle(bs).__next__
        return N.MultiLayerNet(784, hidden, 10, dtype=dtype), SGD(S.LR), itertools.cycle(bs).__next__

    net, opt, nxt = build()
    twin, twin_opt, twin_nxt = build()  # (the same weights and batches)

    def train_step():
        net.train_step(*nxt(), opt)

    def full_path():
        twin._folded = None
        twin.train_step(*twin_nxt(), twin_opt)

    for _ in range(50):  # (the optimizer's set-up, the layers' layout trials)
        train_step()
        full_path()
    kernel, seen = _mlp_blas.mlp_blas_step, []
    _mlp_blas.mlp_blas_step = lambda *a: (seen.append(a), kernel(*a))[1]  # (the node looks it up)
    try:
        train_step()
    finally:
        _mlp_blas.mlp_blas_step = kernel
    if not seen:
        return None
    calls = []
    for xb, tb in bs:  # (addr, x, xd, t, ...): the same dtype, so xd is x
        args = list(seen[-1])
        args[1:4] = xb, xb, tb
        calls.append(tuple(args))
    next_call = itertools.cycle(calls).__next__
    node, plan = net.graph.nodes[0].layer, opt._plan

    def compiled():
        kernel(*next_call())

    def node_step():
        node.sgd_step(*nxt(), opt.lr, plan.ps, plan.gs, plan.extras[1])

    floor = S.gemm_floor([np.ascontiguousarray(b[0]) for b in bs], [784, *hidden, 10], np.dtype(dtype))
    fns = {
        "floor": floor,
        "compiled": compiled,
        "node": node_step,
        "train_step": train_step,
        "full_path": full_path,
    }
    k = max(20, 10000 // n)
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            times[name].append((time.perf_counter() - t0) / k * 1e6)
    return {name: statistics.median(v) for name, v in times.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="+", help="net:dtype:batch, e.g. two:float32:32")
    args = p.parse_args()
    for case in args.cases:
        net_name, dtype, n = case.split(":")
        if net_name not in HIDDEN or int(n) <= config.SMALL_BATCH:
            p.error(f"{case}: net two or multi, a batch above config.SMALL_BATCH ({config.SMALL_BATCH})")
        got = parts(net_name, dtype, int(n))
        if got is None:
            print(f"{case}: the one-call BLAS step did not run", flush=True)
            continue
        fl = got["floor"]
        print(
            f"{case}: floor {fl:.1f} us; "
            + "; ".join(f"{k} {v:.1f} ({v / fl:.3f}x)" for k, v in got.items() if k != "floor"),
            flush=True,
        )


if __name__ == "__main__":
    main()
