"""Thread settings: one BLAS thread by default, FASTBP_NUM_THREADS and set_num_threads."""

import os
import subprocess
import sys

import pytest

import fastbp


def blas_threads_after_import(env_value):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    env.pop("FASTBP_NUM_THREADS", None)
    if env_value is not None:
        env["FASTBP_NUM_THREADS"] = env_value
    code = "import fastbp; print(fastbp.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.returncode, out.stdout.strip(), out.stderr


def test_import_sets_one_blas_thread_by_default():
    assert blas_threads_after_import(None)[:2] == (0, "1")


@pytest.mark.parametrize("value, want", [("keep", "2"), ("0", "2"), ("2", "2"), ("1", "1")])
def test_environment_variable(value, want):
    assert blas_threads_after_import(value)[:2] == (0, want)


@pytest.mark.parametrize("value", ["many", "-1", " -3 ", "1.5"])
def test_bad_environment_value_fails_the_import_with_a_clear_message(value):
    # issue 11.20: "-1" parsed, and set_num_threads' message named neither the variable nor its origin
    code, _, err = blas_threads_after_import(value)
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
