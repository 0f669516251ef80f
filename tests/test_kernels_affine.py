"""fastbp.kernels.affine beyond the kernel table (tests/test_kernels.py): the float64 bias gradient is
NumPy's sum, bit for bit."""

import numpy as np
from numpy.testing import assert_array_equal

from fastbp.kernels import affine


def test_bias_backward_float64_is_bitwise_numpy(rng):
    dy = rng.standard_normal((100, 50))
    db = np.empty(50)
    affine.bias_backward(dy, db)
    assert_array_equal(db, dy.sum(axis=0))
