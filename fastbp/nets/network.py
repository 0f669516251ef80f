"""``Network``: the book's network surface over a graph; ``Sequential``: a network from a list of layers.

A network's graph takes inputs ``(x, t)``; its last node is the loss, and the value before the loss
is named ``"scores"``. ``loss`` is one forward pass of the graph, ``gradient`` one forward and one
backward pass; ``predict`` runs the graph up to the scores. Nothing else runs a step: the speed of a
fastbp network lives in the fused nodes its graph is rewritten into when it is built
(``fastbp.fused.rules``), and a ``Sequential`` of fastbp layers gets the same fusions as the book's
networks, which are built on it.

Inputs are checked once per call (shape, dtype, NaN/inf, label range) and converted to the network's
``dtype``; bad input raises ``TypeError``/``ValueError`` naming the argument, before any state
changes. ``gradient`` returns the layers' gradient arrays, which the next call overwrites (copy to
keep).

One network object holds the state of one forward pass (as the book's layers do): it must not be used
from two threads at once. ``loss``, ``gradient``, ``predict`` and ``accuracy`` raise RuntimeError when
they find another thread inside the same network.
"""

from __future__ import annotations

import json
import math
import os
import threading

import numpy as np

from .. import _checks as _chk
from .. import _threads, config
from .. import checkpoint as _ckpt
from ..fused.base import Fused
from ..fused.rules import fuse
from ..gradient import numerical_gradient as _numerical_gradient
from ..graph import Graph
from ..reference import layers as _ref_layers
from . import _describe
from ._step import TrainStep

__all__ = ["Network"]


def _busy_error(where: str) -> RuntimeError:
    return RuntimeError(
        f"{where}: this network is in use by another thread (a network holds the state of one pass: give "
        "each thread its own network)"
    )


class _Entry:
    """``with net._entered(where):`` -- a plain class (a generator context manager costs ~1 us a call)."""

    __slots__ = ("lock", "where")

    def __init__(self, lock, where: str):
        self.lock, self.where = lock, where

    def __enter__(self):
        if not self.lock.acquire(blocking=False):
            raise _busy_error(self.where)

    def __exit__(self, kind, err, tb):
        self.lock.release()
        if kind is not None and issubclass(kind, _chk.NonFiniteInput):
            raise ValueError(f"{self.where}: {err}") from None
        return False


class Network(TrainStep):
    """The book's network surface (``params``, ``predict``, ``loss``, ``accuracy``, ``gradient``,
    ``numerical_gradient``, ``save_params``/``load_params``) over ``graph``.

    ``graph``: a ``Graph`` with inputs ``("x", "t")`` whose last node is the loss layer, reading
    ``("scores", "t")``. ``params``: ``{name: (layer, attribute)}`` -- which layer attribute holds
    each parameter (default: every layer's ``W``, ``b`` (``W1, b1, W2, ...``) and batch norm's
    ``gamma``, ``beta`` (``gamma1, beta1, ...``), in node order). ``input_shape``: one sample's shape
    (default from the first layer: an Affine's feature count; a Convolution takes any image size).
    The graph is rewritten once with the fusion rules (``fastbp.fused.rules``): the layers are the
    same objects, run by fused nodes where a rule applies.
    """

    _spec = None  # (class name, constructor arguments) for the networks that can be rebuilt from them

    def __init__(self, graph: Graph, params=None, *, input_shape=None):
        self._init_graph(graph, params, input_shape)

    # -- construction -----------------------------------------------------------------------------
    def _init_graph(self, graph: Graph, params=None, input_shape=None):
        _threads.ensure_applied()  # fastbp's thread setting, the first time a network is built
        where = type(self).__name__
        if not isinstance(graph, Graph):
            raise TypeError(f"{where}: graph must be a fastbp.graph.Graph, got {type(graph).__name__}")
        if len(graph.inputs) != 2 or not graph.nodes:
            raise ValueError(f"{where}: graph must take inputs (x, t) and end in a loss node")
        last = graph.nodes[-1]
        if last.inputs != ("scores", graph.inputs[1]) or last.n_grads != 1:
            raise ValueError(
                f"{where}: the graph's last node must be the loss, reading ('scores', {graph.inputs[1]!r}) "
                f"with n_grads=1 (the labels get no gradient); got inputs {last.inputs}, "
                f"n_grads={last.n_grads}"
            )
        layers = [node.layer for node in graph.nodes]
        owners = _default_owners(layers) if params is None else dict(params)
        for key, (layer, attr) in owners.items():
            if not isinstance(getattr(layer, attr, None), np.ndarray):
                raise ValueError(f"{where}: params[{key!r}]: the layer has no array attribute {attr!r}")
        self._owners = owners
        self.params = {k: getattr(layer, attr) for k, (layer, attr) in owners.items()}
        dtypes = {a.dtype for a in self.params.values() if a.dtype.kind == "f"}
        self.dtype = np.dtype(dtypes.pop()) if len(dtypes) == 1 else np.dtype(np.float64)
        self.backend = (
            "numpy" if all(type(x).__module__ == _ref_layers.__name__ for x in layers) else "fastbp"
        )
        self._sample_shape = _input_shape(layers[0], input_shape)
        self.output_size = _output_size(layers)
        self._graph = fuse(graph, keep=("scores",))
        self._graph.validate = False  # the network checks its inputs once; the nodes run unchecked
        self._input_checked = all(
            getattr(n.layer, "checks_finite_input", False)
            for n in self._graph.nodes
            if graph.inputs[0] in n.inputs
        )
        # A float32 batch goes to a float64 network's graph unconverted when every node reading it
        # takes one (a first layer that lists its nonzeros widens them as it goes: one pass, no copy).
        # Asked at each call (``_f32_ok``): the user may have rebound the first W to float32.
        readers = [n.layer for n in self._graph.nodes if graph.inputs[0] in n.inputs]
        self._f32_readers = tuple(readers) if all(hasattr(r, "takes_float32") for r in readers) else ()
        self._takes_float32 = self.dtype == np.float64 and bool(self._f32_readers)
        self._grad_table = [(key, layer, "d" + attr) for key, (layer, attr) in owners.items()]
        self._loss_layer = graph.nodes[-1].layer
        self._busy = threading.Lock()
        self._x_bufs = {}  # two conversion buffers per shape, alternated (see _x)

    @property
    def graph(self) -> Graph:
        """The graph the network runs (after fusion)."""
        return self._graph

    @property
    def loss_layer(self):
        """The loss layer (the book's ``lastLayer`` or ``last_layer``); its ``loss`` is the last batch's."""
        return self._loss_layer

    def node_of(self, layer):
        """The graph node that runs ``layer``: a fused node holding it, or the layer itself."""
        for node in self._graph.nodes:
            n = node.layer
            for inner in getattr(n, "body", (n,)):  # (the small-batch MLP node runs its body's nodes)
                if inner is layer or layer in getattr(inner, "layers", ()):
                    return inner
        raise ValueError(f"{type(self).__name__}.node_of: the layer is not in this network")

    # -- input checks -----------------------------------------------------------------------------
    def _x(self, x, where: str, scan: bool = False) -> np.ndarray:
        """x as a C-contiguous batch of the network's dtype and sample shape, checked.

        In the common case the NaN/inf scan is left to the graph's first node when it makes one in its
        own pass over x (a sparse first layer); ``scan`` makes it here, before anything runs."""
        shape = self._sample_shape
        if (  # the common case, checked in few steps
            type(x) is np.ndarray
            and (x.dtype == self.dtype or (x.dtype == np.float32 and self._f32_ok()))
            and x.shape[1:] == shape
            and x.ndim == len(shape) + 1
            and x.shape[0]
            and x.flags.c_contiguous
        ):
            if scan or not self._input_checked:  # (else the first node checks it in its own pass)
                _chk.finite(x, "x", where)
            return x
        x = _chk.float_array(x, "x", where, min_ndim=2, convert=True)
        n = x.shape[0]
        if n == 0:
            raise ValueError(f"{where}: x holds no samples (shape {x.shape})")
        if len(shape) == 1:  # a flat input: any sample shape with that many features, as Affine takes
            if math.prod(x.shape[1:]) != shape[0]:
                raise ValueError(
                    f"{where}: x has {math.prod(x.shape[1:])} features per sample (shape {x.shape}), "
                    f"the network expects {shape[0]}"
                )
        elif x.ndim != len(shape) + 1 or any(
            s is not None and s != v for s, v in zip(shape, x.shape[1:], strict=False)
        ):
            want = ", ".join("*" if s is None else str(s) for s in shape)
            raise ValueError(f"{where}: x must have shape (N, {want}), got {x.shape}")
        target = x.shape if None in shape else (n, *shape)
        if x.dtype == self.dtype and x.flags.c_contiguous:
            x = x.reshape(target)
            _chk.finite(x, "x", where)
            return x
        # Two buffers, taking turns on success: a refused input (a NaN found halfway through the copy)
        # must not overwrite the buffer the last pass's layers still hold as their input.
        bufs = self._x_bufs.get(target)
        if bufs is None or bufs[0].dtype != self.dtype:
            bufs = self._x_bufs[target] = [np.empty(target, self.dtype), np.empty(target, self.dtype)]
        buf = _chk.finite_copy(x.reshape(target), bufs[0], "x", where)
        bufs.reverse()
        return buf

    def _f32_ok(self) -> bool:
        return self._takes_float32 and all(r.takes_float32 for r in self._f32_readers)

    def _t(self, t, n: int, where: str) -> np.ndarray:
        return _chk.labels(t, n, self.output_size, where, self.dtype)[0]

    # -- the passes -------------------------------------------------------------------------------
    def _entered(self, where: str) -> _Entry:
        """The network to one caller at a time: a second thread gets a RuntimeError (a network holds
        the state of one pass, as the book's layers do), and a NaN found by a node names ``where``."""
        return _Entry(self._busy, where)

    def _scores(self, x, train_flg=False):
        return self._graph.forward(x, None, train_flg=train_flg, grad=False, until="scores")

    def _loss(self, x, t, train_flg=False):
        """The loss of checked inputs (with any penalty the network adds)."""
        loss = self._graph.forward(x, t, train_flg=train_flg, grad=False)
        penalty = self._penalty()
        return loss + loss.dtype.type(penalty) if penalty else loss

    def _penalty(self):
        return 0

    # -- the book's surface -----------------------------------------------------------------------
    def predict(self, x, train_flg=False):
        """The scores (before softmax) for a batch x -> (N, output_size), a new array.

        ``train_flg`` matters only for networks with Dropout or BatchNormalization.
        """
        with self._entered("predict"):
            return np.array(self._scores(self._x(x, "predict"), train_flg))

    def loss(self, x, t, train_flg=False):
        """Mean cross-entropy of softmax(predict(x)) against labels t (indices or one-hot rows)."""
        with self._entered("loss"):
            x = self._x(x, "loss")
            return self._loss(x, self._t(t, x.shape[0], "loss"), train_flg)

    def accuracy(self, x, t):
        """Fraction of samples whose highest score is the label (t: indices or one-hot rows).

        Runs in chunks of ``config.EVAL_ROWS`` samples (the whole training set of MNIST is one call in
        the book's scripts: nothing full-size is converted or kept)."""
        with self._entered("accuracy"):
            x = _chk.float_array(x, "x", "accuracy", min_ndim=2, convert=True)
            if x.shape[0] == 0:
                raise ValueError(f"accuracy: x holds no samples (shape {x.shape})")
            _chk.finite(x, "x", "accuracy")  # once, naming the index in the whole x
            t = self._t(t, x.shape[0], "accuracy")
            if t.ndim != 1:
                t = np.argmax(t, axis=1)
            step = max(1, int(config.EVAL_ROWS))
            hits = 0
            for i in range(0, x.shape[0], step):
                scores = self._scores(self._x(x[i : i + step], "accuracy"))
                hits += int(np.sum(np.argmax(scores, axis=1) == t[i : i + step]))
            return hits / float(x.shape[0])

    def gradient(self, x, t):
        """Backpropagated gradients of ``loss(x, t)`` (training mode), one per key of ``params``."""
        busy = self._busy  # (the entry written out: this is the hot path of every training step)
        if not busy.acquire(blocking=False):
            raise _busy_error("gradient")
        try:
            x = self._x(x, "gradient")
            return self._gradient(x, self._t(t, x.shape[0], "gradient"))[1]
        except _chk.NonFiniteInput as e:
            raise ValueError(f"gradient: {e}") from None
        finally:
            busy.release()

    def _gradient(self, x, t):
        """(loss, grads) of checked inputs: one forward and one backward pass."""
        graph = self._graph
        loss = graph.forward(x, t, train_flg=True, grad=True)
        graph.backward(1.0)
        grads = {key: getattr(layer, attr) for key, layer, attr in self._grad_table}
        if graph.skipped:  # a node no gradient reached (a user layer's backward returned None)
            self._zero_unreached(grads, graph.skipped)
        return loss, self._decay(grads)

    def _zero_unreached(self, grads, skipped):
        """Zeros for the parameters of layers the backward pass did not reach: no gradient flows
        to them, and their gradient attributes still hold an earlier pass's."""
        unreached = {id(layer) for node in skipped for layer in getattr(node.layer, "layers", (node.layer,))}
        for key, layer, _ in self._grad_table:
            if id(layer) in unreached:
                grads[key] = np.zeros_like(self.params[key])

    def _decay(self, grads):
        return grads

    def numerical_gradient(self, x, t):
        """Central-difference gradients of ``loss(x, t)`` for every parameter (slow; for checking)."""
        with self._entered("numerical_gradient"):
            x = self._x(x, "numerical_gradient", scan=True)  # before any weight is perturbed
            t = self._t(t, x.shape[0], "numerical_gradient")

            def loss_w(_):
                return self._loss(x, t, True)  # in training mode, as the book's

            return {key: _numerical_gradient(loss_w, self.params[key]) for key in self._owners}

    def extra_state(self):
        """Arrays beyond ``params`` that a checkpoint must carry (BatchNormalization's running stats)."""
        state = {}
        bns = [layer for layer, _ in self._owners.values() if hasattr(layer, "running_var")]
        for i, bn in enumerate(dict.fromkeys(bns), start=1):
            if bn.running_mean is None:  # created on the first forward, as the book; a checkpoint needs them
                bn.running_mean = np.zeros_like(bn.gamma)
                bn.running_var = np.zeros_like(bn.gamma)
            state[f"running_mean{i}"], state[f"running_var{i}"] = bn.running_mean, bn.running_var
        return state

    def _remember(self, name: str, **args) -> None:
        """Record the constructor arguments ``describe`` reports (as JSON would give them back)."""
        self._spec = (name, json.loads(json.dumps(args, default=_describe.plain)))

    def describe(self) -> dict | None:
        """What rebuilds this network: ``{"class": ..., "args": {...}, "dtype": ...}`` for the book's
        networks (saved with the parameters; ``fastbp.nets.load`` reads it), None for others."""
        if self._spec is None:
            return None
        name, args = self._spec
        return {
            "format": "fastbp-network",
            "version": 1,
            "class": name,
            "args": args,
            "dtype": self.dtype.name,
        }

    def save_params(self, file_name="params.pkl"):
        """Write ``params`` to ``file_name`` as an .npz archive (atomically; no pickle, whatever the
        name: the default is the book's ``params.pkl``), with the network's description
        (``describe``), so that ``fastbp.nets.load`` and ``fastbp evaluate`` can rebuild it."""
        _ckpt.save(file_name, {**self.params, **self.extra_state()}, self.describe())

    def load_params(self, file_name="params.pkl", *, allow_pickle=False):
        """Read parameters saved by ``save_params`` (or the book's pickle of a dict of arrays) into
        ``params``, in place (the layers see them).

        The file must hold exactly this network's keys with its shapes; float arrays of the other
        precision are converted; batch norm's running variances must be >= 0. A pickle is read
        weights-only (dicts, lists, numbers, strings, arrays); ``allow_pickle=True`` unpickles anything
        (it can run arbitrary code: only for files you trust). Nothing changes on error.
        """
        where = f"{type(self).__name__}.load_params"
        saved, mine = _ckpt.read_description(file_name, where), self.describe()
        if saved is not None and mine is not None and _describe.kind(saved) != _describe.kind(mine):
            raise ValueError(
                f"{where}: {os.fspath(file_name)!r} holds the parameters of {_describe.signature(saved)}, "
                f"not of this {_describe.signature(mine)}"
            )
        target = {**self.params, **self.extra_state()}
        _ckpt.load_into(
            file_name,
            target,
            allow_pickle=allow_pickle,
            where=where,
            nonnegative=[k for k in target if k.startswith("running_var")],
        )
        for key, (layer, attr) in self._owners.items():  # the layers hold the arrays in params again
            setattr(layer, attr, self.params[key])


def _default_owners(layers) -> dict:
    owners, counts = {}, {"W": 0, "gamma": 0}
    for layer in _flat_layers(layers):
        if isinstance(getattr(layer, "W", None), np.ndarray):
            counts["W"] += 1
            owners[f"W{counts['W']}"] = (layer, "W")
            if isinstance(getattr(layer, "b", None), np.ndarray):
                owners[f"b{counts['W']}"] = (layer, "b")
        elif isinstance(getattr(layer, "gamma", None), np.ndarray):
            counts["gamma"] += 1
            owners[f"gamma{counts['gamma']}"] = (layer, "gamma")
            owners[f"beta{counts['gamma']}"] = (layer, "beta")
    return owners


def _flat_layers(layers):
    for layer in layers:
        yield from layer.layers if isinstance(layer, Fused) else (layer,)


def _input_shape(first, given):
    if given is not None:
        return tuple(given)
    W = getattr(first, "W", None)
    if isinstance(W, np.ndarray) and W.ndim == 2:
        return (W.shape[0],)
    if isinstance(W, np.ndarray) and W.ndim == 4:
        return (W.shape[1], None, None)
    raise ValueError("Network: cannot tell the input's shape from the first layer: pass input_shape")


def _output_size(layers) -> int:
    for layer in reversed(list(_flat_layers(layers))):
        W = getattr(layer, "W", None)
        if isinstance(W, np.ndarray) and W.ndim == 2:
            return W.shape[1]
    raise ValueError("Network: cannot tell the number of classes: the last parameter layer is not an Affine")
