"""``Sequential``: a network from a chain of layers; ``chain``: the graph of such a chain."""

from __future__ import annotations

from collections import OrderedDict

from ..graph import Graph
from ..layers.loss import SoftmaxWithLoss
from .network import Network

__all__ = ["Sequential", "chain"]


class Sequential(Network):
    """A network of ``layers`` in a chain, then ``loss``: ``Sequential([Affine(W1, b1), Relu(),
    Affine(W2, b2)])``.

    ``layers``: a list (named ``Affine1``, ``Relu1``, ... by type, as the book names them) or a dict
    of name -> layer. ``loss``: the loss layer (default ``SoftmaxWithLoss()``). ``params``: every
    ``W``/``b`` as ``W1, b1, W2, ...`` and batch norm's ``gamma``/``beta`` as ``gamma1, beta1, ...``,
    in layer order, unless ``names`` gives ``{key: (layer name, attribute)}``. ``input_shape``: one
    sample's shape, needed when the first layer has no weights to tell it. The parameter arrays are
    the layers' own (shared, not copied). A Sequential of fastbp layers gets the same fused nodes, and
    so the same speed, as the book's network with those layers.
    """

    def __init__(self, layers, loss=None, *, names=None, input_shape=None):
        where = "Sequential"
        if isinstance(layers, dict):
            self.layers = OrderedDict(layers)
        else:
            layers = list(layers)
            self.layers = OrderedDict()
            counts: dict[str, int] = {}
            for layer in layers:
                kind = type(layer).__name__
                counts[kind] = counts.get(kind, 0) + 1
                self.layers[f"{kind}{counts[kind]}"] = layer
        if not self.layers:
            raise ValueError(f"{where}: layers must hold at least one layer")
        for name, layer in self.layers.items():
            _check_layer(layer, f"layers[{name!r}]", where)
        self.last_layer = SoftmaxWithLoss() if loss is None else loss
        _check_layer(self.last_layer, "loss", where)
        owners = None
        if names is not None:
            owners = {}
            for key, (lname, attr) in dict(names).items():
                if lname not in self.layers:
                    raise ValueError(f"{where}: names[{key!r}] names no layer {lname!r}")
                owners[key] = (self.layers[lname], attr)
        self._init_graph(chain(self.layers.values(), self.last_layer), owners, input_shape)


def _check_layer(layer, name: str, where: str) -> None:
    if isinstance(layer, type):
        raise TypeError(
            f"{where}: {name} is the class {layer.__name__}; pass an instance ({layer.__name__}())"
        )
    if not (callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None))):
        raise TypeError(
            f"{where}: {name} must be a layer with forward and backward, got {type(layer).__name__}"
        )


def chain(layers, loss) -> Graph:
    """The graph of a chain: x -> layers... -> "scores" -> loss(scores, t) -> "loss"."""
    g = Graph(("x", "t"), validate=False)
    layers = list(layers)
    for i, layer in enumerate(layers):
        g.add(layer, output="scores" if i == len(layers) - 1 else None)
    g.add(loss, ("scores", "t"), "loss", n_grads=1)
    return g
