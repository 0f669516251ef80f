"""Step cases: one training step, ``opt.update(net.params, net.gradient(x, t))``, of a network on a
batch of one of the benchmark data (``data.DATA``), each call on the next of STEP_BATCHES batches.
fastbp takes it as ``net.train_step(x, t, opt)``: the same parameters, bit for bit, in one call (SGD
folded into the backward pass at batch 1-4; the peers fold it too).

- Fully connected ReLU networks 784-...-10 with SGD(lr=0.01): the book's TwoLayerNet 784-50-10 (its
  0.01-scaled initial weights) and MultiLayerNet 784-100x5-10, and ``MultiLayerNet(784, hidden, 10)``
  for any hidden sizes (``net("256")`` is 784-256-10, ``net("256x3")`` 784-256x3-10; He initial
  weights). Implementations: ``fastbp``; ``numpy``, the NumPy twin (``backend="numpy"``, the
  reference SGD); ``gemm``, the GEMM floor: the matrix products that step needs (forward, dW, and dX
  except the first layer's) back to back in NumPy, in the network's dtype, on the same batches in
  turn; and the peers (``jax``,
  ``torch``: ``bench.peers``) from the same initial weights on the same batches.
- The book's convolutional networks with Adam (as the book trains them): fastbp and the twin.

dtypes: ``float64``, ``float32``, and ``mixed``: a float32 input to a float64 network (the book's
MNIST arrays are float32; the network converts each batch), with ``fastbp-x64`` beside it: the same
step on float64 copies of the batches.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

from .base import Case, batches, cycling, rng
from .data import pool

BATCHES = (1, 32, 100, 256, 1000)
DTYPES = ("float64", "float32")
ALL_DTYPES = ("float64", "float32", "mixed")
WIDTHS = (32, 64, 128, 256, 512, 1024)
CONV_BATCHES = (1, 100)
LR = 0.01
# In a "mixed" group (float32 input, float64 network), fastbp again on float64 copies of the same
# batches: what the float32 input costs, within one group's interleaved rounds.
X64 = "fastbp-x64"


@dataclass(frozen=True)
class Net:
    """A network of the step cases: ``key`` selects it, ``label`` names it in the groups."""

    key: str
    label: str
    hidden: tuple[int, ...] = ()
    book: str | None = None  # the book's class it is built as (else MultiLayerNet(784, hidden, 10))

    @property
    def conv(self) -> bool:
        return self.book in ("SimpleConvNet", "DeepConvNet")

    @property
    def sizes(self) -> list[int]:
        return [784, *self.hidden, 10]


BOOK = {
    "two": Net("two", "TwoLayerNet 784-50-10", (50,), "TwoLayerNet"),
    "multi": Net("multi", "MultiLayerNet 784-100x5-10", (100,) * 5, "MultiLayerNet"),
    "simple-conv": Net("simple-conv", "SimpleConvNet", book="SimpleConvNet"),
    "deep-conv": Net("deep-conv", "DeepConvNet", book="DeepConvNet"),
}
# The names --widths takes for sets of networks.
NET_SETS = {
    "book": ("two", "multi", "simple-conv", "deep-conv"),
    "mlp": ("two", "multi"),
    "conv": ("simple-conv", "deep-conv"),
    "sweep": (*(str(w) for w in WIDTHS), "256x3"),
}
NET_SETS["all"] = NET_SETS["book"] + NET_SETS["sweep"]


def net(key: str) -> Net:
    """The network a key names: a book network's (``two``, ``multi``, ``simple-conv``, ``deep-conv``),
    or the hidden sizes of a ReLU MLP 784-...-10: ``256`` or ``256x3`` (three hidden layers of 256)."""
    if key in BOOK:
        return BOOK[key]
    m = re.fullmatch(r"([1-9][0-9]*)(?:x([1-9][0-9]*))?", key)
    if not m:
        raise ValueError(
            f"no network {key!r}: a width (256), widths x layers (256x3), {', '.join(BOOK)}, "
            f"or a set ({', '.join(NET_SETS)})"
        )
    w, k = int(m[1]), int(m[2] or 1)
    return Net(key, f"MLP 784-{w}{'' if k == 1 else f'x{k}'}-10", (w,) * k)


def nets(keys) -> list[Net]:
    """The networks of keys and set names, each once, in order."""
    out = {}
    for key in keys:
        for k in NET_SETS.get(key, (key,)):
            out.setdefault(k, net(k))
    return list(out.values())


def dtype_label(dtype: str) -> str:
    return "float64 (x float32)" if dtype == "mixed" else dtype


def net_and_x_dtype(dtype: str) -> tuple[str, str]:
    return ("float64", "float32") if dtype == "mixed" else (dtype, dtype)


def step_cases(batches_, dtypes, net_keys, data, peers=()) -> list[Case]:
    """Per network, dtype, batch and data (in that order), one group of implementations."""
    cases = []
    for nt in nets(net_keys):
        for dtype in dtypes:
            if nt.conv and dtype == "mixed":
                continue
            for n in batches_:
                if nt.conv and n not in CONV_BATCHES:
                    continue
                for d in data:
                    group = f"{nt.label} step batch {n} {dtype_label(dtype)} {d}"
                    impls = ("fastbp", "numpy") if nt.conv else ("fastbp", "numpy", *peers, "gemm")
                    if dtype == "mixed":  # beside it, the same network on float64 copies of the batches
                        impls = ("fastbp", X64, *impls[1:])
                    for impl in impls:
                        make = _maker(nt, d, impl, n, dtype)
                        cases.append(Case("step", group, impl, make, nt.key, d, n, dtype))
    return cases


def build(nt: Net, dtype: str, backend: str = "fastbp"):
    """The network, with the initial weights of ``np.random.seed(0)`` (the same for every backend)."""
    from .. import nets as N

    np.random.seed(0)
    if nt.book == "TwoLayerNet":
        return N.TwoLayerNet(784, nt.hidden[0], 10, dtype=dtype, backend=backend)
    if nt.conv:
        return getattr(N, nt.book)(dtype=dtype, backend=backend)
    return N.MultiLayerNet(784, list(nt.hidden), 10, dtype=dtype, backend=backend)


def _maker(nt: Net, data: str, impl: str, n: int, dtype: str):
    def make():
        net_dt, x_dt = net_and_x_dtype(dtype)
        x, t = pool(data, x_dt)
        if nt.conv:
            x = x.reshape(-1, 1, 28, 28)
        bs = batches(x, t, n)
        if impl == X64:
            bs = [(np.array(xb, np.float64), tb) for xb, tb in bs]
        if impl == "gemm":  # the same batches: a step reads each from memory, and so do its products
            return gemm_floor([np.ascontiguousarray(b[0], net_dt) for b in bs], nt.sizes, net_dt)
        if impl in ("jax", "torch"):
            from . import peers

            return peers.make(impl, build(nt, net_dt), bs, LR)
        if nt.conv:
            from ..optimizer import Adam
            from ..reference.optimizer import Adam as RefAdam

            opt = Adam() if impl == "fastbp" else RefAdam()  # the book trains both with Adam
        else:
            from ..optimizer import SGD
            from ..reference.optimizer import SGD as RefSGD

            opt = RefSGD(LR) if impl == "numpy" else SGD(LR)
        model = build(nt, net_dt, "numpy" if impl == "numpy" else "fastbp")
        if impl == "numpy":
            return cycling(lambda x, t: opt.update(model.params, model.gradient(x, t)), bs)
        return cycling(lambda x, t: model.train_step(x, t, opt), bs)  # (the same parameters, one call)

    return make


def gemm_floor(xs, sizes, dtype):
    """The products of one step, back to back into preallocated outputs: per layer x W forward, then
    from the last layer on x^T dy (dW) and dy W^T (dX, but for the first layer). Each call takes the
    next of the inputs ``xs`` (the step's batches: the first product reads its batch from wherever
    the step would find it, main memory when the batches outgrow the caches)."""
    r = rng()
    n = xs[0].shape[0]
    Ws = [r.standard_normal((a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:], strict=False)]
    hs = [xs[0]] + [np.empty((n, b), dtype) for b in sizes[1:]]
    ds = [np.empty((n, a), dtype) for a in sizes[:-1]] + [r.standard_normal((n, sizes[-1])).astype(dtype)]
    dWs = [np.empty_like(W) for W in Ws]
    L = len(Ws)
    nxt = itertools.cycle(xs).__next__

    def run():
        hs[0] = nxt()
        for i in range(L):
            np.dot(hs[i], Ws[i], out=hs[i + 1])
        for i in reversed(range(L)):
            np.dot(hs[i].T, ds[i + 1], out=dWs[i])
            if i:
                np.dot(ds[i + 1], Ws[i].T, out=ds[i])

    return run
