"""The peers of ``fastbp bench --peers`` (PyTorch, JAX): each computes fastbp's loss and gradients from
the same weights, and its timed step is fastbp's SGD step. Skipped where the peer is not installed
(CI installs neither); the comparison itself is tested without them."""

import numpy as np
import pytest

from fastbp import bench as B
from fastbp.bench import peers as P
from fastbp.bench import steps as S
from fastbp.optimizer import SGD


def _want(net, x, t):
    grads = net.gradient(x, t)
    L = len(grads) // 2
    return float(net.loss(x, t)), [(grads[f"W{i}"].copy(), grads[f"b{i}"].copy()) for i in range(1, L + 1)]


def test_check_passes_within_the_tolerance_and_names_what_differs():
    W, b = np.ones((3, 2)), np.ones(2)
    want = (2.0, [(W, b)])
    P.check("x", want, (2.0 * (1 + 1e-12), [(W * (1 + 1e-12), b)]), "float64")
    P.check("x", want, (2.0 * (1 + 1e-5), [(W, b + 1e-5)]), "float32")
    with pytest.raises(P.PeerMismatch, match=r"x disagrees.*b1: largest difference 1e-05"):
        P.check("x", want, (2.0, [(W, b + 1e-5)]), "float64")
    with pytest.raises(P.PeerMismatch, match="loss nan"):
        P.check("x", want, (float("nan"), [(W, b)]), "float32")
    with pytest.raises(P.PeerMismatch, match="W1"):
        P.check("x", want, (2.0, [(W.T, b)]), "float32")  # a wrong layout is a mismatch, not an error


def test_peer_cases_are_made_only_for_the_mlps_and_only_when_asked():
    selected = B.cases(("step",), (100,), ("float32",), ("book",), ("uniform",), peers=("jax", "torch"))
    impls = {}
    for c in selected:
        impls.setdefault(c.net, set()).add(c.impl)
    assert impls["two"] == impls["multi"] == {"fastbp", "numpy", "gemm", "jax", "torch"}
    assert impls["simple-conv"] == {"fastbp", "numpy"}
    assert all(c.impl not in P.PEERS for c in B.cases(("step",), (100,), ("float32",), ("two",)))


@pytest.fixture(params=P.PEERS)
def peer(request):
    pytest.importorskip(request.param, exc_type=ImportError)
    return request.param


@pytest.mark.parametrize("key", ["two", "16x2"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "mixed"])
def test_peer_loss_and_gradients_are_fastbps(peer, key, dtype):
    net_dt, x_dt = S.net_and_x_dtype(dtype)
    x, t = B.data.pool("standardized", x_dt)
    x, t = x[:5], t[:5]
    net = S.build(S.net(key), net_dt)
    got = P.ADAPTERS[peer](P.weights(net), net_dt, 0.01).loss_and_grads(x, t)
    P.check(peer, _want(net, x, t), got, net_dt)  # float64 to 1e-10, float32 to 1e-4


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_peers_step_is_fastbps_sgd_step(peer, dtype):
    x, t = B.data.pool("uniform", dtype)
    batches = B.batches(x, t, 3)[:2]
    net = S.build(S.net("16x2"), dtype)
    adapter = P.ADAPTERS[peer](P.weights(net), dtype, 0.5)
    step = adapter.stepper(batches)
    opt = SGD(0.5)
    for xb, tb in batches * 2:  # twice through both batches
        step()
        opt.update(net.params, net.gradient(xb, tb))
    want = P.weights(net)
    assert not np.allclose(want[0][0], S.build(S.net("16x2"), dtype).params["W1"])  # it moved
    for (wW, wb), (gW, gb) in zip(want, adapter.weights(), strict=True):
        np.testing.assert_allclose(gW, wW, rtol=0, atol=P.TOL[dtype] * np.abs(wW).max())
        np.testing.assert_allclose(gb, wb, rtol=0, atol=P.TOL[dtype] * np.abs(wb).max())


def test_make_refuses_a_peer_that_disagrees(peer, monkeypatch):
    x, t = B.data.pool("uniform", "float64")
    net = S.build(S.net("two"), "float64")
    monkeypatch.setattr(P, "TOL", {"float64": 0.0, "float32": 0.0})
    weights = P.weights
    monkeypatch.setattr(P, "weights", lambda n: [(W * 1.001, b) for W, b in weights(n)])
    with pytest.raises(P.PeerMismatch, match=f"{peer} disagrees with fastbp"):
        P.make(peer, net, B.batches(x, t, 4)[:1], 0.01)


def test_a_peer_runs_on_one_thread(peer):
    assert P.thread_check((peer,))[peer] in (None, 1)


def test_info_names_the_peers_versions_and_threads(peer):
    info = P.info((peer,))
    assert info[peer]
    if peer == "torch":
        assert info["torch_threads"] == 1
    else:
        assert "--xla_cpu_multi_thread_eigen=false" in info["XLA_FLAGS"]
