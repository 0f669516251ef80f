"""The book's chapter 7 training (train_convnet.py settings) on full MNIST, with fastbp."""

import sys
import time

import numpy as np

from fastbp.dataset.mnist import load_mnist
from fastbp.nets import SimpleConvNet
from fastbp.trainer import Trainer

backend = sys.argv[1] if len(sys.argv) > 1 else "fastbp"
max_steps = int(sys.argv[2]) if len(sys.argv) > 2 else None
(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
np.random.seed(0)
network = SimpleConvNet(
    input_dim=(1, 28, 28),
    conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
    hidden_size=100,
    output_size=10,
    weight_init_std=0.01,
    backend=backend,
)
trainer = Trainer(
    network,
    x_train,
    t_train,
    x_test,
    t_test,
    epochs=20,
    mini_batch_size=100,
    optimizer="Adam",
    optimizer_param={"lr": 0.001},
    evaluate_sample_num_per_epoch=1000,
    verbose=False,
    callback=lambda r: print(r, flush=True),
)
t0 = time.perf_counter()
if max_steps:
    for _ in range(max_steps):
        trainer.train_step()
    el = time.perf_counter() - t0
    print(
        f"{backend}: {max_steps} steps in {el:.1f} s, {el / max_steps * 1e3:.1f} ms/step "
        "(incl. the book's extra loss pass)"
    )
else:
    acc = trainer.train()
    el = time.perf_counter() - t0
    print(
        f"{backend}: 20 epochs in {el:.1f} s; final test accuracy {acc:.4f}; "
        f"train acc (last eval, 1000) {trainer.train_acc_list[-1]}"
    )
    print(f"full train accuracy {network.accuracy(x_train, t_train):.4f}")
