"""Where the time of a fastbp training step goes: per call site, exclusive time per step.

    python scripts/profile_step.py --widths two,multi --batches 100,1000 --dtypes float32,float64 \
        --data uniform

For each case: the step (``opt.update(net.params, net.gradient(x, t))``, SGD, cycling through the
benchmark's batches: ``fastbp.bench``) timed plainly; its GEMM floor; then the step again with a
timer around every compiled kernel (each numba dispatcher a fastbp module holds), every ``np.dot``,
the input checks of ``fastbp._checks``, the graph nodes' ``_forward``/``_backward``, the network's
``_x``/``_t`` and the optimizer's ``update``. Each row is one callee as called from one function, with
its calls and its exclusive time per step (children's time taken out): a kernel's row is the kernel
with its dispatch; a Python function's row is its own Python. "non-GEMM" is the plain step's time less
the ``np.dot`` rows. The timers cost ~0.5 us a call: the profiled step is slower than the plain one
by that much per call, which the "timer overhead" line estimates.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's fastbp

import numba.core.registry  # noqa: E402
import numpy as np  # noqa: E402

from fastbp import bench as B  # noqa: E402
from fastbp.bench import steps as S  # noqa: E402


class Profiler:
    def __init__(self):
        self.stats = defaultdict(lambda: [0, 0.0])  # key -> [calls, exclusive seconds]
        self.stack = [[0.0, 0]]  # per open call: its children's time and count
        self.undo = []
        self.overhead = 0.0  # seconds a timed call adds to its caller's exclusive time (calibrated)

    def wrap(self, fn, name, kind):
        stats, stack = self.stats, self.stack

        def timed(*args, **kwargs):
            caller = sys._getframe(1).f_code.co_qualname
            stack.append([0.0, 0])
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                child, n = stack.pop()
                s = stats[(kind, name, caller)]
                s[0] += 1
                s[1] += dt - child - n * self.overhead
                top = stack[-1]
                top[0] += dt
                top[1] += 1

        return timed

    def calibrate(self, calls=20000):
        """The time a timed call adds to its caller, outside its own timer: the median over repeats of
        (a timed loop of timed no-ops - the same loop of plain no-ops) per call."""

        def noop():
            pass

        timed_noop = self.wrap(noop, "noop", "calibration")
        outs = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(calls):
                timed_noop()
            t1 = time.perf_counter()
            for _ in range(calls):
                noop()
            t2 = time.perf_counter()
            inner = self.stats[("calibration", "noop", "calibrate")][1]
            self.stats.clear()
            outs.append(((t1 - t0) - inner - (t2 - t1)) / calls)
        self.overhead = statistics.median(outs)
        return self.overhead

    def patch(self, obj, attr, name, kind):
        orig = getattr(obj, attr)
        in_dict = attr in vars(obj)
        setattr(obj, attr, self.wrap(orig, name, kind))
        self.undo.append((obj, attr, orig, in_dict))

    def restore(self):
        for obj, attr, orig, in_dict in reversed(self.undo):
            if in_dict and not isinstance(obj, type) and type(obj).__module__ != "builtins":
                setattr(obj, attr, orig)
            elif isinstance(obj, type) or type(obj).__name__ == "module":
                setattr(obj, attr, orig)
            else:
                delattr(obj, attr)
        self.undo.clear()


def _instrument(prof, net, opt):
    import fastbp._checks as chk

    prof.patch(np, "dot", "np.dot", "gemm")
    for modname, mod in list(sys.modules.items()):
        if not modname.startswith("fastbp") or mod is None:
            continue
        for attr, val in list(vars(mod).items()):
            if isinstance(val, numba.core.registry.CPUDispatcher):
                prof.patch(mod, attr, val.py_func.__name__, "kernel")
    for attr in ("finite", "finite_input", "finite_copy", "labels", "float_array"):
        if hasattr(chk, attr):
            prof.patch(chk, attr, f"_checks.{attr}", "check")
    nodes = []
    for node in net.graph.nodes:
        nodes.append(node.layer)
        nodes.extend(getattr(node.layer, "body", ()))
    for layer in nodes:
        for attr in ("_forward", "_backward"):
            prof.patch(layer, attr, f"{type(layer).__name__}.{attr}", "node")
    for attr in ("_x", "_t", "_gradient"):
        prof.patch(net, attr, f"Network.{attr}", "net")
    prof.patch(opt, "update", "SGD.update", "optimizer")


# Rows summed into the summary line: (label, test on (kind, callee, caller)).
CATEGORIES = (
    ("GEMM", lambda k, n, c: k == "gemm"),
    (
        "input checks (x NaN/inf scan or convert+scan, labels)",
        lambda k, n, c: (
            (n in ("all_finite", "copy_all_finite", "first_bad_label") and not c.endswith("_limit"))
            or k == "check"
        ),
    ),
    (
        "first layer's listing attempt and W scan",
        lambda k, n, c: n.startswith("compact_rows") or c.endswith("_limit"),
    ),
    ("bias/ReLU kernels", lambda k, n, c: k == "kernel" and n.startswith(("bias", "relu"))),
    ("softmax-CE kernels", lambda k, n, c: k == "kernel" and n.startswith("softmax_ce")),
    ("optimizer update (kernel and Python)", lambda k, n, c: k == "optimizer"),
    ("small-batch kernels", lambda k, n, c: k == "kernel" and n.startswith("mlp_")),
    ("Python in nodes, graph, network", lambda k, n, c: k in ("node", "net", "step")),
)


def _category(key):
    for label, test in CATEGORIES:
        if test(*key):
            return label
    return "other"


def _time(fn, calls):
    """Median, first and last quartile of single calls, in us (robust to the OS preempting a call)."""
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e6)
    q1, med, q3 = np.percentile(out, [25, 50, 75])
    return med, q1, q3


def profile(key, batch, dtype, data, steps):
    from fastbp.optimizer import SGD

    nt = S.net(key)
    net_dt, x_dt = S.net_and_x_dtype(dtype)
    x, t = B.data.pool(data, x_dt)
    bs = B.batches(x, t, batch)
    net = S.build(nt, net_dt)
    opt = SGD(S.LR)

    def step(x, t):
        opt.update(net.params, net.gradient(x, t))

    run = B.cycling(step, bs)
    for _ in range(5):
        run()
    floor = S.gemm_floor([np.ascontiguousarray(b[0], net_dt) for b in bs], nt.sizes, net_dt)
    floor()
    plain = _time(run, steps)
    gemm = _time(floor, steps)
    prof = Profiler()
    overhead = prof.calibrate()
    _instrument(prof, net, opt)
    wrapped_step = prof.wrap(run, "step", "step")
    per_step = []  # per step: key -> exclusive seconds
    try:
        for _ in range(3):
            wrapped_step()
        prof.stats.clear()
        walls = []
        for _ in range(steps):
            before = {k: v[1] for k, v in prof.stats.items()}
            t0 = time.perf_counter()
            wrapped_step()
            walls.append(time.perf_counter() - t0)
            per_step.append({k: v[1] - before.get(k, 0.0) for k, v in prof.stats.items()})
        profiled = statistics.median(walls) * 1e6
    finally:
        prof.restore()
    # the median over steps of each row (a step that the OS preempted moves the mean, not the median)
    med = {k: statistics.median(step.get(k, 0.0) for step in per_step) * 1e6 for k in prof.stats}
    rows = sorted(((k, prof.stats[k][0] / steps, med[k]) for k in med), key=lambda r: -r[2])
    dot = sum(us for (kind, _, _), _, us in rows if kind == "gemm")
    total = sum(us for _, _, us in rows)
    calls = sum(n for _, n, _ in rows)
    title = f"{nt.label} batch {batch} {S.dtype_label(dtype)} {data}"
    print(f"\n## {title}")
    print(
        f"step {plain[0]:.0f} us (quartiles {plain[1]:.0f}-{plain[2]:.0f}); GEMM floor {gemm[0]:.0f} us "
        f"({gemm[1]:.0f}-{gemm[2]:.0f}); step / floor {plain[0] / gemm[0]:.2f}"
    )
    print(
        f"profiled step {profiled:.0f} us (sum of the rows' medians {total:.0f} us), {calls:.0f} timed "
        f"calls per step; np.dot in the step {dot:.0f} us; non-GEMM {plain[0] - dot:.0f} us (plain step "
        f"- np.dot); timer overhead ~{profiled - plain[0]:.0f} us ({overhead * 1e6:.2f} us per call taken "
        "out of its caller's row)"
    )
    sums = defaultdict(float)
    for key, _, us in rows:
        sums[_category(key)] += us
    print("summary (sum of row medians, us/step): " + "; ".join(f"{k} {v:.0f}" for k, v in sums.items()))
    print(f"{'us/step':>8} {'calls':>5}  {'kind':<9} callee  <- caller")
    for (kind, name, caller), n, us in rows:
        if us >= 0.5:
            print(f"{us:8.1f} {n:5.0f}  {kind:<9} {name}  <- {caller}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--widths", default="two,multi")
    p.add_argument("--batches", default="100,1000")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--data", default="uniform")
    p.add_argument("--steps", type=int, default=0, help="steps per timing (default: ~0.5 s worth)")
    a = p.parse_args(argv)
    print(" ".join(f"{k}={v}" for k, v in B.machine().items()))
    for key in a.widths.split(","):
        for dtype in a.dtypes.split(","):
            for batch in map(int, a.batches.split(",")):
                for data in a.data.split(","):
                    steps = a.steps or max(30, int(5e5 / (batch * 30 + 50)))
                    profile(key, batch, dtype, data, steps)


if __name__ == "__main__":
    main()
