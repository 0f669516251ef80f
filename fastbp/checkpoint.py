"""Parameter files: ``.npz`` archives written atomically and read without pickle.

The book saves ``params`` with ``pickle``, and unpickling a file can run arbitrary code. fastbp writes
NumPy's ``.npz`` (whatever the file name says, so the book's ``save_params("params.pkl")`` calls keep
working) and reads it with ``allow_pickle=False``. A pickle is read only when the caller says so.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile

import numpy as np

__all__ = ["save", "load_into"]

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"  # protocol 2+ opcode PROTO


def save(file_name, params: dict) -> None:
    """Write ``{key: array}`` to ``file_name`` as .npz; a crash leaves the old file or none, never half."""
    path = os.fspath(file_name)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".params-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in params.items()})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(path: str, allow_pickle: bool, where: str) -> dict:
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no parameter file {path!r}") from None
    if head.startswith(_PICKLE_MAGIC) and not head.startswith(_ZIP_MAGIC):
        if not allow_pickle:
            raise ValueError(
                f"{where}: {path!r} is a pickle (the book's format). Unpickling can run arbitrary code, so "
                "it is refused; if you trust the file, pass allow_pickle=True, then save_params() to "
                "convert it to .npz"
            )
        with open(path, "rb") as f:
            data = pickle.load(f)
        if not isinstance(data, dict):
            raise ValueError(f"{where}: {path!r} holds a {type(data).__name__}, not a dict of parameters")
        return {k: np.asarray(v) for k, v in data.items()}
    if head != _ZIP_MAGIC:
        raise ValueError(f"{where}: {path!r} is not a parameter file written by save_params (.npz)")
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:  # our handle: closed on error too
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ValueError(f"{where}: {path!r} is corrupt or truncated ({e})") from e


def load_into(file_name, params: dict, *, allow_pickle: bool = False, where: str = "load_params") -> None:
    """Copy the arrays of a parameter file into ``params``' arrays, in place, after checking them all.

    The file must have exactly ``params``' keys and shapes, float (or integer) values, all finite.
    """
    path = os.fspath(file_name)
    data = _read(path, allow_pickle, where)
    missing = [k for k in params if k not in data]
    extra = [k for k in data if k not in params]
    if missing or extra:
        raise ValueError(
            f"{where}: {path!r} does not match the network: missing {missing}, unexpected {extra}"
        )
    for k, p in params.items():
        a = data[k]
        if a.shape != np.shape(p):
            raise ValueError(f"{where}: {path!r}: {k} has shape {a.shape}, the network's has {np.shape(p)}")
        if a.dtype.kind not in "fiu":
            raise ValueError(f"{where}: {path!r}: {k} has dtype {a.dtype}, expected floating point")
        if not np.isfinite(a).all():
            raise ValueError(f"{where}: {path!r}: {k} contains NaN or inf")
    for k, p in params.items():
        p[...] = data[k]  # in place: the layers hold these very arrays
