"""Optimizers: compiled updates against their NumPy twins, the book's formulas, state, bad input."""

import numpy as np
import pytest
from conftest import DTYPES
from numpy.testing import assert_allclose, assert_array_equal

from fastbp import optimizer as O
from fastbp.reference import kernels as RK
from fastbp.reference import optimizer as RO

NAMES = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


def run(opt, params, steps, seed=0):
    r = np.random.default_rng(seed)
    for _ in range(steps):
        grads = {k: r.standard_normal(p.shape).astype(p.dtype) for k, p in params.items()}
        opt.update(params, grads)
    return params


def fresh(dtype, seed=1):
    r = np.random.default_rng(seed)
    return {
        "W1": r.standard_normal((7, 5)).astype(dtype),
        "b1": r.standard_normal(5).astype(dtype),
        "W2": r.standard_normal((1, 1)).astype(dtype),
    }


def book_formulas(name, p, g, state, t, hp):
    """The update written out from the book's definitions, independently of both implementations."""
    lr = hp["lr"]
    if name == "SGD":
        return p - lr * g
    if name == "Momentum":
        state["v"] = hp["momentum"] * state["v"] - lr * g
        return p + state["v"]
    if name == "Nesterov":
        m = hp["momentum"]
        p = p + m * m * state["v"] - (1 + m) * lr * g
        state["v"] = m * state["v"] - lr * g
        return p
    if name == "AdaGrad":
        state["h"] = state["h"] + g * g
        return p - lr * g / (np.sqrt(state["h"]) + 1e-7)
    if name == "RMSprop":
        d = hp["decay_rate"]
        state["h"] = d * state["h"] + (1 - d) * g * g
        return p - lr * g / (np.sqrt(state["h"]) + 1e-7)
    b1, b2 = hp["beta1"], hp["beta2"]
    state["m"] = state["m"] + (1 - b1) * (g - state["m"])
    state["v"] = state["v"] + (1 - b2) * (g * g - state["v"])
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    return p - lr_t * state["m"] / (np.sqrt(state["v"]) + 1e-7)


DEFAULTS = {
    "SGD": {"lr": 0.01},
    "Momentum": {"lr": 0.01, "momentum": 0.9},
    "Nesterov": {"lr": 0.01, "momentum": 0.9},
    "AdaGrad": {"lr": 0.01},
    "RMSprop": {"lr": 0.01, "decay_rate": 0.99},
    "Adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999},
}


def _row_sparse_grads(r, shapes, zero_rows):
    grads = {}
    for k, s in shapes.items():
        g = r.standard_normal(s)
        if len(s) > 1:
            g[r.random(s[0]) < zero_rows] = 0.0
            g[r.random(s[0]) < 0.2] *= -0.0  # rows of -0.0 count as zero too
        grads[k] = g
    return grads


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_100_steps_match_the_numpy_twin(name, dtype):
    fast = run(getattr(O, name)(), fresh(dtype), 100)
    slow = run(getattr(RO, name)(), fresh(dtype), 100)
    for k in fast:
        assert fast[k].dtype == dtype
        assert_allclose(fast[k], slow[k], rtol=1e-12 if dtype is np.float64 else 1e-6, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_float64_trajectory_is_bitwise_the_numpy_one(name):
    fast = run(getattr(O, name)(lr=0.05), fresh(np.float64), 100)
    slow = run(getattr(RO, name)(lr=0.05), fresh(np.float64), 100)
    for k in fast:
        assert_array_equal(fast[k], slow[k])


@pytest.mark.parametrize("name", NAMES)
def test_defaults_and_formulas_are_the_books(name, rng):
    opt = getattr(O, name)()
    for k, v in DEFAULTS[name].items():
        assert getattr(opt, k) == v
    p = rng.standard_normal(6)
    want = p.copy()
    state = {"v": np.zeros(6), "h": np.zeros(6), "m": np.zeros(6)}
    for t in range(1, 6):
        g = rng.standard_normal(6)
        opt.update({"p": p}, {"p": g})
        want = book_formulas(name, want, g, state, t, DEFAULTS[name])
        assert_allclose(p, want, rtol=1e-13, atol=1e-15)
    if name == "Adam":
        assert opt.iter == 5


@pytest.mark.parametrize("name", NAMES)
def test_updates_in_place_and_keeps_state_per_key(name, rng):
    opt = getattr(O, name)()
    W = rng.standard_normal((3, 2))
    ref = W
    opt.update({"W": W}, {"W": np.ones((3, 2))})
    assert ref is W  # the same array: layers holding it see the step
    for s in opt.state_names:
        assert set(getattr(opt, s)) == {"W"} and getattr(opt, s)["W"].shape == (3, 2)


def test_python_float_parameters_as_in_chapter6():
    # f(x, y) = x^2 / 20 + y^2 from (-7, 2), params held as Python floats
    for name, kw in [
        ("SGD", {"lr": 0.95}),
        ("Momentum", {"lr": 0.1}),
        ("AdaGrad", {"lr": 1.5}),
        ("Adam", {"lr": 0.3}),
    ]:
        opt = getattr(O, name)(**kw)
        ref = getattr(RO, name)(**kw)
        params, rparams = {"x": -7.0, "y": 2.0}, {"x": -7.0, "y": 2.0}
        for _ in range(30):
            for opt_, ps in ((opt, params), (ref, rparams)):
                grads = {"x": ps["x"] / 10.0, "y": 2.0 * ps["y"]}
                opt_.update(ps, grads)
        assert abs(params["x"]) < 7 and abs(params["y"]) < 2, name
        assert params == rparams


def test_non_contiguous_parameters_are_updated_in_place(rng):
    big = rng.standard_normal((4, 6))
    view = big[:, ::2]
    want = view - 0.1 * np.ones((4, 3))
    O.SGD(0.1).update({"v": view}, {"v": np.ones((4, 3))})
    assert_allclose(big[:, ::2], want, rtol=1e-15)


@pytest.mark.parametrize(
    "params, grads, exc, words",
    [
        ({"W": np.ones(3)}, {}, ValueError, r"grads has no entry for \['W'\]"),
        (
            {"W": np.ones(3)},
            {"W": np.ones(4)},
            ValueError,
            r"grads\['W'\] has shape \(4,\), params\['W'\] has \(3,\)",
        ),
        ({"W": np.ones(3, dtype=int)}, {"W": np.ones(3)}, TypeError, r"params\['W'\] must be a float array"),
        ({"W": np.ones(3)}, {"W": np.array(["a"] * 3)}, TypeError, r"grads\['W'\] must be numeric"),
        ({"W": "x"}, {"W": 1.0}, TypeError, r"params\['W'\] must be a float array or a number"),
        ([np.ones(3)], {"W": 1.0}, TypeError, "params and grads must be dicts"),
    ],
)
def test_bad_arguments_leave_everything_unchanged(params, grads, exc, words):
    opt = O.Adam()
    good = np.ones(2)
    all_params = {"a": good, **params} if isinstance(params, dict) else params
    all_grads = {"a": np.ones(2), **grads}
    with pytest.raises(exc, match="Adam.update: " + words):
        opt.update(all_params, all_grads)
    assert_array_equal(good, np.ones(2))  # the valid parameter before the bad one was not stepped
    assert opt.iter == 0 and opt.m is None


@pytest.mark.parametrize(
    "cls, kw, words",
    [
        (O.SGD, {"lr": -1}, r"lr must be a finite number in \[0, inf\]"),
        (O.SGD, {"lr": np.nan}, "lr must be a finite number"),
        (O.Momentum, {"momentum": 1.0}, r"momentum must be a finite number in \[0, 1\)"),
        (O.RMSprop, {"decay_rate": 1.5}, r"decay_rate must be a finite number in \[0, 1\]"),
        (O.Adam, {"beta2": 1}, r"beta2 must be a finite number in \[0, 1\)"),
        (O.Adam, {"lr": "0.1"}, "lr must be a finite number"),
    ],
)
def test_bad_hyperparameters(cls, kw, words):
    with pytest.raises(ValueError, match=words):
        cls(**kw)


def test_star_import_brings_np_and_the_optimizers():
    ns = {}
    exec("from fastbp.optimizer import *", ns)
    for name in ["np", *NAMES]:
        assert name in ns


@pytest.mark.parametrize("name", NAMES)
def test_reused_gradient_arrays_take_the_fast_path_with_the_same_result(name):
    # the networks hand the optimizer the same gradient buffers every step, refilled in place
    r = np.random.default_rng(3)
    fast_p, slow_p = fresh(np.float64), fresh(np.float64)
    fast, slow = getattr(O, name)(lr=0.05), getattr(O, name)(lr=0.05)
    bufs = {k: np.empty_like(p) for k, p in fast_p.items()}
    for _ in range(20):
        for k in bufs:
            bufs[k][...] = r.standard_normal(bufs[k].shape)
        fast.update(fast_p, bufs)
        slow.update(slow_p, {k: v.copy() for k, v in bufs.items()})  # new arrays: the checked path
    plan = fast._plan
    assert plan is not None and all(g is bufs[k] for k, g in zip(plan.keys, plan.gs, strict=True))
    assert plan.flat is not None  # one dtype: the one-call path
    for k in fast_p:
        assert_array_equal(fast_p[k], slow_p[k])


def test_resetting_state_or_swapping_arrays_is_seen():
    p = {"W": np.ones(3)}
    g = {"W": np.ones(3)}
    opt = O.Momentum(lr=0.1, momentum=0.5)
    opt.update(p, g)
    opt.update(p, g)
    opt.v = None  # a reset: the next step starts from zero velocity again
    before = p["W"].copy()
    opt.update(p, g)
    assert_allclose(p["W"], before - 0.1, rtol=1e-15)
    p["W"] = np.zeros(3)  # a new array under the same key
    opt.update(p, g)
    assert_allclose(p["W"], -0.1 * 0.5 - 0.1, rtol=1e-15)  # v = 0.5 * (-0.1) - 0.1


@pytest.mark.parametrize("name", NAMES)
def test_mixed_dtypes_take_per_parameter_calls_on_the_fast_path(name):
    r = np.random.default_rng(4)
    p = {"W": r.standard_normal((3, 4)).astype(np.float32), "b": r.standard_normal(4)}
    want = {k: v.copy() for k, v in p.items()}
    g = {k: r.standard_normal(v.shape).astype(v.dtype) for k, v in p.items()}
    fast, slow = getattr(O, name)(lr=0.05), getattr(O, name)(lr=0.05)
    for _ in range(5):
        fast.update(p, g)
        slow.update(want, {k: v.copy() for k, v in g.items()})
    assert fast._plan is not None and fast._plan.flat is None
    for k in p:
        assert p[k].dtype == want[k].dtype
        assert_array_equal(p[k], want[k])


@pytest.mark.parametrize("name", NAMES)
def test_the_numpy_twin_never_runs_a_compiled_kernel(name, monkeypatch):
    """The reference optimizers are the benchmarks' NumPy side: a step taken by fastbp's compiled
    update (one call for all parameters, from the second step on) would make that side look faster."""

    def compiled(*args):
        raise AssertionError("a compiled kernel ran in the NumPy twin")

    monkeypatch.setattr(getattr(O, name), "kernel", compiled)
    monkeypatch.setattr(getattr(O, name), "kernel_all", compiled)
    r = np.random.default_rng(0)
    params = {"W": r.standard_normal((6, 4)), "b": r.standard_normal(4)}
    grads = {k: r.standard_normal(v.shape) for k, v in params.items()}
    opt = getattr(RO, name)()
    for _ in range(3):  # the second and third steps go through the reused-arrays path
        opt.update(params, grads)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_row_skipping_equals_the_plain_update_through_mode_changes(dtype):
    """SGD's one-call update skips rows whose gradient is all zero once a row pass has found enough
    of them (kernels/optim.py); sparse and dense steps alternate here so both modes and the switches
    between them run. A weight of -0.0 is the one documented difference (sign of zero), so none here."""
    r = np.random.default_rng(0)
    shapes = {"W1": (37, 5), "b1": (5,), "W2": (5, 3, 2), "b2": (1,)}
    params = {k: (r.standard_normal(s) + 0.1).astype(dtype) for k, s in shapes.items()}
    twin = {k: v.copy() for k, v in params.items()}
    grads = {k: np.zeros(s, dtype) for k, s in shapes.items()}  # reused arrays: the one-call path
    opt, ref = O.SGD(lr=0.05), RO.SGD(lr=0.05)
    modes = []
    for step in range(120):
        density = 0.9 if (step // 30) % 2 else 0.0
        for k, g in _row_sparse_grads(r, shapes, density).items():
            grads[k][...] = g
        opt.update(params, grads)
        ref.update(twin, grads)
        modes.append(tuple(opt._plan.flat and opt._plan.call.args[-1]))
    for k in params:
        assert_array_equal(params[k], twin[k])
    row_mode = [m[0] == -1 for m in modes]  # W1's mode after each step
    if np.dtype(dtype) == np.float64:
        assert any(row_mode) and not all(row_mode)
    else:  # float32 always takes the plain update (it fits the cache: rows did not pay)
        assert not any(row_mode)


def test_sgd_row_skipping_keeps_numpys_nan_and_inf():
    p = {"W": np.ones((4, 3))}
    g = {"W": np.zeros((4, 3))}
    opt = O.SGD(lr=0.1)
    for _ in range(40):  # into row mode
        opt.update(p, g)
    assert opt._plan.call.args[-1][0] == -1
    g["W"][2, 1] = np.nan
    opt.update(p, g)
    assert np.isnan(p["W"][2, 1]) and np.isfinite(np.delete(p["W"].ravel(), 7)).all()
    q = {"W": np.ones((4, 3))}
    opt2 = O.SGD(lr=0.1)
    for _ in range(40):
        opt2.update(q, g := {"W": np.zeros((4, 3))})
    opt2.lr = np.inf  # inf * 0 is NaN in NumPy: no row may be skipped
    opt2.update(q, g)
    assert np.isnan(q["W"]).all()
    r = {"W": np.ones((4, 3), np.float32)}
    g32 = {"W": np.zeros((4, 3), np.float32)}
    opt3 = O.SGD(lr=0.1)
    for _ in range(40):
        opt3.update(r, g32)
    opt3.lr = 1e39  # finite in float64, inf in the parameter's float32: NaN as in NumPy
    opt3.update(r, g32)
    assert np.isnan(r["W"]).all()


def test_sgd_row_skipping_sign_of_zero_is_the_documented_difference():
    p = {"W": np.ones((2, 3))}
    g = {"W": np.full((2, 3), -0.0)}
    opt = O.SGD(lr=0.1)
    for _ in range(20):  # into row mode
        opt.update(p, g)
    assert opt._plan.call.args[-1][0] == -1
    p["W"][...] = -0.0
    opt.update(p, g)
    assert np.signbit(p["W"]).all()  # NumPy's p - lr g gives +0.0; a skipped row keeps -0.0
    twin = np.full((2, 3), -0.0)
    RK.sgd_update(twin, g["W"], 0.1)
    assert not np.signbit(twin).any() and (twin == p["W"]).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", ["grads", "params"])
def test_non_dict_arguments_raise_type_error_on_the_fast_path_too(name, bad):
    # issue 11.19: once a fast path was cached, a non-dict grads gave AttributeError (grads.get)
    p, g = fresh(np.float64), {k: np.ones_like(v) for k, v in fresh(np.float64).items()}
    opt = getattr(O, name)(lr=0.05)
    opt.update(p, g)
    opt.update(p, g)
    assert opt._plan is not None
    before = {k: v.copy() for k, v in p.items()}
    state = {n: {k: v.copy() for k, v in getattr(opt, n).items()} for n in opt.state_names}
    iters = getattr(opt, "iter", None)
    args = (p, list(g.values())) if bad == "grads" else (list(p.values()), g)
    with pytest.raises(TypeError, match=f"{name}.update: params and grads must be dicts, got .*{bad}: list"):
        opt.update(*args)
    for k in p:
        assert_array_equal(p[k], before[k])
    for n in opt.state_names:
        for k, v in getattr(opt, n).items():
            assert_array_equal(v, state[n][k])
    assert getattr(opt, "iter", None) == iters


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_optimizer_fast_path_copes_with_read_only_and_mixed_arrays(name):
    import pickle

    from fastbp import optimizer as O

    p = {"W": np.ones((3, 2)), "b": np.ones(2, np.float32)}
    g = {"W": np.full((3, 2), 0.5), "b": np.full(2, 0.5, np.float32)}
    g["W"].flags.writeable = False  # read-only gradients are a different Numba type
    opt = getattr(O, name)(lr=0.1)
    for _ in range(3):
        opt.update(p, g)
    pickle.loads(pickle.dumps(opt))  # the plan is a cache and is not pickled
    p["W"].flags.writeable = False  # read-only since the last step: refused, not written through
    with pytest.raises(ValueError, match="must be writeable"):
        opt.update(p, g)


def test_optimizer_state_in_another_layout_is_updated():
    from fastbp import optimizer as O

    p = {"W": np.ones((3, 2))}
    g = {"W": np.ones((3, 2))}
    opt = O.Momentum(lr=0.1, momentum=0.5)
    opt.v = {"W": np.asfortranarray(np.full((3, 2), 0.2))}
    opt.update(p, g)
    assert_allclose(opt.v["W"], 0.5 * 0.2 - 0.1)
    assert_allclose(p["W"], 1 + 0.5 * 0.2 - 0.1)
