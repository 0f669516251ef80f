"""The benchmark registry: every case builds and runs, and both impls of a group compute the same thing.

(Timing itself is never asserted here: the machines are shared and noisy.)
"""

import json

import numpy as np
import pytest

from fastbp import benchmarks as B
from fastbp.cli import main


def test_every_case_runs_at_small_sizes():
    selected = B.cases(("op", "step"), batches=(1, 3), dtypes=("float64", "float32"))
    groups = {c.group for c in selected}
    assert any("MultiLayerNet" in g for g in groups) and any("Adam update" in g for g in groups)
    for c in selected:
        fn = c.make()
        fn()
        fn()


@pytest.mark.parametrize(
    "group_part", ["relu backward (3, 100) float64", "softmax_ce forward (3, 10) float32"]
)
def test_fastbp_and_numpy_cases_compute_the_same(group_part):
    pair = {c.impl: c for c in B.cases(("op",), batches=(3,)) if c.group.startswith(group_part)}
    out = {impl: np.array(c.make()(), copy=True) for impl, c in pair.items()}
    np.testing.assert_allclose(out["fastbp"], out["numpy"], rtol=1e-5)


def test_fastbp_bench_prints_the_table_and_saves_json(tmp_path, capsys):
    path = tmp_path / "b.json"
    argv = [
        "bench",
        "--kind",
        "step",
        "--batches",
        "2",
        "--dtypes",
        "float32",
        "--rounds",
        "3",
        "--match",
        "TwoLayerNet",
        "--json",
        str(path),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "TwoLayerNet 784-50-10 step batch 2 float32" in out and "speedup" in out
    data = json.loads(path.read_text())
    assert {r["impl"] for r in data["results"]} == {"fastbp", "numpy", "gemm"}
    row = data["table"][0]
    assert row["speedup"] == pytest.approx(row["numpy"] / row["fastbp"])
    assert "numba" in data["machine"]


def test_fastbp_bench_rejects_bad_selections(capsys):
    assert main(["bench", "--match", "no such group"]) == 2
    assert "no benchmark group matches" in capsys.readouterr().err
    assert main(["bench", "--dtypes", "float16"]) == 2


def test_step_cases_cycle_through_different_batches():
    x = np.arange(30.0).reshape(10, 3)
    t = np.arange(10)
    batches = B._batches(x, t, 3, "float32")
    assert len(batches) == 3  # as many whole batches as there are, at most STEP_BATCHES
    assert all(b[0].dtype == np.float32 and b[0].flags.c_contiguous for b in batches)
    seen = []
    run = B._cycling(lambda xb, tb: seen.append(int(tb[0])), batches)
    for _ in range(7):
        run()
    assert seen == [0, 3, 6, 0, 3, 6, 0]
    assert len(B._batches(x, t, 1, "float64")) == min(B.STEP_BATCHES, 10)
    assert len(B._batches(x, t, 20, "float64")) == 1


def test_op_cases_are_the_op_tables_ops_at_their_benchmark_sizes():
    """Nothing is benchmarked that tests/test_ops.py does not test: one pair of groups per op of the
    table (fused nodes included), at each batch up to the op's largest."""
    from fastbp.ops.nodes import OPS

    groups = {c.group for c in B.cases(("op",), batches=(1, 1000), dtypes=("float32",))}
    ops = {g.split(" ")[0] for g in groups if " update " not in g}
    assert ops == {op.name for op in OPS}
    for op in OPS:
        for n in (1, 1000):
            label = op.label.format(n=n)
            want = op.bench_max_batch is None or n <= op.bench_max_batch
            for direction in ("forward", "backward"):
                assert (f"{op.name} {direction} {label} float32" in groups) == want
