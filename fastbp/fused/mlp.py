"""A whole ReLU MLP with its softmax cross-entropy loss, as one node.

At batch 1 the book's step is all overhead: each BLAS call costs microseconds, and the products are
matrix-vector ones that BLAS does not speed up. Up to ``config.SMALL_BATCH`` samples this node runs
every layer, the loss and the backward pass as compiled loops (kernels/mlp.py) -- one call for a
whole training step. Above it, the node takes the whole step as one compiled call through NumPy's
own BLAS (kernels/mlp_blas.py: at batch 32 the Python between a dozen BLAS calls cost as much as the
products), with the first layer's list of nonzeros where that layer would list the batch, whenever
the layers would make their products in the same layouts: below ``config.LAYOUT_MIN_ROWS`` samples
always the usual ones, from it on those each product has settled on (layers/products.py; at 256 and
1000 rows here the one call took 0.90-0.97 of the layers' time). Otherwise the node runs its layers'
own nodes (a sparse first layer, Affine+ReLU nodes) one after the other, then the loss. The one call
gives the numbers of the nodes run one by one, bit for bit (the same BLAS calls and kernels in the
same order). The choice is made per batch, inside the node. (The body is a chain of known nodes,
called directly: an inner ``Graph``'s bookkeeping cost ~2 us a step at batch 32.)

Inputs ``(x, t)``; outputs ``(loss, scores)`` -- the scores are a side output, so a prediction
(``t`` None) stops after them.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

from .. import _blas_lib, config
from .. import _checks as _chk
from ..kernels import mlp as _mlp
from ..kernels import mlp_blas as _mlp_blas
from ..kernels import softmax_ce as _sce
from ..layers import products as _products
from ..layers.loss import SoftmaxWithLoss
from .base import Fused

_ADDRESS: dict = {}  # dtype code -> NumPy's cblas_?gemm (0: none usable), found at first use
# (no list is made: limit < 0) per dtype code, so that one compiled signature serves both cases
_NO_LIST = {c: (np.zeros(1, np.int32), np.zeros(1, c), np.zeros(2, np.int64)) for c in "fd"}
_NO_SGD = np.zeros(0, np.int64)  # the one-call BLAS step's SGD modes when no update is folded in
_NO_FLIP = {c: np.zeros(1, c) for c in "fd"}  # its scratch when every product is in the usual layout


class _Loops(NamedTuple):
    """The compiled path's arrays for one batch size: per layer its weights, outputs, output
    gradients and parameter gradients (tuples, in layer order), and the softmax."""

    n: int
    Ws: tuple
    bs: tuple
    hs: tuple
    ds: tuple
    dWs: tuple
    dbs: tuple
    y: np.ndarray
    row: np.ndarray  # scratch for FOLD_ROWS rows of dW of the widest layer (the SGD-folded step)
    gemm: bool  # every product has both dimensions over 1 (the one-call BLAS step makes np.dot's)
    shapes: tuple  # the Ws' shapes when these were made
    params: tuple  # (W1, b1, W2, b2, ...): what a folded SGD updates, in the order of its modes
    grads: tuple  # (dW1, db1, dW2, db2, ...): the gradients the two calls would hand the SGD
    lists: tuple  # (idx, val, ptr): the first layer's buffers for its list of nonzeros (the one-call
    # BLAS step lists the batch into them), or dummies where the first layer makes no list


class SmallBatchMLP(Fused):
    """``body`` (fused nodes: Affine+ReLU ..., then an Affine) and ``loss`` (a SoftmaxWithLoss).

    ``layers`` are the body's layers (the loss is ``loss``).
    """

    uses_grad = True  # with a backward to follow, the compiled path runs the whole step in one call

    def __init__(self, body: list, loss: SoftmaxWithLoss):
        self.body = list(body)
        self.loss = loss
        self.affines = [
            getattr(node, "affine", node) for node in self.body
        ]  # (the last may be a plain Affine)
        self.relus = [node.relu for node in self.body[:-1]]
        self._later = tuple(self.affines[1:])
        self.layers = tuple(layer for node in self.body for layer in getattr(node, "layers", (node,)))
        # The body's unchecked passes, in the order they run (every body node is one of fastbp's own:
        # the fusion rule matches exact types). The first reads the data, which needs no gradient.
        self._fwds = tuple(node._forward for node in self.body)
        self._bwds = tuple(node._backward for node in reversed(self.body[1:]))
        self._bwd_first = self.body[0]._backward
        self.checks_finite_input = getattr(self.body[0], "checks_finite_input", False)
        self.forget = getattr(self.body[0], "forget", None)
        self._loops = None  # the _Loops of the last compiled pass, or None if it went through BLAS
        self._built = None  # the _Loops _arrays made last (kept when the compiled path declined)
        self._stepped = False  # the last forward already ran the backward (for dout = 1)
        self._recorded = None  # the _Loops the layers' attributes were last recorded from
        self._lists = hasattr(self.body[0], "_limit")  # the first layer decides on a list of nonzeros
        self._usual = np.zeros(2 * len(self.affines), np.int64)  # every product in the usual layout
        self._flips = {}  # the layouts products.settled gave (a tuple) -> as the kernel's array
        self._matched = None  # (params, grads, _Loops) sgd_step last found to be the same arrays

    @property
    def takes_float32(self) -> bool:
        """Whether a float32 batch may come unconverted (the first layer's W is float64 now)."""
        return getattr(self.body[0], "takes_float32", False)

    def forward(self, x, t=None, **kwargs):
        scores = Fused.forward(self, x)  # (the checked path: the body's layers one by one)
        return (None if t is None else self.loss.forward(scores, t)), scores

    def backward(self, dout=1):
        return Fused.backward(self, self.loss.backward(dout))

    def _arrays(self, n: int, dt, d: int) -> _Loops | None:
        """The compiled path's arrays for batch n of d features (reused while the weights are the same
        arrays), or None when the weights cannot take it: rebound to another dtype or layout, or to
        shapes that do not chain from d features (the layers then run, and NumPy says what is wrong:
        the compiled code does not check its indices)."""
        c = self._built
        affines = self.affines
        if c is not None and c.n == n and c.Ws[0].shape[0] == d:  # (runs on every step: a plain loop)
            for a, W, b, shape in zip(affines, c.Ws, c.bs, c.shapes, strict=False):
                # (the same arrays, still of the shapes and writeable as when these were made: an
                # array's shape and flags can be set in place)
                if a.W is not W or a.b is not b or W.shape != shape:
                    break
                if not (W.flags.writeable and b.flags.writeable):
                    break
            else:
                return c
        Ws = tuple(a.W for a in affines)
        bs = tuple(a.b for a in affines)
        if not all(  # (read-only or strided arrays are other Numba types: the BLAS path copes)
            W.dtype == dt and b.dtype == dt and W.flags.c_contiguous and b.flags.c_contiguous
            and W.flags.writeable and b.flags.writeable and W.ndim == 2 and b.shape == W.shape[1:]
            for W, b in zip(Ws, bs, strict=False)
        ):  # fmt: skip
            return None
        widths = [d] + [W.shape[1] for W in Ws]
        if [W.shape[0] for W in Ws] != widths[:-1]:
            return None
        hs = tuple(self._buffer(f"h{i}", (n, W.shape[1]), dt) for i, W in enumerate(Ws))
        ds = tuple(self._buffer(f"d{i}", (n, W.shape[1]), dt) for i, W in enumerate(Ws))
        dWs = tuple(self._buffer(f"dW{i}", W.shape, dt) for i, W in enumerate(Ws))
        dbs = tuple(self._buffer(f"db{i}", b.shape, dt) for i, b in enumerate(bs))
        y = self._buffer("y", (n, Ws[-1].shape[1]), dt)
        row = self._buffer("row", (_mlp.FOLD_ROWS * max(W.shape[1] for W in Ws),), dt)
        gemm = min(min(W.shape) for W in Ws) > 1  # (a product with a dimension of 1: NumPy uses gemv)
        params = tuple(p for pair in zip(Ws, bs, strict=True) for p in pair)
        grads = tuple(g for pair in zip(dWs, dbs, strict=True) for g in pair)
        lists = _NO_LIST[dt.char]
        if self._lists:  # (whatever SMALL_BATCH is now: it may change, warmup changes it)
            first = self.body[0]
            lists = first._buffer("idx", (n * d,), np.int32), first._buffer("val", (n * d,), dt)
            lists += (first._buffer("ptr", (n + 1,), np.int64),)
        shapes = tuple(W.shape for W in Ws)
        self._matched = None  # (it held the _Loops replaced here: let their buffers go)
        self._built = _Loops(n, Ws, bs, hs, ds, dWs, dbs, y, row, gemm, shapes, params, grads, lists)
        return self._built

    def _forward(self, x, t=None, grad=False):
        n = x.shape[0]
        small = n <= config.SMALL_BATCH and not config.BOOK_LOSS
        step = small and grad and t is not None and t.ndim == 1  # the whole step in one call
        if small and not step and self.checks_finite_input:  # before any state changes
            _chk.finite_input(x)
        # A float32 batch for float64 weights (takes_float32) goes into the loops as it is: each value
        # is widened where it is read, as a converted copy would hold it (the copy cost 3 us at batch 1).
        dt = self.affines[0].W.dtype if x.dtype == np.float32 else x.dtype
        c = self._arrays(n, dt, x.size // n) if small else None
        if (
            not small and grad and t is not None and t.ndim == 1 and not config.BOOK_LOSS
            and (x.dtype == dt or (x.dtype == np.float32 and self.takes_float32))
            and (flip := self._layouts(n, dt)) is not None
        ):  # fmt: skip
            addr = self._blas_address(dt)
            loss = self._blas_step(x, t, self._arrays(n, dt, x.size // n), addr, flip) if addr else None
            if loss is not None:
                return loss, self._loops.hs[-1]
        if c is None:  # through BLAS: the body's nodes one after the other, then the loss
            self._loops, self._stepped = None, False
            scores = x
            for f in self._fwds:
                scores = f(scores)
            return (None if t is None else self.loss._forward(scores, t)), scores
        shape = x.shape  # (an image batch (N, C, H, W) is flattened per sample, as Affine does)
        x = x if x.ndim == 2 else x.reshape(n, -1)  # (C-contiguous: the network made it so)
        if step:  # (mlp_step checks x before it writes anything; _arrays made scratch buffers only)
            loss, bad = _mlp.mlp_step(x, t, c.Ws, c.bs, c.hs, c.ds, c.dWs, c.dbs, c.y)
            if bad >= 0:
                raise _chk.nonfinite_input(x.reshape(shape), at=bad)
            self._loops, self._stepped = c, True
        else:
            self._loops, self._stepped = c, False
            _mlp.mlp_forward(x, c.Ws, c.bs, c.hs)
            if t is None:
                self._record(x, shape, c)
                return None, c.hs[-1]
            if t.ndim == 1:
                loss = _sce.softmax_ce_forward(c.hs[-1], t, c.y)
            else:  # one-hot (or any target) rows
                loss = _sce.softmax_ce_forward_dist(c.hs[-1], t, c.y)
        self._record(x, shape, c)
        loss = c.y.dtype.type(loss)  # (the network's dtype: x may be a float32 batch)
        self.loss.record(c.y, t, loss)
        return loss, c.hs[-1]

    def may_fold(self, n: int) -> bool:
        """Whether ``sgd_step`` may take a batch of n samples (a cheap first look, before the network
        checks the batch and the optimizer): any batch of at least one sample (the compiled loops
        up to SMALL_BATCH, then the one-call BLAS step, which ``sgd_step`` may still decline)."""
        return n > 0

    def _layouts(self, n: int, dt) -> np.ndarray | None:
        """The layout of each x W and x^T g product the one-call BLAS step makes for a batch of n
        (``flip``: kernels/mlp_blas.py), as the layers would make them (layers/products.py): the
        usual ones below config.LAYOUT_MIN_ROWS; from it on, those each product has settled on, or
        None while any is still being timed (the layers run, and time them)."""
        if n < config.LAYOUT_MIN_ROWS:
            return self._usual
        shapes = [np.shape(a.W) for a in self.affines]  # (anything may have been bound to W: _arrays
        if any(len(s) != 2 for s in shapes):  # sorts it out, or the layers report it)
            return None
        flips = _products.settled(dt.char, n, shapes)
        if flips is None:
            return None
        known = self._flips.get(flips)
        if known is None:
            known = self._flips[flips] = np.array(flips, np.int64)
        return known

    def folds_sgd(self, x, t) -> bool:
        """Whether ``sgd_step`` may take this batch (a look after the network's checks: the label
        form; ``sgd_step`` itself still declines weights of another layout, and
        batches the one-call BLAS step declines)."""
        return (
            self.may_fold(x.shape[0]) and not config.BOOK_LOSS
            and isinstance(t, np.ndarray) and t.ndim == 1
        )  # fmt: skip

    def sgd_step(self, x, t, lr, params, grads, modes):
        """A training step with SGD(lr) folded into the backward pass on a checked batch that
        ``folds_sgd``: returns the loss, or None (nothing ran) when the weights cannot take the
        compiled path, when the SGD was set up for other arrays than this path's (``params``,
        ``grads``: its plan's, which must be ``(W1, b1, W2, ...)`` and this path's gradient buffers;
        the two calls would set it up anew), or when the one-call BLAS step declines the batch.
        ``modes``: the SGD's row modes of ``params`` (int64, updated). The layers keep the pass's
        attributes as ``forward`` leaves them.

        Up to ``config.SMALL_BATCH`` samples, the compiled loops (kernels/mlp.mlp_sgd_step) write no
        gradient: the layers' ``dW``, ``db`` are an earlier step's. Above, the one-call BLAS step
        (kernels/mlp_blas.py) updates each layer once its gradients are made: the layers' ``dW``,
        ``db`` are this step's."""
        n = x.shape[0]
        dt = self.affines[0].W.dtype if x.dtype == np.float32 else x.dtype
        blas = n > config.SMALL_BATCH
        addr = self._blas_address(dt) if blas else 0
        flip = self._layouts(n, dt) if blas and addr and (x.dtype == dt or self.takes_float32) else None
        if blas and flip is None:
            return None  # (the cheap refusals first)
        c = self._arrays(n, dt, x.size // n)
        if c is None:
            return None
        m = self._matched  # (the tuples are immutable: the same three objects, the same answer)
        if m is None or m[0] is not params or m[1] is not grads or m[2] is not c:
            if not (_same(params, c.params) and _same(grads, c.grads)):
                return None
            self._matched = (params, grads, c)
        if blas:
            loss = self._blas_step(x, t, c, addr, flip, lr, modes)
            if loss is not None and not self._holds_grads(c):
                for a, dW, db in zip(self.affines, c.dWs, c.dbs, strict=True):
                    a.record_grads(dW, db)
            return loss
        shape = x.shape
        x = x if x.ndim == 2 else x.reshape(n, -1)
        loss, bad = _mlp.mlp_sgd_step(x, t, c.Ws, c.bs, c.hs, c.ds, c.y, c.row, lr, modes)
        if bad >= 0:
            raise _chk.nonfinite_input(x.reshape(shape), at=bad)
        self._loops, self._stepped = c, False  # (a backward now would start again from the softmax)
        self._record(x, shape, c)
        loss = c.y.dtype.type(loss)
        self.loss.record(c.y, t, loss)
        return loss

    def _blas_address(self, dt) -> int:
        """NumPy's cblas_?gemm for dt, for the one-call BLAS step; 0 when that step cannot run (no
        usable BLAS, or a first layer that does not decide on a list of nonzeros)."""
        if not self._lists:
            return 0
        addr = _ADDRESS.get(dt.char)
        if addr is None:
            addr = _ADDRESS[dt.char] = _blas_lib.address(dt)
        return addr

    def _blas_step(self, x, t, c: _Loops | None, addr: int, flip, lr=0.0, modes=_NO_SGD):
        """The whole step in one compiled call through NumPy's BLAS (kernels/mlp_blas.py; ``addr``:
        ``_blas_address``), for a batch above SMALL_BATCH (``c``: ``_arrays`` for it), the first
        layer's products through its list of nonzeros where it would list the batch, each BLAS
        product in the layout ``flip`` gives (``_layouts``): returns the
        loss, or None when the layers must run one by one (no arrays for it: ``c`` None; a product
        that is not finite; a layer with a dimension of 1). With SGD's ``modes`` (of ``c.params``),
        SGD(lr) is folded in."""
        if c is None or c.n < 2 or not c.gemm:
            return None
        n, dt = c.n, c.y.dtype
        shape = x.shape
        x = x if x.ndim == 2 else x.reshape(n, -1)
        # A float32 batch for float64 weights is listed as it is; BLAS takes it converted, as the first
        # layer would convert it (checked as it is copied), into a buffer the layer does not hold.
        xd = self._spare("x", x.shape, dt, self.affines[0].x, x) if x.dtype != dt else x
        limit = self.body[0]._limit(x)
        c_args = (c.Ws, c.bs, c.hs, c.ds, c.dWs, c.dbs, c.y)
        if limit is None:
            lists, limit = _NO_LIST[dt.char], -1.0
        else:  # the kernel lists into the first layer's buffers: whatever list it held is gone now
            lists = c.lists
            self.forget()
        scratch = _NO_FLIP[dt.char]
        if flip is not self._usual and flip.any():  # (the other layout: through a scratch of out^T)
            widest = max(max(n * W.shape[1], W.size) for W in c.Ws)
            scratch = self._buffer("flipped", (widest,), dt)
        loss, code = _mlp_blas.mlp_blas_step(addr, x, xd, t, *c_args, *lists, limit, lr, modes, flip, scratch)
        if code == _mlp_blas.NOT_FINITE:
            _chk.finite_input(x.reshape(shape))  # raises when x holds the NaN/inf; else the layers run
            return None
        self._loops, self._stepped = c, True
        if code == _mlp_blas.LISTED:  # (the first layer's x and list, as that layer keeps them)
            self._record(x, shape, c, listing=c.lists)
        else:
            self._record(xd, shape, c)
        loss = c.y.dtype.type(loss)
        self.loss.record(c.y, t, loss)
        return loss

    def _backward(self, dout=1.0, needs_dx=False):
        c = self._loops
        if c is None:
            g = self.loss._backward(dout)
            for b in self._bwds:
                g = b(g, True)
            return self._bwd_first(g, False)
        if not (self._stepped and dout == 1.0):
            # (a backward of its own after the pass, or with another dout: the compiled loops make it,
            # whatever path the forward took -- the same sums up to rounding, ~1e-18 here)
            t = self.loss.t
            if t.ndim == 1:
                _sce.softmax_ce_backward(dout, c.y, t, c.ds[-1])
            else:
                _sce.softmax_ce_backward_dist(dout, c.y, t, c.ds[-1])
            x = self.affines[0].x  # (the layer's attribute: it may have run on another batch since)
            if x is None or x.shape != (c.n, c.shapes[0][0]):
                raise ValueError("the first layer's x is not the batch of the forward pass (it ran since?)")
            _mlp.mlp_backward(x, c.Ws, c.hs, c.ds, c.dWs, c.dbs)
        for a, dW, db in zip(self.affines, c.dWs, c.dbs, strict=False):
            if a.dW is not dW or a.db is not db:  # (the same buffers every step: no call)
                a.record_grads(dW, db)
        return None  # the compiled path gives the input no gradient (fused only where none is needed)

    def _record(self, x, shape, c: _Loops, listing=None):
        """Leave the layers' attributes as if they had run one by one (the book's scripts read them):
        x is the (N, D) input, ``shape`` its shape as given, ``listing`` its list of nonzeros (idx,
        val, ptr) if the first layer's products were made from one.

        Only the first layer's input is new each step: the others read and write this node's buffers.
        While each later layer still holds its input buffer and each ReLU its output (compared by
        identity: what its own forward would also leave, if the user ran one on the same buffer),
        their calls are skipped (a method call per layer is ~2 us of a 50 us step for 6 layers)."""
        if listing is not None:
            self.body[0].took(listing)
        elif self.forget is not None:
            self.forget()  # the first layer's list of nonzeros is an older batch's now
        hs = c.hs
        self.affines[0].record(x, hs[0], shape)
        if self._recorded is c and self._holds(hs):
            return
        prev = hs[0]
        for a, h in zip(self._later, hs[1:], strict=False):
            a.record(prev, h, prev.shape)
            prev = h
        for r, h in zip(self.relus, hs, strict=False):
            r.record(h)
        self._recorded = c

    def _holds_grads(self, c: _Loops) -> bool:
        """Whether every layer holds ``c``'s gradient buffers as its ``dW``, ``db``."""
        for a, dW, db in zip(self.affines, c.dWs, c.dbs, strict=True):
            if a.dW is not dW or a.db is not db:
                return False
        return True

    def _holds(self, hs) -> bool:
        """Whether the layers after the first still hold what the last ``_record`` gave them."""
        for a, h in zip(self._later, hs, strict=False):
            if a.x is not h:
                return False
        for r, h in zip(self.relus, hs, strict=False):
            if r.out is not h:
                return False
        return True


def _same(a: tuple, b: tuple) -> bool:
    """Whether two sequences hold the very same objects, in order."""
    return len(a) == len(b) and all(map(operator.is_, a, b))
