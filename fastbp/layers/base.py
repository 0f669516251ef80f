"""What every compiled layer shares: reused output buffers, argument checks."""

from __future__ import annotations

import numbers

import numpy as np

from .. import _checks as _chk


def _contiguous(x):
    """x in C order (a copy only if it is not), keeping a 0-d array 0-d (np.ascontiguousarray would not)."""
    return x if x.flags.c_contiguous else np.asarray(x, order="C")


class Buffers:
    """Arrays an object owns and reuses while their shape and dtype stay (a training loop then
    allocates nothing). Layers and fused nodes each keep their own."""

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

    def _buffer_apart(self, key: str, shape: tuple, dtype, other: np.ndarray) -> np.ndarray:
        """``_buffer``, but never memory ``other`` lies in: ``layer.forward(layer.forward(x))`` must not
        overwrite its own input (the book's layer keeps the first output as the second call's x)."""
        buf = self._buffer(key, shape, dtype)
        if np.may_share_memory(buf, other):
            buf = self._buffer(key + "'", shape, dtype)
        return buf

    def _spare(self, key: str, shape: tuple, dtype, held, apart: np.ndarray) -> np.ndarray:
        """``_buffer_apart``, or its twin when ``held`` (what a layer holds from the last pass) is that
        buffer: for writing before a check that may refuse the call (a refused call changes nothing)."""
        buf = self._buffer_apart(key, shape, dtype, apart)
        return self._buffer_apart(key + "~", shape, dtype, apart) if buf is held else buf


class Layer(Buffers):
    """Base of the compiled layers: buffers, and the check of a backward's incoming gradient."""

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
        dout = _contiguous(dout.astype(like.dtype, copy=False))
        return dout if dout.flags.writeable else dout.copy()  # (compiled kernels type read-only apart)


def _int_arg(v, name, where, lo):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
        raise ValueError(f"{where}: {name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _out_size(size, filt, stride, pad):
    return (size + 2 * pad - filt) // stride + 1


def _bias(b, W, axis: int, where: str) -> np.ndarray:
    """b as a 1-D array of m entries in W's dtype: a scalar (the book's ``0``) is broadcast; an array
    must already be (m,) of W's dtype and is kept as it is (the very array, shared with params).
    m = W.shape[axis], the number of outputs."""
    m = W.shape[axis]
    if np.ndim(b) == 0 and not isinstance(b, (str, bytes)) and b is not None:
        v = np.asarray(b)
        if v.dtype.kind not in "iuf" or v.dtype == np.bool_:
            raise TypeError(f"{where}: b must be a number or a float array, got {b!r}")
        return np.full(m, v, dtype=W.dtype)
    b = _chk.float_array(b, "b", where, ndim=1)
    if b.shape[0] != m:
        raise ValueError(f"{where}: b must have W.shape[{axis}] = {m} entries, got shape {b.shape}")
    if b.dtype != W.dtype:
        raise TypeError(f"{where}: W and b must have the same dtype, got {W.dtype} and {b.dtype}")
    return b
