"""Every public kernel against its pure-NumPy twin: the kernel table (fastbp.ops.kernels.KERNELS),
float32 and float64, shapes including batch 1 and odd sizes; outputs keep the input dtype. The tests a
table cannot express live beside it, in tests/test_kernels_<family>.py."""

import importlib
import types

import pytest

from fastbp.ops.kernels import KERNELS, kernel_names, run
from fastbp.reference import kernels as ref

RUNS = [(c, size, dtype) for c in KERNELS for size in c.sizes for dtype in c.dtypes]
KERNEL_MODULES = [
    "activations",
    "affine",
    "blas",
    "checks",
    "conv",
    "mlp",
    "mlp_blas",
    "optim",
    "regularization",
    "regularizers",
    "softmax_ce",
    "sparse_input",
]


@pytest.mark.parametrize("case, size, dtype", RUNS, ids=[f"{c.name}-{s}-{d.__name__}" for c, s, d in RUNS])
def test_kernel_matches_its_twin(case, size, dtype):
    if case.skip:
        pytest.skip(case.skip)
    run(case, size, dtype)


def public_kernels(module):
    fast = importlib.import_module(f"fastbp.kernels.{module}")
    return [
        name
        for name, obj in vars(fast).items()
        if not name.startswith("_")
        and isinstance(getattr(obj, "py_func", obj), types.FunctionType)
        and getattr(obj, "py_func", obj).__module__ == fast.__name__
    ]


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_every_public_kernel_has_a_twin_in_the_reference_module_of_the_same_name(module):
    twin = importlib.import_module(f"fastbp.reference.{module}")
    kernels = public_kernels(module)
    assert kernels
    assert [k for k in kernels if not hasattr(twin, k)] == []
    assert all(hasattr(ref, k) for k in kernels)  # and fastbp.reference.kernels re-exports it


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_every_public_kernel_has_a_case_in_the_table(module):
    assert sorted(set(public_kernels(module)) - kernel_names(module)) == []
