"""The book's networks, built from fastbp's layers on a ``Graph``.

Each network keeps the book's public surface (``params``, ``layers``, ``predict``, ``loss``,
``accuracy``, ``numerical_gradient``, ``gradient``) and draws its initial weights from the global
``np.random`` in the book's order, so ``np.random.seed(s)`` gives the book's initial weights.

Beyond the book, every network takes two keyword-only arguments:

- ``dtype``: ``np.float64`` (the book's numbers) or ``np.float32`` (faster). Weights are drawn in
  float64 and rounded, so both start from the same draws.
- ``backend``: ``"fastbp"`` (compiled kernels) or ``"numpy"`` (``fastbp.reference``, the book's way).

Inputs are checked once per call (shape, dtype, NaN/inf, label range) and converted to ``dtype``;
bad input raises ``TypeError``/``ValueError`` naming the argument, before any state changes.
``gradient`` returns the layers' gradient arrays, which the next call overwrites (copy to keep).
"""

from __future__ import annotations

import math
import numbers
import operator
from collections import OrderedDict

import numpy as np

from . import _checks as _chk
from . import checkpoint as _ckpt
from . import layers as _fast_layers
from .gradient import numerical_gradient as _numerical_gradient
from .graph import Graph
from .kernels import mlp as _mlp
from .kernels import regularizers as _reg
from .reference import kernels as _ref_kernels
from .reference import layers as _ref_layers

__all__ = ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet"]

BACKENDS = {"fastbp": _fast_layers, "numpy": _ref_layers}


def _layer_module(backend: str):
    try:
        return BACKENDS[backend]
    except (KeyError, TypeError):
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {backend!r}") from None


def _float_dtype(dtype, where: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _chk.FLOAT_DTYPES:
        raise TypeError(f"{where}: dtype must be float32 or float64, got {dtype!r}")
    return dt


def _size(v, name: str, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {v!r}")
    return int(v)


def _init_std(weight_init_std, where: str):
    """The book's choices: a number, 'relu'/'he' (sqrt(2/n_in)) or 'sigmoid'/'xavier' (sqrt(1/n_in))."""
    if isinstance(weight_init_std, str):
        key = weight_init_std.lower()
        if key in ("relu", "he"):
            return lambda n_in: np.sqrt(2.0 / n_in)
        if key in ("sigmoid", "xavier"):
            return lambda n_in: np.sqrt(1.0 / n_in)
        raise ValueError(
            f"{where}: weight_init_std must be a number, 'relu'/'he' or 'sigmoid'/'xavier', "
            f"got {weight_init_std!r}"
        )
    if (
        isinstance(weight_init_std, bool)
        or not isinstance(weight_init_std, numbers.Real)
        or not np.isfinite(weight_init_std)
    ):
        raise ValueError(
            f"{where}: weight_init_std must be a finite number or a name, got {weight_init_std!r}"
        )
    return lambda n_in: weight_init_std


class _Net:
    """What the book's networks share: input checks, the forward/backward passes and the metrics."""

    dtype: np.dtype
    input_size: int
    output_size: int

    def _setup(self, backend: str, dtype, where: str):
        self._L = _layer_module(backend)
        self.backend = backend
        self.dtype = _float_dtype(dtype, where)

    def _build_graph(self):
        """The body (all layers but the loss) as a sequential graph; fastbp layers run unchecked.

        With the compiled backend, an Affine followed by a Relu becomes one fused node.
        """
        L = _fast_layers
        body = self.layers.values() if isinstance(self.layers, dict) else self.layers
        nodes, layers = [], list(body)
        i = 0
        while i < len(layers):
            a = layers[i]
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            third = layers[i + 2] if i + 2 < len(layers) else None
            if (
                type(a) is L.Convolution
                and type(nxt) is L.Relu
                and type(third) is L.Pooling
                and third.pad == 0
            ):
                nodes.append(L.ConvReluPool(a, nxt, third, needs_dx=bool(nodes)))  # first: no dx
                i += 3
            elif type(nxt) is L.Relu and type(a) in (L.Affine, L.Convolution):
                nodes.append(L.WithRelu(a, nxt))
                i += 2
            else:
                nodes.append(a)
                i += 1
        self._graph = Graph.sequential(nodes, validate=False)
        first = nodes[0].layer if nodes and type(nodes[0]) is L.WithRelu else (nodes or [None])[0]
        self._sparse_first = None
        if type(first) is L.Affine:  # it sees the images: mostly zeros, a list of nonzeros may pay
            first.sparse_input = True
            self._sparse_first = first
        # A ReLU MLP (Affine+ReLU nodes, then one Affine) can take the compiled small-batch path.
        fused = [type(n) is _fast_layers.WithRelu and type(n.layer) is _fast_layers.Affine for n in nodes]
        mlp = nodes and all(fused[:-1]) and type(nodes[-1]) is _fast_layers.Affine
        self._mlp_layers = (
            ([n.layer for n in nodes[:-1]] + [nodes[-1]], [n.relu for n in nodes[:-1]]) if mlp else None
        )
        self._mlp_cache = None

    def _x(self, x, where: str) -> np.ndarray:
        """x as a C-contiguous (N, input_size) array of the network's dtype, checked.

        A float input of the other precision (the book's float32 images into a float64 network) is
        converted and checked in one compiled pass into a buffer the network reuses.
        """
        if (  # the common case, checked in few steps: a C-contiguous (N, input_size) batch in our dtype
            type(x) is np.ndarray
            and x.dtype == self.dtype
            and x.ndim == 2
            and x.shape[0]
            and x.shape[1] == self.__dict__.get("input_size", -1)
            and "input_dim" not in self.__dict__
            and x.flags.c_contiguous
        ):
            return self._checked_finite(x, where)
        x = _chk.float_array(x, "x", where, min_ndim=2, convert=True)
        n = x.shape[0]
        d = math.prod(x.shape[1:])
        if n == 0:
            raise ValueError(f"{where}: x holds no samples (shape {x.shape})")
        image = getattr(self, "input_dim", None)
        if image is not None:  # a convolutional network takes (N, C, H, W) as the book's
            if x.shape[1:] != tuple(image):
                raise ValueError(
                    f"{where}: x must have shape (N, {', '.join(map(str, image))}), got {x.shape}"
                )
            shape = x.shape
        elif d != self.input_size:
            raise ValueError(
                f"{where}: x has {d} features per sample (shape {x.shape}), "
                f"the network expects {self.input_size}"
            )
        else:
            shape = (n, d)
        if x.dtype == self.dtype and x.flags.c_contiguous:
            return self._checked_finite(x.reshape(shape), where)
        buf = self.__dict__.get("_x_buf")
        if buf is None or buf.shape != shape:
            buf = self._x_buf = np.empty(shape, self.dtype)
        return _chk.finite_copy(x.reshape(shape), buf, "x", where)

    def _checked_finite(self, x, where):
        """x after the NaN/inf check; for a sparse first layer its list of nonzeros is the check."""
        first = self.__dict__.get("_sparse_first")
        if first is not None and x.shape[0] >= 8:
            if first._precompact(x) >= 0:  # listed, and all finite
                return x
        _chk.finite(x, "x", where)  # (after a -2 from the listing: raises, naming the first bad index)
        return x

    def _t(self, t, n: int, where: str) -> np.ndarray:
        return _chk.labels(t, n, self.output_size, where, self.dtype)[0]

    @property
    def loss_layer(self):
        """The loss layer (the book's ``lastLayer`` or ``last_layer``); its ``loss`` is the last batch's."""
        return self._last_layer

    # At or below this many samples a ReLU MLP runs in compiled loops (kernels/mlp.py) instead of BLAS.
    # Measured here (MNIST images, SGD step): loops win at batch 1-4 (TwoLayerNet f64 34 vs 49 us at 1,
    # 46 vs 55 at 4; MultiLayerNet 87 vs 142, 140 vs 167) and tie or lose from 8 on.
    SMALL_BATCH = 4

    def _small(self, n):
        """The buffers of the compiled small-batch path for batch n, or None when it does not apply."""
        if self._mlp_layers is None or n > self.SMALL_BATCH:
            return None
        affines = self._mlp_layers[0]
        c = self._mlp_cache
        if (
            c is not None
            and c[0] == n
            and all(map(operator.is_, map(_get_W, affines), c[1]))
            and all(map(operator.is_, map(_get_b, affines), c[2]))
        ):
            return c
        Ws = tuple(a.W for a in affines)
        bs = tuple(a.b for a in affines)
        dt = self.dtype
        if not all(
            W.dtype == dt and W.flags.c_contiguous and b.dtype == dt for W, b in zip(Ws, bs, strict=True)
        ):
            return None  # weights rebound to arrays the loops cannot take: the layered path copes
        hs = tuple(a._buffer("out", (n, a.W.shape[1]), dt) for a in affines)
        ds = tuple(a._buffer("small_d", (n, a.W.shape[1]), dt) for a in affines)
        dWs = tuple(a._buffer("dW", a.W.shape, dt) for a in affines)
        dbs = tuple(a._buffer("db", a.b.shape, dt) for a in affines)
        y = self._last_layer._buffer("y", (n, Ws[-1].shape[1]), dt)
        grads = tuple(  # the gradient dict's items, in the book's order: W1, b1, W2, ...
            item
            for i, (dW, db) in enumerate(zip(dWs, dbs, strict=True), start=1)
            for item in ((f"W{i}", dW), (f"b{i}", db))
        )
        self._mlp_cache = c = (n, Ws, bs, hs, ds, dWs, dbs, y, grads)
        return c

    def _small_state(self, x, c):
        """Leave the layers' attributes as if they had run one by one (the book's scripts read them)."""
        affines, relus = self._mlp_layers
        hs = c[3]
        prev = x
        for a, h, dW, db in zip(affines, hs, c[5], c[6], strict=True):
            a.x, a.original_x_shape, a._out, a.dW, a.db = prev, prev.shape, h, dW, db
            a._csr = None  # a later layer.backward must use this x, not an older batch's nonzero list
            prev = h
        for r, h in zip(relus, hs, strict=False):
            r.out = h

    def _scores(self, x, train_flg=False):
        c = self._small(x.shape[0])
        if c is None:
            return self._graph.forward(x, train_flg=train_flg)
        _mlp.mlp_forward(x, c[1], c[2], c[3])
        self._small_state(x, c)
        return c[3][-1]

    def _loss(self, x, t, train_flg=False):
        """Loss of checked inputs (the last layer's own forward for the NumPy backend)."""
        scores = self._scores(x, train_flg)
        last = self._last_layer
        if hasattr(last, "_forward"):
            return last._forward(scores, t)
        return last.forward(scores, t)

    def predict(self, x, train_flg=False):
        """The scores (before softmax) for a batch x -> (N, output_size), a new array.

        ``train_flg`` matters only for networks with Dropout or BatchNormalization.
        """
        return np.array(self._scores(self._x(x, "predict"), train_flg))

    def loss(self, x, t, train_flg=False):
        """Mean cross-entropy of softmax(predict(x)) against labels t (indices or one-hot rows)."""
        x = self._x(x, "loss")
        return self._loss(x, self._t(t, x.shape[0], "loss"), train_flg)

    def accuracy(self, x, t):
        """Fraction of samples whose highest score is the label (t: indices or one-hot rows)."""
        x = self._x(x, "accuracy")
        t = self._t(t, x.shape[0], "accuracy")
        y = np.argmax(self._scores(x), axis=1)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return np.sum(y == t) / float(x.shape[0])

    def numerical_gradient(self, x, t):
        """Central-difference gradients of ``loss(x, t)`` for every parameter (slow; for checking)."""
        x = self._x(x, "numerical_gradient")
        t = self._t(t, x.shape[0], "numerical_gradient")

        def loss_w(_):
            return self._loss(x, t, True)  # in training mode, as the book's (dropout draws new masks)

        return {key: _numerical_gradient(loss_w, self.params[key]) for key in self._param_keys()}

    def _param_keys(self):
        """The order the book's gradient dicts (and numerical_gradient's draws) go in."""
        return list(self.params)

    def _owners(self):
        """{param key: (layer, attribute)}: which layer holds which parameter array."""
        return {}

    def _relink(self):
        """Point every layer at the arrays now in ``params``, as the book's load_params does."""
        for key, (layer, attr) in self._owners().items():
            setattr(layer, attr, self.params[key])

    def _extra_state(self):
        """Arrays beyond ``params`` that a checkpoint must carry (BatchNormalization's running stats)."""
        return {}

    def _backprop(self, x, t):
        last = self._last_layer
        c = self._small(x.shape[0])
        if c is not None:  # the compiled small-batch path: scores, loss, and back, no BLAS
            if t.ndim == 1 and type(last) is _fast_layers.SoftmaxWithLoss:  # the whole step in one call
                loss = _mlp.mlp_step(x, t, c[1], c[2], c[3], c[4], c[5], c[6], c[7])
                last.y, last.t, last.loss = c[7], t, x.dtype.type(loss)
            else:
                _mlp.mlp_forward(x, c[1], c[2], c[3])
                last._forward(c[3][-1], t)
                last._backward(1.0, out=c[4][-1])
                _mlp.mlp_backward(x, c[1], c[3], c[4], c[5], c[6])
            self._small_state(x, c)
            return c
        self._loss(x, t, True)
        dout = last._backward(1.0) if hasattr(last, "_backward") else last.backward(1)
        self._graph.backward(dout)
        return None

    def save_params(self, file_name="params.pkl"):
        """Write ``params`` to ``file_name`` as an .npz archive (atomically; no pickle, whatever the name:
        the default is the book's ``params.pkl``)."""
        _ckpt.save(file_name, {**self.params, **self._extra_state()})

    def load_params(self, file_name="params.pkl", *, allow_pickle=False):
        """Read parameters saved by ``save_params`` into ``params``, in place (the layers see them).

        The file must hold exactly this network's keys with its shapes; float arrays of the other
        precision are converted. The book's pickle files are refused unless ``allow_pickle=True``
        (unpickling can run arbitrary code: only for files you trust). Nothing changes on error.
        """
        target = {**self.params, **self._extra_state()}
        _ckpt.load_into(
            file_name, target, allow_pickle=allow_pickle, where=f"{type(self).__name__}.load_params"
        )
        self._relink()


class TwoLayerNet(_Net):
    """The book's chapter 5 network: Affine1 -> Relu1 -> Affine2 -> SoftmaxWithLoss.

    ``TwoLayerNet(input_size, hidden_size, output_size, weight_init_std=0.01)``: W1, W2 are drawn as
    ``weight_init_std * np.random.randn(...)`` in that order, b1, b2 are zeros. ``layers`` is the
    book's OrderedDict (``Affine1``, ``Relu1``, ``Affine2``) and ``lastLayer`` the loss layer; their
    ``W``/``b`` are the very arrays in ``params``.
    """

    def __init__(
        self,
        input_size,
        hidden_size,
        output_size,
        weight_init_std=0.01,
        *,
        dtype=np.float64,
        backend="fastbp",
    ):
        where = "TwoLayerNet"
        self.input_size = _size(input_size, "input_size", where)
        self.hidden_size = _size(hidden_size, "hidden_size", where)
        self.output_size = _size(output_size, "output_size", where)
        if (
            isinstance(weight_init_std, bool)
            or not isinstance(weight_init_std, numbers.Real)
            or not np.isfinite(weight_init_std)
        ):
            raise ValueError(f"{where}: weight_init_std must be a finite number, got {weight_init_std!r}")
        self._setup(backend, dtype, where)
        dt = self.dtype
        self.params = {}
        self.params["W1"] = (weight_init_std * np.random.randn(input_size, hidden_size)).astype(
            dt, copy=False
        )
        self.params["b1"] = np.zeros(hidden_size, dt)
        self.params["W2"] = (weight_init_std * np.random.randn(hidden_size, output_size)).astype(
            dt, copy=False
        )
        self.params["b2"] = np.zeros(output_size, dt)

        L = self._L
        self.layers = OrderedDict()
        self.layers["Affine1"] = L.Affine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = L.Relu()
        self.layers["Affine2"] = L.Affine(self.params["W2"], self.params["b2"])
        self.lastLayer = L.SoftmaxWithLoss()
        self._build_graph()

    @property
    def _last_layer(self):
        return self.lastLayer

    def _owners(self):
        a1, a2 = self.layers["Affine1"], self.layers["Affine2"]
        return {"W1": (a1, "W"), "b1": (a1, "b"), "W2": (a2, "W"), "b2": (a2, "b")}

    def gradient(self, x, t):
        """Backpropagated gradients of ``loss(x, t)``: ``{'W1', 'b1', 'W2', 'b2'}``."""
        x = self._x(x, "gradient")
        c = self._backprop(x, self._t(t, x.shape[0], "gradient"))
        if c is not None:  # the small-batch path's buffers are the layers' dW, db
            return dict(c[8])
        a1, a2 = self.layers["Affine1"], self.layers["Affine2"]
        return {"W1": a1.dW, "b1": a1.db, "W2": a2.dW, "b2": a2.db}


class MultiLayerNet(_Net):
    """The book's fully connected network (``common/multi_layer_net.py``).

    ``MultiLayerNet(input_size, hidden_size_list, output_size, activation='relu',
    weight_init_std='relu', weight_decay_lambda=0)``: layers ``Affine1, Activation_function1, ...,
    Affine{L+1}`` and ``last_layer`` (SoftmaxWithLoss); params ``W1..W{L+1}``, ``b1..b{L+1}``, drawn as
    ``scale * np.random.randn(n_in, n_out)`` in layer order. ``activation``: 'relu' or 'sigmoid' (and,
    beyond the book, 'tanh' or 'leaky_relu'). ``weight_decay_lambda``: L2 decay, added to the loss as
    ``0.5 lambda sum(W^2)`` per weight and to each weight's gradient as ``lambda W``.
    """

    ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "leaky_relu": "LeakyRelu"}

    def __init__(
        self,
        input_size,
        hidden_size_list,
        output_size,
        activation="relu",
        weight_init_std="relu",
        weight_decay_lambda=0,
        *,
        dtype=np.float64,
        backend="fastbp",
    ):
        where = "MultiLayerNet"
        self.input_size = _size(input_size, "input_size", where)
        self.output_size = _size(output_size, "output_size", where)
        if isinstance(hidden_size_list, (str, bytes)) or not hasattr(hidden_size_list, "__iter__"):
            raise ValueError(
                f"{where}: hidden_size_list must be a list of positive integers, got {hidden_size_list!r}"
            )
        self.hidden_size_list = [_size(h, "hidden_size_list entries", where) for h in hidden_size_list]
        self.hidden_layer_num = len(self.hidden_size_list)
        if activation not in self.ACTIVATIONS:
            raise ValueError(
                f"{where}: activation must be one of {sorted(self.ACTIVATIONS)}, got {activation!r}"
            )
        self.activation = activation
        scale_for = _init_std(weight_init_std, where)
        self.weight_init_std = weight_init_std
        self.weight_decay_lambda = _chk_nonneg(weight_decay_lambda, "weight_decay_lambda", where)
        self._setup(backend, dtype, where)

        sizes = [self.input_size, *self.hidden_size_list, self.output_size]
        self.params = {}
        for i in range(1, len(sizes)):
            w = scale_for(sizes[i - 1]) * np.random.randn(sizes[i - 1], sizes[i])
            self.params[f"W{i}"] = w.astype(self.dtype, copy=False)
            self.params[f"b{i}"] = np.zeros(sizes[i], self.dtype)

        L = self._L
        act = getattr(L, self.ACTIVATIONS[activation])
        self.layers = OrderedDict()
        for i in range(1, len(sizes)):
            self.layers[f"Affine{i}"] = L.Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            if i < len(sizes) - 1:
                self.layers[f"Activation_function{i}"] = act()
        self.last_layer = L.SoftmaxWithLoss()
        self._build_graph()

    @property
    def _last_layer(self):
        return self.last_layer

    def _affines(self):
        names = self.__dict__.get("_affine_names")
        if names is None or len(names) != self.hidden_layer_num + 1:
            names = self._affine_names = [f"Affine{i}" for i in range(1, self.hidden_layer_num + 2)]
            self._grad_names = [(f"W{i}", f"b{i}") for i in range(1, self.hidden_layer_num + 2)]
        layers = self.layers
        return [layers[name] for name in names]

    def _owners(self):
        owners = {}
        for i, a in enumerate(self._affines(), start=1):
            owners[f"W{i}"], owners[f"b{i}"] = (a, "W"), (a, "b")
        return owners

    def _loss(self, x, t, train_flg=False):
        loss = super()._loss(x, t, train_flg)
        lam = self.weight_decay_lambda
        if lam:
            penalty = _reg.l2_penalty if self.backend == "fastbp" else _ref_kernels.l2_penalty
            decay = sum(0.5 * lam * penalty(a.W) for a in self._affines())
            loss = loss + loss.dtype.type(decay)
        return loss

    def gradient(self, x, t):
        """Backpropagated gradients of ``loss(x, t)`` (weight decay included): ``W1, b1, ..., b{L+1}``."""
        x = self._x(x, "gradient")
        c = self._backprop(x, self._t(t, x.shape[0], "gradient"))
        lam = self.weight_decay_lambda
        if c is not None and not lam:  # the small-batch path's buffers are the layers' dW, db
            return dict(c[8])
        grads = {}
        for i, (a, (kW, kb)) in enumerate(zip(self._affines(), self._grad_names, strict=True), start=1):
            dW = a.dW
            if (
                lam and self.backend == "fastbp"
            ):  # into a buffer of the network's: layer.dW stays the data part
                bufs = self.__dict__.setdefault("_decay_bufs", {})
                out = bufs.get(i)
                if out is None or out.shape != dW.shape or out.dtype != dW.dtype:
                    out = bufs[i] = np.empty_like(dW)
                _reg.l2_backward(dW, a.W, lam, out)
                dW = out
            elif lam:
                dW = _ref_kernels.l2_backward(dW, a.W, lam)
            grads[kW], grads[kb] = dW, a.db
        return grads


_get_W, _get_b = operator.attrgetter("W"), operator.attrgetter("b")


def _chk_nonneg(v, name, where):
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v) or v < 0:
        raise ValueError(f"{where}: {name} must be a finite number >= 0, got {v!r}")
    return v


class MultiLayerNetExtend(MultiLayerNet):
    """The book's ``common/multi_layer_net_extend.py``: MultiLayerNet with optional BatchNormalization
    and Dropout after each hidden Affine.

    ``MultiLayerNetExtend(input_size, hidden_size_list, output_size, activation='relu',
    weight_init_std='relu', weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5,
    use_batchnorm=False)`` (``dropout_ration`` is the book's spelling). Hidden layer i is
    ``Affine{i}``, ``BatchNorm{i}`` (gamma{i} = 1, beta{i} = 0), ``Activation_function{i}``,
    ``Dropout{i}``. ``predict``/``loss`` take ``train_flg`` (False by default); ``gradient`` and
    ``numerical_gradient`` run in training mode, so dropout draws new masks on every evaluation.
    """

    def __init__(
        self,
        input_size,
        hidden_size_list,
        output_size,
        activation="relu",
        weight_init_std="relu",
        weight_decay_lambda=0,
        use_dropout=False,
        dropout_ration=0.5,
        use_batchnorm=False,
        *,
        dtype=np.float64,
        backend="fastbp",
    ):
        super().__init__(
            input_size,
            hidden_size_list,
            output_size,
            activation,
            weight_init_std,
            weight_decay_lambda,
            dtype=dtype,
            backend=backend,
        )
        self.use_dropout, self.dropout_ration, self.use_batchnorm = (
            bool(use_dropout),
            dropout_ration,
            bool(use_batchnorm),
        )
        L = self._L
        act = getattr(L, self.ACTIVATIONS[self.activation])
        layers = OrderedDict()
        for i in range(1, self.hidden_layer_num + 1):
            layers[f"Affine{i}"] = self.layers[f"Affine{i}"]
            if self.use_batchnorm:
                self.params[f"gamma{i}"] = np.ones(self.hidden_size_list[i - 1], self.dtype)
                self.params[f"beta{i}"] = np.zeros(self.hidden_size_list[i - 1], self.dtype)
                layers[f"BatchNorm{i}"] = L.BatchNormalization(
                    self.params[f"gamma{i}"], self.params[f"beta{i}"]
                )
            layers[f"Activation_function{i}"] = act()
            if self.use_dropout:
                layers[f"Dropout{i}"] = L.Dropout(dropout_ration)
        last = self.hidden_layer_num + 1
        layers[f"Affine{last}"] = self.layers[f"Affine{last}"]
        self.layers = layers
        self._build_graph()

    def _param_keys(self):
        keys = []
        for i in range(1, self.hidden_layer_num + 2):  # the book's order: W, b, gamma, beta per layer
            keys += [f"W{i}", f"b{i}"]
            if self.use_batchnorm and i <= self.hidden_layer_num:
                keys += [f"gamma{i}", f"beta{i}"]
        return keys

    def _bns(self):
        if not self.use_batchnorm:
            return []
        return [self.layers[f"BatchNorm{i}"] for i in range(1, self.hidden_layer_num + 1)]

    def _owners(self):
        owners = super()._owners()
        for i, bn in enumerate(self._bns(), start=1):
            owners[f"gamma{i}"], owners[f"beta{i}"] = (bn, "gamma"), (bn, "beta")
        return owners

    def _extra_state(self):
        state = {}
        for i, bn in enumerate(self._bns(), start=1):
            if (
                bn.running_mean is None
            ):  # created on the first forward, as the book; a checkpoint needs them now
                bn.running_mean = np.zeros_like(bn.gamma)
                bn.running_var = np.zeros_like(bn.gamma)
            state[f"running_mean{i}"], state[f"running_var{i}"] = bn.running_mean, bn.running_var
        return state

    def gradient(self, x, t):
        """Backpropagated gradients (training mode, weight decay included), with gamma/beta for BN,
        in the book's key order."""
        grads = super().gradient(x, t)
        for i, bn in enumerate(self._bns(), start=1):
            grads[f"gamma{i}"], grads[f"beta{i}"] = bn.dgamma, bn.dbeta
        return {k: grads[k] for k in self._param_keys()}


class _ConvNet(_Net):
    """The convolutional networks' shared parts: (N, C, H, W) input and the book's batched accuracy."""

    @property
    def _last_layer(self):
        return self.last_layer

    def accuracy(self, x, t, batch_size=100):
        """Correct predictions over batches of ``batch_size``, divided by N -- as the book does it, so
        when N is not a multiple of batch_size the samples of the last partial batch are not counted
        (the book's under-count)."""
        x = self._x(x, "accuracy")
        t = self._t(t, x.shape[0], "accuracy")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"accuracy: batch_size must be a positive integer, got {batch_size!r}")
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        acc = 0
        for i in range(int(x.shape[0] / batch_size)):
            tx, tt = x[i * batch_size : (i + 1) * batch_size], t[i * batch_size : (i + 1) * batch_size]
            acc += np.sum(np.argmax(self._scores(tx), axis=1) == tt)
        return acc / x.shape[0]

    def _grads(self, param_layers):
        grads = {}
        for i, layer in enumerate(param_layers, start=1):
            grads[f"W{i}"], grads[f"b{i}"] = layer.dW, layer.db
        return grads


def _conv_param(cp, where, name):
    keys = ("filter_num", "filter_size", "pad", "stride")
    if not isinstance(cp, dict) or any(k not in cp for k in keys):
        raise ValueError(f"{where}: {name} must be a dict with keys {keys}, got {cp!r}")
    return [
        _size(cp["filter_num"], f"{name}['filter_num']", where),
        _size(cp["filter_size"], f"{name}['filter_size']", where),
        cp["pad"],
        cp["stride"],
    ]


class SimpleConvNet(_ConvNet):
    """The book's chapter 7 network: Conv1 -> Relu1 -> Pool1 (2x2, stride 2) -> Affine1 -> Relu2 ->
    Affine2 -> SoftmaxWithLoss.

    ``SimpleConvNet(input_dim=(1, 28, 28), conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0,
    'stride': 1}, hidden_size=100, output_size=10, weight_init_std=0.01)``; params W1 (FN, C, FS, FS),
    b1, W2, b2, W3, b3, drawn as ``weight_init_std * np.random.randn`` in that order.
    """

    def __init__(
        self,
        input_dim=(1, 28, 28),
        conv_param=None,
        hidden_size=100,
        output_size=10,
        weight_init_std=0.01,
        *,
        dtype=np.float64,
        backend="fastbp",
    ):
        where = "SimpleConvNet"
        if conv_param is None:
            conv_param = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}
        fn, fs, pad, stride = _conv_param(conv_param, where, "conv_param")
        if len(input_dim) != 3:
            raise ValueError(f"{where}: input_dim must be (C, H, W), got {input_dim!r}")
        self.input_dim = tuple(_size(v, "input_dim entries", where) for v in input_dim)
        self.output_size = _size(output_size, "output_size", where)
        hidden_size = _size(hidden_size, "hidden_size", where)
        self._setup(backend, dtype, where)
        conv_out = (self.input_dim[1] - fs + 2 * pad) / stride + 1
        if conv_out < 2:
            raise ValueError(
                f"{where}: the {fs}x{fs} filter leaves a {conv_out:g} wide output: too small to pool"
            )
        if self.input_dim[1] != self.input_dim[2]:
            raise ValueError(f"{where}: the book's network takes square images, got input_dim {input_dim!r}")
        if conv_out != int(conv_out) or int(conv_out) % 2:
            raise ValueError(
                f"{where}: conv_param gives a {conv_out:g} wide convolution output; the book's network needs "
                "an even whole number (its 2x2 pooling and Affine1's size assume one)"
            )
        pool_out = int(fn * (conv_out / 2) * (conv_out / 2))
        dt = self.dtype
        std = weight_init_std
        self.params = {
            "W1": (std * np.random.randn(fn, self.input_dim[0], fs, fs)).astype(dt, copy=False),
            "b1": np.zeros(fn, dt),
            "W2": (std * np.random.randn(pool_out, hidden_size)).astype(dt, copy=False),
            "b2": np.zeros(hidden_size, dt),
            "W3": (std * np.random.randn(hidden_size, self.output_size)).astype(dt, copy=False),
            "b3": np.zeros(self.output_size, dt),
        }
        L = self._L
        self.layers = OrderedDict()
        self.layers["Conv1"] = L.Convolution(self.params["W1"], self.params["b1"], stride, pad)
        self.layers["Relu1"] = L.Relu()
        self.layers["Pool1"] = L.Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers["Affine1"] = L.Affine(self.params["W2"], self.params["b2"])
        self.layers["Relu2"] = L.Relu()
        self.layers["Affine2"] = L.Affine(self.params["W3"], self.params["b3"])
        self.last_layer = L.SoftmaxWithLoss()
        self._build_graph()

    def _owners(self):
        layers = [self.layers["Conv1"], self.layers["Affine1"], self.layers["Affine2"]]
        return {k: (layer, k[0]) for i, layer in enumerate(layers, start=1) for k in (f"W{i}", f"b{i}")}

    def gradient(self, x, t):
        """Backpropagated gradients of ``loss(x, t)``: W1, b1 (Conv1), W2, b2, W3, b3."""
        x = self._x(x, "gradient")
        self._backprop(x, self._t(t, x.shape[0], "gradient"))
        return self._grads([self.layers["Conv1"], self.layers["Affine1"], self.layers["Affine2"]])


DEEP_CONV_PARAMS = (
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 16, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 32, "filter_size": 3, "pad": 2, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
    {"filter_num": 64, "filter_size": 3, "pad": 1, "stride": 1},
)


class DeepConvNet(_ConvNet):
    """The book's chapter 8 network: six 3x3 convolutions (16, 16, 32, 32, 64, 64 filters) with ReLU and a
    2x2 max pool after each pair, then Affine -> Relu -> Dropout(0.5) -> Affine -> Dropout(0.5) ->
    SoftmaxWithLoss.

    ``DeepConvNet(input_dim=(1, 28, 28), conv_param_1=..., ..., conv_param_6=..., hidden_size=50,
    output_size=10)``; He initialisation with the book's fixed fan-in list (valid for the defaults).
    ``layers`` is a list, as the book's; the parameter layers sit at indices 0, 2, 5, 7, 10, 12, 15,
    18. ``loss`` always runs in training mode (dropout on), as the book's does.
    """

    PARAM_LAYERS = (0, 2, 5, 7, 10, 12, 15, 18)

    def __init__(
        self,
        input_dim=(1, 28, 28),
        conv_param_1=None,
        conv_param_2=None,
        conv_param_3=None,
        conv_param_4=None,
        conv_param_5=None,
        conv_param_6=None,
        hidden_size=50,
        output_size=10,
        *,
        dtype=np.float64,
        backend="fastbp",
    ):
        where = "DeepConvNet"
        given = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5, conv_param_6)
        cps = [dict(DEEP_CONV_PARAMS[i]) if cp is None else cp for i, cp in enumerate(given)]
        cps = [_conv_param(cp, where, f"conv_param_{i + 1}") for i, cp in enumerate(cps)]
        if len(input_dim) != 3:
            raise ValueError(f"{where}: input_dim must be (C, H, W), got {input_dim!r}")
        self.input_dim = tuple(_size(v, "input_dim entries", where) for v in input_dim)
        self.output_size = _size(output_size, "output_size", where)
        hidden_size = _size(hidden_size, "hidden_size", where)
        self._setup(backend, dtype, where)
        # the book's fan-ins, fixed for the default architecture
        pre_node_nums = np.array(
            [1 * 3 * 3, 16 * 3 * 3, 16 * 3 * 3, 32 * 3 * 3, 32 * 3 * 3, 64 * 3 * 3, 64 * 4 * 4, hidden_size]
        )
        scales = np.sqrt(2.0 / pre_node_nums)
        dt = self.dtype
        self.params = {}
        channels = self.input_dim[0]
        for i, (fn, fs, _, _) in enumerate(cps):
            self.params[f"W{i + 1}"] = (scales[i] * np.random.randn(fn, channels, fs, fs)).astype(
                dt, copy=False
            )
            self.params[f"b{i + 1}"] = np.zeros(fn, dt)
            channels = fn
        self.params["W7"] = (scales[6] * np.random.randn(64 * 4 * 4, hidden_size)).astype(dt, copy=False)
        self.params["b7"] = np.zeros(hidden_size, dt)
        self.params["W8"] = (scales[7] * np.random.randn(hidden_size, self.output_size)).astype(
            dt, copy=False
        )
        self.params["b8"] = np.zeros(self.output_size, dt)

        L = self._L
        p = self.params
        conv = [L.Convolution(p[f"W{i + 1}"], p[f"b{i + 1}"], cps[i][3], cps[i][2]) for i in range(6)]
        self.layers = [
            conv[0], L.Relu(), conv[1], L.Relu(), L.Pooling(pool_h=2, pool_w=2, stride=2),
            conv[2], L.Relu(), conv[3], L.Relu(), L.Pooling(pool_h=2, pool_w=2, stride=2),
            conv[4], L.Relu(), conv[5], L.Relu(), L.Pooling(pool_h=2, pool_w=2, stride=2),
            L.Affine(p["W7"], p["b7"]), L.Relu(), L.Dropout(0.5),
            L.Affine(p["W8"], p["b8"]), L.Dropout(0.5),
        ]  # fmt: skip
        self.last_layer = L.SoftmaxWithLoss()
        self._build_graph()

    def _owners(self):
        layers = [self.layers[i] for i in self.PARAM_LAYERS]
        return {k: (layer, k[0]) for i, layer in enumerate(layers, start=1) for k in (f"W{i}", f"b{i}")}

    def loss(self, x, t):
        """The loss in training mode (dropout on, drawing masks), as the book's DeepConvNet.loss."""
        x = self._x(x, "loss")
        return self._loss(x, self._t(t, x.shape[0], "loss"), True)

    def gradient(self, x, t):
        """Backpropagated gradients of the training-mode loss: W1, b1, ..., W8, b8."""
        x = self._x(x, "gradient")
        self._backprop(x, self._t(t, x.shape[0], "gradient"))
        return self._grads([self.layers[i] for i in self.PARAM_LAYERS])
