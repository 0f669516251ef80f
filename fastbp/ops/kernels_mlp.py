"""The kernel table's cases for ``fastbp.kernels.mlp``: a whole small ReLU network in compiled loops."""

from __future__ import annotations

import numpy as np

from ..config import ROWS_PROBE
from ..kernels import blas as _kb
from ..kernels import mlp as _km
from ..kernels import mlp_blas as _kmb
from ..reference import blas as _rb
from ..reference import checks as _rk
from ..reference import mlp as _rm
from ..reference import mlp_blas as _rmb
from .check import Case
from .check import filled as _filled

# mlp: a whole small ReLU network -----------------------------------------------------------------

# (N, layer widths D_0 .. D_L[, a value put in the first weight row met only by zeros]): batch 1, odd
# widths, one layer only, three layers; an inf and a NaN weight that only zero inputs meet (0 * inf is
# NaN: the kernels skip zero inputs only while the weights are finite, and must give NumPy's NaN).
MLP_SIZES = (
    (1, (13, 7, 5)), (7, (9, 3)), (4, (13, 7, 6, 5)), (2, (11, 1, 4)),
    (2, (9, 6, 4), "inf"), (1, (9, 5), "nan"),
)  # fmt: skip


def _make_net(rng, dtype, size):
    n, dims = size[:2]
    x = rng.standard_normal((n, dims[0])).astype(dtype)
    x[rng.random(x.shape) < 0.5] = 0  # the kernels skip zero inputs
    Ws = tuple(rng.standard_normal((a, b)).astype(dtype) for a, b in zip(dims[:-1], dims[1:], strict=False))
    if len(size) > 2:
        x[:, 0] = 0
        Ws[0][0, 1] = float(size[2])
    bs = tuple(rng.standard_normal(b).astype(dtype) for b in dims[1:])
    return x, Ws, bs


def _make_dense(rng, dtype, size):
    x, Ws, bs = _make_net(rng, dtype, size)
    return x, Ws[0], bs[0], len(Ws) > 1  # ReLU on for the multi-layer sizes


def _fast_dense_forward(x, W, b, relu):
    out, out2 = _filled((x.shape[0], W.shape[1]), x.dtype), _filled((x.shape[0], W.shape[1]), x.dtype)
    with np.errstate(invalid="ignore"):  # (0 * inf: NaN wanted, as in the twin; plain-Python runs warn)
        _km.dense_forward(x, W, b, out, relu, True)
        _km.dense_forward(x, W, b, out2, relu, False)
    if not np.array_equal(out, out2, equal_nan=True):  # (the same sums: the zeros' terms are +-0)
        raise AssertionError("dense_forward: skipping zero inputs changed the result")
    return out


def _make_dense_backward(rng, dtype, size):
    x, W, _, need_dx = _make_dense(rng, dtype, size)
    return x, W, rng.standard_normal((x.shape[0], W.shape[1])).astype(dtype), need_dx


def _fast_dense_backward(x, W, dout, need_dx):
    dW, db, dx = _filled(W.shape, x.dtype), _filled(W.shape[1], x.dtype), _filled(x.shape, x.dtype)
    _km.dense_backward(x, W, dout, dW, db, dx, need_dx)
    return dW, db, (dx if need_dx else None)


def _outputs(x, Ws):
    return tuple(_filled((x.shape[0], W.shape[1]), W.dtype) for W in Ws)  # (x may be float32: see _widened)


def _fast_mlp_forward(x, Ws, bs):
    hs = _outputs(x, Ws)
    with np.errstate(invalid="ignore"):
        _km.mlp_forward(x, Ws, bs, hs)
    return hs


def _make_mlp_backward(rng, dtype, size):
    x, Ws, bs = _make_net(rng, dtype, size)
    hs = tuple(_rm.mlp_forward(x, Ws, bs))
    return x, Ws, hs, rng.standard_normal(hs[-1].shape).astype(dtype)


def _fast_mlp_backward(x, Ws, hs, dscores):
    ds = _outputs(x, Ws)
    ds[-1][...] = dscores
    dWs, dbs = tuple(_filled(W.shape, W.dtype) for W in Ws), tuple(_filled(W.shape[1], W.dtype) for W in Ws)
    _km.mlp_backward(x, Ws, hs, ds, dWs, dbs)
    return dWs, dbs, ds


def _make_mlp_step(rng, dtype, size):
    x, Ws, bs = _make_net(rng, dtype, size)
    return x, rng.integers(0, Ws[-1].shape[1], x.shape[0]), Ws, bs


def _fast_mlp_step(x, t, Ws, bs):
    hs, ds = _outputs(x, Ws), _outputs(x, Ws)
    dWs, dbs = tuple(_filled(W.shape, W.dtype) for W in Ws), tuple(_filled(W.shape[1], W.dtype) for W in Ws)
    y = _filled(hs[-1].shape, Ws[-1].dtype)
    with np.errstate(invalid="ignore"):
        loss, bad = _km.mlp_step(x, t, Ws, bs, hs, ds, dWs, dbs, y)
    if bad != _rk.first_nonfinite(x):
        raise AssertionError(f"mlp_step found a non-finite x at {bad}, NumPy at {_rk.first_nonfinite(x)}")
    return loss, hs, y, dWs, dbs, ds


def _make_mlp_sgd_step(rng, dtype, size):
    x, t, Ws, bs = _make_mlp_step(rng, dtype, size)
    # every mode: by rows now (-1, and ROWS_PROBE: a probe step), plain (0, 3)
    modes = rng.choice(np.array([-1, 0, 3, ROWS_PROBE], np.int64), 2 * len(Ws))
    return x, t, Ws, bs, 0.1, modes


def _fast_mlp_sgd_step(x, t, Ws, bs, lr, modes):
    hs, ds = _outputs(x, Ws), _outputs(x, Ws)
    y = _filled(hs[-1].shape, Ws[-1].dtype)
    row = _filled(3 * max(W.shape[1] for W in Ws), Ws[-1].dtype)  # (3 rows: blocks, and a last short one)
    with np.errstate(invalid="ignore"):
        loss, bad = _km.mlp_sgd_step(x, t, Ws, bs, hs, ds, y, row, lr, modes)
    if bad != _rk.first_nonfinite(x):
        raise AssertionError(f"mlp_sgd_step found a non-finite x at {bad}, NumPy at {_rk.first_nonfinite(x)}")
    return loss, tuple(a for pair in zip(Ws, bs, strict=True) for a in pair), modes


def _address(dtype):
    from .._blas_lib import address

    return address(dtype)


def _make_gemm(rng, dtype, size):
    (m, k, n), (a_t, b_t) = size[:3], size[3:]
    a = rng.standard_normal((k, m) if a_t else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if b_t else (k, n)).astype(dtype)
    return a, a_t, b, b_t


def _fast_gemm(a, a_t, b, b_t):
    m = a.shape[1] if a_t else a.shape[0]
    n = b.shape[0] if b_t else b.shape[1]
    out = _filled((m, n), a.dtype)
    addr = _address(a.dtype)
    if not addr:
        return _rb.gemm(a, a_t, b, b_t)  # (no NumPy BLAS to call here: nothing to compare)
    _kb.gemm(addr, a, a_t, b, b_t, out)
    if not np.array_equal(out, _rb.gemm(a, a_t, b, b_t)):  # the very call np.dot makes: the same bits
        raise AssertionError("gemm differs from NumPy's product")
    return out


# (M, K, N, a transposed, b transposed): every layout the step uses, odd sizes, K and N of 2
GEMM_SIZES = tuple(
    (m, k, n, at, bt) for (m, k, n) in ((5, 13, 7), (2, 2, 2), (33, 17, 9)) for at in (0, 1) for bt in (0, 1)
)
# a step's sizes: batches above SMALL_BATCH (the compiled loops take up to 4), widths of 2 and more
MLP_BLAS_SIZES = ((5, (13, 7, 5)), (9, (9, 3)), (6, (13, 7, 6, 5)), (7, (9, 6, 4), "inf"))
# the list's products are compiled for the first layer's widths 50 and 100 only (kernels/sparse_input)
MLP_BLAS_LISTED_SIZES = ((9, (20, 50, 5)), (12, (17, 100, 7, 3)), (8, (13, 50, 4), "inf"))


def _make_mlp_blas_step(rng, dtype, size):
    x, t, Ws, bs = _make_mlp_step(rng, dtype, size)
    if len(size) > 2:
        x[2, 1] = np.inf  # (and the weight: W1[0, 1] inf, met by zeros): the product is not finite
    return x, t, Ws, bs


def _blas_step_outputs(x, t, Ws, bs, lr, modes, listed=False, flipped=False):
    """The compiled step's (loss, code, hs, y, dWs, dbs), on outputs filled with garbage first (with
    ``listed``, x's list of nonzeros taken at any density: code LISTED reads as DONE; with
    ``flipped``, every x W and x^T g in the other layout); or None where NumPy's BLAS is not one it
    can call."""
    addr = _address(Ws[0].dtype)
    if not addr:
        return None
    hs, ds = _outputs(x, Ws), _outputs(x, Ws)
    dWs, dbs = tuple(_filled(W.shape, W.dtype) for W in Ws), tuple(_filled(W.shape[1], W.dtype) for W in Ws)
    y = _filled(hs[-1].shape, Ws[-1].dtype)
    if listed:
        lists = (np.full(x.size, -7, np.int32), _filled(x.size, Ws[0].dtype), np.full(x.shape[0] + 1, -7))
    else:
        lists = (np.zeros(1, np.int32), np.zeros(1, Ws[0].dtype), np.zeros(2, np.int64))
    xd = _filled(x.shape, Ws[0].dtype)
    convert = x.dtype != Ws[0].dtype
    flip = np.full(2 * len(Ws), int(flipped), np.int64)
    scratch = _filled(max(max(x.shape[0] * W.shape[1], W.size) for W in Ws), Ws[0].dtype)
    with np.errstate(all="ignore"):
        loss, code = _kmb.mlp_blas_step(
            addr, x, xd if convert else x, t, Ws, bs, hs, ds, dWs, dbs, y, *lists,
            1.0 if listed else -1.0, lr, modes, flip, scratch,
        )  # fmt: skip
    if listed and code == _kmb.LISTED:
        code = _kmb.DONE
    elif listed and code == _kmb.DONE and np.count_nonzero(x) and np.isfinite(Ws[0]).all():
        raise AssertionError("mlp_blas_step did not take the list it was given")
    return loss, code, hs, y, dWs, dbs


def _fast_mlp_blas_step(x, t, Ws, bs):
    out = _blas_step_outputs(x, t, Ws, bs, 0.0, np.zeros(0, np.int64))
    if out is None:
        return _rmb.mlp_blas_step(x, t, Ws, bs)
    return (0.0, out[1]) if out[1] else out


def _fast_mlp_blas_step_flipped(x, t, Ws, bs):
    out = _blas_step_outputs(x, t, Ws, bs, 0.0, np.zeros(0, np.int64), flipped=True)
    if out is None:
        return _rmb.mlp_blas_step(x, t, Ws, bs)
    return (0.0, out[1]) if out[1] else out


def _fast_mlp_blas_step_listed(x, t, Ws, bs):
    out = _blas_step_outputs(x, t, Ws, bs, 0.0, np.zeros(0, np.int64), listed=True)
    if out is None:
        return _rmb.mlp_blas_step(x, t, Ws, bs)
    return (0.0, out[1]) if out[1] else out


def _make_mlp_blas_sgd_step(rng, dtype, size):
    x, t, Ws, bs = _make_mlp_blas_step(rng, dtype, size)
    # every mode: by rows now (-1, and ROWS_PROBE: a probe step), plain (0, 3)
    modes = rng.choice(np.array([-1, 0, 3, ROWS_PROBE], np.int64), 2 * len(Ws))
    x[:, -1] = 0.0  # a feature 0 in every sample: dW1's last row is all 0, which a by-rows pass leaves
    return x, t, Ws, bs, 0.1, modes


def _fast_mlp_blas_sgd_step(x, t, Ws, bs, lr, modes):
    out = _blas_step_outputs(x, t, Ws, bs, lr, modes)
    if out is None:
        return _rmb.mlp_blas_sgd_step(x, t, Ws, bs, lr, modes)
    if out[1]:
        return 0.0, out[1]
    return out[0], out[1], tuple(a for pair in zip(Ws, bs, strict=True) for a in pair), modes


def _widened(make):
    """``make``'s inputs in float64 with x as float32: a float32 batch into a float64 network, which
    the loops take unconverted (each value widened where it is read)."""

    def widened(rng, dtype, size):
        x, *rest = make(rng, dtype, size)
        return (x.astype(np.float32), *rest)

    return widened


_F64 = (np.float64,)

CASES = (
    Case("dense_forward", "mlp", _fast_dense_forward, _rm.dense_forward, _make_dense, MLP_SIZES),
    Case("dense_backward", "mlp", _fast_dense_backward, _rm.dense_backward, _make_dense_backward, MLP_SIZES),
    Case("mlp_forward", "mlp", _fast_mlp_forward, _rm.mlp_forward, _make_net, MLP_SIZES),
    Case("mlp_backward", "mlp", _fast_mlp_backward, _rm.mlp_backward, _make_mlp_backward, MLP_SIZES),
    Case("mlp_step", "mlp", _fast_mlp_step, _rm.mlp_step, _make_mlp_step, MLP_SIZES),
    Case("mlp_sgd_step", "mlp", _fast_mlp_sgd_step, _rm.mlp_sgd_step, _make_mlp_sgd_step, MLP_SIZES),
    Case("gemm", "blas", _fast_gemm, _rb.gemm, _make_gemm, GEMM_SIZES),
    Case(
        "mlp_blas_step",
        "mlp_blas",
        _fast_mlp_blas_step,
        _rmb.mlp_blas_step,
        _make_mlp_blas_step,
        MLP_BLAS_SIZES,
    ),
    Case(
        "mlp_blas_step other layouts",
        "mlp_blas",
        _fast_mlp_blas_step_flipped,
        _rmb.mlp_blas_step,
        _make_mlp_blas_step,
        MLP_BLAS_SIZES,
    ),
    Case(
        "mlp_blas_step listed",
        "mlp_blas",
        _fast_mlp_blas_step_listed,
        _rmb.mlp_blas_step,
        _make_mlp_blas_step,
        MLP_BLAS_LISTED_SIZES,
    ),
    Case(
        "mlp_blas_step listed float32 x",
        "mlp_blas",
        _fast_mlp_blas_step_listed,
        _rmb.mlp_blas_step,
        _widened(_make_mlp_blas_step),
        MLP_BLAS_LISTED_SIZES,
        dtypes=_F64,
    ),
    Case(
        "mlp_blas_step sgd",
        "mlp_blas",
        _fast_mlp_blas_sgd_step,
        _rmb.mlp_blas_sgd_step,
        _make_mlp_blas_sgd_step,
        MLP_BLAS_SIZES,
    ),
    Case(
        "mlp_forward float32 x",
        "mlp",
        _fast_mlp_forward,
        _rm.mlp_forward,
        _widened(_make_net),
        MLP_SIZES,
        dtypes=_F64,
    ),
    Case(
        "mlp_backward float32 x",
        "mlp",
        _fast_mlp_backward,
        _rm.mlp_backward,
        _widened(_make_mlp_backward),
        MLP_SIZES,
        dtypes=_F64,
    ),
    Case(
        "mlp_step float32 x",
        "mlp",
        _fast_mlp_step,
        _rm.mlp_step,
        _widened(_make_mlp_step),
        MLP_SIZES,
        dtypes=_F64,
    ),
    Case(
        "mlp_sgd_step float32 x",
        "mlp",
        _fast_mlp_sgd_step,
        _rm.mlp_sgd_step,
        _widened(_make_mlp_sgd_step),
        MLP_SIZES,
        dtypes=_F64,
    ),
)
