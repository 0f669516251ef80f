"""What every fused node shares."""

from __future__ import annotations

from ..layers.base import Buffers


class Fused(Buffers):
    """A graph node standing for several consecutive layers (``self.layers``, in order).

    The unchecked ``_forward``/``_backward`` run the fused computation and leave each layer's
    attributes as if it had run, through the layers' own ``record`` methods. The checked ``forward``
    and ``backward`` (a graph built with ``validate=True``) run the layers one by one, each with its
    argument checks: same results, no fusion.
    """

    layers: tuple = ()
    uses_train_flg = False  # pass graph.forward's train_flg to _forward
    uses_grad = False  # pass graph.forward's grad (will a backward follow?) to _forward
    checks_finite_input = False  # _forward raises NonFiniteInput for NaN/inf in its first input

    def forward(self, x, **kwargs):
        for layer in self.layers:
            if getattr(layer, "uses_train_flg", False) and "train_flg" in kwargs:
                x = layer.forward(x, train_flg=kwargs["train_flg"])
            else:
                x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(type(layer).__name__ for layer in self.layers)})"
