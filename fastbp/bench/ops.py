"""Op cases: each op of the op table (``fastbp.ops.nodes.OPS``, the table the tests check: every layer
and fused node) at its benchmark size, forward and backward as the networks run them
(``_forward``/``_backward``, no argument checks) against the NumPy twin layers it stands for; and each
optimizer's ``update`` over a TwoLayerNet's parameters. Activations at (N, 100), Affine 100 -> 100 at
(N, 100), softmax-CE at (N, 10), convolution (N, 1, 28, 28) 30x5x5 and pooling (N, 30, 24, 24) 2x2 up
to batch 100, the fused nodes at the sizes the book's networks give them.
"""

from __future__ import annotations

import numpy as np

from .base import Case, rng

OPTIMIZERS = ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam")


def op_cases(batches, dtypes):
    """Each op of the table (``fastbp.ops.nodes.OPS``: layers and fused nodes) at its benchmark size,
    forward and backward, fastbp against the twin layers; then each optimizer's update."""
    from ..ops.nodes import OPS

    cases = []
    for op in OPS:
        for dtype in dtypes:
            for n in [b for b in batches if op.bench_max_batch is None or b <= op.bench_max_batch]:
                shape = op.label.format(n=n)
                for direction in ("forward", "backward"):
                    group = f"{op.name} {direction} {shape} {dtype}"
                    for impl in ("fastbp", "numpy"):
                        cases.append(Case("op", group, impl, _op_maker(op, direction, impl, n, dtype)))
    for opt in OPTIMIZERS:
        for dtype in dtypes:
            group = f"{opt} update TwoLayerNet params {dtype}"
            for impl in ("fastbp", "numpy"):
                cases.append(Case("op", group, impl, _update_maker(opt, impl, dtype)))
    return cases


def _op_maker(op, direction, impl, n, dtype):
    def make():
        from ..ops import nodes as O

        params, args = O.inputs(op, n, np.dtype(dtype).type)
        node = O.build(op, params, impl)
        if direction == "forward":
            return lambda: O.forward(op, node, impl, args, seed=False)
        out = O.forward(op, node, impl, args)
        if op.loss:
            return lambda: O.backward(op, node, impl)
        dout = rng().standard_normal(np.shape(out)).astype(dtype)
        if impl == "numpy" and op.dout_in_place:  # the twin's Relu masks dout in place: a fresh copy
            return lambda: O.backward(op, node, impl, dout.copy())
        return lambda: O.backward(op, node, impl, dout)

    return make


def _update_maker(opt_name, impl, dtype):
    def make():
        from .. import optimizer as O
        from ..reference import optimizer as RO

        r = rng()
        shapes = {"W1": (784, 50), "b1": (50,), "W2": (50, 10), "b2": (10,)}
        params = {k: r.standard_normal(s).astype(dtype) for k, s in shapes.items()}
        grads = {k: (r.standard_normal(s) * 1e-3).astype(dtype) for k, s in shapes.items()}
        opt = getattr(O if impl == "fastbp" else RO, opt_name)(lr=1e-6)
        return lambda: opt.update(params, grads)

    return make
