"""Whole training steps of TwoLayerNet and MultiLayerNet at batch 1..1000, fastbp, the NumPy twin, and
the GEMM floor (the step's bare matrix products) in the same run.

``pytest bench/bench_steps.py --benchmark-columns=median,iqr,rounds``; the cases are defined in
``fastbp.bench`` (also run by ``fastbp bench --kind step``).
"""

KIND = "step"


def test_step(case, timed):
    timed(case)
