"""The table of fusion rules, and ``fuse``, which applies it to a graph once, when a network is built.

A rule names a run of consecutive layers by their exact types (a subclass -- a user's own ``Relu`` --
matches nothing and runs unfused, so its own ``forward``/``backward`` are honoured), a condition, and
the fused node that replaces the run. A run is a chain: each node reads only the previous node's
output, and that output feeds nothing else and is not a value the network asks for by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..graph import Graph, Node, _keywords
from ..layers.activations import Relu
from ..layers.affine import Affine
from ..layers.conv import Convolution, Pooling
from ..layers.loss import SoftmaxWithLoss
from .affine import AffineRelu, SparseInputAffine
from .base import Fused
from .conv import ConvRelu, ConvReluPool
from .mlp import SmallBatchMLP

__all__ = ["RULES", "Rule", "fuse"]


@dataclass(frozen=True)
class Run:
    """The nodes a rule looks at: ``nodes`` (in order) and facts about where the run sits."""

    nodes: tuple[Node, ...]
    reads_data: bool  # the first node reads the graph's first input (the data), which needs no gradient

    @property
    def layers(self):
        return tuple(node.layer for node in self.nodes)

    @property
    def needs_dx(self) -> bool:
        return self.nodes[0].needs_dx


@dataclass(frozen=True)
class Rule:
    """Replace a run of layers of exactly ``pattern``'s types, where ``when`` holds, by ``make(run)``."""

    name: str
    pattern: tuple[type, ...]
    make: Callable[[Run], object]
    when: Callable[[Run], bool] = lambda run: True


def _first_layer(run: Run) -> bool:
    return run.reads_data


RULES = (
    Rule(
        "first Affine+Relu, on the data", (Affine, Relu), lambda r: SparseInputAffine(*r.layers), _first_layer
    ),
    Rule("first Affine, on the data", (Affine,), lambda r: SparseInputAffine(*r.layers), _first_layer),
    Rule(
        "Convolution+Relu+Pooling",
        (Convolution, Relu, Pooling),
        lambda r: ConvReluPool(*r.layers, needs_dx=r.needs_dx),
        lambda r: r.layers[2].pad == 0,
    ),
    Rule("Affine+Relu", (Affine, Relu), lambda r: AffineRelu(*r.layers)),
    Rule("Convolution+Relu", (Convolution, Relu), lambda r: ConvRelu(*r.layers)),
)

# Then, over the fused nodes: a whole ReLU MLP on the data (hidden Affine+Relu nodes, a last Affine)
# followed by the stock softmax loss on labels that are a graph input -> one SmallBatchMLP node.
_HIDDEN = (AffineRelu, SparseInputAffine)


def _is_hidden(layer) -> bool:
    return type(layer) in _HIDDEN and layer.relu is not None


def _is_last(layer) -> bool:
    return type(layer) is Affine or (type(layer) is SparseInputAffine and layer.relu is None)


def fuse(graph: Graph, keep=()) -> Graph:
    """A new graph over the same layers with the rules applied (the original is left as it is).

    ``keep``: value names that must stay visible (e.g. ``"scores"``); a run never swallows them,
    except the MLP node, which exposes the scores before its loss as a side output.
    """
    readers: dict[str, int] = {}
    for node in graph.nodes:
        for name in node.inputs:
            readers[name] = readers.get(name, 0) + 1
    data = graph.inputs[0]
    labels = graph.inputs[1:2]
    keep = set(keep)

    def chained(a: Node, b: Node, last: bool = False) -> bool:
        """b reads a's output as its first input, nothing else reads it, it is not a value asked for by
        name, and b takes it as a plain layer does: with its gradient (n_grads), and the keyword
        arguments its type takes (a node added with others is left as the user wired it)."""
        return (
            b.inputs[:1] == (a.output,)
            and readers.get(a.output) == 1
            and (last or a.output not in keep)
            and b.n_grads == (1 if not last else b.n_grads)
            and b.kwargs == _keywords(b.layer)
            and a.kwargs == _keywords(a.layer)
            and len(a.outputs) == 1
        )

    def run_at(nodes: list[Node], i: int, length: int) -> Run | None:
        run = tuple(nodes[i : i + length])
        if len(run) < length or len(run[0].inputs) != 1:
            return None
        if not all(len(b.inputs) == 1 and chained(a, b) for a, b in zip(run, run[1:], strict=False)):
            return None
        return Run(run, run[0].inputs == (data,) and not run[0].needs_dx)

    def node(layer, first: Node, last: Node, outputs=None) -> Node:
        n = Node(layer, first.inputs, outputs or last.outputs, first.n_grads)
        n.needs_dx = first.needs_dx
        return n

    nodes = list(graph.nodes)
    pairs: list[Node] = []
    i = 0
    while i < len(nodes):
        for rule in RULES:
            run = run_at(nodes, i, len(rule.pattern))
            if (
                run
                and all(type(n.layer) is t for n, t in zip(run.nodes, rule.pattern, strict=False))
                and rule.when(run)
            ):
                pairs.append(node(rule.make(run), run.nodes[0], run.nodes[-1]))
                i += len(rule.pattern)
                break
        else:
            pairs.append(nodes[i])
            i += 1

    out: list[Node] = []
    i = 0
    while i < len(pairs):
        k = i
        while k < len(pairs) and _is_hidden(pairs[k].layer):
            k += 1
        run = pairs[i : k + 2]
        if (
            labels
            and len(run) == k + 2 - i
            and _is_last(run[-2].layer)
            and type(run[-1].layer) is SoftmaxWithLoss
            and run[-1].inputs[1:] == labels
            and run[0].inputs == (data,)
            and not run[0].needs_dx
            and all(chained(a, b) for a, b in zip(run[:-2], run[1:-1], strict=False))
            and chained(run[-2], run[-1], last=True)
        ):
            mlp = SmallBatchMLP([n.layer for n in run[:-1]], run[-1].layer)
            out.append(node(mlp, run[0], run[-1], (run[-1].output, run[-2].output)))
            out[-1].inputs = (data, *labels)
            i = k + 2
        else:
            out.append(pairs[i])
            i += 1

    fused = Graph(graph.inputs, graph.wrt, graph.validate)
    for n in out:
        kwargs = None if isinstance(n.layer, Fused) else n.kwargs  # (None: from the node's flags)
        fused.add(n.layer, n.inputs, n.output, n.n_grads, kwargs, n.outputs[1:])
    return fused
