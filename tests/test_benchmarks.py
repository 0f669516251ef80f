"""The benchmark registry (``fastbp.bench``): every case builds and runs, the data are what they claim,
the table and ``fastbp bench`` report what was measured.

(Timing itself is never asserted here: the machines are shared and noisy.)
"""

import json
import time

import numpy as np
import pytest

from fastbp import bench as B
from fastbp.bench import data as D
from fastbp.bench import steps as S
from fastbp.cli import main


def _runs(c):
    fn = c.make()
    fn()
    fn()


def test_every_case_runs_at_small_sizes():
    """Every kind of case, every data, every dtype (mixed included), book networks and MLPs."""
    selected = B.cases(
        ("op", "step"),
        batches=(1, 3),
        dtypes=B.ALL_DTYPES,
        nets=("book", "32", "16x2"),
        data=B.DATA,
    )
    groups = {c.group for c in selected}
    assert any("MultiLayerNet" in g for g in groups) and any("Adam update" in g for g in groups)
    assert any(g.endswith("batch 3 float64 (x float32) standardized") for g in groups)
    assert {c.impl for c in selected} == {"fastbp", "numpy", "gemm", "fastbp-x64"}
    for c in selected:
        _runs(c)


def test_every_network_of_the_sweep_runs():
    for c in B.cases(("step",), (2,), ("float32",), ("all",), ("uniform",)):
        _runs(c)


def test_each_mlp_group_has_fastbp_the_twin_and_its_gemm_floor():
    selected = B.cases(("step",), (1, 100), ("float64", "mixed"), ("two", "256x3"), ("mnist", "uniform"))
    groups = {}
    for c in selected:
        groups.setdefault(c.group, set()).add(c.impl)
    assert len(groups) == 2 * 2 * 2 * 2
    for group, impls in groups.items():  # a float32 input: fastbp on the float64 input beside it
        assert impls == {"fastbp", "numpy", "gemm"} | ({"fastbp-x64"} if "(x float32)" in group else set())
    assert "MLP 784-256x3-10 step batch 100 float64 (x float32) uniform" in groups


@pytest.mark.parametrize(
    "key, label, hidden",
    [
        ("two", "TwoLayerNet 784-50-10", (50,)),
        ("multi", "MultiLayerNet 784-100x5-10", (100,) * 5),
        ("64", "MLP 784-64-10", (64,)),
        ("256x3", "MLP 784-256x3-10", (256, 256, 256)),
    ],
)
def test_network_keys(key, label, hidden):
    net = S.net(key)
    assert (net.label, net.hidden, net.sizes) == (label, hidden, [784, *hidden, 10])


def test_network_sets_and_bad_keys():
    assert [n.key for n in S.nets(["sweep"])] == ["32", "64", "128", "256", "512", "1024", "256x3"]
    assert [n.key for n in S.nets(["two", "book", "two"])] == ["two", "multi", "simple-conv", "deep-conv"]
    for bad in ("0", "abc", "256x", "-3"):
        with pytest.raises(ValueError, match="no network"):
            S.net(bad)


def test_the_book_networks_and_the_mlps_start_from_the_same_weights_on_every_backend():
    for key in ("two", "128"):
        a, b = S.build(S.net(key), "float64"), S.build(S.net(key), "float64", "numpy")
        assert a.params.keys() == b.params.keys()
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])
    assert np.std(S.build(S.net("two"), "float64").params["W1"]) < 0.02  # the book's 0.01 scale
    assert np.std(S.build(S.net("128"), "float64").params["W1"]) > 0.04  # He: sqrt(2 / 784)


# -- the data ------------------------------------------------------------------------------------


def test_mnist_is_the_shipped_images_mostly_zeros():
    x, t = D.pool("mnist", "float32")
    assert x.shape == (10000, 784) and t.shape == (10000,)
    assert 0.15 < D.density(x) < 0.25 and x.min() == 0 and x.max() == 1


def test_standardized_is_dense_with_mean_0_and_std_1_per_pixel():
    x, t = D.pool("standardized", "float64")
    varying = np.asarray(D.pool("mnist", "float64")[0]).std(axis=0) > 0
    assert D.density(x) > 0.85
    assert np.all(x[:, ~varying] == 0)  # pixels that are 0 in every image stay 0
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(x[:, varying].std(axis=0), 1, rtol=1e-10)


def test_uniform_has_no_zeros_and_lies_in_0_1():
    x, t = D.pool("uniform", "float32")
    assert D.density(x) == 1.0 and 0 < x.min() and x.max() < 1
    assert abs(float(x.mean()) - 0.5) < 0.01
    np.testing.assert_array_equal(t, D.pool("mnist", "float32")[1])  # MNIST's labels


def test_data_are_made_once_read_only_and_the_same_in_both_dtypes():
    for name in B.DATA:
        x32, x64 = D.pool(name, "float32")[0], D.pool(name, "float64")[0]
        assert D.pool(name, "float32")[0] is x32  # cached
        assert not x32.flags.writeable and x64.flags.c_contiguous and x64.dtype == np.float64
        np.testing.assert_array_equal(x32, x64.astype(np.float32))
    with pytest.raises(ValueError, match="no benchmark data"):
        D.pool("gaussian", "float32")


def test_batches_are_views_and_steps_cycle_through_them():
    x, t = D.pool("uniform", "float64")
    bs = B.batches(x, t, 1000)
    assert len(bs) == B.STEP_BATCHES and all(np.shares_memory(b[0], x) for b in bs)
    x = np.arange(30.0).reshape(10, 3)
    t = np.arange(10)
    batches = B.batches(x, t, 3, "float32")
    assert len(batches) == 3  # as many whole batches as there are, at most STEP_BATCHES
    assert all(b[0].dtype == np.float32 and b[0].flags.c_contiguous for b in batches)
    seen = []
    run = B.cycling(lambda xb, tb: seen.append(int(tb[0])), batches)
    for _ in range(7):
        run()
    assert seen == [0, 3, 6, 0, 3, 6, 0]
    assert len(B.batches(x, t, 1, "float64")) == min(B.STEP_BATCHES, 10)
    assert len(B.batches(x, t, 20, "float64")) == 1


def test_the_gemm_floor_runs_the_steps_products_on_each_batch_in_turn(monkeypatch):
    xs = [np.full((4, 6), float(i)) for i in range(3)]
    run = S.gemm_floor(xs, [6, 5, 3], "float64")
    seen = []
    dot = np.dot
    monkeypatch.setattr(
        np, "dot", lambda a, b, out: seen.append((a.shape, b.shape, a.flat[0])) or dot(a, b, out=out)
    )
    for _ in range(4):
        run()
    # x W1, h W2; h^T d2, d2 W2^T, x^T d1 (no dX for the first layer)
    shapes = [((4, 6), (6, 5)), ((4, 5), (5, 3)), ((5, 4), (4, 3)), ((4, 3), (3, 5)), ((6, 4), (4, 5))]
    assert [s[:2] for s in seen[:5]] == shapes and len(seen) == 20
    assert [s[2] for s in seen[::5]] == [0.0, 1.0, 2.0, 0.0]  # each call on the next batch


# -- the ops -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "group_part", ["relu backward (3, 100) float64", "softmax_ce forward (3, 10) float32"]
)
def test_fastbp_and_numpy_cases_compute_the_same(group_part):
    pair = {c.impl: c for c in B.cases(("op",), batches=(3,)) if c.group.startswith(group_part)}
    out = {impl: np.array(c.make()(), copy=True) for impl, c in pair.items()}
    np.testing.assert_allclose(out["fastbp"], out["numpy"], rtol=1e-5)


def test_op_cases_are_the_op_tables_ops_at_their_benchmark_sizes():
    """Nothing is benchmarked that tests/test_ops.py does not test: one pair of groups per op of the
    table (fused nodes included), at each batch up to the op's largest."""
    from fastbp.ops.nodes import OPS

    groups = {c.group for c in B.cases(("op",), batches=(1, 1000), dtypes=("float32", "mixed"))}
    ops = {g.split(" ")[0] for g in groups if " update " not in g}
    assert ops == {op.name for op in OPS}
    for op in OPS:
        for n in (1, 1000):
            label = op.label.format(n=n)
            want = op.bench_max_batch is None or n <= op.bench_max_batch
            for direction in ("forward", "backward"):
                assert (f"{op.name} {direction} {label} float32" in groups) == want


# -- the runner and its table --------------------------------------------------------------------


def _mismatch():
    raise B.peers.PeerMismatch("torch disagrees with fastbp (tolerance 1e-10): loss 1.0 vs 2.0")


def test_a_peer_that_disagrees_is_reported_not_timed():
    fast = B.Case("step", "g", "fastbp", lambda: lambda: None, "two", "uniform", 3, "float64")
    slow = B.Case("step", "g", "numpy", lambda: lambda: sum(range(100)), "two", "uniform", 3, "float64")
    bad = B.Case("step", "g", "torch", _mismatch, "two", "uniform", 3, "float64")
    results = B.run([fast, slow, bad], rounds=2, round_s=1e-4)
    by_impl = {r["impl"]: r for r in results}
    assert "median_us" not in by_impl["torch"] and "loss 1.0 vs 2.0" in by_impl["torch"]["error"]
    assert by_impl["fastbp"]["min_us"] <= by_impl["fastbp"]["median_us"] <= by_impl["fastbp"]["max_us"]
    assert by_impl["numpy"]["data"] == "uniform" and by_impl["numpy"]["batch"] == 3
    (row,) = B.table(results)
    assert "torch" not in row and row["torch_error"].startswith("torch disagrees")
    text = B.format_table([row])
    assert "PyTorch us" in text and "mismatch" in text and "JAX" not in text


def test_a_round_has_at_least_round_calls_calls_of_each_implementation():
    calls = {"slow": 0, "fast": 0}

    def counting(name, seconds):
        def make():
            def fn():
                calls[name] += 1
                time.sleep(seconds)

            return fn

        return make

    slow = B.Case("step", "g", "numpy", counting("slow", 0.003), "two", "uniform", 3, "float64")
    fast = B.Case("step", "g", "fastbp", counting("fast", 0.0), "two", "uniform", 3, "float64")
    # (a 3 ms call is a round of one call at the default round length, and of 4 here)
    by_impl = {r["impl"]: r for r in B.run([slow, fast], rounds=2, round_s=0.002, round_calls=4)}
    assert by_impl["numpy"]["loops"] == 4 and by_impl["fastbp"]["loops"] > 4
    assert calls["slow"] == 4 + 5 + 2 * 4  # (the first calls, the calibration, two rounds of 4)
    assert B.run([slow], rounds=1, round_s=0.002)[0]["loops"] == 1


def test_the_table_gives_every_speedup_over_numpy_and_the_floor_ratio():
    results = [
        dict(group="g", kind="step", impl=impl, median_us=us)
        for impl, us in (
            ("numpy", 1000.0),
            ("fastbp", 500.0),
            ("jax", 400.0),
            ("torch", 2000.0),
            ("gemm", 250.0),
        )
    ]
    (row,) = B.table(results)
    assert row["speedup"] == 2 and row["jax_speedup"] == 2.5 and row["torch_speedup"] == 0.5
    assert row["floor_ratio"] == 2
    md = B.format_table([row], markdown=True).splitlines()
    assert md[0] == "| group | NumPy us | fastbp us | JAX jit us | PyTorch us | GEMM us | /floor |"
    assert md[2] == "| g | 1000 | 500 (2.00x) | 400 (2.50x) | 2000 (0.50x) | 250 | 2.00 |"


def test_a_float32_input_is_timed_beside_the_same_network_on_float64_copies(monkeypatch):
    seen = []
    from fastbp.nets import Network

    step = Network.train_step  # (fastbp's step: one call)
    monkeypatch.setattr(
        Network, "train_step", lambda self, x, t, o: seen.append((self.dtype, x.dtype)) or step(self, x, t, o)
    )
    group = [
        c for c in B.cases(("step",), (3,), ("mixed",), ("two",), ("uniform",)) if c.impl.startswith("fastbp")
    ]
    for c in group:
        c.make()()
    assert seen == [(np.float64, np.float32), (np.float64, np.float64)]


def test_busy_threads_counts_one_for_a_python_loop():
    n = B.peers.busy_threads(lambda: sum(range(1000)), seconds=0.1)
    assert n in (None, 1)


# -- fastbp bench --------------------------------------------------------------------------------


def test_fastbp_bench_prints_the_table_and_saves_json(tmp_path, capsys):
    path = tmp_path / "b.json"
    argv = ["bench", "--kind", "step", "--batches", "2", "--dtypes", "float32,mixed",
            "--data", "standardized", "--widths", "two,24", "--rounds", "3", "--round-calls", "2",
            "--json", str(path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "TwoLayerNet 784-50-10 step batch 2 float32 standardized" in out and "fastbp us" in out
    assert "MLP 784-24-10 step batch 2 float64 (x float32) standardized" in out
    data = json.loads(path.read_text())
    assert {r["impl"] for r in data["results"]} == {"fastbp", "numpy", "gemm", "fastbp-x64"}
    assert len(data["table"]) == 4
    mixed = data["table"][1]
    assert mixed["dtype"] == "mixed" and mixed["x32_cost"] == pytest.approx(
        mixed["fastbp"] / mixed["fastbp-x64"]
    )
    assert "x32/x64" in out
    row = data["table"][0]
    assert row["speedup"] == pytest.approx(row["numpy"] / row["fastbp"])
    assert row["floor_ratio"] == pytest.approx(row["fastbp"] / row["gemm"])
    assert row["data"] == "standardized" and row["net"] == "two"
    assert "numba" in data["machine"] and "blas" in data["machine"] and data["machine"]["cores"]
    assert data["round_calls"] == 2 and min(r["loops"] for r in data["results"]) >= 2


def test_fastbp_bench_markdown(capsys):
    argv = ["bench", "--kind", "step", "--batches", "1", "--dtypes", "float64", "--data", "uniform",
            "--widths", "16", "--rounds", "2", "--markdown"]  # fmt: skip
    assert main(argv) == 0
    assert "| MLP 784-16-10 step batch 1 float64 uniform |" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--match", "no such group"], "no benchmark group matches"),
        (["--dtypes", "float16"], "--dtypes must be among"),
        (["--data", "gaussian"], "--data must be among"),
        (["--widths", "0"], "--widths: no network '0'"),
        (["--batches", "0"], "--batches must be"),
    ],
)
def test_fastbp_bench_rejects_bad_selections(capsys, argv, message):
    assert main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err
