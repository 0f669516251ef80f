"""fastbp: the layers of *Deep Learning from the Basics*, with Numba-compiled backpropagation.

Drop-in modules mirror the book's ``common`` package: ``fastbp.layers``, ``fastbp.functions``,
``fastbp.gradient`` and ``fastbp.nets`` (the chapter models, e.g. ``TwoLayerNet``). The pure-NumPy
twin of every kernel and layer is ``fastbp.reference``.
"""

__version__ = "0.1.0"
