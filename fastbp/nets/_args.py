"""Argument checks shared by the book's networks' constructors."""

from __future__ import annotations

import numbers

import numpy as np

from .. import _checks as _chk
from .. import layers as _fast_layers
from ..reference import layers as _ref_layers

BACKENDS = ("fastbp", "numpy")


def layer_module(backend: str):
    """The module whose layer classes a network of ``backend`` is built from."""
    if isinstance(backend, str) and backend == "fastbp":
        return _fast_layers
    if isinstance(backend, str) and backend == "numpy":
        return _ref_layers
    raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {backend!r}")


def float_dtype(dtype, where: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _chk.FLOAT_DTYPES:
        raise TypeError(f"{where}: dtype must be float32 or float64, got {dtype!r}")
    return dt


def size(v, name: str, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {v!r}")
    return int(v)


def nonneg(v, name, where):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v) or v < 0:
        raise ValueError(f"{where}: {name} must be a finite number >= 0, got {v!r}")
    return v


def init_std(weight_init_std, where: str):
    """The book's choices: a number, 'relu'/'he' (sqrt(2/n_in)) or 'sigmoid'/'xavier' (sqrt(1/n_in))."""
    if isinstance(weight_init_std, str):
        key = weight_init_std.lower()
        if key in ("relu", "he"):
            return lambda n_in: np.sqrt(2.0 / n_in)
        if key in ("sigmoid", "xavier"):
            return lambda n_in: np.sqrt(1.0 / n_in)
        raise ValueError(
            f"{where}: weight_init_std must be a number, 'relu'/'he' or 'sigmoid'/'xavier', "
            f"got {weight_init_std!r}"
        )
    if (
        isinstance(weight_init_std, bool)
        or not isinstance(weight_init_std, numbers.Real)
        or not np.isfinite(weight_init_std)
    ):
        raise ValueError(
            f"{where}: weight_init_std must be a finite number or a name, got {weight_init_std!r}"
        )
    return lambda n_in: weight_init_std


def conv_param(cp, where, name):
    keys = ("filter_num", "filter_size", "pad", "stride")
    if not isinstance(cp, dict) or any(k not in cp for k in keys):
        raise ValueError(f"{where}: {name} must be a dict with keys {keys}, got {cp!r}")
    return [
        size(cp["filter_num"], f"{name}['filter_num']", where),
        size(cp["filter_size"], f"{name}['filter_size']", where),
        cp["pad"],
        cp["stride"],
    ]
