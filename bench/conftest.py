import pytest

from fastbp import bench


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        kind = metafunc.module.KIND
        selected = bench.cases((kind,))
        metafunc.parametrize("case", selected, ids=[f"{c.group} [{c.impl}]" for c in selected])


@pytest.fixture
def timed(benchmark):
    """Time a case's thunk; its first (compiling, allocating) call happens outside the timer."""

    def run(case):
        fn = case.make()
        fn()
        benchmark.group = case.group
        benchmark.extra_info["impl"] = case.impl
        benchmark(fn)

    return run
