"""Affine nodes: Affine followed by ReLU in one pass, and a first Affine that reads a mostly-zero input.

- ``AffineRelu``: the bias and the ReLU share the pass over the product's output; on the way back the
  ReLU mask and the bias gradient share one pass over the incoming gradient.
- ``SparseInputAffine`` (optionally with its ReLU): the network's first layer, which sees the data.
  MNIST images are ~81% zeros: it lists each batch's nonzeros once (CSR form; that pass also checks
  the input for NaN/inf, so the network need not scan it again) and computes ``x W`` and ``x^T dout``
  from the list when the batch is sparse enough (``config.CSR_MAX_DENSITY``), else through BLAS.
  The choice is made per batch, inside the node, from the data.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _checks as _chk
from .. import config
from ..kernels import affine as _aff
from ..kernels import sparse_input as _sparse
from ..kernels.checks import all_finite, copy_all_finite
from ..layers import products
from ..layers.activations import Relu
from ..layers.affine import Affine
from .base import Fused


class Listing(NamedTuple):
    """A batch's nonzeros in CSR form: row r's are ``val[ptr[r]:ptr[r+1]]`` at columns ``idx[...]``."""

    idx: np.ndarray
    val: np.ndarray
    ptr: np.ndarray
    cols: int  # the batch's columns (the rows of the W it was listed for)


class AffineRelu(Fused):
    """Affine -> Relu as one node (the layers keep their attributes: ``x``, ``dW``, ``db``, ``out``)."""

    def __init__(self, affine: Affine, relu: Relu):
        self.affine, self.relu = affine, relu
        self.layers = (affine, relu)

    def _forward(self, x):
        a = self.affine
        x2 = a.rows(x)
        out = a.out_buffer(x2)
        products.forward(a, x2, a.W, out)
        _aff.bias_relu_forward(out, a.b)
        a.record(x2, out, x.shape)
        self.relu.record(out)
        return out

    def _backward(self, dout, needs_dx=True):
        a = self.affine
        dout = _in_dtype(dout, a)
        dW, db = a.grad_buffers()
        _aff.relu_bias_backward(dout, self.relu.out, db)  # masks dout in place, as the book's Relu
        products.weight_grad(a, a.x, dout, dW)
        a.record_grads(dW, db)
        return a.input_grad(dout) if needs_dx else None


class SparseInputAffine(Fused):
    """The first Affine (and its Relu, if one follows) of a network, reading the network's input.

    Owns the list of the last batch's nonzeros and the check of the input for NaN/inf. Where the list
    is not taken (a dense batch, fewer than ``config.CSR_MIN_ROWS`` rows, an output width the CSR
    kernels are not compiled for, or a NaN/inf in W -- BLAS multiplies it by x's zeros and the results
    must be NumPy's), the node runs the products in BLAS and checks the input through its product (or
    as it converts it). dW comes from the input as the forward saw it.
    """

    checks_finite_input = True

    def __init__(self, affine: Affine, relu: Relu | None = None):
        self.affine, self.relu = affine, relu
        self.layers = (affine,) if relu is None else (affine, relu)
        self._csr: Listing | None = None  # the last batch's nonzeros, when it took the list

    @property
    def takes_float32(self) -> bool:
        """Whether a float32 batch may come unconverted: W is float64 (read at each call: the user
        may rebind it), and the list widens each value as a converted copy would (see _widens)."""
        return self.affine.W.dtype == np.float64

    def forget(self) -> None:
        """Drop the list of nonzeros (another path ran the last batch: the list is an older one's)."""
        self._csr = None

    def took(self, listing) -> None:
        """The last batch's list of nonzeros ``(idx, val, ptr)``, made and used by another path (the
        one-call step, fused.mlp): as if this node had listed it."""
        self._csr = Listing(*listing, self.affine.W.shape[0])  # (the step checked W against x)

    @property
    def listed(self) -> bool:
        """Whether the last batch went through the list of nonzeros (else BLAS)."""
        return self._csr is not None

    def _limit(self, x2):
        """The density up to which this batch may take the list, or None (BLAS). (W must also be all
        finite: checked once the list is made, since a dense batch never needs to know.)"""
        a = self.affine
        W = a.W
        if x2.shape[0] < config.CSR_MIN_ROWS or not (x2.dtype == W.dtype or _widens(x2, W)):
            return None
        if W.ndim != 2 or W.shape[0] != x2.shape[1]:  # (W rebound: BLAS says what is wrong; the CSR
            return None  # kernels would index W's rows by x's columns, unchecked)
        limit = config.CSR_MAX_DENSITY.get((_DTYPE_NAME.get(W.dtype.char), W.shape[1]))
        if limit is None or not (W.flags.c_contiguous and a.b.flags.c_contiguous):
            return None
        return limit

    def _forward(self, x):
        a = self.affine
        W = a.W
        # (a float32 batch is listed as it is, an image batch flattened first: nothing is converted
        # into the layer's buffers before the batch is checked)
        flat = x if x.ndim == 2 or not x.flags.c_contiguous else x.reshape(x.shape[0], -1)
        x2 = flat if flat.ndim == 2 and _widens(flat, W) else a.rows(x)
        self._csr = None
        status = -1  # compact_rows' answer; -1 also when it was not asked, -3: listed, but W has NaN/inf
        limit = self._limit(x2)
        if limit is not None:
            n = x2.shape[0]
            idx = self._buffer("idx", (x2.size,), np.int32)
            val = self._buffer("val", (x2.size,), W.dtype)
            ptr = self._buffer("ptr", (n + 1,), np.int64)
            status = _sparse.compact_rows(x2, idx, val, ptr, limit)  # -1: too dense, -2: NaN or inf
            if status == -2:
                raise _chk.nonfinite_input(x2.reshape(x.shape))
            if status >= 0 and not all_finite(W.reshape(-1)):  # BLAS multiplies NaN/inf by x's zeros
                status = -3
        checked = status != -1  # (the list's pass read every entry of x)
        if status < 0 and x2.dtype != W.dtype:  # not listed: BLAS takes W's dtype
            if checked or not _widens(x2, W):
                if not checked:
                    _chk.finite_input(x2.reshape(x.shape))
                x2 = a.rows(x2)
            else:  # the copy checks as it goes, into a buffer the last pass's layer does not hold
                buf = a._spare("x", x2.shape, W.dtype, a.x, x2)
                if not copy_all_finite(x2.reshape(-1), buf.reshape(-1)):
                    raise _chk.nonfinite_input(x2.reshape(x.shape))
                x2 = buf
            checked = True
        relu = self.relu is not None
        if status >= 0:
            out = a.out_buffer(x2)
            self._csr = Listing(idx, val, ptr, x2.shape[1])
            _sparse.csr_affine_forward(idx, val, ptr, W, a.b, out, relu)
        else:
            # A dense batch is checked through its product, a tenth of its size: a NaN or inf in a row
            # of x makes that row of x W NaN or inf (NaN * 0 is NaN), so x itself is scanned only when
            # the product holds one (x's own, or W's, or an overflow: then x may well be finite). That
            # scan cost 5% of a dense step (270 us of 5.8 ms, batch 1000 float64). The product goes
            # into a buffer the last pass's layers do not hold: a refused call changes nothing. (An inf
            # in x may make NumPy warn of an invalid value -- inf * 0 -- before the refusal; an
            # np.errstate around every product would cost 2.3 us.)
            if checked:
                out = a.out_buffer(x2)
                products.forward(a, x2, W, out)
            else:
                out = a._spare("out", (x2.shape[0], W.shape[1]), W.dtype, a._out, x2)
                try:
                    products.forward(a, x2, W, out)
                except RuntimeWarning:  # (warnings made errors): the refusal first, if x is to blame
                    _chk.finite_input(x2.reshape(x.shape))
                    raise
                if out.shape[1] == 0 or not all_finite(out.reshape(-1)):
                    _chk.finite_input(x2.reshape(x.shape))  # raises when x holds the NaN/inf
            (_aff.bias_relu_forward if relu else _aff.bias_forward)(out, a.b)
        a.record(x2, out, x.shape)
        if relu:
            self.relu.record(out)
        return out

    def _backward(self, dout, needs_dx=True):
        a = self.affine
        dout = _in_dtype(dout, a)
        dW, db = a.grad_buffers()
        if self.relu is None:
            _aff.bias_backward(dout, db)
        else:
            _aff.relu_bias_backward(dout, self.relu.out, db)
        csr = self._csr
        if (
            csr is not None
            and dout.flags.c_contiguous
            and dout.shape == (csr.ptr.shape[0] - 1, a.W.shape[1])
            and dW.shape[0] == csr.cols  # (W not rebound to other rows since: dW has W's shape)
            and all_finite(dout.reshape(-1))  # 0 * inf must give BLAS's NaN
        ):
            _sparse.csr_weight_grad(csr.idx, csr.val, csr.ptr, dout, dW)
        else:  # (a listed float32 batch is converted only here, where BLAS needs it)
            products.weight_grad(a, a.rows(a.x), dout, dW)
        a.record_grads(dW, db)
        return a.input_grad(dout) if needs_dx else None


# config's keys name the dtype; ``dtype.name`` is computed in Python on every read (2.3 us here, a
# tenth of a batch-1 step), its one-letter code is not.
_DTYPE_NAME = {"f": "float32", "d": "float64"}


def _widens(x, W) -> bool:
    """Whether x is a float32 batch for a float64 W: the list of nonzeros takes it unconverted
    (widening each value as the converted copy would; 1000 MNIST images: one pass over 3 MB instead
    of a copy to 6 MB and a pass over that). The network leaves such a batch unconverted only when
    its first node says so (``takes_float32``)."""
    return x.dtype == np.float32 and W.dtype == np.float64 and x.flags.c_contiguous


def _in_dtype(dout, affine):
    """dout in W's dtype (W rebound to another precision than the layers after it: dW in W's)."""
    return dout if dout.dtype == affine.W.dtype else dout.astype(affine.W.dtype)
