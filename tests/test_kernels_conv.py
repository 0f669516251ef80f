"""fastbp.kernels.conv and .pool beyond the kernel table (tests/test_kernels.py): pooling's winner on
ties and NaN, by hand, the listing of a sample's nonzero patches, and the pooling kernels' old path."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DTYPES
from numpy.testing import assert_array_equal

from fastbp.kernels import conv as K
from fastbp.reference import kernels as RK

ROOT = Path(__file__).resolve().parents[1]

WINDOWS = np.array(  # four 2x2 windows of a 4x4 image: ties, a NaN, two NaNs, all negative
    [[1.0, 3.0, 5.0, np.nan], [3.0, 2.0, 7.0, 1.0], [-1.0, np.nan, -3.0, -2.0], [np.nan, 9.0, -2.0, -3.0]]
)


GEOMETRIES = [  # x shape, filter (FN, FH, FW), stride, pad
    ((1, 1, 5, 5), (1, 3, 3), 1, 0),
    ((2, 3, 7, 6), (4, 3, 2), 1, 1),
    ((3, 2, 9, 8), (5, 3, 3), 2, 1),
    ((1, 2, 6, 7), (2, 1, 1), 3, 0),
    ((2, 1, 5, 5), (3, 5, 5), 1, 2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pad", [0, 1])
def test_maxpool_picks_the_first_maximum_and_nan_wins(dtype, pad):
    x = WINDOWS.astype(dtype)[None, None]
    if pad:  # the same windows, shifted by the padding: pad=1 with stride 2 reads the 3x3 grid below
        x = np.pad(x, [(0, 0), (0, 0), (1, 0), (1, 0)], constant_values=-100)
    n_out = 2 + pad
    out, arg = np.empty((1, 1, n_out, n_out), dtype), np.empty((1, 1, n_out, n_out), np.int64)
    K.maxpool_forward(x, 2, 2, 2, pad, out, arg)
    o, a = out[0, 0, pad:, pad:], arg[0, 0, pad:, pad:]
    assert_array_equal(a, [[1, 1], [1, 1]])  # 3 at (0, 1) before the tie at (1, 0); the first NaN; -2
    assert o[0, 0] == 3 and np.isnan(o[0, 1]) and np.isnan(o[1, 0]) and o[1, 1] == -2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("window", [2, 3])
def test_relu_pool_picks_the_first_maximum_and_nan_wins(dtype, window):
    """The fused block: the 2x2 (unrolled) and general windows; a window ReLU zeroes records 0."""
    rows = WINDOWS.astype(dtype).reshape(1, 16)
    if window == 3:  # 3x3 windows at stride 1 over the 4x4: each holds a NaN but the last's ...
        rows = np.where(np.isnan(rows), dtype(0.5), rows)
        rows[0, 10] = np.nan  # ... windows (0,0), (0,1), (1,0), (1,1) all cover position (2,2)
        rows[0, 5] = 9  # and a tie with 9 at (3, 1) for the lower-left window
    out, arg = np.empty((1, 2, 2), dtype), np.empty((1, 2, 2), np.int64)
    stride = 2 if window == 2 else 1
    K.relu_pool_t(rows, np.arange(16), np.zeros(1, dtype), 4, window, window, stride, out, arg)
    if window == 2:
        assert_array_equal(arg[0], [[1, 1], [1, 0]])  # the all-negative window: ReLU's 0, the first
        assert out[0, 0, 0] == 3 and np.isnan(out[0, 0, 1]) and np.isnan(out[0, 1, 0]) and out[0, 1, 1] == 0
    else:
        assert np.isnan(out).all()
        assert_array_equal(arg[0], [[8, 7], [5, 4]])  # the NaN at (2, 2) in each window


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, fs, stride, pad", GEOMETRIES)
@pytest.mark.parametrize("zeros", [0.0, 0.7, 1.0])
def test_active_patches_are_the_twins_nonzero_patches(rng, xs, fs, stride, pad, dtype, zeros):
    from fastbp.kernels import conv as K

    x = rng.standard_normal(xs).astype(dtype)
    x[rng.random(xs) < zeros] = 0  # background: some patches all zero, or all of them
    x[:, :, :2] = 0  # a blank band, as above and below a digit
    c, fh, fw = xs[1], fs[1], fs[2]
    oh, ow = (xs[2] + 2 * pad - fh) // stride + 1, (xs[3] + 2 * pad - fw) // stride + 1
    want = RK.im2col(x, fh, fw, stride, pad).reshape(xs[0], oh * ow, c * fh * fw)
    for s in range(xs[0]):
        cols = np.full(oh * ow, -1, np.int64)
        buf = np.full(c * fh * fw * (oh * ow + 1), np.nan, dtype)
        rowany = np.empty((xs[2], ow), np.uint8)
        starts = np.empty((2, oh * ow + 1), np.int64)
        m = K.active_patches_t(x[s], fh, fw, stride, pad, cols, rowany, starts, buf)
        got = buf[: c * fh * fw * m].reshape(-1, m)
        nonzero = np.flatnonzero(np.any(want[s] != 0, axis=1))
        assert m == 1 + len(nonzero)
        assert_array_equal(cols[nonzero], np.arange(1, m))  # kept in position order
        assert_array_equal(np.delete(cols, nonzero), 0)  # all-zero patches share column 0 ...
        assert_array_equal(got[:, 0], 0)  # ... which is a zero patch
        assert_array_equal(got[:, 1:], want[s][nonzero].T)


POOLING = [
    "maxpool_forward",
    "maxpool_backward",
    "relu_pool_t",
    "relu_pool_grad_cols",
    "relu_pool_backward_sparse",
]


@pytest.mark.parametrize("first", ["conv", "pool"])
def test_pooling_is_still_found_at_its_old_path(first):
    """The pooling kernels and twins moved from the conv modules to the pool modules; the old names stay."""
    code = (
        f"import fastbp.reference.{first}, fastbp.kernels.{first}\n"
        "from fastbp.kernels import conv as KC, pool as KP\n"
        "from fastbp.reference import conv as RC, pool as RP, kernels as RK\n"
        f"for n in {POOLING!r}:\n"
        "    assert getattr(KC, n) is getattr(KP, n), n\n"
        "    assert getattr(RC, n) is getattr(RP, n) is getattr(RK, n), n\n"
    )
    env = dict(os.environ, FASTBP_CACHE="0")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
