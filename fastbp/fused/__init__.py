"""Graph nodes that stand for several layers, and the rules that put them in a network's graph.

- ``AffineRelu``, ``SparseInputAffine`` (``affine``), ``ConvRelu``, ``ConvReluPool`` (``conv``),
  ``SmallBatchMLP`` (``mlp``): each an ordinary graph node (``forward``/``backward`` and the unchecked
  ``_forward``/``_backward``) that leaves its layers' attributes as if they had run.
- ``rules.RULES`` and ``rules.fuse(graph)``: which runs of layers become which node.
"""

from .affine import AffineRelu, SparseInputAffine
from .conv import ConvRelu, ConvReluPool
from .mlp import SmallBatchMLP

__all__ = ["AffineRelu", "SparseInputAffine", "ConvRelu", "ConvReluPool", "SmallBatchMLP"]
