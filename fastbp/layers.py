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
  their inputs once and call the unchecked ``_forward``/``_backward``.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from . import _checks as _chk
from .functions import *  # noqa: F401,F403  (the book's star-import surface)
from .kernels import activations as _act
from .kernels import affine as _aff
from .kernels import conv as _conv
from .kernels import regularization as _reg
from .kernels import softmax_ce as _sce
from .kernels import sparse_input as _sparse
from .util import col2im, im2col  # noqa: F401  (the book's layers module exposes these too)


def _contiguous(x):
    """x in C order (a copy only if it is not), keeping a 0-d array 0-d (np.ascontiguousarray would not)."""
    return x if x.flags.c_contiguous else np.asarray(x, order="C")


class Layer:
    """Base of the compiled layers: keeps output buffers and reuses them while shapes stay."""

    _bufs = None

    def _buffer(self, key: str, shape: tuple, dtype) -> np.ndarray:
        bufs = self._bufs
        if bufs is None:
            bufs = self._bufs = {}
        buf = bufs.get(key)
        if buf is not None and buf.shape == shape and buf.dtype == dtype:
            return buf
        buf = bufs[key] = np.empty(shape, dtype)
        return buf

    def _grad_in(self, dout, like: np.ndarray | None, where: str) -> np.ndarray:
        """dout checked against the forward output ``like``, contiguous and in its dtype."""
        if like is None:
            raise RuntimeError(f"{where}: call forward before backward")
        dout = _chk.float_array(dout, "dout", where)
        if dout.shape != like.shape:
            raise ValueError(
                f"{where}: dout must have the forward output's shape {like.shape}, got {dout.shape}"
            )
        _chk.finite(dout, "dout", where)
        return _contiguous(dout.astype(like.dtype, copy=False))


class _Activation(Layer):
    """An elementwise activation y = f(x): forward keeps y, backward gives dout * f'(x) from y."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        """y = f(x), same shape and dtype as x (float32 or float64, any shape)."""
        where = f"{type(self).__name__}.forward"
        x = _chk.float_array(x, "x", where)
        _chk.finite(x, "x", where)
        return self._forward(_contiguous(x))

    def backward(self, dout):
        """dx = dout * f'(x), for dout of the forward output's shape."""
        dout = self._grad_in(dout, self.out, f"{type(self).__name__}.backward")
        return self._backward(dout)

    # The kernels get flat views: one compiled signature per dtype, whatever the input's rank.
    def _forward(self, x):
        out = self._buffer("out", x.shape, x.dtype)
        self._kernel_forward(x.reshape(-1), out.reshape(-1))
        self.out = out
        return out

    def _backward(self, dout, need_dx=True):
        dx = self._buffer("dx", dout.shape, dout.dtype)
        self._kernel_backward(dout.reshape(-1), dx.reshape(-1))
        return dx


class Relu(_Activation):
    """y = max(x, 0); the derivative is 1 for x > 0 and 0 otherwise (0 at x = 0, as the book).

    As the book's layer, ``backward`` writes its result into ``dout`` and returns that same array
    (an array that is not writeable, or not contiguous in the layer's dtype, is copied first).
    ``mask`` is the book's boolean ``x <= 0`` of the last forward pass.
    """

    @property
    def mask(self):
        return None if self.out is None else self.out <= 0

    def _kernel_forward(self, x, out):
        _act.relu_forward(x, out)

    def backward(self, dout):
        """dx = dout where x > 0, else 0, written into dout (see the class docstring)."""
        where = "Relu.backward"
        if self.out is None:
            raise RuntimeError(f"{where}: call forward before backward")
        d = self._grad_in(dout, self.out, where)
        if d is dout and not d.flags.writeable:
            d = d.copy()
        return self._backward(d)

    def _backward(self, dout, need_dx=True):
        _act.relu_backward(dout.reshape(-1), self.out.reshape(-1))
        return dout


class LeakyRelu(_Activation):
    """y = x for x > 0, alpha x otherwise (not in the book). alpha >= 0, default 0.01."""

    def __init__(self, alpha: float = 0.01):
        if not isinstance(alpha, numbers.Real) or not np.isfinite(alpha) or alpha < 0:
            raise ValueError(f"LeakyRelu: alpha must be a finite number >= 0, got {alpha!r}")
        super().__init__()
        self.alpha = float(alpha)

    def _kernel_forward(self, x, out):
        _act.leaky_relu_forward(x, self.alpha, out)

    def _kernel_backward(self, dout, dx):
        _act.leaky_relu_backward(dout, self.out.reshape(-1), self.alpha, dx)


class Sigmoid(_Activation):
    """y = 1 / (1 + exp(-x)); dy/dx = (1 - y) y. Finite and warning-free for any finite x."""

    def _kernel_forward(self, x, out):
        # exp(-|x|) by NumPy's SIMD ufuncs, in place in out; the kernel fuses the rest.
        np.abs(x, out=out)
        np.negative(out, out=out)
        np.exp(out, out=out)
        _act.sigmoid_forward(x, out)

    def _kernel_backward(self, dout, dx):
        _act.sigmoid_backward(dout, self.out.reshape(-1), dx)


_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)  # NumPy's native dtypes are single objects
# Below this many elements Tanh leaves the input to NumPy's own call: it costs 0.35 us at 100 elements,
# a kernel's dispatch 0.47 us and a buffer check 0.15 us (measured); a fresh small array is nearly
# free. From there compiled kernels beat NumPy's tanh: float64 1.07-1.12x, float32 1.13-1.24x. A
# module constant, not a class attribute: one lookup fewer on the smallest inputs.
_TANH_SMALL = 2048


class Tanh(_Activation):
    """y = tanh(x); dy/dx = 1 - y^2 (not in the book)."""

    def _forward(self, x):
        if x.size < _TANH_SMALL and x.ndim:  # NumPy's own call, with the fewest checks before it
            self.out = out = np.tanh(x)
            return out
        dt = x.dtype
        out = self.out  # reused while it fits (the kernels read any layout of x: ravel copies)
        if out is None or out.dtype is not dt or out.shape != x.shape or not out.flags.c_contiguous:
            out = np.empty(x.shape, dt)
        if dt is _F64 and x.ndim:
            _act.tanh_forward(x, out)
        elif dt is _F32 and x.ndim:
            _act.tanh_forward_float32(x, out)
        else:  # 0-d (np.tanh would return a scalar), or another byte order
            np.tanh(x, out)
        self.out = out
        return out

    def _kernel_backward(self, dout, dx):
        _act.tanh_backward(dout, self.out.reshape(-1), dx)


class Affine(Layer):
    """y = x W + b.  x: (N, D) or (N, d1, d2, ...) with d1*d2*... = D; W: (D, M); b: (M,) -> y: (N, M).

    Like the book, a higher-rank input is flattened per sample; ``x`` keeps the flattened input and
    ``original_x_shape`` its shape, and ``backward`` returns dx in that shape. ``W`` and ``b`` are
    the arrays passed in (not copies). The products run in NumPy's BLAS, the bias in a kernel.

    A network's first Affine (``sparse_input``) may instead list the nonzeros of a mostly-zero input
    once and compute x W and dW from that list (kernels/sparse_input.py); dW then comes from the input
    as the forward saw it (the book's layer reads ``self.x`` again in backward).
    """

    def __init__(self, W, b):
        W = _chk.float_array(W, "W", "Affine", ndim=2)
        b = _chk.float_array(b, "b", "Affine", ndim=1)
        if b.shape[0] != W.shape[1]:
            raise ValueError(f"Affine: b must have W.shape[1] = {W.shape[1]} entries, got shape {b.shape}")
        if b.dtype != W.dtype:
            raise TypeError(f"Affine: W and b must have the same dtype, got {W.dtype} and {b.dtype}")
        _chk.finite(W, "W", "Affine")
        _chk.finite(b, "b", "Affine")
        self.W, self.b = W, b
        self.x = self.original_x_shape = self.dW = self.db = None
        self._out = None
        self.sparse_input = False  # set by the networks on their first layer (see _csr_limit)
        self._csr = None  # (idx, val, ptr) of the last input when the forward took the CSR path
        self._pre = None  # (x, csr) listed ahead of the forward by the network's input check

    # Most-zero inputs (MNIST batches: 19% nonzero) take kernels/sparse_input.py instead of BLAS when
    # the input's density is at most this, per (dtype, output width). The CSR work grows with the
    # density, BLAS's does not. Measured here at batch 100 on random inputs of a given density (x W and
    # x^T dout; BLAS vs. listing + the CSR kernels, us), density 0.2 / 0.3 / 0.4: float32 width 50:
    # 180 vs 114 / 163 / 210, width 100: 336 vs 193 / 279 / 358; float64 width 50: 391 vs 203 / 289 /
    # 368, width 100: 698 vs 495 / 574 / 732: break-even at about 0.34, 0.37, 0.43 and 0.38. The limits
    # sit a little below. Without a native vector compress (no AVX-512) the listing is scalar and
    # costs ~25 us more per 100 images: the lower limits measured with it apply.
    CSR_MAX_DENSITY = (
        {("float64", 50): 0.38, ("float64", 100): 0.34, ("float32", 50): 0.30, ("float32", 100): 0.33}
        if _sparse.NATIVE
        else {("float64", 50): 0.33, ("float64", 100): 0.33, ("float32", 50): 0.22, ("float32", 100): 0.27}
    )

    def _csr_limit(self, x2):
        """The density up to which this forward may take the CSR path, or None (BLAS).

        Not with a NaN or inf in W: BLAS multiplies it by the zeros of x (0 * inf = NaN), the list of
        nonzeros never meets it, and the results must be NumPy's.
        """
        if not self.sparse_input or x2.shape[0] < 8:
            return None
        W = self.W
        limit = self.CSR_MAX_DENSITY.get((W.dtype.name, W.shape[1]))
        if limit is None or not (W.flags.c_contiguous and self.b.flags.c_contiguous):
            return None
        return limit if _chk.all_finite(W.reshape(-1)) else None

    def _precompact(self, x2) -> int:
        """List x2's nonzeros ahead of the forward (the network's input check calls this; the pass
        also checks finiteness). Returns compact_rows' status: the count, -1 (too dense, or this
        layer takes BLAS), -2 (NaN or inf in x2). The next forward of this very array uses the list."""
        self._pre = None
        if x2.dtype != self.W.dtype:  # (a network whose W1 was rebound to another dtype)
            return -1
        limit = self._csr_limit(x2)
        if limit is None:
            return -1
        idx = self._buffer("csr_idx", (x2.size,), np.int32)
        val = self._buffer("csr_val", (x2.size,), self.W.dtype)
        ptr = self._buffer("csr_ptr", (x2.shape[0] + 1,), np.int64)
        status = _sparse.compact_rows(x2, idx, val, ptr, limit)
        if status >= 0:
            self._pre = (x2, (idx, val, ptr))
        return status

    def forward(self, x):
        """x W + b for a batch x of N samples with D = W.shape[0] features each."""
        where = "Affine.forward"
        x = _chk.float_array(x, "x", where, min_ndim=2, convert=True)
        d = int(np.prod(x.shape[1:]))
        if x.shape[0] == 0:
            raise ValueError(f"{where}: x holds no samples (shape {x.shape})")
        if d != self.W.shape[0]:
            raise ValueError(
                f"{where}: x has {d} features per sample (shape {x.shape}), but W expects {self.W.shape[0]}"
            )
        _chk.finite(x, "x", where)
        return self._forward(x)

    def backward(self, dout):
        """dx = dout W^T (in x's original shape); stores dW = x^T dout and db = sum_rows dout."""
        dout = self._grad_in(dout, self._out, "Affine.backward")
        return self._backward(dout)

    def _forward(self, x, relu=None):
        """Unchecked forward; with ``relu`` (a Relu layer) the bias and ReLU share one pass."""
        W = self.W
        self.original_x_shape = x.shape
        x2 = x if x.ndim == 2 else x.reshape(x.shape[0], -1)  # the very array: see _precompact
        if x2.dtype != W.dtype or not x2.flags.c_contiguous:
            x2 = self._buffer("x", x2.shape, W.dtype)
            np.copyto(x2, x.reshape(x.shape[0], -1))
        out = self._buffer("out", (x2.shape[0], W.shape[1]), W.dtype)
        pre, self._pre = self._pre, None
        if pre is None or pre[0] is not x2:  # not listed by the network's input check just now:
            self._precompact(x2)  # list the nonzeros, unless this batch or layer takes BLAS
            pre, self._pre = self._pre, None
        self._csr = pre[1] if pre is not None else None
        if self._csr is not None:
            _sparse.csr_affine_forward(*self._csr, W, self.b, out, relu is not None)
        else:
            np.dot(x2, W, out=out)
            if relu is None:
                _aff.bias_forward(out, self.b)
            else:
                _aff.bias_relu_forward(out, self.b)
        if relu is not None:
            relu.out = out  # the Relu layer's state, as if it had run (its mask reads it)
        self.x, self._out = x2, out
        return out

    def _backward(self, dout, need_dx=True, relu=None):
        """Unchecked backward; with ``relu``, dout is the gradient of the ReLU output (masked in place)."""
        W, x = self.W, self.x
        if dout.dtype != W.dtype:  # W rebound to another precision than the layers after it: dW in W's
            dout = dout.astype(W.dtype)  # (np.dot(x.T, dout, out=dW) takes no mixed dtypes)
        self.db = self._buffer("db", self.b.shape, W.dtype)
        if relu is None:
            _aff.bias_backward(dout, self.db)
        else:
            _aff.relu_bias_backward(dout, relu.out, self.db)
        dW = self._buffer("dW", W.shape, W.dtype)
        csr = self._csr
        if (
            csr is not None
            and dout.flags.c_contiguous
            and csr[1].dtype == W.dtype  # the row updates take one dtype (dout is W's by now)
            and dout.shape == (csr[2].shape[0] - 1, W.shape[1])
            and _chk.all_finite(dout.reshape(-1))  # as above: 0 * inf must give BLAS's NaN
        ):  # x's nonzeros, listed by the forward, serve dW = x^T dout too
            idx, val, ptr = csr
            _sparse.csr_weight_grad(idx, val, ptr, dout, dW)
            self.dW = dW
        else:
            self.dW = np.dot(x.T, dout, out=dW)
        if not need_dx:  # the network's input needs no gradient: skip the largest product
            return None
        dx = np.dot(dout, W.T, out=self._buffer("dx", x.shape, W.dtype))
        return dx.reshape(self.original_x_shape)


class WithRelu:
    """A layer (Affine or Convolution) followed by a Relu, run as one node: the bias and the ReLU share
    the pass over the product's output, and on the way back the ReLU mask and the bias gradient share one.

    The networks use it in place of the two layers when one feeds the other; both layers keep their
    state and attributes (``x``, ``dW``, ``db``, ``relu.out``, ``relu.mask``) as if run apart.
    """

    def __init__(self, layer, relu: Relu):
        self.layer, self.relu = layer, relu

    def _forward(self, x):
        return self.layer._forward(x, self.relu)

    def _backward(self, dout, need_dx=True):
        return self.layer._backward(dout, need_dx, self.relu)

    def forward(self, x):
        return self.relu.forward(self.layer.forward(x))

    def backward(self, dout):
        return self.layer.backward(self.relu.backward(dout))


def _int_arg(v, name, where, lo):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
        raise ValueError(f"{where}: {name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _out_size(size, filt, stride, pad):
    return (size + 2 * pad - filt) // stride + 1


class Convolution(Layer):
    """2-D convolution (cross-correlation, as the book): NCHW in, NCHW out.

    W: (FN, C, FH, FW), b: (FN,), ``stride`` >= 1, ``pad`` >= 0 (zeros). x: (N, C, H, W) ->
    (N, FN, OH, OW) with OH = (H + 2 pad - FH) // stride + 1, a contiguous array (the book returns a
    transposed view). Runs one sample at a time: the sample's patches, one BLAS product written straight
    into the output, the bias in place. Attributes as the book: ``x``, ``dW``, ``db``, and ``col``
    (N*OH*OW, C*FH*FW) and ``col_W`` (C*FH*FW, FN), computed on access.
    """

    def __init__(self, W, b, stride=1, pad=0):
        where = "Convolution"
        W = _chk.float_array(W, "W", where, ndim=4)
        b = _chk.float_array(b, "b", where, ndim=1)
        if b.shape[0] != W.shape[0]:
            raise ValueError(f"{where}: b must have W.shape[0] = {W.shape[0]} entries, got shape {b.shape}")
        if b.dtype != W.dtype:
            raise TypeError(f"{where}: W and b must have the same dtype, got {W.dtype} and {b.dtype}")
        _chk.finite(W, "W", where)
        _chk.finite(b, "b", where)
        self.W, self.b = W, b
        self.stride = _int_arg(stride, "stride", where, 1)
        self.pad = _int_arg(pad, "pad", where, 0)
        self.x = self.dW = self.db = None
        self._out = None

    def forward(self, x):
        """The convolution of a batch x (N, C, H, W) with the FN filters, plus b."""
        where = "Convolution.forward"
        x = _chk.float_array(x, "x", where, ndim=4, convert=True)
        fn, c, fh, fw = self.W.shape
        if x.shape[1] != c:
            raise ValueError(f"{where}: x has {x.shape[1]} channels (shape {x.shape}), W expects {c}")
        if x.shape[0] == 0:
            raise ValueError(f"{where}: x holds no samples (shape {x.shape})")
        h, w = x.shape[2] + 2 * self.pad, x.shape[3] + 2 * self.pad
        if fh > h or fw > w:
            raise ValueError(
                f"{where}: the filter ({fh}x{fw}) is larger than the padded input ({h}x{w}; "
                f"x shape {x.shape}, pad {self.pad})"
            )
        _chk.finite(x, "x", where)
        return self._forward(x)

    def backward(self, dout):
        """dx (x's shape); stores dW (W's shape) and db."""
        dout = self._grad_in(dout, self._out, "Convolution.backward")
        return self._backward(dout)

    @property
    def col(self):
        """The book's im2col matrix of the last input, (N*OH*OW, C*FH*FW), computed on access (the
        compiled path works one sample at a time and never holds it)."""
        if self.x is None:
            return None
        fh, fw = self.W.shape[2], self.W.shape[3]
        return im2col(self.x, fh, fw, self.stride, self.pad)

    @col.setter
    def col(self, value):  # accepted for the book's code that assigns it; recomputed on access
        pass

    @property
    def col_W(self):
        """W as the book's (C*FH*FW, FN) matrix (a view of W)."""
        return self.W.reshape(self.W.shape[0], -1).T

    @col_W.setter
    def col_W(self, value):
        pass

    def _geometry(self, x):
        fn, c, fh, fw = self.W.shape
        oh = _out_size(x.shape[2], fh, self.stride, self.pad)
        ow = _out_size(x.shape[3], fw, self.stride, self.pad)
        return fn, c * fh * fw, oh, ow

    def _forward(self, x, relu=None):
        """Per sample: patches (transposed) into a small buffer, W @ patches straight into the NCHW
        output, bias (and ReLU) in place -- every intermediate stays in the cache."""
        W = self.W
        if x.dtype != W.dtype or not x.flags.c_contiguous:
            xb = self._buffer("x", x.shape, W.dtype)
            np.copyto(xb, x)
            x = xb
        fn, ck, oh, ow = self._geometry(x)
        fh, fw = W.shape[2], W.shape[3]
        n = x.shape[0]
        out = self._buffer("out", (n, fn, oh, ow), W.dtype)
        colt = self._buffer("colt", (ck, oh * ow), W.dtype)
        Wf = W.reshape(fn, -1)
        for s in range(n):
            _conv.im2col_t(x[s], fh, fw, self.stride, self.pad, colt)
            y = out[s].reshape(fn, oh * ow)
            np.dot(Wf, colt, out=y)
            _conv.bias_act_t(y, self.b, relu is not None)
        if relu is not None:
            relu.out = out
        self.x, self._out = x, out
        return out

    def _backward(self, dout, need_dx=True, relu=None):
        W, x = self.W, self.x
        fn, ck, oh, ow = self._geometry(x)
        fh, fw = W.shape[2], W.shape[3]
        Wf = W.reshape(fn, -1)
        colt = self._buffer("colt", (ck, oh * ow), W.dtype)
        part = self._buffer("dWpart", (fn, ck), W.dtype)
        self.db = db = self._buffer("db", self.b.shape, W.dtype)
        self.dW = dW = self._buffer("dW", W.shape, W.dtype)
        dWf = dW.reshape(fn, -1)
        db[...] = 0
        dWf[...] = 0
        dx = self._buffer("dx", x.shape, W.dtype) if need_dx else None
        dcolt = self._buffer("dcolt", (ck, oh * ow), W.dtype) if need_dx else None
        for s in range(x.shape[0]):
            g = dout[s].reshape(fn, oh * ow)
            act = relu.out[s].reshape(fn, oh * ow) if relu is not None else g
            _conv.act_bias_t_backward(g, act, relu is not None, db)
            _conv.im2col_t(x[s], fh, fw, self.stride, self.pad, colt)
            np.dot(g, colt.T, out=part)
            np.add(dWf, part, out=dWf)
            if need_dx:
                np.dot(Wf.T, g, out=dcolt)
                _conv.col2im_t(dcolt, fh, fw, self.stride, self.pad, dx[s])
        return dx


class Pooling(Layer):
    """Max pooling over pool_h x pool_w windows: NCHW in and out.

    ``Pooling(pool_h, pool_w, stride=2, pad=0)`` (the book's current default stride). Unlike the
    book's, padding works: padded positions never win the max. ``arg_max`` holds, per output, the
    flat index of the maximum inside its window (first on ties), shape (N, C, OH, OW).
    """

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        where = "Pooling"
        self.pool_h = _int_arg(pool_h, "pool_h", where, 1)
        self.pool_w = _int_arg(pool_w, "pool_w", where, 1)
        self.stride = _int_arg(stride, "stride", where, 1)
        self.pad = _int_arg(pad, "pad", where, 0)
        if self.pad >= min(self.pool_h, self.pool_w):
            raise ValueError(f"{where}: pad ({pad}) must be smaller than the window ({pool_h}x{pool_w})")
        self.x = self.arg_max = None
        self._out = None

    def forward(self, x):
        """The window maxima of x (N, C, H, W)."""
        where = "Pooling.forward"
        x = _chk.float_array(x, "x", where, ndim=4)
        h, w = x.shape[2] + 2 * self.pad, x.shape[3] + 2 * self.pad
        if self.pool_h > h or self.pool_w > w:
            raise ValueError(
                f"{where}: the window ({self.pool_h}x{self.pool_w}) is larger than the padded input ({h}x{w})"
            )
        if x.shape[0] == 0:
            raise ValueError(f"{where}: x holds no samples (shape {x.shape})")
        _chk.finite(x, "x", where)
        return self._forward(_contiguous(x))

    def backward(self, dout):
        """dx: each output gradient at the position of its window's maximum (summed where windows overlap)."""
        dout = self._grad_in(dout, self._out, "Pooling.backward")
        return self._backward(dout)

    def _forward(self, x):
        n, c, h, w = x.shape
        oh = _out_size(h, self.pool_h, self.stride, self.pad)
        ow = _out_size(w, self.pool_w, self.stride, self.pad)
        out = self._buffer("out", (n, c, oh, ow), x.dtype)
        arg = self._buffer("arg", (n, c, oh, ow), np.int64)
        _conv.maxpool_forward(x, self.pool_h, self.pool_w, self.stride, self.pad, out, arg)
        self.x, self.arg_max, self._out = x, arg, out
        return out

    def _backward(self, dout, need_dx=True):
        dx = self._buffer("dx", self.x.shape, dout.dtype)
        _conv.maxpool_backward(dout, self.arg_max, self.pool_w, self.stride, self.pad, dx)
        return dx


class ConvReluPool:
    """Convolution -> Relu -> Pooling (no pool padding) run one sample at a time, as one node.

    Per sample: the patches into a buffer, one BLAS product, then bias + ReLU + max pooling read straight
    from the product -- the full-size convolution output is never written (it was the largest array of
    the step, written and read twice).

    Two ways back, chosen at construction by ``needs_dx`` (whether the block's input needs a gradient):

    - ``needs_dx=False`` (the network's first layer): a training forward keeps each sample's patches (as
      the book's layer keeps ``col``; a test-mode forward, such as ``predict``, keeps none), only those
      holding a nonzero (an MNIST digit's background is 0: ~40% of the 5x5 patches are all zero, and
      their outputs are the bias alone), so the product skips them; backward sends each window winner's
      gradient to its patch's column and takes dW as one product per sample, with no patches rebuilt.
    - ``needs_dx=True``: backward rebuilds each sample's patches and visits only the window winners (at
      most one position in ph*pw carries a gradient), for dW and the patches' gradient.

    The layers keep what the book's attributes describe: ``conv.x``, ``conv.dW``, ``conv.db``,
    ``pool.arg_max`` (as a separate Pooling would record it), ``conv.col`` (computed on access);
    ``relu.out`` is not materialized in this fused form (None).
    """

    uses_train_flg = True  # the patches are kept only for a training pass (a backward may follow)

    def __init__(self, conv: Convolution, relu: Relu, pool: Pooling, needs_dx: bool = True):
        self.conv, self.relu, self.pool = conv, relu, pool
        self.needs_dx = needs_dx
        self._kept = None  # (patches, cols, counts) of the last forward when it kept them

    def _geometry(self, x):
        conv, pool = self.conv, self.pool
        fn, c, fh, fw = conv.W.shape
        oh = _out_size(x.shape[2], fh, conv.stride, conv.pad)
        ow = _out_size(x.shape[3], fw, conv.stride, conv.pad)
        poh = _out_size(oh, pool.pool_h, pool.stride, 0)
        pow_ = _out_size(ow, pool.pool_w, pool.stride, 0)
        return fn, c * fh * fw, oh, ow, poh, pow_

    def _forward(self, x, train_flg=True):
        conv, pool = self.conv, self.pool
        W = conv.W
        if x.dtype != W.dtype or not x.flags.c_contiguous:
            xb = conv._buffer("x", x.shape, W.dtype)
            np.copyto(xb, x)
            x = xb
        fn, ck, oh, ow, poh, pow_ = self._geometry(x)
        n = x.shape[0]
        p = oh * ow
        out = pool._buffer("out", (n, fn, poh, pow_), W.dtype)
        arg = pool._buffer("arg", (n, fn, poh, pow_), np.int64)
        Wf = W.reshape(fn, -1)
        fh, fw = W.shape[2], W.shape[3]
        stride, pad, b = conv.stride, conv.pad, conv.b
        ph, pw, ps = pool.pool_h, pool.pool_w, pool.stride
        rows = conv._buffer("rowst", (fn * (p + 1),), W.dtype)
        if self.needs_dx or not train_flg:
            colt = conv._buffer("colt", (ck, p), W.dtype)
            cols = (conv._bufs or {}).get("ident")
            if cols is None or cols.shape != (p,):  # output position r is the product's column r
                cols = conv._buffer("ident", (p,), np.int64)
                cols[:] = np.arange(p)
            y = rows[: fn * p].reshape(fn, p)
            for s in range(n):  # per sample: every intermediate stays in the cache
                _conv.im2col_t(x[s], fh, fw, stride, pad, colt)
                np.dot(Wf, colt, out=y)
                _conv.relu_pool_t(y, cols, b, ow, ph, pw, ps, out[s], arg[s])
            self._kept = None
        else:
            kept = conv._buffer("patches", (n, ck * (p + 1)), W.dtype)
            cols = conv._buffer("cols", (n, p), np.int64)
            counts = conv._buffer("counts", (n,), np.int64)
            rowany = conv._buffer("rowany", (x.shape[2], ow), np.uint8)
            starts = conv._buffer("starts", (2, p + 1), np.int64)
            for s in range(n):
                m = _conv.active_patches_t(x[s], fh, fw, stride, pad, cols[s], rowany, starts, kept[s])
                counts[s] = m
                y = rows[: fn * m].reshape(fn, m)
                np.dot(Wf, kept[s, : ck * m].reshape(ck, m), out=y)
                _conv.relu_pool_t(y, cols[s], b, ow, ph, pw, ps, out[s], arg[s])
            self._kept = (kept, cols, counts)
        conv.x, conv._out = x, None
        self.relu.out = None
        pool.x, pool.arg_max, pool._out = None, arg, out
        return out

    def _backward(self, dout, need_dx=True):
        conv, pool = self.conv, self.pool
        W, x = conv.W, conv.x
        fn, ck, oh, ow, _, _ = self._geometry(x)
        fh, fw = W.shape[2], W.shape[3]
        Wf = W.reshape(fn, -1)
        conv.db = db = conv._buffer("db", conv.b.shape, W.dtype)
        conv.dW = dW = conv._buffer("dW", W.shape, W.dtype)
        dWf = dW.reshape(fn, -1)
        db[...] = 0
        dWf[...] = 0
        out, arg = pool._out, pool.arg_max
        if self._kept is not None and not need_dx:  # the forward kept the patches: one product each
            kept, cols, counts = self._kept
            g = conv._buffer("gcols", (fn * (oh * ow + 1),), W.dtype)
            part = conv._buffer("dWpart", (fn, ck), W.dtype)
            for s in range(x.shape[0]):
                m = int(counts[s])
                gs = g[: fn * m].reshape(fn, m)
                _conv.relu_pool_grad_cols(
                    dout[s], out[s], arg[s], ow, pool.pool_h, pool.pool_w, pool.stride, cols[s], gs, db
                )
                np.dot(gs, kept[s, : ck * m].reshape(ck, m).T, out=part)
                np.add(dWf, part, out=dWf)
            return None
        col = conv._buffer("col1", (oh * ow, ck), W.dtype)
        dx = conv._buffer("dx", x.shape, W.dtype) if need_dx else None
        dcol = conv._buffer("dcol1", (oh * ow, ck), W.dtype) if need_dx else col
        for s in range(x.shape[0]):
            # at most one position per pooling window carries a gradient: a sparse pass beats GEMMs
            _conv.im2col(x[s : s + 1], fh, fw, conv.stride, conv.pad, col)
            _conv.relu_pool_backward_sparse(
                dout[s], out[s], arg[s], ow, pool.pool_w, pool.stride, col, Wf, dWf, db, dcol, need_dx
            )
            if need_dx:
                _conv.col2im(dcol, fh, fw, conv.stride, conv.pad, dx[s : s + 1])
        return dx

    def forward(self, x, train_flg=True):
        return self.pool.forward(self.relu.forward(self.conv.forward(x)))

    def backward(self, dout):
        return self.conv.backward(self.relu.backward(self.pool.backward(dout)))


class Dropout(Layer):
    """Dropout as the book does it (non-inverted): in training each element is kept where a uniform
    draw exceeds ``dropout_ratio`` (``mask``), else zeroed; at test time x is scaled by 1 - ratio.

    The draws are ``np.random.rand(*x.shape)`` from the global NumPy RNG, as the book's, so a given
    ``np.random.seed`` gives the book's masks (they are float64 draws whatever x's dtype).
    """

    uses_train_flg = True  # the networks pass train_flg to this layer's forward

    def __init__(self, dropout_ratio=0.5):
        r = dropout_ratio
        if isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0 <= r < 1:
            raise ValueError(f"Dropout: dropout_ratio must be a number in [0, 1), got {dropout_ratio!r}")
        self.dropout_ratio = float(r)
        self.mask = None
        self._out = self._train_out = None

    def forward(self, x, train_flg=True):
        """x * mask (training, a new mask each call) or x * (1 - dropout_ratio) (test)."""
        x = _chk.float_array(x, "x", "Dropout.forward")
        _chk.finite(x, "x", "Dropout.forward")
        return self._forward(_contiguous(x), train_flg)

    def backward(self, dout):
        """dout * mask (of the last training forward)."""
        if self.mask is None:
            raise RuntimeError("Dropout.backward: call forward with train_flg=True before backward")
        dout = self._grad_in(dout, self._train_out, "Dropout.backward")  # the mask's shape
        return self._backward(dout)

    def _forward(self, x, train_flg=True):
        out = self._buffer("out", x.shape, x.dtype)
        if train_flg:
            u = np.random.rand(*x.shape)
            mask = self._buffer("mask", x.shape, np.bool_)
            _reg.dropout_forward(x, u, self.dropout_ratio, out, mask)
            self.mask, self._train_out = mask, out
        else:
            _reg.scale(x, 1.0 - self.dropout_ratio, out)
        self._out = out
        return out

    def _backward(self, dout, need_dx=True):
        dx = self._buffer("dx", dout.shape, dout.dtype)
        _reg.dropout_backward(dout, self.mask, dx)
        return dx


class BatchNormalization(Layer):
    """Batch normalization per activation, as the book: y = gamma (x - mean) / sqrt(var + 1e-6) + beta.

    ``BatchNormalization(gamma, beta, momentum=0.9, running_mean=None, running_var=None)``; a 4-D input
    is flattened to (N, C*H*W), so gamma and beta have one entry per activation. ``forward(x,
    train_flg=True)`` uses the batch's mean and biased variance and updates the running statistics
    (created as zeros on the first call), or, at test time, the running statistics. Attributes as the
    book's: ``input_shape``, ``batch_size``, ``xc``, ``xn``, ``std``, ``running_mean``, ``running_var``,
    ``dgamma``, ``dbeta``. Forward and backward are three compiled passes each.
    """

    uses_train_flg = True

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        where = "BatchNormalization"
        gamma = _chk.float_array(gamma, "gamma", where, ndim=1)
        beta = _chk.float_array(beta, "beta", where, ndim=1)
        if beta.shape != gamma.shape or beta.dtype != gamma.dtype:
            raise ValueError(
                f"{where}: beta must match gamma ({gamma.shape} {gamma.dtype}), got {beta.shape} {beta.dtype}"
            )
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
            raise ValueError(f"{where}: momentum must be a number in [0, 1], got {momentum!r}")
        self.gamma, self.beta, self.momentum = gamma, beta, float(momentum)
        self.running_mean = None if running_mean is None else self._stat(running_mean, "running_mean")
        self.running_var = None if running_var is None else self._stat(running_var, "running_var")
        self.input_shape = self.batch_size = self.xc = self.xn = self.std = None
        self.dgamma = self.dbeta = None
        self._out = self._train_out = None

    def _stat(self, a, name):
        a = _chk.float_array(a, name, "BatchNormalization", ndim=1)
        if a.shape != self.gamma.shape:
            raise ValueError(f"BatchNormalization: {name} must have shape {self.gamma.shape}, got {a.shape}")
        return np.ascontiguousarray(a, dtype=self.gamma.dtype)

    def forward(self, x, train_flg=True):
        """The normalized, scaled and shifted x, in x's shape."""
        where = "BatchNormalization.forward"
        x = _chk.float_array(x, "x", where, min_ndim=2)
        d = int(np.prod(x.shape[1:]))
        if d != self.gamma.shape[0]:
            raise ValueError(
                f"{where}: x has {d} activations per sample (shape {x.shape}), "
                f"gamma has {self.gamma.shape[0]}"
            )
        if train_flg and x.shape[0] < 1:
            raise ValueError(f"{where}: x holds no samples (shape {x.shape})")
        _chk.finite(x, "x", where)
        return self._forward(x, train_flg)

    def backward(self, dout):
        """dx in the input's shape; stores dgamma and dbeta."""
        if self.xc is None:
            raise RuntimeError(
                "BatchNormalization.backward: call forward with train_flg=True before backward"
            )
        dout = self._grad_in(dout, self._train_out, "BatchNormalization.backward")  # xc, std's batch
        return self._backward(dout)

    def _forward(self, x, train_flg=True):
        dt = self.gamma.dtype
        self.input_shape = x.shape
        n = x.shape[0]
        x2 = x.reshape(n, -1)
        if x2.dtype != dt or not x2.flags.c_contiguous:
            x2 = np.ascontiguousarray(x2, dtype=dt)
        d = x2.shape[1]
        if self.running_mean is None:
            self.running_mean = np.zeros(d, dt)
            self.running_var = np.zeros(d, dt)
        out = self._buffer("out", x2.shape, dt)
        if train_flg:
            self.batch_size = n
            self.xc = self._buffer("xc", x2.shape, dt)
            self.xn = self._buffer("xn", x2.shape, dt)
            self.std = self._buffer("std", (d,), dt)
            _reg.batchnorm_forward_train(
                x2,
                self.gamma,
                self.beta,
                self.momentum,
                self.running_mean,
                self.running_var,
                self.xc,
                self.xn,
                self.std,
                out,
            )
        else:
            _reg.batchnorm_forward_test(x2, self.gamma, self.beta, self.running_mean, self.running_var, out)
        self._out = out.reshape(self.input_shape)
        if train_flg:
            self._train_out = self._out
        return self._out

    def _backward(self, dout, need_dx=True):
        d2 = dout.reshape(dout.shape[0], -1)
        dt = self.gamma.dtype
        dx = self._buffer("dx", d2.shape, dt)
        self.dgamma = self._buffer("dgamma", self.gamma.shape, dt)
        self.dbeta = self._buffer("dbeta", self.beta.shape, dt)
        _reg.batchnorm_backward(d2, self.gamma, self.xc, self.xn, self.std, dx, self.dgamma, self.dbeta)
        return dx.reshape(self._train_out.shape)


class SoftmaxWithLoss(Layer):
    """loss = -mean_i log softmax(x)[i, t_i]: softmax and cross-entropy fused, with its gradient.

    x: (N, C) scores. t: class indices, shape (N,) or (N, 1), any integer dtype (uint8 works); or
    target rows of shape (N, C) (one-hot, or any distribution). ``y`` keeps softmax(x), ``t`` the
    labels, ``loss`` the loss. The loss is exact (log-sum-exp), finite for any finite scores.
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
        if t.ndim == 1:
            loss = _sce.softmax_ce_forward(x, t, y)
        else:
            loss = _sce.softmax_ce_forward_dist(x, t, y)
        self.y, self.t, self.loss = y, t, x.dtype.type(loss)
        return self.loss

    def _backward(self, dout=1.0, need_dx=True, out=None):
        """Unchecked backward, into ``out`` when given (an (N, C) array of y's dtype)."""
        dx = self._buffer("dx", self.y.shape, self.y.dtype) if out is None else out
        if self.t.ndim == 1:
            _sce.softmax_ce_backward(dout, self.y, self.t, dx)
        else:
            _sce.softmax_ce_backward_dist(dout, self.y, self.t, dx)
        return dx


def _operand(v, name: str, where: str):
    """A number or a numeric array (the scalar layers take the book's ints and floats)."""
    if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.ndarray, np.generic)):
        raise TypeError(f"{where}: {name} must be a real number or a numeric array, got {type(v).__name__}")
    if np.asarray(v).dtype.kind not in "iuf":
        raise TypeError(f"{where}: {name} must be numeric, got dtype {np.asarray(v).dtype}")
    return v


def _combine(op, x, y, where: str):
    try:
        return op(x, y)
    except ValueError:
        raise ValueError(
            f"{where}: x and y must broadcast, got shapes {np.shape(x)} and {np.shape(y)}"
        ) from None


class MulLayer:
    """z = x * y for numbers or arrays (the book's chapter 5 example); backward gives (dz y, dz x)."""

    def __init__(self):
        self.x = self.y = None

    def forward(self, x, y):
        """x * y; keeps x and y for backward."""
        _operand(x, "x", "MulLayer.forward")
        _operand(y, "y", "MulLayer.forward")
        out = _combine(operator.mul, x, y, "MulLayer.forward")
        self.x, self.y = x, y
        return out

    def backward(self, dout):
        """(dout * y, dout * x)."""
        if self.x is None:
            raise RuntimeError("MulLayer.backward: call forward before backward")
        _operand(dout, "dout", "MulLayer.backward")
        return dout * self.y, dout * self.x


class AddLayer:
    """z = x + y; backward passes dout to both inputs (as two separate objects)."""

    def __init__(self):
        pass

    def forward(self, x, y):
        """x + y."""
        _operand(x, "x", "AddLayer.forward")
        _operand(y, "y", "AddLayer.forward")
        return _combine(operator.add, x, y, "AddLayer.forward")

    def backward(self, dout):
        """(dout, dout), each a separate object so that an in-place consumer cannot alias them."""
        _operand(dout, "dout", "AddLayer.backward")
        return dout * 1, dout * 1
