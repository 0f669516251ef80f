"""``Network.train_step``: one training step in one call, with plain SGD folded into the backward pass
where the graph can (the small-batch MLP node: fused/mlp.py).

A folded step that ran on a plain batch (x and t arrays the checks took as they are) is remembered
(``_Folded``); the next call with the same optimizer plan and a batch of the same kind checks again
only what may have changed since. That is most of a training loop's calls. (The Python around the
compiled step runs right after the step's products, with the caches holding their arrays: each
object it reads is a cache miss, and at batch 32-100 it took 20-80 us, two to three times its cost in
isolation. So the steady state reads as few objects as it can.)"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import _checks as _chk
from .. import config
from ..optimizer import SGD


class _Folded(NamedTuple):
    """The last ``train_step`` that folded SGD into the node, on a batch its checks took as it was:
    the optimizer's plan it matched, the node, and the batch's kind."""

    plan: object  # the optimizer's _plan (its arrays do not change: a new match makes a new plan)
    node: object
    dtype: np.dtype  # the network's (the checks of x compare the batch's dtype with it)
    x_dtype: np.dtype
    x_shape: tuple
    t_dtype: np.dtype


class TrainStep:
    """The ``train_step`` of ``Network`` (a base class of it: it reads the network's graph and checks)."""

    _folded = None  # a _Folded, or None

    def train_step(self, x, t, optimizer):
        """One training step: ``optimizer.update(self.params, self.gradient(x, t))``, returning the
        batch's loss before the update (with any penalty, as ``loss`` gives it).

        The parameters end as the two calls leave them, bit for bit. With ``SGD`` on a ReLU MLP
        (after one step that set the optimizer up), the update is folded into the backward pass: up
        to ``config.SMALL_BATCH`` samples no gradient array is written, and the layers'
        ``dW``/``db`` then still hold an earlier step's (call ``gradient`` to see them); a larger
        batch updates each layer as soon as its gradients are made (from ``config.LAYOUT_MIN_ROWS``
        samples on, once the layers' products have settled on their layouts, made in those; until
        then the two calls run, as they do for good where the first layer lists every batch and so
        never times its layouts). (It declines parameters bound to one
        array twice; a batch ``x`` that is a view of a weight is the user's to avoid.)
        """
        last = self._folded
        if last is not None:
            loss = self._again(last, x, t, optimizer)
            if loss is not None:
                return loss
        # (A peek at the batch size before the checks: x may be anything yet; anything without a
        # shape is asked, and the checks decide.)
        rows = getattr(x, "shape", None)
        node = self._sgd_node(optimizer, rows[0] if rows else 0)
        with self._entered("train_step"):
            self._folded = None
            xc = self._x(x, "train_step")
            tc = self._t(t, xc.shape[0], "train_step")
            if node is not None and node.folds_sgd(xc, tc):
                plan = optimizer._plan
                loss = node.sgd_step(xc, tc, optimizer.lr, plan.ps, plan.gs, plan.extras[1])
                if loss is not None:
                    if xc is x and tc is t:
                        self._folded = _Folded(plan, node, self.dtype, x.dtype, x.shape, t.dtype)
                    return loss
            loss, grads = self._gradient(xc, tc)
            penalty = self._penalty()  # (the weights before the update)
            optimizer.update(self.params, grads)
            return loss + loss.dtype.type(penalty) if penalty else loss

    def _again(self, last: _Folded, x, t, optimizer):
        """The folded step for a batch of the kind ``last`` took, with the plan it matched: its loss,
        or None (nothing ran: the full path decides).

        Compared with ``last``: the optimizer's plan (the same object: its ``flat`` and ``distinct``
        are as they were) and type, the network's dtype, x's dtype and shape and t's (plain arrays,
        C-contiguous). Taken as checked, as they cannot have changed: the graph (one node), the
        sample shape, which nodes read x and check its values. Checked again: the parameters'
        binding, the weight decay, the loss setting, x's values where the network checks them before
        the graph, the labels' range, and everything the node checks itself (its layers' arrays, W's
        dtype (a float32 batch for float64 weights), the batch size's path)."""
        plan = last.plan
        if (
            getattr(optimizer, "_plan", None) is not plan or type(optimizer) is not SGD
            or self.dtype != last.dtype
            or type(x) is not np.ndarray or x.shape != last.x_shape or x.dtype != last.x_dtype
            or not x.flags.c_contiguous
            or type(t) is not np.ndarray or t.shape != x.shape[:1] or t.dtype != last.t_dtype
            or not t.flags.c_contiguous
            or config.BOOK_LOSS or self._has_decay() or not plan.matches_params(self.params)
        ):  # fmt: skip
            return None
        with self._entered("train_step"):
            if not self._input_checked:
                _chk.finite(x, "x", "train_step")
            _chk.in_range(t, self.output_size, "train_step")
            return last.node.sgd_step(x, t, optimizer.lr, plan.ps, plan.gs, plan.extras[1])

    def _sgd_node(self, optimizer, n: int):
        """The graph's one node, when it can fold this optimizer's step into its backward pass for a
        batch of n samples: plain SGD, already set up (its plan) for exactly this network's
        parameters, and no weight decay."""
        nodes = self._graph.nodes
        plan = getattr(optimizer, "_plan", None)
        if type(optimizer) is not SGD or plan is None or plan.flat is None or len(nodes) != 1:
            return None
        node = nodes[0].layer
        if not hasattr(node, "sgd_step") or not node.may_fold(n):
            return None
        if self._has_decay() or not plan.distinct:
            return None  # (the fold updates a layer's W before the layer below reads it: no sharing)
        return node if plan.matches_params(self.params) else None  # (and sgd_step: the node's)

    def _has_decay(self) -> bool:
        """Whether ``gradient`` adds a weight decay to the layers' gradients (the fold has none)."""
        return False
