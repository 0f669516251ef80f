"""Several runs of ``fastbp bench --json`` as one Markdown table: per group and implementation the
median over the runs of each run's median, with the range over the runs; ratios are taken within each
run (as ``fastbp bench`` does), then summarised the same way.

    python scripts/bench_summary.py run1.json run2.json run3.json [--match TEXT]
"""

from __future__ import annotations

import argparse
import json
import statistics

IMPLS = (("numpy", "NumPy"), ("fastbp", "fastbp"), ("jax", "JAX jit"), ("torch", "PyTorch eager"))
RATIOS = {"fastbp": "speedup", "jax": "jax_speedup", "torch": "torch_speedup"}


def _cell(values, fmt):
    if not values:
        return ""
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))}-{fmt(max(values))})"


def _us(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def _x(v):
    return f"{v:.2f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+")
    p.add_argument("--match", default="")
    a = p.parse_args(argv)
    runs = [json.load(open(f)) for f in a.files]
    groups = []
    for run in runs:
        for row in run["table"]:
            if a.match in row["group"] and row["group"] not in groups:
                groups.append(row["group"])
    head = ["step", "NumPy us"]
    for _, name in IMPLS[1:]:
        head += [f"{name} us", "x NumPy"]
    head += ["GEMM floor us", "fastbp / floor"]
    x64 = any("x32_cost" in r for run in runs for r in run["table"] if r["group"] in groups)
    head += ["fastbp, float64 input us", "x32 / x64"] if x64 else []
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for g in groups:
        rows = [r for run in runs for r in run["table"] if r["group"] == g]
        cells = [g, _cell([r["numpy"] for r in rows if "numpy" in r], _us)]
        for impl, _ in IMPLS[1:]:
            if any(impl + "_error" in r for r in rows):
                cells += ["mismatch", ""]
                continue
            cells.append(_cell([r[impl] for r in rows if impl in r], _us))
            cells.append(_cell([r[RATIOS[impl]] for r in rows if RATIOS[impl] in r], _x))
        cells.append(_cell([r["gemm"] for r in rows if "gemm" in r], _us))
        cells.append(_cell([r["floor_ratio"] for r in rows if "floor_ratio" in r], _x))
        if x64:
            cells.append(_cell([r["fastbp-x64"] for r in rows if "fastbp-x64" in r], _us))
            cells.append(_cell([r["x32_cost"] for r in rows if "x32_cost" in r], _x))
        print("| " + " | ".join(cells) + " |")
    print(f"\n{len(runs)} runs; median over the runs (range).")


if __name__ == "__main__":
    main()
