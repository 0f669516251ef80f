"""The same training step in PyTorch eager and in ``jax.jit``, on one thread, checked against fastbp.

``make(name, net, batches, lr)`` takes a fastbp network (its initial weights: the peer starts from
copies of them) and the batches the other implementations of the group step through. Before anything
is timed, the peer's loss and gradients on the first batch are compared with fastbp's (the largest
difference relative to the largest value of each array; float64 1e-10, float32 1e-4): a peer that
disagrees raises ``PeerMismatch`` and is reported, not timed.

- ``torch``: ``nn.Sequential`` of ``Linear``/``ReLU``, ``CrossEntropyLoss``, ``optim.SGD``
  (``zero_grad``, forward, ``backward``, ``step``), ``torch.set_num_threads(1)``. The batches are
  copied into tensors once.
- ``jax``: ``value_and_grad`` of the same loss and the SGD update in one ``jax.jit``-ed function
  (the parameters donated), each call waited for (``block_until_ready``); the batches are put on the
  device once. One thread: XLA sizes its CPU thread pool from ``NPROC`` (else the CPU affinity) when
  its client starts, so ``NPROC=1`` is set while jax starts (with ``XLA_FLAGS=
  --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``, which alone left two XLA
  threads computing at once with jax 0.10.2: measured by sampling the threads' states).
  ``jax_enable_x64`` is on, so float64 is float64. jax must not have been imported before.

``info()`` gives the peers' versions and settings, and ``thread_check`` how many threads a step keeps
busy (``busy_threads``; ``fastbp bench --peers`` records it per peer).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time

import numpy as np

from .base import cycling

PEERS = ("jax", "torch")
TOL = {"float64": 1e-10, "float32": 1e-4}
XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


class PeerMismatch(Exception):
    """A peer's loss or gradients differ from fastbp's beyond the tolerance."""


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def available() -> tuple[str, ...]:
    return tuple(p for p in PEERS if installed(p))


_JAX_STATE = {}


def _jax():
    if "jax" not in _JAX_STATE:
        _JAX_STATE["imported_before"] = "jax" in sys.modules
        flags = os.environ.get("XLA_FLAGS", "")
        if XLA_FLAGS not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {XLA_FLAGS}".strip()
        nproc = os.environ.get("NPROC")
        os.environ["NPROC"] = "1"
        try:
            import jax

            jax.config.update("jax_enable_x64", True)
            jax.devices()  # starts the CPU client: its thread pool is sized now
        finally:
            if nproc is None:
                del os.environ["NPROC"]
            else:
                os.environ["NPROC"] = nproc
        _JAX_STATE["jax"] = jax
    return _JAX_STATE["jax"]


def _torch():
    import torch

    torch.set_num_threads(1)
    return torch


def weights(net) -> list[tuple[np.ndarray, np.ndarray]]:
    """Copies of a fastbp MLP's (W, b) per layer, in order."""
    L = sum(1 for k in net.params if k.startswith("W"))
    return [(net.params[f"W{i}"].copy(), net.params[f"b{i}"].copy()) for i in range(1, L + 1)]


class Torch:
    def __init__(self, ws, dtype: str, lr: float):
        torch = self.torch = _torch()
        nn = torch.nn
        self.dtype = getattr(torch, dtype)
        mods = []
        for i, (W, b) in enumerate(ws):
            lin = nn.Linear(*W.shape, dtype=self.dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(W.T))
                lin.bias.copy_(torch.tensor(b))
            mods += [lin, nn.ReLU()] if i < len(ws) - 1 else [lin]
        self.model = nn.Sequential(*mods)
        self.lins = [m for m in mods if isinstance(m, nn.Linear)]
        self.loss = nn.CrossEntropyLoss()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)

    def _tensors(self, x, t):
        return self.torch.tensor(x), self.torch.tensor(t, dtype=self.torch.int64)

    def loss_and_grads(self, x, t):
        x, t = self._tensors(x, t)
        self.model.zero_grad()
        loss = self.loss(self.model(x.to(self.dtype)), t)
        loss.backward()
        return loss.item(), [(m.weight.grad.numpy().T.copy(), m.bias.grad.numpy().copy()) for m in self.lins]

    def weights(self):
        return [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in self.lins]

    def stepper(self, batches):
        model, loss_fn, opt, dt = self.model, self.loss, self.opt, self.dtype

        def step(x, t):
            opt.zero_grad()
            loss_fn(model(x.to(dt)), t).backward()
            opt.step()

        return cycling(step, [self._tensors(x, t) for x, t in batches])


class Jax:
    def __init__(self, ws, dtype: str, lr: float):
        jax = self.jax = _jax()
        jnp = jax.numpy
        self.params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in ws]

        def loss(params, x, t):
            h = x.astype(dtype)
            for W, b in params[:-1]:
                h = jax.nn.relu(h @ W + b)
            W, b = params[-1]
            s = h @ W + b
            return jnp.mean(jax.nn.logsumexp(s, axis=1) - jnp.take_along_axis(s, t[:, None], axis=1)[:, 0])

        def step(params, x, t):
            value, grads = jax.value_and_grad(loss)(params, x, t)
            return jax.tree.map(lambda p, g: p - lr * g, params, grads), value

        self._value_and_grad = jax.jit(jax.value_and_grad(loss))
        self._step = jax.jit(step, donate_argnums=0)

    def _arrays(self, x, t):
        return self.jax.device_put(x), self.jax.device_put(t.astype(np.int32))

    def loss_and_grads(self, x, t):
        value, grads = self._value_and_grad(self.params, *self._arrays(x, t))
        return float(value), [(np.asarray(dW), np.asarray(db)) for dW, db in grads]

    def weights(self):
        return [(np.asarray(W), np.asarray(b)) for W, b in self.params]

    def stepper(self, batches):
        run = self._step

        def step(x, t):  # (params donated: the step consumes them and returns the next)
            self.params, value = run(self.params, x, t)
            value.block_until_ready()  # (on the CPU an executable's outputs are ready together)

        return cycling(step, [self._arrays(x, t) for x, t in batches])


ADAPTERS = {"jax": Jax, "torch": Torch}


def check(name: str, want, got, dtype: str) -> None:
    """Raise PeerMismatch unless got = (loss, [(dW, db), ...]) agrees with want to TOL[dtype]."""
    tol = TOL[dtype]
    (wl, wg), (gl, gg) = want, got
    bad = []
    if not abs(gl - wl) <= tol * abs(wl):
        bad.append(f"loss {gl!r} vs {wl!r}")
    for i, (w, g) in enumerate(zip(wg, gg, strict=True), start=1):
        for key, a, b in ((f"W{i}", w[0], g[0]), (f"b{i}", w[1], g[1])):
            scale = float(np.max(np.abs(a))) or 1.0
            diff = np.abs(np.asarray(b, np.float64) - a) if a.shape == b.shape else np.inf
            err = float(np.max(diff)) / scale
            if not err <= tol:
                bad.append(f"{key}: largest difference {err:.2g} of its largest value")
    if bad:
        raise PeerMismatch(f"{name} disagrees with fastbp (tolerance {tol:g}): " + "; ".join(bad))


def make(name: str, net, batches, lr: float):
    """The thunk of one SGD step of ``name`` from ``net``'s weights, cycling through batches; checked
    against ``net``'s loss and gradients on the first batch first (``net`` is used up)."""
    dtype = net.dtype.name
    peer = ADAPTERS[name](weights(net), dtype, lr)
    x, t = batches[0]
    loss = float(net.loss(x, t))
    grads = net.gradient(x, t)
    L = len(grads) // 2
    want = (loss, [(grads[f"W{i}"], grads[f"b{i}"]) for i in range(1, L + 1)])
    check(name, want, peer.loss_and_grads(x, t), dtype)
    return peer.stepper(batches)


def busy_threads(fn, seconds: float = 0.3, share: float = 0.2) -> int | None:
    """How many of this process's threads each did at least ``share`` of its CPU time while ``fn``
    ran repeatedly for ``seconds`` (Linux: /proc/self/task; None elsewhere). One thread computing at a
    time gives 1, whatever thread it is."""

    def ticks():
        out = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[tid] = int(fields[11]) + int(fields[12])  # utime + stime
        return out

    if not os.path.isdir("/proc/self/task"):
        return None
    for _ in range(3):  # compilation (jax.jit's is threaded) stays out
        fn()
    before = ticks()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        fn()
    used = [v - before.get(k, 0) for k, v in ticks().items()]
    total = sum(used)
    return sum(1 for u in used if total and u >= share * total) if total else None


def thread_check(names) -> dict:
    """Per peer of names, ``busy_threads`` while it runs a 784-512-10 float64 SGD step at batch 256 on
    uniform data (1: one thread computing at a time)."""
    from .steps import step_cases

    return {
        c.impl: busy_threads(c.make())
        for c in step_cases((256,), ("float64",), ("512",), ("uniform",), tuple(names))
        if c.impl in names
    }


def info(names) -> dict:
    """Versions and thread settings of the peers in names (importing them)."""
    out = {}
    if "torch" in names:
        torch = _torch()
        out["torch"] = torch.__version__
        out["torch_threads"] = torch.get_num_threads()
    if "jax" in names:
        jax = _jax()
        out["jax"] = jax.__version__
        out["jaxlib"] = getattr(sys.modules.get("jaxlib"), "__version__", "")
        out["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")
        out["jax_started_with_NPROC"] = 1
        if _JAX_STATE.get("imported_before"):
            out["jax_warning"] = "jax was imported before fastbp.bench.peers: its threads were not set"
    return out
