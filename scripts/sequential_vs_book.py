"""Issue 10's done-when timings: a Sequential of MultiLayerNet 784-100x5-10's layers against
MultiLayerNet itself, and a user's Tanh MLP 784-128-64-10 built as a Sequential against its NumPy twin
(and MultiLayerNet(tanh) against its own), SGD steps on the shipped MNIST subset, batch 1/100/1000.

    python scripts/sequential_vs_book.py
"""

import time

import numpy as np

from fastbp import layers as L
from fastbp.data import load_embedded_mnist
from fastbp.nets import MultiLayerNet, Sequential
from fastbp.optimizer import SGD
from fastbp.reference import layers as R
from fastbp.reference.optimizer import SGD as RSGD

(x, t), _ = load_embedded_mnist()


def seq(mod, sizes, act, seed=0):
    np.random.seed(seed)
    out = []
    for i in range(1, len(sizes)):
        W = np.sqrt(2.0 / sizes[i - 1]) * np.random.randn(sizes[i - 1], sizes[i])
        out.append(mod.Affine(W, np.zeros(sizes[i])))
        if i < len(sizes) - 1:
            out.append(getattr(mod, act)())
    return Sequential(out, loss=mod.SoftmaxWithLoss())


def step_time(net, opt, n, reps):
    bs = [(np.ascontiguousarray(x[i * n : (i + 1) * n]), t[i * n : (i + 1) * n]) for i in range(8)]
    for xb, tb in bs:
        opt.update(net.params, net.gradient(xb, tb))
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        k = max(1, 2000 // n)
        for i in range(k):
            xb, tb = bs[i % 8]
            opt.update(net.params, net.gradient(xb, tb))
        ts.append((time.perf_counter() - t0) / k * 1e6)
    return float(np.median(ts))


reps = 7
print("case  batch  a_us  b_us  ratio")
for n in (1, 100, 1000):
    np.random.seed(0)
    book = MultiLayerNet(784, [100] * 5, 10)
    s = seq(L, [784] + [100] * 5 + [10], "Relu")
    a, b = step_time(book, SGD(lr=0.01), n, reps), step_time(s, SGD(lr=0.01), n, reps)
    a2 = step_time(book, SGD(lr=0.01), n, reps)
    print(f"MultiLayerNet vs Sequential  {n}  {min(a, a2):.1f}  {b:.1f}  {b / min(a, a2):.3f}", flush=True)
for n in (1, 100, 1000):
    f = step_time(seq(L, [784, 128, 64, 10], "Tanh"), SGD(lr=0.01), n, reps)
    r = step_time(seq(R, [784, 128, 64, 10], "Tanh"), RSGD(lr=0.01), n, reps)
    np.random.seed(0)
    mf = step_time(MultiLayerNet(784, [128, 64], 10, activation="tanh"), SGD(lr=0.01), n, reps)
    np.random.seed(0)
    mr = step_time(
        MultiLayerNet(784, [128, 64], 10, activation="tanh", backend="numpy"), RSGD(lr=0.01), n, reps
    )
    print(
        f"Tanh 784-128-64-10 batch {n}: Sequential fastbp {f:.1f} numpy-twin {r:.1f} speedup "
        f"{r / f:.2f}x | MultiLayerNet(tanh) fastbp {mf:.1f} numpy {mr:.1f} speedup {mr / mf:.2f}x",
        flush=True,
    )
