"""fastbp.tuning: the thresholds `fastbp warmup` measures, their file, and how config picks them up.

No timing is asserted: the decisions are pure functions of timings, fed fake ones here.
"""

import json
import time

import numpy as np
import pytest

from fastbp import config, tuning
from fastbp.bench import thresholds
from fastbp.cli import main
from fastbp.tuning import Result, Timing

HOST = {"name": "testcpu", "features": "+avx2,+sse2"}


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A tmp kernel cache folder; config's thresholds resolved again at their next read, and after."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("FASTBP_CACHE", raising=False)
    config._reset()
    yield tmp_path / tuning.FILENAME
    config._reset()


def results(small=2, tanh=4096, limits=None):
    t = (Timing(1, 1e-5, 2e-5),)
    limits = {("float32", 50): 0.11, ("float64", 100): 0.2} if limits is None else limits
    out = [Result("SMALL_BATCH", None, small, t, t[0]), Result("TANH_NUMPY_BELOW", None, tanh, t, t[0])]
    return out + [Result("CSR_MAX_DENSITY", k, v, t, t[0]) for k, v in limits.items()]


def test_the_file_round_trips(tmp_path):
    file = tuning.save(results(), tmp_path / "sub" / "t.json", seconds=1.5)
    data = json.loads(file.read_text())
    assert data["cpu"] == tuning.cpu() and data["format"] == tuning.FORMAT
    assert {"fastbp", "numba", "numpy"} <= set(data["versions"]) and data["date"]
    assert data["thresholds"]["SMALL_BATCH"]["unit"] == "samples"
    assert data["thresholds"]["CSR_MAX_DENSITY"]["value"] == {"float32/50": 0.11, "float64/100": 0.2}
    assert [p.name for p in file.parent.iterdir()] == ["t.json"]  # no temporary file left
    loaded = tuning.read(file)
    assert loaded.values == {
        "SMALL_BATCH": 2,
        "TANH_NUMPY_BELOW": 4096,
        "CSR_MAX_DENSITY": {("float32", 50): 0.11, ("float64", 100): 0.2},
    }
    assert loaded.why == "measured on this CPU"


def test_a_file_from_another_cpu_is_refused(tmp_path):
    file = tuning.save(results(), tmp_path / "t.json")
    assert tuning.read(file, host=HOST).values == {}
    assert "another CPU" in tuning.read(file, host=HOST).why
    data = json.loads(file.read_text())
    data["cpu"] = HOST
    file.write_text(json.dumps(data))
    assert tuning.read(file, host=HOST).values["SMALL_BATCH"] == 2


@pytest.mark.parametrize(
    "text", ["", "{", "\xff\xfe", "[]", "null", '{"format": 99}', '{"format": 1}', "{\"format\": 1, 'x'"]
)
def test_a_damaged_file_gives_the_defaults(tmp_path, text):
    file = tmp_path / "t.json"
    file.write_bytes(text.encode("latin-1"))
    assert tuning.read(file, host=HOST).values == {}


def test_a_partial_file_keeps_the_valid_values_only(tmp_path):
    file = tmp_path / "t.json"
    stored = {
        "SMALL_BATCH": {"value": 3},
        "TANH_NUMPY_BELOW": {"value": "2048"},  # a string: refused
        "CSR_MAX_DENSITY": {
            "value": {"float32/50": 0.2, "float32/x": 0.1, "int8/50": 0.1, "float64/50": 1.5}
        },
    }
    file.write_text(json.dumps({"format": 1, "cpu": HOST, "thresholds": stored}))
    assert tuning.read(file, host=HOST).values == {
        "SMALL_BATCH": 3,
        "CSR_MAX_DENSITY": {("float32", 50): 0.2},
    }
    for bad in (True, -1, 2.5, 10**6, None, [4]):
        stored["SMALL_BATCH"] = {"value": bad}
        file.write_text(json.dumps({"format": 1, "cpu": HOST, "thresholds": stored}))
        assert "SMALL_BATCH" not in tuning.read(file, host=HOST).values
    file.write_text(json.dumps({"format": 1, "cpu": HOST, "thresholds": [1, 2]}))
    assert tuning.read(file, host=HOST).values == {}


def test_config_takes_the_measured_values_at_first_use(fresh, monkeypatch):
    defaults = dict(config.CSR_MAX_DENSITY)  # (no file yet)
    assert config.SMALL_BATCH == 4 and config.TANH_NUMPY_BELOW == 2048
    tuning.save(results(), fresh)
    config._reset()
    monkeypatch.setenv("FASTBP_TUNING", "1")
    assert config.SMALL_BATCH == 2 and config.TANH_NUMPY_BELOW == 4096
    # a measured (dtype, width) replaces its default; the others keep theirs
    assert config.CSR_MAX_DENSITY == {**defaults, ("float32", 50): 0.11, ("float64", 100): 0.2}
    monkeypatch.setattr(config, "SMALL_BATCH", 7)  # tests may still set them
    assert config.SMALL_BATCH == 7


@pytest.mark.parametrize("env", [{"FASTBP_TUNING": "0"}, {"FASTBP_TUNING": "off", "FASTBP_CACHE": "1"}])
def test_fastbp_tuning_0_ignores_the_file(fresh, monkeypatch, env):
    tuning.save(results(), fresh)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    config._reset()
    assert config.SMALL_BATCH == 4 and "FASTBP_TUNING=0" in tuning.load().why


def test_no_kernel_cache_no_file(fresh, monkeypatch):
    monkeypatch.setenv("FASTBP_CACHE", "0")
    monkeypatch.setenv("FASTBP_TUNING", "1")
    assert tuning.path() is None
    assert config.SMALL_BATCH == 4 and tuning.load().why == "no kernel cache: defaults"


def test_the_small_batch_decision():
    win, lose = [(1.0, 2.0), (3.0, 4.0)], [(2.0, 1.0), (4.0, 3.0)]
    assert tuning.choose_small_batch({1: win, 2: win, 4: win, 6: lose, 8: lose}) == 4
    assert tuning.choose_small_batch({1: win, 2: lose, 4: win}) == 1  # a win after a loss: ignored
    assert tuning.choose_small_batch({1: lose, 2: win}) == 0
    # each case counts alike: a 2x loss in one outweighs a 1.5x win in the other, whatever the seconds
    assert tuning.choose_small_batch({1: [(1.0, 1.5), (2e-3, 1e-3)]}) == 0


def test_the_tanh_decision():
    win, lose = [(1.0, 2.0)], [(2.0, 1.0)]
    assert tuning.choose_tanh_numpy_below({256: lose, 1024: lose, 2048: win, 4096: win}) == 2048
    assert tuning.choose_tanh_numpy_below({256: win, 1024: lose, 2048: win, 4096: win}) == 2048
    assert tuning.choose_tanh_numpy_below({256: win, 4096: lose}) == tuning.TANH_NEVER


def test_the_csr_decision():
    line = {d: (0.4 + 2 * d, 1.0) for d in (0.05, 0.15, 0.25, 0.35, 0.45)}  # list = BLAS at 0.3
    assert tuning.choose_csr_limit(line) == pytest.approx(0.27)
    # seconds scaled by a slowdown at one point (both paths): the ratio, hence the limit, is the same
    assert tuning.choose_csr_limit({**line, 0.25: (3 * 0.9, 3.0)}) == pytest.approx(0.27)
    assert tuning.choose_csr_limit({**line, 0.35: (9.0, 1.0)}) == pytest.approx(0.27)  # one outlier
    assert tuning.choose_csr_limit({d: (1.0, 1.0) for d in (0.1, 0.2)}) is None  # no trend
    assert tuning.choose_csr_limit({0.1: (0.1, 1.0), 0.2: (0.2, 1.0)}) == 0.2  # within those measured
    assert tuning.choose_csr_limit({0.1: (2.0, 1.0), 0.2: (3.0, 1.0)}) == 0.0


def fake_pair(call, switch, seconds):
    """Timings of both paths as a function of the point (no call is made, nothing compiles)."""
    x = call.args[0]
    kind = call.func.__name__
    if kind == "gradient":  # loops win up to batch 3
        return (1.0, 1.5) if len(x) <= 3 else (1.5, 1.0)
    if kind == "step":  # list / BLAS = 0.4 + 2 density: list = BLAS at 0.3
        return 0.4 + 2 * np.count_nonzero(x) / x.size, 1.0
    return (1.0, 2.0) if x.size >= 4096 else (2.0, 1.0)  # Tanh's kernel wins from 4096 elements


def test_measure_chooses_from_the_timings_and_restores_config(monkeypatch):
    monkeypatch.setattr(thresholds, "_pair", fake_pair)
    before = {name: getattr(config, name) for name in tuning.UNITS}
    seen = []
    got = {(r.name, r.key): r for r in tuning.measure(1.0, seen.append)}
    assert seen == list(tuning.UNITS)
    assert got["SMALL_BATCH", None].value == 3 and got["SMALL_BATCH", None].at.at == 3
    assert got["TANH_NUMPY_BELOW", None].value == 4096
    for key in [("float32", 50), ("float32", 100), ("float64", 50), ("float64", 100)]:
        r = got["CSR_MAX_DENSITY", key]
        assert r.value == pytest.approx(0.27, abs=0.01) and r.at.at == pytest.approx(0.25)
        assert len(r.timings) == len(tuning.DENSITIES) + 1  # and the MNIST images
    assert {name: getattr(config, name) for name in tuning.UNITS} == before


def test_warmup_measures_and_stores(fresh, monkeypatch, capsys):
    from fastbp.cli import tools

    monkeypatch.setattr(tools, "_warmup_jobs", lambda: [])  # (compiling is test_cli_tools')
    monkeypatch.setattr(thresholds, "_pair", fake_pair)
    assert main(["warmup", "--measure-seconds", "0.5"]) == 0
    out, err = capsys.readouterr()
    assert f"stored in {fresh}" in out and "measuring CSR_MAX_DENSITY" in err
    assert "  SMALL_BATCH (samples; times: a training step, summed over" in out
    assert "\n    3 (default 4); at 3: loops 4000000 us, BLAS 6000000 us\n" in out
    assert "\n  CSR_MAX_DENSITY (fraction of nonzero inputs; times: " in out
    assert "\n    float64, width 50: 0.27 (default " in out
    assert "\n    4096 (default 2048); at 4096: kernel 2000000 us, NumPy 4000000 us\n" in out
    data = json.loads(fresh.read_text())
    assert data["thresholds"]["SMALL_BATCH"]["value"] == 3 and data["cpu"] == tuning.cpu()
    config._reset()
    monkeypatch.setenv("FASTBP_TUNING", "1")
    assert config.SMALL_BATCH == 3 and config.TANH_NUMPY_BELOW == 4096


def test_warmup_without_measuring_or_cache(fresh, monkeypatch, capsys):
    from fastbp.cli import tools

    monkeypatch.setattr(tools, "_warmup_jobs", lambda: [])
    monkeypatch.setattr(thresholds, "_pair", fake_pair)
    assert main(["warmup", "--no-measure"]) == 0
    assert "measured" not in capsys.readouterr().out and not fresh.exists()
    monkeypatch.setenv("FASTBP_CACHE", "0")
    assert main(["warmup", "--measure-seconds", "0.5"]) == 0
    assert "not stored: there is no kernel cache" in capsys.readouterr().out and not fresh.exists()
    assert main(["warmup", "--measure-seconds", "0"]) == 2


def test_pair_interleaves_the_paths_within_its_budget():
    path, calls = [0], []
    t0 = time.perf_counter()
    a, b = thresholds._pair(lambda: calls.append(path[0]), lambda i: path.__setitem__(0, i), 0.05)
    assert time.perf_counter() - t0 < 1.0 and a > 0 and b > 0
    switches = sum(x != y for x, y in zip(calls[:-1], calls[1:], strict=True))
    assert switches >= tuning.ROUNDS  # a block of each per round (ABBAAB...: rounds join alike blocks)
