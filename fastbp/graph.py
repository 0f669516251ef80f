"""The chain-rule pass over layers.

A ``Graph`` is a directed acyclic graph of layers. Values have names; each node reads some named
values and writes one. ``forward`` runs the nodes in the order they were added (which is a
topological order: a node may only read values that exist already); ``backward`` walks them in
reverse and applies the chain rule -- each node turns the gradient of its output into gradients of
its inputs, and where one value feeds several nodes their gradients are summed.

The graph knows nothing of what a layer computes. Any object with the book's layer protocol works:
``forward(*inputs)`` and ``backward(dout)`` returning the input gradient (a tuple for layers with
several differentiable inputs, as ``AddLayer`` and ``MulLayer``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Node:
    """One layer in a graph: ``output = layer.forward(*inputs)``."""

    layer: object
    inputs: tuple
    output: str
    n_grads: int  # backward returns gradients for inputs[:n_grads]; the rest (labels) get none
    kwargs: tuple = ()  # names of graph.forward keyword arguments passed on (e.g. "train_flg")
    needs_dx: bool = field(default=True, init=False)  # set by the graph: does any input need a gradient?


class Graph:
    """Layers wired by value names, evaluated forward in order and differentiated in reverse.

    ``inputs``: names of the values the caller supplies to ``forward``. ``wrt``: the subset of them
    whose gradients ``backward`` returns (by default none -- the training data needs no gradient,
    which lets the first layer skip its largest product).

    ``validate``: call the layers' checked ``forward``/``backward``. A network that has validated
    its own input passes ``False`` and the graph calls fastbp layers' unchecked ``_forward`` and
    ``_backward`` (other layers always through ``forward``/``backward``).
    """

    def __init__(self, inputs=("x",), wrt=(), validate: bool = True):
        self.inputs = tuple(inputs)
        self.wrt = tuple(wrt)
        unknown = set(self.wrt) - set(self.inputs)
        if unknown:
            raise ValueError(f"Graph: wrt names {sorted(unknown)} are not among the inputs {self.inputs}")
        self.validate = validate
        self.nodes: list[Node] = []
        self._defined = set(self.inputs)
        self._differentiable = set(self.wrt)  # values whose gradient someone needs
        self._chain = None  # (n_nodes, steps) when every node reads just the previous output

    @classmethod
    def sequential(cls, layers, validate: bool = True) -> Graph:
        """The common case: a chain x -> layers[0] -> layers[1] -> ... -> output."""
        g = cls(("x",), validate=validate)
        for layer in layers:  # layers that behave differently in training (Dropout, BN) get train_flg
            g.add(layer, kwargs=("train_flg",) if getattr(layer, "uses_train_flg", False) else ())
        return g

    def add(
        self, layer, inputs=None, output: str | None = None, n_grads: int | None = None, kwargs=()
    ) -> str:
        """Append ``layer``; returns the name of its output value.

        ``inputs``: value names (default: the previous node's output, or the first graph input).
        ``n_grads``: how many leading inputs get a gradient (default all; 1 for a loss taking (x, t)).
        ``kwargs``: names of keyword arguments of ``forward`` that this layer accepts.
        """
        if inputs is None:
            inputs = (self.nodes[-1].output if self.nodes else self.inputs[0],)
        elif isinstance(inputs, str):
            inputs = (inputs,)
        inputs = tuple(inputs)
        missing = [name for name in inputs if name not in self._defined]
        if missing:
            raise ValueError(
                f"Graph.add: inputs {missing} are neither graph inputs nor outputs of earlier nodes"
            )
        if any(node.layer is layer for node in self.nodes):
            raise ValueError(
                "Graph.add: a layer object may appear once (it keeps the state of one forward pass)"
            )
        output = output or f"v{len(self.nodes) + 1}"
        if output in self._defined:
            raise ValueError(f"Graph.add: the value name {output!r} is already defined")
        n_grads = len(inputs) if n_grads is None else n_grads
        if not 0 <= n_grads <= len(inputs):
            raise ValueError(f"Graph.add: n_grads must be in [0, {len(inputs)}], got {n_grads}")
        node = Node(layer, inputs, output, n_grads, tuple(kwargs))
        node.needs_dx = any(name in self._differentiable for name in inputs[:n_grads])
        self._differentiable.add(output)  # any layer may hold parameters upstream of the loss
        self._defined.add(output)
        self.nodes.append(node)
        return output

    def _chain_steps(self):
        """For a chain (one input, each node reading only the previous output): per node its layer,
        whether to call its unchecked ``_forward``/``_backward``, its keyword names and needs_dx, so
        a pass is a plain loop; else None. Rebuilt when nodes are added or ``validate`` changes."""
        key = (len(self.nodes), self.validate)
        c = self._chain
        if c is not None and c[0] == key:
            return c[1]
        steps = None
        if len(self.inputs) == 1 and self.nodes:
            prev, ok = self.inputs[0], True
            for node in self.nodes:
                ok = ok and node.inputs == (prev,) and node.n_grads == 1
                prev = node.output
            if ok:
                fast = not self.validate
                steps = [
                    (
                        node.layer,
                        fast and hasattr(node.layer, "_forward"),
                        fast and hasattr(node.layer, "_backward"),
                        node.kwargs,
                        node.needs_dx,
                    )
                    for node in self.nodes
                ]
        self._chain = (key, steps)
        return steps

    def forward(self, *inputs, **kwargs):
        """Run every node in order on the graph inputs; returns the last node's output."""
        if len(inputs) != len(self.inputs):
            raise TypeError(
                f"Graph.forward: expected {len(self.inputs)} inputs {self.inputs}, got {len(inputs)}"
            )
        steps = self._chain_steps()
        if steps is not None:  # a chain: the same pass without the bookkeeping of named values
            h = inputs[0]
            for layer, fast, _, names, _ in steps:
                fwd = layer._forward if fast else layer.forward
                h = fwd(h, **{k: kwargs[k] for k in names if k in kwargs}) if names else fwd(h)
            return h
        values = dict(zip(self.inputs, inputs, strict=True))
        for node in self.nodes:
            layer = node.layer
            f = layer.forward if self.validate or not hasattr(layer, "_forward") else layer._forward
            kw = {k: kwargs[k] for k in node.kwargs if k in kwargs}
            values[node.output] = f(*(values[name] for name in node.inputs), **kw)
        return values[self.nodes[-1].output]

    def backward(self, dout=1.0):
        """The chain rule from the last output back; returns ``{name: gradient}`` for ``wrt``.

        ``dout``: the gradient of the final objective w.r.t. the last node's output (1 for a loss).
        Parameter gradients are left in the layers (``dW``, ``db``, ...), as the book's layers do.
        """
        steps = self._chain_steps()
        if steps is not None:
            g = dout
            for layer, _, fast, _, needs_dx in reversed(steps):
                g = layer._backward(g, needs_dx) if fast else layer.backward(g)
                if not needs_dx or g is None:  # nothing flows further back
                    return {}
            return {self.inputs[0]: g} if self.wrt else {}
        grads = {self.nodes[-1].output: dout}
        for node in reversed(self.nodes):
            g = grads.pop(node.output, None)
            if g is None:  # this value does not reach the output
                continue
            layer = node.layer
            if not self.validate and hasattr(layer, "_backward"):
                res = layer._backward(g, node.needs_dx)
            else:
                res = layer.backward(g)
            if not node.needs_dx or node.n_grads == 0:
                continue
            if node.n_grads == 1:
                res = (res,)
            for name, gi in zip(node.inputs[: node.n_grads], res, strict=True):
                if name not in self._differentiable:
                    continue
                if name in grads:
                    grads[name] = grads[name] + gi  # fan-out: sum the paths (a new array, never in place)
                elif any(gi is other for other in grads.values()):
                    grads[name] = (
                        gi.copy()
                    )  # one array for two values: a later in-place backward must not alias
                else:
                    grads[name] = gi
        return {name: grads[name] for name in self.wrt if name in grads}
