"""The kernel table's cases for ``fastbp.kernels.optim``: the book's update rules, in place.

Each case returns what the update wrote (the parameters and the rule's state); the ``_all`` forms take
tuples of flat parameters of one dtype, as the optimizers pass them, in several sizes at once.
"""

from __future__ import annotations

import numpy as np

from ..config import ROWS_PROBE
from ..kernels import optim as _ko
from ..reference import optim as _ro
from .check import Case

UPDATE_SIZES = ((1,), (7,), (3, 5), (784, 50))
ALL_SIZES = (((1,),), ((7,), (3, 5), (1, 1)), ((784, 50), (50,), (50, 10), (10,)))
# float32: the same operations in the same order, hyperparameters cast to float32 first
UPDATE_TOL = {np.float32: 1e-6, np.float64: 1e-12}

# rule: (number of state arrays, hyperparameters)
RULES = {
    "sgd": (0, (0.1,)),
    "momentum": (1, (0.1, 0.9)),
    "nesterov": (1, (0.1, 0.9)),
    "adagrad": (1, (0.1,)),
    "rmsprop": (1, (0.1, 0.9)),
    "adam": (2, (0.01, 0.9, 0.999)),
}


def _update_maker(n_state, hyper):
    """(p, g, *state, *hyper); the state positive, as the square-sum states are."""

    def make(rng, dtype, shape):
        p = rng.standard_normal(shape).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        st = [np.abs(rng.standard_normal(shape)).astype(dtype) for _ in range(n_state)]
        return (p, g, *st, *hyper)

    return make


def _updated(kernel, n_state):
    """fast(p, g, *state, *hyper): kernel(...) in place; returns (p, *state)."""

    def fast(p, g, *rest):
        kernel(p, g, *rest)
        return (p, *rest[:n_state])

    return fast


def _all_maker(n_state, hyper, sgd=False):
    """(ps, gs, *states, *hyper) as tuples of flat arrays; SGD's also widths and modes."""

    def make(rng, dtype, shapes):
        arrays = [_update_maker(n_state, ())(rng, dtype, s) for s in shapes]
        ps, gs = tuple(a[0].ravel() for a in arrays), tuple(a[1].ravel() for a in arrays)
        states = tuple(tuple(a[2 + k].ravel() for a in arrays) for k in range(n_state))
        if sgd:  # (the row skipping by widths and modes changes nothing but the sign of a zero)
            widths = np.array([s[-1] if len(s) > 1 else s[0] for s in shapes], np.int64)
            modes = np.array([-1, 0, 16, 3][: len(shapes)], np.int64)  # by rows, plain, probing, plain
            return (ps, gs, widths, modes, *hyper)
        return (ps, gs, *states, *hyper)

    return make


def _updated_all(kernel, n_state):
    def fast(ps, gs, *rest):
        kernel(ps, gs, *rest)
        return (ps, *rest[:n_state])

    return fast


def _make_rows(rng, dtype, size):
    """Flat p, g of rows of ``width``; every other row of g all zero (one of them -0.0)."""
    rows, width = size
    p = rng.standard_normal(rows * width).astype(dtype)
    g = rng.standard_normal((rows, width)).astype(dtype)
    g[::2] = 0
    g[0] = -0.0
    return p, g.ravel(), 0.1, width


def _fast_rows(p, g, lr, width):
    return _ko.sgd_update_rows(p, g, lr, width), p


def _twin_rows(p, g, lr, width):
    return _ro.sgd_update_rows(p, g, lr, width), p


def _make_param(rng, dtype, size):
    """_make_rows's p, g, and SGD's modes with parameter 1's set to ``mode``."""
    rows, width, mode = size
    p, g, lr, _ = _make_rows(rng, dtype, (rows, width))
    return p, g, width, np.array([5, mode, 7], np.int64), 1, lr


def _fast_param(p, g, width, modes, i, lr):
    _ko.sgd_update_param(p, g, width, modes, i, lr)
    return p, modes


def _twin_param(p, g, width, modes, i, lr):
    _ro.sgd_update_param(p, g, width, modes, i, lr)
    return p, modes


def _cases():
    cases = []
    for rule, (n_state, hyper) in RULES.items():
        name = f"{rule}_update"
        kernel, twin = getattr(_ko, name), getattr(_ro, name)
        make = _update_maker(n_state, hyper)
        cases.append(
            Case(
                name,
                "optim",
                _updated(kernel, n_state),
                _updated(twin, n_state),
                make,
                UPDATE_SIZES,
                UPDATE_TOL,
            )
        )
        kernel, twin = getattr(_ko, f"{name}_all"), getattr(_ro, f"{name}_all")
        n = 0 if rule == "sgd" else n_state
        make = _all_maker(n_state, hyper, sgd=rule == "sgd")
        cases.append(
            Case(
                f"{name}_all",
                "optim",
                _updated_all(kernel, n),
                _updated_all(twin, n),
                make,
                ALL_SIZES,
                UPDATE_TOL,
            )
        )
    rows = ((1, 1), (4, 7), (6, 50))
    cases.append(Case("sgd_update_rows", "optim", _fast_rows, _twin_rows, _make_rows, rows, UPDATE_TOL))
    # each mode: by rows now (-1; ROWS_PROBE: a probe), plain (0, 3); half the rows skipped or none
    params = ((1, 1, -1), (4, 7, -1), (6, 50, ROWS_PROBE), (6, 50, 0), (3, 5, 3))
    cases.append(Case("sgd_update_param", "optim", _fast_param, _twin_param, _make_param, params, UPDATE_TOL))
    return tuple(cases)


CASES = _cases()
