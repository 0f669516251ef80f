"""Benchmark cases: fastbp against its NumPy twin on the same inputs, plus the GEMM floor of each step.

One registry serves both front ends: ``bench/`` (pytest-benchmark, ``pytest bench``) and ``fastbp
bench`` (a self-contained timer that prints the table and saves JSON). A case is a ``group`` (op and
shape), an ``impl`` (``fastbp``, ``numpy``, or ``gemm`` for the floor) and a ``make`` that builds the
inputs and returns the thunk to time; the first call of the thunk (compilation, buffer allocation)
happens before timing.

- ops: each layer's forward and backward as the networks run them (``_forward``/``_backward``, no
  argument checks) against the NumPy twin layer; each optimizer's ``update`` over a TwoLayerNet's
  parameters. Activations at (N, 100), Affine 100 -> 100 at (N, 100), softmax-CE at (N, 10).
- steps: one training step, ``opt.update(net.params, net.gradient(x, t))`` with SGD, of TwoLayerNet
  784-50-10 and MultiLayerNet 784-100x5-10 on real MNIST images (the shipped subset), with x already
  in the network's dtype, each call on the next of STEP_BATCHES different batches; and ``gemm``:
  the matrix products that step needs (forward, dW, and dX except the first layer's) back to back.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BATCHES = (1, 32, 100, 256, 1000)
DTYPES = ("float64", "float32")
NETS = {"TwoLayerNet 784-50-10": (784, [50], 10), "MultiLayerNet 784-100x5-10": (784, [100] * 5, 10)}
CONV_NETS = ("SimpleConvNet", "DeepConvNet")
CONV_BATCHES = (1, 100)


@dataclass(frozen=True)
class Case:
    kind: str  # "op" or "step"
    group: str
    impl: str
    make: Callable[[], Callable[[], object]]


def _rng():
    return np.random.default_rng(0)


def _layer_pair(name, n, dtype):
    """(fastbp layer, twin layer, x, dout, extra forward args) for one op at batch n."""
    from . import layers as L
    from .reference import layers as R

    r = _rng()
    if name == "affine":
        W = (r.standard_normal((100, 100)) * 0.1).astype(dtype)
        b = np.zeros(100, dtype)
        return L.Affine(W, b), R.Affine(W, b), r.standard_normal((n, 100)).astype(dtype), (n, 100), ()
    if name == "convolution":  # SimpleConvNet's Conv1: 30 5x5 filters on MNIST-sized images
        W = (r.standard_normal((30, 1, 5, 5)) * 0.01).astype(dtype)
        b = np.zeros(30, dtype)
        x = r.random((n, 1, 28, 28)).astype(dtype)
        return L.Convolution(W, b), R.Convolution(W, b), x, (n, 30, 24, 24), ()
    if name == "pooling":  # SimpleConvNet's Pool1
        x = r.standard_normal((n, 30, 24, 24)).astype(dtype)
        return L.Pooling(2, 2, 2), R.Pooling(2, 2, 2), x, (n, 30, 12, 12), ()
    if name == "batchnorm":
        g, bb = np.ones(100, dtype), np.zeros(100, dtype)
        return (
            L.BatchNormalization(g, bb),
            R.BatchNormalization(g, bb),
            r.standard_normal((n, 100)).astype(dtype),
            (n, 100),
            (),
        )
    if name == "dropout":
        return L.Dropout(0.5), R.Dropout(0.5), r.standard_normal((n, 100)).astype(dtype), (n, 100), ()
    if name == "softmax_ce":
        t = r.integers(0, 10, n).astype(np.uint8)
        return L.SoftmaxWithLoss(), R.SoftmaxWithLoss(), r.standard_normal((n, 10)).astype(dtype), None, (t,)
    cls = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "leaky_relu": "LeakyRelu"}[name]
    return getattr(L, cls)(), getattr(R, cls)(), r.standard_normal((n, 100)).astype(dtype), (n, 100), ()


def _op_cases(batches, dtypes):
    cases = []
    shapes = {
        "softmax_ce": "({n}, 10)",
        "convolution": "({n}, 1, 28, 28) 30x5x5",
        "pooling": "({n}, 30, 24, 24) 2x2",
    }
    for name in (
        "affine",
        "relu",
        "leaky_relu",
        "sigmoid",
        "tanh",
        "softmax_ce",
        "batchnorm",
        "dropout",
        "convolution",
        "pooling",
    ):
        for dtype in dtypes:
            for n in batches if name not in ("convolution", "pooling") else [b for b in batches if b <= 100]:
                shape = shapes.get(name, "({n}, 100)").format(n=n)
                for direction in ("forward", "backward"):
                    group = f"{name} {direction} {shape} {dtype}"
                    for impl in ("fastbp", "numpy"):
                        cases.append(Case("op", group, impl, _op_maker(name, direction, impl, n, dtype)))
    for opt in ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"):
        for dtype in dtypes:
            group = f"{opt} update TwoLayerNet params {dtype}"
            for impl in ("fastbp", "numpy"):
                cases.append(Case("op", group, impl, _update_maker(opt, impl, dtype)))
    return cases


def _op_maker(name, direction, impl, n, dtype):
    def make():
        fast, twin, x, dshape, extra = _layer_pair(name, n, dtype)
        layer = fast if impl == "fastbp" else twin
        fwd = layer._forward if impl == "fastbp" else layer.forward
        if name == "softmax_ce" and impl == "fastbp":
            extra = (np.ascontiguousarray(extra[0]),)
        if direction == "forward":
            return lambda: fwd(x, *extra)
        fwd(x, *extra)
        if name == "softmax_ce":
            return (lambda: layer._backward(1.0)) if impl == "fastbp" else (lambda: layer.backward(1))
        dout = _rng().standard_normal(dshape).astype(dtype)
        if impl == "fastbp":
            return lambda: layer._backward(dout)
        return lambda: layer.backward(dout.copy() if name == "relu" else dout)  # the twin's relu is in place

    return make


def _update_maker(opt_name, impl, dtype):
    def make():
        from . import optimizer as O
        from .reference import optimizer as RO

        r = _rng()
        shapes = {"W1": (784, 50), "b1": (50,), "W2": (50, 10), "b2": (10,)}
        params = {k: r.standard_normal(s).astype(dtype) for k, s in shapes.items()}
        grads = {k: (r.standard_normal(s) * 1e-3).astype(dtype) for k, s in shapes.items()}
        opt = getattr(O if impl == "fastbp" else RO, opt_name)(lr=1e-6)
        return lambda: opt.update(params, grads)

    return make


def _conv_step_maker(net_name, impl, n, dtype):
    def make():
        from . import nets
        from .data import load_embedded_mnist
        from .optimizer import Adam
        from .reference.optimizer import Adam as RefAdam

        (x, t), _ = load_embedded_mnist(flatten=False)
        np.random.seed(0)
        net = getattr(nets, net_name)(dtype=dtype, backend="fastbp" if impl == "fastbp" else "numpy")
        opt = Adam() if impl == "fastbp" else RefAdam()  # the book trains both with Adam
        return _cycling(lambda x, t: opt.update(net.params, net.gradient(x, t)), _batches(x, t, n, dtype))

    return make


def _step_cases(batches, dtypes, nets):
    cases = []
    for net_name in CONV_NETS:
        if net_name not in nets:
            continue
        for dtype in dtypes:
            for n in [b for b in batches if b in CONV_BATCHES]:
                group = f"{net_name} step batch {n} {dtype}"
                for impl in ("fastbp", "numpy"):
                    cases.append(Case("step", group, impl, _conv_step_maker(net_name, impl, n, dtype)))
    for net_name in [m for m in nets if m in NETS]:
        for dtype in dtypes:
            for n in batches:
                group = f"{net_name} step batch {n} {dtype}"
                for impl in ("fastbp", "numpy", "gemm"):
                    cases.append(Case("step", group, impl, _step_maker(net_name, impl, n, dtype)))
    return cases


# A step benchmark cycles through this many different batches, as training does: on one batch
# repeated, the branch predictor learns the data (the input's zeros) and flatters data-dependent
# code (measured: MultiLayerNet batch 1 float64 65 us on one image, 71 us cycling through 16).
STEP_BATCHES = 8


def _batches(x, t, n, dtype):
    """Up to STEP_BATCHES consecutive batches of n images of the shipped MNIST subset (the book's
    data: ~80% of pixels are 0), each C-contiguous in dtype."""
    k = max(1, min(STEP_BATCHES, len(x) // n))
    return [
        (np.ascontiguousarray(x[i * n : (i + 1) * n], dtype=dtype), t[i * n : (i + 1) * n]) for i in range(k)
    ]


def _cycling(step, batches):
    """A thunk that runs step(x, t) on the next of the batches each call."""
    nxt = itertools.cycle(batches).__next__

    def run():
        step(*nxt())

    return run


def _step_maker(net_name, impl, n, dtype):
    inp, hidden, out = NETS[net_name]

    def make():
        from .data import load_embedded_mnist
        from .nets import MultiLayerNet, TwoLayerNet
        from .optimizer import SGD
        from .reference.optimizer import SGD as RefSGD

        (x, t), _ = load_embedded_mnist()
        batches = _batches(x[:, :inp], t, n, dtype)
        if impl == "gemm":  # BLAS's time does not depend on the data: the first batch
            return _gemm_floor(batches[0][0], [inp, *hidden, out], dtype)
        backend = "fastbp" if impl == "fastbp" else "numpy"
        np.random.seed(0)
        if net_name.startswith("TwoLayerNet"):
            net = TwoLayerNet(inp, hidden[0], out, dtype=dtype, backend=backend)
        else:
            net = MultiLayerNet(inp, hidden, out, dtype=dtype, backend=backend)
        opt = SGD(0.01) if impl == "fastbp" else RefSGD(0.01)
        return _cycling(lambda x, t: opt.update(net.params, net.gradient(x, t)), batches)

    return make


def _gemm_floor(x, sizes, dtype):
    """The products of one step, back to back into preallocated outputs."""
    r = _rng()
    n = x.shape[0]
    Ws = [r.standard_normal((a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:], strict=False)]
    hs = [x] + [np.empty((n, b), dtype) for b in sizes[1:]]
    ds = [np.empty((n, a), dtype) for a in sizes[:-1]] + [r.standard_normal((n, sizes[-1])).astype(dtype)]
    dWs = [np.empty_like(W) for W in Ws]
    L = len(Ws)

    def run():
        for i in range(L):
            np.dot(hs[i], Ws[i], out=hs[i + 1])
        for i in reversed(range(L)):
            np.dot(hs[i].T, ds[i + 1], out=dWs[i])
            if i:
                np.dot(ds[i + 1], Ws[i].T, out=ds[i])

    return run


def cases(kinds=("op", "step"), batches=BATCHES, dtypes=DTYPES, nets=(*NETS, *CONV_NETS)) -> list[Case]:
    """All benchmark cases of the given kinds, batch sizes, dtypes and networks."""
    out = []
    if "op" in kinds:
        out += _op_cases(batches, dtypes)
    if "step" in kinds:
        out += _step_cases(batches, dtypes, nets)
    return out


# -- the self-contained runner behind ``fastbp bench`` -----------------------------------------------


def _calibrate(fn, target_s):
    """How many calls make one timing round last about target_s."""
    import time

    loops = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target_s or loops >= 1 << 20:
            return loops
        loops = max(loops * 2, int(loops * target_s / max(dt, 1e-9)))


def run(selected, rounds: int = 15, round_s: float = 0.002, progress=None) -> list[dict]:
    """Time every case: per group, the impls' rounds interleaved; returns one record per case.

    Each record: group, kind, impl, median_us, iqr_us, rounds, loops, first_call_s (the first call,
    which compiles on a cold cache and allocates buffers).
    """
    import time

    groups = {}
    for c in selected:
        groups.setdefault((c.kind, c.group), []).append(c)
    results = []
    for i, ((kind, group), members) in enumerate(groups.items()):
        if progress:
            progress(i, len(groups), group)
        fns, first = [], []
        for c in members:
            fn = c.make()
            t0 = time.perf_counter()
            fn()
            first.append(time.perf_counter() - t0)
            for _ in range(3):  # later first-time work (an optimizer's fast path loads its kernel on
                fn()  # the second step) stays out of the calibration and the rounds
            fns.append(fn)
        loops = [_calibrate(fn, round_s) for fn in fns]
        times = [[] for _ in fns]
        for _ in range(rounds):
            for j, fn in enumerate(fns):
                n = loops[j]
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                times[j].append((time.perf_counter() - t0) / n)
        for c, ts, n, f in zip(members, times, loops, first, strict=False):
            q1, med, q3 = np.percentile(np.array(ts) * 1e6, [25, 50, 75])
            results.append(
                dict(
                    group=group,
                    kind=kind,
                    impl=c.impl,
                    median_us=float(med),
                    iqr_us=float(q3 - q1),
                    rounds=rounds,
                    loops=n,
                    first_call_s=f,
                )
            )
    return results


def table(results) -> list[dict]:
    """One row per group: fastbp and numpy medians, the speedup, and for steps the GEMM floor ratio."""
    rows = {}
    for r in results:
        row = rows.setdefault(r["group"], {"group": r["group"], "kind": r["kind"]})
        row[r["impl"]] = r["median_us"]
    for row in rows.values():
        if "fastbp" in row and "numpy" in row:
            row["speedup"] = row["numpy"] / row["fastbp"]
        if "gemm" in row and "fastbp" in row:
            row["floor_ratio"] = row["fastbp"] / row["gemm"]
    return list(rows.values())


def format_table(rows) -> str:
    lines = [f"{'group':<52} {'fastbp us':>10} {'numpy us':>10} {'speedup':>8} {'GEMM us':>9} {'/floor':>7}"]
    for r in rows:
        gemm = f"{r['gemm']:>9.1f}" if "gemm" in r else " " * 9
        ratio = f"{r['floor_ratio']:>7.2f}" if "floor_ratio" in r else " " * 7
        lines.append(
            f"{r['group']:<52} {r.get('fastbp', float('nan')):>10.1f} {r.get('numpy', float('nan')):>10.1f} "
            f"{r.get('speedup', float('nan')):>7.2f}x {gemm} {ratio}"
        )
    return "\n".join(lines)


def machine() -> dict:
    """What the figures depend on: CPU, thread settings, versions."""
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
    return info
