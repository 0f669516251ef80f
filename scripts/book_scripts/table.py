#!/usr/bin/env python
"""Print the Markdown table the README quotes, from run.py's OUT/times.json and compare.py's verdicts.

    python table.py --out runs                      # wall times, book vs fastbp
    python table.py --out runs --time script        # time inside the scripts only
    python table.py --out runs --b fastbp_bookloss

| script | book s | fastbp s | fastbp/book | output |

"output" says how fastbp's log compares with the book's (compare.py: identical lines, lines whose
numbers agree within --rtol, other lines) and whether the saved figures are byte-identical. Below
the table, one paragraph says what was measured and on what (versions, commits, threads, load), so a
quoted table carries its conditions with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import compare
from run import SCRIPTS, key_of


def seconds(x: float) -> str:
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def time_cell(rec: dict | None, field: str) -> tuple[str, float | None]:
    """(cell text, seconds or None when the run did not finish normally or was not made)."""
    if not rec:
        return "–", None
    if rec["status"] == "timeout":
        return f"timeout ({seconds(rec['timeout_s'])})", None
    if rec["status"] != "ok" or rec.get(field) is None:
        return f"{rec['status']} (rc {rec['rc']})", None
    return seconds(rec[field]), rec[field]


def tolerance(x: float) -> str:
    """1e-05 -> "1e-5", as people write it."""
    mantissa, exponent = f"{x:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def output_cell(r: dict, rtol: float) -> str:
    if r["missing"]:
        return "no log"
    lines = r["lines"]
    n = max(r["n_a"], r["n_b"])
    if n == 0:
        text = "no printed output"
    elif lines["other"] == lines["close"] == 0:
        text = f"identical ({plural(n, 'line')})"
    else:
        parts = [
            (lines["identical"], "identical"),
            (lines["close"], f"within {tolerance(rtol)}"),
            (lines["other"], "other"),
        ]
        text = f"{plural(n, 'line')}: " + ", ".join(f"{k} {what}" for k, what in parts if k)
    if f := r["figures"]:
        text += f"; figures: {f['byte_identical']}/{max(f['a'], f['b'])} byte-identical"
        if f["pixel_identical"]:
            text += f", {f['pixel_identical']} pixel-identical"
    return text


def values(recs: list[dict], field: str) -> str | None:
    """The one value of `field` over the runs, "a / b" when they were mixed, None when unrecorded."""
    seen = list(dict.fromkeys(str(r[field]) for r in recs if r.get(field) is not None))
    return " / ".join(seen) if seen else None


def conditions(meta: dict, book_recs: list[dict], b_recs: list[dict], field: str, b: str) -> str:
    """What the table measured and on what. Settings come from the runs themselves (times.json merges
    runs made at different times); the machine and versions from the last run's meta."""
    recs = book_recs + b_recs
    what = (
        "wall time of each run (Python start-up, imports and Numba compilation included)"
        if field == "wall_s"
        else "time inside each script (start-up and imports excluded)"
    )
    book_git = meta.get("book_git")
    book = "the book's code" + (f" at commit {book_git['commit'][:10]}" if book_git else "")
    fastbp = values(b_recs, "fastbp") or meta.get("fastbp")
    variant = " with FASTBP_BOOK_LOSS=1" if b == "fastbp_bookloss" else ""
    text = f"Seconds: {what}; {book} vs the same scripts with their import lines changed to fastbp"
    text += (f" {fastbp}" if fastbp else "") + variant
    threads = values(recs, "threads")
    if threads in ("0", None):
        threads = "threads left as a user's would be (fastbp: one BLAS thread; the book: NumPy's default)"
    else:
        threads = f"{threads} thread(s) for both (OMP/OPENBLAS/MKL/NUMBA/FASTBP_NUM_THREADS)"
    settings = [
        f"nice {values(recs, 'nice')}" if values(recs, "nice") else None,
        threads,
        f"np.random.seed({values(recs, 'seed')})" if values(recs, "seed") else None,
    ]
    versions = [
        f"{name} {meta[key]}"
        for name, key in (("Python", "python"), ("NumPy", "numpy"), ("Numba", "numba"))
        if meta.get(key)
    ]
    machine = [
        meta.get("platform"),
        f"{meta['cpus']} CPUs" if meta.get("cpus") else None,
        meta.get("processor") or meta.get("machine"),
    ]
    loads = [r["loadavg1_at_start"] for r in recs if r.get("loadavg1_at_start") is not None]
    load = [f"1-minute load average {min(loads):.2f}-{max(loads):.2f} at the starts"] if loads else []
    rest = [", ".join(filter(None, group)) for group in (settings, versions, machine, load)]
    return "; ".join([text] + [g for g in rest if g]) + "."


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="run.py's --out")
    ap.add_argument("--b", default="fastbp", help="fastbp or fastbp_bookloss")
    ap.add_argument("--time", choices=["wall", "script"], default="wall")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--atol", type=float, default=0.0)
    ap.add_argument("--no-total", action="store_true", help="leave out the total row")
    args = ap.parse_args(argv)

    path = os.path.join(args.out, "times.json")
    if not os.path.exists(path):
        sys.exit(f"{path} not found: run run.py first")
    with open(path) as f:
        data = json.load(f)
    runs, field = data.get("runs", {}), f"{args.time}_s"
    known = [key_of(s) for s in SCRIPTS]
    keys = [k for k in known if k in runs] + sorted(k for k in runs if k not in known)

    rows, book_recs, b_recs, total_a, total_b = [], [], [], 0.0, 0.0
    for k in keys:
        ra, rb = runs[k].get("book"), runs[k].get(args.b)
        if not (ra or rb):
            continue
        book_recs += [ra] if ra else []
        b_recs += [rb] if rb else []
        ca, ta = time_cell(ra, field)
        cb, tb = time_cell(rb, field)
        ratio = f"{tb / ta:.2f}" if ta and tb is not None else "–"
        if ta and tb is not None:
            total_a, total_b = total_a + ta, total_b + tb
        # only runs both recorded: a log without a record may belong to a run still going on
        out = "not run on both"
        if ra and rb:
            result = compare.compare_script(args.out, "book", args.b, k, args.rtol, args.atol)
            out = output_cell(result, args.rtol)
            if ra["status"] != "ok" or rb["status"] != "ok":  # the logs stop where a run was cut short
                out = f"incomplete ({ra['status']}/{rb['status']}): {out}"
        rows.append(f"| {k.replace('_', '/', 1)} | {ca} | {cb} | {ratio} | {out} |")
    if not rows:
        sys.exit(f"no runs of book or {args.b} in {path}")
    print("| script | book s | fastbp s | fastbp/book | output |")
    print("|---|---:|---:|---:|---|")
    print("\n".join(rows))
    if len(rows) > 1 and total_a and not args.no_total:
        print(
            f"| total (both finished) | {seconds(total_a)} | {seconds(total_b)} | {total_b / total_a:.2f} | |"
        )
    print()
    print(conditions(data.get("meta", {}), book_recs, b_recs, field, args.b))


if __name__ == "__main__":
    main()
