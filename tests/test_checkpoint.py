"""save_params / load_params: .npz, atomic, validated; pickles read weights-only unless asked for."""

import collections
import io
import os
import pickle
import signal
import stat
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastbp import checkpoint
from fastbp.nets import MultiLayerNet, TwoLayerNet

ROOT = Path(__file__).resolve().parents[1]


def net(seed=0, **kw):
    np.random.seed(seed)
    return TwoLayerNet(6, 4, 3, weight_init_std=1.0, **kw)


def test_round_trip_in_place_keeps_layers_linked(tmp_path):
    a, b = net(0), net(1)
    a.save_params(tmp_path / "p.npz")
    W1 = b.params["W1"]
    b.load_params(tmp_path / "p.npz")
    assert b.params["W1"] is W1 and b.layers["Affine1"].W is W1
    for k in a.params:
        assert_array_equal(b.params[k], a.params[k])
    x = np.random.rand(2, 6)
    assert_array_equal(b.predict(x), a.predict(x))


def test_the_books_file_name_gets_npz_content(tmp_path):
    a = net(0)
    a.save_params(tmp_path / "params.pkl")
    assert (tmp_path / "params.pkl").read_bytes()[:4] == b"PK\x03\x04"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.pkl"]  # no temporary left
    b = net(1)
    b.load_params(tmp_path / "params.pkl")
    assert_array_equal(b.params["W2"], a.params["W2"])


def test_float64_file_into_float32_net(tmp_path):
    a = net(0)
    a.save_params(tmp_path / "p.npz")
    b = net(1, dtype=np.float32)
    b.load_params(tmp_path / "p.npz")
    assert b.params["W1"].dtype == np.float32
    assert_array_equal(b.params["W1"], a.params["W1"].astype(np.float32))


def test_mismatched_or_corrupt_files_change_nothing(tmp_path):
    b = net(1)
    before = {k: v.copy() for k, v in b.params.items()}
    np.random.seed(0)
    MultiLayerNet(6, [4, 4], 3).save_params(tmp_path / "other.npz")
    with pytest.raises(ValueError, match=r"holds the parameters of MultiLayerNet\(input_size=6"):
        b.load_params(tmp_path / "other.npz")  # the saved description says which network it was
    other = MultiLayerNet(6, [4, 4], 3)
    np.savez(tmp_path / "keys.npz", **other.params)  # no description: the keys tell
    with pytest.raises(
        ValueError, match=r"does not match the network: missing \[\], unexpected \['W3', 'b3'\]"
    ):
        b.load_params(tmp_path / "keys.npz")
    np.savez(tmp_path / "shape.npz", **{**before, "W1": np.zeros((4, 6))})
    with pytest.raises(ValueError, match=r"W1 has shape \(4, 6\), the network's has \(6, 4\)"):
        b.load_params(tmp_path / "shape.npz")
    np.savez(tmp_path / "nan.npz", **{**before, "b2": np.array([0, np.nan, 0])})
    with pytest.raises(ValueError, match="b2 contains NaN"):
        b.load_params(tmp_path / "nan.npz")
    good = tmp_path / "good.npz"
    net(0).save_params(good)
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        b.load_params(tmp_path / "cut.npz")
    (tmp_path / "junk").write_bytes(b"hello")
    with pytest.raises(ValueError, match="not a parameter file"):
        b.load_params(tmp_path / "junk")
    with pytest.raises(FileNotFoundError, match="no parameter file"):
        b.load_params(tmp_path / "missing.npz")
    for k in before:
        assert_array_equal(b.params[k], before[k])


def snapshot(params):
    return {k: v.copy() for k, v in params.items()}


def assert_unchanged(params, before):
    for k in before:
        assert_array_equal(params[k], before[k])


# -- load_into: convert before checking, nonnegative keys (issue 11.4, 11.10) -----------------------


def test_float64_beyond_float32_range_is_refused_naming_the_key_before_any_change(tmp_path):
    b = net(1, dtype=np.float32)
    before = snapshot(b.params)
    # b2 comes last: the keys before it would already have been overwritten
    np.savez(
        tmp_path / "big.npz", **{**{k: v.astype(np.float64) for k, v in before.items()}, "b2": [0, 1e300, 0]}
    )
    with pytest.raises(
        ValueError, match=r"b2 has values beyond the range of float32 \(largest magnitude 1e\+300\)"
    ):
        b.load_params(tmp_path / "big.npz")
    assert_unchanged(b.params, before)


def test_nonnegative_keys_refuse_negative_values(tmp_path):
    target = {"gamma": np.ones(3), "running_var": np.ones(3)}
    np.savez(tmp_path / "ok.npz", gamma=[-1.0, 2, 3], running_var=[0.0, 2, 3])
    checkpoint.load_into(tmp_path / "ok.npz", target, nonnegative=["running_var"])
    assert_array_equal(target["running_var"], [0, 2, 3])  # zero is a variance; a negative gamma is fine
    np.savez(tmp_path / "neg.npz", gamma=[1.0, 1, 1], running_var=[1.0, -0.5, 1])
    before = snapshot(target)
    with pytest.raises(ValueError, match=r"running_var has a negative value \(-0.5\); it must be >= 0"):
        checkpoint.load_into(tmp_path / "neg.npz", target, nonnegative=("running_var",))
    assert_unchanged(target, before)
    with pytest.raises(ValueError, match=r"nonnegative names \['running_mean'\], which are not keys"):
        checkpoint.load_into(tmp_path / "ok.npz", target, nonnegative=["running_mean"])
    with pytest.raises(TypeError, match="nonnegative must be a collection of key names"):
        checkpoint.load_into(tmp_path / "ok.npz", target, nonnegative="running_var")
    assert_unchanged(target, before)


# -- load_into: member names and .npy headers first, nothing unexpected read (issue 11.14) ----------


def npz_with(path, arrays, extra):
    """An archive like save's, plus ``extra`` members (name -> raw bytes, deflated)."""
    np.savez(path, **arrays)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z:
        for name, raw in extra.items():
            z.writestr(name, raw)
    return path


def npy_header(shape, descr="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_a_member_that_is_not_an_npy_array_is_named(tmp_path):
    b = net(1)
    before = snapshot(b.params)
    npz_with(tmp_path / "x.npz", before, {"notes.txt": b"hello"})
    with pytest.raises(ValueError, match=r"member 'notes.txt' is not an .npy array"):
        b.load_params(tmp_path / "x.npz")
    assert_unchanged(b.params, before)


def test_a_header_claiming_2_to_the_40_floats_is_refused_without_reading_it(tmp_path):
    b = net(1)
    before = snapshot(b.params)
    huge = npy_header((2**40,)) + b"\0" * 64
    npz_with(tmp_path / "extra.npz", before, {"huge.npy": huge})
    with pytest.raises(ValueError, match=r"unexpected \['huge'\]"):
        b.load_params(tmp_path / "extra.npz")
    # the same header under an expected key: its shape is refused from the header alone
    npz_with(tmp_path / "same.npz", {k: v for k, v in before.items() if k != "W1"}, {"W1.npy": huge})
    with pytest.raises(ValueError, match=r"W1 has shape \(1099511627776,\), the network's has \(6, 4\)"):
        b.load_params(tmp_path / "same.npz")
    assert_unchanged(b.params, before)


def test_an_unexpected_deflated_member_is_not_inflated(tmp_path):
    b = net(1)
    before = snapshot(b.params)
    n = 5_000_000  # 40 MB of float64 zeros, ~40 kB deflated
    npz_with(tmp_path / "bomb.npz", before, {"bomb.npy": npy_header((n,)) + bytes(8 * n)})
    assert (tmp_path / "bomb.npz").stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"unexpected \['bomb'\]"):
            b.load_params(tmp_path / "bomb.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, f"{peak} bytes allocated to refuse an unexpected member"
    assert_unchanged(b.params, before)


def test_an_expected_member_with_more_data_than_its_header_is_refused(tmp_path):
    b = net(1)
    before = snapshot(b.params)
    body = npy_header((3,)) + np.zeros(3).tobytes() + bytes(1000)
    npz_with(tmp_path / "long.npz", {k: v for k, v in before.items() if k != "b2"}, {"b2.npy": body})
    with pytest.raises(ValueError, match=r"corrupt or truncated .*'b2.npy' has bytes after its array"):
        b.load_params(tmp_path / "long.npz")
    assert_unchanged(b.params, before)


# -- save: atomic, modes, symlinks, leftovers (issue 11.16) ----------------------------------------


def test_an_interrupted_save_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "p.npz"
    a = net(0)
    a.save_params(path)
    good = path.read_bytes()

    def half_then_fail(f, **arrays):
        f.write(good[: len(good) // 2])  # part of an archive reaches the file, then the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        net(1).save_params(path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]  # no temporary left
    b = net(1)
    b.load_params(path)
    assert_array_equal(b.params["W1"], a.params["W1"])


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_an_existing_file_keeps_its_mode_and_a_new_one_follows_the_umask(tmp_path):
    path = tmp_path / "p.npz"
    path.write_bytes(b"old")
    path.chmod(0o644)
    net(0).save_params(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o640)
    net(0).save_params(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    for umask, want in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        old = os.umask(umask)
        try:
            new = tmp_path / f"new{umask:o}.npz"
            net(0).save_params(new)
        finally:
            os.umask(old)
        assert stat.S_IMODE(new.stat().st_mode) == want


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_saving_through_a_symlink_writes_its_target(tmp_path):
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "real.npz"
    net(1).save_params(target)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    a = net(0)
    a.save_params(link)
    assert link.is_symlink() and link.resolve() == target
    b = net(1)
    b.load_params(target)
    assert_array_equal(b.params["W1"], a.params["W1"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.npz", "store"]
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["real.npz"]


KILLED_SAVE = """
import sys, time, numpy as np
from fastbp import checkpoint

def slow(f, **arrays):
    f.write(b"x" * 100_000)
    f.flush()
    print("writing", flush=True)
    time.sleep(60)

np.savez = slow
checkpoint.save(sys.argv[1], {"W": np.ones(3)})
"""


@pytest.mark.skipif(os.name != "posix", reason="kill -9")
def test_the_leftover_of_a_killed_save_is_removed_by_the_next_save(tmp_path):
    dest = tmp_path / "p.npz"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, str(dest)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".p.npz.")  # the hidden temporary
    # temporaries that are not a dead save's of this destination are left alone
    live = tmp_path / f".p.npz.{os.getppid()}-{'a' * 12}.fastbp-tmp"  # a save under way elsewhere
    other = tmp_path / f".q.npz.{proc.pid}-{'b' * 12}.fastbp-tmp"  # another destination's
    mine = tmp_path / ".p.npz.notes.tmp"
    huge = tmp_path / f".p.npz.{10**30}-{'c' * 12}.fastbp-tmp"  # no process has that id: not ours to judge
    for p in (live, other, mine, huge):
        p.write_bytes(b"")
    a = net(0)
    a.save_params(dest)
    kept = sorted(["p.npz", live.name, other.name, mine.name, huge.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == kept
    b = net(1)
    b.load_params(dest)
    assert_array_equal(b.params["W1"], a.params["W1"])


def test_save_refuses_non_numeric_values_before_touching_the_file(tmp_path):
    path = tmp_path / "p.npz"
    path.write_bytes(b"old")
    with pytest.raises(ValueError, match=r"save: params\['x'\] must be a numeric array"):
        checkpoint.save(path, {"W": np.ones(2), "x": np.array([object()])})
    assert path.read_bytes() == b"old"


# -- pickles: weights-only by default (issue 12.1) --------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_books_dict_of_arrays_pickle_loads_by_default(tmp_path, protocol, dtype):
    a = net(0)
    path = tmp_path / "params.pkl"
    with open(path, "wb") as f:
        pickle.dump({k: v.astype(dtype) for k, v in a.params.items()}, f, protocol=protocol)
    b = net(1)
    b.load_params(path)
    for k in a.params:
        assert_array_equal(b.params[k], a.params[k].astype(dtype))
        assert b.params[k].dtype == np.float64


def test_an_ordered_dict_pickle_and_other_plain_data_load(tmp_path):
    a = net(0)
    path = tmp_path / "od.pkl"
    path.write_bytes(pickle.dumps(collections.OrderedDict((k, v) for k, v in a.params.items())))
    b = net(1)
    b.load_params(path)
    assert_array_equal(b.params["b1"], a.params["b1"])
    plain = {"a": [1, 2.5, "s", (None, True)], "b": np.float32(3), "c": np.arange(4, dtype=np.int64)}
    for protocol in (2, 5):
        path.write_bytes(pickle.dumps(plain, protocol=protocol))
        got = checkpoint.read_pickle(path)
        assert got["a"] == plain["a"] and got["b"] == 3 and got["b"].dtype == np.float32
        assert_array_equal(got["c"], plain["c"])


class Payload:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def malicious(side_effect):
    from numpy.testing._private import utils as npt_utils

    s = str(side_effect)
    return [
        (os.system, (f"touch {s}",)),
        (eval, (f"open({s!r}, 'w').close()",)),
        (np.save, (s, np.zeros(1))),
        (np.load, (s,)),
        (npt_utils.runstring, (f"open({s!r}, 'w').close()", {})),
    ]


@pytest.mark.parametrize("case", range(5))
def test_a_malicious_pickle_is_refused_naming_the_global_without_running_it(tmp_path, case):
    side_effect = tmp_path / "pwned"
    fn, args = malicious(side_effect)[case]
    name = f"{fn.__module__}.{fn.__name__}"  # what the pickle records: posix.system, builtins.eval, ...
    path = tmp_path / "evil.pkl"
    b = net(1)
    before = snapshot(b.params)
    # the payload hidden among real parameters, as a trojan params.pkl would be
    path.write_bytes(pickle.dumps({**before, "W1": Payload(fn, *args)}))
    with pytest.raises(ValueError, match=rf"refers to {name}, which a weights-only load refuses"):
        b.load_params(path)
    with pytest.raises(ValueError, match=rf"refers to {name}"):
        checkpoint.read_pickle(path)
    assert not side_effect.exists()
    assert_unchanged(b.params, before)


def test_allow_pickle_true_unpickles_anything(tmp_path):
    a = net(0)
    path = tmp_path / "book.pkl"
    path.write_bytes(pickle.dumps({k: v.copy() for k, v in a.params.items()}))
    b = net(1)
    b.load_params(path, allow_pickle=True)
    assert_array_equal(b.params["W1"], a.params["W1"])
    path.write_bytes(pickle.dumps(Payload(collections.Counter, "aab")))
    assert checkpoint.read_pickle(path, allow_pickle=True) == collections.Counter("aab")
    with pytest.raises(ValueError, match="refers to collections.Counter"):
        checkpoint.read_pickle(path)


def test_a_pickle_that_is_not_a_dict_of_numbers_is_refused(tmp_path):
    b = net(1)
    before = snapshot(b.params)
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match="holds a list, not a dict of parameters"):
        b.load_params(path)
    path.write_bytes(pickle.dumps({**before, "W1": np.array([["a"] * 4] * 6)}))
    with pytest.raises(ValueError, match="W1 has dtype <U1, expected floating point"):
        b.load_params(path)
    path.write_bytes(pickle.dumps(before)[:-10])
    with pytest.raises(ValueError, match="is not a readable pickle"):
        b.load_params(path)
    assert_unchanged(b.params, before)
