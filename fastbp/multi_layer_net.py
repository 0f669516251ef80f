"""Drop-in for the book's ``common/multi_layer_net.py``.

``from fastbp.multi_layer_net import MultiLayerNet`` gives the network defined in ``fastbp.nets``.
"""

from .nets import MultiLayerNet

__all__ = ["MultiLayerNet"]
