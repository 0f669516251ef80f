"""The CSR path for mostly-zero inputs (kernels/sparse_input.py): kernels against their dense twins,
the Affine layer's choice of path, and gradients through networks that take it."""

import numpy as np
import pytest
from conftest import DTYPES, TOL, numgrad, rel_err
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import layers as L
from fastbp.kernels import simd
from fastbp.kernels import sparse_input as S
from fastbp.nets import MultiLayerNet, TwoLayerNet
from fastbp.reference import kernels as ref


def sparse(rng, shape, density, dtype):
    """MNIST-like: values in (0, 1] on a random `density` of the entries, zeros elsewhere."""
    x = rng.random(shape)
    x[rng.random(shape) >= density] = 0
    return x.astype(dtype)


def csr(x, limit=1.0, kernel=None):
    idx = np.full(x.size, -1, np.int32)
    val = np.full(x.size, np.nan, x.dtype)
    ptr = np.full(x.shape[0] + 1, -1, np.int64)
    return (kernel or S.compact_rows)(x, idx, val, ptr, limit), idx, val, ptr


# Both listings: the vector one runs wherever LLVM has the compress intrinsic (expanded lane by
# lane without AVX-512), so its results are checked on any machine.
COMPACT = [
    S.compact_rows_scalar,
    pytest.param(
        S.compact_rows_vector,
        marks=pytest.mark.skipif(not simd.AVAILABLE, reason="LLVM < 19 or NUMBA_DISABLE_JIT"),
    ),
]


@pytest.mark.parametrize("kernel", COMPACT, ids=["scalar", "vector"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 9), (3, 8), (8, 13), (2, 16), (3, 17), (5, 33), (9, 784), (100, 784)]
)
@pytest.mark.parametrize("density", [0.0, 0.19, 1.0])
def test_compact_rows_lists_the_nonzeros_in_order(rng, shape, density, dtype, kernel):
    x = sparse(rng, shape, density, dtype)
    x[0, 0] = -0.0  # a negative zero is a zero
    n, idx, val, ptr = csr(x, kernel=kernel)
    cols, vals, want_ptr = ref.compact_rows(x)
    assert n == len(cols) == ptr[-1]
    assert_array_equal(ptr, want_ptr)
    assert_array_equal(idx[:n], cols)
    assert_array_equal(val[:n], vals)


@pytest.mark.parametrize("kernel", COMPACT, ids=["scalar", "vector"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0), (2, 15), (2, 16), (4, 39)])  # in a block, in the tail
def test_compact_rows_reports_nan_and_inf(rng, dtype, bad, where, kernel):
    x = sparse(rng, (5, 40), 0.3, dtype)
    assert csr(x, kernel=kernel)[0] == np.count_nonzero(x)
    x[where] = bad
    assert csr(x, kernel=kernel)[0] == -2


@pytest.mark.parametrize("kernel", COMPACT, ids=["scalar", "vector"])
def test_compact_rows_gives_up_on_a_dense_batch(rng, kernel):
    x = sparse(rng, (20, 50), 0.5, np.float64)
    assert csr(x, limit=0.3, kernel=kernel)[0] == -1
    assert csr(x, limit=0.7, kernel=kernel)[0] == np.count_nonzero(x)
    x[:8] = 0  # only the first 8 rows are probed
    assert csr(x, limit=0.3, kernel=kernel)[0] == np.count_nonzero(x)


def test_compact_rows_is_the_vector_form_where_the_compress_is_native():
    assert (S.compact_rows is S.compact_rows_vector) == simd.NATIVE


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("width", S.WIDTHS)
@pytest.mark.parametrize(
    "n, d, density", [(1, 784, 0.19), (9, 784, 0.19), (100, 784, 0.19), (7, 13, 0.5), (4, 6, 0.0)]
)
@pytest.mark.parametrize("relu", [False, True])
def test_csr_products_match_the_dense_twins(rng, n, d, density, width, relu, dtype):
    x = sparse(rng, (n, d), density, dtype)
    W = rng.standard_normal((d, width)).astype(dtype)
    b = rng.standard_normal(width).astype(dtype)
    dout = rng.standard_normal((n, width)).astype(dtype)
    _, idx, val, ptr = csr(x)
    out = np.full((n, width), np.nan, dtype)
    S.csr_affine_forward(idx, val, ptr, W, b, out, relu)
    tol = TOL[dtype] * 10  # sums of up to 784 products in another order
    assert out.dtype == dtype
    assert_allclose(out, ref.csr_affine_forward(x, W, b, relu), rtol=tol, atol=tol)
    dW = np.full((d, width), np.nan, dtype)
    S.csr_weight_grad(idx, val, ptr, dout, dW)
    assert_allclose(dW, ref.csr_weight_grad(x, dout), rtol=tol, atol=tol)


def test_csr_kernels_refuse_other_widths_and_keep_nan(rng):
    x = sparse(rng, (3, 10), 0.5, np.float64)
    _, idx, val, ptr = csr(x)
    with pytest.raises(ValueError, match="not one of WIDTHS"):
        S.csr_affine_forward(idx, val, ptr, np.ones((10, 7)), np.ones(7), np.empty((3, 7)), False)
    with pytest.raises(ValueError, match="not one of WIDTHS"):
        S.csr_weight_grad(idx, val, ptr, np.ones((3, 7)), np.empty((10, 7)))
    W = rng.standard_normal((10, 50))
    W[int(np.flatnonzero(x[0])[0]), 3] = np.nan  # a NaN weight that a nonzero input meets
    out = np.empty((3, 50))
    S.csr_affine_forward(idx, val, ptr, W, np.zeros(50), out, True)
    assert np.isnan(out[0, 3])  # ReLU keeps NaN, as the Relu layer


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("density", [0.19, 0.9])
def test_affine_takes_the_csr_path_only_when_it_pays(rng, density, dtype):
    x = sparse(rng, (16, 784), density, dtype)
    W, b = rng.standard_normal((784, 50)).astype(dtype), rng.standard_normal(50).astype(dtype)
    dense, fast = L.Affine(W, b), L.Affine(W, b)
    fast.sparse_input = True
    dout = rng.standard_normal((16, 50)).astype(dtype)
    tol = TOL[dtype] * 10
    assert_allclose(fast._forward(x), dense._forward(x), rtol=tol, atol=tol)
    assert (fast._csr is not None) == (density < 0.2)
    fast._backward(dout.copy(), need_dx=False)
    dense._backward(dout.copy(), need_dx=False)
    assert_allclose(fast.dW, dense.dW, rtol=tol, atol=tol)
    W *= 2  # in place, as an optimizer: the next forward reads the live array
    assert_allclose(fast._forward(x), dense._forward(x), rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "make", [lambda: TwoLayerNet(30, 50, 4, weight_init_std=0.3), lambda: MultiLayerNet(30, [100, 100], 4)]
)
def test_gradients_through_the_csr_path_are_the_numerical_ones(rng, make):
    np.random.seed(3)
    net = make()
    x = sparse(rng, (12, 30), 0.15, np.float64)
    t = rng.integers(0, 4, 12)
    grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    first = net.layers["Affine1"]
    assert first._csr is not None  # the path under test was taken
    for key, p in net.params.items():
        num = numgrad(lambda _: net.loss(x, t), p)
        assert rel_err(grads[key], num) < 1e-6, key


def test_csr_and_blas_paths_train_alike():
    rng = np.random.default_rng(5)
    x = sparse(rng, (200, 784), 0.19, np.float32)
    t = rng.integers(0, 10, 200)
    nets = []
    for sparse_first in (True, False):
        np.random.seed(0)
        net = TwoLayerNet(784, 50, 10)
        net.layers["Affine1"].sparse_input = sparse_first
        nets.append(net)
    for step in range(30):
        idx = np.arange(step * 37, step * 37 + 100) % 200
        for net in nets:
            g = net.gradient(x[idx], t[idx])
            for k in net.params:
                net.params[k] -= 0.1 * g[k]
    assert nets[0].layers["Affine1"]._csr is not None and nets[1].layers["Affine1"]._csr is None
    for k in nets[0].params:
        assert_allclose(nets[0].params[k], nets[1].params[k], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("density", [0.15, 0.9])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_the_input_check_through_the_nonzero_list_still_names_nan_and_inf(rng, density, bad):
    # for a sparse batch the network's NaN/inf check is the listing pass itself; a dense one falls back
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    x = sparse(rng, (16, 784), density, np.float64)
    t = rng.integers(0, 10, 16)
    before = {k: v.copy() for k, v in net.params.items()}
    grads = {k: v.copy() for k, v in net.gradient(x, t).items()}
    x[11, 300] = bad
    for entry in (net.gradient, net.loss, net.accuracy):
        with pytest.raises(ValueError, match=r"x contains NaN or inf \(first at index \(11, 300\)\)"):
            entry(x, t)
    x[11, 300] = 0.5
    for k, g in net.gradient(x, t).items():  # nothing was left half-done
        assert np.isfinite(g).all() and net.params[k].shape == before[k].shape
    assert net.layers["Affine1"]._csr is not None or density > 0.5
    assert set(grads) == set(before)


@pytest.mark.parametrize("x_dtype", DTYPES)
def test_first_layer_rebound_to_another_precision(rng, x_dtype):
    """A float64 network whose W1, b1 the user made float32: the listing (in x's dtype) and the
    float64 gradient coming back do not match W1's dtype; the layer takes BLAS or converts."""
    x = sparse(rng, (10, 784), 0.15, x_dtype)
    t = rng.integers(0, 10, 10)
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    want = net.gradient(x.astype(np.float64), t)
    net.params["W1"] = net.params["W1"].astype(np.float32)
    net.params["b1"] = net.params["b1"].astype(np.float32)
    net._relink()
    got = net.gradient(x, t)
    assert got["W1"].dtype == np.float32 and got["W2"].dtype == np.float64
    for k in want:
        assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-6)


def test_sparse_path_runs_without_the_jit():
    """NUMBA_DISABLE_JIT=1 runs every kernel as Python: the row updates and the vector listing,
    which are LLVM intrinsics when compiled, have plain-Python stand-ins."""
    code = """
import numpy as np
from fastbp.kernels import sparse_input as S
from fastbp.layers import Affine
from fastbp.nets import TwoLayerNet
r = np.random.default_rng(0)
x = r.random((9, 784)); x[r.random(x.shape) > 0.15] = 0
t = r.integers(0, 10, 9)
idx, val, ptr = np.empty(x.size, np.int32), np.empty(x.size), np.empty(10, np.int64)
assert S.compact_rows_vector(x, idx, val, ptr, 1.0) == S.compact_rows_scalar(x, idx, val, ptr, 1.0)
grads = []
for limit in (1.0, 0.0):  # the CSR path, then BLAS
    Affine.CSR_MAX_DENSITY = {k: limit for k in Affine.CSR_MAX_DENSITY}
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10)
    grads.append(net.gradient(x, t))
    assert (net.layers["Affine1"]._csr is not None) == (limit > 0)
for k in grads[0]:
    np.testing.assert_allclose(grads[0][k], grads[1][k], rtol=1e-12, atol=1e-14)
print("ok")
"""
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout[-2000:] + out.stderr[-2000:]
