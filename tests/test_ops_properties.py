"""Property-based tests of every op of the table (fastbp.ops.nodes.OPS: each layer and fused node)
against its NumPy twin, drawn by hypothesis over the table itself.

Each example draws an op, a dtype, a geometry in the op's own size format (odd feature sizes where the
op allows them), a batch of 1..64 (sometimes 0), special values written at drawn positions of the
table's input (subnormals, -0.0, exact zeros, and large values: +-1e4 logits for the loss) and the
layout the public ``forward``/``backward`` are given (C, Fortran, ``x[::-1]``, a strided slice,
read-only, 0-d where the op takes any shape).

- ``test_public_forward_backward_match_the_twin``: the public forward and backward (and the kept dW,
  db, dgamma ...) equal the twin's on the contiguous copy, within the op's tolerance; a batch of 0 is
  refused with ValueError by the ops that need samples.
- ``test_unchecked_path_matches_the_twin``: the networks' path (``_forward``/``_backward``, where the
  fusion lives: the list of nonzeros, the small-batch loops, the patches kept) on the same draws.
- ``test_nonfinite_input_is_refused_and_changes_nothing``: NaN/inf at a drawn position of x (or dout)
  is refused by the public call with ValueError naming x (dout), and every attribute of the node and
  its layers is as before (by value and identity).
- ``test_nonfinite_weights_give_the_twins_nonfinite_positions``: NaN/inf written into a weight (as a
  diverged training leaves them; the constructors refuse them, the in-place updates cannot) give the
  twin's NaN/inf positions, on the networks' path.
- ``test_nonfinite_dout_gives_the_twins_nonfinite_positions``: the same for an incoming gradient
  holding NaN/inf (a later layer overflowed), dx and every parameter gradient.

Tolerance: the op's (``op.tol``), relative, and absolute relative to the largest value of the result
(a value written at 1e4 makes every product 1e4 times larger, and its rounding with it). The examples
are derandomized (the same ones each run) and bounded to a few seconds each.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fastbp import config
from fastbp.ops import nodes as O

OPS = {op.name: op for op in O.OPS}
ELEMENTWISE = {"relu", "leaky_relu", "sigmoid", "tanh", "dropout"}  # any shape, 0-d and empty too
CONV = {"convolution", "conv_relu", "conv_relu_pool", "conv_relu_pool_first", "pooling"}
SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    # no explain phase: it imports a module that warns (DeprecationWarning), an error under
    # filterwarnings = error while pytest reports the failure
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- draws -------------------------------------------------------------------------------------------


def _sample_shape(data, max_rank=3):
    return tuple(data.draw(st.lists(st.integers(1, 7), min_size=1, max_size=max_rank), label="sample shape"))


def _size(data, op):
    """A geometry in the op's own size format: odd sizes where the op allows them, else the table's."""
    name = op.name
    if name in ELEMENTWISE or name == "batchnorm":
        return _sample_shape(data)
    if name in ("affine", "affine_relu"):
        return (_sample_shape(data, 2), data.draw(st.integers(1, 13), label="outputs"))
    if name.startswith("sparse_input_affine"):
        # widths 50 and 100 are those the list of nonzeros is compiled for; others take BLAS
        m = data.draw(st.sampled_from([50, 100, 1, 3, 7]), label="outputs")
        d = data.draw(st.integers(1, 40), label="features")
        return (d, m, data.draw(st.sampled_from([0.0, 0.05, 0.19, 0.5, 1.0]), label="density"))
    if name == "softmax_ce":
        # (one class: the twin reads integer labels as the one target row, fastbp as indices)
        c = data.draw(st.integers(2, 12), label="classes")
        return (c, data.draw(st.sampled_from(["index", "onehot", "soft"]), label="labels"))
    if name == "small_batch_mlp":
        dims = data.draw(st.lists(st.integers(1, 12), min_size=1, max_size=3), label="dims")
        return (*dims, data.draw(st.integers(2, 10), label="classes"))
    return data.draw(st.sampled_from(op.sizes[1:]), label="geometry")  # (the first: the benchmark's)


def _batch(data, op):
    hi = 64 if op.name not in CONV else 16
    if op.name == "small_batch_mlp":  # the compiled loops up to config.SMALL_BATCH, BLAS beyond
        hi = data.draw(st.sampled_from([config.SMALL_BATCH, 64]), label="batch range")
    if op.name.startswith("sparse_input_affine") and data.draw(st.booleans(), label="listed rows"):
        return data.draw(st.integers(config.CSR_MIN_ROWS, 64), label="batch")
    return data.draw(st.integers(1, hi), label="batch")


def _specials(dtype, big):
    f = np.finfo(dtype)
    tiny = float(f.smallest_subnormal)
    return [0.0, -0.0, tiny, -tiny, 3 * tiny, float(f.tiny) / 2, float(f.tiny), -float(f.tiny), big, -big]


def _poke(data, x, values, label):
    """x with some drawn entries (flat positions) set to drawn values of ``values``."""
    if x.size == 0:
        return x
    k = data.draw(st.integers(0, min(8, x.size)), label=f"{label}: how many specials")
    if k == 0:
        return x
    x = x.copy()
    flat = x.reshape(-1)
    for _ in range(k):
        i = data.draw(st.integers(0, x.size - 1), label=f"{label}: position")
        flat[i] = data.draw(st.sampled_from(values), label=f"{label}: value")
    return x


def _big(op):
    """The large value written among the inputs: +-1e4 logits for the losses, and for the elementwise
    ops; 1e2 where it is summed with others (products, batch statistics)."""
    return 1e4 if op.loss or op.name in ELEMENTWISE else 1e2


def _zero_rows(data, x):
    """Exact zeros: some whole samples zeroed (an empty row of the list of nonzeros, a blank image)."""
    if x.ndim == 0 or x.shape[0] == 0 or not data.draw(st.booleans(), label="zero samples"):
        return x
    x = x.copy()
    x[:: data.draw(st.integers(1, 4), label="zero every")] = 0
    return x


def _layout(data, x, allow_0d=False):
    """(name, a view or copy of x in the drawn layout holding x's values)."""
    kinds = ["C", "F", "reversed", "strided", "readonly"]
    kind = data.draw(st.sampled_from(kinds), label="layout")
    if kind == "F":
        return kind, np.asarray(x, order="F")  # (np.asfortranarray makes 0-d 1-d)
    if kind == "reversed" and x.ndim:  # negative strides on the batch axis: x's values, in x's order
        r = x[::-1].copy()
        return kind, r[::-1]
    if kind == "strided":
        big = np.zeros((*x.shape[:-1], 2 * x.shape[-1]), x.dtype) if x.ndim else None
        if big is None:
            return "C", x.copy()
        big[..., ::2] = x
        return kind, big[..., ::2]
    if kind == "readonly":
        r = x.copy()
        r.flags.writeable = False
        return kind, r
    return kind, x.copy()


def _draw_case(data, op, dtype, size=None, n=None):
    size = _size(data, op) if size is None else size
    n = _batch(data, op) if n is None else n
    seed = data.draw(st.integers(0, 2**16), label="seed")
    params, args = O.inputs(op, n, dtype, size, seed=seed)
    x = args[0]
    if op.name.startswith("sparse_input_affine"):  # the table's density is the drawn one
        r = np.random.default_rng(seed + 1)
        x = np.where(r.random(x.shape) < size[2], r.random(x.shape), 0).astype(dtype)
    x = _zero_rows(data, _poke(data, x, _specials(dtype, _big(op)), "x"))
    return size, n, params, (x, *args[1:])


# -- comparing ---------------------------------------------------------------------------------------


def _close(got, want, op, dtype, what):
    if isinstance(want, tuple):
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _close(g, w, op, dtype, f"{what}[{i}]")
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == dtype, f"{what}: {got.dtype} out for {np.dtype(dtype)} in"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, the twin's {want.shape}"
    _same_nonfinite(got, want, what)
    fin = np.isfinite(want)
    tol = op.tol[dtype]
    scale = max(1.0, float(np.abs(want[fin]).max())) if fin.any() else 1.0
    np.testing.assert_allclose(got[fin], want[fin], rtol=tol, atol=tol * scale, err_msg=what)


def _same_nonfinite(got, want, what):
    for name, f in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        g, w = f(got), f(want)
        assert np.array_equal(g, w), (
            f"{what}: {name} at {np.argwhere(g != w)[:5].tolist()} differs (fastbp {int(g.sum())}, "
            f"twin {int(w.sum())})"
        )


def _copy(out):
    return tuple(np.array(o) for o in out) if isinstance(out, tuple) else np.array(out)


def _arrays(params):
    return [k for k, v in params.items() if isinstance(v, np.ndarray)]


def _twin_pass(op, params, args, dout=None, needs_dx=True):
    """(out, dx, param grads) of the twin chain on contiguous copies (warnings from NaN/inf silenced:
    the twin is the spec of the values, not of the warnings)."""
    twin = O.build(
        op, {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in params.items()}, "numpy"
    )
    with np.errstate(all="ignore"):
        out = _copy(O.forward(op, twin, "numpy", tuple(np.array(a, order="C") for a in args)))
        if dout is None and not op.loss:
            return out, None, None
        dx = O.backward(op, twin, "numpy", None if dout is None else np.array(dout))
    grads = O.param_grads(op, twin, "numpy", _arrays(params))
    return out, (dx if needs_dx else None), {k: np.array(v) for k, v in grads.items()}


def _dout(op, out, dtype, seed):
    if op.loss:
        return None
    return np.random.default_rng(seed).standard_normal(np.shape(out)).astype(dtype)


# -- the properties ----------------------------------------------------------------------------------

REFUSE_EMPTY = {name for name in OPS if name not in ELEMENTWISE}  # every op that needs a sample


@settings(max_examples=200, **SETTINGS)
@given(data=st.data())
def test_public_forward_backward_match_the_twin(data):
    op = OPS[data.draw(st.sampled_from(sorted(OPS)), label="op")]
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    empty = data.draw(st.integers(0, 9), label="empty batch") == 0
    size, n, params, args = _draw_case(data, op, dtype, n=0 if empty else None)
    node = O.build(op, params, "fastbp")
    x = args[0]
    zero_d = op.name in ELEMENTWISE and data.draw(st.integers(0, 5), label="0-d") == 0
    if zero_d:
        x = x.reshape(-1)[:1].reshape(()) if x.size else np.array(0.5, dtype)
        args = (x,)
    if op.seeded:
        np.random.seed(O.SEED)
    _, xl = _layout(data, x)
    kwargs = {"train_flg": True} if "train_flg" in op.kwargs else {}
    if n == 0 and op.name in REFUSE_EMPTY and not zero_d:
        with pytest.raises(ValueError, match="x"):
            node.forward(xl, *args[1:], **kwargs)
        return
    out = _copy(node.forward(xl, *args[1:], **kwargs))
    if op.seeded:
        np.random.seed(O.SEED)
    dout = _dout(op, out, dtype, data.draw(st.integers(0, 99), label="dout seed"))
    if dout is not None:
        dout = _poke(data, dout, _specials(dtype, 1.0)[:6], "dout")
    if op.seeded:
        np.random.seed(O.SEED)
    want, want_dx, want_grads = _twin_pass(op, params, args, dout)
    _close(out, want, op, dtype, f"{op.name} forward")
    dx = node.backward() if op.loss else node.backward(_layout(data, dout)[1])
    if want_dx is not None and dx is not None:
        _close(_copy(dx), want_dx, op, dtype, f"{op.name} dx")
    got_grads = O.param_grads(op, node, "fastbp", _arrays(params))
    for k in _arrays(params):
        _close(np.array(got_grads[k]), want_grads[k], op, dtype, f"{op.name} d{k}")


@settings(max_examples=200, **SETTINGS)
@given(data=st.data())
def test_unchecked_path_matches_the_twin(data):
    """The networks' path: C-contiguous input in the op's dtype (the graph makes it so), the fused
    computation (list of nonzeros, small-batch loops, patches kept)."""
    op = OPS[data.draw(st.sampled_from(sorted(OPS)), label="op")]
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    size, n, params, args = _draw_case(data, op, dtype)
    node = O.build(op, params, "fastbp")
    out = _copy(O.forward(op, node, "fastbp", args))
    dout = _dout(op, out, dtype, 7)
    want, want_dx, want_grads = _twin_pass(op, params, args, dout, op.needs_dx)
    _close(out, want, op, dtype, f"{op.name} forward")
    dx = O.backward(op, node, "fastbp", None if dout is None else dout.copy())
    if op.needs_dx:
        _close(_copy(dx), want_dx, op, dtype, f"{op.name} dx")
    got_grads = O.param_grads(op, node, "fastbp", _arrays(params))
    for k in _arrays(params):
        _close(np.array(got_grads[k]), want_grads[k], op, dtype, f"{op.name} d{k}")


# -- NaN and inf --------------------------------------------------------------------------------------


def _state(node):
    """Every attribute of the node and of its layers: (identity, a copy of the value)."""
    objs = [node, *getattr(node, "layers", ()), *getattr(node, "body", ())]
    if getattr(node, "loss", None) is not None and not isinstance(node.loss, (float, np.floating)):
        objs.append(node.loss)
    snap = {}
    for i, obj in enumerate(objs):
        for k, v in vars(obj).items():
            if k == "_bufs":  # the scratch buffers: which arrays, not their (scratch) values
                snap[(i, k)] = (None, tuple(sorted((b, id(a)) for b, a in (v or {}).items())))
                continue
            snap[(i, k)] = (id(v), _value(v))
    return snap


def _value(v):
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, (tuple, list)):  # (NamedTuples too: compared as plain tuples)
        return tuple(_value(e) for e in v)
    if isinstance(v, dict):
        return {k: (id(e), _value(e)) for k, e in v.items()}
    return v


def _assert_same_state(before, after):
    assert before.keys() == after.keys()
    for k in before:
        (i0, v0), (i1, v1) = before[k], after[k]
        assert i0 == i1, f"{k} was rebound"
        _assert_equal(v0, v1, k)


def _assert_equal(a, b, where):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), f"{where} changed"
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for x, y in zip(a, b, strict=True):
            _assert_equal(x, y, where)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where} changed"
        for k in a:
            assert a[k][0] == b[k][0], f"{where}[{k!r}] was rebound"
            _assert_equal(a[k][1], b[k][1], f"{where}[{k!r}]")
    else:
        assert a is b or a == b or (a != a and b != b), f"{where} changed: {a!r} -> {b!r}"


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_nonfinite_input_is_refused_and_changes_nothing(data):
    op = OPS[data.draw(st.sampled_from(sorted(OPS)), label="op")]
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    size, n, params, args = _draw_case(data, op, dtype)
    node = O.build(op, params, "fastbp")
    kwargs = {"train_flg": True} if "train_flg" in op.kwargs else {}
    if op.seeded:
        np.random.seed(O.SEED)
    out = node.forward(*args, **kwargs)  # a good pass first: the state a bad call must keep
    scores = out[1] if op.scores else out
    bad = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]), label="bad value")
    where = data.draw(st.sampled_from(["x", "dout"] if not op.loss else ["x"]), label="bad argument")
    target = args[0] if where == "x" else np.random.default_rng(0).standard_normal(np.shape(scores))
    target = np.array(target, dtype)
    target.reshape(-1)[data.draw(st.integers(0, target.size - 1), label="bad position")] = bad
    _, target = _layout(data, target)
    before, rng_before = _state(node), np.random.get_state()
    with pytest.raises(ValueError, match=rf"\b{where}\b"):
        if where == "x":
            node.forward(target, *args[1:], **kwargs)
        else:
            node.backward(target)
    _assert_same_state(before, _state(node))
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(rng_before, after, strict=True)), "np.random drawn"


NONFINITE_OPS = sorted(
    name for name, op in OPS.items() if _arrays(op.params(np.random.default_rng(0), np.float64, op.sizes[-1]))
)


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_nonfinite_weights_give_the_twins_nonfinite_positions(data):
    op = OPS[data.draw(st.sampled_from(NONFINITE_OPS), label="op")]
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    # batch >= 2: OpenBLAS computes a (1, 1) @ (1, m) product as a scaling, 0 * NaN = 0 there, so the
    # twin's own NaN positions would not be IEEE's (NumPy's result at batch 1 is not NumPy's at 2)
    size = _size(data, op)
    n = max(2, _batch(data, op))
    size, n, params, args = _draw_case(data, op, dtype, size, n)
    node = O.build(op, params, "fastbp")  # (the constructors refuse NaN/inf: written in place after)
    names = _arrays(params)
    key = data.draw(st.sampled_from(names), label="weight")
    flat = params[key].reshape(-1)
    for _ in range(data.draw(st.integers(1, 3), label="how many")):
        flat[data.draw(st.integers(0, flat.size - 1), label="position")] = data.draw(
            st.sampled_from([np.nan, np.inf, -np.inf]), label="value"
        )
    with np.errstate(all="ignore"):  # (NumPy's products warn of NaN, on both sides)
        out = _copy(O.forward(op, node, "fastbp", args))
    dout = _dout(op, out, dtype, 3)
    want, want_dx, want_grads = _twin_pass(op, params, args, dout, op.needs_dx)
    _close(out, want, op, dtype, f"{op.name} forward with {key} non-finite")
    with np.errstate(all="ignore"):
        dx = O.backward(op, node, "fastbp", None if dout is None else dout.copy())
    if op.needs_dx:
        _close(_copy(dx), want_dx, op, dtype, f"{op.name} dx with {key} non-finite")
    got = O.param_grads(op, node, "fastbp", names)
    for k in names:
        _close(np.array(got[k]), want_grads[k], op, dtype, f"{op.name} d{k} with {key} non-finite")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name, key, value, grad",
    [
        ("conv_relu_pool", "W", np.nan, "dx"),
        ("conv_relu_pool", "b", np.inf, "dW"),
        ("conv_relu_pool_first", "b", np.nan, "dW"),
    ],
)
def test_conv_relu_pool_gradients_with_a_nonfinite_weight_are_the_twins(name, key, value, grad, dtype):
    op = OPS[name]
    params, args = O.inputs(op, 1, dtype, op.sizes[1])
    node = O.build(op, params, "fastbp")
    params[key].reshape(-1)[0] = value  # as a diverged update leaves it (the constructor refuses it)
    with np.errstate(all="ignore"):
        out = _copy(O.forward(op, node, "fastbp", args))
        dout = np.ones_like(out)
        dx = O.backward(op, node, "fastbp", dout.copy())
    want, want_dx, want_grads = _twin_pass(op, params, args, dout, op.needs_dx)
    _close(out, want, op, dtype, "forward")  # (holds)
    got = _copy(dx) if grad == "dx" else np.array(node.conv.dW)
    _close(got, want_dx if grad == "dx" else want_grads["W"], op, dtype, grad)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_small_batch_loss_with_a_nonfinite_weight_met_by_zeros_is_nan(bad):
    from fastbp.nets import TwoLayerNet

    net = TwoLayerNet(3, 4, 2)
    x, t = np.zeros((2, 3)), np.array([0, 1])
    x[:, 1:] = 1
    net.params["W1"][0, 0] = bad  # diverged in place (met only by x[:, 0], all zeros)
    with np.errstate(all="ignore"):
        assert np.isnan(net.loss(np.tile(x, (4, 1)), np.tile(t, 4)))  # batch 8: BLAS, NaN
        assert np.isnan(net.loss(x, t))  # batch 2: the compiled loops
        grads = net.gradient(x, t)  # the one-call step: NumPy's NaN in the loss and the gradients
    assert np.isnan(net.lastLayer.loss) and np.isnan(grads["W2"]).any()


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_nonfinite_dout_gives_the_twins_nonfinite_positions(data):
    """The networks' backward (``_backward``, unchecked) given an incoming gradient holding NaN/inf (a
    later layer overflowed): the twin's NaN/inf positions in dx and in every parameter gradient (a
    zero of x met by an inf of dout is BLAS's NaN, also where the first layer takes the list of
    nonzeros). Batch >= 2: see the OpenBLAS note above."""
    op = OPS[data.draw(st.sampled_from(sorted(n for n, o in OPS.items() if not o.loss)), label="op")]
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    size = _size(data, op)
    size, n, params, args = _draw_case(data, op, dtype, size, max(2, _batch(data, op)))
    node = O.build(op, params, "fastbp")
    out = _copy(O.forward(op, node, "fastbp", args))
    dout = _dout(op, out, dtype, 5)
    flat = dout.reshape(-1)
    for _ in range(data.draw(st.integers(1, 3), label="how many")):
        flat[data.draw(st.integers(0, flat.size - 1), label="position")] = data.draw(
            st.sampled_from([np.nan, np.inf, -np.inf]), label="value"
        )
    want, want_dx, want_grads = _twin_pass(op, params, args, dout, op.needs_dx)
    with np.errstate(all="ignore"):
        dx = O.backward(op, node, "fastbp", dout.copy())
    if op.needs_dx:
        _close(_copy(dx), want_dx, op, dtype, f"{op.name} dx")
    got = O.param_grads(op, node, "fastbp", _arrays(params))
    for k in _arrays(params):
        _close(np.array(got[k]), want_grads[k], op, dtype, f"{op.name} d{k}")
