import numpy as np
import pytest


@pytest.fixture
def mnist_like():
    """(x, t) shaped like a batch source of MNIST: float32 pixels in [0, 1], uint8 labels."""
    r = np.random.default_rng(0)
    return r.random((1000, 784), dtype=np.float32), r.integers(0, 10, 1000).astype(np.uint8)
