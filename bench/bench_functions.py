"""The book's free functions and numerical_gradient: fastbp against book-style NumPy, at the book's sizes.

``python -m pytest bench/bench_functions.py --benchmark-columns=median,iqr,rounds``

The ``book`` impls below are plain NumPy written from the description in ``BOOK_API.md`` (what the
book's ``common/functions.py`` and ``common/gradient.py`` compute, operation by operation); they are
the baseline fastbp has to match or beat. Each case first checks that both impls agree, so nothing
is timed that is not tested. The sizes are those the chapter 3-4 scripts use: single samples and
batches of 100 for ch03 inference (float32 weights), the ch04 TwoLayerNet(784, 50, 10) at batch 100
(float64), the ch04 toy examples (2,) and the 2x3 simpleNet.

``python -m bench.bench_functions [--hidden 50] [--w1-rows 100] [--repeats 3]`` (from the repository
root, so that this checkout's fastbp is the one imported) times the whole
ch04 numerical gradient (the loss written with fastbp.functions + fastbp.gradient, against the same
loss written with the book-style functions below), interleaved, and prints medians and ranges.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import functions as F
from fastbp import gradient as G
from fastbp.reference.gradient import numerical_gradient as book_numerical_gradient

# -- the book's functions, from BOOK_API.md's description -------------------------------------------


def book_step_function(x):
    return np.array(x > 0, dtype=np.int64)


def book_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def book_relu(x):
    return np.maximum(0, x)


def book_softmax(x):
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def book_cross_entropy_error(y, t):
    if y.ndim == 1:  # one sample: one row
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:  # one-hot labels -> indices
        t = t.argmax(axis=1)
    n = y.shape[0]
    return -np.sum(np.log(y[np.arange(n), t] + 1e-7)) / n


IMPLS = {
    "fastbp": {
        "step_function": F.step_function,
        "sigmoid": F.sigmoid,
        "relu": F.relu,
        "softmax": F.softmax,
        "cross_entropy_error": F.cross_entropy_error,
        "numerical_gradient": G.numerical_gradient,
    },
    "book": {
        "step_function": book_step_function,
        "sigmoid": book_sigmoid,
        "relu": book_relu,
        "softmax": book_softmax,
        "cross_entropy_error": book_cross_entropy_error,
        "numerical_gradient": book_numerical_gradient,
    },
}


# -- the cases ---------------------------------------------------------------------------------------


class Spec(NamedTuple):
    func: str  # key of IMPLS[impl]
    label: str  # shape and dtype, for the group name
    make: object  # impl name -> args tuple (fresh arrays, seeded)
    rtol: float  # how close the two impls must agree (0: bit for bit)


def _normal(shape, dtype):
    def make(impl):
        return (np.random.default_rng(0).standard_normal(shape).astype(dtype),)

    return make


# ch02/03 toys (2,), (3,); ch03 one image at a time (float32 weights: (50,), (100,) hidden units);
# ch03 batches of 100 (float32); ch04 TwoLayerNet at batch 100 (float64); a (1, 784) row
ACTIVATION_SHAPES = [
    ((2,), np.float64),
    ((3,), np.float64),
    ((50,), np.float32),
    ((100,), np.float32),
    ((1, 784), np.float64),
    ((100, 10), np.float64),
    ((100, 50), np.float64),
    ((100, 50), np.float32),
    ((100, 100), np.float32),
]
SOFTMAX_SHAPES = [
    ((3,), np.float64),
    ((10,), np.float32),
    ((10,), np.float64),
    ((1, 10), np.float64),
    ((100, 10), np.float32),
    ((100, 10), np.float64),
]


def _label(shape, dtype):
    return f"{shape} {np.dtype(dtype).name}"


def _cee(n, c, labels):
    """Softmax probabilities (n, c) (1-D when n is None) and labels: 'onehot', an int dtype, or 'scalar'."""

    def make(impl):
        rng = np.random.default_rng(0)
        y = book_softmax(rng.standard_normal((n or 1, c)))
        k = rng.integers(0, c, n or 1)
        if labels == "onehot":
            t = np.eye(c)[k]
        elif labels == "scalar":  # one sample's label as a 0-d array
            t = np.array(k[0])
        else:
            t = k.astype(labels)
        if n is None:
            y, t = y[0], t if labels == "scalar" else t[0]
        return y, t

    return make


def _numgrad_function_2(impl):
    """ch04 gradient_method: f(x) = x0^2 + x1^2 at (3, 4)."""
    return (lambda x: np.sum(x**2)), np.array([3.0, 4.0])


def _numgrad_simplenet(impl):
    """ch04 gradient_simplenet: the loss of softmax(x @ W) against a one-hot t, as a function of W (2, 3)."""
    fn = IMPLS[impl]
    rng = np.random.default_rng(0)
    W, x, t = rng.standard_normal((2, 3)), np.array([0.6, 0.9]), np.array([0.0, 0.0, 1.0])
    return (lambda _: fn["cross_entropy_error"](fn["softmax"](x @ W), t)), W


def _numgrad_loop(shape):
    """The loop itself at a ch04 TwoLayerNet weight's shape, with a loss that costs nothing."""

    def make(impl):
        return (lambda _: 1.0), np.random.default_rng(0).standard_normal(shape) * 0.01

    return make


SPECS = [
    *(
        Spec(func, _label(shape, dtype), _normal(shape, dtype), 0.0)
        for func in ("sigmoid", "relu", "step_function")
        for shape, dtype in ACTIVATION_SHAPES
    ),
    *(Spec("softmax", _label(s, d), _normal(s, d), 0.0) for s, d in SOFTMAX_SHAPES),
    # fastbp omits the book's 1e-7 inside the log (see fastbp.functions): ~1e-6 relative
    Spec("cross_entropy_error", "(3,) one-hot", _cee(None, 3, "onehot"), 1e-5),
    Spec("cross_entropy_error", "(10,) one-hot", _cee(None, 10, "onehot"), 1e-5),
    Spec("cross_entropy_error", "(10,) index", _cee(None, 10, "scalar"), 1e-5),
    Spec("cross_entropy_error", "(100, 10) one-hot", _cee(100, 10, "onehot"), 1e-5),
    Spec("cross_entropy_error", "(100, 10) int64", _cee(100, 10, np.int64), 1e-5),
    Spec("cross_entropy_error", "(100, 10) uint8", _cee(100, 10, np.uint8), 1e-5),
    Spec("numerical_gradient", "(2,) x0^2+x1^2", _numgrad_function_2, 1e-9),
    Spec("numerical_gradient", "(2, 3) simpleNet", _numgrad_simplenet, 1e-4),
    *(
        Spec("numerical_gradient", f"{shape} loop only", _numgrad_loop(shape), 0.0)
        for shape in [(784, 50), (50,), (50, 10), (10,)]
    ),
]


def _run(spec, impl):
    fn = IMPLS[impl][spec.func]
    args = spec.make(impl)
    return fn, args, fn(*args)


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("spec", SPECS, ids=[f"{s.func} {s.label}" for s in SPECS])
def test_function(benchmark, spec, impl):
    fn, args, got = _run(spec, impl)  # the first call, outside the timer
    _, _, want = _run(spec, "book")
    if spec.rtol:
        assert_allclose(got, want, rtol=spec.rtol)
    else:
        assert_array_equal(got, want)
        assert np.asarray(got).dtype == np.asarray(want).dtype
    benchmark.group = f"{spec.func} {spec.label}"
    benchmark.extra_info["impl"] = impl
    benchmark(fn, *args)


# -- the ch04 loss and its whole numerical gradient ---------------------------------------------------


class Ch04Net:
    """The ch04 TwoLayerNet's loss (sigmoid hidden layer, softmax, CEE), written with one impl's functions.

    params are the book's W1 (784, hidden), b1, W2 (hidden, 10), b2, read live by ``loss``.
    """

    def __init__(self, impl, hidden=50, batch=100, seed=0):
        self.fn = IMPLS[impl]
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": 0.01 * rng.standard_normal((784, hidden)),
            "b1": np.zeros(hidden),
            "W2": 0.01 * rng.standard_normal((hidden, 10)),
            "b2": np.zeros(10),
        }
        self.x = rng.random((batch, 784), dtype=np.float32)  # load_mnist(normalize=True): float32
        self.t = np.eye(10)[rng.integers(0, 10, batch)]  # one-hot float64, as ch04 trains

    def loss(self, _=None):
        fn, p = self.fn, self.params
        z1 = fn["sigmoid"](np.dot(self.x, p["W1"]) + p["b1"])
        y = fn["softmax"](np.dot(z1, p["W2"]) + p["b2"])
        return fn["cross_entropy_error"](y, self.t)

    def numerical_gradient(self, w1_rows=None):
        """{key: gradient}; ``w1_rows``: only W1's first rows (a view: perturbed in place all the same)."""
        ng = self.fn["numerical_gradient"]
        p = self.params
        return {
            "W1": ng(self.loss, p["W1"] if w1_rows is None else p["W1"][:w1_rows]),
            **{k: ng(self.loss, p[k]) for k in ("b1", "W2", "b2")},
        }


@pytest.mark.parametrize("impl", list(IMPLS))
def test_ch04_loss(benchmark, impl):
    net = Ch04Net(impl)
    assert_allclose(net.loss(), Ch04Net("book").loss(), rtol=1e-6)
    benchmark.group = "ch04 TwoLayerNet(784, 50, 10) loss, batch 100"
    benchmark.extra_info["impl"] = impl
    benchmark(net.loss)


def _time_ch04(hidden, w1_rows, repeats):
    import time

    import fastbp

    nets = {impl: Ch04Net(impl, hidden) for impl in IMPLS}
    print(f"fastbp from {fastbp.__file__}, BLAS threads {fastbp.get_num_threads()}")
    n = (w1_rows or 784) * hidden + hidden + hidden * 10 + 10
    print(f"ch04 numerical gradient, hidden {hidden}, {n} elements ({2 * n} loss calls), batch 100")
    times, grads = {impl: [] for impl in IMPLS}, {}
    for r in range(repeats):
        for impl in IMPLS if r % 2 == 0 else reversed(list(IMPLS)):  # alternate which goes first
            t0 = time.perf_counter()
            grads[impl] = nets[impl].numerical_gradient(w1_rows)
            times[impl].append(time.perf_counter() - t0)
            print(f"  {impl:6s} {times[impl][-1]:7.2f} s", flush=True)
    for impl, ts in times.items():
        print(f"{impl:6s} median {np.median(ts):7.2f} s  range {min(ts):.2f}-{max(ts):.2f}")
    print(f"fastbp / book: {np.median(times['fastbp']) / np.median(times['book']):.3f}")
    for k, g in grads["book"].items():  # the same gradient, up to the book's 1e-7 in the log and
        # the central difference's round-off (~1e-11 here, against entries as small as 1e-9)
        assert_allclose(grads["fastbp"][k], g, rtol=1e-3, atol=1e-6 * np.abs(g).max())


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Time the ch04 numerical gradient, fastbp vs book-style")
    parser.add_argument("--hidden", type=int, default=50)
    parser.add_argument("--w1-rows", type=int, default=100, help="W1 rows to differentiate (0: all 784)")
    parser.add_argument("--repeats", type=int, default=3)
    a = parser.parse_args()
    _time_ch04(a.hidden, a.w1_rows or None, a.repeats)
