"""The book's optimizers in NumPy: the same classes as ``fastbp.optimizer`` with the NumPy twin of
each update (``fastbp.reference.kernels``) in place of the compiled one.

``kernel_all = None`` matters: the fast classes' one-call update over all parameters is compiled, and
a twin that inherited it would run fastbp's kernel from its second step on.
"""

from .. import optimizer as _fast

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


class SGD(_fast.SGD):
    kernel = _fast.SGD.twin
    kernel_all = None


class Momentum(_fast.Momentum):
    kernel = _fast.Momentum.twin
    kernel_all = None


class Nesterov(_fast.Nesterov):
    kernel = _fast.Nesterov.twin
    kernel_all = None


class AdaGrad(_fast.AdaGrad):
    kernel = _fast.AdaGrad.twin
    kernel_all = None


class RMSprop(_fast.RMSprop):
    kernel = _fast.RMSprop.twin
    kernel_all = None


class Adam(_fast.Adam):
    kernel = _fast.Adam.twin
    kernel_all = None
