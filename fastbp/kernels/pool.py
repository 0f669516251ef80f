"""Max pooling over NCHW batches, and the fused Conv -> ReLU -> Pool block's bias, ReLU and pooling.

- ``maxpool_forward``/``maxpool_backward``: max pooling on the input directly: each window's maximum
  and where it was (the first on ties, as the book's argmax); padded positions never win.
- ``relu_pool_t``: bias, ReLU and max pooling read straight from one sample's convolution product
  (the fused block); ``relu_pool_backward_sparse`` goes back through it and the convolution visiting
  only the pooling windows' winners; ``relu_pool_grad_cols`` takes its gradient back onto the columns
  of ``kernels/conv.py``'s ``active_patches_t``, for dW as one product.

ReLU, its mask and pooling's winner (first on ties, NaN wins) are the rules of ``kernels/rules.py``.
"""

import numpy as np

from .._jit import jit
from . import rules


@jit
def maxpool_forward(x, ph, pw, stride, pad, out, arg):
    """out[n, c, i, j] = the max of x over window (i, j); arg = its flat index in the window.

    The first maximum wins ties, as the book's argmax does; a NaN wins over numbers (as np.max).
    Without padding and NaN the loop is branch-light; a NaN anywhere reruns the exact loop.
    """
    if ph < 1 or pw < 1 or stride < 1:  # (the layer refuses them; its attributes may be rebound)
        raise ValueError("the pooling window and stride must be positive (pool_h, pool_w or stride rebound?)")
    if pad == 0 and _maxpool_nopad(x, ph, pw, stride, out, arg):
        return
    n, c, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    best = -1
                    m = x.dtype.type(0)
                    for p in range(ph):
                        hi = i * stride + p - pad
                        if hi < 0 or hi >= h:
                            continue
                        for q in range(pw):
                            wj = j * stride + q - pad
                            if wj < 0 or wj >= w:
                                continue
                            v = x[b, ch, hi, wj]
                            if best < 0 or rules.pool_wins(v, m):
                                m = v
                                best = p * pw + q
                    out[b, ch, i, j] = m
                    arg[b, ch, i, j] = best


@jit
def _maxpool_nopad(x, ph, pw, stride, out, arg):
    """maxpool_forward for pad = 0; returns False (results unusable) if x holds a NaN."""
    n, c = x.shape[0], x.shape[1]
    oh, ow = out.shape[2], out.shape[3]
    clean = True
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                h0 = i * stride
                for j in range(ow):
                    w0 = j * stride
                    m = x[b, ch, h0, w0]
                    best = 0
                    for p in range(ph):
                        for q in range(pw):
                            v = x[b, ch, h0 + p, w0 + q]
                            clean &= v == v
                            if rules.pool_wins_no_nan(v, m):
                                m = v
                                best = p * pw + q
                    out[b, ch, i, j] = m
                    arg[b, ch, i, j] = best
    return clean


@jit
def maxpool_backward(dout, arg, pw, stride, pad, dx):
    """dx = each output gradient routed to the position of its window's maximum (dx overwritten)."""
    n, c, oh, ow = dout.shape
    h, w = dx.shape[2], dx.shape[3]
    if arg.shape != dout.shape or dx.shape[0] != n or dx.shape[1] != c:
        raise ValueError("the recorded maxima do not fit dout and x (rebound since the forward pass?)")
    dx[...] = 0
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    a = arg[b, ch, i, j]
                    hi = i * stride + a // pw - pad
                    wj = j * stride + a % pw - pad
                    if hi < 0 or hi >= h or wj < 0 or wj >= w:  # (stride, pad or x changed since)
                        raise ValueError("a recorded maximum lies outside x (stride, pad or x changed?)")
                    dx[b, ch, hi, wj] += dout[b, ch, i, j]


@jit
def _maxima_fit(dout, out, arg, window):
    """ValueError unless the recorded maxima ``arg`` (the pooling layer's ``arg_max``, which may be
    rebound or changed in place) and ``out`` have dout's shape and, for window > 0, every entry of arg
    is one of a window's that many positions: the backward kernels index by them, unchecked."""
    if arg.shape != dout.shape or out.shape != dout.shape:
        raise ValueError("the recorded maxima do not fit dout (rebound since the forward pass?)")
    if window > 0:
        af = arg.ravel()
        for i in range(af.size):
            if af[i] < 0 or af[i] >= window:
                raise ValueError("a recorded maximum lies outside its window (arg_max changed in place?)")


@jit
def relu_pool_t(rows, cols, b, ow, ph, pw, stride, out, arg):
    """Bias, ReLU and max pooling of one sample's convolution output (see _relu_pool_t_exact).

    The book's 2x2 windows take an unrolled loop (2.3x faster here); a NaN reruns the exact one.
    """
    if b.shape[0] != out.shape[0] or rows.shape[0] != out.shape[0]:
        raise ValueError("the bias does not have one entry per filter (was b or W rebound?)")
    if ph < 1 or pw < 1 or stride < 1:
        raise ValueError("the pooling window and stride must be positive (pool_h, pool_w or stride rebound?)")
    if ph == 2 and pw == 2 and _relu_pool_t_2x2(rows, cols, b, ow, stride, out, arg):
        return
    _relu_pool_t_exact(rows, cols, b, ow, ph, pw, stride, out, arg)


@jit
def _relu_pool_t_2x2(rows, cols, b, ow, stride, out, arg):
    """relu_pool_t for 2x2 windows; returns False (results unusable) if a NaN was seen."""
    f, poh, pw_out = out.shape
    clean = True
    for k in range(f):
        bk = b[k]
        for i in range(poh):
            base = i * stride * ow
            for j in range(pw_out):
                r0 = base + j * stride
                # the bias before the ranking, as the unfused layers rank: two values that differ
                # may tie once b is added (rounding), and then the first wins
                a0, a1 = rows[k, cols[r0]] + bk, rows[k, cols[r0 + 1]] + bk
                a2, a3 = rows[k, cols[r0 + ow]] + bk, rows[k, cols[r0 + ow + 1]] + bk
                clean &= (a0 == a0) & (a1 == a1) & (a2 == a2) & (a3 == a3)
                m, best = a0, 0
                if rules.pool_wins_no_nan(a1, m):
                    m, best = a1, 1
                if rules.pool_wins_no_nan(a2, m):
                    m, best = a2, 2
                if rules.pool_wins_no_nan(a3, m):
                    m, best = a3, 3
                out[k, i, j] = rules.relu(m)
                arg[k, i, j] = best if rules.relu_keeps(m) else 0
    return clean


@jit
def _relu_pool_t_exact(rows, cols, b, ow, ph, pw, stride, out, arg):
    """Bias, ReLU and max pooling of one sample's convolution output in NCHW order.

    rows: (F, M) the product W @ colt, the output at position r (row-major over OH x OW) being
    rows[:, cols[r]] (cols is the identity for full patches, see active_patches_t for compacted
    ones); out, arg: (F, POH, POW). ReLU and max commute, so
    out = max(0, the window's max of rows + b); arg is the max's index in the window, or 0 when the
    max is not positive -- exactly what Pooling records after a separate Relu (all zeros: the first).
    A NaN wins, as in maxpool_forward.
    """
    f, poh, pw_out = out.shape
    for k in range(f):
        bk = b[k]
        for i in range(poh):
            for j in range(pw_out):
                r0 = (i * stride) * ow + j * stride
                m = rows[k, cols[r0]] + bk
                best = 0
                for p in range(ph):
                    for q in range(pw):
                        v = rows[k, cols[r0 + p * ow + q]] + bk
                        if rules.pool_wins(v, m):
                            m = v
                            best = p * pw + q
                out[k, i, j] = rules.relu(m)
                arg[k, i, j] = best if rules.relu_keeps(m) else 0


@jit
def relu_pool_grad_cols(dout, out, arg, ow, ph, pw, stride, cols, g, db):
    """Back through pooling, ReLU and bias of one sample onto the compacted product's columns.

    dout, out, arg: (F, POH, POW); cols as from active_patches_t; g: (F, m) the gradient of the
    product W @ patches (overwritten): each window whose maximum ReLU kept sends its gradient to
    its winner's column (column 0, the shared zero patch, collects those of all-zero patches: they
    add nothing to dW). db (F,) accumulates. Then dW += g @ patches^T. Branch-free per window (a
    window that lost adds an exact 0), with the winner's offset from a table, not a division.
    """
    f, poh, pw_out = dout.shape
    if db.shape[0] != f or g.shape[0] != f:
        raise ValueError("the bias does not have one entry per filter (was b or W rebound?)")
    _maxima_fit(dout, out, arg, ph * pw)
    zero = out.dtype.type(0)
    offs = np.empty(ph * pw, np.int64)
    for a in range(ph * pw):
        offs[a] = (a // pw) * ow + a % pw
    g[...] = 0
    for k in range(f):
        acc = zero
        for i in range(poh):
            base = i * stride * ow
            for j in range(pw_out):
                v = rules.relu_grad(dout[k, i, j], out[k, i, j])
                r = base + j * stride + offs[arg[k, i, j]]
                if r >= cols.shape[0]:  # (stride or the geometry changed since the forward pass)
                    raise ValueError("a recorded maximum lies outside the convolution's output")
                g[k, cols[r]] += v
                acc += v
        db[k] += acc


@jit
def relu_pool_backward_sparse(dout, out, arg, ow, pw, stride, col, Wf, dW, db, dcol, need_dx):
    """Back through pooling, ReLU, bias and the convolution of one sample, touching only the positions
    that won a window whose maximum ReLU kept (at most one in ph*pw): instead of a dense product with a
    mostly-zero gradient, each such output adds g * (its patch) to dW[k] and, if need_dx, g * W[k] to
    the patch's gradient.

    dout, out, arg: (F, POH, POW); col, dcol: (OH*OW, C*FH*FW) this sample's patches and their
    gradient (overwritten); Wf, dW: (F, C*FH*FW), dW and db accumulate.
    """
    f, poh, pw_out = dout.shape
    ck = col.shape[1]
    if db.shape[0] != f or dW.shape[0] != f or dW.shape[1] != ck or Wf.shape != dW.shape:
        raise ValueError("the bias or W does not have one entry per filter (was b or W rebound?)")
    _maxima_fit(dout, out, arg, 0)
    zero = out.dtype.type(0)
    if need_dx:
        dcol[...] = 0
    for k in range(f):
        acc = zero
        for i in range(poh):
            for j in range(pw_out):
                if rules.relu_keeps(out[k, i, j]):
                    a = arg[k, i, j]
                    g = dout[k, i, j]
                    r = (i * stride + a // pw) * ow + (j * stride + a % pw)
                    if a < 0 or j * stride + a % pw >= ow or r >= col.shape[0]:  # (changed in place?)
                        raise ValueError("a recorded maximum lies outside the convolution's output")
                    acc += g
                    for q in range(ck):
                        dW[k, q] += g * col[r, q]
                    if need_dx:
                        for q in range(ck):
                            dcol[r, q] += g * Wf[k, q]
        db[k] += acc
