"""The ``fastbp`` argument parser: subcommands, options and their defaults (shown by ``--help``)."""

from __future__ import annotations

import argparse

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
DEFAULT_LR = {
    "sgd": 0.1,
    "momentum": 0.05,
    "nesterov": 0.05,
    "adagrad": 0.05,
    "rmsprop": 0.001,
    "adam": 0.001,
}
NET_CHOICES = ["two-layer", "multi-layer", "multi-layer-extend", "simple-conv", "deep-conv"]
DEFAULT_EPOCHS = 20


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``fastbp train: error: ...`` (no usage block), status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` except where there is no meaningful default (None, False)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _data_options(p):
    p.add_argument(
        "--data",
        default="embedded",
        help="'embedded' (the subset shipped with fastbp), 'mnist' (full, downloaded into the user cache "
        "if needed) or an existing folder for the four MNIST .gz files",
    )
    p.add_argument("--no-download", action="store_true", help="never download MNIST")
    p.add_argument("--backend", choices=["fastbp", "numpy"], default="fastbp", help="layer implementation")


def build() -> argparse.ArgumentParser:
    """The parser; ``parser.subcommands`` maps each subcommand's name to its parser."""
    from .. import __version__

    parser = _Parser(prog="fastbp", description="Backpropagation of the book's networks, compiled.")
    parser.add_argument("--version", action="version", version=f"fastbp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.subcommands = {}

    def command(name, help):
        p = sub.add_parser(name, help=help, description=help, formatter_class=_Help)
        parser.subcommands[name] = p
        return p

    tr = command("train", "train a network of the book on MNIST and print per-epoch figures")
    tr.add_argument("--net", choices=NET_CHOICES, default="two-layer", help="the book's network")
    tr.add_argument("--hidden", help="hidden sizes, comma-separated (default: 100; deep-conv 50)")
    tr.add_argument(
        "--activation",
        choices=["relu", "sigmoid", "tanh", "leaky_relu"],
        help="multi-layer(-extend) only (default: relu)",
    )
    tr.add_argument(
        "--weight-init",
        help="a number, or for multi-layer(-extend) relu/he or sigmoid/xavier (default: the book's: "
        "0.01 for two-layer and simple-conv, relu for multi-layer(-extend))",
    )
    tr.add_argument("--weight-decay", type=float, help="L2 lambda, multi-layer(-extend) only (default: 0)")
    tr.add_argument("--dropout", type=float, metavar="RATIO", help="dropout ratio, multi-layer-extend only")
    tr.add_argument("--batch-norm", action="store_true", help="batch normalization, multi-layer-extend only")
    tr.add_argument("--epochs", type=int, help=f"epochs to train (default: {DEFAULT_EPOCHS})")
    tr.add_argument("--iterations", type=int, help="train this many steps instead of --epochs")
    tr.add_argument("--batch-size", type=int, default=100, help="samples per step")
    tr.add_argument(
        "--lr",
        type=float,
        help="learning rate (default: " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")",
    )
    tr.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="update rule")
    tr.add_argument(
        "--eval-samples",
        type=int,
        help="evaluate each epoch on the first N train and test samples only (default: all)",
    )
    tr.add_argument("--dtype", choices=["float64", "float32"], default="float64", help="float precision")
    _data_options(tr)
    tr.add_argument("--seed", type=int, default=0, help="seed of NumPy's global generator")
    tr.add_argument(
        "--save",
        metavar="PATH",
        help="save the trained network (.npz: its parameters and description, read by fastbp evaluate) "
        "and the training checkpoint PATH.ckpt (read by --resume)",
    )
    tr.add_argument(
        "--save-every",
        type=int,
        metavar="N",
        help="also write the training checkpoint PATH.ckpt (of --save PATH) every N steps",
    )
    tr.add_argument(
        "--resume",
        metavar="PATH",
        help="continue the run whose --save PATH wrote PATH.ckpt, to the same total of steps "
        "(give the same options otherwise)",
    )
    tr.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over MPI: mpiexec -n K fastbp train --distributed ...; --batch-size is the "
        "global batch (a multiple of K); rank 0 prints, evaluates and saves (needs fastbp[mpi])",
    )
    tr.add_argument("--plot", metavar="PNG", help="save learning curves (needs matplotlib)")
    tr.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (shown on a terminal when tqdm is installed)",
    )

    ev = command("evaluate", "print the test accuracy of a network saved by fastbp train --save")
    ev.add_argument("path", metavar="PATH", help="the .npz written by --save (it describes its network)")
    _data_options(ev)

    b = command("bench", "time fastbp against the NumPy reference and print the speedup table")
    b.add_argument("--kind", choices=["all", "op", "step"], default="all", help="what to time")
    b.add_argument("--batches", default="1,32,100,256,1000", help="batch sizes, comma-separated")
    b.add_argument(
        "--dtypes",
        default="float64,float32",
        help="dtypes, comma-separated: float64, float32, and mixed (steps: float32 input, float64 network)",
    )
    b.add_argument(
        "--data",
        default="mnist,uniform",
        help="step inputs, comma-separated: mnist (the shipped images), standardized (per-pixel mean 0, "
        "std 1: dense), uniform (noise in [0, 1): no zeros)",
    )
    b.add_argument(
        "--widths",
        default="book",
        help="step networks, comma-separated: book (two, multi, simple-conv, deep-conv), a hidden width "
        "(256: a ReLU MLP 784-256-10), widths x layers (256x3), sweep (32..1024 and 256x3), all",
    )
    b.add_argument("--match", default="", help="only groups whose name contains this text")
    b.add_argument(
        "--peers",
        action="store_true",
        help="also time the MLP steps in JAX (jit) and PyTorch (eager), one thread, where installed",
    )
    b.add_argument("--rounds", type=int, default=15, help="timing rounds per case (median reported)")
    b.add_argument(
        "--round-calls",
        type=int,
        default=1,
        help="calls of one implementation per round, at least (default 1: a round is ~2 ms of calls, so "
        "a slow step's round is its one call, which finds the caches holding the previous "
        "implementation's arrays; 10 times slow steps as a training loop runs them, back to back)",
    )
    b.add_argument("--json", metavar="PATH", help="save machine info, every case and the table as JSON")
    b.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    b.add_argument("--plot", metavar="PNG", help="a bar chart of the speedups (needs matplotlib)")
    b.add_argument("-v", "--verbose", action="store_true", help="print each group as it starts")

    w = command(
        "warmup",
        "compile every kernel for float32 and float64 into the on-disk cache, then measure the break-even "
        "points of this machine (fastbp.tuning) and store them beside the kernels",
    )
    w.add_argument("--no-measure", action="store_true", help="compile only: keep the thresholds as they are")
    w.add_argument(
        "--measure-seconds",
        type=float,
        default=30.0,
        help="time budget of the measurement (plus a few seconds of setup)",
    )

    g = command("gradcheck", "compare backprop and numerical gradients, as the book's ch05 check")
    g.add_argument("--input-size", type=int, default=784, help="TwoLayerNet input size")
    g.add_argument("--hidden-size", type=int, default=50, help="TwoLayerNet hidden size")
    g.add_argument("--output-size", type=int, default=10, help="TwoLayerNet output size")
    g.add_argument("--samples", type=int, default=3, help="random samples")
    g.add_argument("--seed", type=int, default=0, help="seed of NumPy's global generator")
    g.add_argument("--backend", choices=["fastbp", "numpy"], default="fastbp", help="layer implementation")
    g.add_argument("--tol", type=float, default=1e-8, help="largest mean difference that passes")
    return parser


def parse(argv) -> tuple[argparse.Namespace, set[str]]:
    """The arguments, and the names of the options the user gave (whatever their value).

    The second set comes from parsing ``argv`` again with every default suppressed: an option is in the
    namespace only if it was on the command line, which comparing values with defaults cannot tell
    (``--activation relu`` is the default value, yet given)."""
    args = build().parse_args(argv)
    bare = build()
    for p in bare.subcommands.values():
        for action in p._actions:
            if not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                action.default = argparse.SUPPRESS
    given = set(vars(bare.parse_args(argv))) - {"command"}
    return args, given


def option(name: str) -> str:
    """The command-line spelling of a namespace attribute: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")
