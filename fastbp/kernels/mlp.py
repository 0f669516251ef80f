"""A whole fully connected ReLU network, forward and backward, for small batches, without BLAS.

At batch 1 the book's step is all overhead: each np.dot call costs microseconds, and the products are
matrix-vector ones that BLAS does not speed up. These kernels run the layers in compiled loops:
Affine+ReLU for every hidden layer, Affine for the last, written into the layers' own buffers. The
network's inputs that are exactly 0 are skipped in the first forward product (most of an MNIST image
is background) when the first layer's weights are all finite, and every layer's zero inputs in its dW
when the gradient coming back is finite: 0 * inf is NaN, and the result must be the one NumPy gives
(a diverged weight met only by zeros makes the loss NaN). Measured here, 784x50 float64
at batch 1: 2.0 us with the skip, 6.9 us without, 4.0 us for the scan of W; at batch 2-4 the skip
saves that much per sample.

x may be a float32 batch for float64 layers: each value is widened where it is read (the same
numbers as a converted copy). Layers: ``Ws[l]`` (D_l, D_{l+1}), ``bs[l]``, ``hs[l]`` (N, D_{l+1})
the outputs (ReLU applied for l < L-1, raw scores for the last), ``ds[l]`` the gradient w.r.t.
``hs[l]``, ``dWs``, ``dbs``.
``fastmath`` (the named safe flags: reassociation, no NaN assumptions) lets the dot products of the
input gradient vectorise.
"""

import numpy as np

from .._jit import jit
from ..config import ROWS_MIN_SKIPPED, ROWS_PROBE
from . import rules
from .checks import all_finite, first_nonfinite
from .softmax_ce import softmax_ce_backward, softmax_ce_forward


@jit(fastmath=True)
def dense_forward(x, W, b, out, relu, skip_zeros):
    """out = x W + b, then max(., 0) if ``relu``.  x: (N, D), W: (D, M), b: (M,), out: (N, M).

    ``skip_zeros``: leave out the terms of inputs that are exactly 0 when W is all finite (checked at
    the first zero met: a dense x costs no scan). For the network's input (most of an MNIST image is
    0); not for hidden layers, where about half the inputs are ReLU's zeros and scanning W costs more
    than their terms (100x100 float64: 1 us against 0.5 us).
    """
    n, d = x.shape
    m = W.shape[1]
    zero = out.dtype.type(0)
    skip = 0  # 0: not known yet, 1: skip zero inputs, -1: W holds NaN/inf or skip_zeros is off
    if not skip_zeros:
        skip = -1
    for i in range(n):
        for j in range(m):
            out[i, j] = b[j]
        for k in range(d):
            v = x[i, k]
            if v == zero and skip == 0:
                skip = 1 if all_finite(W.ravel()) else -1  # (0 * inf is NaN, as NumPy gives)
            if v != zero or skip < 0:
                for j in range(m):
                    out[i, j] += v * W[k, j]
        if relu:
            for j in range(m):
                out[i, j] = rules.relu(out[i, j])


# dW and db are made with fused multiply-adds allowed but nothing reordered ("contract" only): then
# dense_backward and mlp_sgd_step, which make them in loops of different shapes, give the same bits.
_CONTRACT = {"contract"}


@jit(fastmath=_CONTRACT)
def _bias_grad(dout, db):
    """db = sum_i dout[i], the samples in order."""
    for j in range(db.shape[0]):
        db[j] = dout[0, j]
    for i in range(1, dout.shape[0]):
        for j in range(db.shape[0]):
            db[j] += dout[i, j]


@jit(fastmath=True)
def _input_grad(dout, W, dx):
    """dx = dout W^T (reassociated: the dot products vectorise)."""
    zero = dx.dtype.type(0)
    for i in range(dout.shape[0]):
        for k in range(W.shape[0]):
            s = zero
            for j in range(W.shape[1]):
                s += dout[i, j] * W[k, j]
            dx[i, k] = s


@jit(fastmath=_CONTRACT)
def _weight_grad(x, dout, k0, dW, skip_zeros):
    """dW = rows k0 .. k0 + len(dW) of x^T dout: each x[0, k] dout[0, :], then + x[i, k] dout[i, :]
    for the samples i in order, those with x[i, k] == 0 left out if ``skip_zeros`` (only when dout is
    all finite: 0 * inf is NaN). dense_backward and mlp_sgd_step both make dW here."""
    n = x.shape[0]
    kn, m = dW.shape
    zero = dW.dtype.type(0)
    for kk in range(kn):  # the first sample writes every row: no separate zeroing pass
        v = x[0, k0 + kk]
        for j in range(m):
            dW[kk, j] = v * dout[0, j]
    for i in range(1, n):
        for kk in range(kn):
            v = x[i, k0 + kk]
            if v != zero or not skip_zeros:
                for j in range(m):
                    dW[kk, j] += v * dout[i, j]


@jit(fastmath=_CONTRACT)
def dense_backward(x, W, dout, dW, db, dx, need_dx):
    """dW = x^T dout, db = sum_i dout[i], and (if ``need_dx``) dx = dout W^T."""
    finite_rows = all_finite(dout.ravel())  # (0 * inf is NaN: skip zero inputs only when dout has none)
    _bias_grad(dout, db)
    _weight_grad(x, dout, 0, dW, finite_rows)
    if need_dx:
        _input_grad(dout, W, dx)


@jit(inline="always")  # (a few compares per layer, in each caller)
def _chain_fits(x, Ws, bs, hs, ds, dWs, dbs):
    """ValueError unless the layers' arrays chain: x (N, D); each W (in, out), ``in`` the previous
    layer's ``out`` (D first); b, db, and the rows of hs and ds as wide as ``out``; dW as W. The node
    checks its arrays when it makes them, but an array's shape can be set in place since (``a.shape =
    ...``) and these loops check no index. (A caller without ds or dWs passes hs or Ws again.)"""
    n, d = x.shape[0], x.shape[1]
    for l in range(len(Ws)):
        W = Ws[l]
        m = W.shape[1]
        ok = W.shape[0] == d and bs[l].shape[0] == m and dbs[l].shape[0] == m and dWs[l].shape == W.shape
        ok &= hs[l].shape[0] == n and hs[l].shape[1] == m and ds[l].shape == hs[l].shape
        if not ok:
            raise ValueError("the layers' weights or buffers no longer chain (an array reshaped in place?)")
        d = m


@jit(fastmath=True)
def mlp_forward(x, Ws, bs, hs):
    """Every layer's output into hs; returns nothing (the scores are hs[-1])."""
    _chain_fits(x, Ws, bs, hs, hs, Ws, bs)
    n_layers = len(Ws)
    # skip_zeros for the first layer only. Passed as computed booleans (n_layers > 0 is True, l == 0
    # False): a literal True/False would make Numba compile a second signature of dense_forward.
    dense_forward(x, Ws[0], bs[0], hs[0], n_layers > 1, n_layers > 0)
    for l in range(1, n_layers):
        dense_forward(hs[l - 1], Ws[l], bs[l], hs[l], l < n_layers - 1, l == 0)


@jit(fastmath=True)
def _relu_mask(g, h):
    """g masked in place by the ReLU whose output was h."""
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            g[i, j] = rules.relu_grad(g[i, j], h[i, j])


@jit(fastmath=True)
def mlp_backward(x, Ws, hs, ds, dWs, dbs):
    """From ds[-1] (the gradient of the scores) back to every dW, db; ds[l] for hidden l is masked
    by ReLU in place. The input gets no gradient."""
    _chain_fits(x, Ws, dbs, hs, ds, dWs, dbs)
    n_layers = len(Ws)
    for l in range(n_layers - 1, -1, -1):
        g = ds[l]
        if l < n_layers - 1:
            _relu_mask(g, hs[l])
        # (need_dx as a computed bool: a literal False would compile another signature. Two call
        # sites: x may be a float32 batch for float64 layers, which one variable could not hold.)
        if l > 0:
            dense_backward(hs[l - 1], Ws[l], g, dWs[l], dbs[l], ds[l - 1], l > 0)
        else:
            dense_backward(x, Ws[0], g, dWs[0], dbs[0], g, l > 0)  # (dx unused)


@jit
def mlp_step(x, t, Ws, bs, hs, ds, dWs, dbs, y):
    """mlp_forward, softmax cross-entropy against labels t (softmax into y, its gradient into ds[-1])
    and mlp_backward in one call. Returns ``(loss, bad)``: the mean loss, and -1, or the flat index of
    the first NaN/inf of x, found before anything is written (then the loss is 0 and nothing ran).
    Each callee keeps its own compile flags."""
    if not all_finite(x.ravel()):  # (the vectorised scan; the index only when there is one to find)
        return 0.0, first_nonfinite(x.ravel())
    mlp_forward(x, Ws, bs, hs)
    loss = softmax_ce_forward(hs[-1], t, y)
    softmax_ce_backward(1.0, y, t, ds[-1])
    mlp_backward(x, Ws, hs, ds, dWs, dbs)
    return loss, -1


# -- a training step with SGD folded in -----------------------------------------------------------
# ``opt.update(params, net.gradient(x, t))`` at batch 1 writes every dW (all of W's size), then SGD
# reads it back beside W: most of a batch-1 step. mlp_sgd_step makes each row of dW in a scratch row
# and subtracts it from W's row at once. The numbers are the two calls': the row is made as
# dense_backward makes it (see _CONTRACT), and the update is SGD's (kernels/optim.py), rounding for
# rounding -- ``_sgd_row`` is compiled without fastmath, so ``p - a * g`` is not contracted -- with
# SGD's choice of rows to leave (sgd_update_all: ``modes`` is that optimizer's own array, updated).


FOLD_ROWS = 32  # rows of dW made before one update pass over them (scratch: 32 x 100 float64, 25 KB)


@jit
def _sgd_row(p, g, a):
    """p -= a g, as kernels/optim.sgd_update rounds it (no fastmath: no fused multiply-add)."""
    for j in range(p.shape[0]):
        p[j] -= a * g[j]


@jit(fastmath=_CONTRACT)
def _sgd_weights(x, g, W, row, lr, modes, i):
    """W -= lr (x^T g), as sgd_update_all would update W (parameter i) from dense_backward's dW: by
    rows (rows of dW that are all +-0 left alone) or plain, by ``modes[i]``, which it updates.

    Plainly, a block of rows at a time: dW's rows for as many of W's rows as ``row`` holds, then one
    update over the block (W's rows are consecutive: one long loop, where a loop over a 50-wide row
    would run in the vector loop's scalar remainder)."""
    d, w = W.shape
    m = modes[i]
    a = W.dtype.type(lr)
    zero = W.dtype.type(0)
    finite = all_finite(g.ravel())
    if not (W.itemsize == 8 and (m < 0 or m >= ROWS_PROBE) and abs(a) < np.inf):
        Wf = W.ravel()
        block = row.shape[0] // w
        for k0 in range(0, d, block):
            kn = min(block, d - k0)
            part = row[: kn * w]
            _weight_grad(x, g, k0, part.reshape(kn, w), finite)
            _sgd_row(Wf[k0 * w : (k0 + kn) * w], part, a)
        modes[i] = m + 1
        return
    r = row[:w]
    r2 = r.reshape(1, w)
    skipped = 0
    for k in range(d):
        if finite:  # a feature that is 0 in every sample: its row is all +-0
            used = False
            for s in range(x.shape[0]):
                used |= x[s, k] != zero
            if not used:
                skipped += 1
                continue
        _weight_grad(x, g, k, r2, finite)
        nonzero = 0
        for j in range(w):
            nonzero += r[j] != zero
        if nonzero == 0:
            skipped += 1
            continue
        _sgd_row(W[k], r, a)
    modes[i] = -1 if skipped >= ROWS_MIN_SKIPPED * d else 0


@jit(fastmath=_CONTRACT)
def _sgd_bias(g, b, row, lr, modes, i):
    """b -= lr sum_i g[i], as sgd_update_all would update b (parameter i, one row) from db."""
    m = modes[i]
    a = b.dtype.type(lr)
    zero = b.dtype.type(0)
    by_rows = b.itemsize == 8 and (m < 0 or m >= ROWS_PROBE) and abs(a) < np.inf
    r = row[: b.shape[0]]
    _bias_grad(g, r)  # (b is one row of SGD's: its width is b's size)
    nonzero = 0
    for j in range(r.shape[0]):
        nonzero += r[j] != zero
    if by_rows and nonzero == 0:
        modes[i] = -1 if 1 >= ROWS_MIN_SKIPPED else 0
        return
    _sgd_row(b, r, a)
    modes[i] = (-1 if 0 >= ROWS_MIN_SKIPPED else 0) if by_rows else m + 1


@jit(fastmath=True)
def mlp_sgd_step(x, t, Ws, bs, hs, ds, y, row, lr, modes):
    """mlp_step, then SGD(lr) on every W and b -- without writing dW or db: the layers' parameters
    are ``(W1, b1, W2, b2, ...)``, parameter i's row-skipping mode is ``modes[i]`` (updated). ``row``:
    scratch for FOLD_ROWS rows of the widest layer. Returns ``(loss, bad)`` as mlp_step does (nothing
    is written when x holds NaN/inf). Each layer's input gradient is made from W before W is updated."""
    _chain_fits(x, Ws, bs, hs, ds, Ws, bs)
    if not all_finite(x.ravel()):
        return 0.0, first_nonfinite(x.ravel())
    mlp_forward(x, Ws, bs, hs)
    loss = softmax_ce_forward(hs[-1], t, y)
    softmax_ce_backward(1.0, y, t, ds[-1])
    n_layers = len(Ws)
    for l in range(n_layers - 1, -1, -1):
        g = ds[l]
        if l < n_layers - 1:
            _relu_mask(g, hs[l])
        _sgd_bias(g, bs[l], row, lr, modes, 2 * l + 1)
        if l > 0:  # (two call sites: x may be a float32 batch for float64 layers)
            _input_grad(g, Ws[l], ds[l - 1])
            _sgd_weights(hs[l - 1], g, Ws[l], row, lr, modes, 2 * l)
        else:
            _sgd_weights(x, g, Ws[0], row, lr, modes, 0)
    return loss, -1
