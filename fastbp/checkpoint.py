"""Parameter files: ``.npz`` archives written atomically, read without trusting their contents.

The book saves ``params`` with ``pickle``, and unpickling a file can run arbitrary code. fastbp writes
NumPy's ``.npz`` (whatever the file name says, so the book's ``save_params("params.pkl")`` calls keep
working) and reads it with ``allow_pickle=False``, checking every member's name and ``.npy`` header
against the network before reading any data. The book's own pickles (a plain dict of arrays:
``params.pkl``, ``deep_convnet_params.pkl``, ``sample_weight.pkl``) are read by a weights-only
unpickler (:func:`read_pickle`) that builds nothing but containers, numbers, strings, NumPy arrays and
dtypes and refuses any other global before it is called; ``allow_pickle=True`` unpickles anything,
for files you trust.
"""

from __future__ import annotations

import collections
import json
import os
import pickle
import re
import secrets
import time
import zipfile
from collections.abc import Collection, Mapping

import numpy as np

__all__ = ["save", "load_into", "read_pickle"]

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"  # protocol 2+ opcode PROTO

# -- writing --------------------------------------------------------------------------------------

# A save writes ".<name>.<pid>-<hex>.fastbp-tmp" beside its destination, then renames it onto the
# destination. The name ties a temporary file to its destination and to the process writing it, so
# a later save can tell the leftovers of a killed save (its process is gone) from a save under way.
_TMP_SUFFIX = ".fastbp-tmp"
_STALE_SECONDS = 600.0  # where we cannot ask whether a process lives (Windows): an untouched leftover


def _tmp_name(name: str, suffix: str = _TMP_SUFFIX) -> str:
    """A fresh temporary name for destination ``name``: hidden, with our process id and a random part."""
    return f".{name}.{os.getpid()}-{secrets.token_hex(6)}{suffix}"


def _tmp_pattern(name: str, suffix: str) -> re.Pattern:
    return re.compile(re.escape(f".{name}.") + r"(\d+)-[0-9a-f]{12}" + re.escape(suffix))


def _is_stale(path: str, pid: int) -> bool:
    """Whether the temporary file ``path``, written by process ``pid``, was left by a save that died."""
    if pid == os.getpid():
        return False  # another thread of ours may be saving right now
    if os.name == "posix":
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return True
        except (OSError, OverflowError, ValueError):  # someone else's process, or no valid id: keep
            return False
        return False
    try:
        return time.time() - os.stat(path).st_mtime > _STALE_SECONDS
    except OSError:
        return False


def _remove_stale_temporaries(folder: str, name: str, suffix: str = _TMP_SUFFIX) -> None:
    """Remove the temporary files (:func:`_tmp_name`) of destination ``name`` in ``folder`` whose
    writing process is gone (killed mid-write): only ours, and never one still being written."""
    pattern = _tmp_pattern(name, suffix)
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        m = pattern.fullmatch(entry)
        if m and _is_stale(os.path.join(folder, entry), int(m.group(1))):
            try:
                os.unlink(os.path.join(folder, entry))
            except OSError:
                pass  # gone already, or not ours to remove: it does not stop this save


def _fsync_folder(folder: str) -> None:
    """Make the rename durable (POSIX): the folder's entry reaches the disk, not just the data."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: The archive member holding a network's description (JSON, as uint8 bytes); never a parameter key.
DESCRIPTION_KEY = "__network__"


def save(file_name, params: Mapping, description: Mapping | None = None) -> None:
    """Write ``{key: array}`` to ``file_name`` as .npz; a crash leaves the old file or none, never half.

    ``description``: a JSON-serialisable dict saved beside the arrays (a network's class and
    constructor arguments, see :func:`read_description`).

    The data goes to a temporary file beside the destination, is flushed to disk, then renamed over
    it. Through a symbolic link the link's target is written (the link stays). An existing file keeps
    its permission bits; a new one gets ``0o666 & ~umask``. Temporary files left by earlier saves of
    the same destination that were killed are removed. Raises ValueError naming a key whose value is
    not a numeric array, before any file is touched.
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"save: params must be a dict of arrays, got {type(params).__name__}")
    arrays = {}
    for k, v in params.items():
        a = np.asarray(v)
        if not isinstance(k, str) or a.dtype.kind not in "fiub":
            raise ValueError(f"save: params[{k!r}] must be a numeric array under a str key, got {a.dtype}")
        arrays[k] = a
    if DESCRIPTION_KEY in arrays:
        raise ValueError(f"save: {DESCRIPTION_KEY!r} is reserved for the network's description")
    if description is not None:
        text = json.dumps(dict(description))  # (TypeError for what JSON cannot hold)
        arrays[DESCRIPTION_KEY] = np.frombuffer(text.encode("utf-8"), np.uint8)
    target = os.path.realpath(os.fspath(file_name))  # through symlinks: replace the target, not the link
    folder, name = os.path.split(target)
    _remove_stale_temporaries(folder, name)
    try:
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mode = None  # new file: os.open's 0o666 minus the umask
    tmp = os.path.join(folder, _tmp_name(name))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None and not hasattr(os, "fchmod"):
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


# -- the weights-only unpickler -------------------------------------------------------------------


def _latin1_encode(obj, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` as protocol-2 pickles of bytes use it: ``encode(str, "latin1")``, no other."""
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return obj.encode("latin1", errors)


def _numpy_globals() -> dict:
    # Take numpy's reconstructors from the objects themselves: the module path is numpy.core (1.x) or
    # numpy._core (2.x), and importing numpy.core on 2.x warns.
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    scalar = np.float64(0).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]  # protocol 5's out-of-band form
    out = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for pkg in ("numpy.core", "numpy._core"):
        out[pkg + ".multiarray", "_reconstruct"] = reconstruct
        out[pkg + ".multiarray", "scalar"] = scalar
        out[pkg + ".numeric", "_frombuffer"] = frombuffer
    return out


_WEIGHTS_GLOBALS = {
    **_numpy_globals(),
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("_codecs", "encode"): _latin1_encode,
}


class UnsafePickleError(pickle.UnpicklingError):
    """A weights-only load met a global it does not admit (``.name`` is ``module.qualname``)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class _WeightsUnpickler(pickle.Unpickler):
    """Admits dicts, OrderedDicts, lists, tuples, numbers, strings, NumPy arrays and dtypes only."""

    def find_class(self, module, name):
        # Called when the pickle names a global, before anything is called with it.
        obj = _WEIGHTS_GLOBALS.get((module, name))
        if obj is None:
            raise UnsafePickleError(f"{module}.{name}")
        return obj


def read_pickle(file_name, *, allow_pickle: bool = False, where: str = "read_pickle"):
    """The object in the pickle ``file_name``, unpickled weights-only unless ``allow_pickle``.

    Weights-only admits dicts, OrderedDicts, lists, tuples, numbers, strings, NumPy arrays and dtypes:
    what the book's ``params.pkl``, ``deep_convnet_params.pkl`` and ``sample_weight.pkl`` hold. Any
    other global (``os.system``, ``builtins.eval``, ``numpy.load``, a class of yours) raises ValueError
    naming it, before it is called. ``allow_pickle=True`` unpickles anything: only for files you trust.
    """
    path = os.fspath(file_name)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no such file {path!r}") from None
    with f:
        if allow_pickle:
            return pickle.load(f)
        try:
            return _WeightsUnpickler(f).load()
        except UnsafePickleError as e:
            raise ValueError(
                f"{where}: {path!r} is a pickle that refers to {e.name}, which a weights-only load refuses "
                "(it admits only dicts, lists, tuples, numbers, strings, NumPy arrays and dtypes). If "
                "you trust the file, pass allow_pickle=True"
            ) from None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError) as e:
            raise ValueError(f"{where}: {path!r} is not a readable pickle ({type(e).__name__}: {e})") from e


# -- reading --------------------------------------------------------------------------------------


def read_description(file_name, where: str = "read_description") -> dict | None:
    """The network description saved with the parameters in ``file_name`` (an .npz written by
    ``save_params``), or None when it has none (older files, the book's pickles, user-built networks)."""
    path = os.fspath(file_name)
    try:
        with open(path, "rb") as f:
            if f.read(4) != _ZIP_MAGIC:
                return None
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                try:
                    info = zf.getinfo(DESCRIPTION_KEY + ".npy")
                except KeyError:
                    return None
                if info.file_size > 1 << 20:
                    raise ValueError(f"member {info.filename!r} is too large for a description")
                with zf.open(info) as m:
                    raw = np.lib.format.read_array(m, allow_pickle=False)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError("the description is not a byte string")
        desc = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(desc, dict):
            raise ValueError("the description is not a JSON object")
        return desc
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no parameter file {path!r}") from None
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"{where}: {path!r} is corrupt or truncated ({e})") from e
    except ValueError as e:
        raise ValueError(f"{where}: {path!r}: cannot read the network's description ({e})") from e


def _read_npy_header(m, version):
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(m)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(m)
    raise ValueError(f"unsupported .npy format version {version}")


def _read_npz(path: str, params: Mapping, where: str) -> dict:
    """The arrays of the archive at ``path``, after checking every member's name, then every member's
    .npy header (shape, dtype) against ``params``; only then is any array data read, and only as
    much as the header says."""
    try:
        with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
            infos = zf.infolist()
            members = {}
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"{where}: {path!r}: member {info.filename!r} is not an .npy array")
                key = info.filename[: -len(".npy")]
                if key == DESCRIPTION_KEY:  # read by read_description, not a parameter
                    continue
                if key in members:
                    raise ValueError(f"{where}: {path!r}: member {info.filename!r} appears twice")
                members[key] = info
            _match_keys(members, params, path, where)
            for key, info in members.items():
                with zf.open(info) as m:
                    try:
                        shape, _, dtype = _read_npy_header(m, np.lib.format.read_magic(m))
                    except ValueError as e:
                        raise ValueError(
                            f"{where}: {path!r}: member {info.filename!r}: bad .npy header ({e})"
                        ) from e
                _check_header(key, shape, dtype, params[key], path, where)
            data = {}
            for key, info in members.items():
                with zf.open(info) as m:
                    data[key] = np.lib.format.read_array(m, allow_pickle=False)
                    if m.read(1):  # also reads to the end, so zipfile checks the member's CRC
                        raise ValueError(f"member {info.filename!r} has bytes after its array")
            return data
    except ValueError as e:
        if str(e).startswith(f"{where}:"):
            raise
        raise ValueError(f"{where}: {path!r} is corrupt or truncated ({e})") from e
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"{where}: {path!r} is corrupt or truncated ({e})") from e


def _match_keys(data: Collection, params: Mapping, path: str, where: str) -> None:
    missing = [k for k in params if k not in data]
    extra = [k for k in data if k not in params]
    if missing or extra:
        raise ValueError(
            f"{where}: {path!r} does not match the network: missing {missing}, unexpected {extra}"
        )


def _check_header(key: str, shape, dtype: np.dtype, p, path: str, where: str) -> None:
    if tuple(shape) != np.shape(p):
        raise ValueError(
            f"{where}: {path!r}: {key} has shape {tuple(shape)}, the network's has {np.shape(p)}"
        )
    if dtype.hasobject or dtype.kind not in "fiu":
        raise ValueError(f"{where}: {path!r}: {key} has dtype {dtype}, expected floating point")


def _converted(key: str, a: np.ndarray, p: np.ndarray, path: str, where: str) -> np.ndarray:
    """``a`` in ``p``'s dtype, or ValueError if a value is NaN, inf, or out of that dtype's range."""
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: {path!r}: {key} contains NaN or inf")
    if p.dtype.kind == "f":
        with np.errstate(over="ignore"):  # checked just below: float64 1e300 -> float32 inf
            c = a.astype(p.dtype)
        if not np.isfinite(c).all():
            raise ValueError(
                f"{where}: {path!r}: {key} has values beyond the range of {p.dtype} "
                f"(largest magnitude {np.abs(a).max():g})"
            )
        return c
    info = np.iinfo(p.dtype)  # an integer target: integral values in range only
    if a.size and (a.min() < info.min or a.max() > info.max or (a.dtype.kind == "f" and (a % 1).any())):
        raise ValueError(f"{where}: {path!r}: {key} has values that are not {p.dtype} integers")
    return a.astype(p.dtype)


def load_into(
    file_name,
    params: Mapping,
    *,
    allow_pickle: bool = False,
    nonnegative: Collection[str] = (),
    where: str = "load_params",
) -> None:
    """Copy the arrays of a parameter file into ``params``' arrays, in place, after checking them all.

    The file must have exactly ``params``' keys and shapes, float (or integer) values, all finite once
    converted to each target's dtype, and no negative value under the keys in ``nonnegative`` (e.g.
    BatchNormalization's ``running_var``). An .npz archive's member names and .npy headers are checked
    before any data is read. A pickle (the book's format) is read weights-only (:func:`read_pickle`)
    unless ``allow_pickle=True``. Raises ValueError naming the key or member; on any error nothing in
    ``params`` has changed.
    """
    path = os.fspath(file_name)
    if not isinstance(params, Mapping):
        raise TypeError(f"{where}: params must be a dict of arrays, got {type(params).__name__}")
    for k, p in params.items():
        if not isinstance(p, np.ndarray) or not p.flags.writeable or p.dtype.kind not in "fiu":
            raise TypeError(
                f"{where}: params[{k!r}] must be a writeable numeric array, got {type(p).__name__}"
            )
    if isinstance(nonnegative, str) or not all(isinstance(k, str) for k in nonnegative):
        raise TypeError(f"{where}: nonnegative must be a collection of key names, got {nonnegative!r}")
    unknown = [k for k in nonnegative if k not in params]
    if unknown:
        raise ValueError(f"{where}: nonnegative names {unknown}, which are not keys of params")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no parameter file {path!r}") from None
    if head.startswith(_PICKLE_MAGIC) and not head.startswith(_ZIP_MAGIC):
        data = read_pickle(path, allow_pickle=allow_pickle, where=where)
        if not isinstance(data, dict):
            raise ValueError(f"{where}: {path!r} holds a {type(data).__name__}, not a dict of parameters")
        _match_keys(data, params, path, where)
        data = {k: np.asarray(v) for k, v in data.items()}
        for k, a in data.items():
            _check_header(k, a.shape, a.dtype, params[k], path, where)
    elif head == _ZIP_MAGIC:
        data = _read_npz(path, params, where)
    else:
        raise ValueError(f"{where}: {path!r} is not a parameter file written by save_params (.npz)")
    converted = {k: _converted(k, data[k], p, path, where) for k, p in params.items()}
    for k in nonnegative:
        if converted[k].size and converted[k].min() < 0:
            raise ValueError(
                f"{where}: {path!r}: {k} has a negative value ({converted[k].min():g}); it must be >= 0"
            )
    for k, p in params.items():
        p[...] = converted[k]  # in place: the layers hold these very arrays
