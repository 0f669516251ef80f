"""The kernel table's cases for ``softmax_ce`` (index labels of three integer dtypes, one-hot and soft
target rows, dout other than 1, dx in place of p) and ``checks`` (finiteness and label scans)."""

from __future__ import annotations

import numpy as np

from ..kernels import checks as _kk
from ..kernels import softmax_ce as _ks
from ..reference import checks as _rk
from ..reference import softmax_ce as _rs
from .check import Case
from .check import filled as _filled

# softmax_ce --------------------------------------------------------------------------------------

SOFTMAX_SIZES = ((1, 1), (1, 2), (7, 3), (64, 10), (100, 10), (5, 1000))


def _make_logits(rng, dtype, size, labels="int64"):
    n, c = size
    x = (5 * rng.standard_normal((n, c))).astype(dtype)
    if labels == "onehot":
        t = np.eye(c, dtype=dtype)[rng.integers(0, c, n)]
    elif labels == "soft":
        t = rng.dirichlet(np.ones(c), n).astype(dtype)
    else:
        t = rng.integers(0, c, n).astype(labels)
    return x, t


def _make_softmax_backward(labels, dout):
    def make(rng, dtype, size):
        x, t = _make_logits(rng, dtype, size, labels)
        p = (_rs.softmax_ce_forward_dist if t.ndim == 2 else _rs.softmax_ce_forward)(x, t)[1].astype(dtype)
        return dout, p, t

    return make


def _fast_softmax_forward(kernel):
    def fast(x, t):
        p = _filled(x.shape, x.dtype)
        return kernel(x, t, p), p

    return fast


def _fast_softmax_backward(kernel, in_place=False):
    def fast(dout, p, t):
        dx = p if in_place else _filled(p.shape, p.dtype)
        kernel(dout, p, t, dx)
        return dx

    return fast


def _softmax_cases():
    s = "softmax_ce"
    fwd, fwd_dist = (
        _fast_softmax_forward(_ks.softmax_ce_forward),
        _fast_softmax_forward(_ks.softmax_ce_forward_dist),
    )
    bwd, bwd_dist = _ks.softmax_ce_backward, _ks.softmax_ce_backward_dist
    cases = []
    for labels in ("int64", "uint8", "int32"):
        sizes = SOFTMAX_SIZES if labels != "uint8" else SOFTMAX_SIZES[:-1]  # uint8: at most 256 classes
        make = (lambda lab: lambda rng, dtype, size: _make_logits(rng, dtype, size, lab))(labels)
        cases.append(Case(f"softmax_ce_forward {labels}", s, fwd, _rs.softmax_ce_forward, make, sizes))
        for dout in (1.0, 0.5):
            cases.append(
                Case(
                    f"softmax_ce_backward {labels} dout={dout}",
                    s,
                    _fast_softmax_backward(bwd),
                    _rs.softmax_ce_backward,
                    _make_softmax_backward(labels, dout),
                    sizes,
                )
            )
        cases.append(
            Case(
                f"softmax_ce_backward {labels} in place",  # dx may be p
                s,
                _fast_softmax_backward(bwd, in_place=True),
                _rs.softmax_ce_backward,
                _make_softmax_backward(labels, 1.0),
                sizes,
            )
        )
    for labels in ("onehot", "soft"):
        make = (lambda lab: lambda rng, dtype, size: _make_logits(rng, dtype, size, lab))(labels)
        sizes = ((1, 2), (7, 3), (100, 10))
        cases.append(
            Case(f"softmax_ce_forward_dist {labels}", s, fwd_dist, _rs.softmax_ce_forward_dist, make, sizes)
        )
        cases.append(
            Case(
                f"softmax_ce_backward_dist {labels}",
                s,
                _fast_softmax_backward(bwd_dist),
                _rs.softmax_ce_backward_dist,
                _make_softmax_backward(labels, 2.0),
                sizes,
            )
        )
    return cases


# checks ------------------------------------------------------------------------------------------


def _make_finite(rng, dtype, size):
    shape, bad = size
    a = rng.standard_normal(shape).astype(dtype)
    if bad:
        a.flat[-1] = float(bad)
    return (a,)


def _make_labels(rng, dtype, size):
    label_dtype, n_classes, negative = size
    t = np.array([0, 2, 1, 3, 0], label_dtype)
    if negative:
        t[1] = -1
    return t, n_classes


def _make_copy(rng, dtype, size):
    """src (5, 7) in another or the same precision, dst NaN in dtype; bad: a value put in src."""
    other, bad = size
    src_dtype = {np.float32: np.float64, np.float64: np.float32}[dtype] if other else dtype
    src = rng.standard_normal((5, 7)).astype(src_dtype)
    if bad:
        src[3, 2] = float(bad)
    return src, _filled((5, 7), dtype)


def _copy_and_dst(kernel):
    def fast(src, dst):
        return kernel(src, dst), dst

    return fast


def _check_cases():
    c = "checks"
    finite = tuple((shape, bad) for shape in ((1,), (4, 5), (2, 3, 4)) for bad in ("", "nan", "inf", "-inf"))
    labels = ((np.int64, 4, False), (np.int64, 3, False), (np.uint8, 4, False), (np.uint8, 3, False))
    labels += ((np.int8, 4, False), (np.int8, 3, False), (np.int8, 4, True))
    copies = ((True, ""), (False, ""), (True, "inf"), (False, "nan"))
    return [
        Case("all_finite", c, _kk.all_finite, _rk.all_finite, _make_finite, finite),
        Case("first_nonfinite", c, _kk.first_nonfinite, _rk.first_nonfinite, _make_finite, finite),
        Case(
            "first_bad_label",
            c,
            _kk.first_bad_label,
            _rk.first_bad_label,
            _make_labels,
            labels,
            dtypes=(np.float64,),
        ),
        # (the kernel writes every element of dst, a non-finite one too; the twin likewise)
        Case(
            "copy_all_finite",
            c,
            _copy_and_dst(_kk.copy_all_finite),
            _copy_and_dst(_rk.copy_all_finite),
            _make_copy,
            copies,
        ),
    ]


CASES = tuple(_softmax_cases() + _check_cases())
