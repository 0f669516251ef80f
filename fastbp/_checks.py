"""Input validation shared by the public entry points.

Every check names the caller, the argument and what was expected, so that a wrong call fails at the
line that made it rather than deep inside a compiled kernel. The checks are structural (type, dtype,
rank, shape) and cost a microsecond or two; finiteness is a compiled scan (``all_finite``).
"""

from __future__ import annotations

import numpy as np

from .kernels.checks import all_finite, copy_all_finite, first_bad_label

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_array(
    a, name: str, where: str, ndim: int | None = None, min_ndim: int = 0, convert: bool = False
) -> np.ndarray:
    """``a`` as a float32/float64 ndarray (no copy if it already is one), else TypeError/ValueError.

    ``convert``: the caller converts to its own dtype anyway, so other float precisions (float16, as
    the book's chapter 8 feeds) are accepted and returned converted to float64.
    """
    if not isinstance(a, np.ndarray):
        if isinstance(a, (str, bytes)) or a is None:
            raise TypeError(f"{where}: {name} must be a float32 or float64 array, got {type(a).__name__}")
        a = np.asarray(a)
    if convert and a.dtype.kind == "f" and a.dtype not in FLOAT_DTYPES:
        a = a.astype(np.float64)
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{where}: {name} must be a float32 or float64 array, got dtype {a.dtype}"
            + (" (convert it with .astype(np.float64) first)" if a.dtype.kind in "iub" else "")
        )
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{where}: {name} must be {ndim}-D, got shape {a.shape}")
    if a.ndim < min_ndim:
        raise ValueError(f"{where}: {name} must have at least {min_ndim} dimensions, got shape {a.shape}")
    return a


class NonFiniteInput(ValueError):
    """A graph node that checks its own input found NaN or inf in it; the network that called the
    graph re-raises it as a ValueError naming its own method."""


def _nonfinite_message(c: np.ndarray, name: str, at: int | None = None) -> str:
    bad = np.argwhere(~np.isfinite(c))[0] if at is None else np.unravel_index(at, c.shape)
    return f"{name} contains NaN or inf (first at index {tuple(int(i) for i in bad)})"


def finite(a: np.ndarray, name: str, where: str) -> None:
    """ValueError when ``a`` (a float ndarray) holds NaN or inf."""
    c = a if a.flags.c_contiguous else np.ascontiguousarray(a)
    if not all_finite(c.reshape(-1)):  # flat: one compiled signature per dtype
        raise ValueError(f"{where}: {_nonfinite_message(c, name)}")


def finite_input(a: np.ndarray, name: str = "x") -> None:
    """NonFiniteInput when the C-contiguous float array ``a`` holds NaN or inf (for graph nodes that
    check the network's input themselves, as part of a pass they make over it anyway)."""
    if not all_finite(a.reshape(-1)):
        raise NonFiniteInput(_nonfinite_message(a, name))


def nonfinite_input(a: np.ndarray, name: str = "x", at: int | None = None) -> NonFiniteInput:
    """The NonFiniteInput error for ``a``, known to hold NaN or inf (first at flat index ``at``, when
    the kernel that found it says where)."""
    return NonFiniteInput(_nonfinite_message(a, name, at))


def finite_copy(src: np.ndarray, dst: np.ndarray, name: str, where: str) -> np.ndarray:
    """dst = src in dst's dtype (one compiled pass), or ValueError when src holds NaN or inf, or values
    beyond the range of dst's dtype (float64 1e39 would become inf in float32)."""
    s = src if src.flags.c_contiguous else np.ascontiguousarray(src)
    if not copy_all_finite(s.reshape(-1), dst.reshape(-1)):
        finite(s, name, where)  # names the first bad index
    if dst.itemsize < s.itemsize:
        fits(s, dst.dtype, name, where)
    return dst


def fits(a: np.ndarray, dtype, name: str, where: str) -> None:
    """ValueError when the finite float array ``a`` holds values beyond the range of ``dtype`` (a
    narrower float type it is about to be converted to)."""
    dtype = np.dtype(dtype)
    if dtype.itemsize >= a.dtype.itemsize:
        return
    big = np.abs(a) > np.finfo(dtype).max
    if big.any():
        bad = tuple(int(i) for i in np.argwhere(big)[0])
        raise ValueError(
            f"{where}: {name} holds values beyond the range of {dtype.name} "
            f"(first at index {bad}: {a[bad]!r})"
        )


def labels(t, n: int, n_classes: int, where: str, dtype) -> tuple[np.ndarray, bool]:
    """Validate labels for n samples of n_classes classes.

    Returns ``(t, is_index)``: class indices as a contiguous (n,) integer array, or target rows as a
    contiguous (n, n_classes) array of ``dtype``. Shapes (n,) and (n, 1) are indices; (n, n_classes)
    are target rows (one-hot or any distribution), as the book tells them apart by ``t.size``.
    """
    if (
        type(t) is np.ndarray
        and t.ndim == 1
        and t.shape[0] == n
        and t.dtype.kind in "iu"
        and t.dtype.isnative
        and n_classes > 1
    ):
        # the common case (a batch of class indices), in few steps: 0.5 us of a batch-1 step's 20
        return in_range(t if t.flags.c_contiguous else np.ascontiguousarray(t), n_classes, where), True
    if not isinstance(t, np.ndarray):
        t = np.asarray(t)
    if t.dtype.kind not in "iuf":
        raise TypeError(
            f"{where}: t must hold integer class indices or float target rows, got dtype {t.dtype}"
        )
    if t.ndim == 0 or t.shape[0] != n:
        raise ValueError(f"{where}: t must have one label per sample ({n}), got shape {t.shape}")
    if t.size == n * n_classes and not (n_classes == 1 and t.dtype.kind in "iu"):
        t = np.ascontiguousarray(t.reshape(n, n_classes), dtype=dtype)
        finite(t, "t", where)
        return t, False
    if t.size != n:
        raise ValueError(
            f"{where}: t must be class indices of shape ({n},) or target rows of shape "
            f"({n}, {n_classes}), got shape {t.shape}"
        )
    if t.dtype.kind == "f":
        raise TypeError(
            f"{where}: class indices t must be integers, got dtype {t.dtype} "
            f"(target rows would have shape ({n}, {n_classes}))"
        )
    t = np.ascontiguousarray(t.reshape(n), dtype=t.dtype.newbyteorder("="))  # (the kernel: native order)
    return in_range(t, n_classes, where), True


def in_range(t: np.ndarray, n_classes: int, where: str) -> np.ndarray:
    """t (contiguous native-order integer indices), or ValueError naming the first outside [0, C)."""
    i = first_bad_label(t, n_classes)
    if i >= 0:
        raise ValueError(f"{where}: t[{i}] = {t[i]} is not a class index in [0, {n_classes})")
    return t
