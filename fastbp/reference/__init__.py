"""fastbp's pure-NumPy twin: every kernel and layer written the idiomatic NumPy way.

It is the oracle for the tests (each compiled kernel must agree with its twin here) and the baseline
of the benchmarks. Users select it with ``backend="numpy"`` on the networks, or import
``fastbp.reference.layers`` in place of ``fastbp.layers``, to see the difference themselves.
"""
