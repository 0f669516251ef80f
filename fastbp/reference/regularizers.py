"""Twins of ``fastbp.kernels.regularizers``: L2 weight decay."""

import numpy as np

__all__ = ["l2_penalty", "l2_backward"]


def l2_penalty(W):
    return np.sum(W**2, dtype=np.float64)


def l2_backward(dW, W, lam):
    return dW + lam * W
