"""The self-contained timer behind ``fastbp bench``: time the cases, tabulate, describe the machine."""

from __future__ import annotations

import time

import numpy as np

from .peers import PeerMismatch
from .steps import X64

# The table's implementation columns, in the order a reader compares them (the GEMM floor last).
PEER_COLUMNS = (("jax", "JAX jit"), ("torch", "PyTorch"))


def _calibrate(fn, target_s, min_calls=1):
    """How many calls make one timing round last about target_s, and at least ``min_calls``: from the
    median of a few single calls (one slow call -- the OS preempting it, a thread waking up -- does
    not decide)."""
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    per_call = sorted(ts)[2]
    return min(1 << 20, max(min_calls, 1, round(target_s / max(per_call, 1e-9))))


def _meta(c) -> dict:
    return {k: getattr(c, k) for k in ("net", "data", "batch", "dtype") if getattr(c, k) is not None}


def run(
    selected, rounds: int = 15, round_s: float = 0.002, progress=None, round_calls: int = 1
) -> list[dict]:
    """Time every case: per group, the impls' rounds interleaved; returns one record per case.

    A round is about ``round_s`` of back-to-back calls of one implementation, and at least
    ``round_calls`` of them. Each round starts with the caches holding the previous implementation's
    arrays: with one call per round (a step of 2 ms or more) every call timed is such a first call,
    which a training loop, running its steps back to back, meets once. ``round_calls`` > 1 times the
    steady state instead.

    Each record: group, kind, impl, median_us, iqr_us, min_us, max_us (over the rounds), rounds, loops,
    first_call_s (the first call, which compiles on a cold cache and allocates buffers), and the case's
    net/data/batch/dtype. A peer whose results disagree with fastbp's gets ``error`` and no times.
    """
    groups = {}
    for c in selected:
        groups.setdefault((c.kind, c.group), []).append(c)
    results = []
    for i, ((kind, group), members) in enumerate(groups.items()):
        if progress:
            progress(i, len(groups), group)
        timed, fns, first = [], [], []
        for c in members:
            try:
                fn = c.make()
            except PeerMismatch as e:
                results.append(dict(group=group, kind=kind, impl=c.impl, error=str(e), **_meta(c)))
                continue
            t0 = time.perf_counter()
            fn()
            first.append(time.perf_counter() - t0)
            for _ in range(3):  # later first-time work (an optimizer's fast path loads its kernel on
                fn()  # the second step) stays out of the calibration and the rounds
            timed.append(c)
            fns.append(fn)
        loops = [_calibrate(fn, round_s, round_calls) for fn in fns]
        times = [[] for _ in fns]
        for _ in range(rounds):
            for j, fn in enumerate(fns):
                n = loops[j]
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                times[j].append((time.perf_counter() - t0) / n)
        for c, ts, n, f in zip(timed, times, loops, first, strict=True):
            us = np.array(ts) * 1e6
            q1, med, q3 = np.percentile(us, [25, 50, 75])
            results.append(
                dict(
                    group=group,
                    kind=kind,
                    impl=c.impl,
                    median_us=float(med),
                    iqr_us=float(q3 - q1),
                    min_us=float(us.min()),
                    max_us=float(us.max()),
                    rounds=rounds,
                    loops=n,
                    first_call_s=f,
                    **_meta(c),
                )
            )
    return results


def table(results) -> list[dict]:
    """One row per group: each impl's median (and a peer's error), fastbp's and each peer's speedup
    over the NumPy twin (``speedup``, ``jax_speedup``, ...), and for steps fastbp / the GEMM floor."""
    rows = {}
    for r in results:
        row = rows.setdefault(r["group"], {"group": r["group"], "kind": r["kind"], **_meta_of(r)})
        if "error" in r:
            row[r["impl"] + "_error"] = r["error"]
        else:
            row[r["impl"]] = r["median_us"]
    for row in rows.values():
        if "numpy" in row:
            for impl in ("fastbp", *(p for p, _ in PEER_COLUMNS)):
                if impl in row:
                    row["speedup" if impl == "fastbp" else impl + "_speedup"] = row["numpy"] / row[impl]
        if "gemm" in row and "fastbp" in row:
            row["floor_ratio"] = row["fastbp"] / row["gemm"]
        if X64 in row and "fastbp" in row:  # a float32 input's cost over a float64 one, same network
            row["x32_cost"] = row["fastbp"] / row[X64]
    return list(rows.values())


def _meta_of(r) -> dict:
    return {k: r[k] for k in ("net", "data", "batch", "dtype") if k in r}


def _us(v) -> str:
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def format_table(rows, markdown: bool = False) -> str:
    """The table as text (or Markdown): per group NumPy, fastbp (speedup), the peers (speedup) when
    any row has them, the GEMM floor, fastbp / floor; for a float32 input to a float64 network, fastbp
    on the float64 input and the ratio. A peer that disagreed reads ``mismatch``."""
    peers = [(p, name) for p, name in PEER_COLUMNS if any(p in r or p + "_error" in r for r in rows)]
    x64 = any(X64 in r for r in rows)
    head = ["group", "NumPy us", "fastbp us", *(f"{name} us" for _, name in peers), "GEMM us", "/floor"]
    head += ["fastbp x64 us", "x32/x64"] if x64 else []

    def cell(r, impl, speedup_key):
        if impl + "_error" in r:
            return "mismatch"
        if impl not in r:
            return ""
        s = r.get(speedup_key)
        return _us(r[impl]) + (f" ({s:.2f}x)" if s is not None else "")

    body = []
    for r in rows:
        body.append(
            [
                r["group"],
                _us(r["numpy"]) if "numpy" in r else "",
                cell(r, "fastbp", "speedup"),
                *(cell(r, p, p + "_speedup") for p, _ in peers),
                _us(r["gemm"]) if "gemm" in r else "",
                f"{r['floor_ratio']:.2f}" if "floor_ratio" in r else "",
            ]
            + (
                [_us(r[X64]) if X64 in r else "", f"{r['x32_cost']:.2f}" if "x32_cost" in r else ""]
                if x64
                else []
            )
        )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    fmt = lambda cells: " ".join(  # noqa: E731
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )
    return "\n".join([fmt(head), *map(fmt, body)])


def machine(peers=()) -> dict:
    """What the figures depend on: CPU, cores, thread settings, BLAS and its threads, versions."""
    import os
    import platform

    import numba

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer_env": os.environ.get("NUMBA_THREADING_LAYER", ""),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", ""),
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: p.get(k) for k in ("internal_api", "num_threads", "version", "architecture")}
            for p in threadpool_info()
            if p.get("user_api") == "blas"
        ]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    from importlib import metadata

    for name in ("torch", "jax", "jaxlib"):  # installed peers, timed or not
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    if peers:
        from . import peers as P

        info.update(P.info(peers))
    return info
