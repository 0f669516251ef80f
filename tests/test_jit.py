"""Compilation: on-disk cache, signature count, and kernels running as plain Python."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STEP = """
import json, numpy as np, numba
from fastbp.nets import TwoLayerNet
from fastbp.kernels import activations, affine, checks, mlp, softmax_ce
for dtype in (np.float64, np.float32):
    np.random.seed(0)
    net = TwoLayerNet(20, 8, 3, dtype=dtype)
    for n in (3, 40):  # the compiled small-batch path and the layered BLAS path
        x, t = np.random.rand(n, 20).astype(np.float32), (np.arange(n) % 3).astype(np.uint8)
        for _ in range(2):
            net.gradient(x, t)
kernels = {m.__name__ + "." + k: getattr(m, k) for m in (activations, affine, checks, mlp, softmax_ce)
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
    for name, (n_sigs, _, _) in used.items():
        assert n_sigs <= 2, f"{name} compiled {n_sigs} times for two dtypes"
    assert "fastbp.kernels.mlp.mlp_step" in used
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
