"""``fastbp train`` and ``fastbp evaluate``: the book's networks on MNIST, through :class:`Trainer`.

``fastbp train --save PATH`` writes the weights to PATH with ``net.save_params`` (an .npz that also
holds the network's description: its class and constructor arguments), so that ``fastbp evaluate
PATH`` rebuilds the network from the file alone (``fastbp.nets.load``). It also writes the training
checkpoint ``PATH.ckpt``, which ``--resume PATH`` continues; ``--distributed`` trains on every MPI
rank (``runs.py``).
"""

from __future__ import annotations

import math
import os
import time
from typing import NamedTuple

import numpy as np

from .. import _compiling, _interrupt
from . import checks, runs
from .checks import UsageError
from .parser import DEFAULT_EPOCHS, DEFAULT_LR, option

# net choice -> (class in fastbp.nets, the options it takes beyond the common ones)
NETS = {
    "two-layer": ("TwoLayerNet", {"hidden", "weight_init"}),
    "multi-layer": ("MultiLayerNet", {"hidden", "activation", "weight_init", "weight_decay"}),
    "multi-layer-extend": (
        "MultiLayerNetExtend",
        {"hidden", "activation", "weight_init", "weight_decay", "dropout", "batch_norm"},
    ),
    "simple-conv": ("SimpleConvNet", {"hidden", "weight_init"}),
    "deep-conv": ("DeepConvNet", {"hidden"}),
}
NET_OPTIONS = {"hidden", "activation", "weight_init", "weight_decay", "dropout", "batch_norm"}
CONV_NETS = {"simple-conv", "deep-conv"}
DESC_FORMAT = "fastbp-network"
MNIST_INPUT = (1, 28, 28)


def _pyplot():
    """matplotlib's pyplot on a file backend, or a UsageError saying how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib, which is not installed (pip install matplotlib)") from None
    return plt


def _weight_init(net: str, text: str | None):
    if text is None:
        return 0.01 if net in ("two-layer", "simple-conv") else "relu"
    try:
        value = float(text)
    except ValueError:
        if net in ("multi-layer", "multi-layer-extend") and text.lower() in (
            "relu",
            "he",
            "sigmoid",
            "xavier",
        ):
            return text
        raise UsageError(f"--weight-init for --net {net} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"--weight-init must be finite, got {text!r}")
    return value


def describe(args) -> dict:
    """The constructor arguments of the network ``args`` ask for (JSON-able), after checking them."""
    net = args.net
    hidden = checks.hidden_sizes(args.hidden or ("50" if net == "deep-conv" else "100"))
    if net not in ("multi-layer", "multi-layer-extend") and len(hidden) != 1:
        raise UsageError(f"--net {net} takes one hidden size, got --hidden {args.hidden!r}")
    image = net in CONV_NETS
    kw = {"input_dim": list(MNIST_INPUT)} if image else {"input_size": math.prod(MNIST_INPUT)}
    if net in ("two-layer", "simple-conv", "deep-conv"):
        kw["hidden_size"] = hidden[0]
    else:
        kw["hidden_size_list"] = hidden
    kw["output_size"] = 10
    if net != "deep-conv":
        kw["weight_init_std"] = _weight_init(net, args.weight_init)
    if net in ("multi-layer", "multi-layer-extend"):
        kw["activation"] = args.activation or "relu"
        kw["weight_decay_lambda"] = args.weight_decay or 0.0
    if net == "multi-layer-extend":
        kw["use_dropout"] = args.dropout is not None
        kw["dropout_ration"] = 0.5 if args.dropout is None else args.dropout  # the book's spelling
        kw["use_batchnorm"] = bool(args.batch_norm)
    return {
        "format": DESC_FORMAT,
        "version": 1,
        "net": net,
        "class": NETS[net][0],
        "args": kw,
        "dtype": args.dtype,
    }


def _estimated_bytes(desc: dict, batch: int) -> float:
    """Parameters (with gradients and two optimizer states) plus a batch's dense activations, roughly."""
    a, item = desc["args"], np.dtype(desc["dtype"]).itemsize
    hidden = a.get("hidden_size_list") or [a["hidden_size"]]
    if "input_size" in a:
        first = a["input_size"]
    else:  # the conv nets' first Affine takes the pooled feature maps (the book's default filters)
        first = 64 * 4 * 4 if desc["net"] == "deep-conv" else 30 * 12 * 12
    sizes = [first, *hidden, a["output_size"]]
    params = sum(sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))
    return item * (4 * params + 3 * batch * sum(sizes))


def build_net(desc: dict, backend: str):
    """The network ``desc`` describes (a UsageError if the arguments are refused)."""
    from .. import nets

    kw = dict(desc["args"])
    if "input_dim" in kw:
        kw["input_dim"] = tuple(kw["input_dim"])
    cls = getattr(nets, desc["class"])
    try:
        return cls(**kw, dtype=desc["dtype"], backend=backend)
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from None


def check_train_args(args, given: set[str]) -> dict:
    """Every check that needs no data: returns the network's description."""
    not_taken = sorted((given & NET_OPTIONS) - NETS[args.net][1])
    if not_taken:
        raise UsageError(f"--net {args.net} does not take {', '.join(option(n) for n in not_taken)}")
    if "epochs" in given and "iterations" in given:
        raise UsageError("give --epochs or --iterations, not both")
    checks.positive("--epochs", args.epochs, integer=True)
    checks.positive("--iterations", args.iterations, integer=True)
    checks.positive("--batch-size", args.batch_size, integer=True)
    checks.positive("--eval-samples", args.eval_samples, integer=True)
    checks.positive("--lr", args.lr)
    checks.in_range("--weight-decay", args.weight_decay, 0, math.inf, high_open=True)
    checks.in_range("--dropout", args.dropout, 0, 1, high_open=True)
    checks.in_range("--seed", args.seed, 0, 2**32 - 1)
    if args.batch_size > checks.MNIST_TRAIN_SIZE:
        raise UsageError(
            f"--batch-size {args.batch_size} is larger than any training set here "
            f"({checks.MNIST_TRAIN_SIZE} images at most)"
        )
    if args.net in CONV_NETS and args.eval_samples is not None and args.eval_samples % 100:
        # the book's conv accuracy counts whole batches of 100 only (and divides by N)
        raise UsageError(
            f"--eval-samples for --net {args.net} must be a multiple of 100, got {args.eval_samples}"
        )
    desc = describe(args)
    checks.memory(f"--net {args.net} --hidden {args.hidden}", _estimated_bytes(desc, args.batch_size))
    checks.output_file("--save", args.save)
    checks.output_file("--plot", args.plot)
    checks.data_spec(args.data)
    return desc


def load_data(spec: str, download: bool, flatten: bool):
    """``(name, ((x_train, t_train), (x_test, t_test)))`` for ``--data``."""
    from .. import data

    if spec == "embedded":
        return "embedded MNIST subset", data.load_embedded_mnist(flatten=flatten)
    if spec == "mnist":
        return "MNIST", data.load_mnist(flatten=flatten, download=download)
    return f"MNIST from {spec}", data.load_mnist(flatten=flatten, data_dir=spec, download=download)


class Row(NamedTuple):
    """One printed line of the table: an evaluation and the steps since the previous one."""

    epoch: float  # epochs done (fractional when --iterations stops inside an epoch)
    loss: float  # mean training loss over the steps
    train_acc: float
    test_acc: float
    seconds_per_epoch: float  # steady: the first step (compilation) is left out and reported apart
    samples_per_second: float

    def line(self) -> str:
        if math.isnan(self.seconds_per_epoch):  # the first step alone: its time is reported apart
            timing = f"{'-':>8} {'-':>10}"
        else:
            timing = f"{self.seconds_per_epoch:>8.3f} {self.samples_per_second:>10.0f}"
        return f"{self.epoch:>6.4g} {self.loss:>8.4f} {self.train_acc:>9.4f} {self.test_acc:>8.4f} {timing}"


def _row(trainer, rec: dict, prev_steps: int, first: bool) -> Row:
    done = rec["iteration"] + 1
    steps, seconds = rec["steps"], rec["seconds"]
    if first:  # this interval holds the first step
        steps, seconds = steps - 1, seconds - trainer.first_step_seconds
    ok = steps > 0 and seconds > 0
    return Row(
        epoch=done / trainer.iter_per_epoch,
        loss=float(np.mean(trainer.train_loss_list[prev_steps:done])),
        train_acc=rec["train_acc"],
        test_acc=rec["test_acc"],
        seconds_per_epoch=seconds / steps * trainer.iter_per_epoch if ok else math.nan,
        samples_per_second=steps * trainer.batch_size / seconds if ok else math.nan,
    )


def run_train(args, given: set[str]) -> int:
    """``fastbp train``: check everything, load the data, train with Trainer, report, save."""
    from ..trainer import OPTIMIZERS as OPT_CLASSES
    from ..trainer import Trainer

    desc = check_train_args(args, given)
    runs.check_options(args)
    comm, rank, size = runs.world(args)
    say = print if rank == 0 else runs.silent  # rank 0 alone prints
    plt = _pyplot() if args.plot else None
    t0 = time.perf_counter()
    name, ((x_train, t_train), (x_test, t_test)) = load_data(
        args.data, not args.no_download, flatten=args.net not in CONV_NETS
    )
    load_s = time.perf_counter() - t0
    n = x_train.shape[0]
    if args.batch_size > n:
        raise UsageError(f"--batch-size {args.batch_size} is larger than the training set ({n} images)")
    np.random.seed(args.seed)
    net = build_net(desc, args.backend)
    lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    hidden = desc["args"].get("hidden_size_list") or [desc["args"]["hidden_size"]]
    extras = [f"dropout {args.dropout:g}"] if args.dropout is not None else []
    extras += ["batch norm"] if args.batch_norm else []
    say(
        f"{desc['class']} {'x'.join(map(str, x_train.shape[1:]))}-{'-'.join(map(str, hidden))}-10"
        f"{''.join(', ' + e for e in extras)}, {args.optimizer} lr {lr:g}, batch {args.batch_size}, "
        f"{args.dtype}, backend {args.backend}; {name}: {n} train / {x_test.shape[0]} test "
        f"(loaded in {load_s:.2f} s)"
    )
    rows, seen, start = [], [0], 0

    def report(rec):
        row = _row(trainer, rec, seen[0], seen[0] == start)
        seen[0] = rec["iteration"] + 1
        rows.append(row)
        trainer.write(row.line())

    trainer = Trainer(
        net,
        x_train,
        t_train,
        x_test,
        t_test,
        epochs=args.epochs or DEFAULT_EPOCHS,
        mini_batch_size=args.batch_size,
        optimizer=OPT_CLASSES[args.optimizer](lr=lr),
        evaluate_sample_num_per_epoch=args.eval_samples,
        verbose=False,
        progress=False if args.no_progress else None,
        callback=report,
        iterations=args.iterations,
        evaluate_at="epoch_end",
        check_finite=True,
        comm=comm,
        checkpoint=runs.checkpoint_path(args.save) if args.save else None,
        checkpoint_every=args.save_every,
    )
    trainer.checkpoint_meta = runs.identity(args, desc, lr, trainer.max_iter, name)
    if comm is not None:
        runs.say_ranks(comm, say, args.batch_size)
    if args.resume:
        path = runs.resume_path(args.resume)
        try:
            stored = trainer.resume(path)
        except (OSError, ValueError) as e:
            raise runs.quiet(UsageError(str(e)), rank) from None
        try:
            runs.check_same_run(stored, trainer.checkpoint_meta, path)
        except UsageError as e:
            raise runs.quiet(e, rank) from None
        say(f"resumed from {path} after step {trainer.current_iter} of {trainer.max_iter}")
    start = seen[0] = trainer.current_iter
    say(f"{'epoch':>6} {'loss':>8} {'train acc':>9} {'test acc':>8} {'s/epoch':>8} {'samples/s':>10}")
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is reported below
            test_acc = trainer.train()
    except BaseException as e:
        # (a Ctrl-C, or a failure it caused: Numba's state after one it swallowed, fastbp._interrupt)
        if isinstance(e, KeyboardInterrupt) or (isinstance(e, Exception) and _interrupt.seen()):
            say(f"interrupted after {trainer.current_iter} of {trainer.max_iter} steps", flush=True)
        raise
    if rank != 0:
        return 0
    first = trainer.first_step_seconds or 0.0  # (None: resumed at the end, no step left)
    steady = trainer.train_seconds - first
    later = trainer.max_iter - start - 1
    timing = f"first step (compilation) {first:.2f} s"
    if later > 0 and steady > 0:
        timing += (
            f", then {steady / later * trainer.iter_per_epoch:.3f} s/epoch, "
            f"{later * trainer.batch_size / steady:.0f} samples/s"
        )
    compiled = _compiling.stats()
    if compiled.kernels:  # a cold kernel cache: say how long compiling took, apart from the steps
        timing += f"; {compiled.kernels} kernel versions compiled in {compiled.seconds:.1f} s"
    print(
        f"final test accuracy {test_acc:.4f}; {trainer.max_iter - start} step{'s' if later else ''}: {timing}"
    )
    if args.save:
        net.save_params(args.save)  # (with the network's description: fastbp evaluate needs nothing else)
        print(
            f"saved the network to {args.save} and the training checkpoint to "
            f"{runs.checkpoint_path(args.save)}"
        )
    if plt is not None:
        _plot(plt, rows, args.plot)
        print(f"saved learning curves to {args.plot}")
    return 0


def _plot(plt, rows, path):
    epochs = [r.epoch for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [r.loss for r in rows])
    ax1.set(xlabel="epoch", ylabel="training loss")
    ax2.plot(epochs, [r.train_acc for r in rows], label="train")
    ax2.plot(epochs, [r.test_acc for r in rows], label="test")
    ax2.set(xlabel="epoch", ylabel="accuracy")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_evaluate(args, given: set[str]) -> int:
    """``fastbp evaluate PATH``: rebuild the saved network, load its weights, print its test accuracy."""
    from .. import nets

    if not os.path.isfile(args.path):
        raise UsageError(f"{args.path!r}: no such file")
    checks.data_spec(args.data)
    try:
        net = nets.load(args.path, backend=args.backend)
    except (ValueError, OSError) as e:
        raise UsageError(f"{e} (save networks with fastbp train --save)") from None
    flat = type(net).__name__ not in ("SimpleConvNet", "DeepConvNet")
    name, (_, (x_test, t_test)) = load_data(args.data, not args.no_download, flat)
    acc = net.accuracy(x_test, t_test)
    print(
        f"{type(net).__name__} from {args.path}: test accuracy {acc:.4f} on {x_test.shape[0]} images ({name})"
    )
    return 0
