"""The break-evens ``fastbp warmup`` measures (:mod:`fastbp.tuning` chooses, stores and loads them).

Each threshold of :data:`fastbp.tuning.UNITS` chooses between two correct paths. Both are timed on
the same inputs, around the break-even, by switching the ``config`` attribute the node reads at call
time: medians of interleaved rounds, so that a burst of another job's work falls on both paths or on
one round only. The inputs: the shipped MNIST subset, and synthetic inputs of given densities.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from .. import config
from ..tuning import (
    BATCHES,
    CSR_BATCH,
    DENSITIES,
    ROUNDS,
    TANH_NEVER,
    TANH_SIZES,
    UNITS,
    Result,
    Timing,
    choose_csr_limit,
    choose_small_batch,
    choose_tanh_numpy_below,
)

__all__ = ["measure"]

_DTYPES = ("float64", "float32")


def _pair(call: Callable[[], object], switch: Callable[[int], object], seconds: float):
    """Median seconds per ``call()`` on path 0 and path 1 (``switch(i)`` selects one): ROUNDS rounds,
    each a block of calls on one path then on the other (the order alternating), ``seconds`` in all.

    A block runs for a share of wall time, not a count of calls fixed beforehand: on a busy machine
    the calls slow down and a count would overrun the budget."""
    for i in (0, 1):  # first calls: buffers, lists, the odd compilation
        switch(i)
        call()
    block = seconds / (2 * ROUNDS)
    blocks = ([], [])
    clock = time.perf_counter
    for r in range(ROUNDS):
        for i in (0, 1) if r % 2 == 0 else (1, 0):
            switch(i)
            n, t0 = 0, clock()
            end = t0 + block
            while True:
                call()
                n += 1
                if (t := clock()) >= end:
                    break
            blocks[i].append((t - t0) / n)
    return statistics.median(blocks[0]), statistics.median(blocks[1])


def _switch(name: str, first, second):
    """A ``switch`` for :func:`_pair` that sets ``config.<name>`` to ``first`` or ``second``."""
    return lambda i: setattr(config, name, (first, second)[i])


def _small_batch(seconds: float, x, t) -> list[Result]:
    """Training steps (gradient) at each of ``BATCHES`` on MNIST images, loops against BLAS: TwoLayerNet
    784-50-10 and MultiLayerNet 784-100-100-10, both dtypes (layer counts warmup compiles: another
    count would be another compiled signature)."""
    from ..nets import MultiLayerNet, TwoLayerNet

    nets = [TwoLayerNet(784, 50, 10, dtype=d) for d in _DTYPES]
    nets += [MultiLayerNet(784, [100, 100], 10, dtype=d) for d in _DTYPES]
    each = seconds / (len(nets) * len(BATCHES))
    switch = _switch("SMALL_BATCH", 10**6, 0)
    times = {b: [_pair(partial(net.gradient, x[:b], t[:b]), switch, each) for net in nets] for b in BATCHES}
    value = choose_small_batch(times)
    summed = [Timing(b, *map(sum, zip(*times[b], strict=True))) for b in BATCHES]
    return [Result("SMALL_BATCH", None, value, tuple(summed), summed[BATCHES.index(value) if value else 0])]


def _first_layer(node, grad):
    """One forward and backward of the first layer's node on x (what its threshold chooses)."""
    dout = np.empty_like(grad)

    def step(x):
        node._forward(x)
        np.copyto(dout, grad)  # (the ReLU's backward masks dout in place)
        node._backward(dout, needs_dx=False)

    return step


def _csr_limits(seconds: float, mnist) -> list[Result]:
    """The first layer's forward and backward (``SparseInputAffine``) at batch 100, list against BLAS,
    on inputs of each of ``DENSITIES`` and on MNIST images, per (dtype, width) the kernels compile."""
    from ..kernels.sparse_input import WIDTHS
    from ..nets import TwoLayerNet

    r = np.random.default_rng(0)
    inputs = {float(np.count_nonzero(mnist)) / mnist.size: mnist}
    for d in DENSITIES:  # uniform values, zeros at random: the list's cost depends on their count only
        inputs[d] = np.where(r.random(mnist.shape) < d, r.random(mnist.shape), 0.0)
    keys = [(dtype, w) for dtype in _DTYPES for w in WIDTHS]
    each = seconds / (len(keys) * len(inputs))
    out = []
    for dtype, w in keys:
        net = TwoLayerNet(784, w, 10, dtype=dtype)
        step = _first_layer(
            net.node_of(net.layers["Affine1"]), r.standard_normal((len(mnist), w)).astype(dtype)
        )
        switch = _switch("CSR_MAX_DENSITY", {(dtype, w): 1.0}, {})
        times = {d: _pair(partial(step, x.astype(dtype)), switch, each) for d, x in inputs.items()}
        value = choose_csr_limit(times)
        if value is not None:  # (else no break-even was found: the default stays)
            timings = tuple(Timing(d, *times[d]) for d in sorted(times))
            near = min(timings, key=lambda p: abs(p.at - value))
            out.append(Result("CSR_MAX_DENSITY", (dtype, w), value, timings, near))
    return out


def _tanh(seconds: float) -> list[Result]:
    """Tanh's forward (the only pass the threshold chooses) at each of ``TANH_SIZES``, both dtypes."""
    from ..layers.activations import Tanh

    r = np.random.default_rng(0)
    each = seconds / (len(_DTYPES) * len(TANH_SIZES))
    switch = _switch("TANH_NUMPY_BELOW", 0, TANH_NEVER)
    layers = [Tanh() for _ in _DTYPES]
    times = {
        s: [_pair(partial(layer._forward, r.standard_normal((s // 64, 64)).astype(d)), switch, each)
            for layer, d in zip(layers, _DTYPES, strict=True)]
        for s in TANH_SIZES
    }  # fmt: skip
    value = choose_tanh_numpy_below(times)
    summed = [Timing(s, *map(sum, zip(*times[s], strict=True))) for s in TANH_SIZES]
    at = summed[TANH_SIZES.index(value)] if value in TANH_SIZES else summed[-1]
    return [Result("TANH_NUMPY_BELOW", None, value, tuple(summed), at)]


def measure(seconds: float = 30.0, progress: Callable[[str], object] | None = None) -> list[Result]:
    """Measure every threshold in about ``seconds`` (plus first calls: compilations on a cold cache),
    on this process's thread settings; ``config`` is left as it was. ``progress(name)`` is called
    before each. RuntimeError under ``NUMBA_DISABLE_JIT=1`` (there is nothing compiled to time)."""
    from numba.core import config as nc

    from ..data import load_embedded_mnist

    if nc.DISABLE_JIT:
        raise RuntimeError("NUMBA_DISABLE_JIT=1: the kernels run as Python, their speed means nothing")
    (x, t), _ = load_embedded_mnist()
    x, t = np.ascontiguousarray(x[:CSR_BATCH]), t[:CSR_BATCH]
    saved = {name: getattr(config, name) for name in UNITS}
    out = []
    try:
        for name, share, run in (
            ("SMALL_BATCH", 0.4, lambda s: _small_batch(s, x, t)),
            ("CSR_MAX_DENSITY", 0.45, lambda s: _csr_limits(s, x)),
            ("TANH_NUMPY_BELOW", 0.15, _tanh),
        ):
            if progress is not None:
                progress(name)
            out += run(share * seconds)
    finally:
        for name, value in saved.items():
            setattr(config, name, value)
    return out
