"""A saved network's description: what must agree for its parameters to load, and how it reads."""

from __future__ import annotations

import numpy as np

# Arguments that shape training only: a checkpoint of a network trained with other values loads.
_TRAINING_ONLY = ("weight_init_std", "weight_decay_lambda")


def plain(v):
    """JSON for NumPy numbers in constructor arguments."""
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"cannot describe a constructor argument of type {type(v).__name__}")


def kind(desc: dict):
    """What must agree for parameters to load: the class and the arguments that shape the network."""
    args = {k: v for k, v in desc.get("args", {}).items() if k not in _TRAINING_ONLY}
    return desc.get("class"), args


def signature(desc: dict) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in desc.get("args", {}).items() if k not in _TRAINING_ONLY)
    return f"{desc.get('class')}({args})"
