"""Peak memory of the book's chapter 5 training loop (TwoLayerNet 784-50-10, batch 100, accuracy on
the whole training and test sets every epoch) on fastbp; the real MNIST files in fastbp's data folder
(FASTBP_DATA, or --data mnist's download).

    python scripts/ch05_memory.py fastbp 1300      # backend, iterations
"""

import resource
import sys
import time

import numpy as np

from fastbp.data import load_mnist
from fastbp.nets import TwoLayerNet

backend = sys.argv[1]
iters = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)


def rss(tag):
    print(f"{tag}: peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)


rss("loaded")
network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, backend=backend)
rss("built")
iters_num, train_size, batch_size, learning_rate = iters, x_train.shape[0], 100, 0.1
iter_per_epoch = max(train_size / batch_size, 1)
t0 = time.time()
for i in range(iters_num):
    batch_mask = np.random.choice(train_size, batch_size)
    x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
    grad = network.gradient(x_batch, t_batch)
    for key in ("W1", "b1", "W2", "b2"):
        network.params[key] -= learning_rate * grad[key]
    loss = network.loss(x_batch, t_batch)
    if i % iter_per_epoch == 0:
        train_acc = network.accuracy(x_train, t_train)
        test_acc = network.accuracy(x_test, t_test)
        print(i, train_acc, test_acc, flush=True)
        rss("after accuracy")
rss("end")
print("s", time.time() - t0)
