"""The book's networks, and the builders they are made with.

- ``Network``: the book's network surface (``params``, ``predict``, ``loss``, ``accuracy``,
  ``gradient``, ``numerical_gradient``, ``save_params``/``load_params``) over any ``Graph``.
- ``Sequential(layers, loss=SoftmaxWithLoss())``: a network from a chain of layers.
- ``TwoLayerNet``, ``MultiLayerNet``, ``MultiLayerNetExtend``, ``SimpleConvNet``, ``DeepConvNet``:
  the book's networks, built on them (same constructors, attributes and random draws as the book's).
- ``load(path)``: a saved book network, rebuilt from the description saved with its parameters.
"""

import os as _os

import numpy as _np

from .. import checkpoint as _ckpt
from .conv import DEEP_CONV_PARAMS, DeepConvNet, SimpleConvNet
from .mlp import MultiLayerNet, MultiLayerNetExtend, TwoLayerNet
from .network import Network
from .sequential import Sequential

_BOOK_NETS = {
    c.__name__: c for c in (TwoLayerNet, MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, DeepConvNet)
}


def load(file_name, *, dtype=None, backend: str = "fastbp") -> Network:
    """The network saved in ``file_name`` by ``save_params``, rebuilt from the description saved with
    its parameters (class and constructor arguments) and loaded. ``dtype``: the saved one by default."""
    where = "load"
    desc = _ckpt.read_description(file_name, where)
    if desc is None:
        raise ValueError(
            f"{where}: {_os.fspath(file_name)!r} does not describe its network (saved by an older fastbp, "
            "the book's code, or a user-built network): build the network, then call its load_params"
        )
    cls = _BOOK_NETS.get(desc.get("class"))
    if cls is None or desc.get("format") != "fastbp-network" or not isinstance(desc.get("args"), dict):
        raise ValueError(f"{where}: {_os.fspath(file_name)!r} describes no network fastbp knows ({desc!r})")
    state = _np.random.get_state()  # building draws initial weights: leave the user's random stream alone
    try:
        net = cls(**desc["args"], dtype=dtype or desc.get("dtype", "float64"), backend=backend)
    finally:
        _np.random.set_state(state)
    net.load_params(file_name)
    return net


__all__ = [
    "Network", "Sequential", "TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend",
    "SimpleConvNet", "DeepConvNet", "DEEP_CONV_PARAMS", "load",
]  # fmt: skip
