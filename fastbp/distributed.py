"""Data-parallel training over MPI (mpi4py): every rank holds the whole network and a slice of each batch.

One step on K ranks, for a global batch of B samples (B a multiple of K):

1. every rank draws the same global batch (the same ``np.random`` state on every rank: it is broadcast
   from rank 0 when training starts) and keeps its own disjoint slice of B / K samples
   (:func:`shard`), so the sequence of global batches does not depend on K;
2. each rank computes the gradient of the mean loss over its slice;
3. :meth:`DataParallel.average` packs the gradients into one flat contiguous buffer, sums it over the
   ranks with one ``Allreduce`` and divides by K. The mean of K equal slices' means is the mean over
   the global batch, so K ranks take the step one process takes on the whole batch (up to the order of
   floating-point sums: about 1e-16 relative per step). Slices must be equal for this, hence B % K == 0;
4. every rank runs the same optimizer update on the same numbers, so parameters stay identical;
   :meth:`DataParallel.check` (an allgather of two sums per parameter, every ``check_every`` steps in
   :class:`fastbp.trainer.Trainer`) raises :class:`RanksDiverged` if they ever differ.

The gradients are packed (copied) rather than made views of the flat buffer: the layers and fused
nodes own their gradient buffers, and packing costs about 1% of a step (``docs/distributed.md``).

Faults: when a rank dies, MPICH's ``mpiexec`` ends the others within a second and names the dead
process's PID (the CLI prints every rank's PID and host when it starts). For launchers that leave the
survivors running (``mpiexec -disable-auto-cleanup``, a lost host), a heartbeat thread per rank sends
a byte to every other rank each second on its own communicator; a rank that hears nothing from a peer
for ``timeout`` seconds writes ``rank R: no heartbeat from rank P ...`` on stderr and exits with
status :data:`EXIT_PEER_LOST`, even while its main thread waits inside a collective.

Batch normalization normalizes over each rank's slice and Dropout draws masks shaped by it, so networks
with them train differently on different numbers of ranks (as without synchronized batch norm
elsewhere); everything else computes the same function of the global batch.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time

import numpy as np

__all__ = [
    "DataParallel",
    "RanksDiverged",
    "require_mpi",
    "check_batch",
    "shard",
    "EXIT_PEER_LOST",
]

DEFAULT_TIMEOUT = 30.0  # seconds of silence before a peer is declared lost (FASTBP_MPI_TIMEOUT)
EXIT_PEER_LOST = 70  # exit status of a rank whose peer stopped answering
_TAG_BEAT, _TAG_BYE = 7001, 7002


class RanksDiverged(RuntimeError):
    """The ranks' parameters are no longer identical (:meth:`DataParallel.check`)."""


def require_mpi(where: str = "fastbp.distributed"):
    """``mpi4py.MPI``, or ImportError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            f"{where}: distributed training needs mpi4py and an MPI library: pip install 'fastbp[mpi]' "
            f"(installs mpi4py and mpich) ({e})"
        ) from None
    return MPI


def check_batch(batch_size: int, size: int, where: str, name: str = "mini_batch_size") -> int:
    """The per-rank batch ``batch_size // size``; ValueError naming ``name`` unless ``batch_size`` is a
    positive multiple of ``size`` (equal slices make the average of the ranks' means the global mean)."""
    if batch_size < size:
        raise ValueError(
            f"{where}: {name} {batch_size} is smaller than the number of ranks ({size}): every rank needs "
            "at least one sample of each global batch"
        )
    if batch_size % size:
        lo, hi = batch_size - batch_size % size, batch_size - batch_size % size + size
        raise ValueError(
            f"{where}: {name} {batch_size} is not divisible by the number of ranks ({size}): ranks must "
            f"take equal slices of each global batch (try {lo} or {hi})"
        )
    return batch_size // size


def shard(batch_mask: np.ndarray, rank: int, size: int) -> np.ndarray:
    """Rank ``rank``'s slice of a global batch's indices: the ``rank``-th of ``size`` equal parts."""
    n = len(batch_mask) // size
    return batch_mask[rank * n : (rank + 1) * n]


class DataParallel:
    """Keeps ``network``'s parameters identical on every rank of ``comm`` and averages gradients.

    On construction (collective: every rank must construct it): checks that every rank has the same
    parameter names, shapes and dtypes, broadcasts rank 0's parameters (and batch norm's running
    statistics) to all, and starts the heartbeat thread (``heartbeat``: seconds between beats, None for
    none; ``timeout``: seconds of silence before a peer is declared lost, by default
    ``FASTBP_MPI_TIMEOUT`` or 30). ``comm`` defaults to
    ``MPI.COMM_WORLD``. Call :meth:`close` (or use ``with``) when done.

    ``allreduce_seconds`` and ``pack_seconds`` add up the time spent in the gradient allreduce and in
    packing, over ``steps`` calls of :meth:`average`.
    """

    def __init__(self, network, comm=None, *, heartbeat: float | None = 1.0, timeout: float | None = None):
        where = "DataParallel"
        MPI = require_mpi(where)
        if timeout is None:
            raw = os.environ.get("FASTBP_MPI_TIMEOUT", str(DEFAULT_TIMEOUT))
            try:
                timeout = float(raw)
            except ValueError:
                raise ValueError(
                    f"{where}: FASTBP_MPI_TIMEOUT must be a number of seconds, got {raw!r}"
                ) from None
        if not isinstance(getattr(network, "params", None), dict) or not hasattr(network, "gradient"):
            raise TypeError(f"{where}: network must have params (a dict of arrays) and gradient(x, t)")
        for name, v in (("heartbeat", heartbeat), ("timeout", timeout)):
            if v is not None and not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise ValueError(f"{where}: {name} must be a positive number of seconds, got {v!r}")
        if heartbeat is not None and timeout <= 2 * heartbeat:
            raise ValueError(f"{where}: timeout ({timeout} s) must exceed two heartbeats ({heartbeat} s)")
        comm = MPI.COMM_WORLD if comm is None else comm
        if not isinstance(comm, MPI.Comm):
            raise TypeError(f"{where}: comm must be an mpi4py communicator, got {type(comm).__name__}")
        self._MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.network = network
        params = network.params
        bad = [k for k, p in params.items() if not (isinstance(p, np.ndarray) and p.flags.c_contiguous)]
        if bad:
            raise TypeError(f"{where}: params {bad} must be C-contiguous arrays to be broadcast")
        signature = [(k, p.shape, p.dtype.str) for k, p in params.items()]
        others = comm.allgather(signature)
        differ = [r for r, s in enumerate(others) if s != others[0]]
        if differ:
            raise ValueError(
                f"{where}: ranks {differ} hold other parameters than rank 0 "
                f"(rank 0: {others[0]}; rank {differ[0]}: {others[differ[0]]})"
            )
        self.allreduce_seconds = self.pack_seconds = 0.0
        self.steps = 0
        self._flat = self._views = None
        self.broadcast_parameters()
        self._beat = (heartbeat, timeout)
        self._heart = None
        self.watch()

    def watch(self) -> None:
        """Start the heartbeat thread if it is not running (collective: every rank calls it)."""
        interval, timeout = self._beat
        if self._heart is None and interval and self.size > 1:
            self._heart = _Heartbeat(self.comm, interval, timeout)

    def broadcast_parameters(self) -> None:
        """Copy rank 0's parameters (and batch norm's running statistics) into every rank's, in place."""
        extra = getattr(self.network, "extra_state", None)  # BN statistics (Network's checkpoint hook)
        arrays = {**self.network.params, **(extra() if extra is not None else {})}
        for a in arrays.values():
            self.comm.Bcast(a, root=0)

    def _layout(self, grads: dict) -> None:
        dtypes = {np.asarray(grads[k]).dtype for k in self.network.params}
        dtype = dtypes.pop() if len(dtypes) == 1 else np.dtype(np.float64)
        sizes = [np.size(grads[k]) for k in self.network.params]
        self._flat = np.empty(sum(sizes), dtype)
        self._views, start = {}, 0
        for (k, p), n in zip(self.network.params.items(), sizes, strict=True):
            self._views[k] = self._flat[start : start + n].reshape(np.shape(p))
            start += n

    def average(self, grads: dict) -> dict:
        """The mean of ``grads`` over the ranks, as ``{key: array}``: views into one flat buffer, which
        the next call overwrites (the same arrays every time, so optimizers keep their fast path).

        One ``Allreduce`` of the whole buffer. Collective: every rank must call it at the same step.
        With one rank, ``grads`` is returned as it is."""
        if self.size == 1:
            return grads
        if self._flat is None:
            missing = [k for k in self.network.params if k not in grads]
            if missing:
                raise ValueError(f"DataParallel.average: grads has no entry for {missing}")
            self._layout(grads)
        t0 = time.perf_counter()
        views = self._views
        for k, v in views.items():
            np.copyto(v, grads[k])
        t1 = time.perf_counter()
        self.comm.Allreduce(self._MPI.IN_PLACE, self._flat, op=self._MPI.SUM)
        t2 = time.perf_counter()
        np.divide(self._flat, self.size, out=self._flat)
        self.pack_seconds += t1 - t0 + time.perf_counter() - t2
        self.allreduce_seconds += t2 - t1
        self.steps += 1
        return views

    def mean(self, value: float) -> float:
        """The mean of a number over the ranks (e.g. each slice's loss: equal slices give the batch's)."""
        if self.size == 1:
            return value
        buf = np.array([value], dtype=np.float64)
        self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)
        return type(value)(buf[0] / self.size) if isinstance(value, np.floating) else buf[0] / self.size

    def check(self, step: int | None = None) -> None:
        """Raise :class:`RanksDiverged` on every rank unless all ranks' parameters have the same sums
        (the sum and the sum of squares of each array, compared bit for bit). Collective."""
        if self.size == 1:
            return
        local = np.array(
            [s for p in self.network.params.values() for s in (np.sum(p), np.vdot(p, p))], np.float64
        )
        everyone = np.empty((self.size, local.size), np.float64)
        self.comm.Allgather(local, everyone)
        differ = [r for r in range(self.size) if not np.array_equal(everyone[r], everyone[0])]
        if differ:
            keys = list(self.network.params)
            row = everyone[differ[0]]
            which = sorted({keys[i // 2] for i in np.flatnonzero(row != everyone[0])})
            at = "" if step is None else f" after step {step}"
            raise RanksDiverged(
                f"parameters of ranks {differ} differ from rank 0's{at} (in {which}): the ranks no longer "
                "run the same update (different library builds, or a rank's state was changed)"
            )

    def close(self, goodbye: bool = True) -> None:
        """Stop the heartbeat. ``goodbye``: tell the peers this rank leaves on purpose, so they stop
        watching it (after a failure, pass False: the peers then notice the silence and exit instead
        of waiting for this rank forever). Idempotent."""
        if self._heart is not None:
            self._heart.stop(goodbye)
            self._heart = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(goodbye=exc_type is None)


class _Heartbeat:
    """A daemon thread: a byte to every peer each ``interval`` s on a duplicate of ``comm``; a peer
    silent for ``timeout`` s (and that did not say goodbye) ends this process with a message."""

    def __init__(self, comm, interval: float, timeout: float):
        self.comm = comm.Dup()  # its own communicator: beats never match the training's messages
        self.rank, self.interval, self.timeout = comm.Get_rank(), interval, timeout
        now = time.monotonic()
        self.last = {p: now for p in range(comm.Get_size()) if p != self.rank}
        self.done = threading.Event()
        self.sends = []
        self.thread = threading.Thread(target=self._run, name="fastbp-heartbeat", daemon=True)
        self.thread.start()
        # Stop before mpi4py finalizes MPI at exit (atexit runs last-registered first): no MPI call
        # after MPI_Finalize. No goodbye there: a rank leaving without close() may have failed.
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        if not self.done.is_set():
            self.stop(goodbye=False)

    def _send(self, tag: int) -> None:
        byte = np.zeros(1, np.uint8)
        self.sends += [(self.comm.Isend(byte, dest=p, tag=tag), byte) for p in self.last]
        self.sends = [(r, b) for r, b in self.sends if not r.Test()]

    def _drain(self) -> None:
        from mpi4py import MPI

        status, buf = MPI.Status(), np.empty(1, np.uint8)
        while self.comm.Iprobe(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=status):
            src, tag = status.Get_source(), status.Get_tag()
            self.comm.Recv(buf, source=src, tag=tag)
            if tag == _TAG_BYE:
                self.last.pop(src, None)  # left on purpose: no longer watched
            elif src in self.last:
                self.last[src] = time.monotonic()

    def _run(self) -> None:
        while not self.done.is_set():
            self._send(_TAG_BEAT)
            self._drain()
            now = time.monotonic()
            for peer, seen in self.last.items():
                if now - seen > self.timeout:
                    sys.stderr.write(
                        f"fastbp.distributed: rank {self.rank}: no heartbeat from rank {peer} for "
                        f"{now - seen:.0f} s: rank {peer} died or hangs; exiting with status "
                        f"{EXIT_PEER_LOST}\n"
                    )
                    sys.stderr.flush()
                    os._exit(EXIT_PEER_LOST)  # the main thread may be blocked inside MPI: end the process
            self.done.wait(self.interval)

    def stop(self, goodbye: bool) -> None:
        atexit.unregister(self._at_exit)
        self.done.set()
        self.thread.join()
        if goodbye:
            self._send(_TAG_BYE)
        deadline = time.monotonic() + 2.0  # small eager sends complete at once; never wait on the dead
        while self.sends and time.monotonic() < deadline:
            self.sends = [(r, b) for r, b in self.sends if not r.Test()]
            time.sleep(0.01)
        self._drain()
