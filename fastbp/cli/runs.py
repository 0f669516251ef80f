"""``fastbp train``'s distributed runs and resumable checkpoints: option checks and the run's identity.

- ``--distributed``: train on every rank of ``MPI.COMM_WORLD`` (``mpiexec -n K fastbp train
  --distributed ...``); ``--batch-size`` is the global batch, refused unless it is a multiple of K.
  Rank 0 alone prints, evaluates, plots and saves.
- ``--save PATH`` also writes the training checkpoint ``PATH.ckpt`` (:mod:`fastbp.train_state`) at
  the end, and with ``--save-every N`` every N steps; ``--resume PATH`` continues from ``PATH.ckpt``
  (or from PATH itself, a ``.ckpt`` file) to the same total of steps. The options that decide the
  numbers (network, optimizer, learning rate, batch size, data, dtype, total steps) are stored in the
  checkpoint and must be the same when resuming.
"""

from __future__ import annotations

import os
import socket

from . import checks
from .checks import UsageError

CKPT_SUFFIX = ".ckpt"


def checkpoint_path(save: str) -> str:
    """Where ``--save PATH`` puts the training checkpoint."""
    return save + CKPT_SUFFIX


def resume_path(path: str) -> str:
    """The checkpoint file ``--resume PATH`` reads: PATH.ckpt, or PATH when it is a .ckpt file."""
    if path.endswith(CKPT_SUFFIX) and os.path.isfile(path):
        return path
    if os.path.isfile(checkpoint_path(path)):
        return checkpoint_path(path)
    raise UsageError(
        f"--resume {path!r}: no training checkpoint {checkpoint_path(path)!r} (fastbp train --save PATH "
        "writes one at the end, --save-every N every N steps)"
    )


def check_options(args) -> None:
    """``--save-every`` and ``--resume``, before any data is loaded."""
    checks.positive("--save-every", args.save_every, integer=True)
    if args.save_every is not None and not args.save:
        raise UsageError("--save-every needs --save PATH (the checkpoint goes to PATH.ckpt)")
    if args.resume is not None:
        if not args.resume:
            raise UsageError("--resume needs a file name")
        resume_path(args.resume)


def world(args):
    """``(comm, rank, size)``: MPI's world for ``--distributed`` (a UsageError without mpi4py), else
    ``(None, 0, 1)``. The global batch is checked against the number of ranks here."""
    if not args.distributed:
        return None, 0, 1
    from .. import distributed

    try:
        MPI = distributed.require_mpi("--distributed")
    except ImportError as e:
        raise UsageError(str(e)) from None
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    try:
        distributed.check_batch(args.batch_size, size, "--distributed", name="--batch-size")
    except ValueError as e:
        raise quiet(UsageError(str(e)), rank) from None
    return comm, rank, size


def quiet(error: Exception, rank: int) -> Exception:
    """``error``, marked so that only rank 0 prints it (every rank raises the same one)."""
    error.quiet = rank != 0
    return error


def identity(args, desc: dict, lr: float, max_iter: int, data_name: str) -> dict:
    """The options that decide a run's numbers, stored in its checkpoint."""
    return {
        "net": desc,
        "optimizer": args.optimizer,
        "lr": lr,
        "batch_size": args.batch_size,
        "max_iter": max_iter,
        "data": data_name,
        "backend": args.backend,
        "eval_samples": args.eval_samples,
    }


def check_same_run(stored: dict, mine: dict, path: str) -> None:
    """UsageError naming the options that differ between a checkpoint's run and this one."""
    differ = sorted(k for k in set(stored) | set(mine) if stored.get(k) != mine.get(k))
    if differ:
        said = "; ".join(f"{k}: {stored.get(k)!r} there, {mine.get(k)!r} here" for k in differ)
        raise UsageError(f"--resume {path!r} was written by a run with other options ({said})")


def silent(*args, **kwargs):
    pass


def say_ranks(comm, say, batch: int) -> None:
    """One line naming every rank's process and host (MPICH names a dead process by its PID)."""
    where = comm.gather(f"{comm.Get_rank()}: pid {os.getpid()} on {socket.gethostname()}", root=0)
    size = comm.Get_size()
    say(
        f"distributed: {size} ranks, global batch {batch} ({batch // size} per rank); ranks "
        + ", ".join(where or [])
    )
