"""Drop-in for the book's ``common/multi_layer_net_extend.py``.

``from fastbp.multi_layer_net_extend import MultiLayerNetExtend`` gives the network in ``fastbp.nets``.
"""

from .nets import MultiLayerNetExtend

__all__ = ["MultiLayerNetExtend"]
