#!/usr/bin/env python
"""Run the book's chapter 3-8 scripts twice: the book's code, and the same scripts with their import
lines changed to fastbp. Logs, figures and times go to OUT, for compare.py and table.py.

    python run.py --list
    python run.py --book-repo ~/deep-learning-from-scratch --mnist ~/mnist --out runs --dry-run
    python run.py --book-repo ~/deep-learning-from-scratch --mnist ~/mnist --out runs --threads 1
    python run.py --out runs --only ch05/train_neuralnet,optimizer_compare_naive   # trees reused
    python run.py --out runs --book-loss             # fastbp with FASTBP_BOOK_LOSS=1 (own log folder)
    python run.py --out runs --timeout 3600 --timeout-for ch08/train_deepnet=36000

The first call builds OUT/work (see trees.py); later calls reuse it (--rebuild to start over). Per
script, the trees run one after the other, and which goes first alternates from script to script, so
a drift in the machine's load does not favour one side. A run is `nice -n NICE python wrapper.py
SCRIPT` in the chapter folder; its output goes to OUT/<tree>/<chapter>_<script>.log, its figures to
OUT/<tree>/<chapter>_<script>_fig<N>.png, its times into OUT/times.json (merged with earlier runs):
wall_s around the whole process (start-up, imports, Numba compilation), script_s inside the script.

Threads: fastbp sets BLAS to one thread by itself; the book's NumPy uses every core. --threads N sets
the usual thread variables for both trees alike; without it each side runs as a user's would.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import trees

HERE = Path(__file__).resolve().parent
WRAPPER = HERE / "wrapper.py"
LOG_TREES = ("book", "fastbp", "fastbp_bookloss")

# The runnable scripts of chapters 3-8 that use the book's common/ or dataset/ code, in run order: the
# loaders of shipped weights come before the trainers that overwrite them. Not listed: the chapter-local
# modules they import (two_layer_net, simple_convnet, deep_convnet) and scripts using NumPy alone.
# Rough wall time of the book's code in seconds on a busy 2-core machine at nice 19: (with one BLAS
# thread, with NumPy's default threads). Only for planning a run (--list); measure, don't quote these.
ESTIMATES = {
    "ch03/mnist_show": (1, 1),
    "ch03/neuralnet_mnist": (3, 3),
    "ch03/neuralnet_mnist_batch": (2, 2),
    "ch04/gradient_simplenet": (1, 1),
    "ch04/train_neuralnet": (20, 240),
    "ch05/gradient_check": (4, 4),
    "ch05/train_neuralnet": (20, 420),
    "ch06/optimizer_compare_naive": (2, 2),
    "ch06/batch_norm_gradient_check": (30, 30),
    "ch06/weight_init_compare": (30, 900),
    "ch06/optimizer_compare_mnist": (40, 1200),
    "ch06/overfit_weight_decay": (35, 120),
    "ch06/overfit_dropout": (65, 180),
    "ch06/batch_norm_test": (50, 800),
    "ch06/hyperparameter_optimization": (120, 2500),
    "ch07/gradient_check": (5, 5),
    "ch07/apply_filter": (2, 2),
    "ch07/visualize_filter": (2, 2),
    "ch07/train_convnet": (2500, 8300),
    "ch08/misclassified_mnist": (40, 80),
    "ch08/half_float_network": (70, 150),
    "ch08/train_deepnet": (15000, 26000),
}
SCRIPTS = list(ESTIMATES)
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "FASTBP_NUM_THREADS",
)


def key_of(script: str) -> str:
    return script.replace("/", "_")


def select(only: str | None) -> list[str]:
    """Scripts named by --only (ch05/train_neuralnet, ch05_train_neuralnet, or a bare name: every
    chapter's), in run order."""
    if not only:
        return list(SCRIPTS)
    chosen = set()
    for tok in (t.strip().removesuffix(".py") for t in only.split(",")):
        hits = [s for s in SCRIPTS if tok in (s, key_of(s), s.split("/")[1])] if tok else []
        if tok and not hits:
            sys.exit(f"unknown script {tok!r}; see --list")
        chosen.update(hits)
    return [s for s in SCRIPTS if s in chosen]


def parse_timeouts(spec: str) -> dict[str, float]:
    out = {}
    for item in filter(None, (i.strip() for i in spec.split(","))):
        name, _, secs = item.partition("=")
        out.update(dict.fromkeys(select(name), float(secs)))
    return out


def run_env(tree: str, args, paths: trees.Paths) -> dict:
    """The environment of a run. The trees differ only in FASTBP_BOOK_LOSS and --fastbp's PYTHONPATH."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1", FASTBP_DATA=str(paths.data))
    env.pop("FASTBP_BOOK_LOSS", None)  # one inherited from the shell would silently change the fastbp side
    if tree == "fastbp_bookloss":
        env["FASTBP_BOOK_LOSS"] = "1"
    if args.quiet_compile:
        env["FASTBP_QUIET"] = "1"  # its one-line "compiling" notice would be an extra line in the logs
    if args.threads:
        env.update(dict.fromkeys(THREAD_VARS, str(args.threads)))
    if args.numba_cache_dir:
        env["NUMBA_CACHE_DIR"] = str(Path(args.numba_cache_dir).resolve())
    if args.fastbp and tree != "book":
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(Path(args.fastbp).resolve()), env.get("PYTHONPATH")])
        )
    return env


def describe_python(args, paths: trees.Paths) -> dict:
    """Versions the fastbp runs will see (asked of --python itself, with the fastbp runs' environment)."""
    code = (
        "import json, platform, numpy, fastbp, importlib.metadata as md\n"
        "try:\n    numba = md.version('numba')  # without importing it\n"
        "except md.PackageNotFoundError:\n    numba = None\n"
        "print(json.dumps({'python': platform.python_version(), 'numpy': numpy.__version__,"
        " 'numba': numba, 'fastbp': fastbp.__version__, 'fastbp_path': fastbp.__path__[0]}))"
    )
    r = subprocess.run(
        [args.python, "-c", code],
        env=run_env("fastbp", args, paths),
        capture_output=True,
        text=True,
        cwd=paths.data,
    )
    if r.returncode != 0:
        sys.exit(f"{args.python} cannot import numpy and fastbp:\n{r.stderr}")
    info = json.loads(r.stdout)
    root = Path(info["fastbp_path"]).parent
    # a checkout has its pyproject.toml beside the package; site-packages may sit inside another repo
    git = info["fastbp_git"] = trees.git_state(root) if (root / "pyproject.toml").exists() else None
    # what each fastbp run records: enough to tell runs of different checkouts apart in times.json
    info["fastbp_id"] = info["fastbp"]
    if git:
        info["fastbp_id"] += f" ({git['commit'][:10]}{', uncommitted changes' if git['dirty'] else ''})"
    return info


def cpu_model() -> str:
    """The CPU's name (/proc/cpuinfo on Linux; platform.processor() elsewhere, often empty)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def stop_group(p: subprocess.Popen) -> int:
    """End the process group this tool started for `p` (SIGTERM, then SIGKILL after 15 s)."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
        return p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        return p.wait()
    except ProcessLookupError:
        return p.wait()


def run_one(script: str, tree: str, args, paths: trees.Paths, timeout: float | None) -> dict | None:
    chapter, name = script.split("/")
    tree_dir, out_dir = paths.tree(tree), Path(args.out) / tree
    prefix = str(out_dir / key_of(script))
    log, timing = Path(prefix + ".log"), Path(prefix + ".timing.json")
    env = run_env(tree, args, paths)
    cmd = [
        args.python,
        str(WRAPPER),
        "--seed",
        str(args.seed),
        "--fig-prefix",
        prefix,
        "--timing",
        str(timing),
        str(tree_dir / chapter / f"{name}.py"),
    ]
    if args.nice:
        cmd = ["nice", "-n", str(args.nice)] + cmd
    if args.dry_run:
        extra = " ".join(f"{k}={v}" for k, v in sorted(env.items()) if os.environ.get(k) != v)
        print(f"  cd {tree_dir / chapter} && {extra} {' '.join(cmd)} > {log} 2>&1")
        return None

    out_dir.mkdir(parents=True, exist_ok=True)
    for old in glob.glob(prefix + "_fig*.png") + glob.glob(prefix + "_pil*.png") + [str(timing)]:
        if os.path.exists(old):  # a figure an earlier run saved and this one does not would mislead
            os.remove(old)
    trees.restore_shipped(paths, tree_dir, chapter)
    load = os.getloadavg()[0]
    status = "ok"
    with open(log, "w") as f:
        t0 = time.perf_counter()
        p = subprocess.Popen(
            cmd,
            cwd=tree_dir / chapter,
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # its own group, to kill
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            status, rc = "timeout", stop_group(p)
        except KeyboardInterrupt:
            stop_group(p)
            raise
        wall = time.perf_counter() - t0
    if status == "ok" and rc != 0:
        status = "error"
    kept = trees.keep_rewritten(paths, tree_dir, chapter, prefix)
    inside = json.loads(timing.read_text()) if timing.exists() else {}
    figs = sorted(glob.glob(prefix + "_fig*.png") + glob.glob(prefix + "_pil*.png"))
    rel = lambda p: os.path.relpath(p, args.out)  # noqa: E731  (OUT can be moved as a whole)
    rec = {
        "status": status,
        "rc": rc,
        "wall_s": round(wall, 3),
        "script_s": None if inside.get("script_s") is None else round(inside["script_s"], 3),
        "exc": inside.get("exc"),
        "timeout_s": timeout,
        "seed": args.seed,
        "nice": args.nice,
        "threads": args.threads,
        "loadavg1_at_start": round(load, 2),
        "log": rel(log),
        "figures": [rel(x) for x in figs],
        "kept_files": [rel(x) for x in kept],
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    print(
        f"  {tree:16s} {status:7s} rc={rc:<4} wall={wall:9.2f} s  script={rec['script_s']} s  "
        f"figures={len(figs)}  load={load:.2f}",
        flush=True,
    )
    return rec


def save_record(out: Path, script: str, tree: str, rec: dict, meta: dict) -> None:
    """Merge one run into OUT/times.json (written via a temporary file: a killed run cannot corrupt it)."""
    path = out / "times.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault("runs", {}).setdefault(key_of(script), {})[tree] = rec
    data["meta"] = dict(meta, updated=time.strftime("%Y-%m-%d %H:%M:%S"))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--book-repo", type=Path, help="a clone of the book's repository (only read)")
    ap.add_argument("--mnist", type=Path, help="folder with the four MNIST .gz files")
    ap.add_argument("--out", type=Path, help="output folder (trees in OUT/work, logs, times.json)")
    ap.add_argument(
        "--only",
        help="comma-separated scripts: ch05/train_neuralnet, ch05_train_neuralnet "
        "or a bare name (every chapter's)",
    )
    ap.add_argument(
        "--book-loss",
        action="store_true",
        help="fastbp runs with FASTBP_BOOK_LOSS=1, logged under OUT/fastbp_bookloss/",
    )
    ap.add_argument("--trees", default="book,fastbp", help=f"which of {','.join(LOG_TREES)} to run")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="if > 0, set OMP/OPENBLAS/MKL/NUMBA/FASTBP thread counts alike for both trees",
    )
    ap.add_argument("--timeout", type=float, default=None, help="seconds per run (default: none)")
    ap.add_argument("--timeout-for", default="", help="per-script timeouts: name=SECONDS,name=SECONDS")
    ap.add_argument("--nice", type=int, default=19, help="nice level of the runs (0: not niced)")
    ap.add_argument("--seed", type=int, default=0, help="np.random.seed before each script")
    ap.add_argument("--order", choices=["alternate", "book-first"], default="alternate")
    ap.add_argument("--python", default=sys.executable, help="interpreter of the runs (default: this one)")
    ap.add_argument(
        "--fastbp",
        help="a fastbp checkout to put first on the fastbp runs' PYTHONPATH "
        "(default: the fastbp --python imports)",
    )
    ap.add_argument("--numba-cache-dir", help="NUMBA_CACHE_DIR of the runs (default: fastbp's own)")
    ap.add_argument(
        "--no-quiet-compile",
        dest="quiet_compile",
        action="store_false",
        help="let fastbp print its 'compiling kernels' notice (default: FASTBP_QUIET=1)",
    )
    ap.add_argument("--rebuild", action="store_true", help="delete OUT/work and build the trees again")
    ap.add_argument("--build-only", action="store_true", help="build the trees, run nothing")
    ap.add_argument("--list", action="store_true", help="list the scripts and rough book times")
    ap.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    args = ap.parse_args(argv)

    scripts = select(args.only)
    if args.list:
        for s in scripts:
            one, default = ESTIMATES[s]
            print(f"{s:34s} book ~{one:>6.0f} s with 1 BLAS thread, ~{default:>6.0f} s with the default")
        return
    if args.out is None:
        sys.exit("--out is needed (except with --list)")
    tree_names = [t.strip() for t in args.trees.split(",") if t.strip()]
    if args.book_loss:
        tree_names = ["fastbp_bookloss" if t == "fastbp" else t for t in tree_names]
    if unknown := [t for t in tree_names if t not in LOG_TREES]:
        sys.exit(f"--trees: unknown {unknown}")
    timeouts = parse_timeouts(args.timeout_for)
    args.out = args.out.resolve()
    paths = trees.Paths(args.out)

    built = None if args.rebuild else trees.load(paths)
    if built is None and args.dry_run:
        if errors := trees.check_inputs(args.book_repo, args.mnist):
            sys.exit("\n".join(errors))
        print(f"would build the trees in {paths.work} from {args.book_repo} and {args.mnist} (see trees.py)")
    elif built is None:
        trees.remove(paths)
        built = trees.build(
            paths,
            args.book_repo,
            args.mnist,
            args.python,
            run_env("book", args, paths),
            run_env("fastbp", args, paths),
            args.nice,
        )
    else:
        print(f"reusing the trees built {built['built']} from {built['book_repo']} ({paths.work})")
        if args.book_repo and str(args.book_repo.resolve()) != built["book_repo"]:
            print(f"  warning: not from --book-repo {args.book_repo}: use --rebuild to build from it")
    if args.build_only:
        return

    meta = (
        {}
        if args.dry_run
        else {
            **describe_python(args, paths),
            "book_repo": built["book_repo"],
            "book_git": built["book_git"],
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": cpu_model(),
            "threads": args.threads,
            "nice": args.nice,
            "seed": args.seed,
        }
    )
    for i, s in enumerate(scripts):
        order = tree_names[::-1] if args.order == "alternate" and i % 2 else list(tree_names)
        print(f"[{i + 1}/{len(scripts)}] {s}  (order: {', '.join(order)})", flush=True)
        for t in order:
            rec = run_one(s, t, args, paths, timeouts.get(s, args.timeout))
            if rec is not None:
                rec["fastbp"] = None if t == "book" else meta["fastbp_id"]
                save_record(args.out, s, t, rec, meta)


if __name__ == "__main__":
    main()
