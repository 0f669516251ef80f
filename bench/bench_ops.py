"""Each op's forward and backward, and each optimizer update: fastbp against the NumPy twin.

``pytest bench/bench_ops.py --benchmark-columns=median,iqr,rounds``; the cases are defined in
``fastbp.bench`` (also run by ``fastbp bench --kind op``).
"""

KIND = "op"


def test_op(case, timed):
    timed(case)
