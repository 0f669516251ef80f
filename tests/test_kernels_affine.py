"""fastbp.kernels.affine beyond the kernel table (tests/test_kernels.py): the float64 bias gradient is
NumPy's sum, bit for bit."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastbp.kernels import affine


def test_bias_backward_float64_is_bitwise_numpy(rng):
    dy = rng.standard_normal((100, 50))
    db = np.empty(50)
    affine.bias_backward(dy, db)
    assert_array_equal(db, dy.sum(axis=0))


KERNELS = ["bias_forward", "bias_relu_forward", "bias_backward", "relu_bias_backward"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("b_size", [0, 4, 6])
@pytest.mark.parametrize("kernel", KERNELS)
def test_a_bias_of_another_width_is_refused_before_anything_is_written(kernel, b_size, dtype):
    """A layer's b rebound apart from its W: the kernels would read or write past b's end."""
    y = np.full((3, 5), 2.0, dtype)
    b = np.full(b_size, 3.0, dtype)
    args = {"bias_forward": (y, b), "bias_relu_forward": (y, b), "bias_backward": (y, b)}
    args["relu_bias_backward"] = (y, y.copy(), b)
    with pytest.raises(ValueError, match="one entry per column of x W"):
        getattr(affine, kernel)(*args[kernel])
    assert (y == 2.0).all() and (b == 3.0).all()
