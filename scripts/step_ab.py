"""Time the book's MLP training steps in whichever fastbp the import finds, for before/after tables.

Each case is ``opt.update(net.params, net.gradient(x, t))`` with SGD on the first MNIST images of
the shipped subset (a fixed batch), in the network's dtype; the figure is the fastest of 15 rounds
(the machines are shared: a minimum is what a quiet moment gives). Run it once per tree, alternating
the trees a few times, and compare the minima:

    PYTHONPATH=/path/to/old/tree python scripts/step_ab.py old_1.json
    PYTHONPATH=/path/to/new/tree python scripts/step_ab.py new_1.json
    ...

``--batches`` (default 1,32,100,1000) chooses the batch sizes; ``--data uniform`` takes uniform noise
of the same shape instead of the images (dense input); ``--one-call`` times ``net.train_step(x, t,
opt)`` where the tree has it (the same parameters; else the two calls). Only the networks' public
surface is used, so any fastbp version since the first runs it.
"""

import argparse
import json
import timeit

import numpy as np

from fastbp.data import load_embedded_mnist
from fastbp.nets import MultiLayerNet, TwoLayerNet
from fastbp.optimizer import SGD

NETS = {
    "Two": lambda dt: TwoLayerNet(784, 50, 10, dtype=dt),
    "Multi": lambda dt: MultiLayerNet(784, [100] * 5, 10, dtype=dt),
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="JSON file: {case: microseconds}")
    p.add_argument("--batches", default="1,32,100,1000")
    p.add_argument("--data", choices=("mnist", "uniform"), default="mnist")
    p.add_argument("--one-call", action="store_true", help="net.train_step where the tree has it")
    args = p.parse_args()
    (x, t), _ = load_embedded_mnist()
    if args.data == "uniform":
        x = np.random.default_rng(1).random(x.shape)
    res = {}
    for name, make in NETS.items():
        for dt in (np.float64, np.float32):
            for n in (int(b) for b in args.batches.split(",")):
                np.random.seed(0)
                net, opt = make(dt), SGD(0.01)
                xb, tb = np.ascontiguousarray(x[:n], dt), t[:n]

                def step(net=net, opt=opt, xb=xb, tb=tb):
                    opt.update(net.params, net.gradient(xb, tb))

                if args.one_call and hasattr(net, "train_step"):

                    def step(net=net, opt=opt, xb=xb, tb=tb):  # noqa: F811
                        net.train_step(xb, tb, opt)

                reps = max(1, 20000 // (n + 20))
                step()
                step()
                res[f"{name} {np.dtype(dt).name} b{n}"] = (
                    min(timeit.repeat(step, number=reps, repeat=15)) / reps * 1e6
                )
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
