"""Twin of ``fastbp.kernels.mlp_blas``: a ReLU MLP's step, layer by layer (reference/mlp.py)."""

import numpy as np

from .mlp import mlp_sgd_step, mlp_step

__all__ = ["mlp_blas_step", "mlp_blas_sgd_step"]

NOT_FINITE = 1


def mlp_blas_step(x, t, Ws, bs):
    """(loss, code, hs, y, dWs, dbs): mlp_step's, with code 0; or (0.0, NOT_FINITE) when x W1 holds
    NaN or inf (nothing else computed)."""
    with np.errstate(all="ignore"):
        if not np.isfinite(x @ Ws[0]).all():
            return 0.0, NOT_FINITE
    loss, hs, y, dWs, dbs, _ = mlp_step(x, t, Ws, bs)
    return loss, 0, tuple(hs), y, tuple(dWs), tuple(dbs)


def mlp_blas_sgd_step(x, t, Ws, bs, lr, modes):
    """(loss, code, params, modes): mlp_sgd_step's (the parameters updated in place), with code 0; or
    (0.0, NOT_FINITE) when x W1 holds NaN or inf (nothing updated)."""
    with np.errstate(all="ignore"):
        if not np.isfinite(x @ Ws[0]).all():
            return 0.0, NOT_FINITE
    loss, params, modes = mlp_sgd_step(x, t, Ws, bs, lr, modes)
    return loss, 0, params, modes
