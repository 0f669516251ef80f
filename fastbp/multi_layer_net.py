"""Drop-in for the book's ``common/multi_layer_net.py``: ``from fastbp.multi_layer_net import MultiLayerNet``."""

from .nets import MultiLayerNet

__all__ = ["MultiLayerNet"]
