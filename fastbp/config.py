"""Every measured threshold that chooses between two ways of computing the same result, in one place.

Each value says its unit and how it was measured. They were measured on this project's 2-core AVX-512
machines (Intel and AMD); a value tuned on one CPU is a choice between two correct paths, so a wrong
value costs speed, never correctness. The graph nodes read theirs at call time (tests may change them
with ``monkeypatch.setattr(config, ...)``); the ones a compiled kernel reads (marked *compiled in*) are
frozen into the kernel when it is compiled.

The break-evens marked *measured by warmup* (``SMALL_BATCH``, ``CSR_MAX_DENSITY``,
``TANH_NUMPY_BELOW``) are measured again on the user's machine by ``fastbp warmup`` and stored beside
the kernel cache (:mod:`fastbp.tuning`). The values below are the defaults; the stored ones replace
them at first use if they were measured on this CPU (same name and features) and
``FASTBP_TUNING=0`` is not set. They are resolved lazily, by ``__getattr__`` at the end: reading the
file asks LLVM for the CPU, which imports Numba, and importing this module must not.
"""

from __future__ import annotations

import os as _os


def _flag(name: str, default: bool = False) -> bool:
    """An on/off environment variable: 1/yes/true/on or 0/no/false/off (any case; unset or empty is
    ``default``)."""
    value = _os.environ.get(name, "")
    v = value.strip().lower()
    if v == "":
        return default
    if v in ("0", "no", "false", "off"):
        return False
    if v in ("1", "yes", "true", "on"):
        return True
    raise ValueError(f"{name} must be one of 1/yes/true/on or 0/no/false/off, got {value!r}")


# --- the book's loss (not a threshold: a choice of numbers) ------------------------------------------
# FASTBP_BOOK_LOSS=1: SoftmaxWithLoss computes softmax and the cross-entropy as the book does, in NumPy,
# with 1e-7 inside the log (-log(y[t] + 1e-7); the backward, (y - t) / N, is the book's either way), so
# the book's scripts print the book's losses. Off by default: the exact log-sum-exp loss, which is
# finite for any finite scores and agrees with numerical gradients to ~1e-10.
BOOK_LOSS = _flag("FASTBP_BOOK_LOSS")

# --- whole small-batch MLP step (fused.mlp.SmallBatchMLP; measured by warmup) ------------------------
# samples: at or below this batch a ReLU MLP with its softmax loss runs as compiled loops (one call for
# forward, loss and backward) instead of BLAS products layer by layer. Measured on MNIST images, SGD
# step: loops win at batch 1-4 (TwoLayerNet float64 34 vs 49 us at 1, 46 vs 55 at 4; MultiLayerNet
# 87 vs 142, 140 vs 167) and tie or lose from 8 on. (warmup: the largest batch up to which the loops
# win at every batch measured, over TwoLayerNet and a 3-layer MultiLayerNet, both dtypes.)
_SMALL_BATCH = 4
SMALL_BATCH: int  # (resolved at first use: see __getattr__)

# --- sparse first layer (fused.affine.SparseInputAffine; CSR_MAX_DENSITY measured by warmup) ----------
# samples: below this many rows the first layer takes BLAS: listing the nonzeros of a few rows does
# not pay for its setup (and the small-batch MLP covers batches 1-4 anyway).
CSR_MIN_ROWS = 8

# fraction of nonzero inputs, per (dtype, output width): a batch at most this dense takes the CSR
# kernels (kernels/sparse_input.py) instead of BLAS. The CSR work grows with the density, BLAS's does
# not. Measured at batch 100 on random inputs of a given density (x W and x^T dout; BLAS vs. listing
# + CSR kernels, us), density 0.2 / 0.3 / 0.4: float32 width 50: 180 vs 114 / 163 / 210, width 100:
# 336 vs 193 / 279 / 358; float64 width 50: 391 vs 203 / 289 / 368, width 100: 698 vs 495 / 574 /
# 732: break-even at about 0.34, 0.37, 0.43 and 0.38; the limits sit a little below. Without a native
# vector compress (no AVX-512) the listing is scalar and ~25 us slower per 100 images: lower limits.
# (CSR_MAX_DENSITY is chosen at first use, by __getattr__ below: asking whether the CPU has the
# vector compress imports Numba, and importing fastbp.config, fastbp.functions or fastbp.dataset
# must not: the book's chapter 3 scripts run in a third of a second.) (warmup: the same timings at
# densities 0.05-0.55 and on MNIST images, a line fitted to (list - BLAS) against density; the limit
# is 0.9 times where it crosses zero, as these defaults sit below their break-evens.)
_CSR_MAX_DENSITY = {
    True: {("float64", 50): 0.38, ("float64", 100): 0.34, ("float32", 50): 0.30, ("float32", 100): 0.33},
    False: {("float64", 50): 0.33, ("float64", 100): 0.33, ("float32", 50): 0.22, ("float32", 100): 0.27},
}
CSR_MAX_DENSITY: dict  # (resolved at first use: see __getattr__)

# rows (compiled in): the listing gives up (-1, BLAS) when the first this many rows are denser than the
# limit: enough rows to judge a batch, few enough that a dense batch costs little before BLAS.
CSR_PROBE_ROWS = 8

# --- SGD's row skipping (kernels/optim.sgd_update_all; compiled in) ---------------------------------
# fraction of rows: a float64 parameter is updated row by row (skipping rows whose gradient is all zero)
# while at least this fraction was skipped at the last row pass. The update is bound by memory traffic
# (read p, read g, write p); checking a row reads g but spares p's read and write where g is zero. On
# dense gradients the check costs ~40%. Measured, MultiLayerNet 784-100x5-10 at batch 1 on MNIST, the
# update alone within training steps: float64 26.5 us plain, 24.2 us by rows; float32 15.9 us plain,
# 18.2 us by rows (its weights and gradients fit the 1 MB L2 together), so only float64 goes by rows.
# Dense 784x50 float64: 6.6 us plain, 9.4 us by rows.
ROWS_MIN_SKIPPED = 0.4
# steps: how often a parameter updated plainly gets a row pass to look again.
ROWS_PROBE = 16

# --- the layout of a layer's products (layers/products.py; chosen per shape where it runs) ---------
# rows: a product x W (or x^T g) of a batch of at least this many rows is also tried in the other
# layout, (W^T x^T)^T (or (g^T x)^T) plus a transposing copy: BLAS's speed depends on which operand it
# sees as the long one. Measured here (Intel Xeon, OpenBLAS 0.3.31 SkylakeX, one thread), other
# layout + copy against the usual one: float64 784x50 at 1000 rows: x W 0.78, x^T g 0.69; 784x100:
# 0.77, 0.71; at 256 rows 1.04, 0.86; at 100 rows 1.26, 1.13 (slower: the copy costs more than the
# product gains); float32 1.03-2.3 everywhere (slower). So a batch below this never tries it. (An MLP
# step runs as one compiled call, kernels/mlp_blas.py, in the usual layouts below it, and from it on
# in those the layers' products have settled on.)
LAYOUT_MIN_ROWS = 128
# calls: each layout is timed on this many calls of a shape before one is kept (the first calls of a
# shape run the product twice; a layout is kept only if its results are the usual one's bit for bit).
LAYOUT_TRIALS = 3
# ratio: the other layout is kept when its best time is at most this fraction of the usual one's
# (a smaller gain is within this machine's noise).
LAYOUT_MIN_GAIN = 0.9

# --- Tanh (layers.activations.Tanh; measured by warmup) ---------------------------------------------
# elements: below this size Tanh calls NumPy's tanh: it costs 0.35 us at 100 elements, a kernel's
# dispatch 0.47 us and a buffer check 0.15 us (measured); from here the compiled kernels beat NumPy's
# tanh: float64 1.07-1.12x, float32 1.13-1.24x. (warmup: Tanh's forward at 256-16384 elements, both
# dtypes; the smallest size from which the kernels win at every larger size measured. On an Emerald
# Rapids machine with NumPy 2.4, NumPy's AVX-512 tanh was 1.3-1.9x faster at every size: NumPy always.)
_TANH_NUMPY_BELOW = 2048
TANH_NUMPY_BELOW: int  # (resolved at first use: see __getattr__)

# --- evaluation (nets.Network.accuracy) -------------------------------------------------------------
# rows: accuracy runs over the data in chunks of this many samples, each converted to the network's
# dtype on its own, so nothing full-size is converted, listed or kept. Measured on the book's chapter 5
# loop (accuracy on all 60,000 training images each epoch): peak memory 955 MB in one piece, 395 MB in
# chunks of 1,000 rows (the book's NumPy code: 709 MB), at the same speed.
EVAL_ROWS = 1000


_MEASURED = ("SMALL_BATCH", "CSR_MAX_DENSITY", "TANH_NUMPY_BELOW")  # by fastbp warmup (fastbp.tuning)


def _default(name: str):
    """The default of a threshold warmup measures (``CSR_MAX_DENSITY``'s depends on the CPU)."""
    if name == "CSR_MAX_DENSITY":
        from .kernels.simd import NATIVE

        return dict(_CSR_MAX_DENSITY[bool(NATIVE)])
    return globals()["_" + name]


def __getattr__(name: str):
    # Called only while the name is missing: the first read resolves the value and stores it as a
    # plain module attribute, so later reads (every training step) cost a dict lookup, and
    # monkeypatch.setattr / assignment replace it as for any attribute.
    if name in _MEASURED:
        from . import tuning

        value = _default(name)
        measured = tuning.measured(name)
        if isinstance(value, dict) and measured is not None:
            value.update(measured)  # per (dtype, width): a width not measured keeps its default
        elif measured is not None:
            value = measured
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _reset() -> None:
    """Forget the resolved thresholds (and the stored file as read): the next read resolves again."""
    for name in _MEASURED:
        globals().pop(name, None)
    import sys

    tuning = sys.modules.get(__package__ + ".tuning")
    if tuning is not None:
        tuning.forget()
