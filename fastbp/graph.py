"""The chain-rule pass: one forward loop, one backward loop, for any network.

A ``Graph`` is a directed acyclic graph of nodes. Values have names; each node reads some named values
and writes one (and, for a fused node that absorbed a loss, may also expose a value it computed on the
way, such as the scores before the loss: a *side output*, which carries no gradient). ``forward`` runs
the nodes in the order they were added -- a topological order, since a node may only read values that
exist already; ``backward`` walks them in reverse: each node turns the gradient of its output into
gradients of its inputs, and where one value feeds several nodes their gradients are summed.

Value names are resolved to slots of a list when a node is added, so a pass costs a list index per
input, the same for a chain of layers as for a general graph.

The graph knows nothing of what a node computes. Any object with the book's layer protocol works:
``forward(*inputs)`` and ``backward(dout)`` returning the input gradient (a tuple for nodes with
several differentiable inputs, as ``AddLayer`` and ``MulLayer``). fastbp's layers and fused nodes also
have unchecked ``_forward``/``_backward(dout, needs_dx)``, which the graph calls when it was built with
``validate=False`` (a network that checked its inputs itself).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

__all__ = ["Graph", "Node"]


@dataclass(eq=False, slots=True)  # (slots: the passes read a node's fields several times per step)
class Node:
    """One node of a graph: ``outputs = layer.forward(*inputs, **{k: graph kwargs})``.

    ``outputs[0]`` is the value the node's gradient flows from; further outputs are side outputs.
    The slot fields are filled in by the graph.
    """

    layer: object
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    n_grads: int  # backward returns gradients for inputs[:n_grads]; the rest (labels) get none
    kwargs: tuple[str, ...] = ()  # graph.forward keyword arguments this node takes (e.g. "train_flg")
    in_slots: tuple[int, ...] = field(default=(), repr=False)
    out_slots: tuple[int, ...] = field(default=(), repr=False)
    grad_slots: tuple[int, ...] = field(default=(), repr=False)  # -1: that input needs no gradient
    needs_dx: bool = field(default=True, repr=False)  # does any input need a gradient?
    fast: bool = field(default=False, repr=False)  # call the unchecked _forward/_backward
    fwd: object = field(default=None, repr=False)  # the bound forward the pass calls
    bwd: object = field(default=None, repr=False)  # the bound backward the pass calls

    @property
    def output(self) -> str:
        return self.outputs[0]


class Graph:
    """Nodes wired by value names, evaluated forward in order and differentiated in reverse.

    ``inputs``: names of the values the caller supplies to ``forward`` (e.g. ``("x", "t")``).
    ``wrt``: the subset of them whose gradients ``backward`` returns (by default none -- the training
    data needs no gradient, which lets the first layer skip its largest product).
    ``validate``: call the layers' checked ``forward``/``backward`` (the default); ``False`` calls
    fastbp layers' unchecked ``_forward``/``_backward`` (other layers always through ``forward``).
    """

    def __init__(self, inputs=("x",), wrt=(), validate: bool = True):
        if isinstance(inputs, str):
            inputs = (inputs,)
        self.inputs = tuple(inputs)
        if not self.inputs or len(set(self.inputs)) != len(self.inputs):
            raise ValueError(f"Graph: inputs must be distinct names, got {inputs!r}")
        self.wrt = tuple(wrt)
        unknown = set(self.wrt) - set(self.inputs)
        if unknown:
            raise ValueError(f"Graph: wrt names {sorted(unknown)} are not among the inputs {self.inputs}")
        self.nodes: list[Node] = []
        self._slot = {name: i for i, name in enumerate(self.inputs)}
        self._differentiable = {self._slot[name] for name in self.wrt}
        self._validate = bool(validate)
        self._trusted = set(range(len(self.inputs)))  # slots produced by fastbp's own layers (or inputs)
        self.skipped: tuple[Node, ...] = ()  # the nodes the last backward pass did not reach

    @classmethod
    def sequential(cls, layers, validate: bool = True) -> Graph:
        """A chain x -> layers[0] -> layers[1] -> ... -> output."""
        g = cls(("x",), validate=validate)
        for layer in layers:
            g.add(layer)
        return g

    @property
    def validate(self) -> bool:
        return self._validate

    @validate.setter
    def validate(self, value: bool) -> None:
        self._validate = bool(value)
        trusted = set(range(len(self.inputs)))
        for node in self.nodes:
            self._bind(node, trusted)

    def _bind(self, node: Node, trusted: set) -> None:
        """Choose how a pass calls the node. The unchecked ``_forward``/``_backward`` only when the
        graph does not validate, the layer is one of fastbp's own (a subclass that overrides
        ``forward`` or ``backward`` runs its override), and every input comes from a graph input or
        from such a layer (a user layer may return anything: what reads it checks it)."""
        layer = node.layer
        native = _native(type(layer))
        node.fast = not self._validate and native and all(s in trusted for s in node.in_slots)
        node.fwd = layer._forward if node.fast else layer.forward
        node.bwd = layer._backward if node.fast else layer.backward
        if native:
            trusted.update(node.out_slots)

    def slot(self, name: str) -> int:
        """The slot index of a value (KeyError for a name not defined)."""
        return self._slot[name]

    def add(
        self,
        layer,
        inputs=None,
        output: str | None = None,
        n_grads: int | None = None,
        kwargs=None,
        side_outputs=(),
    ) -> str:
        """Append ``layer``; returns the name of its output value.

        ``inputs``: value names (default: the previous node's output, or the first graph input).
        ``n_grads``: how many leading inputs get a gradient (default all).
        ``kwargs``: names of ``forward`` keyword arguments the layer takes; by default ``train_flg``
        for layers whose ``uses_train_flg`` is true (Dropout, BatchNormalization) or whose ``forward``
        has a ``train_flg`` parameter (a user's Dropout written the book's way), and ``grad`` for those
        whose ``uses_grad`` is (fused nodes that can skip work no backward will need).
        ``side_outputs``: names of further values the layer returns after its output (no gradient).
        """
        if inputs is None:
            inputs = (self.nodes[-1].output if self.nodes else self.inputs[0],)
        elif isinstance(inputs, str):
            inputs = (inputs,)
        inputs = tuple(inputs)
        missing = [name for name in inputs if name not in self._slot]
        if missing:
            raise ValueError(
                f"Graph.add: inputs {missing} are neither graph inputs nor outputs of earlier nodes"
            )
        if any(node.layer is layer for node in self.nodes):
            raise ValueError(
                "Graph.add: a layer object may appear once (it keeps the state of one forward pass)"
            )
        outputs = (output or f"v{len(self.nodes) + 1}", *side_outputs)
        taken = [name for name in outputs if name in self._slot]
        if taken or len(set(outputs)) != len(outputs):
            raise ValueError(f"Graph.add: the value names {taken or outputs} are already defined")
        n_grads = len(inputs) if n_grads is None else n_grads
        if isinstance(n_grads, bool) or not isinstance(n_grads, int) or not 0 <= n_grads <= len(inputs):
            raise ValueError(f"Graph.add: n_grads must be an integer in [0, {len(inputs)}], got {n_grads!r}")
        if kwargs is None:
            kwargs = _keywords(layer)
        in_slots = tuple(self._slot[name] for name in inputs)
        grad_slots = tuple(s if s in self._differentiable else -1 for s in in_slots[:n_grads])
        out_slots = []
        for name in outputs:
            self._slot[name] = len(self._slot)
            out_slots.append(self._slot[name])
        node = Node(layer, inputs, outputs, n_grads, tuple(kwargs), in_slots, tuple(out_slots), grad_slots)
        node.needs_dx = any(s >= 0 for s in grad_slots)
        self._bind(node, self._trusted)
        self._differentiable.add(out_slots[0])  # any node may hold parameters upstream of the output
        self.nodes.append(node)
        return outputs[0]

    def forward(self, *inputs, until: str | None = None, **kwargs):
        """Run the nodes in order on the graph inputs; returns the last node's output, or the value
        ``until`` as soon as it exists. ``kwargs`` (``train_flg``, ``grad``) go to the nodes that
        take them."""
        if len(inputs) != len(self.inputs):
            raise TypeError(
                f"Graph.forward: expected {len(self.inputs)} inputs {self.inputs}, got {len(inputs)}"
            )
        if not self.nodes:
            raise RuntimeError("Graph.forward: the graph has no nodes")
        stop = -1
        if until is not None:
            stop = self._slot.get(until, -1) if isinstance(until, str) else -1
            if stop < 0:
                raise ValueError(f"Graph.forward: until names no value of this graph: {until!r}")
            if stop < len(inputs):
                return inputs[stop]
        vals = [None] * len(self._slot)
        vals[: len(inputs)] = inputs
        for node in self.nodes:
            # Written out by arity and keyword count: a comprehension or ``*map`` costs ~0.7 us a
            # node, a third of a whole batch-1 step's Python.
            s = node.in_slots
            if len(s) == 1:
                args = (vals[s[0]],)
            elif len(s) == 2:
                args = (vals[s[0]], vals[s[1]])
            else:
                args = tuple([vals[i] for i in s])
            names = node.kwargs
            if not names:
                out = node.fwd(*args)
            elif len(names) == 1:
                name = names[0]
                out = node.fwd(*args, **{name: kwargs[name]}) if name in kwargs else node.fwd(*args)
            else:
                out = node.fwd(*args, **{k: kwargs[k] for k in names if k in kwargs})
            s = node.out_slots
            if len(s) == 1:
                vals[s[0]] = out
            else:  # a node with side outputs returns a tuple; its output slots are consecutive
                if not isinstance(out, (tuple, list)) or len(out) != len(s):
                    raise TypeError(
                        f"Graph.forward: {type(node.layer).__name__}.forward must return a tuple of "
                        f"{len(s)} values {node.outputs}, got {type(out).__name__}"
                    )
                vals[s[0] : s[-1] + 1] = out
            if stop >= 0 and stop in s:
                return vals[stop]
        return vals[self.nodes[-1].out_slots[0]]

    def backward(self, dout=1.0) -> dict:
        """The chain rule from the last node's output back; returns ``{name: gradient}`` for ``wrt``.

        ``dout``: the gradient of the final objective w.r.t. the last output (1 for a loss).
        Parameter gradients stay in the layers (``dW``, ``db``, ...), as the book's layers keep them.
        """
        if not self.nodes:
            raise RuntimeError("Graph.backward: the graph has no nodes")
        grads = [None] * len(self._slot)
        grads[self.nodes[-1].out_slots[0]] = dout
        self.skipped = skipped = ()  # (also when a backward raises)
        for node in reversed(self.nodes):
            s = node.out_slots[0]
            g = grads[s]
            if g is None:  # this value does not reach the output (or a backward returned None)
                skipped += (node,)
                continue
            grads[s] = None
            res = node.bwd(g, node.needs_dx) if node.fast else node.bwd(g)
            if not node.needs_dx or res is None:
                continue
            slots = node.grad_slots
            if node.n_grads == 1:  # (the common case, a chain: written out)
                slot = slots[0]
                if slot >= 0:
                    prev = grads[slot]
                    grads[slot] = res if prev is None else prev + res  # (fan-out: a new array)
                continue
            if not isinstance(res, (tuple, list)) or len(res) != node.n_grads:
                raise TypeError(
                    f"Graph.backward: {type(node.layer).__name__}.backward must return a tuple of "
                    f"{node.n_grads} gradients (one per input {node.inputs[: node.n_grads]}), got "
                    f"{type(res).__name__}"
                )
            for slot, gi in zip(slots, res, strict=True):
                if slot < 0:
                    continue
                prev = grads[slot]
                if prev is not None:
                    grads[slot] = prev + gi  # fan-out: sum the paths (a new array, never in place)
                elif len(slots) > 1 and any(gi is other for other in grads):
                    grads[slot] = gi.copy()  # one array for two values: a later in-place backward
                else:  # (Relu's writes into its dout) must not change the other
                    grads[slot] = gi
        self.skipped = skipped
        if not self.wrt:
            return {}
        return {name: grads[self._slot[name]] for name in self.wrt if grads[self._slot[name]] is not None}


def _keywords(layer) -> tuple:
    """The graph keyword arguments ``layer.forward`` takes (see ``Graph.add``)."""
    names = []
    if getattr(layer, "uses_train_flg", False):
        names.append("train_flg")
    else:
        try:
            if "train_flg" in inspect.signature(layer.forward).parameters:
                names.append("train_flg")
        except (TypeError, ValueError, AttributeError):  # (no forward, or no signature to read)
            pass
    if getattr(layer, "uses_grad", False):
        names.append("grad")
    return tuple(names)


_NATIVE: dict[type, bool] = {}


def _native(cls: type) -> bool:
    """Whether instances of ``cls`` may be run through their unchecked ``_forward``/``_backward``:
    they have them, and ``forward``/``backward`` come from the class that wrote the unchecked method
    or from above it -- not from a subclass that overrode the checked method alone (a user's own
    ``Relu`` with its own ``forward`` must run that ``forward``)."""
    known = _NATIVE.get(cls)
    if known is None:
        known = _NATIVE[cls] = _owns(cls, "_forward", "forward") and _owns(cls, "_backward", "backward")
    return known


def _owns(cls: type, unchecked: str, checked: str) -> bool:
    mro = cls.__mro__
    at = next((i for i, k in enumerate(mro) if unchecked in k.__dict__), None)
    if at is None:
        return False
    return not any(checked in k.__dict__ for k in mro[:at])
