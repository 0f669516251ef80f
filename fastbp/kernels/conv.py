"""Convolution and max pooling over NCHW batches.

Convolution is im2col + one GEMM (BLAS, called by the layer) + one pass that adds the bias and writes
NCHW; backward is the reverse. The kernels here are the data movement around the GEMMs, each a single
pass with padding handled by bounds checks (no padded copy of the input):

- ``im2col``: x (N, C, H, W) -> col (N*OH*OW, C*FH*FW), rows in (n, oh, ow) order, columns in
  (c, i, j) order -- the book's layout.
- ``col2im``: the adjoint: sums each column entry back into its input position (overlapping windows
  accumulate, padding is dropped).
- ``rows_to_nchw``: y (N*OH*OW, F) + b -> out (N, F, OH, OW); ``nchw_to_rows``: the reverse for the
  output gradient, with the bias gradient summed in the same pass.

Max pooling works on the input directly (no im2col): each window's maximum and where it was (the first
maximum on ties, as the book's argmax), and backward routes each output gradient to that position.
Padding of a pooling window never wins: padded positions count as -inf.
"""

from .._jit import jit


@jit
def im2col(x, fh, fw, stride, pad, col):
    n, c, h, w = x.shape
    oh = (h + 2 * pad - fh) // stride + 1
    ow = (w + 2 * pad - fw) // stride + 1
    zero = col.dtype.type(0)
    for b in range(n):
        for y in range(oh):
            for z in range(ow):
                r = (b * oh + y) * ow + z
                q = 0
                for ch in range(c):
                    for i in range(fh):
                        hi = y * stride + i - pad
                        for j in range(fw):
                            wj = z * stride + j - pad
                            if 0 <= hi < h and 0 <= wj < w:
                                col[r, q] = x[b, ch, hi, wj]
                            else:
                                col[r, q] = zero
                            q += 1


@jit
def col2im(col, fh, fw, stride, pad, dx):
    """dx (N, C, H, W) = the sum of col's entries at their input positions (dx is overwritten)."""
    n, c, h, w = dx.shape
    oh = (h + 2 * pad - fh) // stride + 1
    ow = (w + 2 * pad - fw) // stride + 1
    dx[...] = 0
    for b in range(n):
        for y in range(oh):
            for z in range(ow):
                r = (b * oh + y) * ow + z
                q = 0
                for ch in range(c):
                    for i in range(fh):
                        hi = y * stride + i - pad
                        for j in range(fw):
                            wj = z * stride + j - pad
                            if 0 <= hi < h and 0 <= wj < w:
                                dx[b, ch, hi, wj] += col[r, q]
                            q += 1


@jit
def rows_to_nchw(y, b, out, relu):
    """out[n, f, i, j] = y[(n*OH + i)*OW + j, f] + b[f], then max(., 0) if ``relu``."""
    n, f, oh, ow = out.shape
    zero = out.dtype.type(0)
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                r = (s * oh + i) * ow + j
                for k in range(f):
                    v = y[r, k] + b[k]
                    if relu and v <= zero:
                        v = zero
                    out[s, k, i, j] = v


@jit
def nchw_to_rows(dout, rows, db):
    """rows[(n*OH + i)*OW + j, f] = dout[n, f, i, j]; db[f] = the sum over n, i, j of dout[n, f, i, j]."""
    n, f, oh, ow = dout.shape
    for k in range(f):
        db[k] = 0
    for s in range(n):
        for k in range(f):
            acc = db.dtype.type(0)
            for i in range(oh):
                for j in range(ow):
                    v = dout[s, k, i, j]
                    rows[(s * oh + i) * ow + j, k] = v
                    acc += v
            db[k] += acc


@jit
def maxpool_forward(x, ph, pw, stride, pad, out, arg):
    """out[n, c, i, j] = the max of x over window (i, j); arg = its flat index in the window.

    The first maximum wins ties, as the book's argmax does; a NaN wins over numbers (as np.max).
    Without padding and NaN the loop is branch-light; a NaN anywhere reruns the exact loop.
    """
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
                            if best < 0 or v > m or (v != v and m == m):
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
                            if v > m:
                                m = v
                                best = p * pw + q
                    out[b, ch, i, j] = m
                    arg[b, ch, i, j] = best
    return clean


@jit
def maxpool_backward(dout, arg, pw, stride, pad, dx):
    """dx = each output gradient routed to the position of its window's maximum (dx overwritten)."""
    n, c, oh, ow = dout.shape
    dx[...] = 0
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    a = arg[b, ch, i, j]
                    hi = i * stride + a // pw - pad
                    wj = j * stride + a % pw - pad
                    dx[b, ch, hi, wj] += dout[b, ch, i, j]
