"""Ctrl-C in the command line's commands is never lost (fastbp._interrupt): noted by the commands' own
SIGINT handler, raised again at the end of a compilation that swallowed it, and a command failing
after one counts as interrupted."""

import os
import signal
import threading
from types import SimpleNamespace

import pytest

from fastbp import _compiling, _interrupt
from fastbp import cli as fastbp_cli


@pytest.fixture(autouse=True)
def python_handles_sigint():
    """Python's own SIGINT handler, as in a terminal (a process started in the background by a
    non-interactive shell inherits SIGINT ignored, and Python then keeps it ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


def _swallowed_ctrl_c():
    """A Ctrl-C that lands where it is dropped (as ctypes drops it in an LLVM callback)."""
    try:
        _ctrl_c()
    except KeyboardInterrupt:
        pass


def _compilation_ends():
    """A fastbp kernel's compilation starting and ending, as Numba reports it to fastbp._compiling."""
    watch = _compiling._Watch(lambda: "")
    watch.announced = True
    fn = SimpleNamespace(py_func=SimpleNamespace(__module__="fastbp.kernels.affine"))
    for start in (True, False):
        watch.notify(SimpleNamespace(data={"dispatcher": fn}, is_start=start))


def test_a_ctrl_c_is_raised_noted_and_the_handler_put_back():
    before = signal.getsignal(signal.SIGINT)
    with _interrupt.catching():
        assert not _interrupt.seen()
        with pytest.raises(KeyboardInterrupt):
            _ctrl_c()
        assert _interrupt.seen()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_swallowed_ctrl_c_is_raised_when_the_compilation_ends():
    with _interrupt.catching():
        _compilation_ends()  # nothing came: nothing raised
        _swallowed_ctrl_c()
        with pytest.raises(KeyboardInterrupt):
            _compilation_ends()
    _compilation_ends()  # outside the commands: Python's own handling, nothing noted


def test_a_handler_the_user_set_or_another_thread_is_left_alone():
    mine = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _interrupt.catching():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, mine)
    seen = []

    def other():
        with _interrupt.catching():
            seen.append(signal.getsignal(signal.SIGINT))

    th = threading.Thread(target=other)
    th.start()
    th.join()
    assert seen == [signal.default_int_handler]


def test_a_command_failing_after_a_ctrl_c_exits_130_as_interrupted(monkeypatch, capsys):
    def broken_by_ctrl_c(args, given):
        _swallowed_ctrl_c()
        raise RuntimeError("no compiled object yet")  # what Numba's half-made state gives

    def broken(args, given):
        raise RuntimeError("a bug")

    def handled_then_broken(args, given):  # (fastbp bench catches the Ctrl-C and goes on)
        try:
            _ctrl_c()
        except KeyboardInterrupt:
            _interrupt.handled()
        _compilation_ends()  # not raised again
        raise KeyError("results")

    monkeypatch.setitem(fastbp_cli.COMMANDS, "gradcheck", broken_by_ctrl_c)
    assert fastbp_cli.main(["gradcheck"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "fastbp gradcheck: after the Ctrl-C: RuntimeError: no compiled object yet",
        "fastbp gradcheck: interrupted",
    ]

    def disk_full_after_ctrl_c(args, given):  # (a failure the command line names, after a Ctrl-C)
        _swallowed_ctrl_c()
        raise OSError("No space left on device")

    monkeypatch.setitem(fastbp_cli.COMMANDS, "gradcheck", disk_full_after_ctrl_c)
    assert fastbp_cli.main(["gradcheck"]) == 130
    assert capsys.readouterr().err.strip().endswith("fastbp gradcheck: interrupted")
    for command, message in ((broken, "a bug"), (handled_then_broken, "results")):
        monkeypatch.setitem(fastbp_cli.COMMANDS, "gradcheck", command)
        with pytest.raises((RuntimeError, KeyError), match=message):  # a failure of its own is shown
            fastbp_cli.main(["gradcheck"])


def test_a_lost_ctrl_c_is_raised_once():
    with _interrupt.catching():
        _swallowed_ctrl_c()
        with pytest.raises(KeyboardInterrupt):
            _compilation_ends()
        _compilation_ends()  # (delivered: the next compilation runs on)


def test_training_broken_by_a_lost_ctrl_c_says_how_far_it_got(monkeypatch, capsys):
    from fastbp import trainer

    def train(self):
        _swallowed_ctrl_c()
        raise RuntimeError("no compiled object yet")

    monkeypatch.setattr(trainer.Trainer, "train", train)
    assert fastbp_cli.main(["train", "--iterations", "5", "--no-progress"]) == 130
    out, err = capsys.readouterr()
    assert "interrupted after 0 of 5 steps" in out
    assert err.strip().endswith("fastbp train: interrupted")
