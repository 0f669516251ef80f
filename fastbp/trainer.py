"""The book's ``Trainer`` (``common/trainer.py``): mini-batch training with per-epoch evaluation.

Same constructor, defaults, attributes, printed lines and random draws as the book's, so a chapter 6-8
script gives the same numbers. Beyond the book, all keyword-only and off by default unless noted:

- ``progress``: a tqdm bar on an interactive terminal (the default, when tqdm is installed);
  ``False`` turns it off, ``True`` forces it.
- ``callback``: called after each evaluation with a dict of the epoch's figures (also kept in
  ``history``).
- ``iterations``: train exactly this many steps instead of ``epochs * iter_per_epoch``.
- ``evaluate_at``: ``"book"`` evaluates after step 0 and then every ``iter_per_epoch`` steps, as the
  book does; ``"epoch_end"`` evaluates when a whole epoch of samples has been drawn, and after the last
  step, so that each record covers the epoch before it.
- ``check_finite``: raise :class:`TrainingDiverged` as soon as a step's loss is NaN or infinite.
- ``comm``: an mpi4py communicator: data-parallel training (:mod:`fastbp.distributed`). Every rank
  constructs the Trainer alike; ``mini_batch_size`` is the global batch (a multiple of the number of
  ranks), each rank computes the gradient of its slice, one allreduce averages them, and every rank
  takes the same step. Rank 0's parameters and ``np.random`` state are broadcast first, so every rank
  draws the same batches. Rank 0 alone prints and evaluates; ``check_every`` steps apart the ranks
  compare parameter checksums (:class:`fastbp.distributed.RanksDiverged`).
- ``checkpoint``, ``checkpoint_every``: write a training checkpoint (:mod:`fastbp.train_state`) to
  ``checkpoint`` every ``checkpoint_every`` steps and at the end of ``train``; ``checkpoint_meta``
  is stored with it. :meth:`Trainer.resume` reads one and makes ``train`` continue to ``max_iter``
  with the same draws, ending with the parameters of the uninterrupted run. Rank 0 writes.

``first_step_seconds`` (the first step: Numba compiles the kernels there on a cold cache) and
``train_seconds`` (all steps, evaluations excluded) time the run.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from . import _threads
from . import optimizer as _optimizer
from . import train_state as _state

__all__ = ["Trainer", "TrainingDiverged"]

EVALUATE_AT = ("book", "epoch_end")


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite (``Trainer(..., check_finite=True)``)."""


OPTIMIZERS = {
    "sgd": _optimizer.SGD,
    "momentum": _optimizer.Momentum,
    "nesterov": _optimizer.Nesterov,
    "adagrad": _optimizer.AdaGrad,
    "rmsprop": _optimizer.RMSprop,
    "adam": _optimizer.Adam,
}


def _progress_bar(total, enabled):
    """A tqdm bar when asked for (None: when stderr is a terminal) and tqdm is importable, else None."""
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="step", leave=False, dynamic_ncols=True)


class Trainer:
    """Trains ``network`` with ``optimizer`` on (x_train, t_train), evaluating once per epoch.

    The network is duck-typed as in the book: ``params``, ``gradient(x, t)``, ``loss(x, t)``,
    ``accuracy(x, t)``. ``optimizer`` names one of sgd, momentum, nesterov, adagrad, rmsprop, adam
    (any case), built with ``optimizer_param``; an optimizer object is accepted too. Each step draws
    ``np.random.choice(train_size, mini_batch_size)`` (with replacement), updates, then computes the
    loss again on the same batch and records it, as the book does. Every ``iter_per_epoch`` steps
    (a float, as in the book; first after step 0) it evaluates the accuracy on the train and test sets,
    or on their first ``evaluate_sample_num_per_epoch`` samples.
    """

    def __init__(
        self,
        network,
        x_train,
        t_train,
        x_test,
        t_test,
        epochs=20,
        mini_batch_size=100,
        optimizer="SGD",
        optimizer_param=None,
        evaluate_sample_num_per_epoch=None,
        verbose=True,
        *,
        progress=None,
        callback=None,
        iterations=None,
        evaluate_at="book",
        check_finite=False,
        comm=None,
        check_every=100,
        checkpoint=None,
        checkpoint_every=None,
        checkpoint_meta=None,
    ):
        where = "Trainer"
        for name in ("params", "gradient", "loss", "accuracy"):
            if not hasattr(network, name):
                raise TypeError(
                    f"{where}: network has no {name!r} (it needs params, gradient, loss, accuracy)"
                )
        if len(x_train) != len(t_train) or len(x_test) != len(t_test):
            raise ValueError(
                f"{where}: x and t lengths differ: train {len(x_train)} vs {len(t_train)}, "
                f"test {len(x_test)} vs {len(t_test)}"
            )
        if len(x_train) == 0:
            raise ValueError(f"{where}: x_train holds no samples")
        for name, v in (("epochs", epochs), ("mini_batch_size", mini_batch_size)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{where}: {name} must be a positive integer, got {v!r}")
        if iterations is not None and (
            isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1
        ):
            raise ValueError(f"{where}: iterations must be None or a positive integer, got {iterations!r}")
        for name, v in (("check_every", check_every), ("checkpoint_every", checkpoint_every)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise ValueError(f"{where}: {name} must be None or a positive integer, got {v!r}")
        if checkpoint_every is not None and checkpoint is None:
            raise ValueError(f"{where}: checkpoint_every needs checkpoint (the file to write)")
        if checkpoint is not None and not isinstance(checkpoint, (str, bytes, os.PathLike)):
            raise TypeError(f"{where}: checkpoint must be a path, got {type(checkpoint).__name__}")
        if evaluate_at not in EVALUATE_AT:
            raise ValueError(f"{where}: evaluate_at must be one of {EVALUATE_AT}, got {evaluate_at!r}")
        k = evaluate_sample_num_per_epoch
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
            raise ValueError(
                f"{where}: evaluate_sample_num_per_epoch must be None or a positive integer, got {k!r}"
            )
        self.rank, self.size, self.parallel = 0, 1, None
        # fastbp's networks take the step in one call (train_step); a network of the user's is only
        # duck-typed (its module is loaded if it is one of fastbp's)
        net_cls = getattr(sys.modules.get("fastbp.nets.network"), "Network", None)
        self._one_call = net_cls is not None and isinstance(network, net_cls)
        if comm is not None:
            from . import distributed

            MPI = distributed.require_mpi(where)
            if not isinstance(comm, MPI.Comm):
                raise TypeError(f"{where}: comm must be an mpi4py communicator, got {type(comm).__name__}")
            distributed.check_batch(mini_batch_size, comm.Get_size(), where)
        _threads.ensure_applied()  # fastbp's thread setting (one BLAS thread), if no network applied it yet
        self.network = network
        self.verbose = verbose
        self.x_train, self.t_train = x_train, t_train
        self.x_test, self.t_test = x_test, t_test
        self.epochs = epochs
        self.batch_size = mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch

        if isinstance(optimizer, str):
            cls = OPTIMIZERS.get(optimizer.lower())
            if cls is None:
                raise ValueError(f"{where}: optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
            self.optimizer = cls(**({"lr": 0.01} if optimizer_param is None else optimizer_param))
        elif hasattr(optimizer, "update"):
            self.optimizer = optimizer
        else:
            raise TypeError(f"{where}: optimizer must be a name or an object with update(params, grads)")

        self.train_size = x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch) if iterations is None else int(iterations)
        self.current_iter = 0
        self.current_epoch = 0
        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []
        self.history = []
        self.progress = progress
        self.callback = callback
        self.evaluate_at = evaluate_at
        self.check_finite = check_finite
        self.first_step_seconds = None
        self.train_seconds = 0.0
        self._bar = None
        self._epoch_start = time.perf_counter()
        self._epoch_iter = 0
        self._remaining = None
        self.check_every = check_every
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.checkpoint_meta = checkpoint_meta
        if comm is not None:  # last: a collective, after every check that could refuse on one rank only
            from .distributed import DataParallel

            self.parallel = DataParallel(network, comm)
            self.rank, self.size = self.parallel.rank, self.parallel.size
            np.random.set_state(comm.bcast(np.random.get_state(), root=0))  # the same batches everywhere

    def _say(self, line: str):
        if self.verbose and self.rank == 0:
            self.write(line)

    def write(self, line: str):
        """Print ``line`` on stdout, through the progress bar while it is shown (so it does not tear it)."""
        if self._bar is not None:
            self._bar.write(line)
        else:
            print(line)

    def _epochs_done(self, steps: int) -> int:
        """Whole epochs in ``steps`` steps, in integers (as floats, 10 / (200 / 60) is 2.99...)."""
        if self.batch_size >= self.train_size:  # iter_per_epoch is clamped to 1
            return steps
        return steps * self.batch_size // self.train_size

    def _evaluation_due(self) -> bool:
        if self.evaluate_at == "book":
            return self.current_iter % self.iter_per_epoch == 0  # the book's float modulus
        done = self.current_iter + 1
        return done == self.max_iter or self._epochs_done(done) > self._epochs_done(done - 1)

    def train_step(self):
        """One mini-batch step; evaluates and prints when an epoch boundary is reached."""
        start = time.perf_counter()
        batch_mask = np.random.choice(self.train_size, self.batch_size)
        dp = self.parallel
        if dp is not None:  # this rank's slice of the global batch
            batch_mask = batch_mask[self.rank * self._local : (self.rank + 1) * self._local]
        x_batch = self.x_train[batch_mask]
        t_batch = self.t_train[batch_mask]

        if self._one_call and dp is None:  # a fastbp network: one call (SGD may fold into it)
            self.network.train_step(x_batch, t_batch, self.optimizer)
        else:
            grads = self.network.gradient(x_batch, t_batch)
            if dp is not None:
                grads = dp.average(grads)
            self.optimizer.update(self.network.params, grads)

        loss = self.network.loss(x_batch, t_batch)
        if dp is not None:
            loss = dp.mean(loss)  # equal slices: the mean of their losses is the global batch's
        seconds = time.perf_counter() - start
        if self.first_step_seconds is None:
            self.first_step_seconds = seconds
        self.train_seconds += seconds
        self.train_loss_list.append(loss)
        self._say("train loss:" + str(loss))
        if self.check_finite and not np.isfinite(loss):
            raise TrainingDiverged(
                f"training diverged: the loss is {float(loss)} at step {self.current_iter + 1} "
                "(a smaller learning rate may help)"
            )

        if self._evaluation_due():
            if self.rank == 0:
                self._evaluate(loss)
            else:
                self.current_epoch += 1
        self.current_iter += 1
        if dp is not None and self.check_every and self.current_iter % self.check_every == 0:
            dp.check(self.current_iter)
        if self.checkpoint_every and self.current_iter % self.checkpoint_every == 0:
            self.save_checkpoint()
        if self._bar is not None:
            self._bar.update(1)

    @property
    def _local(self) -> int:
        return self.batch_size // self.size

    def save_checkpoint(self, path=None):
        """Write the training state (parameters, optimizer state, counters, lists, the global
        generator's state) to ``path`` (default: the ``checkpoint`` given), atomically; rank 0 only."""
        path = self.checkpoint if path is None else path
        if path is None:
            raise ValueError("Trainer.save_checkpoint: path is None and the trainer has no checkpoint")
        if self.rank == 0:
            _state.save(path, self, self.checkpoint_meta)

    def resume(self, path):
        """Continue from the checkpoint at ``path``: ``train`` then runs the remaining steps up to
        ``max_iter``. Returns the ``checkpoint_meta`` stored with it. Collective with ``comm``: rank 0
        reads the file and sends it to the others; every rank raises the same error if it is refused."""
        where = "Trainer.resume"
        got = err = None
        if self.rank == 0:
            try:
                got = _state.read(path, where)
            except (OSError, ValueError) as e:
                err = e
        if self.parallel is not None:
            got, err = self.parallel.comm.bcast((got, err), root=0)
        if err is not None:
            raise err
        meta, arrays = got
        if meta["iteration"] > self.max_iter:
            raise ValueError(
                f"{where}: the checkpoint is at step {meta['iteration']}, past this run's {self.max_iter}"
            )
        _state.apply(self, meta, arrays, where)
        self._remaining = self.max_iter - self.current_iter
        return meta["user"]

    def _evaluate(self, loss):
        seconds = time.perf_counter() - self._epoch_start
        steps = self.current_iter + 1 - self._epoch_iter
        self.current_epoch += 1
        k = self.evaluate_sample_num_per_epoch
        x_tr, t_tr, x_te, t_te = self.x_train, self.t_train, self.x_test, self.t_test
        if k is not None:
            x_tr, t_tr, x_te, t_te = x_tr[:k], t_tr[:k], x_te[:k], t_te[:k]
        train_acc = self.network.accuracy(x_tr, t_tr)
        test_acc = self.network.accuracy(x_te, t_te)
        self.train_acc_list.append(train_acc)
        self.test_acc_list.append(test_acc)
        self._say(f"=== epoch:{self.current_epoch}, train acc:{train_acc}, test acc:{test_acc} ===")
        record = {
            "epoch": self.current_epoch,
            "iteration": self.current_iter,
            "steps": steps,  # the steps since the previous evaluation
            "loss": float(loss),
            "train_acc": float(train_acc),
            "test_acc": float(test_acc),
            "seconds": seconds,  # training time since the previous evaluation (evaluation excluded)
            "samples_per_second": steps * self.batch_size / seconds if seconds > 0 else float("inf"),
        }
        self.history.append(record)
        if self.callback is not None:
            self.callback(record)
        self._epoch_start = time.perf_counter()
        self._epoch_iter = self.current_iter + 1

    def train(self):
        """``max_iter`` steps (after :meth:`resume`: the remaining ones), then the final accuracy on the
        whole test set (rank 0; other ranks return None)."""
        self._bar = _progress_bar(self.max_iter, self.progress)
        self._epoch_start = time.perf_counter()
        self._epoch_iter = self.current_iter
        steps = self.max_iter if self._remaining is None else self._remaining
        self._remaining = None
        dp = self.parallel
        if dp is not None:
            dp.watch()
        ok = False
        try:
            for _ in range(steps):
                self.train_step()
            if self.checkpoint is not None and not (
                self.checkpoint_every and self.current_iter % self.checkpoint_every == 0
            ):
                self.save_checkpoint()
            ok = True
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            if dp is not None:  # after a failure no goodbye: the peers notice and exit, not hang
                dp.close(goodbye=ok)
        if self.rank != 0:
            self.final_test_acc = None
            return None
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        self.final_test_acc = test_acc
        self._say("=============== Final Test Accuracy ===============")
        self._say("test acc:" + str(test_acc))
        return test_acc
