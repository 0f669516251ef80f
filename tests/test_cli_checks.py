"""``fastbp``: every argument is checked before anything is loaded or trained; exit statuses."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fastbp
from fastbp.cli import main

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--iterations", "2", "--no-progress"]


@pytest.fixture
def no_data_loading(monkeypatch):
    """Fails the test if an argument error is found only after the data is loaded."""
    from fastbp import data

    def refuse(*a, **k):
        raise AssertionError("data loaded before the arguments were checked")

    monkeypatch.setattr(data, "load_embedded_mnist", refuse)
    monkeypatch.setattr(data, "load_mnist", refuse)


def one_error_line(capsys, command="train"):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fastbp {command}: error: "), err
    return lines[0]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--save", "/"], "--save '/' is a directory"),
        (["--save", ""], "--save needs a file name"),
        (["--save", "{tmp}/"], "is a directory"),
        (["--save", "{tmp}/no/such/p.npz"], "the folder '{tmp}/no/such' does not exist"),
        (["--plot", "{tmp}"], "is a directory"),
        (["--data", "{tmp}/typo"], "--data '{tmp}/typo': no such folder"),
        (["--data", "{tmp}/file"], "is not a folder"),
        (
            ["--activation", "tanh", "--weight-decay", "0.5"],
            "--net two-layer does not take --activation, --weight-decay",
        ),
        (["--activation", "relu"], "does not take --activation"),  # given, though the default value
        (["--net", "multi-layer", "--dropout", "0.2"], "--net multi-layer does not take --dropout"),
        (["--net", "deep-conv", "--weight-init", "0.1"], "--net deep-conv does not take --weight-init"),
        (["--net", "multi-layer-extend", "--dropout", "1"], "--dropout must be in [0, 1)"),
        (["--net", "multi-layer", "--weight-decay", "-1"], "--weight-decay must be in [0, inf)"),
        (["--weight-init", "he"], "--weight-init for --net two-layer must be a number"),
        (["--hidden", "10,10"], "--net two-layer takes one hidden size"),
        (["--hidden", "a,b"], "--hidden must be comma-separated positive integers"),
        (["--net", "multi-layer", "--hidden", "100000000"], "would need about"),
        (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
        (["--iterations", "-3"], "--iterations must be a positive integer"),
        (["--epochs", "2", "--iterations", "3"], "give --epochs or --iterations, not both"),
        (["--batch-size", "0"], "--batch-size must be a positive integer"),
        (["--batch-size", "1000000000000"], "--batch-size 1000000000000 is larger than any training set"),
        (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
        (["--lr", "inf"], "--lr must be a finite number > 0"),
        (["--lr", "0"], "--lr must be a finite number > 0"),
        (["--seed", "-1"], "--seed must be in"),
        (["--net", "simple-conv", "--eval-samples", "50"], "must be a multiple of 100"),
        (["--batch-size", "1e12"], "argument --batch-size: invalid int value: '1e12'"),
        (["--net", "three-layer"], "argument --net: invalid choice"),
    ],
)
def test_train_argument_errors_are_one_line_and_status_2(tmp_path, capsys, no_data_loading, argv, words):
    (tmp_path / "file").write_text("")
    fill = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["train", *fill]) == 2
    assert words.replace("{tmp}", str(tmp_path)) in one_error_line(capsys)
    assert not (tmp_path / "no").exists()  # a typo never creates a folder


def test_unwritable_folder_is_refused_before_training(tmp_path, capsys, no_data_loading):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        if os.access(tmp_path / "ro", os.W_OK) and os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        assert main(["train", "--save", str(tmp_path / "ro" / "p.npz")]) == 2
        assert "cannot write into" in one_error_line(capsys)
    finally:
        (tmp_path / "ro").chmod(0o700)


def test_batch_larger_than_the_loaded_training_set(capsys):
    assert main(["train", "--batch-size", "10001", *FAST]) == 2  # the embedded subset holds 10,000
    assert "--batch-size 10001 is larger than the training set (10000 images)" in one_error_line(capsys)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["bench", "--rounds", "0"], "--rounds must be a positive integer, got 0"),
        (["bench", "--round-calls", "0"], "--round-calls must be a positive integer, got 0"),
        (["bench", "--batches", "1,x"], "--batches must be comma-separated positive integers"),
        (["bench", "--batches", "1000000000"], "would need about"),
        (["bench", "--dtypes", "float16"], "--dtypes must be among"),
        (["bench", "--json", "/"], "--json '/' is a directory"),
        (["bench", "--match", "no such group"], "no benchmark group matches"),
        (["gradcheck", "--samples", "0"], "--samples must be a positive integer"),
        (["gradcheck", "--hidden-size", "100000000"], "this gradient check would need about"),
        (["gradcheck", "--samples", "1000000000"], "this gradient check would need about"),
        (["gradcheck", "--input-size", "10000000000"], "this gradient check would need about"),
        (["gradcheck", "--tol", "nan"], "--tol must be in"),
        (["evaluate", "/no/such.npz"], "'/no/such.npz': no such file"),
    ],
)
def test_other_commands_argument_errors(capsys, argv, words):
    assert main(argv) == 2
    assert words in one_error_line(capsys, argv[0])


def test_version_and_help_show_defaults(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"fastbp {fastbp.__version__}"
    assert main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: two-layer)" in out and "(default: 100)" in out and "(default: embedded)" in out
    assert "multi-layer-extend" in out and "--dropout RATIO" in out and "--batch-norm" in out


def test_nan_divergence_is_status_1_and_one_line(capsys):
    assert main(["train", "--lr", "1e300", "--iterations", "50", "--no-progress"]) == 1
    line = one_error_line(capsys)
    assert re.search(r"training diverged: the loss is nan at step \d+", line), line


def test_download_failure_one_line_per_file(tmp_path, monkeypatch, capsys):
    # refused connections (nothing listens on port 9): every file fails at once, without a network
    monkeypatch.setenv("FASTBP_MNIST_MIRRORS", "http://127.0.0.1:9/")
    assert main(["train", "--data", str(tmp_path), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastbp train: error: load_mnist: could not download") and "Traceback" not in err
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        lines = [line for line in err.splitlines() if line.strip().startswith(name + ":")]
        assert len(lines) == 1 and "127.0.0.1:9" in lines[0], err


@pytest.mark.parametrize(
    "argv, cls",
    [
        (
            ["--net", "multi-layer-extend", "--hidden", "20,20", "--dropout", "0.2", "--batch-norm"],
            "MultiLayerNetExtend",
        ),
        (["--net", "simple-conv", "--hidden", "20", "--eval-samples", "100"], "SimpleConvNet"),
    ],
)
def test_train_save_then_evaluate_round_trip(tmp_path, capsys, argv, cls):
    path = str(tmp_path / "net.npz")
    assert main(["train", *argv, *FAST, "--save", path]) == 0
    out = capsys.readouterr().out
    final = float(
        re.search(r"final test accuracy ([\d.]+); 2 steps: first step \(compilation\) [\d.]+ s", out)[1]
    )
    from fastbp.checkpoint import read_description

    desc = read_description(path)  # the network's description is in the weights file itself
    assert desc["class"] == cls and desc["format"] == "fastbp-network"
    assert main(["evaluate", path]) == 0
    got = re.search(r"test accuracy ([\d.]+) on 2000 images", capsys.readouterr().out)
    assert float(got[1]) == final


def test_deep_conv_trains_on_images(capsys):
    argv = ["train", "--net", "deep-conv", "--iterations", "1", "--eval-samples", "100", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "DeepConvNet 1x28x28-50-10" in out and "; 1 step: first step (compilation)" in out
    assert re.search(r"^  0\.01 +[\d.]+ +[\d.]+ +[\d.]+ +- +-$", out, re.M), out


def test_evaluate_refuses_weights_without_a_description(tmp_path, capsys):
    from fastbp import checkpoint
    from fastbp.nets import TwoLayerNet

    path = str(tmp_path / "w.npz")
    checkpoint.save(path, TwoLayerNet(784, 5, 10).params)  # weights only, as older versions wrote them
    assert main(["evaluate", path]) == 2
    assert "does not describe its network" in one_error_line(capsys, "evaluate")
    assert main(["evaluate", str(tmp_path / "none.npz")]) == 2
    assert "no such file" in one_error_line(capsys, "evaluate")


def _start(argv, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", _WITH_SIGINT, *argv],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# `python -m fastbp ARGS` with Python's own SIGINT handler, as in a terminal: a test run started in the
# background by a non-interactive shell has SIGINT ignored, the child inherits that, and Python keeps
# an ignored SIGINT ignored. (Not a preexec_fn: that forks, which JAX, imported by other tests, warns
# of.)
_WITH_SIGINT = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('fastbp', run_name='__main__', alter_sys=True)"
)


def _wait_for(stream, text, timeout=120):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"{text!r} never appeared: {''.join(seen)}")


def test_ctrl_c_during_training_exits_130_without_a_traceback(tmp_path):
    p = _start(["train", "--iterations", "1000000", "--no-progress", "--save", "never.npz"], tmp_path)
    try:
        _wait_for(p.stdout, "epoch")  # the table's header: training has begun
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, err
    assert "Traceback" not in err and err.strip().endswith("fastbp train: interrupted")
    assert "interrupted after" in out and not (tmp_path / "never.npz").exists()


def test_ctrl_c_during_bench_keeps_what_was_measured(tmp_path):
    argv = ["bench", "--kind", "op", "--batches", "1", "--dtypes", "float64", "--rounds", "2", "-v"]
    p = _start([*argv, "--json", "b.json"], tmp_path)
    try:
        _wait_for(p.stderr, "[3/")  # two groups are done
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130, err
    assert "Traceback" not in err and "fastbp bench: interrupted" in err
    saved = json.loads((tmp_path / "b.json").read_text())
    assert saved["interrupted"] and len(saved["table"]) >= 2
    assert re.search(r"interrupted: \d+ of \d+ groups measured", out)
    assert saved["table"][0]["group"] in out
