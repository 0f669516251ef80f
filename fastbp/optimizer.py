"""The book's optimizers (``common/optimizer.py``), each update one compiled in-place pass.

``update(params, grads)`` takes two dicts keyed alike, as the book's networks return them, and updates
every ``params[key]`` in place -- the arrays the layers hold, so the next forward sees the step. State
(``v``, ``h``, ``m``) is created on the first update as zeros shaped like each parameter, as the book
does; Adam counts steps in ``iter``. The arithmetic and its order are the book's, so float64 runs
match it bit for bit.

Parameters that are Python numbers (the book's chapter 6 comparison on ``x**2/20 + y**2``) or arrays
that are not C-contiguous are updated by the same formulas in NumPy; a number is replaced by the
updated ``np.float64``, as the book's ``+=`` on a float does.

``from fastbp.optimizer import *`` brings ``np`` too, as the book's star import does.
"""

from __future__ import annotations

import functools
import numbers
import operator

import numpy as np

from .reference import kernels as _ref

__all__ = ["np", "Optimizer", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]

_WRITEABLE = operator.attrgetter("flags.writeable")


def _hyper(value, name: str, where: str, lo: float = 0.0, hi: float = np.inf, hi_open: bool = False):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < lo or value > hi or (hi_open and value == hi):
        interval = f"[{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValueError(f"{where}: {name} must be a finite number in {interval}, got {value!r}")
    return float(value)


class _Kernel:
    """A kernel of ``kernels/optim.py``, looked up at first use: importing the optimizers must not import
    Numba (0.15 s; the book's chapter 6 runs them on Python floats, where no kernel runs)."""

    def __init__(self, name: str):
        self.name = name

    def __set_name__(self, owner, attr):
        self.attr = attr

    def __get__(self, obj, owner=None):
        from .kernels import optim

        return getattr(optim, self.name)


class Optimizer:
    """Base: validates ``update``'s arguments, keeps per-parameter state, runs the kernels."""

    state_names: tuple = ()  # the book's state dicts, e.g. ("v",) for Momentum
    kernel = None  # the compiled in-place update
    twin = None  # the same update in NumPy (numbers and non-contiguous arrays)

    def hyper(self) -> tuple:
        """The hyperparameter arguments of this step's kernel call."""
        raise NotImplementedError

    def _plan_extras(self, ps) -> tuple:
        """Arguments of ``kernel_all`` between the state tuples and the hyperparameters."""
        return ()

    def _begin_step(self):
        """Called once per ``update``, after the arguments were checked (Adam counts steps here)."""

    kernel_all = None  # the same update over tuples of parameters: one call per step
    _plan = None  # the last update's checked arrays, reused while the same ones come back

    def update(self, params: dict, grads: dict) -> None:
        """One step: every ``params[key]`` is updated in place from ``grads[key]``.

        Raises TypeError naming ``params``/``grads`` when either is not a dict, before any state
        changes (on the cached fast path too)."""
        if not isinstance(params, dict) or not isinstance(grads, dict):
            self._keys(params, grads, f"{type(self).__name__}.update")  # raises the TypeError
        plan = self._plan
        if plan is not None and plan.matches(self, params, grads):
            self._begin_step()  # fast path: the very arrays checked last time (the nets reuse theirs)
            plan.call(*self.hyper())
            return
        where = f"{type(self).__name__}.update"
        checked = [self._check(key, params[key], grads, where) for key in self._keys(params, grads, where)]
        self._begin_step()  # only now: a bad argument leaves parameters, state and counters as they were
        hyper = self.hyper()
        done = []
        for key, p, g in checked:
            state = [self._state(name, key, p) for name in self.state_names]
            if isinstance(p, np.ndarray) and p.flags.c_contiguous and p.ndim > 0:
                type(self).kernel(p, g, *state, *hyper)
                done.append((key, p, grads[key], state))
            elif isinstance(p, np.ndarray):
                type(self).twin(p, g, *state, *hyper)
            else:  # a Python number: update a 0-d copy, then rebind the key
                a = np.array(p, dtype=np.float64)
                type(self).twin(a, g, *state, *hyper)
                params[key] = a[()]
        # Reusable only if every parameter went through a kernel with its gradient array as given.
        ok = len(done) == len(checked) and all(
            g is c[2] for (_, _, g, _), c in zip(done, checked, strict=True)
        )
        self._plan = _Plan(self, done) if ok and done else None

    @staticmethod
    def _keys(params, grads, where):
        if not isinstance(params, dict) or not isinstance(grads, dict):
            raise TypeError(
                f"{where}: params and grads must be dicts, got params: {type(params).__name__}, "
                f"grads: {type(grads).__name__}"
            )
        missing = [k for k in params if k not in grads]
        if missing:
            raise ValueError(f"{where}: grads has no entry for {missing} (params keys: {list(params)})")
        return list(params)

    def _check(self, key, p, grads, where):
        g = grads[key]
        if isinstance(p, np.ndarray):
            if p.dtype.kind != "f":
                raise TypeError(f"{where}: params[{key!r}] must be a float array, got dtype {p.dtype}")
            if not p.flags.writeable:
                raise ValueError(f"{where}: params[{key!r}] must be writeable: it is updated in place")
            g = np.asarray(g)
            if g.dtype.kind not in "fiu":
                raise TypeError(f"{where}: grads[{key!r}] must be numeric, got dtype {g.dtype}")
            if g.shape != p.shape:
                raise ValueError(
                    f"{where}: grads[{key!r}] has shape {g.shape}, params[{key!r}] has {p.shape}"
                )
            g = np.ascontiguousarray(g, dtype=p.dtype)  # no copy when it already matches
        elif isinstance(p, numbers.Real) and not isinstance(p, bool):
            if not (isinstance(g, numbers.Real) or (isinstance(g, np.ndarray) and g.ndim == 0)):
                raise TypeError(f"{where}: grads[{key!r}] must be a number like params[{key!r}], got {g!r}")
            g = np.float64(g)
        else:
            raise TypeError(
                f"{where}: params[{key!r}] must be a float array or a number, got {type(p).__name__}"
            )
        return key, p, g

    def _state(self, name, key, p):
        store = self.__dict__.get(name)
        if store is None:
            store = {}
            setattr(self, name, store)
        s = store.get(key)
        if s is None or np.shape(s) != np.shape(p):
            s = store[key] = np.zeros_like(p, dtype=p.dtype if isinstance(p, np.ndarray) else np.float64)
        elif isinstance(p, np.ndarray) and not (
            isinstance(s, np.ndarray) and s.dtype == p.dtype and s.flags.c_contiguous and s.flags.writeable
        ):  # state the caller set in another layout or dtype: the kernel updates a contiguous copy
            s = store[key] = np.array(s, dtype=p.dtype, order="C")
        return s

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_plan", None)  # a cache of array references, rebuilt by the next update
        return state


class _Plan:
    """The arrays of a checked update, to run the next one with one identity check and one call.

    ``matches`` holds when ``params`` has the same keys in the same order bound to the very same
    arrays, ``grads`` too, and the optimizer's state dicts still hold the same arrays (the user may
    replace or reset them). The parameters go to the kernel as flat views when they share a dtype;
    ``call(*hyper)`` is then one compiled call with the arrays bound in advance.
    """

    def __init__(self, opt, done):
        self.keys = tuple(k for k, _, _, _ in done)
        self.ps = tuple(p for _, p, _, _ in done)
        self.gs = tuple(g for _, _, g, _ in done)
        self.states = tuple(tuple(s[i] for _, _, _, s in done) for i in range(len(opt.state_names)))
        self.stores = tuple(zip(opt.state_names, self.states, strict=True))
        self.distinct = len({id(p) for p in self.ps}) == len(self.ps)  # no array bound to two keys
        arrays = self.ps + self.gs + tuple(a for st in self.states for a in st)
        self.flat = None
        # one tuple type for the kernel: one dtype, contiguous, all writeable (a read-only gradient
        # is another Numba type)
        if (
            type(opt).kernel_all is not None
            and len({a.dtype for a in arrays}) == 1
            and all(a.flags.c_contiguous and a.flags.writeable for a in arrays)
        ):
            self.flat = (
                tuple(p.reshape(-1) for p in self.ps),
                tuple(g.reshape(-1) for g in self.gs),
                *(tuple(a.reshape(-1) for a in st) for st in self.states),
            )
            self.extras = opt._plan_extras(self.ps)  # (SGD: row widths, and row modes it updates)
            self.call = functools.partial(type(opt).kernel_all, *self.flat, *self.extras)
        else:
            self.kernel = type(opt).kernel
            self.call = self._call_each

    def _call_each(self, *hyper):
        for i, (p, g) in enumerate(zip(self.ps, self.gs, strict=True)):
            self.kernel(p, g, *(st[i] for st in self.states), *hyper)

    def matches_params(self, params) -> bool:
        """``params`` has the same keys in the same order, bound to the very same (writeable) arrays."""
        if tuple(params) != self.keys or not all(map(operator.is_, params.values(), self.ps)):
            return False
        return all(map(_WRITEABLE, self.ps))  # (made read-only since: the checks say so)

    def matches(self, opt, params, grads) -> bool:
        keys, is_ = self.keys, operator.is_
        if not self.matches_params(params):
            return False
        if not all(map(is_, map(grads.get, keys), self.gs)):
            return False
        state = opt.__dict__
        for name, arrays in self.stores:
            store = state.get(name)
            if store is None or not all(map(is_, map(store.get, keys), arrays)):
                return False
        return True


class SGD(Optimizer):
    """Stochastic gradient descent: p -= lr g."""

    kernel, kernel_all = _Kernel("sgd_update"), _Kernel("sgd_update_all")
    twin = _ref.sgd_update

    def __init__(self, lr=0.01):
        self.lr = _hyper(lr, "lr", "SGD")

    def _plan_extras(self, ps):
        # each parameter's row width and row-skipping mode (kernels/optim.py, sgd_update_all)
        widths = np.array([max(p.shape[-1], 1) if p.ndim > 1 else max(p.size, 1) for p in ps], np.int64)
        return widths, np.zeros(len(ps), np.int64)

    def hyper(self):
        return (self.lr,)


class Momentum(Optimizer):
    """v = momentum v - lr g;  p += v."""

    state_names = ("v",)
    kernel, kernel_all = _Kernel("momentum_update"), _Kernel("momentum_update_all")
    twin = _ref.momentum_update

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = _hyper(lr, "lr", "Momentum")
        self.momentum = _hyper(momentum, "momentum", "Momentum", hi=1.0, hi_open=True)
        self.v = None

    def hyper(self):
        return self.lr, self.momentum


class Nesterov(Optimizer):
    """Nesterov's accelerated gradient: p += m^2 v;  p -= (1 + m) lr g;  v = m v - lr g."""

    state_names = ("v",)
    kernel, kernel_all = _Kernel("nesterov_update"), _Kernel("nesterov_update_all")
    twin = _ref.nesterov_update

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = _hyper(lr, "lr", "Nesterov")
        self.momentum = _hyper(momentum, "momentum", "Nesterov", hi=1.0, hi_open=True)
        self.v = None

    def hyper(self):
        return self.lr, self.momentum


class AdaGrad(Optimizer):
    """h += g^2;  p -= lr g / (sqrt(h) + 1e-7)."""

    state_names = ("h",)
    kernel, kernel_all = _Kernel("adagrad_update"), _Kernel("adagrad_update_all")
    twin = _ref.adagrad_update

    def __init__(self, lr=0.01):
        self.lr = _hyper(lr, "lr", "AdaGrad")
        self.h = None

    def hyper(self):
        return (self.lr,)


class RMSprop(Optimizer):
    """h = d h + (1 - d) g^2;  p -= lr g / (sqrt(h) + 1e-7)."""

    state_names = ("h",)
    kernel, kernel_all = _Kernel("rmsprop_update"), _Kernel("rmsprop_update_all")
    twin = _ref.rmsprop_update

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = _hyper(lr, "lr", "RMSprop")
        self.decay_rate = _hyper(decay_rate, "decay_rate", "RMSprop", hi=1.0)
        self.h = None

    def hyper(self):
        return self.lr, self.decay_rate


class Adam(Optimizer):
    """Adam as the book writes it: with t = iter,
    lr_t = lr sqrt(1 - b2^t) / (1 - b1^t);  m += (1 - b1)(g - m);  v += (1 - b2)(g^2 - v);
    p -= lr_t m / (sqrt(v) + 1e-7).
    """

    state_names = ("m", "v")
    kernel, kernel_all = _Kernel("adam_update"), _Kernel("adam_update_all")
    twin = _ref.adam_update

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = _hyper(lr, "lr", "Adam")
        self.beta1 = _hyper(beta1, "beta1", "Adam", hi=1.0, hi_open=True)
        self.beta2 = _hyper(beta2, "beta2", "Adam", hi=1.0, hi_open=True)
        self.iter = 0
        self.m = self.v = None

    def _begin_step(self):
        self.iter += 1

    def hyper(self):
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        return float(lr_t), self.beta1, self.beta2
