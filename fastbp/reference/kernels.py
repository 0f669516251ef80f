"""Every twin of ``fastbp.kernels`` in one namespace: the per-family modules of this package
(``activations``, ``affine``, ``conv``, ``pool``, ...; the kernels' own module names) re-exported.

Each twin states the math once, in the shortest NumPy, and returns new arrays where its kernel writes
into ``out``; the compiled kernel of the same name must agree with it (float64 to ~1e-12, float32 to
~1e-5). ``fastbp.ops.kernels`` pairs them up for the tests and benchmarks.
"""

from .activations import *  # noqa: F403
from .affine import *  # noqa: F403
from .blas import *  # noqa: F403
from .checks import *  # noqa: F403
from .conv import *  # noqa: F403
from .mlp import *  # noqa: F403
from .mlp_blas import *  # noqa: F403
from .optim import *  # noqa: F403
from .pool import *  # noqa: F403
from .regularization import *  # noqa: F403
from .regularizers import *  # noqa: F403
from .softmax_ce import *  # noqa: F403
from .softmax_ce import _log_softmax  # noqa: F401  (a private name the old single module had)
from .sparse_input import *  # noqa: F403
