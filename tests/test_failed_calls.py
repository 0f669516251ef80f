"""A failed call changes nothing: every public entry, given bad input drawn by hypothesis, raises
TypeError/ValueError (FileNotFoundError for a missing file) and leaves every parameter, every
optimizer state array, every BatchNorm running statistic, the global ``np.random`` state and the
layers' book attributes (``x``, ``out``, ``dW``, ``mask`` ..., compared by value and identity) as they
were after the last good call.

- networks (TwoLayerNet, MultiLayerNet, MultiLayerNetExtend with batch norm and dropout, a small
  SimpleConvNet, a Sequential; float32 and float64): ``predict``, ``loss``, ``accuracy``,
  ``gradient``, ``numerical_gradient`` on bad x (dtype, shape, no samples, NaN/inf at a drawn position,
  the other precision holding NaN or a value beyond float32) and bad t (out of range, wrong count,
  float indices, NaN target rows); ``load_params`` of bad files; ``save_params`` into a bad path;
- layers and fused nodes (every op of the table): public ``forward``/``backward`` on bad x/dout;
- optimizers (every one): ``update`` with non-dict params/grads, missing keys, wrong shapes or dtypes,
  after a good update (so the state arrays exist and a fast path is cached).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fastbp import optimizer as OPT
from fastbp.layers import Affine, BatchNormalization, Relu
from fastbp.nets import MultiLayerNet, MultiLayerNetExtend, Sequential, SimpleConvNet, TwoLayerNet
from fastbp.ops import nodes as O

SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
BAD = (TypeError, ValueError)


# -- the state a failed call must keep ------------------------------------------------------------


def _value(v):
    """A copy of v's value: arrays copied; containers element by element with each element's identity;
    any other object by identity alone (its own attributes are snapshotted as an object of their own)."""
    if isinstance(v, np.ndarray):
        return ("array", v.dtype.str, v.shape, v.copy())
    if isinstance(v, (tuple, list)):
        return ("seq", tuple((id(e), _value(e)) for e in v))
    if isinstance(v, dict):
        return ("dict", tuple((k, id(e), _value(e)) for k, e in v.items()))
    if v is None or isinstance(v, (bool, int, float, str, complex, np.generic)):
        return ("scalar", v)
    return ("object",)


def _same(a, b, where):
    assert a[0] == b[0], f"{where}: {a[0]} -> {b[0]}"
    if a[0] == "array":
        assert a[1:3] == b[1:3], f"{where}: {a[1:3]} -> {b[1:3]}"
        assert np.array_equal(a[3], b[3], equal_nan=a[3].dtype.kind in "fc"), f"{where} changed"
    elif a[0] == "seq":
        assert len(a[1]) == len(b[1]), f"{where}: length changed"
        for i, ((ia, va), (ib, vb)) in enumerate(zip(a[1], b[1], strict=True)):
            assert ia == ib, f"{where}[{i}] was rebound"
            _same(va, vb, f"{where}[{i}]")
    elif a[0] == "dict":
        assert [k for k, *_ in a[1]] == [k for k, *_ in b[1]], f"{where}: keys changed"
        for (k, ia, va), (_, ib, vb) in zip(a[1], b[1], strict=True):
            assert ia == ib, f"{where}[{k!r}] was rebound"
            _same(va, vb, f"{where}[{k!r}]")
    elif a[0] == "scalar":
        x, y = a[1], b[1]
        assert x is y or x == y or (x != x and y != y), f"{where}: {x!r} -> {y!r}"


# Scratch buffers, a lock, caches: not state. A fused node's record of its last pass (the list of
# nonzeros, the small-batch loops' arrays, and which of those the layers were last given) is dropped
# when a call is refused partway, since its buffers may be written before the check that refuses; the
# next pass makes it anew, and the book's attributes of the layers it stands for are checked as state.
SCRATCH = {
    "_bufs",
    "_x_bufs",
    "_busy",
    "_plan",
    "_csr",
    "_loops",
    "_built",
    "_stepped",
    "_recorded",
    "_matched",
    "_folded",
}


def _attrs(o) -> dict:
    """An object's attributes: its ``__dict__`` and its ``__slots__`` (graph nodes have slots)."""
    out = dict(getattr(o, "__dict__", {}))
    for cls in type(o).__mro__:
        for k in getattr(cls, "__slots__", ()):
            if k not in ("__dict__", "__weakref__") and hasattr(o, k):
                out[k] = getattr(o, k)
    return out


def _objects(*roots):
    """Every object of fastbp's reachable from roots through attributes (layers, fused nodes, graphs,
    nodes, optimizers), once each."""
    seen, out, todo = set(), [], list(roots)
    while todo:
        o = todo.pop()
        if id(o) in seen or isinstance(o, type) or not (hasattr(o, "__dict__") or hasattr(o, "__slots__")):
            continue
        if not type(o).__module__.startswith("fastbp"):
            continue
        seen.add(id(o))
        out.append(o)
        for k, v in _attrs(o).items():
            if k in SCRATCH:
                continue
            vs = v.values() if isinstance(v, dict) else v if isinstance(v, (tuple, list)) else (v,)
            for e in vs:
                todo.extend(e if isinstance(e, (tuple, list)) else (e,))
    return out


def snapshot(*roots):
    snap = {("root", i): (id(r), _value(r)) for i, r in enumerate(roots) if isinstance(r, dict)}
    for o in _objects(*roots):
        for k, v in _attrs(o).items():
            if k not in SCRATCH:
                snap[(type(o).__name__, id(o), k)] = (id(v), _value(v))
    state = np.random.get_state()
    snap["np.random"] = (None, ("seq", tuple((0, _value(np.asarray(e))) for e in state)))
    return snap


def assert_unchanged(before, after):
    assert before.keys() == after.keys(), set(before) ^ set(after)
    for k in before:
        (ia, va), (ib, vb) = before[k], after[k]
        if k != "np.random":
            assert ia == ib, f"{k} was rebound"
        _same(va, vb, str(k))


def assert_refused(call, exc, before, roots, match=None):
    with pytest.raises(exc, match=match):
        call()
    assert_unchanged(before, snapshot(*roots))


# -- networks ------------------------------------------------------------------------------------------


def _sequential(dtype):
    r = np.random.default_rng(5)
    W1, W2 = r.standard_normal((6, 5)).astype(dtype), r.standard_normal((5, 3)).astype(dtype)
    g, b = np.ones(5, dtype), np.zeros(5, dtype)
    return Sequential(
        [Affine(W1, np.zeros(5, dtype)), BatchNormalization(g, b), Relu(), Affine(W2, np.zeros(3, dtype))]
    )


NETS = {
    "TwoLayerNet": lambda dt: TwoLayerNet(6, 5, 3, dtype=dt),
    "MultiLayerNet": lambda dt: MultiLayerNet(6, [5, 4], 3, dtype=dt),
    "MultiLayerNetExtend": lambda dt: MultiLayerNetExtend(
        6, [5, 4], 3, use_dropout=True, dropout_ration=0.3, use_batchnorm=True, dtype=dt
    ),
    "SimpleConvNet": lambda dt: SimpleConvNet(
        input_dim=(1, 6, 6),
        conv_param={"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1},
        hidden_size=4,
        output_size=3,
        dtype=dt,
    ),
    "Sequential": _sequential,
}
SAMPLE = {"SimpleConvNet": (1, 6, 6)}


def _good(name, dtype, n, seed=0):
    r = np.random.default_rng(seed)
    x = r.random((n, *SAMPLE.get(name, (6,)))).astype(dtype)
    return x, r.integers(0, 3, n)


def _bad_x(data, name, dtype, x):
    """A bad x for a network of dtype, and the exception it must raise."""
    kind = data.draw(
        st.sampled_from(
            ["nan", "int", "str", "none", "complex", "features", "flat", "empty", "other-nan", "other-big"]
        ),
        label="bad x",
    )
    if kind in ("nan", "other-nan", "other-big"):
        other = np.float32 if dtype == np.float64 else np.float64
        if kind == "other-big" and dtype == np.float32:
            v, xb = 1e39, x.astype(np.float64)  # beyond float32: would become inf
        else:
            v = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]), label="value")
            xb = x.astype(other) if kind == "other-nan" else x.copy()
        xb.reshape(-1)[data.draw(st.integers(0, x.size - 1), label="position")] = v
        return xb, ValueError
    if kind == "int":
        return (x * 10).astype(np.int64), TypeError
    if kind == "str":
        return "x", TypeError
    if kind == "none":
        return None, TypeError
    if kind == "complex":
        return x.astype(np.complex128), TypeError
    if kind == "features":
        return np.zeros((x.shape[0], x[0].size + 1), dtype), ValueError
    if kind == "flat":
        return x.reshape(-1), ValueError
    return x[:0], ValueError


def _bad_t(data, t, dtype):
    kind = data.draw(
        st.sampled_from(["range", "negative", "count", "float", "nan-rows", "str"]), label="bad t"
    )
    t = t.copy()
    i = data.draw(st.integers(0, t.size - 1), label="label position")
    if kind == "range":
        t[i] = 3
        return t, ValueError
    if kind == "negative":
        t[i] = -1
        return t, ValueError
    if kind == "count":
        return np.concatenate([t, t[:1]]), ValueError
    if kind == "float":
        return t.astype(np.float64), TypeError
    if kind == "nan-rows":
        rows = np.eye(3, dtype=dtype)[t]
        rows[i, data.draw(st.integers(0, 2), label="class")] = np.nan
        return rows, ValueError
    return np.array(["a"] * t.size), TypeError


def _trained(name, dtype, opt_name):
    """A network after a good step (running statistics, kept attributes, optimizer state all set)."""
    np.random.seed(3)
    net = NETS[name](dtype)
    opt = getattr(OPT, opt_name)()
    x, t = _good(name, dtype, 5)
    opt.update(net.params, net.gradient(x, t))
    net.loss(x, t, train_flg=True)
    net.predict(x)
    return net, opt


@settings(max_examples=120, **SETTINGS)
@given(data=st.data())
def test_bad_network_calls_change_nothing(data):
    name = data.draw(st.sampled_from(sorted(NETS)), label="network")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    net, opt = _trained(name, dtype, data.draw(st.sampled_from(["SGD", "Momentum", "Adam"]), label="opt"))
    x, t = _good(name, dtype, data.draw(st.integers(1, 9), label="batch"), seed=1)
    method = data.draw(
        st.sampled_from(["predict", "loss", "accuracy", "gradient", "numerical_gradient"]), label="method"
    )
    bad = "x" if method == "predict" else data.draw(st.sampled_from(["x", "t"]), label="bad argument")
    if bad == "x":
        x, exc = _bad_x(data, name, dtype, x)
    else:
        t, exc = _bad_t(data, t, dtype)
    args = (x,) if method == "predict" else (x, t)
    before = snapshot(net, opt)
    with pytest.raises(exc) as e:
        getattr(net, method)(*args)
    assert bad in str(e.value), f"{method}: the message names no {bad}: {e.value}"
    assert_unchanged(before, snapshot(net, opt))


def _bad_file(data, tmp, name, dtype, net):
    """A bad file for net.load_params, and the exception it must raise."""
    kind = data.draw(
        st.sampled_from(
            ["missing", "text", "truncated", "extra-key", "missing-key", "shape", "nan", "negvar"]
        ),
        label="bad file",
    )
    path = os.path.join(tmp, f"bad-{kind}.npz")
    if kind == "missing":
        return path, FileNotFoundError
    if kind == "text":
        with open(path, "w") as f:
            f.write("not an archive\n")
        return path, ValueError
    good = os.path.join(tmp, "good.npz")
    net.save_params(good)
    if kind == "truncated":
        with open(good, "rb") as f:
            blob = f.read()
        with open(path, "wb") as f:
            f.write(blob[: data.draw(st.integers(1, len(blob) - 1), label="cut at")])
        return path, ValueError
    arrays = dict(np.load(good))
    key = data.draw(st.sampled_from(sorted(k for k in arrays if not k.startswith("__"))), label="key")
    if kind == "extra-key":
        arrays["W99"] = np.zeros(3)
    elif kind == "missing-key":
        del arrays[key]
    elif kind == "shape":
        arrays[key] = np.zeros(arrays[key].size + 1, arrays[key].dtype)
    elif kind == "nan":
        a = arrays[key].astype(arrays[key].dtype)
        a.reshape(-1)[data.draw(st.integers(0, a.size - 1), label="position")] = np.nan
        arrays[key] = a
    else:
        var = [k for k in arrays if k.startswith("running_var")]
        if not var:
            return os.path.join(tmp, "no", "such", "dir", "p.npz"), FileNotFoundError
        arrays[var[0]] = arrays[var[0]] - 5.0
    np.savez(path, **arrays)
    return path, ValueError


@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_bad_files_change_nothing(data, tmp_path_factory):
    name = data.draw(st.sampled_from(sorted(NETS)), label="network")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    net, opt = _trained(name, dtype, "Momentum")
    tmp = str(tmp_path_factory.mktemp("files"))
    if data.draw(st.booleans(), label="save"):
        kind = data.draw(st.sampled_from(["no-dir", "is-dir"]), label="bad path")
        path = os.path.join(tmp, "no", "such", "p.npz") if kind == "no-dir" else tmp
        before, listing = snapshot(net, opt), sorted(os.listdir(tmp))
        with pytest.raises((FileNotFoundError, IsADirectoryError, ValueError)):
            net.save_params(path)
        assert_unchanged(before, snapshot(net, opt))
        assert sorted(os.listdir(tmp)) == listing  # no temporary file left behind
        return
    path, exc = _bad_file(data, tmp, name, dtype, net)
    before = snapshot(net, opt)
    with pytest.raises(exc):
        net.load_params(path)
    assert_unchanged(before, snapshot(net, opt))


# -- layers and fused nodes: the public forward and backward -------------------------------------------


@settings(max_examples=120, **SETTINGS)
@given(data=st.data())
def test_bad_layer_calls_change_nothing(data):
    op = data.draw(st.sampled_from(O.OPS), label="op")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    size = data.draw(st.sampled_from(op.sizes[1:] or op.sizes), label="size")
    params, args = O.inputs(op, 3, dtype, size)
    node = O.build(op, params, "fastbp")
    kwargs = {"train_flg": True} if "train_flg" in op.kwargs else {}
    np.random.seed(0)
    out = node.forward(*args, **kwargs)
    scores = out[1] if op.scores else out
    where = data.draw(st.sampled_from(["x"] if op.loss else ["x", "dout"]), label="argument")
    good = args[0] if where == "x" else np.ones(np.shape(scores), dtype)
    kind = data.draw(st.sampled_from(["nan", "int", "str", "shape", "other-nan"]), label="bad")
    if kind == "nan" or kind == "other-nan":
        bad = (
            good.astype(np.float64 if dtype == np.float32 else np.float32)
            if kind == "other-nan"
            else good.copy()
        )
        bad.reshape(-1)[data.draw(st.integers(0, bad.size - 1), label="position")] = data.draw(
            st.sampled_from([np.nan, np.inf, -np.inf]), label="value"
        )
        exc = ValueError
    elif kind == "int":
        bad, exc = np.ones(np.shape(good), np.int64), TypeError
    elif kind == "str":
        bad, exc = "bad", TypeError
    elif where == "x":  # one flat vector: no op but the elementwise ones takes it
        bad, exc = good.reshape(-1).copy(), ValueError
    else:
        bad, exc = np.zeros((*np.shape(good)[:-1], np.shape(good)[-1] + 1), dtype), ValueError
    if kind == "shape" and op.name in ("relu", "leaky_relu", "sigmoid", "tanh", "dropout") and where == "x":
        return  # (the elementwise layers take any shape)
    if kind == "int" and where == "x" and op.name in ("affine", "convolution", "affine_relu"):
        exc = TypeError  # (float16 is converted; integers never)
    before = snapshot(node, params)
    with pytest.raises(exc, match=where):
        if where == "x":
            node.forward(bad, *args[1:], **kwargs)
        else:
            node.backward(bad)
    assert_unchanged(before, snapshot(node, params))


# -- optimizers ------------------------------------------------------------------------------------------

OPTIMIZERS = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


@settings(max_examples=120, **SETTINGS)
@given(data=st.data())
def test_bad_updates_change_nothing(data):
    opt = getattr(OPT, data.draw(st.sampled_from(OPTIMIZERS), label="optimizer"))()
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    r = np.random.default_rng(0)
    params = {"W1": r.standard_normal((4, 3)).astype(dtype), "b1": r.standard_normal(3).astype(dtype)}
    grads = {k: r.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
    for _ in range(data.draw(st.integers(1, 2), label="good steps")):  # twice: the cached fast path
        opt.update(params, grads)
    key = data.draw(st.sampled_from(sorted(params)), label="key")
    kind = data.draw(
        st.sampled_from(["grads-list", "grads-none", "params-list", "missing", "shape", "str", "object"]),
        label="bad",
    )
    p, g, exc = params, grads, TypeError
    if kind == "grads-list":
        g = list(grads.values())
    elif kind == "grads-none":
        g = None
    elif kind == "params-list":
        p = list(params.values())
    elif kind == "missing":
        g, exc = {k: v for k, v in grads.items() if k != key}, ValueError
    elif kind == "shape":
        g, exc = {**grads, key: np.zeros(grads[key].size + 1, dtype)}, ValueError
    elif kind == "str":
        g = {**grads, key: np.array(["a"] * grads[key].size).reshape(grads[key].shape)}
    else:
        g = {**grads, key: np.empty(grads[key].shape, object)}
    before = snapshot(opt, params, grads)
    with pytest.raises(exc):
        opt.update(p, g)
    assert_unchanged(before, snapshot(opt, params, grads))


def test_the_snapshot_sees_each_kind_of_change():
    """The property above could not fail if the snapshot missed state: each change below is seen."""
    net, opt = _trained("MultiLayerNetExtend", np.float64, "Momentum")
    names = {k[2] for k in snapshot(net, opt) if isinstance(k[0], str) and len(k) == 3}
    assert {"params", "running_mean", "running_var", "x", "dW", "mask", "v"} <= names
    changes = [
        lambda: net.params["W1"].__setitem__((0, 0), 7.0),
        lambda: net.layers["BatchNorm1"].running_var.__setitem__(0, 7.0),
        lambda: opt.v["W1"].__setitem__((0, 0), 7.0),
        lambda: setattr(net.layers["Affine2"], "x", net.layers["Affine2"].x.copy()),
        lambda: net.layers["Dropout1"].mask.__setitem__((0, 0), not net.layers["Dropout1"].mask[0, 0]),
        lambda: np.random.rand(),
    ]
    for change in changes:
        before = snapshot(net, opt)
        change()
        with pytest.raises(AssertionError):
            assert_unchanged(before, snapshot(net, opt))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype, other", [(np.float64, np.float32), (np.float32, np.float64)])
@pytest.mark.parametrize("method", ["predict", "loss", "gradient"])
@pytest.mark.parametrize("name", ["TwoLayerNet", "SimpleConvNet"])
def test_nonfinite_x_of_the_other_precision_is_refused(name, method, dtype, other, value):
    """x converted from the other float precision (a copy the network makes) is scanned too: NaN/inf
    in it is refused naming x, changing nothing."""
    net, opt = _trained(name, dtype, "SGD")
    x, t = _good(name, other, 9, seed=2)
    x.reshape(-1)[17] = value
    before = snapshot(net, opt)
    with pytest.raises(ValueError, match=r"x contains NaN or inf"):
        getattr(net, method)(*((x,) if method == "predict" else (x, t)))
    assert_unchanged(before, snapshot(net, opt))
