"""An op of the table (``Op``) and how each side of it runs: ``build`` the fastbp node or the twin
chain over the same parameters, ``forward``/``backward`` as the networks run the fastbp node (the
unchecked ``_forward``/``_backward(dout, needs_dx)``) and as the twins run (``forward``/``backward``),
``param_grads`` (the dW, db, dgamma ... the layers keep), ``inputs`` for a batch, dtype and size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Op", "SEED", "TOL", "build", "forward", "backward", "param_grads", "inputs"]

SEED = 0  # Dropout: np.random.seed(SEED) before each forward, on both sides, so the masks agree
TOL = {np.float32: 1e-4, np.float64: 1e-10}  # rtol and atol: a layer is many kernels and BLAS calls


@dataclass(frozen=True)
class Op:
    name: str  # the benchmark groups' first word
    fast: Callable[[dict], Any]  # params -> the fastbp layer or fused node
    twin: Callable[[dict], list]  # params -> the twin layers it stands for, in order
    params: Callable[[np.random.Generator, type, Any], dict]  # (rng, dtype, size) -> W, b, ... (in dtype)
    inputs: Callable[[np.random.Generator, type, int, Any], tuple]  # (rng, dtype, n, size) -> (x,) or (x, t)
    sizes: tuple  # geometries; sizes[0] is the benchmark's
    label: str  # the benchmark's shape, with {n} for the batch
    grad_size: Any = None  # the (small) geometry of the central-difference check; None: not differentiable
    grad_batch: int = 3
    batches: tuple = (1, 7)  # the test batches (batch 1 and an odd one)
    tol: dict = field(default_factory=lambda: dict(TOL))
    loss: bool = False  # the last layer is the loss: forward takes (x, t), backward the scalar 1
    scores: bool = False  # (a loss node) forward returns (loss, scores)
    seeded: bool = False  # forward draws from np.random (Dropout)
    needs_dx: bool = True  # passed to _backward (False: the network's first layer, no input gradient)
    dout_in_place: bool = False  # backward writes into dout (the benchmark gives the twin a copy)
    kwargs: dict = field(default_factory=dict)  # for the fast _forward (grad=True: a backward follows)
    bench_max_batch: int | None = None  # the benchmark's largest batch (None: all)

    @property
    def differentiable(self) -> bool:
        return self.grad_size is not None


# -- running a side ----------------------------------------------------------------------------------


def build(op: Op, params: dict, impl: str):
    """The fastbp node (impl "fastbp") or the list of twin layers (impl "numpy") over params."""
    return op.fast(params) if impl == "fastbp" else op.twin(params)


def forward(op: Op, node, impl: str, args: tuple, seed: bool = True):
    """The node's output (a loss node: its loss, or (loss, scores)). ``seed``: seed np.random first
    where the op draws from it, so both sides draw alike (a benchmark leaves it: seeding costs more
    than the draws)."""
    if op.seeded and seed:
        np.random.seed(SEED)
    if impl == "fastbp":
        return node._forward(*args, **op.kwargs)
    x = args[0]
    body = node[:-1] if op.loss else node
    for layer in body:
        x = layer.forward(x)
    if not op.loss:
        return x
    loss = node[-1].forward(x, args[1])
    return (loss, x) if op.scores else loss


def backward(op: Op, node, impl: str, dout=None):
    """The input gradient (None where the op takes none); a loss op ignores dout (it is 1)."""
    if impl == "fastbp":
        return node._backward(1.0, op.needs_dx) if op.loss else node._backward(dout, op.needs_dx)
    layers = node
    if op.loss:
        dout = node[-1].backward(1)
        layers = node[:-1]
    for layer in reversed(layers):
        dout = layer.backward(dout)
    return dout


def param_grads(op: Op, node, impl: str, names) -> dict:
    """{name: the gradient the node's layers keep}: "W" -> the first layer's dW, "W2" -> the second's,
    "gamma" -> dgamma ..."""
    layers = getattr(node, "layers", (node,)) if impl == "fastbp" else node
    out = {}
    for name in names:
        base = name.rstrip("0123456789")
        k = int(name[len(base) :] or 1) - 1
        holders = [layer for layer in layers if hasattr(layer, "d" + base)]
        out[name] = getattr(holders[k], "d" + base)
    return out


def inputs(op: Op, n: int, dtype, size=None, seed: int = 0):
    """(params, args) of op at batch n, in dtype, at size (default the benchmark's)."""
    r = np.random.default_rng(seed)
    size = op.sizes[0] if size is None else size
    return op.params(r, dtype, size), op.inputs(r, dtype, n, size)
