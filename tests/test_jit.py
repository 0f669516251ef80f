"""Compilation: on-disk cache, signature count, and kernels running as plain Python."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numba
import pytest

ROOT = Path(__file__).resolve().parents[1]

STEP = """
import json, numpy as np, numba
from fastbp.nets import TwoLayerNet
from fastbp.kernels import activations, affine, blas, checks, mlp, mlp_blas, softmax_ce
for dtype in (np.float64, np.float32):
    np.random.seed(0)
    net = TwoLayerNet(20, 8, 3, dtype=dtype)
    for n in (3, 40, 130):  # the compiled loops, one compiled call through BLAS, the layers in BLAS
        x, t = np.random.rand(n, 20).astype(np.float32), (np.arange(n) % 3).astype(np.uint8)
        for _ in range(2):
            net.gradient(x, t)  # (float32 x: the book's MNIST arrays)
            net.gradient(x.astype(dtype), t)
modules = (activations, affine, blas, checks, mlp, mlp_blas, softmax_ce)
kernels = {m.__name__ + "." + k: getattr(m, k) for m in modules
           for k in dir(m) if isinstance(getattr(m, k), numba.core.registry.CPUDispatcher)}
stats = {name: [len(d.signatures), sum(d.stats.cache_hits.values()), sum(d.stats.cache_misses.values())]
         for name, d in kernels.items()}
print(json.dumps(stats))
"""


def run_step(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), FASTBP_CACHE="1")
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run(
        [sys.executable, "-c", STEP], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_kernels_are_cached_on_disk_and_compile_once_per_dtype(tmp_path):
    cold = run_step(tmp_path)
    used = {name: v for name, v in cold.items() if v[0] > 0}
    assert "fastbp.kernels.affine.bias_forward" in used and "fastbp.kernels.affine.relu_bias_backward" in used
    # The float32 batch into the float64 network is read unconverted by the small-batch loops: one
    # more signature for each of them (the checks of x are compiled for float32 anyway).
    reads_x = {f"fastbp.kernels.mlp.{k}" for k in ("dense_forward", "dense_backward", "mlp_forward")}
    reads_x |= {f"fastbp.kernels.mlp.{k}" for k in ("mlp_backward", "mlp_step", "_weight_grad")}
    # The one-call BLAS step lists a float32 batch as it is (one more signature of the listing, as in
    # the first layer).
    reads_x |= {f"fastbp.kernels.mlp_blas.{k}" for k in ("mlp_blas_step", "compact_rows")}
    for name, (n_sigs, _, _) in used.items():
        limit = 3 if name in reads_x else 2
        assert n_sigs <= limit, f"{name} compiled {n_sigs} times for two dtypes"
    assert "fastbp.kernels.mlp.mlp_step" in used and "fastbp.kernels.mlp_blas.mlp_blas_step" in used
    warm = run_step(tmp_path)
    loaded = {name: v for name, v in warm.items() if v[0] > 0}  # helpers inlined into callers load nothing
    assert "fastbp.kernels.affine.bias_forward" in loaded and "fastbp.kernels.mlp.mlp_step" in loaded
    for name, (n_sigs, hits, misses) in loaded.items():
        assert hits == n_sigs and not misses, f"{name}: {hits} cache hits, {misses} misses on the second run"


def test_kernels_run_as_plain_python():
    # NUMBA_DISABLE_JIT=1 runs every kernel as NumPy-on-scalars Python: for debugging and coverage,
    # and a check that the kernels rely on nothing Numba-only.
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_kernels.py"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


# -- where the kernel cache goes, and what happens when it cannot --------------------------------

PROBE = """
import numpy as np
from fastbp import _jit
from fastbp.kernels import affine
x = np.ones((2, 3)); b = np.ones(3)
affine.bias_forward(x, b)  # compiles (or loads) and runs
c = affine.bias_forward._cache
print(type(c).__name__, getattr(c, "_cache_path", ""))
"""

posix_only = pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG_CACHE_HOME is Linux's")


def probe(tmp_path, **env_vars):
    """(returncode, cache class name, cache path, stderr) of a fresh process with ``env_vars`` set
    (None removes a variable); HOME and XDG_CACHE_HOME point into ``tmp_path`` unless given."""
    env = dict(os.environ, HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    for var in ("NUMBA_CACHE_DIR", "NUMBA_DISABLE_JIT", "FASTBP_CACHE", "NUMBA_CACHE_LOCATOR_CLASSES"):
        env.pop(var, None)
    for k, v in env_vars.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True)
    words = out.stdout.split() + ["", ""]
    return out.returncode, words[0], words[1], out.stderr


@pytest.mark.parametrize("value", ["0", "no", "False", "OFF", " off "])
def test_fastbp_cache_off_values(tmp_path, value):
    # issue 11.20: only "0" turned caching off
    code, kind, _, err = probe(tmp_path, FASTBP_CACHE=value)
    assert code == 0, err
    assert kind == "NullCache"


@pytest.mark.parametrize("value", ["1", "yes", "TRUE", "on"])
def test_fastbp_cache_on_values(tmp_path, value):
    code, kind, _, err = probe(tmp_path, FASTBP_CACHE=value, NUMBA_CACHE_DIR=str(tmp_path / "nc"))
    assert code == 0, err
    assert kind == "FunctionCache"


def test_an_unrecognised_fastbp_cache_value_is_refused_naming_the_variable(tmp_path):
    code, _, _, err = probe(tmp_path, FASTBP_CACHE="sometimes")
    assert code != 0 and "FASTBP_CACHE must be one of 0/no/false/off" in err and "'sometimes'" in err


@posix_only
def test_kernels_are_cached_in_the_user_cache_folder_not_the_package(tmp_path):
    # issue 13: without NUMBA_CACHE_DIR, numba wrote into the package's __pycache__ (site-packages)
    code, kind, path, err = probe(tmp_path)
    assert code == 0, err
    assert kind == "FunctionCache"
    folder = tmp_path / "xdg" / "fastbp" / "numba"
    assert Path(path).is_relative_to(folder)
    assert list(folder.rglob("affine.bias_forward-*.nbi"))  # the index was written there
    # the setting is fastbp's only: numba's own config is left as the environment says
    code = "import numba, fastbp.kernels.affine; print(repr(numba.config.CACHE_DIR))"
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "''", out.stderr


@posix_only
def test_an_unwritable_user_cache_folder_means_no_cache(tmp_path):
    (tmp_path / "file").write_bytes(b"")  # a folder below a regular file cannot be made, even by root
    code, kind, _, err = probe(tmp_path, XDG_CACHE_HOME=str(tmp_path / "file" / "cache"))
    assert code == 0, err
    assert kind == "NullCache"


@pytest.mark.skipif(not hasattr(numba.config, "CACHE_LOCATOR_CLASSES"), reason="numba < 0.61")
def test_no_writable_numba_cache_dir_means_no_cache_not_a_failed_import(tmp_path):
    # NUMBA_CACHE_DIR unwritable and no other place numba may use: numba raises RuntimeError at
    # decoration ("no locator available"); _jit compiles those kernels without a cache instead.
    (tmp_path / "file").write_bytes(b"")
    code, kind, _, err = probe(
        tmp_path,
        NUMBA_CACHE_DIR=str(tmp_path / "file" / "cache"),
        NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator",  # not the package's __pycache__
    )
    assert code == 0, err
    assert kind == "NullCache"


SOFTMAX = """
import numpy as np
from fastbp.kernels import softmax_ce
f = softmax_ce.softmax_ce_forward
f(np.zeros((2, 3)), np.zeros(2, np.int64), np.empty((2, 3)))
print(sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values()))
"""


def test_a_kernel_compiles_again_when_a_module_it_calls_changes(tmp_path):
    """Numba checks a cached kernel against its own file only: softmax_ce_forward, whose label check
    lives in kernels/checks.py, was loaded as compiled before that check existed (and wrote past the
    scores). The cache folder is named by a digest of every kernel source, so it compiles again."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "fastbp", src / "fastbp", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"), PYTHONPATH=str(src))
    for var in ("NUMBA_CACHE_DIR", "NUMBA_DISABLE_JIT", "FASTBP_CACHE"):
        env.pop(var, None)

    def hits_and_misses():
        out = subprocess.run(
            [sys.executable, "-c", SOFTMAX], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
        )
        return out.stdout.split()

    assert hits_and_misses() == ["0", "1"]
    assert hits_and_misses() == ["1", "0"]
    checks = src / "fastbp" / "kernels" / "checks.py"
    checks.write_text(checks.read_text() + "\n# (a change in a module the kernel calls)\n")
    assert hits_and_misses() == ["0", "1"]
    assert len(list((tmp_path / "xdg" / "fastbp" / "numba").glob("src-*"))) == 2


@posix_only
def test_kernels_compiled_with_index_checks_have_a_folder_of_their_own(tmp_path):
    """Numba's cache key leaves out NUMBA_BOUNDSCHECK: checked kernels must not be loaded unchecked
    (nor the other way round)."""
    plain, checked = probe(tmp_path, NUMBA_BOUNDSCHECK=None), probe(tmp_path, NUMBA_BOUNDSCHECK="1")
    assert plain[0] == checked[0] == 0, plain[3] + checked[3]
    assert Path(plain[2]).parent.name.startswith("src-") and Path(checked[2]).parent.name.startswith("src-")
    assert Path(plain[2]).parent != Path(checked[2]).parent
