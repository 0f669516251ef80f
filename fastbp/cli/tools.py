"""``fastbp bench``, ``fastbp warmup`` and ``fastbp gradcheck``."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from .. import _interrupt
from . import checks
from .checks import UsageError


def run_gradcheck(args, given: set[str]) -> int:
    """The book's chapter 5 check: mean |backprop - numerical| per parameter of a TwoLayerNet."""
    for name in ("input_size", "hidden_size", "output_size", "samples"):
        checks.positive("--" + name.replace("_", "-"), getattr(args, name), integer=True)
    checks.in_range("--tol", args.tol, 0, float("inf"), high_open=True)
    checks.in_range("--seed", args.seed, 0, 2**32 - 1)
    n_in, n_h, n_out, n = args.input_size, args.hidden_size, args.output_size, args.samples
    params = n_in * n_h + n_h + n_h * n_out + n_out
    # params, their numerical and backprop gradients; x (float32 and its float64 copy) and activations
    checks.memory("this gradient check", 8 * 3 * params + n * (12 * n_in + 8 * 3 * (n_h + n_out)))
    from ..nets import TwoLayerNet

    np.random.seed(args.seed)
    x = np.random.rand(n, n_in).astype(np.float32)  # MNIST-like pixels in [0, 1]
    t = np.random.randint(0, n_out, n).astype(np.uint8)
    net = TwoLayerNet(n_in, n_h, n_out, backend=args.backend)
    numerical = net.numerical_gradient(x, t)
    backprop = net.gradient(x, t)
    print(
        f"TwoLayerNet({n_in}, {n_h}, {n_out}), {n} samples, backend {args.backend}: "
        "mean |backprop - numerical|"
    )
    worst = 0.0
    for key in numerical:
        diff = float(np.mean(np.abs(backprop[key] - numerical[key])))
        worst = max(worst, diff)
        print(f"{key}:{diff:.3g}")
    ok = worst < args.tol
    print("OK" if ok else f"FAILED: a difference exceeds {args.tol:g}")
    return 0 if ok else 1


def _list(option: str, text: str, allowed=None) -> tuple[str, ...]:
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    if not items:
        raise UsageError(f"{option} needs at least one value, got {text!r}")
    if allowed is not None and not set(items) <= set(allowed):
        raise UsageError(f"{option} must be among {','.join(allowed)}, got {text!r}")
    return items


def _bench_args(args, kinds):
    from .. import bench as B

    try:
        batches = tuple(int(b) for b in args.batches.split(","))
    except ValueError:
        raise UsageError(
            f"--batches must be comma-separated positive integers, got {args.batches!r}"
        ) from None
    if min(batches) < 1:
        raise UsageError(f"--batches must be comma-separated positive integers, got {args.batches!r}")
    dtypes = _list("--dtypes", args.dtypes, B.ALL_DTYPES)
    data = _list("--data", args.data, B.DATA)
    nets = _list("--widths", args.widths)
    try:
        widest = max(max(n.sizes) for n in B.steps.nets(nets))
    except ValueError as e:
        raise UsageError(f"--widths: {e}") from None
    # the largest cases hold a few (batch, width) float64 arrays per implementation, and the data
    checks.memory(f"--batches {max(batches)}", max(batches) * max(784, widest) * 8 * 16 + 64e6 * len(data))
    checks.positive("--rounds", args.rounds, integer=True)
    checks.positive("--round-calls", args.round_calls, integer=True)
    checks.output_file("--json", args.json)
    checks.output_file("--plot", args.plot)
    peers = B.peers.available() if args.peers else ()
    selected = [c for c in B.cases(kinds, batches, dtypes, nets, data, peers) if args.match in c.group]
    if not selected:
        raise UsageError(f"no benchmark group matches --match {args.match!r}")
    return selected, peers


def run_bench(args, given: set[str]) -> int:
    """Time every selected group; on Ctrl-C print and save what was measured so far, then exit 130."""
    from .. import bench as B
    from . import train

    kinds = ("op", "step") if args.kind == "all" else (args.kind,)
    plt = train._pyplot() if args.plot else None
    selected, peers = _bench_args(args, kinds)
    if args.peers:
        missing = [p for p in B.peers.PEERS if p not in peers]
        if missing:
            print(f"peers not installed (pip install fastbp[peers]): {', '.join(missing)}", flush=True)
    info = B.machine(peers)
    print(" ".join(f"{k}={v}" for k, v in info.items()), f"round_calls={args.round_calls}", flush=True)
    groups = {}
    for c in selected:
        groups.setdefault((c.kind, c.group), []).append(c)
    results, interrupted = [], False
    try:
        if peers:  # one thread each? (counted while a mid-size step runs; recorded with the machine)
            info["peer_busy_threads"] = B.peers.thread_check(peers)
            print(f"peer_busy_threads={info['peer_busy_threads']}", flush=True)
        # one group per call, so that an interruption keeps every finished group
        for i, members in enumerate(groups.values()):
            if args.verbose:
                print(f"[{i + 1}/{len(groups)}] {members[0].group}", file=sys.stderr, flush=True)
            results += B.run(members, rounds=args.rounds, round_calls=args.round_calls)
    except KeyboardInterrupt:
        interrupted = True
        _interrupt.handled()  # (what follows runs on: a failure there is its own, not the Ctrl-C's)
    rows = B.table(results)
    if interrupted:
        print(f"interrupted: {len(rows)} of {len(groups)} groups measured", flush=True)
    for r in results:
        if "error" in r:
            print(f"not timed: {r['group']} [{r['impl']}]: {r['error']}")
    if rows:
        print(B.format_table(rows, markdown=args.markdown))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": info,
                    "round_calls": args.round_calls,
                    "interrupted": interrupted,
                    "results": results,
                    "table": rows,
                },
                f,
                indent=1,
            )
        print(f"saved {args.json}")
    if plt is not None and rows:
        fig, ax = plt.subplots(figsize=(10, max(3, 0.22 * len(rows))))
        ax.barh([r["group"] for r in rows], [r.get("speedup", 0) for r in rows])
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set(xlabel="speedup over the NumPy reference (median)")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=6)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        plt.close(fig)
        print(f"saved {args.plot}")
    if interrupted:
        raise KeyboardInterrupt
    return 0


def _warmup_jobs():
    """``(label, work)`` pairs that together run every kernel the CLI's networks, the layers and the
    optimizers use, in both dtypes: training steps (batch 1: the small-batch step; 32: the BLAS and
    sparse-input paths), one-hot labels, evaluation, and every optimizer's update."""
    from .. import config, nets
    from .. import layers as L
    from ..trainer import OPTIMIZERS as OPT_CLASSES

    r = np.random.default_rng(0)

    def images(n, shape):
        x = r.random((n, *shape)).astype(np.float32)
        x[r.random(x.shape) < 0.8] = 0  # mostly zeros, as MNIST: the first layer's sparse path
        return x

    def train(make, shape, n, dtype):
        def work():
            net = make(dtype)
            x, t = images(n, shape), r.integers(0, 4, n).astype(np.uint8)
            net.gradient(x.astype(dtype), t)  # (a float64 network takes a float32 batch unconverted:
            grads = net.gradient(x, t)  # its kernels are compiled for both)
            net.gradient(x, np.eye(4, dtype=dtype)[t])
            net.accuracy(x, t)
            for cls in OPT_CLASSES.values():
                opt = cls()
                opt.update(net.params, grads)
                opt.update(net.params, grads)  # the same arrays again: the one-call update
            sgd = OPT_CLASSES["sgd"]()
            for xb in (x.astype(dtype), x, x.astype(dtype)):  # (set up, then SGD folded: both dtypes)
                net.train_step(xb, t, sgd)

        return work

    def activations(dtype):
        def work():
            saved = config.TANH_NUMPY_BELOW
            config.TANH_NUMPY_BELOW = 0  # Tanh's kernels too (a small input would take NumPy's tanh)
            try:
                for layer in (L.Tanh(), L.LeakyRelu(), L.Sigmoid(), L.Relu()):
                    layer.backward(np.ones((2, 3), dtype) * layer.forward(np.ones((2, 3), dtype)))
            finally:
                config.TANH_NUMPY_BELOW = saved

        return work

    flat, image = (784,), (1, 28, 28)
    fully_connected = {
        "TwoLayerNet": lambda d: nets.TwoLayerNet(784, 50, 4, dtype=d),  # the sparse widths: 50, 100
        "MultiLayerNet": lambda d: nets.MultiLayerNet(784, [100, 6], 4, dtype=d),
        "MultiLayerNet sigmoid, weight decay": lambda d: nets.MultiLayerNet(
            784, [6, 5], 4, activation="sigmoid", weight_decay_lambda=0.1, dtype=d
        ),
    }
    jobs = []
    for dtype in ("float64", "float32"):
        for n in (1, 32):
            for name, make in fully_connected.items():
                jobs.append((f"{name}, {dtype}, batch {n}", train(make, flat, n, dtype)))
        extend = lambda d: nets.MultiLayerNetExtend(  # noqa: E731
            784, [20, 20], 4, use_dropout=True, use_batchnorm=True, dtype=d
        )
        jobs.append((f"MultiLayerNetExtend dropout, batch norm, {dtype}", train(extend, flat, 32, dtype)))
        conv = lambda d: nets.SimpleConvNet(output_size=4, hidden_size=10, dtype=d)  # noqa: E731
        jobs.append((f"SimpleConvNet, {dtype}", train(conv, image, 4, dtype)))
        deep = lambda d: nets.DeepConvNet(output_size=4, hidden_size=10, dtype=d)  # noqa: E731
        jobs.append((f"DeepConvNet, {dtype}", train(deep, image, 2, dtype)))
        jobs.append((f"activation layers, {dtype}", activations(dtype)))
    return jobs


def _progress(jobs):
    """Yield ``(label, work)`` with progress on stderr: a tqdm bar on a terminal when tqdm is installed,
    else one line per job, ``[i/n] label``."""
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            bar = tqdm(jobs, desc="fastbp warmup", unit="job", leave=False, dynamic_ncols=True)
            for label, work in bar:
                bar.set_postfix_str(label, refresh=True)
                yield label, work
            return
    for i, (label, work) in enumerate(jobs):
        print(f"[{i + 1}/{len(jobs)}] {label}", file=sys.stderr, flush=True)
        yield label, work


def run_warmup(args, given: set[str]) -> int:
    """Compile (and cache on disk) the kernels of the CLI's networks, the layers and the optimizers,
    for both dtypes, showing progress; then measure this machine's thresholds and store them."""
    from .. import _compiling, _jit

    if not args.no_measure:
        checks.positive("--measure-seconds", args.measure_seconds)
    jobs = _warmup_jobs()  # imports the kernels, which installs the compile watch
    _compiling.announced()  # the progress below says what is happening
    t0 = time.perf_counter()
    for _, work in _progress(jobs):
        work()
    done = _compiling.stats()
    where = _jit.CACHE_DIR or None  # (None: caching off, or "": no folder to write: not cached either way)
    what = f"{done.kernels} kernel versions compiled ({done.seconds:.1f} s)" if done.kernels else "all cached"
    if where is None:
        print(f"compiled in {time.perf_counter() - t0:.1f} s, {what}; not cached: the kernel cache is off")
    else:
        print(f"compiled and cached in {time.perf_counter() - t0:.1f} s: {what}, in {where}")
    return 0 if args.no_measure else _measure(args.measure_seconds)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} us" if seconds >= 1e-5 else f"{seconds * 1e6:.1f} us"


def _measure(seconds: float) -> int:
    """Measure the thresholds (fastbp.tuning), print them beside their defaults, store them."""
    from .. import config, tuning

    def progress(name):
        print(f"measuring {name}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    try:
        results = tuning.measure(seconds, progress)
    except RuntimeError as e:  # NUMBA_DISABLE_JIT=1
        print(f"thresholds not measured: {e}")
        return 0
    took = time.perf_counter() - t0
    file = tuning.path()
    if file is None:
        stored = "not stored: there is no kernel cache (FASTBP_CACHE=0 or no writable folder)"
    else:
        try:
            stored = f"stored in {tuning.save(results, file, took)}"
        except OSError as e:
            print(f"fastbp warmup: could not store the thresholds in {file}: {e}", file=sys.stderr)
            return 1
    print(f"thresholds measured in {took:.1f} s, {stored}")
    name = None
    for r in results:
        first, second = tuning.PATHS[r.name]
        if r.name != name:  # a header per threshold: its unit and what the times are
            name = r.name
            print(f"  {name} ({tuning.UNITS[name]}; times: {tuning.TIMED[name]})")
        default = config._default(r.name)
        label = "" if r.key is None else f"{r.key[0]}, width {r.key[1]}: "
        default = default if r.key is None else default.get(r.key)
        value = f"{r.value}" + (": NumPy at every size measured" if r.value == tuning.TANH_NEVER else "")
        at = f"{r.at.at:g}" if float(r.at.at).is_integer() else f"{r.at.at:.3g}"
        print(
            f"    {label}{value} (default {default:g}); at {at}: "
            f"{first} {_us(r.at.first)}, {second} {_us(r.at.second)}"
        )
    return 0
