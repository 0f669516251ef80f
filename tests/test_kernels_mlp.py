"""fastbp.kernels.mlp against its twins (the table in fastbp.reference.cases)."""

import pytest
from conftest import DTYPES

from fastbp.reference.cases import CASES, run

MLP_CASES = [(c, size) for c in CASES if c.family == "mlp" for size in c.sizes]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case, size", MLP_CASES, ids=[f"{c.name}-{s}" for c, s in MLP_CASES])
def test_kernel_matches_its_twin(case, size, dtype):
    run(case, size, dtype)
