"""fastbp: the layers of *Deep Learning from the Basics*, with Numba-compiled backpropagation.

Drop-in modules mirror the book's ``common`` package: ``fastbp.layers``, ``fastbp.functions``,
``fastbp.gradient`` and ``fastbp.nets`` (the chapter models, e.g. ``TwoLayerNet``). The pure-NumPy
twin of every kernel and layer is ``fastbp.reference``.

Importing fastbp changes nothing in the process. fastbp's steps run BLAS on one thread: that setting
is applied when the first fastbp network is built (``FASTBP_NUM_THREADS=keep`` leaves the threads
alone; ``set_num_threads``; see ``fastbp._threads``). The first run of a network compiles its kernels
and says so on stderr, once (``FASTBP_QUIET=1`` or the ``fastbp`` logger silence it; see
``fastbp._jit``); ``fastbp warmup`` compiles them ahead of time.
"""

from ._threads import get_num_threads, set_num_threads

__version__ = "0.1.0"
__all__ = ["set_num_threads", "get_num_threads", "__version__"]
