"""fastbp._compiling: one line on stderr when kernels must be compiled, never when they are cached."""

import logging
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from fastbp import _compiling

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTICE = "fastbp: compiling kernels for first use"
# one small kernel: compiled in well under a second
RUN = "import numpy as np\nfrom fastbp.kernels.checks import all_finite\nall_finite(np.ones(3))\n"


def run(cache_home, code=RUN, **env_extra):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), PYTHONPATH=ROOT, **env_extra)
    for name in ("NUMBA_CACHE_DIR", "FASTBP_QUIET", "FASTBP_CACHE", "NUMBA_DISABLE_JIT"):
        if name not in env_extra:
            env.pop(name, None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stderr


def test_a_cold_cache_says_so_once_and_a_warm_one_says_nothing(tmp_path):
    code = RUN + "all_finite(np.ones(3, np.float32))\nfrom fastbp._compiling import stats\nprint(stats())"
    err = run(tmp_path, code)
    assert err.count(NOTICE) == 1 and len(err.splitlines()) == 1, err
    assert "`fastbp warmup` compiles them ahead of time" in err
    assert run(tmp_path, code) == ""  # the same kernels, now cached


def test_fastbp_quiet_silences_it(tmp_path):
    assert run(tmp_path, FASTBP_QUIET="1") == ""


def test_the_fastbp_logger_level_silences_it(tmp_path):
    code = "import logging\nlogging.getLogger('fastbp').setLevel(logging.WARNING)\n" + RUN
    assert run(tmp_path, code) == ""


def test_configured_logging_receives_it_as_info(tmp_path):
    code = "import logging\nlogging.basicConfig(level=logging.INFO)\n" + RUN
    err = run(tmp_path, code)
    assert err.splitlines() == [
        "INFO:fastbp:compiling kernels for first use (about 5 s per kind of network; cached for later "
        "runs; `fastbp warmup` compiles them ahead of time)"
    ]


def test_with_the_cache_off_it_says_every_run_compiles(tmp_path):
    err = run(tmp_path, FASTBP_CACHE="0")
    assert NOTICE in err and "the kernel cache is off (FASTBP_CACHE=0): every run compiles" in err


def test_nothing_without_the_jit(tmp_path):
    assert run(tmp_path, NUMBA_DISABLE_JIT="1") == ""


def test_the_users_own_numba_functions_are_not_counted():
    import fastbp.kernels.checks  # noqa: F401  (installs the watch)

    before = _compiling.stats()

    @numba.njit
    def mine(x):
        return x + 1

    assert mine(np.int64(1)) == 2
    assert _compiling.stats() == before


def test_notify_goes_through_logging_when_it_is_configured(caplog):
    caplog.set_level(logging.INFO, logger="fastbp")
    _compiling.notify("hello")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("fastbp", logging.INFO, "hello")
    ]


@pytest.mark.parametrize(
    "cache, folder, words", [(True, "/x", "cached for later runs"), (True, "", "no writable")]
)
def test_message_names_the_cache_state(cache, folder, words):
    assert words in _compiling.message(folder, cache)
