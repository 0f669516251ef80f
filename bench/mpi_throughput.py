"""Data-parallel throughput: steps of Trainer on K ranks against one process, same global batch.

    python bench/mpi_throughput.py [--net mlp|two-layer|conv] [--batch 1000] [--steps 40]
    mpiexec -n 2 python bench/mpi_throughput.py --comm [...]

Rank 0 prints one line: ranks, global batch, ms per step (median of the steps after a warm-up), samples
per second, and the gradient allreduce and packing time per step (DataParallel's counters). Every
process uses one BLAS thread (fastbp's default, FASTBP_NUM_THREADS=1).
"""

import argparse
import time

import numpy as np

from fastbp.data import load_embedded_mnist
from fastbp.nets import MultiLayerNet, SimpleConvNet, TwoLayerNet
from fastbp.trainer import Trainer

p = argparse.ArgumentParser()
p.add_argument("--net", choices=["mlp", "two-layer", "conv"], default="mlp")
p.add_argument("--batch", type=int, default=1000)
p.add_argument("--steps", type=int, default=40)
p.add_argument("--comm", action="store_true")
p.add_argument("--allreduce", action="store_true", help="time Allreduce alone for each net's size")
a = p.parse_args()

if a.allreduce:  # the allreduce alone: a barrier, then one timed Allreduce; median of 200
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    for name, n in (("two-layer", 39760), ("mlp", 119910), ("conv", 433890)):
        buf, times = np.ones(n), []
        for i in range(220):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf)
            if i >= 20:
                times.append(time.perf_counter() - t0)
        if comm.Get_rank() == 0:
            print(
                f"allreduce {name} {n} float64 on {comm.Get_size()} ranks: median "
                f"{np.median(times) * 1e6:.0f} us, min {min(times) * 1e6:.0f} us",
                flush=True,
            )
    raise SystemExit

comm, rank = None, 0
if a.comm:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
(x, t), (xt, tt) = load_embedded_mnist(flatten=a.net != "conv")
np.random.seed(0)
if a.net == "mlp":
    net = MultiLayerNet(784, [100] * 5, 10, dtype="float64")
elif a.net == "two-layer":
    net = TwoLayerNet(784, 50, 10, dtype="float64")
else:
    net = SimpleConvNet(dtype="float64")
tr = Trainer(
    net,
    x,
    t,
    xt[:100],
    tt[:100],
    mini_batch_size=a.batch,
    optimizer="sgd",
    verbose=False,
    progress=False,
    iterations=10**9,
    evaluate_at="epoch_end",
    comm=comm,
    check_every=10**9,
)
for _ in range(3):
    tr.train_step()  # compile, warm the caches
dp = tr.parallel
if dp is not None:
    dp.allreduce_seconds = dp.pack_seconds = 0.0
    dp.steps = 0
times = []
for _ in range(a.steps):
    if comm is not None:
        comm.Barrier()
    t0 = time.perf_counter()
    tr.train_step()
    times.append(time.perf_counter() - t0)
if rank == 0:
    med = float(np.median(times))
    k = 1 if comm is None else comm.Get_size()
    ar = pk = 0.0
    if dp is not None and dp.steps:
        ar, pk = dp.allreduce_seconds / dp.steps, dp.pack_seconds / dp.steps
    n = sum(v.size for v in net.params.values())
    print(
        f"{a.net} ranks {k} batch {a.batch} params {n}: {med * 1e3:.2f} ms/step "
        f"(min {min(times) * 1e3:.2f}, max {max(times) * 1e3:.2f}), {a.batch / med:.0f} samples/s; "
        f"allreduce {ar * 1e3:.3f} ms/step, pack+divide {pk * 1e3:.3f} ms/step",
        flush=True,
    )
if dp is not None:
    dp.close()
