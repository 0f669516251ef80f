"""The op table: every layer and fused node, against the twin layers it stands for.

Each ``Op`` builds a fastbp node (a layer of ``fastbp.layers`` or a node of ``fastbp.fused``) and its
twin (the chain of ``fastbp.reference.layers`` it stands for) over the same parameters, and makes
their inputs for a batch size, a dtype and one of its ``sizes`` (``sizes[0]`` is the benchmark size).
The fastbp side runs as the networks run it: the unchecked ``_forward``/``_backward(dout,
needs_dx)``; the twin side through the twins' ``forward``/``backward``. ``tests/test_ops.py`` checks the
two against each other and every differentiable op against central differences (``grad_size``);
``fastbp.bench`` times them at the benchmark size.
"""

from __future__ import annotations

import numpy as np

from .. import fused as F
from .. import layers as L
from ..reference import layers as R
from .run import SEED, TOL, Op, backward, build, forward, inputs, param_grads

__all__ = ["Op", "OPS", "SEED", "TOL", "build", "forward", "backward", "param_grads", "inputs", "op"]


def op(name: str) -> Op:
    """The op of that name."""
    return next(o for o in OPS if o.name == name)


# -- makers --------------------------------------------------------------------------------------


def _normal(r, shape, dtype, scale=1.0):
    return (scale * r.standard_normal(shape)).astype(dtype)


def _away_from_kinks(r, shape, dtype):
    """Normal inputs at least 0.01 from 0, so h = 1e-5 never crosses a ReLU kink."""
    x = r.standard_normal(shape)
    return np.where(x >= 0, x + 0.01, x - 0.01).astype(dtype)


def _sparse(r, shape, density, dtype):
    """MNIST-like: values in (0, 1] on a random ``density`` of the entries, zeros elsewhere."""
    x = r.random(shape)
    x[r.random(shape) >= density] = 0
    return x.astype(dtype)


def _no_params(r, dtype, size):
    return {}


def _samples(r, dtype, n, shape):  # shape: one sample's
    return (_away_from_kinks(r, (n, *shape), dtype),)


def _affine_params(r, dtype, size):
    shape, m = size
    d = int(np.prod(shape))
    return {"W": _normal(r, (d, m), dtype, 0.1), "b": _normal(r, m, dtype, 0.1)}


def _affine_inputs(r, dtype, n, size):
    return _samples(r, dtype, n, size[0])


def _sparse_params(r, dtype, size):
    d, m, _ = size
    return {"W": _normal(r, (d, m), dtype, 0.1), "b": _normal(r, m, dtype, 0.1)}


def _sparse_inputs(r, dtype, n, size):
    d, _, density = size
    return (_sparse(r, (n, d), density, dtype),)


def _softmax_inputs(r, dtype, n, size):
    c, labels = size
    x = _normal(r, (n, c), dtype, 4.0)
    idx = r.integers(0, c, n)
    t = {
        "index": idx.astype(np.uint8),
        "onehot": np.eye(c, dtype=dtype)[idx],
        "soft": r.dirichlet(np.ones(c), n).astype(dtype),
    }[labels]
    return x, t


def _bn_params(r, dtype, shape):
    d = int(np.prod(shape))
    return {"gamma": (1 + _normal(r, d, dtype, 0.1)).astype(dtype), "beta": _normal(r, d, dtype, 0.1)}


def _conv_params(r, dtype, size):
    c, _, _, fn, fh, fw = size[:6]
    return {"W": _normal(r, (fn, c, fh, fw), dtype, 0.1), "b": _normal(r, fn, dtype, 0.1)}


def _conv_inputs(r, dtype, n, size):
    c, h, w = size[:3]
    return (_normal(r, (n, c, h, w), dtype),)


def _image_inputs(r, dtype, n, size):
    """MNIST-like images: a blank border, ~60% zeros inside (whole patches of background)."""
    c, h, w = size[:3]
    x = _sparse(r, (n, c, h, w), 0.4, dtype)
    x[:, :, :2] = 0
    return (x,)


def _conv(p, size):
    stride, pad = size[6:8]
    return L.Convolution(p["W"], p["b"], stride, pad)


def _pool(size, fast=True):
    ph, pw, ps = size[8:11]
    return (L if fast else R).Pooling(ph, pw, ps)


def _pool_inputs(r, dtype, n, size):
    c, h, w = size[:3]
    return (_normal(r, (n, c, h, w), dtype),)


def _mlp_params(r, dtype, dims):
    p = {}
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=False), 1):
        p[f"W{i}"], p[f"b{i}"] = _normal(r, (a, b), dtype, 0.3), _normal(r, b, dtype, 0.1)
    return p


def _mlp_inputs(r, dtype, n, dims):
    return _sparse(r, (n, dims[0]), 0.3, dtype), r.integers(0, dims[-1], n)


def _mlp_fast(p):
    k = len(p) // 2
    aff = [L.Affine(p[f"W{i}"], p[f"b{i}"]) for i in range(1, k + 1)]
    body = [F.SparseInputAffine(aff[0], L.Relu())] if k > 1 else [F.SparseInputAffine(aff[0])]
    body += [F.AffineRelu(a, L.Relu()) for a in aff[1:-1]] + ([aff[-1]] if k > 1 else [])
    return F.SmallBatchMLP(body, L.SoftmaxWithLoss())


def _mlp_twin(p):
    k = len(p) // 2
    chain = []
    for i in range(1, k + 1):
        chain += [R.Affine(p[f"W{i}"], p[f"b{i}"])] + ([R.Relu()] if i < k else [])
    return [*chain, R.SoftmaxWithLoss()]


# -- the table -------------------------------------------------------------------------------------

_ACT_SIZES = ((100,), (9,), (3, 5), (30, 70))  # (30, 70): 2100 elements, Tanh's kernels even at batch 1
_AFFINE_SIZES = (((100,), 100), ((7,), 3), ((3, 2, 2), 5), ((1,), 1))
# (C, H, W, FN, FH, FW, stride, pad[, pool h, pool w, pool stride]): SimpleConvNet's first block, then
# odd images, several channels, stride 2, padding, 3x3 windows
_CONV_SIZES = ((1, 28, 28, 30, 5, 5, 1, 0), (2, 7, 9, 3, 3, 3, 2, 1), (3, 6, 5, 2, 2, 2, 1, 0))
_BLOCK_SIZES = (
    (1, 28, 28, 30, 5, 5, 1, 0, 2, 2, 2),
    (2, 9, 11, 3, 3, 3, 1, 1, 2, 2, 2),
    (1, 8, 9, 2, 3, 3, 1, 0, 3, 3, 2),
)
_POOL_SIZES = (
    (30, 24, 24, 0, 0, 0, 0, 0, 2, 2, 2),
    (2, 7, 9, 0, 0, 0, 0, 0, 3, 3, 2),
    (3, 5, 6, 0, 0, 0, 0, 0, 2, 2, 1),
)
_SPARSE_SIZES = ((784, 100, 0.19), (784, 50, 0.19), (13, 7, 0.3))
_CONV_LABEL = "({n}, 1, 28, 28) 30x5x5"


def _activation(name, cls, *args):
    return Op(
        name,
        lambda p: getattr(L, cls)(*args),
        lambda p: [getattr(R, cls)(*args)],
        _no_params,
        _samples,
        _ACT_SIZES,
        "({n}, 100)",
        grad_size=(3, 5),
        dout_in_place=cls == "Relu",
    )


OPS: tuple[Op, ...] = (
    Op(
        "affine",
        lambda p: L.Affine(p["W"], p["b"]),
        lambda p: [R.Affine(p["W"], p["b"])],
        _affine_params,
        _affine_inputs,
        _AFFINE_SIZES,
        "({n}, 100)",
        grad_size=((3, 2, 2), 5),
    ),
    _activation("relu", "Relu"),
    _activation("leaky_relu", "LeakyRelu", 0.05),
    _activation("sigmoid", "Sigmoid"),
    _activation("tanh", "Tanh"),
    Op(
        "softmax_ce",
        lambda p: L.SoftmaxWithLoss(),
        lambda p: [R.SoftmaxWithLoss()],
        _no_params,
        _softmax_inputs,
        ((10, "index"), (3, "index"), (10, "onehot"), (3, "soft")),
        "({n}, 10)",
        grad_size=(10, "index"),
        loss=True,
    ),
    Op(
        "batchnorm",
        lambda p: L.BatchNormalization(p["gamma"], p["beta"]),
        lambda p: [R.BatchNormalization(p["gamma"], p["beta"])],
        _bn_params,
        _samples,
        ((100,), (3,), (2, 3, 3)),
        "({n}, 100)",
        grad_size=(2, 2, 2),
        grad_batch=4,
        kwargs={"train_flg": True},
    ),
    Op(
        "dropout",
        lambda p: L.Dropout(0.5),
        lambda p: [R.Dropout(0.5)],
        _no_params,
        _samples,
        ((100,), (9,), (2, 3, 4)),
        "({n}, 100)",
        grad_size=(9,),
        seeded=True,
        kwargs={"train_flg": True},
    ),
    Op(
        "convolution",
        lambda p: _conv(p, p["size"]),
        lambda p: [R.Convolution(p["W"], p["b"], *p["size"][6:8])],
        lambda r, dtype, size: {**_conv_params(r, dtype, size), "size": size},
        _conv_inputs,
        _CONV_SIZES,
        _CONV_LABEL,
        grad_size=_CONV_SIZES[1],
        grad_batch=2,
        bench_max_batch=100,
    ),
    Op(
        "pooling",
        lambda p: _pool(p["size"]),
        lambda p: [_pool(p["size"], fast=False)],
        lambda r, dtype, size: {"size": size},
        _pool_inputs,
        _POOL_SIZES,
        "({n}, 30, 24, 24) 2x2",
        grad_size=_POOL_SIZES[1],
        grad_batch=2,
        bench_max_batch=100,
    ),
    Op(
        "affine_relu",
        lambda p: F.AffineRelu(L.Affine(p["W"], p["b"]), L.Relu()),
        lambda p: [R.Affine(p["W"], p["b"]), R.Relu()],
        _affine_params,
        _affine_inputs,
        _AFFINE_SIZES,
        "({n}, 100)",
        grad_size=((3, 2, 2), 5),
        dout_in_place=True,
    ),
    Op(
        "sparse_input_affine_relu",  # a network's first layer: needs no input gradient
        lambda p: F.SparseInputAffine(L.Affine(p["W"], p["b"]), L.Relu()),
        lambda p: [R.Affine(p["W"], p["b"]), R.Relu()],
        _sparse_params,
        _sparse_inputs,
        _SPARSE_SIZES,
        "({n}, 784) -> 100 MNIST-like",
        grad_size=(13, 50, 0.19),  # 9 rows, width 50, 19% nonzeros: the list of nonzeros
        grad_batch=9,
        batches=(1, 9, 100),
        needs_dx=False,
        dout_in_place=True,
    ),
    Op(
        "sparse_input_affine",
        lambda p: F.SparseInputAffine(L.Affine(p["W"], p["b"])),
        lambda p: [R.Affine(p["W"], p["b"])],
        _sparse_params,
        _sparse_inputs,
        _SPARSE_SIZES,
        "({n}, 784) -> 100 MNIST-like",
        grad_size=(13, 50, 0.19),
        grad_batch=9,
        batches=(1, 9, 100),
        needs_dx=False,
    ),
    Op(
        "conv_relu",
        lambda p: F.ConvRelu(_conv(p, p["size"]), L.Relu()),
        lambda p: [R.Convolution(p["W"], p["b"], *p["size"][6:8]), R.Relu()],
        lambda r, dtype, size: {**_conv_params(r, dtype, size), "size": size},
        _conv_inputs,
        _CONV_SIZES,
        _CONV_LABEL,
        grad_size=_CONV_SIZES[1],
        grad_batch=2,
        dout_in_place=True,
        bench_max_batch=100,
    ),
    Op(
        "conv_relu_pool",
        lambda p: F.ConvReluPool(_conv(p, p["size"]), L.Relu(), _pool(p["size"]), needs_dx=True),
        lambda p: [R.Convolution(p["W"], p["b"], *p["size"][6:8]), R.Relu(), _pool(p["size"], fast=False)],
        lambda r, dtype, size: {**_conv_params(r, dtype, size), "size": size},
        _conv_inputs,
        _BLOCK_SIZES,
        _CONV_LABEL + " pool 2x2",
        grad_size=_BLOCK_SIZES[1],
        grad_batch=2,
        kwargs={"grad": True},
        bench_max_batch=100,
    ),
    Op(
        "conv_relu_pool_first",  # the network's first block: patches kept, no input gradient
        lambda p: F.ConvReluPool(_conv(p, p["size"]), L.Relu(), _pool(p["size"]), needs_dx=False),
        lambda p: [R.Convolution(p["W"], p["b"], *p["size"][6:8]), R.Relu(), _pool(p["size"], fast=False)],
        lambda r, dtype, size: {**_conv_params(r, dtype, size), "size": size},
        _image_inputs,
        _BLOCK_SIZES,
        _CONV_LABEL + " pool 2x2 MNIST-like",
        grad_size=_BLOCK_SIZES[2],
        grad_batch=2,
        needs_dx=False,
        kwargs={"grad": True},
        bench_max_batch=100,
    ),
    Op(
        # a whole ReLU MLP with its loss. With grad=True (as a training step runs it), up to
        # config.SMALL_BATCH samples the forward runs the whole step in one compiled call and the
        # backward only hands out the gradients: time forward + backward together there
        "small_batch_mlp",
        _mlp_fast,
        _mlp_twin,
        _mlp_params,
        _mlp_inputs,
        ((784, 50, 10), (13, 7, 5), (9, 6, 4, 3), (11, 5)),
        "({n}, 784) 784-50-10",
        grad_size=(9, 6, 4, 3),
        batches=(1, 3, 7),
        loss=True,
        scores=True,
        needs_dx=False,
        kwargs={"grad": True},
    ),
)
