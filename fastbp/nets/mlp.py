"""The book's fully connected networks: TwoLayerNet (chapter 5), MultiLayerNet and MultiLayerNetExtend
(``common/multi_layer_net*.py``), built as ``Network``s over a chain of layers.

Each draws its initial weights from the global ``np.random`` in the book's order, so
``np.random.seed(s)`` gives the book's initial weights. Beyond the book, every network takes two
keyword-only arguments: ``dtype`` (``np.float64``, the book's numbers, or ``np.float32``; weights are
drawn in float64 and rounded, so both start from the same draws) and ``backend`` (``"fastbp"``,
compiled kernels, or ``"numpy"``, ``fastbp.reference``, the book's way -- through the same graph).
"""

from __future__ import annotations

import numbers
from collections import OrderedDict

import numpy as np

from ..kernels import regularizers as _reg
from ..reference import kernels as _ref_kernels
from . import _args as _a
from .network import Network
from .sequential import chain

__all__ = ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend"]


class TwoLayerNet(Network):
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
        self.input_size = _a.size(input_size, "input_size", where)
        self.hidden_size = _a.size(hidden_size, "hidden_size", where)
        output_size = _a.size(output_size, "output_size", where)
        if (
            isinstance(weight_init_std, bool)
            or not isinstance(weight_init_std, numbers.Real)
            or not np.isfinite(weight_init_std)
        ):
            raise ValueError(f"{where}: weight_init_std must be a finite number, got {weight_init_std!r}")
        L = _a.layer_module(backend)
        dt = _a.float_dtype(dtype, where)
        self._remember(where, input_size=input_size, hidden_size=hidden_size, output_size=output_size,
                       weight_init_std=weight_init_std)  # fmt: skip
        self.params = {}
        self.params["W1"] = (weight_init_std * np.random.randn(input_size, hidden_size)).astype(
            dt, copy=False
        )
        self.params["b1"] = np.zeros(hidden_size, dt)
        self.params["W2"] = (weight_init_std * np.random.randn(hidden_size, output_size)).astype(
            dt, copy=False
        )
        self.params["b2"] = np.zeros(output_size, dt)

        self.layers = OrderedDict()
        self.layers["Affine1"] = L.Affine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = L.Relu()
        self.layers["Affine2"] = L.Affine(self.params["W2"], self.params["b2"])
        self.lastLayer = L.SoftmaxWithLoss()
        self._init_graph(chain(self.layers.values(), self.lastLayer))


class MultiLayerNet(Network):
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
        self.input_size = _a.size(input_size, "input_size", where)
        output_size = _a.size(output_size, "output_size", where)
        if isinstance(hidden_size_list, (str, bytes)) or not hasattr(hidden_size_list, "__iter__"):
            raise ValueError(
                f"{where}: hidden_size_list must be a list of positive integers, got {hidden_size_list!r}"
            )
        self.hidden_size_list = [_a.size(h, "hidden_size_list entries", where) for h in hidden_size_list]
        self.hidden_layer_num = len(self.hidden_size_list)
        if activation not in self.ACTIVATIONS:
            raise ValueError(
                f"{where}: activation must be one of {sorted(self.ACTIVATIONS)}, got {activation!r}"
            )
        self.activation = activation
        scale_for = _a.init_std(weight_init_std, where)
        self.weight_init_std = weight_init_std
        self.weight_decay_lambda = _a.nonneg(weight_decay_lambda, "weight_decay_lambda", where)
        self._L = L = _a.layer_module(backend)
        self.dtype = _a.float_dtype(dtype, where)
        self._remember(where, input_size=input_size, hidden_size_list=self.hidden_size_list,
                       output_size=output_size, activation=activation, weight_init_std=weight_init_std,
                       weight_decay_lambda=weight_decay_lambda)  # fmt: skip

        sizes = [self.input_size, *self.hidden_size_list, output_size]
        self.params = {}
        for i in range(1, len(sizes)):
            w = scale_for(sizes[i - 1]) * np.random.randn(sizes[i - 1], sizes[i])
            self.params[f"W{i}"] = w.astype(self.dtype, copy=False)
            self.params[f"b{i}"] = np.zeros(sizes[i], self.dtype)

        act = getattr(L, self.ACTIVATIONS[activation])
        self.layers = OrderedDict()
        for i in range(1, len(sizes)):
            self.layers[f"Affine{i}"] = L.Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            if i < len(sizes) - 1:
                self.layers[f"Activation_function{i}"] = act()
        self.last_layer = L.SoftmaxWithLoss()
        self._finish()

    def _finish(self):
        """Build the graph over ``layers`` (a subclass adds its layers first)."""
        self._init_graph(chain(self.layers.values(), self.last_layer))

    def _affines(self):
        return [self.layers[f"Affine{i}"] for i in range(1, self.hidden_layer_num + 2)]

    def _penalty(self):
        """The L2 weight decay 0.5 lambda sum(W^2) over every weight, added to the loss."""
        lam = self.weight_decay_lambda
        if not lam:
            return 0
        penalty = _reg.l2_penalty if self.backend == "fastbp" else _ref_kernels.l2_penalty
        return sum(0.5 * lam * penalty(a.W) for a in self._affines())

    def _has_decay(self) -> bool:
        return bool(self.weight_decay_lambda)

    def _decay(self, grads):
        """Each weight's gradient gains lambda W, into a buffer of the network's (the layer's dW stays
        the data part)."""
        lam = self.weight_decay_lambda
        if not lam:
            return grads
        bufs = self.__dict__.setdefault("_decay_bufs", {})
        for i, a in enumerate(self._affines(), start=1):
            key = f"W{i}"
            dW = grads[key]
            if self.backend == "fastbp":
                out = bufs.get(i)
                if out is None or out.shape != dW.shape or out.dtype != dW.dtype:
                    out = bufs[i] = np.empty_like(dW)
                _reg.l2_backward(dW, a.W, lam, out)
                grads[key] = out
            else:
                grads[key] = _ref_kernels.l2_backward(dW, a.W, lam)
        return grads


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
        self.use_dropout, self.dropout_ration, self.use_batchnorm = (
            bool(use_dropout),
            dropout_ration,
            bool(use_batchnorm),
        )
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

    def _finish(self):
        """Insert BatchNormalization and Dropout after each hidden Affine, then build the graph."""
        name, args = self._spec
        self._remember("MultiLayerNetExtend", **args, use_dropout=self.use_dropout,
                       dropout_ration=self.dropout_ration, use_batchnorm=self.use_batchnorm)  # fmt: skip
        dropout_ration = self.dropout_ration
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
        params = self.params  # the book's order: every W, b, then gamma, beta as the layers were built
        self._init_graph(chain(layers.values(), self.last_layer))  # gradients: W, b, gamma, beta per layer
        self.params = params
