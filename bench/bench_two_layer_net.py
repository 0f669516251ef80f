"""One TwoLayerNet training step (gradient + SGD update), fastbp against the NumPy reference.

Run: ``pytest bench -k two_layer --benchmark-columns=median,iqr,rounds``. Compilation and buffer
allocation happen in a warm-up call outside the timer.
"""

import numpy as np
import pytest

from fastbp.nets import TwoLayerNet


def sgd_step(net, x, t, lr=0.1):
    grads = net.gradient(x, t)
    for key, g in grads.items():
        p = net.params[key]
        p -= lr * g


@pytest.mark.parametrize("batch", [1, 100])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["fastbp", "numpy"])
def test_two_layer_net_step(benchmark, mnist_like, backend, dtype, batch):
    x, t = mnist_like
    xb, tb = x[:batch], t[:batch]
    np.random.seed(0)
    net = TwoLayerNet(784, 50, 10, dtype=dtype, backend=backend)
    sgd_step(net, xb, tb)  # compile and allocate outside the timer
    benchmark.group = f"TwoLayerNet step 784-50-10 batch {batch} {dtype}"
    benchmark(sgd_step, net, xb, tb)
