"""The book's networks, and the builders they are made with.

- ``Network``: the book's network surface (``params``, ``predict``, ``loss``, ``accuracy``,
  ``gradient``, ``numerical_gradient``, ``save_params``/``load_params``) over any ``Graph``.
- ``Sequential(layers, loss=SoftmaxWithLoss())``: a network from a chain of layers.
- ``TwoLayerNet``, ``MultiLayerNet``, ``MultiLayerNetExtend``, ``SimpleConvNet``, ``DeepConvNet``:
  the book's networks, built on them (same constructors, attributes and random draws as the book's).
"""

from .conv import DEEP_CONV_PARAMS, DeepConvNet, SimpleConvNet
from .mlp import MultiLayerNet, MultiLayerNetExtend, TwoLayerNet
from .network import Network, Sequential

__all__ = [
    "Network", "Sequential", "TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend",
    "SimpleConvNet", "DeepConvNet", "DEEP_CONV_PARAMS",
]  # fmt: skip
