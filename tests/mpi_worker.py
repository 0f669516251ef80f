"""Runs one training with Trainer, alone or under ``mpiexec -n K`` (``--comm``); used by test_distributed.

    python tests/mpi_worker.py OUT.npz --optimizer sgd --steps 200 [--comm] [--batch 100]
        [--checkpoint PATH --every 100] [--resume PATH] [--die-at STEP] [--pidfile PATH]

Trains MultiLayerNet 784-50-50-10 (float64, seed 0) on the embedded MNIST subset and writes the final
parameters to OUT.npz (rank 0). ``--die-at N`` SIGKILLs the process (rank 1 under --comm, where
``--die-rank`` says which) right after step N; ``--pidfile`` gets "rank pid" lines.
"""

import argparse
import os
import signal
import sys

import numpy as np

from fastbp.data import load_embedded_mnist
from fastbp.nets import MultiLayerNet
from fastbp.trainer import Trainer

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--optimizer", default="sgd")
p.add_argument("--steps", type=int, default=200)
p.add_argument("--batch", type=int, default=100)
p.add_argument("--comm", action="store_true")
p.add_argument("--checkpoint")
p.add_argument("--every", type=int)
p.add_argument("--resume")
p.add_argument("--die-at", type=int)
p.add_argument("--die-rank", type=int, default=0)
p.add_argument("--pidfile")
p.add_argument("--sleep", type=float, default=0.0, help="seconds to sleep after each step")
a = p.parse_args()

comm = None
rank = 0
if a.comm:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
if a.pidfile:
    with open(f"{a.pidfile}.{rank}", "w") as f:
        f.write(f"{rank} {os.getpid()}\n")

(x, t), (xt, tt) = load_embedded_mnist(flatten=True)
np.random.seed(0)
net = MultiLayerNet(784, [50, 50], 10, dtype="float64")
lr = {"sgd": 0.1, "adam": 0.001, "momentum": 0.05}[a.optimizer]
trainer = Trainer(
    net,
    x,
    t,
    xt[:500],
    tt[:500],
    mini_batch_size=a.batch,
    optimizer=a.optimizer,
    optimizer_param={"lr": lr},
    verbose=False,
    progress=False,
    iterations=a.steps,
    evaluate_at="epoch_end",
    comm=comm,
    checkpoint=a.checkpoint,
    checkpoint_every=a.every,
)
if a.resume:
    trainer.resume(a.resume)

step = trainer.train_step


def train_step():
    step()
    if a.die_at is not None and trainer.current_iter == a.die_at and rank == a.die_rank:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    if a.sleep:
        import time

        time.sleep(a.sleep)


trainer.train_step = train_step
trainer.train()
if rank == 0:
    np.savez(a.out, **net.params)
