"""Training checkpoints: everything a :class:`fastbp.trainer.Trainer` needs to continue a run exactly.

A separate format from ``save_params`` files (which stay weights only): one ``.npz`` archive, written
atomically by :func:`fastbp.checkpoint.save` (a killed save leaves the previous checkpoint whole),
with reserved member names:

- ``meta.json``: a uint8 array of UTF-8 JSON: ``{"format": "fastbp-training", "version": 1,
  "iteration", "epoch", "max_iter", "batch_size", "train_size", "optimizer": {"class", "scalars"},
  "rng": {...}, "lists": {...}, "history", "user"}``;
- ``param.<key>``: the network's parameters; ``extra.<key>``: batch norm's running statistics;
- ``opt.<state>.<key>``: the optimizer's per-parameter state (Momentum's ``v``, AdaGrad's ``h``,
  Adam's ``m`` and ``v``); its numbers (``lr``, Adam's step count ``iter``) are in the JSON;
- ``rng.keys``: the MT19937 key of NumPy's global generator, which draws the batches (and Dropout's
  masks); its position and cached Gaussian are in the JSON.

:func:`read` checks the archive's structure; :func:`apply` checks it against a trainer (parameter
names, shapes and dtypes, optimizer class and state, batch and training-set sizes) before changing
anything.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from . import checkpoint as _ckpt

__all__ = ["FORMAT", "save", "read", "apply"]

FORMAT = "fastbp-training"
VERSION = 1


def _optimizer_state(opt, params: dict) -> tuple[dict, dict]:
    """(numbers, {state name: {key: array}}) of an optimizer: its public numeric attributes and its
    dicts of per-parameter arrays (the book's ``v``, ``h``, ``m``)."""
    scalars, states = {}, {}
    for name, value in vars(opt).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            scalars[name] = value.item() if isinstance(value, np.generic) else value
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            if set(value) == set(params):
                states[name] = value
    return scalars, states


def save(path, trainer, user: dict | None = None) -> None:
    """Write ``trainer``'s state to ``path`` (atomically). ``user``: JSON-able data kept with it."""
    net, opt = trainer.network, trainer.optimizer
    scalars, states = _optimizer_state(opt, net.params)
    algorithm, keys, pos, has_gauss, cached = np.random.get_state()
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "iteration": int(trainer.current_iter),
        "epoch": int(trainer.current_epoch),
        "max_iter": int(trainer.max_iter),
        "batch_size": int(trainer.batch_size),
        "train_size": int(trainer.train_size),
        "optimizer": {"class": type(opt).__name__, "scalars": scalars, "states": sorted(states)},
        "rng": {"algorithm": algorithm, "pos": int(pos), "has_gauss": int(has_gauss), "cached": cached},
        "lists": {
            "train_loss": [float(v) for v in trainer.train_loss_list],
            "train_acc": [float(v) for v in trainer.train_acc_list],
            "test_acc": [float(v) for v in trainer.test_acc_list],
        },
        "history": trainer.history,
        "user": user or {},
    }
    arrays = {"meta.json": np.frombuffer(json.dumps(meta).encode(), np.uint8), "rng.keys": keys}
    arrays.update({f"param.{k}": v for k, v in net.params.items()})
    extra = getattr(net, "extra_state", None)  # BN statistics (Network's checkpoint hook)
    arrays.update({f"extra.{k}": v for k, v in (extra() if extra is not None else {}).items()})
    for name, store in states.items():
        arrays.update({f"opt.{name}.{k}": v for k, v in store.items()})
    _ckpt.save(path, arrays)


def read(path, where: str = "resume") -> tuple[dict, dict]:
    """(meta, arrays) of the checkpoint at ``path``; ValueError naming the file if it is not one."""
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no training checkpoint {path!r}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{where}: {path!r} is not a readable training checkpoint ({e})") from None
    try:
        meta = json.loads(bytes(arrays.pop("meta.json")).decode())
    except (KeyError, ValueError, UnicodeDecodeError):
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(
            f"{where}: {path!r} is not a training checkpoint ({FORMAT} version {VERSION}; a file "
            "written by save_params holds weights only and cannot resume a run)"
        )
    return meta, arrays


def apply(trainer, meta: dict, arrays: dict, where: str = "resume") -> None:
    """Put the state of a checkpoint into ``trainer`` (its network, optimizer, counters, lists and
    NumPy's global generator). Everything is checked first; on error nothing has changed."""
    net, opt = trainer.network, trainer.optimizer
    got = meta["optimizer"]["class"]
    if got != type(opt).__name__:
        raise ValueError(
            f"{where}: the checkpoint was trained with {got}, this trainer uses {type(opt).__name__}"
        )
    for name in ("batch_size", "train_size"):
        mine = trainer.batch_size if name == "batch_size" else trainer.train_size
        if meta[name] != mine:
            raise ValueError(f"{where}: the checkpoint's {name} is {meta[name]}, this trainer's is {mine}")
    extra = getattr(net, "extra_state", None)
    targets = {f"param.{k}": v for k, v in net.params.items()}
    targets.update({f"extra.{k}": v for k, v in (extra() if extra is not None else {}).items()})
    states = {}
    for name in meta["optimizer"]["states"]:
        states[name] = {k: arrays.get(f"opt.{name}.{k}") for k, p in net.params.items()}
        for k, p in net.params.items():
            targets[f"opt.{name}.{k}"] = p
    expected = set(targets) | {"rng.keys"}
    if set(arrays) != expected:
        raise ValueError(
            f"{where}: the checkpoint does not match this network: missing "
            f"{sorted(expected - set(arrays))}, unexpected {sorted(set(arrays) - expected)}"
        )
    for k, p in targets.items():
        a = arrays[k]
        if a.shape != p.shape or a.dtype != p.dtype:
            raise ValueError(f"{where}: {k} is {a.dtype}{a.shape} in the checkpoint, {p.dtype}{p.shape} here")
        if not np.isfinite(a).all():
            raise ValueError(f"{where}: {k} contains NaN or inf")
    keys, rng = arrays["rng.keys"], meta["rng"]
    if keys.shape != (624,) or keys.dtype != np.uint32 or rng.get("algorithm") != "MT19937":
        raise ValueError(f"{where}: the generator state is not an MT19937 state")
    # -- checked: now change things --------------------------------------------------------------
    for k, p in targets.items():
        if k.startswith(("param.", "extra.")):
            p[...] = arrays[k]  # in place: the layers hold these very arrays
    for name, store in states.items():
        setattr(opt, name, {k: np.array(a) for k, a in store.items()})
    for name, value in meta["optimizer"]["scalars"].items():
        setattr(opt, name, value)
    np.random.set_state((rng["algorithm"], keys, rng["pos"], rng["has_gauss"], rng["cached"]))
    trainer.current_iter = meta["iteration"]
    trainer.current_epoch = meta["epoch"]
    lists = meta["lists"]
    trainer.train_loss_list[:] = lists["train_loss"]
    trainer.train_acc_list[:] = lists["train_acc"]
    trainer.test_acc_list[:] = lists["test_acc"]
    trainer.history[:] = meta["history"]
