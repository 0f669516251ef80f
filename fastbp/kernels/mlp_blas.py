"""A whole ReLU MLP training step through BLAS in one compiled call (batches above SMALL_BATCH).

The products are NumPy's own BLAS (``blas.gemm``, the very calls ``np.dot`` makes) and the passes
between them the kernels the layers use, in the order the layers run them: the numbers are those of
the layers run one by one (fused.mlp.SmallBatchMLP compares them in its tests), without the Python
between the calls (at batch 32 that Python cost as much as the products here). A batch the first
layer would list (mostly zeros: MNIST) has that layer's products made from its list of nonzeros, by
that layer's kernels (kernels/sparse_input.py); the others' through BLAS. (On MNIST at batch 32 the
layers one by one had cost 1.5x this call on dense data.)

Layers as in kernels/mlp.py: ``Ws[l]`` (D_l, D_{l+1}), ``bs[l]``, ``hs[l]`` (N, D_{l+1}) the outputs
(ReLU for l < L-1), ``ds[l]`` the gradients of ``hs[l]``, ``dWs``, ``dbs``; ``y`` the softmax.

With SGD folded in (``Network.train_step``), each layer's W and b are updated as soon as the layer's
gradients are made and its input gradient no longer needs W: by SGD's own per-parameter update
(kernels/optim.sgd_update_param), while dW is still in cache. The separate update pass read every dW
back from memory beside W (at batch 32, a tenth of TwoLayerNet's step).
"""

from numba.extending import overload

from .._jit import jit
from . import rules
from .affine import bias_backward, bias_forward, bias_relu_forward, relu_bias_backward, transpose_into
from .blas import gemm
from .checks import all_finite, copy_all_finite
from .mlp import _chain_fits
from .optim import sgd_update_param
from .softmax_ce import softmax_ce_backward, softmax_ce_forward
from .sparse_input import compact_rows, csr_affine_forward, csr_weight_grad

DONE, NOT_FINITE, LISTED = 0, 1, 2  # what mlp_blas_step returns beside the loss


@jit
def _bias_from(src, b, out, relu):
    """out = src + b, then ReLU if ``relu`` (kernels/affine's bias_forward and bias_relu_forward, into
    another array)."""
    n, m = out.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = rules.relu(src[i, j] + b[j]) if relu else src[i, j] + b[j]


def _converted(x, xd):
    """Where x and xd differ in dtype: xd = x converted, checked as it is copied (True when all
    finite). Where they do not, xd is x: nothing to do (True)."""
    if x.dtype == xd.dtype:
        return True
    return copy_all_finite(x.ravel(), xd.ravel())


@overload(_converted)
def _converted_typed(x, xd):
    # Chosen by type when compiled: a same-dtype step has no conversion in it at all (its x may be a
    # read-only array, which a copy into it would not even type).
    if x.dtype == xd.dtype:
        return lambda x, xd: True
    return lambda x, xd: copy_all_finite(x.ravel(), xd.ravel())


@jit
def _product(addr, a, a_t, b, b_t, out, flip, scratch):
    """out = op(a) op(b) as ``gemm``; if ``flip``, in the other layout (layers/products.py): out^T =
    op(b)^T op(a)^T into ``scratch``, then transposed into out -- the calls the layers make then."""
    if not flip:
        gemm(addr, a, a_t, b, b_t, out)
        return
    if scratch.size < out.size:
        raise ValueError("the scratch for a product in the other layout is too small")
    flipped = scratch[: out.size].reshape((out.shape[1], out.shape[0]))
    gemm(addr, b, not b_t, a, not a_t, flipped)
    transpose_into(flipped, out)


@jit
def mlp_blas_step(
    addr, x, xd, t, Ws, bs, hs, ds, dWs, dbs, y, idx, val, ptr, limit, lr, modes, flip, scratch
):
    """Forward, softmax cross-entropy against labels t, backward: every dW, db; and, if ``modes`` is
    not empty, SGD(lr) on each layer's W and b as soon as its gradients are made (``modes``: the
    SGD's row modes of ``(W1, b1, W2, ...)``, updated), as ``opt.update`` would after the step.
    Returns ``(loss, code)``; only these arrays are written (and idx/val/ptr, and xd), and for
    NOT_FINITE nothing but the listing or the conversion ran:

    - DONE: the first layer's products through BLAS;
    - LISTED: x was sparse enough for the first layer's list of nonzeros (``limit`` >= 0: the
      density up to which it lists, as fused.affine.SparseInputAffine decides; the list, into
      idx/val/ptr, stops as soon as it is too dense), and the first layer's products went through
      the list, as that layer makes them (kernels/sparse_input.py);
    - NOT_FINITE: x holds NaN or inf (the list met one), or x W1 does (x's, W1's or an overflow's:
      the caller looks at x).

    ``flip``: per layer, whether its x W and its x^T g take the other layout (``2 l`` and ``2 l + 1``;
    layers/products.py: then through ``scratch``, at least as large as the largest such product).
    ``addr``: NumPy's cblas_?gemm for the dtype (blas.address). ``x``: the batch (N, D), in the
    layers' dtype or a float32 batch for float64 layers, which the list takes as it is (widening each
    value) and BLAS converted: then x is copied into ``xd`` (the layers' dtype) where BLAS needs it,
    checked as it is copied; else ``xd`` is x."""
    _chain_fits(x, Ws, bs, hs, ds, dWs, dbs)
    n_layers = len(Ws)
    if flip.shape[0] != 2 * n_layers:
        raise ValueError("flip does not give two layouts per layer")
    status = -1  # compact_rows': the count of nonzeros listed; -1: too dense (or not asked)
    if idx.size < x.size or val.size < x.size or ptr.size <= x.shape[0]:
        limit = -1.0  # (buffers too small for this batch's list: never written past their ends)
    if limit >= 0:
        status = compact_rows(x, idx, val, ptr, limit)
        if status == -2:  # (a NaN or inf met)
            return 0.0, NOT_FINITE
        if status >= 0 and not all_finite(Ws[0].ravel()):
            status = -1  # the list would skip x's zeros that meet W1's NaN/inf: BLAS, as the layer does
    listed = status >= 0
    # The transpose flags as computed booleans: literal True/False would make Numba compile gemm once
    # per combination of them.
    no, yes = n_layers < 0, n_layers > 0
    if listed:  # (x is all finite: nothing can refuse the call now)
        csr_affine_forward(idx, val, ptr, Ws[0], bs[0], hs[0], n_layers > 1)
    else:
        if not _converted(x, xd):
            return 0.0, NOT_FINITE
        # x W1 into ds[0] (scratch until the backward): hs[0] is what the layers hold from the last
        # step, and a refused call must leave it. Then hs[0] = x W1 + b1 (ReLU'd), as
        # bias_relu_forward makes it.
        _product(addr, xd, no, Ws[0], no, ds[0], flip[0], scratch)
        if not all_finite(ds[0].ravel()):
            return 0.0, NOT_FINITE
        _bias_from(ds[0], bs[0], hs[0], n_layers > 1)
    for l in range(1, n_layers):
        _product(addr, hs[l - 1], no, Ws[l], no, hs[l], flip[2 * l], scratch)
        if l < n_layers - 1:
            bias_relu_forward(hs[l], bs[l])
        else:
            bias_forward(hs[l], bs[l])
    loss = softmax_ce_forward(hs[-1], t, y)
    softmax_ce_backward(1.0, y, t, ds[-1])
    for l in range(n_layers - 1, -1, -1):
        g = ds[l]
        if l < n_layers - 1:
            relu_bias_backward(g, hs[l], dbs[l])  # masks g in place
        else:
            bias_backward(g, dbs[l])
        if l > 0:  # (two call sites: the first layer's input is x, the others' the layers' outputs)
            _product(addr, hs[l - 1], yes, g, no, dWs[l], flip[2 * l + 1], scratch)
            gemm(addr, g, no, Ws[l], yes, ds[l - 1])
        elif listed and all_finite(g.ravel()):  # (0 * inf must give BLAS's NaN: the layer's rule)
            csr_weight_grad(idx, val, ptr, g, dWs[0])
        else:
            if listed:  # (x is finite: listed)
                _converted(x, xd)
            _product(addr, xd, yes, g, no, dWs[0], flip[1], scratch)
        if modes.shape[0]:  # (W[l] is read no more: its input gradient is made)
            sgd_update_param(Ws[l].ravel(), dWs[l].ravel(), Ws[l].shape[1], modes, 2 * l, lr)
            sgd_update_param(bs[l], dbs[l], bs[l].shape[0], modes, 2 * l + 1, lr)
    return loss, LISTED if listed else DONE
