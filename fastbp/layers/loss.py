"""Softmax with cross-entropy loss."""

from __future__ import annotations

import numbers

import numpy as np

from .. import _checks as _chk
from .. import config
from ..kernels import softmax_ce as _sce
from ..reference.softmax_ce import book_softmax_ce_forward as _book_sce
from .base import Layer


class SoftmaxWithLoss(Layer):
    """loss = -mean_i log softmax(x)[i, t_i]: softmax and cross-entropy fused, with its gradient.

    x: (N, C) scores. t: class indices, shape (N,) or (N, 1), any integer dtype (uint8 works); or
    target rows of shape (N, C) (one-hot, or any distribution). ``y`` keeps softmax(x), ``t`` the
    labels, ``loss`` the loss. The loss is exact (log-sum-exp), finite for any finite scores; with
    ``FASTBP_BOOK_LOSS=1`` (``fastbp.config.BOOK_LOSS``) the forward is the book's, in NumPy, with 1e-7
    inside the log, so its printed losses are the book's. The backward is the same either way.
    """

    def __init__(self):
        self.loss = self.y = self.t = None

    def forward(self, x, t):
        """The mean cross-entropy of softmax(x) against t, as a NumPy scalar of x's dtype."""
        where = "SoftmaxWithLoss.forward"
        x = _chk.float_array(x, "x", where, ndim=2)
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{where}: x must have at least one sample and one class, got shape {x.shape}")
        _chk.finite(x, "x", where)
        t, _ = _chk.labels(t, x.shape[0], x.shape[1], where, x.dtype)
        return self._forward(np.ascontiguousarray(x), t)

    def backward(self, dout=1):
        """d loss / dx = (softmax(x) - onehot(t)) * dout / N.

        The book ignores ``dout``; here it scales the gradient (the same for the usual dout = 1).
        """
        where = "SoftmaxWithLoss.backward"
        if self.y is None:
            raise RuntimeError(f"{where}: call forward before backward")
        if not isinstance(dout, (numbers.Real, np.ndarray)) or np.ndim(dout) != 0 or isinstance(dout, bool):
            raise TypeError(f"{where}: dout must be a real scalar, got {dout!r}")
        if not np.isfinite(dout):
            raise ValueError(f"{where}: dout must be finite, got {dout!r}")
        return self._backward(float(dout))

    def _forward(self, x, t):
        """Unchecked: x (N, C) contiguous; t validated by ``_checks.labels`` (1-D indices or rows)."""
        y = self._buffer("y", x.shape, x.dtype)
        if config.BOOK_LOSS:
            loss, y[...] = _book_sce(x, t)
        elif t.ndim == 1:
            loss = _sce.softmax_ce_forward(x, t, y)
        else:
            loss = _sce.softmax_ce_forward_dist(x, t, y)
        self.record(y, t, x.dtype.type(loss))
        return self.loss

    def record(self, y, t, loss):
        """Keep the state of a forward pass: softmax ``y``, labels ``t`` and the ``loss`` (fused nodes
        that computed the loss themselves call it)."""
        self.y, self.t, self.loss = y, t, loss

    def _backward(self, dout=1.0, needs_dx=True, out=None):
        """Unchecked backward, into ``out`` when given (an (N, C) array of y's dtype)."""
        dx = self._buffer("dx", self.y.shape, self.y.dtype) if out is None else out
        if self.t.ndim == 1:
            _sce.softmax_ce_backward(dout, self.y, self.t, dx)
        else:
            _sce.softmax_ce_backward_dist(dout, self.y, self.t, dx)
        return dx
