"""Data-parallel training (fastbp.distributed, Trainer(comm=...), fastbp train --distributed) and
resumable training checkpoints (fastbp.train_state, --save-every, --resume).

The multi-rank tests launch ``mpiexec -n 2`` on tests/mpi_worker.py (or the CLI) in a subprocess and
compare what rank 0 saved with a one-process run; they are skipped, saying why, when mpi4py or
mpiexec is missing (``pip install ".[mpi]"``).
"""

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_nets import blobs

from fastbp.cli import main
from fastbp.distributed import check_batch, shard
from fastbp.nets import TwoLayerNet
from fastbp.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
WORKER = str(ROOT / "tests" / "mpi_worker.py")
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "FASTBP_NUM_THREADS": "1"}
MPIEXEC = shutil.which("mpiexec")
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and MPIEXEC is not None
needs_mpi = pytest.mark.skipif(
    not HAVE_MPI, reason='needs mpi4py and mpiexec (pip install ".[mpi]" installs mpi4py and mpich)'
)


def rel(a: dict, b: dict) -> float:
    """The largest over keys of max|a - b| / max|a|."""
    assert set(a) == set(b)
    return max(float(np.abs(a[k] - b[k]).max() / np.abs(a[k]).max()) for k in a)


def load(path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def run(args, n=None, timeout=600, **kw):
    cmd = [sys.executable, *args] if n is None else [MPIEXEC, "-n", str(n), sys.executable, *args]
    return subprocess.run(cmd, env=kw.pop("env", ENV), capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """Uninterrupted one-process 200-step runs (SGD and Adam) of the worker: {optimizer: params}."""
    d = tmp_path_factory.mktemp("single")
    out = {}
    for opt in ("sgd", "adam"):
        r = run([WORKER, str(d / f"{opt}.npz"), "--optimizer", opt])
        assert r.returncode == 0, r.stderr
        out[opt] = load(d / f"{opt}.npz")
    return out


# -- no MPI needed --------------------------------------------------------------------------------


def test_the_global_batch_must_split_evenly():
    assert check_batch(100, 4, "w") == 25
    with pytest.raises(ValueError, match=r"w: mini_batch_size 99 is not divisible .* \(2\).*98 or 100"):
        check_batch(99, 2, "w")
    with pytest.raises(ValueError, match="mini_batch_size 3 is smaller than the number of ranks"):
        check_batch(3, 4, "w")
    idx = np.arange(12)
    parts = [shard(idx, r, 3) for r in range(3)]
    assert np.array_equal(np.concatenate(parts), idx)  # disjoint, in order, covering the batch


def test_resume_after_a_kill_at_step_150_equals_the_uninterrupted_run(tmp_path, single):
    ck = tmp_path / "ck.npz"
    args = [WORKER, str(tmp_path / "x.npz"), "--optimizer", "adam", "--checkpoint", str(ck), "--every", "100"]
    r = run([*args, "--die-at", "150"])
    assert r.returncode == -signal.SIGKILL
    r = run([WORKER, str(tmp_path / "r.npz"), "--optimizer", "adam", "--resume", str(ck)])
    assert r.returncode == 0, r.stderr
    assert rel(single["adam"], load(tmp_path / "r.npz")) <= 1e-12


def data():
    x, t = blobs(250, d=20, c=4, noise=0.3)
    return x[:200], t[:200], x[200:], t[200:]


def test_trainer_checkpoint_carries_momentum_state_counters_and_draws(tmp_path):
    x, t, xt, tt = data()

    def trainer(path=None, every=None):
        np.random.seed(0)
        net = TwoLayerNet(20, 8, 4)
        kw = dict(optimizer="momentum", optimizer_param={"lr": 0.1}, verbose=False, iterations=30)
        return Trainer(net, x, t, xt, tt, mini_batch_size=20, checkpoint=path, checkpoint_every=every, **kw)

    whole = trainer()
    whole.train()
    a = trainer(tmp_path / "c.npz", every=10)
    for _ in range(20):  # 20 steps, then "crash": the file holds step 20
        a.train_step()
    np.random.seed(123)  # the generator moves on elsewhere: the checkpoint restores it
    b = trainer(tmp_path / "c.npz")
    assert b.resume(tmp_path / "c.npz") == {}
    assert b.current_iter == 20 and b.train_loss_list == a.train_loss_list
    b.train()
    assert b.current_iter == 30 and b.train_loss_list == whole.train_loss_list
    for k in whole.network.params:
        assert np.array_equal(whole.network.params[k], b.network.params[k])
        assert np.array_equal(whole.optimizer.v[k], b.optimizer.v[k])


def test_resume_refuses_a_weights_file_and_another_network_changing_nothing(tmp_path):
    x, t, xt, tt = data()
    np.random.seed(0)
    net = TwoLayerNet(20, 8, 4)
    net.save_params(tmp_path / "w.npz")
    tr = Trainer(net, x, t, xt, tt, mini_batch_size=20, verbose=False, checkpoint=tmp_path / "c.npz")
    with pytest.raises(ValueError, match="is not a training checkpoint"):
        tr.resume(tmp_path / "w.npz")
    tr.save_checkpoint()
    other = TwoLayerNet(20, 9, 4)
    before = {k: v.copy() for k, v in other.params.items()}
    state = np.random.get_state()[1].copy()
    tr2 = Trainer(other, x, t, xt, tt, mini_batch_size=20, verbose=False)
    with pytest.raises(ValueError, match="does not match|W1 is float64"):
        tr2.resume(tmp_path / "c.npz")
    assert all(np.array_equal(before[k], other.params[k]) for k in before)
    assert np.array_equal(state, np.random.get_state()[1]) and tr2.current_iter == 0
    with pytest.raises(ValueError, match="checkpoint_every needs checkpoint"):
        Trainer(net, x, t, xt, tt, checkpoint_every=5)


def test_cli_save_every_and_resume_are_checked_before_training(tmp_path, capsys):
    assert main(["train", "--iterations", "5", "--save-every", "2"]) == 2
    assert "--save-every needs --save PATH" in capsys.readouterr().err
    assert main(["train", "--iterations", "5", "--resume", str(tmp_path / "none")]) == 2
    assert "no training checkpoint" in capsys.readouterr().err


def test_cli_resume_after_a_kill_continues_to_the_same_parameters_and_refuses_other_options(tmp_path, capsys):
    common = ["train", "--net", "multi-layer", "--hidden", "30", "--iterations", "600", "--optimizer", "adam"]
    common += ["--no-progress", "--batch-size", "50"]
    assert main([*common, "--save", str(tmp_path / "a.npz")]) == 0
    b = tmp_path / "b.npz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastbp", *common, "--save", str(b), "--save-every", "20"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not Path(f"{b}.ckpt").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not b.exists()  # killed before the end: only the checkpoint is there
    capsys.readouterr()
    assert main([*common, "--save", str(tmp_path / "c.npz"), "--resume", str(b)]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert rel(load(tmp_path / "a.npz"), load(tmp_path / "c.npz")) == 0.0
    assert main([*common, "--lr", "0.01", "--resume", str(b)]) == 2
    assert "other options (lr: 0.001 there, 0.01 here)" in capsys.readouterr().err


# -- under mpiexec -n 2 ---------------------------------------------------------------------------


@needs_mpi
@pytest.mark.parametrize("opt, tol", [("sgd", 1e-10), ("adam", 1e-8)])
def test_two_ranks_take_the_steps_of_one_process(tmp_path, single, opt, tol):
    r = run([WORKER, str(tmp_path / "p.npz"), "--optimizer", opt, "--comm"], n=2)
    assert r.returncode == 0, r.stderr
    assert rel(single[opt], load(tmp_path / "p.npz")) <= tol


@needs_mpi
def test_two_ranks_resume_after_a_kill_at_step_150(tmp_path, single):
    ck = tmp_path / "ck.npz"
    base = [WORKER, "--optimizer", "adam", "--comm", "--checkpoint", str(ck), "--every", "100"]
    r = run([base[0], str(tmp_path / "x.npz"), *base[1:], "--die-at", "150", "--die-rank", "1"], n=2)
    assert r.returncode != 0
    r = run([base[0], str(tmp_path / "r.npz"), *base[1:], "--resume", str(ck)], n=2)
    assert r.returncode == 0, r.stderr
    r = run([base[0], str(tmp_path / "u.npz"), *base[1:]], n=2)
    assert r.returncode == 0, r.stderr
    assert rel(load(tmp_path / "u.npz"), load(tmp_path / "r.npz")) <= 1e-10
    assert rel(single["adam"], load(tmp_path / "r.npz")) <= 1e-8


def _start_and_wait_for_pids(tmp_path, n, env=ENV, extra=()):
    args = [WORKER, str(tmp_path / "f.npz"), "--comm", "--steps", "1000000", "--sleep", "0.01"]
    args += ["--pidfile", str(tmp_path / "pid"), "--checkpoint", str(tmp_path / "ck.npz"), "--every", "50"]
    cmd = [MPIEXEC, *extra, "-n", str(n), sys.executable, *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = {}
    deadline = time.monotonic() + 120
    while (len(pids) < n or not (tmp_path / "ck.npz").exists()) and time.monotonic() < deadline:
        for r in range(n):
            f = tmp_path / f"pid.{r}"
            if f.exists() and f.read_text().endswith("\n"):
                pids[r] = int(f.read_text().split()[1])
        time.sleep(0.1)
    assert len(pids) == n and (tmp_path / "ck.npz").exists(), "the ranks did not start"
    return proc, pids


def _gone_within(pid, seconds) -> float:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"process {pid} still runs {seconds} s after its peer died")


@needs_mpi
def test_killing_one_rank_ends_the_other_within_60_s_and_keeps_the_checkpoint(tmp_path):
    proc, pids = _start_and_wait_for_pids(tmp_path, 2)
    os.kill(pids[1], signal.SIGKILL)
    took = _gone_within(pids[0], 60)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, err
    print(f"rank 0 ended {took:.1f} s after rank 1 was killed; mpiexec: {err.strip()[:300]}")
    from fastbp.train_state import read

    meta, _ = read(tmp_path / "ck.npz")  # whole, and a multiple of --every
    assert meta["iteration"] % 50 == 0 and meta["iteration"] > 0


@needs_mpi
def test_a_silent_rank_is_named_by_the_heartbeat_and_the_other_exits(tmp_path):
    # SIGSTOP: the rank neither dies nor answers, so no launcher cleans up; the heartbeat must act
    proc, pids = _start_and_wait_for_pids(tmp_path, 2, env={**ENV, "FASTBP_MPI_TIMEOUT": "4"})
    os.kill(pids[1], signal.SIGSTOP)
    try:
        _gone_within(pids[0], 60)
        _, err = proc.communicate(timeout=60)
    finally:
        try:
            os.kill(pids[1], signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert proc.returncode == 70
    assert "rank 0: no heartbeat from rank 1 for" in err


@needs_mpi
def test_cli_distributed_refuses_an_uneven_batch_once_and_trains_printing_once(tmp_path):
    cli = ["-m", "fastbp", "train", "--distributed", "--iterations", "20", "--no-progress", "--hidden", "20"]
    r = run([*cli, "--batch-size", "99"], n=2)
    assert r.returncode == 2
    assert r.stderr.count("--batch-size 99 is not divisible by the number of ranks (2)") == 1
    r = run([*cli, "--batch-size", "1"], n=2)
    assert r.returncode == 2 and "smaller than the number of ranks" in r.stderr
    r = run([*cli, "--batch-size", "100", "--save", str(tmp_path / "n.npz")], n=2)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("final test accuracy") == 1
    assert "distributed: 2 ranks, global batch 100 (50 per rank)" in r.stdout
    assert main(["evaluate", str(tmp_path / "n.npz")]) == 0


@needs_mpi
def test_diverged_ranks_are_detected_on_every_rank():
    code = (
        "import numpy as np\n"
        "from mpi4py import MPI\n"
        "from fastbp.nets import TwoLayerNet\n"
        "from fastbp.distributed import DataParallel, RanksDiverged\n"
        "c = MPI.COMM_WORLD; np.random.seed(c.rank); net = TwoLayerNet(5, 4, 3)\n"
        "dp = DataParallel(net, c)\n"
        "assert np.array_equal(net.params['W1'], c.bcast(net.params['W1']))  # rank 0's everywhere\n"
        "dp.check(1)\n"
        "if c.rank == 1: net.params['b2'][0] += 1e-12\n"
        "try:\n"
        "    dp.check(2)\n"
        "except RanksDiverged as e:\n"
        "    print('diverged', c.rank, e)\n"
        "dp.close()\n"
    )
    r = run(["-c", code], n=2)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("diverged") == 2
    assert "ranks [1] differ from rank 0's after step 2 (in ['b2'])" in r.stdout
