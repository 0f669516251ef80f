"""Break-even thresholds measured where they run: ``fastbp warmup`` measures them, this module stores
and loads them.

Three thresholds of :mod:`fastbp.config` choose between two correct paths whose costs depend on the
CPU, its caches and BLAS: ``SMALL_BATCH`` (compiled loops or BLAS for a small-batch MLP step),
``CSR_MAX_DENSITY`` (list of nonzeros or BLAS for the first layer) and ``TANH_NUMPY_BELOW`` (NumPy's
tanh or the kernel). :func:`measure` times both paths of each around its break-even and picks the
value with pure functions of the timings (``choose_*``); :func:`save` writes them to
``fastbp-tuning.json`` in the kernel cache's root folder, above the kernels' ``src-*`` folders, so
that it outlives a new version of the kernels (:func:`path`).

At the first read of one of those thresholds, ``config`` asks :func:`measured`: the file is read once
and used only if it was measured on this CPU (the name and features Numba compiles for); values that
are missing, of the wrong type or out of range keep their defaults, and a damaged file is ignored.
``FASTBP_TUNING=0`` ignores the file; ``FASTBP_CACHE=0`` means no file (nothing stored or read).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import config

__all__ = ["measure", "save", "path", "measured", "load", "forget", "cpu", "Result", "Timing", "Loaded",
           "choose_small_batch", "choose_csr_limit", "choose_tanh_numpy_below"]  # fmt: skip

FORMAT = 1
FILENAME = "fastbp-tuning.json"
UNITS = {
    "SMALL_BATCH": "samples",
    "CSR_MAX_DENSITY": "fraction of nonzero inputs",
    "TANH_NUMPY_BELOW": "elements",
}
PATHS = {  # the two paths each threshold chooses between, in the order the timings give them
    "SMALL_BATCH": ("loops", "BLAS"),
    "CSR_MAX_DENSITY": ("list", "BLAS"),
    "TANH_NUMPY_BELOW": ("kernel", "NumPy"),
}
TIMED = {  # what the seconds stored and printed are, per call
    "SMALL_BATCH": "a training step, summed over TwoLayerNet and MultiLayerNet in both dtypes",
    "CSR_MAX_DENSITY": "the first layer's forward and backward, batch 100",
    "TANH_NUMPY_BELOW": "Tanh's forward, summed over both dtypes",
}
BATCHES = (1, 2, 3, 4, 6, 8, 12, 16)  # SMALL_BATCH candidates
DENSITIES = (0.05, 0.15, 0.25, 0.35, 0.45, 0.55)  # synthetic inputs, beside the MNIST batch
CSR_BATCH = 100  # the book's batch
TANH_SIZES = (256, 512, 1024, 2048, 4096, 8192, 16384)
TANH_NEVER = 2**31  # TANH_NUMPY_BELOW when the kernel lost at every size measured: NumPy always
ROUNDS = 15  # interleaved rounds per point; the median of them resists another job's bursts


class Timing(NamedTuple):
    """Median seconds per call of the two paths (``PATHS`` order) at one point: a batch, a density, a
    size (for several cases, their sum)."""

    at: float
    first: float
    second: float


class Result(NamedTuple):
    """One measured value: ``config.<name>`` (``key``: CSR_MAX_DENSITY's (dtype, width), else None)."""

    name: str
    key: tuple | None
    value: int | float
    timings: tuple  # every point measured, as Timing
    at: Timing  # the point the value was chosen at (or the nearest one measured)


class Loaded(NamedTuple):
    """The stored file as read: the values to use (validated), the file, and why it was (not) used."""

    values: dict
    file: Path | None
    why: str


# -- the decisions: pure functions of timings ------------------------------------------------------------
def _ratio(pairs: Sequence[tuple[float, float]]) -> float:
    """Geometric mean over cases of first/second: each case counts alike, however slow."""
    return float(np.exp(np.mean([np.log(a / b) for a, b in pairs])))


def choose_small_batch(times: Mapping[int, Sequence[tuple[float, float]]]) -> int:
    """The largest batch b such that the loops beat BLAS at every measured batch up to b (``times``:
    batch -> (loops, BLAS) seconds per case); 0 if they lose at the smallest."""
    best = 0
    for b in sorted(times):
        if _ratio(times[b]) >= 1:
            break  # (contiguous from 1: a win after a loss is noise or an artefact)
        best = b
    return best


def choose_tanh_numpy_below(times: Mapping[int, Sequence[tuple[float, float]]]) -> int:
    """The smallest size from which the kernel beats NumPy at every larger measured size (``times``:
    size -> (kernel, NumPy) seconds per case); ``TANH_NEVER`` if it loses at the largest."""
    best = TANH_NEVER
    for s in sorted(times, reverse=True):
        if _ratio(times[s]) >= 1:
            break
        best = s
    return best


def choose_csr_limit(times: Mapping[float, tuple[float, float]]) -> float | None:
    """0.9 times the density where list and BLAS cost the same (``times``: density -> (list, BLAS)
    seconds), within the densities measured; None when the list's relative cost does not grow with
    the density (no break-even to find: keep the default).

    The list's cost grows linearly with the nonzeros and BLAS's does not, so list / BLAS is a line in
    the density. The ratio, not the difference: each point's two paths were timed in the same rounds,
    so a slowdown from another job scales both and cancels, where it would tilt a difference. The fit
    is Theil-Sen (medians of pairwise slopes), which shrugs off a disturbed point. The limit sits below
    the crossing, as the defaults do: near it the paths tie, and a batch denser than the limit pays for
    a listing it abandons."""
    d = sorted(times)
    ratio = [times[x][0] / times[x][1] for x in d]
    slopes = [(ratio[j] - ratio[i]) / (d[j] - d[i]) for i in range(len(d)) for j in range(i + 1, len(d))
              if d[j] > d[i]]  # fmt: skip
    if not slopes or (slope := statistics.median(slopes)) <= 0:
        return None
    cross = (1 - statistics.median(r - slope * x for r, x in zip(ratio, d, strict=True))) / slope
    return round(min(max(0.9 * cross, 0.0), d[-1]), 2)


# -- the file --------------------------------------------------------------------------------------------
def cpu() -> dict:
    """The CPU Numba compiles for: its name and features (``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES``
    when set, as Numba itself; else the host's, from LLVM)."""
    import llvmlite.binding as llvm
    from numba import config as nc

    name = nc.CPU_NAME if nc.CPU_NAME not in (None, "host") else llvm.get_host_cpu_name()
    features = nc.CPU_FEATURES if nc.CPU_FEATURES is not None else llvm.get_host_cpu_features().flatten()
    return {"name": name, "features": ",".join(sorted(f for f in features.split(",") if f))}


def path(environ: Mapping[str, str] | None = None) -> Path | None:
    """``fastbp-tuning.json`` in the kernel cache's root (``NUMBA_CACHE_DIR``, else fastbp's per-user
    folder, as :mod:`fastbp._jit`); None when there is no kernel cache (``FASTBP_CACHE=0``, or no
    writable folder)."""
    from . import _jit

    env = os.environ if environ is None else environ
    cache = _jit._cache_flag(env.get("FASTBP_CACHE"))
    folder = (env.get("NUMBA_CACHE_DIR") or _jit._cache_dir(cache, env)) if cache else None
    return Path(folder) / FILENAME if folder else None


def _int_in(low: int, high: int):
    return lambda v: v if type(v) is int and low <= v <= high else None


def _limits(v) -> dict | None:
    """CSR_MAX_DENSITY's stored form, {"float32/50": 0.3, ...}, as {("float32", 50): 0.3}; entries
    that are not a float dtype, a positive width and a fraction are dropped."""
    if not isinstance(v, dict):
        return None
    out = {}
    for k, x in v.items():
        dtype, _, width = str(k).partition("/")
        if (dtype in ("float32", "float64") and width.isdigit() and int(width) > 0
                and type(x) in (int, float) and 0 <= x <= 1):  # fmt: skip
            out[dtype, int(width)] = float(x)
    return out or None


_VALID = {"SMALL_BATCH": _int_in(0, 1024), "TANH_NUMPY_BELOW": _int_in(0, TANH_NEVER),
          "CSR_MAX_DENSITY": _limits}  # fmt: skip


def read(file: os.PathLike, host: dict | None = None) -> Loaded:
    """The values stored in ``file`` if it was measured on ``host`` (default: this :func:`cpu`)."""
    file = Path(file)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Loaded({}, file, "not measured (fastbp warmup measures)")
    except (OSError, ValueError) as e:  # (UnicodeDecodeError and JSONDecodeError are ValueErrors)
        return Loaded({}, file, f"unreadable ({type(e).__name__}): defaults")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return Loaded({}, file, "another format: defaults")
    if data.get("cpu") != (cpu() if host is None else host):
        return Loaded({}, file, "measured on another CPU: defaults")
    stored = data.get("thresholds")
    stored = stored if isinstance(stored, dict) else {}
    values = {}
    for name, valid in _VALID.items():
        entry = stored.get(name)
        value = valid(entry.get("value")) if isinstance(entry, dict) else None
        if value is not None:
            values[name] = value
    return Loaded(values, file, "measured on this CPU")


_loaded: Loaded | None = None


def load() -> Loaded:
    """The stored values for this process (read once; see the module docstring)."""
    global _loaded
    if _loaded is None:
        if not config._flag("FASTBP_TUNING", default=True):
            _loaded = Loaded({}, None, "FASTBP_TUNING=0: defaults")
        else:
            file = path()
            _loaded = Loaded({}, None, "no kernel cache: defaults") if file is None else read(file)
    return _loaded


def measured(name: str):
    """The stored value of ``config.<name>``, or None (use the default)."""
    return load().values.get(name)


def forget() -> None:
    """Read the file again at the next :func:`load` (``config._reset`` calls this)."""
    global _loaded
    _loaded = None


def save(results: Sequence[Result], file: os.PathLike, seconds: float = 0.0) -> Path:
    """Write ``results`` to ``file`` with the CPU, versions and date; atomically (a temporary file in
    the same folder, then renamed over it), so a reader never sees half a file."""
    import platform

    import numba

    from . import __version__

    thresholds = {}
    for r in results:
        e = thresholds.setdefault(
            r.name, {"unit": UNITS[r.name], "paths": PATHS[r.name], "timed": TIMED[r.name]}
        )
        timings = [[t.at, t.first, t.second] for t in r.timings]
        if r.key is None:
            e.update(value=r.value, seconds=timings)
        else:
            key = "/".join(map(str, r.key))
            e.setdefault("value", {})[key] = r.value
            e.setdefault("seconds", {})[key] = timings
    data = {
        "format": FORMAT,
        "cpu": cpu(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": {
            "fastbp": __version__,
            "numba": numba.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },  # fmt: skip
        "measuring_seconds": round(seconds, 1),
        "thresholds": thresholds,
    }
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fastbp-tuning-", suffix=".tmp", dir=file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, file)
    except BaseException:
        os.unlink(tmp)
        raise
    forget()
    return file


def measure(seconds: float = 30.0, progress: Callable[[str], object] | None = None) -> list[Result]:
    """Measure every threshold in about ``seconds`` (:func:`fastbp.bench.thresholds.measure`)."""
    from .bench.thresholds import measure

    return measure(seconds, progress)
