"""The ``fastbp`` command line.

``fastbp gradcheck``: the book's chapter 5 gradient check -- the mean absolute difference between
backpropagated and numerical gradients, per parameter of a TwoLayerNet, on a few samples.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastbp", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gradcheck", help="compare backprop and numerical gradients, as the book's ch05 check")
    g.add_argument("--input-size", type=int, default=784)
    g.add_argument("--hidden-size", type=int, default=50)
    g.add_argument("--output-size", type=int, default=10)
    g.add_argument("--samples", type=int, default=3)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--backend", choices=["fastbp", "numpy"], default="fastbp")
    g.add_argument("--tol", type=float, default=1e-8, help="largest mean difference that passes")
    g.set_defaults(run=_gradcheck)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError) as e:
        print(f"fastbp {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
