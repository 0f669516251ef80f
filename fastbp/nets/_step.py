"""``Network.train_step``: one training step in one call, with plain SGD folded into the backward pass
where the graph can (the small-batch MLP node: fused/mlp.py)."""

from __future__ import annotations

from ..optimizer import SGD


class TrainStep:
    """The ``train_step`` of ``Network`` (a base class of it: it reads the network's graph and checks)."""

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
        # (A peek at the batch size before the checks: x may be anything yet; anything without a
        # shape is asked, and the checks decide.)
        rows = getattr(x, "shape", None)
        node = self._sgd_node(optimizer, rows[0] if rows else 0)
        with self._entered("train_step"):
            x = self._x(x, "train_step")
            t = self._t(t, x.shape[0], "train_step")
            if node is not None and node.folds_sgd(x, t):
                plan = optimizer._plan
                loss = node.sgd_step(x, t, optimizer.lr, plan.ps, plan.gs, plan.extras[1])
                if loss is not None:
                    return loss
            loss, grads = self._gradient(x, t)
            penalty = self._penalty()  # (the weights before the update)
            optimizer.update(self.params, grads)
            return loss + loss.dtype.type(penalty) if penalty else loss

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
