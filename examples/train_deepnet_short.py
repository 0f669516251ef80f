"""DeepConvNet, the book's settings (Adam 0.001, batch 100), a short run on MNIST: accuracy from chance."""

import sys
import time

import numpy as np

from fastbp.dataset.mnist import load_mnist
from fastbp.nets import DeepConvNet
from fastbp.optimizer import Adam

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 300
(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
np.random.seed(0)
net = DeepConvNet()
opt = Adam(lr=0.001)
print("before: test acc (first 1000)", net.accuracy(x_test[:1000], t_test[:1000]), flush=True)
t0 = time.perf_counter()
for _ in range(steps):
    idx = np.random.choice(60000, 100)
    opt.update(net.params, net.gradient(x_train[idx], t_train[idx]))
el = time.perf_counter() - t0
print(
    f"after {steps} steps ({el:.1f} s, {el / steps * 1e3:.0f} ms/step): test acc (full 10000)",
    net.accuracy(x_test, t_test),
    flush=True,
)
