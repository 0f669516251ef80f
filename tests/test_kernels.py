"""Every Numba kernel against its pure-NumPy twin in fastbp.reference.kernels.

float32 and float64, shapes including batch 1 and odd sizes; outputs keep the input dtype.
"""

import numpy as np
import pytest
from conftest import DTYPES, TOL
from numpy.testing import assert_allclose, assert_array_equal

from fastbp.kernels import activations, affine, checks, softmax_ce
from fastbp.reference import kernels as ref

SHAPES_2D = [(1, 1), (1, 7), (3, 5), (7, 3), (64, 10), (100, 50)]
SHAPES_ND = [(1,), (5,), (1, 1), (3, 5), (2, 3, 4), (2, 1, 5, 3)]


def close(got, want, dtype):
    assert got.dtype == dtype
    assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES_2D)
def test_bias_forward(rng, shape, dtype):
    y = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    want = ref.bias_forward(y, b)
    affine.bias_forward(y, b)
    close(y, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES_2D)
def test_bias_backward(rng, shape, dtype):
    dy = rng.standard_normal(shape).astype(dtype)
    db = np.full(shape[1], np.nan, dtype)  # the kernel must overwrite, not accumulate
    affine.bias_backward(dy, db)
    close(db, ref.bias_backward(dy), dtype)


def test_bias_backward_float64_is_bitwise_numpy(rng):
    dy = rng.standard_normal((100, 50))
    db = np.empty(50)
    affine.bias_backward(dy, db)
    assert_array_equal(db, dy.sum(axis=0))


def relu_bwd(dout, out, dx):
    dx[...] = dout
    activations.relu_backward(dx, out)  # in place


def sigmoid_fwd(x, out):
    out[...] = np.exp(-np.abs(x))  # what the layer computes with NumPy before the kernel
    activations.sigmoid_forward(x, out)


def tanh_fwd(x, out):  # the layer's kernel for each dtype
    (activations.tanh_forward_float32 if x.dtype == np.float32 else activations.tanh_forward)(x, out)


ELEMENTWISE = {
    "relu": (activations.relu_forward, relu_bwd, ref.relu_forward, ref.relu_backward, ()),
    "leaky_relu": (
        activations.leaky_relu_forward,
        activations.leaky_relu_backward,
        ref.leaky_relu_forward,
        ref.leaky_relu_backward,
        (0.1,),
    ),
    "sigmoid": (sigmoid_fwd, activations.sigmoid_backward, ref.sigmoid_forward, ref.sigmoid_backward, ()),
    "tanh": (tanh_fwd, activations.tanh_backward, ref.tanh_forward, ref.tanh_backward, ()),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES_ND)
@pytest.mark.parametrize("op", sorted(ELEMENTWISE))
def test_activation_kernels(rng, op, shape, dtype):
    fwd, bwd, ref_fwd, ref_bwd, args = ELEMENTWISE[op]
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    x.flat[0] = 0.0  # the kink
    dout = rng.standard_normal(shape).astype(dtype)
    out = np.empty_like(x)
    fwd(x, *args, out)
    close(out, ref_fwd(x, *args), dtype)
    dx = np.empty_like(x)
    bwd(dout, out, *args, dx)
    close(dx, ref_bwd(dout.copy(), ref_fwd(x, *args), *args), dtype)
    # in place (dx is dout) gives the same, only slower
    d2 = dout.copy()
    bwd(d2, out, *args, d2)
    close(d2, dx, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_kernel_over_the_whole_range(rng, dtype):
    tiny = np.finfo(dtype).tiny
    x = np.concatenate(
        [
            rng.standard_normal(2000),
            30 * rng.standard_normal(200),
            10.0 ** rng.uniform(np.log10(tiny), 2, 500),
            [
                0.0,
                -0.0,
                tiny / 4,
                -tiny / 4,
                0.5493,
                19.0,
                21.99,
                22.0,
                23.0,
                np.finfo(dtype).max,
                np.inf,
                np.nan,
            ],
        ]
    ).astype(dtype)
    x = np.concatenate([x, -x])
    out = np.empty_like(x)
    tanh_fwd(x, out)
    want = np.tanh(x.astype(np.float64))  # float32: against the exact value rounded once
    assert_array_equal(np.isnan(out), np.isnan(want))
    ok = ~np.isnan(want)
    assert_array_equal(np.signbit(out[ok]), np.signbit(want[ok]))  # tanh(-0) = -0
    ulp = np.spacing(np.abs(want[ok]).astype(dtype)).astype(np.float64)
    bound = 8 if dtype == np.float64 else 3  # float64: within 8 ulp of libm; float32: of the exact
    err = np.abs(out[ok] - want[ok])
    assert np.all(err <= bound * np.maximum(ulp, np.finfo(dtype).smallest_subnormal))


def test_float32_tanh_kernel_on_a_dense_grid():
    x = np.linspace(-10, 10, 400_001, dtype=np.float32)
    out = np.empty_like(x)
    activations.tanh_forward_float32(x, out)
    want = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(out - want) / np.maximum(ulp, 1e-45)) <= 3


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_extremes_are_finite_and_exact(dtype):
    x = np.array([-1e4, -800.0, -100.0, 0.0, 100.0, 800.0, 1e4], dtype)
    out = np.empty_like(x)
    sigmoid_fwd(x, out)
    assert np.isfinite(out).all()
    assert out[0] == 0.0 and out[-1] == 1.0 and out[3] == 0.5
    close(out, ref.sigmoid_forward(x), dtype)


def test_relu_propagates_nan_like_the_book():
    x = np.array([np.nan, -1.0, 2.0])
    out = np.empty_like(x)
    activations.relu_forward(x, out)
    assert np.isnan(out[0]) and out[1] == 0.0 and out[2] == 2.0


def labels_for(rng, n, c, dtype):
    return rng.integers(0, c, n).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, c", [(1, 1), (1, 2), (7, 3), (64, 10), (100, 10), (5, 1000)])
@pytest.mark.parametrize("label_dtype", [np.int64, np.uint8, np.int32])
def test_softmax_ce_index_labels(rng, n, c, dtype, label_dtype):
    if label_dtype is np.uint8 and c > 255:
        pytest.skip("uint8 labels hold at most 256 classes")
    x = (5 * rng.standard_normal((n, c))).astype(dtype)
    t = labels_for(rng, n, c, label_dtype)
    p = np.empty_like(x)
    loss = softmax_ce.softmax_ce_forward(x, t, p)
    want_loss, want_p = ref.softmax_ce_forward(x, t)
    close(p, want_p, dtype)
    assert loss == pytest.approx(want_loss, rel=TOL[dtype], abs=TOL[dtype])
    for dout in (1.0, 0.5):
        dx = np.empty_like(x)
        softmax_ce.softmax_ce_backward(dout, p, t, dx)
        close(dx, ref.softmax_ce_backward(dout, p, t), dtype)
    # in place: dx may be p
    softmax_ce.softmax_ce_backward(1.0, p, t, p)
    close(p, ref.softmax_ce_backward(1.0, want_p.astype(dtype), t), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, c", [(1, 2), (7, 3), (100, 10)])
@pytest.mark.parametrize("kind", ["onehot", "soft"])
def test_softmax_ce_target_rows(rng, n, c, dtype, kind):
    x = (5 * rng.standard_normal((n, c))).astype(dtype)
    if kind == "onehot":
        t = np.eye(c, dtype=dtype)[rng.integers(0, c, n)]
    else:
        t = rng.dirichlet(np.ones(c), n).astype(dtype)
    p = np.empty_like(x)
    loss = softmax_ce.softmax_ce_forward_dist(x, t, p)
    want_loss, want_p = ref.softmax_ce_forward_dist(x, t)
    close(p, want_p, dtype)
    assert loss == pytest.approx(want_loss, rel=TOL[dtype], abs=TOL[dtype])
    dx = np.empty_like(x)
    softmax_ce.softmax_ce_backward_dist(2.0, p, t, dx)
    close(dx, ref.softmax_ce_backward_dist(2.0, p, t), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_onehot_and_index_labels_agree(rng, dtype):
    x = rng.standard_normal((9, 4)).astype(dtype)
    t = rng.integers(0, 4, 9)
    p1, p2 = np.empty_like(x), np.empty_like(x)
    l1 = softmax_ce.softmax_ce_forward(x, t, p1)
    l2 = softmax_ce.softmax_ce_forward_dist(x, np.eye(4, dtype=dtype)[t], p2)
    assert l1 == pytest.approx(l2, rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_ce_extreme_logits_are_finite(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype)
    t = np.array([1, 0, 2])
    p = np.empty_like(x)
    loss = softmax_ce.softmax_ce_forward(x, t, p)
    assert np.isfinite(loss) and np.isfinite(p).all()
    # row 0: -log p[1] = 2e4; row 1: log 3; row 2: 1e4 + 1e4 + log 2 - (-1e4) ... exact by hand:
    want = (2e4 + np.log(3.0) + (1e4 + np.log(2.0) + 1e4)) / 3
    assert loss == pytest.approx(want, rel=1e-6)
    dx = np.empty_like(x)
    softmax_ce.softmax_ce_backward(1.0, p, t, dx)
    assert np.isfinite(dx).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (4, 5), (2, 3, 4)])
def test_all_finite(rng, shape, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    assert checks.all_finite(a)
    for bad in (np.nan, np.inf, -np.inf):
        b = a.copy()
        b.flat[-1] = bad
        assert not checks.all_finite(b)
        assert not ref.all_finite(b)


@pytest.mark.parametrize("label_dtype", [np.int64, np.uint8, np.int8])
def test_first_bad_label(label_dtype):
    t = np.array([0, 2, 1, 3, 0], label_dtype)
    assert checks.first_bad_label(t, 4) == ref.first_bad_label(t, 4) == -1
    assert checks.first_bad_label(t, 3) == ref.first_bad_label(t, 3) == 3
    if label_dtype is np.int8:
        t[1] = -1
        assert checks.first_bad_label(t, 4) == ref.first_bad_label(t, 4) == 1


@pytest.mark.parametrize(
    "src_dtype, dst_dtype", [(np.float32, np.float64), (np.float64, np.float32), (np.float64, np.float64)]
)
def test_copy_all_finite(rng, src_dtype, dst_dtype):
    src = rng.standard_normal((5, 7)).astype(src_dtype)
    dst, want = np.empty((5, 7), dst_dtype), np.empty((5, 7), dst_dtype)
    assert checks.copy_all_finite(src, dst) is ref.copy_all_finite(
        src, want
    ) is True or checks.copy_all_finite(src, dst)
    assert_array_equal(dst, want)
    src[3, 2] = np.inf
    assert not checks.copy_all_finite(src, dst)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES_2D)
def test_fused_bias_relu(rng, shape, dtype):
    y = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    want = ref.bias_relu_forward(y, b)
    affine.bias_relu_forward(y, b)
    close(y, want, dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    want_dy, want_db = ref.relu_bias_backward(dy, y)
    db = np.full(shape[1], np.nan, dtype)
    affine.relu_bias_backward(dy, y, db)
    close(dy, want_dy, dtype)
    close(db, want_db, dtype)


KERNEL_MODULES = [
    "activations",
    "affine",
    "checks",
    "conv",
    "mlp",
    "optim",
    "regularization",
    "regularizers",
    "softmax_ce",
    "sparse_input",
]


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_every_public_kernel_has_a_twin_in_the_reference_module_of_the_same_name(module):
    import importlib
    import types

    fast = importlib.import_module(f"fastbp.kernels.{module}")
    twin = importlib.import_module(f"fastbp.reference.{module}")
    kernels = [
        name
        for name, obj in vars(fast).items()
        if not name.startswith("_")
        and isinstance(getattr(obj, "py_func", obj), types.FunctionType)
        and getattr(obj, "py_func", obj).__module__ == fast.__name__
    ]
    assert kernels
    assert [k for k in kernels if not hasattr(twin, k)] == []
    assert all(hasattr(ref, k) for k in kernels)  # and fastbp.reference.kernels re-exports it
