"""The book's layers (chapter 5 of *Deep Learning from the Basics*), running on Numba kernels.

Drop-in for ``common/layers.py``: same class names, constructors, ``forward``/``backward`` and the
attributes scripts read (``W``, ``b``, ``dW``, ``db``, ``x``, ``original_x_shape``, ``mask``,
``out``, ``y``, ``t``, ``loss``). ``from fastbp.layers import *`` also brings ``np`` and the
functions of ``fastbp.functions``, as the book's star import does.

How the layers behave:

- Parameters are held by reference: ``Affine(W, b).W is W``. Optimizers that update in place and
  ``numerical_gradient``, which perturbs in place, are seen by the next ``forward``.
- A layer computes in the dtype of its parameters (Affine) or of its input (activations); float32
  stays float32. A float input of the other precision is converted into a reused buffer, as the
  book's float32 images meet float64 weights. Integer, bool and object arrays raise ``TypeError``.
- Outputs and gradients are written into buffers the layer owns and reuses while the shapes stay the
  same, so a training loop allocates nothing. The array a call returns is overwritten by the next
  call of the same method: copy it if you keep it.
- ``forward``/``backward`` check their arguments (type, rank, shape, NaN/inf) and raise
  ``TypeError``/``ValueError`` naming the argument before any state changes. The networks check
  their inputs once and their graph calls the unchecked ``_forward``/``_backward``.
- Fused graph nodes (``fastbp.fused``) run several layers in one pass; they leave each layer's
  attributes as if it had run, through the layer's own ``record``/``record_grads`` methods.

One module per family: ``activations``, ``affine``, ``conv``, ``regularization``, ``loss``, ``simple``.
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (the book's star import brings np)

from ..functions import *  # noqa: F401,F403  (the book's star-import surface)
from ..util import col2im, im2col  # noqa: F401  (the book's layers module exposes these too)
from .activations import LeakyRelu, Relu, Sigmoid, Tanh  # noqa: F401  (the public names)
from .affine import Affine  # noqa: F401
from .base import Layer  # noqa: F401
from .conv import Convolution, Pooling  # noqa: F401
from .loss import SoftmaxWithLoss  # noqa: F401
from .regularization import BatchNormalization, Dropout  # noqa: F401
from .simple import AddLayer, MulLayer  # noqa: F401
