#!/usr/bin/env python
"""Compare run.py's logs and figures of two trees, script by script.

    python compare.py --out runs                        # book vs fastbp
    python compare.py --out runs --b fastbp_bookloss --show 20

Lines are paired in order, resynchronising after lines present on one side only (a warning, an extra
"Downloading" line) so that one extra line does not make every later line differ. Each pair is
  identical  the same text;
  close      the same text apart from its numbers, each within relative --rtol (default 1e-5) or
             absolute --atol (default 0) of the other side's;
  other      anything else, including a line present on one side only.
Figures (PNG) are byte-identical or not; differing ones are also checked pixel by pixel when
matplotlib is installed (the PNG metadata can differ where the pixels do not).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?\b(?:nan|inf)\b", re.IGNORECASE)
RESYNC = 40  # how many lines ahead, on either side, to look for the logs to agree again
# Candidate skips (lines skipped in a, in b), fewest skipped lines first, then the most balanced.
_SKIPS = sorted(
    ((i, j) for i in range(RESYNC + 1) for j in range(RESYNC + 1) if i + j),
    key=lambda d: (d[0] + d[1], abs(d[0] - d[1])),
)


def template(line: str) -> tuple[str, list[str]]:
    """(the line with each number replaced by #, the numbers). Whitespace runs collapse to one space:
    NumPy pads printed arrays to their widest number, which a tiny difference can change."""
    return re.sub(r"\s+", " ", NUMBER.sub("#", line)).strip(), NUMBER.findall(line)


def numbers_close(a: str, b: str, rtol: float, atol: float) -> bool:
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y or abs(x - y) <= max(atol, rtol * max(abs(x), abs(y)))


def all_close(na: list[str], nb: list[str], rtol: float, atol: float) -> bool:
    return len(na) == len(nb) and all(numbers_close(x, y, rtol, atol) for x, y in zip(na, nb, strict=True))


def relative_difference(a: str, b: str) -> float:
    x, y = float(a), float(b)
    if x == y or not (math.isfinite(x) and math.isfinite(y)):
        return 0.0
    return abs(x - y) / max(abs(x), abs(y))


def align(ta, tb, rtol, atol, run=3):
    """Pairs (i, j) of line indices in order; i or j is None for a line left unpaired.

    Lines match when their templates agree and their numbers are close. After a mismatch following
    matched lines, the nearest skip (fewest lines) after which `run` lines match again is taken. Once
    no skip is found the logs have diverged, and lines are paired positionally without searching
    again until they match: a long diverged log (a training run's 12,000 lines) stays fast.
    """

    def match(i, j):
        (sa, na), (sb, nb) = ta[i], tb[j]
        return sa == sb and all_close(na, nb, rtol, atol)

    def match_run(i, j):
        k = min(run, len(ta) - i, len(tb) - j)
        # near the end, a shorter run counts only if it reaches the end of both logs
        return (k == run or len(ta) - i == len(tb) - j) and all(match(i + d, j + d) for d in range(k))

    i = j = 0
    pairs, in_sync = [], True
    while i < len(ta) and j < len(tb):
        if match(i, j):
            pairs.append((i, j))
            i, j, in_sync = i + 1, j + 1, True
            continue
        skip = None
        if in_sync or ta[i][0] != tb[j][0]:
            skip = next(
                (
                    (di, dj)
                    for di, dj in _SKIPS
                    if i + di < len(ta) and j + dj < len(tb) and match_run(i + di, j + dj)
                ),
                None,
            )
        if skip is None:  # a changed line: pair it and go on
            pairs.append((i, j))
            i, j, in_sync = i + 1, j + 1, False
            continue
        di, dj = skip
        pairs += [(i + k if k < di else None, j + k if k < dj else None) for k in range(max(di, dj))]
        i, j = i + di, j + dj
    return pairs + [(k, None) for k in range(i, len(ta))] + [(None, k) for k in range(j, len(tb))]


def compare_lines(la: list[str], lb: list[str], rtol: float = 1e-5, atol: float = 0.0) -> dict:
    """{"identical", "close", "other": counts, "max_rel_close", "others": [(n_a, line_a, n_b, line_b)]}
    (1-based line numbers, None for a line present on one side only)."""
    ta, tb = [template(x) for x in la], [template(x) for x in lb]
    res = {"identical": 0, "close": 0, "other": 0, "max_rel_close": 0.0, "others": []}
    for i, j in align(ta, tb, rtol, atol):
        if i is not None and j is not None:
            if la[i] == lb[j]:
                res["identical"] += 1
                continue
            (sa, na), (sb, nb) = ta[i], tb[j]
            if sa == sb and all_close(na, nb, rtol, atol):
                res["close"] += 1
                res["max_rel_close"] = max(
                    [res["max_rel_close"]] + [relative_difference(x, y) for x, y in zip(na, nb, strict=True)]
                )
                continue
        res["other"] += 1
        res["others"].append(
            (
                None if i is None else i + 1,
                "" if i is None else la[i],
                None if j is None else j + 1,
                "" if j is None else lb[j],
            )
        )
    return res


def _same_pixels(pa: str, pb: str) -> bool:
    try:
        import matplotlib.image as mpimg
        import numpy as np
    except ImportError:
        return False
    ia, ib = mpimg.imread(pa), mpimg.imread(pb)
    return ia.shape == ib.shape and bool(np.array_equal(ia, ib))


def compare_figures(dir_a: str, dir_b: str, key: str) -> dict | None:
    """Counts for the PNGs `key`_*.png saved by both runs, or None when neither saved any."""

    def names(d):
        return {os.path.basename(p)[len(key) :] for p in glob.glob(os.path.join(d, key + "_*.png"))}

    fa, fb = names(dir_a), names(dir_b)
    if not fa and not fb:
        return None
    res = {"a": len(fa), "b": len(fb), "byte_identical": 0, "pixel_identical": 0, "differ": 0}
    for suffix in sorted(fa & fb):
        pa, pb = os.path.join(dir_a, key + suffix), os.path.join(dir_b, key + suffix)
        with open(pa, "rb") as f1, open(pb, "rb") as f2:
            same = f1.read() == f2.read()
        res["byte_identical" if same else "pixel_identical" if _same_pixels(pa, pb) else "differ"] += 1
    return res


def read_log(path: str) -> list[str]:
    with open(path, errors="replace") as f:
        return f.read().splitlines()


def log_keys(out: str, a: str, b: str) -> list[str]:
    """Scripts (chapter_script) with a log in either tree's folder."""
    logs = [p for t in (a, b) for p in glob.glob(os.path.join(out, t, "*.log"))]
    return sorted({os.path.basename(p)[: -len(".log")] for p in logs})


def compare_script(out: str, a: str, b: str, key: str, rtol: float = 1e-5, atol: float = 0.0) -> dict:
    """{"missing": [log paths absent], "lines": compare_lines(...) or None, "n_a", "n_b", "figures"}."""
    pa, pb = (os.path.join(out, t, key + ".log") for t in (a, b))
    missing = [p for p in (pa, pb) if not os.path.exists(p)]
    res = {
        "missing": missing,
        "lines": None,
        "n_a": None,
        "n_b": None,
        "figures": compare_figures(os.path.join(out, a), os.path.join(out, b), key),
    }
    if not missing:
        la, lb = read_log(pa), read_log(pb)
        res.update(lines=compare_lines(la, lb, rtol, atol), n_a=len(la), n_b=len(lb))
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="run.py's --out")
    ap.add_argument("--a", default="book")
    ap.add_argument("--b", default="fastbp", help="fastbp or fastbp_bookloss")
    ap.add_argument("--only", default="", help="comma-separated keys or names (as run.py's --only)")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--atol", type=float, default=0.0)
    ap.add_argument("--show", type=int, default=5, help="print up to N 'other' pairs per script")
    args = ap.parse_args(argv)

    tp = os.path.join(args.out, "times.json")
    times = json.load(open(tp)).get("runs", {}) if os.path.exists(tp) else {}
    keys = log_keys(args.out, args.a, args.b)
    if args.only:
        want = {w.strip().replace("/", "_").removesuffix(".py") for w in args.only.split(",") if w.strip()}
        keys = [k for k in keys if k in want or any(k.endswith("_" + w) for w in want)]
    print(f"{args.a} vs {args.b}  (rtol {args.rtol:g}, atol {args.atol:g})")
    print(
        f"{'script':36s} {'lines a/b':>11s} {'ident':>6s} {'close':>6s} {'other':>6s} {'max rel':>9s}"
        f"  {'status a/b':11s} {'wall a/b (s)':>14s}"
    )
    for k in keys:
        r = compare_script(args.out, args.a, args.b, k, args.rtol, args.atol)
        if r["missing"]:
            print(f"{k:36s} missing: {', '.join(r['missing'])}")
            continue
        lines, ra, rb = r["lines"], times.get(k, {}).get(args.a, {}), times.get(k, {}).get(args.b, {})
        status = f"{ra.get('status', '?')}/{rb.get('status', '?')}"
        wall = f"{ra.get('wall_s', math.nan):.1f}/{rb.get('wall_s', math.nan):.1f}"
        verdict = (
            "SAME" if lines["other"] == lines["close"] == 0 else "CLOSE" if lines["other"] == 0 else "DIFF"
        )
        print(
            f"{k:36s} {r['n_a']:>5d}/{r['n_b']:<5d} {lines['identical']:6d} {lines['close']:6d} "
            f"{lines['other']:6d} {lines['max_rel_close']:9.1e}  {status:11s} {wall:>14s}  {verdict}"
        )
        if f := r["figures"]:
            print(
                f"      figures {f['a']}/{f['b']}: {f['byte_identical']} byte-identical, "
                f"{f['pixel_identical']} pixel-identical, {f['differ']} differ"
            )
        for na, la, nb, lb in lines["others"][: args.show]:
            print(f"      a:{na}: {la[:150]}\n      b:{nb}: {lb[:150]}")
        if len(lines["others"]) > args.show:
            print(f"      ... {len(lines['others']) - args.show} more")


if __name__ == "__main__":
    main()
