"""The ``fastbp`` command line.

``fastbp train``: train a network of the book on MNIST (the embedded subset by default) and print
per-epoch loss, accuracies, seconds per epoch and samples per second.
``fastbp gradcheck``: the book's chapter 5 gradient check -- the mean absolute difference between
backpropagated and numerical gradients, per parameter of a TwoLayerNet, on a few samples.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
DEFAULT_LR = {
    "sgd": 0.1,
    "momentum": 0.05,
    "nesterov": 0.05,
    "adagrad": 0.05,
    "rmsprop": 0.001,
    "adam": 0.001,
}


class UsageError(Exception):
    """A command-line argument that cannot work; reported in one line, exit status 2."""


def _pyplot():
    """matplotlib's pyplot on a file backend, or a UsageError saying how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib, which is not installed (pip install matplotlib)") from None
    return plt


def _gradcheck(args) -> int:
    from .nets import TwoLayerNet

    np.random.seed(args.seed)
    x = np.random.rand(args.samples, args.input_size).astype(np.float32)  # MNIST-like pixels in [0, 1]
    t = np.random.randint(0, args.output_size, args.samples).astype(np.uint8)
    net = TwoLayerNet(args.input_size, args.hidden_size, args.output_size, backend=args.backend)
    numerical = net.numerical_gradient(x, t)
    backprop = net.gradient(x, t)
    print(
        f"TwoLayerNet({args.input_size}, {args.hidden_size}, {args.output_size}), "
        f"{args.samples} samples, backend {args.backend}: mean |backprop - numerical|"
    )
    worst = 0.0
    for key in numerical:
        diff = float(np.mean(np.abs(backprop[key] - numerical[key])))
        worst = max(worst, diff)
        print(f"{key}:{diff:.3g}")
    ok = worst < args.tol
    print("OK" if ok else f"FAILED: a difference exceeds {args.tol:g}")
    return 0 if ok else 1


def _load_data(spec: str, download: bool):
    from . import data

    if spec == "embedded":
        return "embedded MNIST subset", data.load_embedded_mnist()
    if spec == "mnist":
        return "MNIST", data.load_mnist(download=download)
    return f"MNIST from {spec}", data.load_mnist(data_dir=spec, download=download)


def _hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--hidden must be comma-separated positive integers, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise UsageError(f"--hidden must be comma-separated positive integers, got {text!r}")
    return sizes


def _build_net(args, input_size, output_size):
    from .nets import MultiLayerNet, TwoLayerNet

    hidden = _hidden_sizes(args.hidden)
    common = dict(dtype=args.dtype, backend=args.backend)
    if args.net == "two-layer":
        if len(hidden) != 1:
            raise UsageError(f"--net two-layer takes one hidden size, got {args.hidden!r}")
        std = 0.01 if args.weight_init is None else _init_arg(args.weight_init)
        return TwoLayerNet(input_size, hidden[0], output_size, std, **common)
    init = "relu" if args.weight_init is None else _init_arg(args.weight_init)
    return MultiLayerNet(input_size, hidden, output_size, args.activation, init, args.weight_decay, **common)


def _init_arg(text):
    try:
        return float(text)
    except ValueError:
        return text


def _train(args) -> int:
    from .trainer import OPTIMIZERS as OPT_CLASSES

    plt = _pyplot() if args.plot else None
    t0 = time.perf_counter()
    name, ((x_train, t_train), (x_test, t_test)) = _load_data(args.data, not args.no_download)
    load_s = time.perf_counter() - t0
    np.random.seed(args.seed)
    net = _build_net(args, x_train.shape[1], int(t_train.max()) + 1)
    lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    opt = OPT_CLASSES[args.optimizer](lr=lr)
    n = x_train.shape[0]
    steps = max(n // args.batch_size, 1)
    print(
        f"{type(net).__name__} {x_train.shape[1]}-{args.hidden.replace(',', '-')}-{net.output_size}, "
        f"{args.optimizer} lr {lr:g}, batch {args.batch_size}, {args.dtype}, backend {args.backend}; "
        f"{name}: {n} train / {x_test.shape[0]} test (loaded in {load_s:.2f} s)"
    )
    print(f"{'epoch':>5} {'loss':>8} {'train acc':>9} {'test acc':>8} {'s/epoch':>8} {'samples/s':>10}")
    history = []
    total_steps = args.iterations if args.iterations else args.epochs * steps
    loss_sum, done, start = 0.0, 0, time.perf_counter()
    for step in range(1, total_steps + 1):
        idx = np.random.choice(n, args.batch_size)  # with replacement, as the book's Trainer
        grads = net.gradient(x_train[idx], t_train[idx])
        opt.update(net.params, grads)
        loss_sum += float(net.loss_layer.loss)
        done += 1
        if step % steps == 0 or step == total_steps:  # an epoch (or the run) is complete: evaluate
            seconds = time.perf_counter() - start
            train_acc = net.accuracy(x_train, t_train)
            test_acc = net.accuracy(x_test, t_test)
            row = (
                step / steps,
                loss_sum / done,
                train_acc,
                test_acc,
                seconds,
                done * args.batch_size / seconds,
            )
            history.append(row)
            print(
                f"{row[0]:>5.4g} {row[1]:>8.4f} {row[2]:>9.4f} {row[3]:>8.4f} {row[4]:>8.3f} {row[5]:>10.0f}"
            )
            loss_sum, done, start = 0.0, 0, time.perf_counter()
    total = sum(r[4] for r in history)
    per_epoch = total / history[-1][0]
    print(
        f"final test accuracy {history[-1][3]:.4f}; {total_steps} steps, training {total:.2f} s "
        f"({per_epoch:.3f} s/epoch)"
    )
    if args.save:
        net.save_params(args.save)
        print(f"saved parameters to {args.save}")
    if args.plot:
        epochs = [r[0] for r in history]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        ax1.plot(epochs, [r[1] for r in history])
        ax1.set(xlabel="epoch", ylabel="training loss")
        ax2.plot(epochs, [r[2] for r in history], label="train")
        ax2.plot(epochs, [r[3] for r in history], label="test")
        ax2.set(xlabel="epoch", ylabel="accuracy")
        ax2.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        plt.close(fig)
        print(f"saved learning curves to {args.plot}")
    return 0


def _bench(args) -> int:
    import json

    from . import benchmarks as B

    plt = _pyplot() if args.plot else None
    kinds = ("op", "step") if args.kind == "all" else (args.kind,)
    try:
        batches = tuple(int(b) for b in args.batches.split(","))
    except ValueError:
        raise UsageError(f"--batches must be comma-separated integers, got {args.batches!r}") from None
    dtypes = tuple(args.dtypes.split(","))
    if not set(dtypes) <= set(B.DTYPES) or min(batches) < 1:
        raise UsageError(
            f"--dtypes must be among {B.DTYPES} and --batches positive, got {args.dtypes}, {args.batches}"
        )
    selected = [c for c in B.cases(kinds, batches, dtypes) if args.match in c.group]
    if not selected:
        raise UsageError(f"no benchmark group matches {args.match!r}")
    info = B.machine()
    print(" ".join(f"{k}={v}" for k, v in info.items()))

    def progress(i, n, group):
        print(f"[{i + 1}/{n}] {group}", file=sys.stderr, flush=True)

    results = B.run(selected, rounds=args.rounds, progress=progress if args.verbose else None)
    rows = B.table(results)
    print(B.format_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "results": results, "table": rows}, f, indent=1)
        print(f"saved {args.json}")
    if args.plot:
        fig, ax = plt.subplots(figsize=(10, max(3, 0.22 * len(rows))))
        ax.barh([r["group"] for r in rows], [r.get("speedup", 0) for r in rows])
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set(xlabel="speedup over the NumPy reference (median)")
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=6)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        plt.close(fig)
        print(f"saved {args.plot}")
    return 0


def _warmup(args) -> int:
    """Compile (and cache on disk) the kernels of the networks, layers and optimizers, both dtypes."""
    from . import layers as L
    from .nets import MultiLayerNet, TwoLayerNet
    from .trainer import OPTIMIZERS as OPT_CLASSES

    t0 = time.perf_counter()
    r = np.random.default_rng(0)
    for dtype in ("float64", "float32"):
        for n in (1, 32):  # the small-batch step and the BLAS path
            t = r.integers(0, 4, n).astype(np.uint8)
            x = r.random((n, 784)).astype(np.float32)
            x[r.random(x.shape) < 0.8] = 0  # mostly zeros, as MNIST: the first layer's CSR path
            for net in (
                TwoLayerNet(784, 50, 4, dtype=dtype),  # the CSR widths: 50 and 100
                MultiLayerNet(784, [100, 6], 4, dtype=dtype),
                MultiLayerNet(784, [6, 5], 4, activation="sigmoid", weight_decay_lambda=0.1, dtype=dtype),
            ):
                grads = net.gradient(x, t)
                net.gradient(x, np.eye(4, dtype=dtype)[t])
                for cls in OPT_CLASSES.values():
                    opt = cls()
                    opt.update(net.params, grads)
                    opt.update(net.params, grads)  # the same arrays again: the one-call update
        for layer in (L.Tanh(), L.LeakyRelu(), L.Sigmoid(), L.Relu()):
            layer.backward(np.ones((2, 3), dtype) * layer.forward(np.ones((2, 3), dtype)))
    print(f"compiled and cached in {time.perf_counter() - t0:.1f} s")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastbp", description="Backpropagation of the book's networks, compiled."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    tr = sub.add_parser("train", help="train a network on MNIST and print per-epoch figures")
    tr.add_argument("--net", choices=["two-layer", "multi-layer"], default="two-layer")
    tr.add_argument("--hidden", default="100", help="hidden sizes, comma-separated (default 100)")
    tr.add_argument(
        "--activation",
        choices=["relu", "sigmoid", "tanh", "leaky_relu"],
        default="relu",
        help="multi-layer only",
    )
    tr.add_argument(
        "--weight-init",
        default=None,
        help="a number, relu/he or sigmoid/xavier (default: the book's, 0.01 or relu)",
    )
    tr.add_argument("--weight-decay", type=float, default=0.0, help="L2 lambda (multi-layer)")
    tr.add_argument("--epochs", type=int, default=20)
    tr.add_argument("--iterations", type=int, default=None, help="train this many steps instead of --epochs")
    tr.add_argument("--batch-size", type=int, default=100)
    tr.add_argument("--lr", type=float, default=None, help="learning rate (default depends on the optimizer)")
    tr.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    tr.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    tr.add_argument("--backend", choices=["fastbp", "numpy"], default="fastbp")
    tr.add_argument(
        "--data",
        default="embedded",
        help="'embedded' (shipped subset), 'mnist' (full, downloaded if needed) or a directory of the "
        "four MNIST .gz files",
    )
    tr.add_argument("--no-download", action="store_true", help="never download MNIST")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--save", metavar="PATH", help="save the trained parameters (.npz)")
    tr.add_argument("--plot", metavar="PNG", help="save learning curves (needs matplotlib)")
    tr.set_defaults(run=_train)

    b = sub.add_parser("bench", help="time fastbp against the NumPy reference and print the speedup table")
    b.add_argument("--kind", choices=["all", "op", "step"], default="all")
    b.add_argument("--batches", default="1,32,100,256,1000")
    b.add_argument("--dtypes", default="float64,float32")
    b.add_argument("--match", default="", help="only groups whose name contains this text")
    b.add_argument("--rounds", type=int, default=15, help="timing rounds per case (median reported)")
    b.add_argument("--json", metavar="PATH", help="save machine info, every case and the table as JSON")
    b.add_argument("--plot", metavar="PNG", help="a bar chart of the speedups (needs matplotlib)")
    b.add_argument("-v", "--verbose", action="store_true", help="print each group as it starts")
    b.set_defaults(run=_bench)

    w = sub.add_parser("warmup", help="compile every kernel for float32 and float64 into the on-disk cache")
    w.set_defaults(run=_warmup)

    g = sub.add_parser("gradcheck", help="compare backprop and numerical gradients, as the book's ch05 check")
    g.add_argument("--input-size", type=int, default=784)
    g.add_argument("--hidden-size", type=int, default=50)
    g.add_argument("--output-size", type=int, default=10)
    g.add_argument("--samples", type=int, default=3)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--backend", choices=["fastbp", "numpy"], default="fastbp")
    g.add_argument("--tol", type=float, default=1e-8, help="largest mean difference that passes")
    g.set_defaults(run=_gradcheck)
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    for name in ("epochs", "batch_size", "iterations"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            print(
                f"fastbp {args.command}: --{name.replace('_', '-')} must be a positive integer",
                file=sys.stderr,
            )
            return 2
    try:
        return args.run(args)
    except (UsageError, ValueError, TypeError, OSError) as e:
        print(f"fastbp {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
