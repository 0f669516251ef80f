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

from .._jit import jit
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


@jit(fastmath=True)
def dense_backward(x, W, dout, dW, db, dx, need_dx):
    """dW = x^T dout, db = sum_i dout[i], and (if ``need_dx``) dx = dout W^T."""
    n, d = x.shape
    m = W.shape[1]
    zero = dW.dtype.type(0)
    finite_rows = all_finite(dout.ravel())  # (0 * inf is NaN: skip zero inputs only when dout has none)
    for j in range(m):
        db[j] = dout[0, j]
    for k in range(d):  # the first sample writes every row: no separate zeroing pass
        v = x[0, k]
        for j in range(m):
            dW[k, j] = v * dout[0, j]
    for i in range(1, n):
        for j in range(m):
            db[j] += dout[i, j]
        for k in range(d):
            v = x[i, k]
            if v != zero or not finite_rows:
                for j in range(m):
                    dW[k, j] += v * dout[i, j]
    if need_dx:
        for i in range(n):
            for k in range(d):
                s = zero
                for j in range(m):
                    s += dout[i, j] * W[k, j]
                dx[i, k] = s


@jit(fastmath=True)
def mlp_forward(x, Ws, bs, hs):
    """Every layer's output into hs; returns nothing (the scores are hs[-1])."""
    n_layers = len(Ws)
    # skip_zeros for the first layer only. Passed as computed booleans (n_layers > 0 is True, l == 0
    # False): a literal True/False would make Numba compile a second signature of dense_forward.
    dense_forward(x, Ws[0], bs[0], hs[0], n_layers > 1, n_layers > 0)
    for l in range(1, n_layers):
        dense_forward(hs[l - 1], Ws[l], bs[l], hs[l], l < n_layers - 1, l == 0)


@jit(fastmath=True)
def mlp_backward(x, Ws, hs, ds, dWs, dbs):
    """From ds[-1] (the gradient of the scores) back to every dW, db; ds[l] for hidden l is masked
    by ReLU in place. The input gets no gradient."""
    n_layers = len(Ws)
    for l in range(n_layers - 1, -1, -1):
        g = ds[l]
        if l < n_layers - 1:  # through this layer's ReLU
            h = hs[l]
            for i in range(g.shape[0]):
                for j in range(g.shape[1]):
                    g[i, j] = rules.relu_grad(g[i, j], h[i, j])
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
