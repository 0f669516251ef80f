"""The book's convolutional networks: SimpleConvNet (chapter 7) and DeepConvNet (chapter 8), built as
``Network``s over a chain of layers. Inputs are (N, C, H, W) images; initial weights come from the
global ``np.random`` in the book's order. ``dtype`` and ``backend`` as for the fully connected nets.
"""

from __future__ import annotations

import numbers
from collections import OrderedDict

import numpy as np

from . import _args as _a
from .network import Network
from .sequential import chain

__all__ = ["SimpleConvNet", "DeepConvNet"]


class _ConvNet(Network):
    """The convolutional networks' shared parts: (N, C, H, W) input and the book's batched accuracy."""

    def _common(self, input_dim, hidden_size, output_size, dtype, backend, where):
        """The arguments both book conv nets take, checked: sets input_dim, output_size, dtype; returns
        (the layer module, hidden_size)."""
        if isinstance(input_dim, (str, bytes)) or not hasattr(input_dim, "__len__") or len(input_dim) != 3:
            raise ValueError(f"{where}: input_dim must be (C, H, W), got {input_dim!r}")
        self.input_dim = tuple(_a.size(v, "input_dim entries", where) for v in input_dim)
        self.output_size = _a.size(output_size, "output_size", where)
        hidden_size = _a.size(hidden_size, "hidden_size", where)
        self.dtype = _a.float_dtype(dtype, where)
        return _a.layer_module(backend), hidden_size

    def accuracy(self, x, t, batch_size=100):
        """Correct predictions over batches of ``batch_size``, divided by N -- as the book does it, so
        when N is not a multiple of batch_size the samples of the last partial batch are not counted
        (the book's under-count)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"accuracy: batch_size must be a positive integer, got {batch_size!r}")
        with self._entered("accuracy"):
            x = self._x(x, "accuracy")
            t = self._t(t, x.shape[0], "accuracy")
            if t.ndim != 1:
                t = np.argmax(t, axis=1)
            acc = 0
            for i in range(int(x.shape[0] / batch_size)):
                tx, tt = x[i * batch_size : (i + 1) * batch_size], t[i * batch_size : (i + 1) * batch_size]
                acc += np.sum(np.argmax(self._scores(tx), axis=1) == tt)
            return acc / x.shape[0]


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
        fn, fs, pad, stride = _a.conv_param(conv_param, where, "conv_param")
        L, hidden_size = self._common(input_dim, hidden_size, output_size, dtype, backend, where)
        self._remember(where, input_dim=self.input_dim, conv_param=dict(conv_param), hidden_size=hidden_size,
                       output_size=self.output_size, weight_init_std=weight_init_std)  # fmt: skip
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
        self.layers = OrderedDict()
        self.layers["Conv1"] = L.Convolution(self.params["W1"], self.params["b1"], stride, pad)
        self.layers["Relu1"] = L.Relu()
        self.layers["Pool1"] = L.Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers["Affine1"] = L.Affine(self.params["W2"], self.params["b2"])
        self.layers["Relu2"] = L.Relu()
        self.layers["Affine2"] = L.Affine(self.params["W3"], self.params["b3"])
        self.last_layer = L.SoftmaxWithLoss()
        self._init_graph(chain(self.layers.values(), self.last_layer), input_shape=self.input_dim)


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
        cps = [_a.conv_param(cp, where, f"conv_param_{i + 1}") for i, cp in enumerate(cps)]
        L, hidden_size = self._common(input_dim, hidden_size, output_size, dtype, backend, where)
        params = {f"conv_param_{i + 1}": dict(cp) for i, cp in enumerate(given) if cp is not None}
        self._remember(where, input_dim=self.input_dim, **params, hidden_size=hidden_size,
                       output_size=self.output_size)  # fmt: skip
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
        self._init_graph(chain(self.layers, self.last_layer), input_shape=self.input_dim)

    def loss(self, x, t):
        """The loss in training mode (dropout on, drawing masks), as the book's DeepConvNet.loss."""
        with self._entered("loss"):
            x = self._x(x, "loss")
            return self._loss(x, self._t(t, x.shape[0], "loss"), True)
