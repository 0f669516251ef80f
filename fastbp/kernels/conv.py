"""Convolution over NCHW batches: the data movement around the BLAS products.

Padding is handled by bounds checks, never by a padded copy of the input.

- ``im2col``: x (N, C, H, W) -> col (N*OH*OW, C*FH*FW), rows in (n, oh, ow) order, columns in
  (c, i, j) order -- the book's layout (``fastbp.util.im2col``, and the fused block's backward).
- ``col2im``: its adjoint: each column entry added back at its input position.
- ``im2col_t``/``col2im_t``: one sample's patches transposed, (C*FH*FW, OH*OW), so that the product
  W @ patches lands in NCHW order; ``bias_act_t``/``act_bias_t_backward`` add the bias (and ReLU) in
  place and back. The Convolution layer runs on these, one sample at a time.
- ``active_patches_t``: like im2col_t, but only the patches that hold a nonzero (an MNIST digit's
  background is 0), all-zero ones sharing one zero column; ``kernels/pool.py``'s
  ``relu_pool_grad_cols`` takes the fused block's gradient back onto those columns, for dW as one
  product.

Max pooling, and the fused block's bias + ReLU + pooling, are in ``kernels/pool.py``; their names are
also importable from here, the old path. ReLU and its mask are the rules of ``kernels/rules.py``.
"""

import numpy as np

from .._jit import jit
from . import rules
from .pool import (  # noqa: F401  (re-exported: the old path)
    maxpool_backward,
    maxpool_forward,
    relu_pool_backward_sparse,
    relu_pool_grad_cols,
    relu_pool_t,
)


@jit
def _patch_offsets(c, h, w, fh, fw):
    """For each patch entry (c, i, j): its offset in a (C, H, W) sample from the patch's corner."""
    offs = np.empty(c * fh * fw, np.int64)
    q = 0
    for ch in range(c):
        for i in range(fh):
            for j in range(fw):
                offs[q] = (ch * h + i) * w + j
                q += 1
    return offs


@jit
def im2col(x, fh, fw, stride, pad, col):
    """x (N, C, H, W) -> col (N*OH*OW, C*FH*FW): row r holds output position r's patch.

    A patch inside the input is a gather by a table of offsets (2x faster than walking its rows of FW
    entries); one that overlaps the padding takes the checked loop.
    """
    n, c, h, w = x.shape
    oh = (h + 2 * pad - fh) // stride + 1
    ow = (w + 2 * pad - fw) // stride + 1
    ck = c * fh * fw
    zero = col.dtype.type(0)
    offs = _patch_offsets(c, h, w, fh, fw)
    for b in range(n):
        xf = x[b].reshape(-1)
        for y in range(oh):
            y0 = y * stride - pad
            rows_in = y0 >= 0 and y0 + fh <= h
            for z in range(ow):
                r = (b * oh + y) * ow + z
                z0 = z * stride - pad
                if rows_in and z0 >= 0 and z0 + fw <= w:
                    base = y0 * w + z0
                    for q in range(ck):
                        col[r, q] = xf[base + offs[q]]
                else:
                    q = 0
                    for ch in range(c):
                        for i in range(fh):
                            hi = y0 + i
                            for j in range(fw):
                                wj = z0 + j
                                if 0 <= hi < h and 0 <= wj < w:
                                    col[r, q] = x[b, ch, hi, wj]
                                else:
                                    col[r, q] = zero
                                q += 1


@jit
def col2im(col, fh, fw, stride, pad, dx):
    """dx (N, C, H, W) = the sum of col's entries at their input positions (dx is overwritten).

    Entries are added in im2col's order (position by position), by offsets where the patch is inside.
    """
    n, c, h, w = dx.shape
    oh = (h + 2 * pad - fh) // stride + 1
    ow = (w + 2 * pad - fw) // stride + 1
    ck = c * fh * fw
    offs = _patch_offsets(c, h, w, fh, fw)
    dx[...] = 0
    for b in range(n):
        df = dx[b].reshape(-1)
        for y in range(oh):
            y0 = y * stride - pad
            rows_in = y0 >= 0 and y0 + fh <= h
            for z in range(ow):
                r = (b * oh + y) * ow + z
                z0 = z * stride - pad
                if rows_in and z0 >= 0 and z0 + fw <= w:
                    base = y0 * w + z0
                    for q in range(ck):
                        df[base + offs[q]] += col[r, q]
                else:
                    q = 0
                    for ch in range(c):
                        for i in range(fh):
                            hi = y0 + i
                            for j in range(fw):
                                wj = z0 + j
                                if 0 <= hi < h and 0 <= wj < w:
                                    dx[b, ch, hi, wj] += col[r, q]
                                q += 1


@jit
def _valid_range(j, stride, pad, size, n_out):
    """The output positions z with 0 <= z*stride + j - pad < size, as [z0, z1)."""
    z0 = 0
    if pad - j > 0:
        z0 = (pad - j + stride - 1) // stride
    z1 = (size - 1 - j + pad) // stride + 1
    if z1 > n_out:
        z1 = n_out
    if z1 < z0:
        z1 = z0
    return z0, z1


@jit
def im2col_t(x, fh, fw, stride, pad, colt):
    """One sample's patches, transposed: x (C, H, W) -> colt (C*FH*FW, OH*OW).

    Row (c, i, j) holds x[c, y*stride + i - pad, z*stride + j - pad] over the outputs (y, z): for
    stride 1 each output row is a contiguous copy, and the product W (FN, C*FH*FW) @ colt lands in
    NCHW order with no transpose.
    """
    c, h, w = x.shape
    if colt.shape[0] != c * fh * fw:  # (x's channels are not W's: rebound since?)
        raise ValueError("the patches buffer does not fit x's channels (was x or W rebound?)")
    n_pos = colt.shape[1]
    ow = (w + 2 * pad - fw) // stride + 1
    oh = n_pos // ow
    zero = colt.dtype.type(0)
    q = 0
    for ch in range(c):
        for i in range(fh):
            for j in range(fw):
                z0, z1 = _valid_range(j, stride, pad, w, ow)
                for y in range(oh):
                    hi = y * stride + i - pad
                    base = y * ow
                    if hi < 0 or hi >= h:
                        for z in range(ow):
                            colt[q, base + z] = zero
                        continue
                    for z in range(z0):
                        colt[q, base + z] = zero
                    if stride == 1:  # a contiguous copy: vectorises
                        colt[q, base + z0 : base + z1] = x[ch, hi, z0 + j - pad : z1 + j - pad]
                    else:
                        for z in range(z0, z1):
                            colt[q, base + z] = x[ch, hi, z * stride + j - pad]
                    for z in range(z1, ow):
                        colt[q, base + z] = zero
                q += 1


@jit
def active_patches_t(x, fh, fw, stride, pad, cols, rowany, starts, colt):
    """One sample's patches that hold a nonzero, transposed and compacted; returns their count + 1.

    x: (C, H, W); cols: (OH*OW,) int, set to each output position's column in the result, 0 for
    positions whose patch is all zero (background, padding), which all share column 0, a zero
    patch; rowany: (H, OW) uint8 and starts: (2, OH*OW + 1) int scratch; colt: a flat buffer of at
    least C*FH*FW*(OH*OW+1) entries whose first C*FH*FW*m hold the (C*FH*FW, m) patches, m the
    returned count. The product W @ patches then skips the all-zero patches, whose outputs are its
    column 0 (the bias alone).
    """
    c, h, w = x.shape
    ow = rowany.shape[1]
    n_pos = cols.shape[0]
    oh = n_pos // ow
    zero = x.dtype.type(0)
    if colt.shape[0] < c * fh * fw * (n_pos + 1):  # (x's channels are not W's: rebound since?)
        raise ValueError("the patches buffer does not fit x's channels (was x or W rebound?)")
    if stride == 1 and pad == 0:  # the book's SimpleConvNet: row by row, each window in one sweep
        m = _active_cols_unpadded(x, fh, fw, cols, rowany, starts)
        return _gather_patches(x, fh, fw, stride, pad, cols, starts, colt, m)
    rowany[...] = 0
    for ch in range(c):  # rowany[y, z]: a nonzero on input row y under output column z's window
        for j in range(fw):
            z0, z1 = _valid_range(j, stride, pad, w, ow)
            off = j - pad
            for y in range(h):
                if stride == 1:  # contiguous: vectorises
                    for z in range(z0, z1):
                        rowany[y, z] |= x[ch, y, z + off] != zero
                else:
                    for z in range(z0, z1):
                        rowany[y, z] |= x[ch, y, z * stride + off] != zero
    m = 1
    for yo in range(oh):
        y0 = yo * stride - pad
        ya, yb = max(y0, 0), min(y0 + fh, h)
        for z in range(ow):
            hit = 0
            for y in range(ya, yb):
                hit |= rowany[y, z]
            cols[yo * ow + z] = m if hit else 0
            starts[0, m] = y0
            starts[1, m] = z * stride - pad
            m += hit != 0
    return _gather_patches(x, fh, fw, stride, pad, cols, starts, colt, m)


@jit
def _active_cols_unpadded(x, fh, fw, cols, rowany, starts):
    """active_patches_t's choice of patches for stride 1, no padding; starts[0, t] = patch t's flat
    offset in a channel (row-major loops: 2x the general ones here)."""
    c, h, w = x.shape
    ow = w - fw + 1
    oh = h - fh + 1
    zero = x.dtype.type(0)
    for y in range(h):
        for z in range(ow):
            rowany[y, z] = 0
        for ch in range(c):
            for j in range(fw):
                for z in range(ow):
                    rowany[y, z] |= x[ch, y, z + j] != zero
    m = 1
    for yo in range(oh):
        for z in range(ow):
            hit = False
            for i in range(fh):
                hit |= rowany[yo + i, z] != 0
            cols[yo * ow + z] = m if hit else 0
            starts[0, m] = yo * w + z
            m += hit
    return m


@jit
def _gather_patches(x, fh, fw, stride, pad, cols, starts, colt, m):
    """The gathering half of active_patches_t: the m - 1 chosen patches (and the zero column 0)."""
    c, h, w = x.shape
    zero = x.dtype.type(0)
    ck = c * fh * fw
    out = colt[: ck * m].reshape((ck, m))
    if pad == 0:  # every patch lies inside: one flat offset per patch
        xf = x.reshape(-1)
        if stride != 1:  # (_active_cols_unpadded wrote the flat offsets already)
            for t in range(1, m):
                starts[0, t] = starts[0, t] * w + starts[1, t]
    q = 0
    for ch in range(c):
        for i in range(fh):
            for j in range(fw):
                out[q, 0] = zero
                if pad == 0:
                    base = (ch * h + i) * w + j
                    for t in range(1, m):
                        out[q, t] = xf[base + starts[0, t]]
                else:
                    for t in range(1, m):
                        hi, wi = starts[0, t] + i, starts[1, t] + j
                        inside = (0 <= hi) & (hi < h) & (0 <= wi) & (wi < w)
                        out[q, t] = x[ch, hi, wi] if inside else zero
                q += 1
    return m


@jit
def col2im_t(colt, fh, fw, stride, pad, dx):
    """The adjoint of im2col_t for one sample: dx (C, H, W) = the sum of colt's entries (overwritten)."""
    c, h, w = dx.shape
    n_pos = colt.shape[1]
    ow = (w + 2 * pad - fw) // stride + 1
    oh = n_pos // ow
    dx[...] = 0
    q = 0
    for ch in range(c):
        for i in range(fh):
            for j in range(fw):
                z0, z1 = _valid_range(j, stride, pad, w, ow)
                for y in range(oh):
                    hi = y * stride + i - pad
                    if hi < 0 or hi >= h:
                        continue
                    base = y * ow
                    for z in range(z0, z1):
                        dx[ch, hi, z * stride + j - pad] += colt[q, base + z]
                q += 1


@jit
def bias_act_t(y, b, relu):
    """One sample's convolution output in place: y (F, OH*OW) += b[f] per row, then max(., 0) if relu."""
    f, p = y.shape
    if b.shape[0] != f:  # (a b rebound apart from W: compiled code checks no index)
        raise ValueError("the bias does not have one entry per filter (was b or W rebound?)")
    for k in range(f):
        bk = b[k]
        for r in range(p):
            v = y[k, r] + bk
            y[k, r] = rules.relu(v) if relu else v


@jit
def act_bias_t_backward(dy, out, relu, db):
    """Back through one sample's (ReLU and) bias: dy (F, OH*OW) zeroed where out <= 0 if relu (in
    place, as Relu.backward), and db[f] += the row sums."""
    f, p = dy.shape
    if db.shape[0] != f or (relu and out.shape != dy.shape):
        raise ValueError("the bias does not have one entry per filter (was b or W rebound?)")
    zero = dy.dtype.type(0)
    for k in range(f):
        acc = zero
        for r in range(p):
            g = dy[k, r]
            if relu:
                g = rules.relu_grad(g, out[k, r])
                dy[k, r] = g
            acc += g
        db[k] += acc
