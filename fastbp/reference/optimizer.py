"""The book's optimizers in NumPy: the same classes as ``fastbp.optimizer`` with the NumPy twin of
each update (``fastbp.reference.kernels``) in place of the compiled one."""

from .. import optimizer as _fast

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


class SGD(_fast.SGD):
    kernel = _fast.SGD.twin


class Momentum(_fast.Momentum):
    kernel = _fast.Momentum.twin


class Nesterov(_fast.Nesterov):
    kernel = _fast.Nesterov.twin


class AdaGrad(_fast.AdaGrad):
    kernel = _fast.AdaGrad.twin


class RMSprop(_fast.RMSprop):
    kernel = _fast.RMSprop.twin


class Adam(_fast.Adam):
    kernel = _fast.Adam.twin
