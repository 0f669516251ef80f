"""Thread settings: import changes nothing; one BLAS thread once fastbp runs; FASTBP_NUM_THREADS and
set_num_threads."""

import os
import subprocess
import sys

import pytest

import fastbp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(code, env_value=None):
    """Run ``code`` in a fresh interpreter with OpenBLAS at 2 threads; (status, stdout, stderr)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", PYTHONPATH=ROOT)
    env.pop("FASTBP_NUM_THREADS", None)
    if env_value is not None:
        env["FASTBP_NUM_THREADS"] = env_value
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    return out.returncode, out.stdout.strip(), out.stderr


BLAS = (  # NumPy's BLAS, the one fastbp's products run in (SciPy, where installed, brings another,
    # which Numba loads lazily while compiling: threadpoolctl can only limit what is loaded)
    "import numpy, os\nfrom threadpoolctl import threadpool_info\n"
    "def blas(): return max(i['num_threads'] for i in threadpool_info()\n"
    "                       if i['user_api'] == 'blas' and 'numpy' in os.path.dirname(i['filepath']))\n"
)


def test_importing_fastbp_leaves_the_blas_threads_alone():
    code = BLAS + (
        "import numpy as np, sys\n"
        "before = blas()\n"
        "import fastbp, fastbp.nets, fastbp.layers, fastbp.optimizer, fastbp.trainer, fastbp.data\n"
        "print(before, blas())"
    )
    assert run(code)[:2] == (0, "2 2")


def test_import_fastbp_alone_loads_neither_numba_nor_threadpoolctl():
    code = "import sys, fastbp; print('numba' in sys.modules, 'threadpoolctl' in sys.modules)"
    assert run(code)[:2] == (0, "False False")


@pytest.mark.parametrize("value, want", [(None, "1"), ("keep", "2"), ("0", "2"), ("2", "2"), ("1", "1")])
def test_ensure_applied_applies_the_environment_once(value, want):
    code = BLAS + (
        "import fastbp, fastbp._threads as T\n"
        "T.ensure_applied(); first = blas()\n"
        "from threadpoolctl import threadpool_limits\n"
        "threadpool_limits(2, user_api='blas')\n"  # the user's own choice afterwards stays
        "T.ensure_applied(); print(first, blas())"
    )
    assert run(code, value)[:2] == (0, f"{want} 2")


def test_set_num_threads_before_the_first_network_wins():
    code = (
        BLAS
        + "import fastbp, fastbp._threads as T\nfastbp.set_num_threads(2)\nT.ensure_applied()\nprint(blas())"
    )
    assert run(code)[:2] == (0, "2")


def test_a_trainer_applies_it():
    code = BLAS + (
        "import numpy as np\n"
        "from fastbp.nets import TwoLayerNet\n"
        "from fastbp.trainer import Trainer\n"
        "import fastbp._threads as T\n"
        "T._pending = True  # as if no network had been built yet\n"
        "x, t = np.zeros((4, 3)), np.zeros(4, np.uint8)\n"
        "Trainer(TwoLayerNet(3, 2, 2), x, t, x, t, epochs=1, mini_batch_size=2, verbose=False)\n"
        "print(blas())"
    )
    assert run(code)[:2] == (0, "1")


@pytest.mark.parametrize("build", ["TwoLayerNet(3, 2, 2)", "Affine(np.ones((2, 2)), np.zeros(2))"])
def test_building_a_network_or_a_blas_layer_applies_it(build):
    code = BLAS + (
        "import numpy as np\nfrom fastbp.nets import TwoLayerNet\nfrom fastbp.layers import Affine\n"
        f"{build}\n"
        "print(blas())"
    )
    assert run(code)[:2] == (0, "1")


@pytest.mark.parametrize("value", ["many", "-1", " -3 ", "1.5"])
def test_bad_environment_value_fails_the_import_with_a_clear_message(value):
    # issue 11.20: "-1" parsed, and set_num_threads' message named neither the variable nor its origin
    code, _, err = run("import fastbp", value)
    assert code != 0
    assert f"FASTBP_NUM_THREADS must be a positive integer, 0 or 'keep', got {value!r}" in err


def test_set_and_get_num_threads():
    before = fastbp.get_num_threads()
    try:
        fastbp.set_num_threads(2)
        assert fastbp.get_num_threads() == 2
        fastbp.set_num_threads(1)
        assert fastbp.get_num_threads() == 1
    finally:
        fastbp.set_num_threads(before)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            fastbp.set_num_threads(bad)
