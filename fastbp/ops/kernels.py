"""The kernel table: every public kernel of ``fastbp.kernels``, each against its twin in
``fastbp.reference`` on the same inputs (``check.Case``; ``check.run`` checks one pair).

One module of cases per group of kernel families: ``kernels_dense`` (activations, affine,
regularization, regularizers), ``kernels_softmax`` (softmax_ce, checks), ``kernels_sparse``
(sparse_input), ``kernels_optim`` (optim), ``kernels_conv`` (conv) and ``kernels_mlp`` (mlp).
``tests/test_kernels.py`` runs every case in both dtypes at each of its sizes, and checks that every
public kernel has one.
"""

from __future__ import annotations

from . import kernels_conv, kernels_dense, kernels_mlp, kernels_optim, kernels_softmax, kernels_sparse
from .check import TOL, Case, check, run

__all__ = ["KERNELS", "Case", "TOL", "check", "run", "kernel_names"]

KERNELS: tuple[Case, ...] = (
    kernels_dense.CASES
    + kernels_softmax.CASES
    + kernels_sparse.CASES
    + kernels_optim.CASES
    + kernels_conv.CASES
    + kernels_mlp.CASES
)


def kernel_names(family: str) -> set[str]:
    """The kernels of ``fastbp.kernels.<family>`` the table has a case for (a variant's name less its
    suffix after a space)."""
    return {c.name.split(" ")[0] for c in KERNELS if c.family == family}
