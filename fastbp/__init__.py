"""fastbp: the layers of *Deep Learning from the Basics*, with Numba-compiled backpropagation.

Drop-in modules mirror the book's ``common`` package: ``fastbp.layers``, ``fastbp.functions``,
``fastbp.gradient`` and ``fastbp.nets`` (the chapter models, e.g. ``TwoLayerNet``). The pure-NumPy
twin of every kernel and layer is ``fastbp.reference``.

Importing fastbp sets BLAS to one thread (``FASTBP_NUM_THREADS``, ``set_num_threads``: see
``fastbp._threads`` for why and how to change it).
"""

from . import _threads
from ._threads import get_num_threads, set_num_threads

__version__ = "0.1.0"
__all__ = ["set_num_threads", "get_num_threads", "__version__"]

_threads._apply_environment()  # one BLAS thread unless FASTBP_NUM_THREADS says otherwise (see _threads)
