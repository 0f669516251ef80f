"""Every op of the table (fastbp.ops.nodes.OPS: the layers and the fused nodes) against the twin layers
it stands for, forward and backward, in both dtypes at batch 1 and odd sizes, in any input layout; and
every differentiable op's backward against float64 central differences, parameter gradients included."""

import numpy as np
import pytest
from conftest import DTYPES, numgrad, rel_err
from numpy.testing import assert_allclose

from fastbp.ops import nodes as O

CASES = [(op, size, n) for op in O.OPS for size in op.sizes for n in op.batches]


def _arrays(params):
    return [k for k, v in params.items() if isinstance(v, np.ndarray)]


def _close(got, want, op, dtype):
    tol = op.tol[dtype]
    if isinstance(want, tuple):
        for g, w in zip(got, want, strict=True):
            _close(g, w, op, dtype)
        return
    assert np.asarray(got).dtype == dtype
    assert np.shape(got) == np.shape(want)
    assert_allclose(got, want, rtol=tol, atol=tol)


def _copy(out):
    return tuple(np.array(o) for o in out) if isinstance(out, tuple) else np.array(out)


def _run_both(op, params, args, dtype, rng):
    """(fast node, twin chain, fast out, twin out, dout) after one forward each, checked to agree."""
    fast, twin = O.build(op, params, "fastbp"), O.build(op, params, "numpy")
    out = _copy(O.forward(op, fast, "fastbp", args))
    want = O.forward(op, twin, "numpy", args)
    _close(out, want, op, dtype)
    dout = None if op.loss else rng.standard_normal(np.shape(want)).astype(dtype)
    return fast, twin, dout


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op, size, n", CASES, ids=[f"{o.name}-{s}-n{n}" for o, s, n in CASES])
def test_op_matches_its_twin(op, size, n, dtype):
    rng = np.random.default_rng(1)
    params, args = O.inputs(op, n, dtype, size)
    fast, twin, dout = _run_both(op, params, args, dtype, rng)
    dx = O.backward(op, fast, "fastbp", None if dout is None else dout.copy())
    want_dx = O.backward(op, twin, "numpy", None if dout is None else dout.copy())
    if op.needs_dx:
        _close(dx, want_dx, op, dtype)
    else:
        assert dx is None
    names = _arrays(params)
    got, want = O.param_grads(op, fast, "fastbp", names), O.param_grads(op, twin, "numpy", names)
    for k in names:
        _close(got[k], want[k], op, dtype)


def _layouts(x):
    """x in Fortran order, and as a strided view into a larger array."""
    big = np.zeros((*x.shape[:-1], 2 * x.shape[-1]), x.dtype)
    big[..., ::2] = x
    return {"F": np.asfortranarray(x), "strided": big[..., ::2]}


@pytest.mark.parametrize("layout", ["F", "strided"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", O.OPS, ids=[o.name for o in O.OPS])
def test_public_forward_and_backward_take_any_layout(op, dtype, layout):
    """The checked forward/backward (a graph built with validate=True runs those) on a non-contiguous x
    and dout: the twin's results on the contiguous ones."""
    rng = np.random.default_rng(2)
    size, n = op.sizes[1], op.batches[-1]
    params, args = O.inputs(op, n, dtype, size)
    twin = O.build(op, params, "numpy")
    want = O.forward(op, twin, "numpy", args)
    node = O.build(op, params, "fastbp")
    x = _layouts(args[0])[layout]
    assert not x.flags.c_contiguous
    if op.seeded:
        np.random.seed(O.SEED)
    out = node.forward(x, *args[1:])
    _close(_copy(out), want, op, dtype)
    if op.loss:
        dx, want_dx = node.backward(), O.backward(op, twin, "numpy")
    else:
        dout = rng.standard_normal(np.shape(want)).astype(dtype)
        want_dx = O.backward(op, twin, "numpy", dout.copy())
        dx = node.backward(_layouts(dout)[layout])
    if dx is not None:
        _close(dx, want_dx, op, dtype)
    names = _arrays(params)
    got, want = O.param_grads(op, node, "fastbp", names), O.param_grads(op, twin, "numpy", names)
    for k in names:
        _close(got[k], want[k], op, dtype)


GRAD_OPS = [op for op in O.OPS if op.differentiable]


@pytest.mark.parametrize("op", GRAD_OPS, ids=[o.name for o in GRAD_OPS])
def test_backward_is_the_gradient(op):
    """float64 central differences of sum(forward(x) * r) (of the loss, for a loss op) in x and in every
    parameter (the arrays the node holds, perturbed in place), against _backward and the kept dW, db ..."""
    rng = np.random.default_rng(3)
    params, args = O.inputs(op, op.grad_batch, np.float64, op.grad_size)
    node = O.build(op, params, "fastbp")
    out = O.forward(op, node, "fastbp", args)
    r = None if op.loss else rng.standard_normal(np.shape(out))

    def f(_):
        out = O.forward(op, node, "fastbp", args)
        if op.loss:
            return float(out[0] if op.scores else out)
        return float(np.sum(out * r))

    want = {k: numgrad(f, params[k]) for k in _arrays(params)}
    if op.needs_dx:
        want["x"] = numgrad(f, args[0])
    f(None)
    dx = O.backward(op, node, "fastbp", None if r is None else r.copy())
    got = O.param_grads(op, node, "fastbp", _arrays(params))
    if op.needs_dx:
        got["x"] = dx
    assert want
    for k in want:
        assert rel_err(got[k], want[k]) < 1e-6, k


def test_the_sparse_ops_take_the_list_of_nonzeros_at_their_gradient_size():
    for name in ("sparse_input_affine", "sparse_input_affine_relu"):
        op = O.op(name)
        params, args = O.inputs(op, op.grad_batch, np.float64, op.grad_size)
        node = O.build(op, params, "fastbp")
        O.forward(op, node, "fastbp", args)
        assert node.listed


def test_every_layer_and_fused_node_has_an_op():
    from fastbp import fused, layers

    covered = {type(O.build(op, O.inputs(op, 1, np.float64)[0], "fastbp")).__name__ for op in O.OPS}
    book = {"Affine", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "SoftmaxWithLoss", "Convolution", "Pooling"}
    book |= {"BatchNormalization", "Dropout"}
    assert book <= covered and set(fused.__all__) <= covered
    assert all(hasattr(layers, name) for name in book)
