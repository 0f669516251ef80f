"""Trainer: the book's schedule, draws, lists and printed lines."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from test_nets import blobs

from fastbp.nets import MultiLayerNet, TwoLayerNet
from fastbp.optimizer import Momentum
from fastbp.trainer import Trainer


def data():
    x, t = blobs(250, d=20, c=4, noise=0.3)
    return x[:200], t[:200], x[200:], t[200:]


def test_schedule_lists_and_printed_lines(capsys):
    x, t, xt, tt = data()
    np.random.seed(0)
    net = TwoLayerNet(20, 8, 4)
    tr = Trainer(
        net, x, t, xt, tt, epochs=3, mini_batch_size=60, optimizer="sgd", optimizer_param={"lr": 0.5}
    )
    assert tr.iter_per_epoch == 200 / 60 and tr.max_iter == 10
    tr.train()
    out = capsys.readouterr().out.splitlines()
    assert len(tr.train_loss_list) == 10
    # the book evaluates where iteration % iter_per_epoch == 0 with a float iter_per_epoch (3.33...)
    evals = [i for i in range(10) if i % tr.iter_per_epoch == 0]
    assert len(tr.train_acc_list) == len(tr.test_acc_list) == len(evals) == tr.current_epoch
    assert out[0].startswith("train loss:")
    assert out[1] == f"=== epoch:1, train acc:{tr.train_acc_list[0]}, test acc:{tr.test_acc_list[0]} ==="
    assert out[-2] == "=============== Final Test Accuracy ==============="
    assert out[-1] == f"test acc:{net.accuracy(xt, tt)}"


def test_same_draws_as_a_hand_written_book_loop():
    x, t, xt, tt = data()
    np.random.seed(0)
    a = TwoLayerNet(20, 8, 4)
    np.random.seed(0)
    b = TwoLayerNet(20, 8, 4)
    np.random.seed(3)
    Trainer(a, x, t, xt, tt, epochs=2, mini_batch_size=50, optimizer="Momentum", verbose=False).train()
    np.random.seed(3)
    opt = Momentum(lr=0.01)
    for _ in range(8):
        idx = np.random.choice(200, 50)
        opt.update(b.params, b.gradient(x[idx], t[idx]))
        b.loss(x[idx], t[idx])
    for k in a.params:
        assert_array_equal(a.params[k], b.params[k])


def test_learns_and_reports_history():
    x, t, xt, tt = data()
    np.random.seed(0)
    net = MultiLayerNet(20, [16, 16], 4)
    seen = []
    tr = Trainer(
        net,
        x,
        t,
        xt,
        tt,
        epochs=10,
        mini_batch_size=20,
        optimizer="adam",
        optimizer_param={"lr": 0.01},
        evaluate_sample_num_per_epoch=30,
        verbose=False,
        callback=seen.append,
    )
    tr.train()
    assert seen == tr.history and len(seen) == tr.current_epoch == 10
    assert {"epoch", "loss", "train_acc", "test_acc", "seconds", "samples_per_second"} <= set(seen[0])
    assert tr.test_acc_list[-1] > 0.9 and tr.final_test_acc > 0.9


@pytest.mark.parametrize(
    "kw, exc, words",
    [
        ({"optimizer": "lbfgs"}, ValueError, "optimizer must be one of"),
        ({"optimizer": 3}, TypeError, "optimizer must be a name or an object"),
        ({"epochs": 0}, ValueError, "epochs must be a positive integer"),
        ({"mini_batch_size": 2.5}, ValueError, "mini_batch_size must be a positive integer"),
        ({"evaluate_sample_num_per_epoch": 0}, ValueError, "evaluate_sample_num_per_epoch"),
    ],
)
def test_bad_arguments(kw, exc, words):
    x, t, xt, tt = data()
    with pytest.raises(exc, match=words):
        Trainer(TwoLayerNet(20, 4, 4), x, t, xt, tt, **kw)
    with pytest.raises(ValueError, match="x and t lengths differ"):
        Trainer(TwoLayerNet(20, 4, 4), x, t[:5], xt, tt)
    with pytest.raises(TypeError, match="network has no 'params'"):
        Trainer(object(), x, t, xt, tt)


def test_progress_bar_when_asked_and_tqdm_is_there(monkeypatch, capsys):
    import sys
    import types

    events = []

    class FakeBar:
        def __init__(self, total, **kw):
            events.append(("open", total))

        def update(self, n):
            events.append(("update", n))

        def write(self, line):
            events.append(("write", line))

        def close(self):
            events.append(("close", None))

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    x, t, xt, tt = data()
    tr = Trainer(TwoLayerNet(20, 4, 4), x, t, xt, tt, epochs=1, mini_batch_size=100, progress=True)
    tr.train()
    assert events[0] == ("open", 2) and events[-1] == ("close", None)
    assert sum(1 for e in events if e[0] == "update") == 2
    # printed lines go through the bar so they do not tear it; the final banner comes after it closes
    assert any(e[0] == "write" and e[1].startswith("train loss:") for e in events)
    assert "Final Test Accuracy" in capsys.readouterr().out


def test_no_progress_bar_when_not_a_terminal(monkeypatch):
    import io
    import sys
    import types

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=None))  # would fail if used
    # stderr not a terminal whatever pytest's own is (under `pytest -s` in a terminal it is one)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    x, t, xt, tt = data()
    Trainer(TwoLayerNet(20, 4, 4), x, t, xt, tt, epochs=1, verbose=False).train()


def test_iterations_and_evaluation_at_each_epochs_end():
    x, t, xt, tt = data()
    seen = []
    tr = Trainer(
        TwoLayerNet(20, 8, 4),
        x,
        t,
        xt,
        tt,
        mini_batch_size=60,
        verbose=False,
        iterations=11,
        evaluate_at="epoch_end",
        callback=seen.append,
    )
    tr.train()
    assert tr.max_iter == 11 and len(tr.train_loss_list) == 11
    # 200 samples in batches of 60: epochs end after steps 4, 7 and 10 (240, 420, 600 samples), and
    # the run after step 11; integer arithmetic, where 10 / (200 / 60) would round down to 2.99...
    assert [r["iteration"] + 1 for r in seen] == [4, 7, 10, 11]
    assert [r["steps"] for r in seen] == [4, 3, 3, 1]
    assert 0 < tr.first_step_seconds <= tr.train_seconds


def test_book_schedule_is_the_default_and_iterations_keep_its_draws():
    x, t, xt, tt = data()
    np.random.seed(0)
    a = Trainer(TwoLayerNet(20, 8, 4), x, t, xt, tt, epochs=2, mini_batch_size=50, verbose=False)
    a.train()
    np.random.seed(0)
    b = Trainer(
        TwoLayerNet(20, 8, 4), x, t, xt, tt, epochs=9, mini_batch_size=50, verbose=False, iterations=8
    )
    b.train()
    assert a.train_loss_list == b.train_loss_list and a.test_acc_list == b.test_acc_list


def test_check_finite_stops_a_diverging_run(capsys):
    from fastbp.trainer import TrainingDiverged

    x, t, xt, tt = data()
    np.random.seed(0)
    tr = Trainer(
        TwoLayerNet(20, 8, 4, weight_init_std=1.0),
        x,
        t,
        xt,
        tt,
        epochs=50,
        optimizer="sgd",
        optimizer_param={"lr": 1e300},
        verbose=False,
        check_finite=True,
    )
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match=r"training diverged: the loss is"):
        tr.train()
    assert len(tr.train_loss_list) < tr.max_iter and not np.isfinite(tr.train_loss_list[-1])


def test_write_prints_without_the_bar(capsys):
    x, t, xt, tt = data()
    tr = Trainer(TwoLayerNet(20, 4, 4), x, t, xt, tt, verbose=False)
    tr.write("a line")
    assert capsys.readouterr().out == "a line\n"


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"iterations": 0}, "iterations must be None or a positive integer"),
        ({"evaluate_at": "end"}, "evaluate_at must be one of"),
    ],
)
def test_bad_extra_arguments(kw, words):
    x, t, xt, tt = data()
    with pytest.raises(ValueError, match=words):
        Trainer(TwoLayerNet(20, 4, 4), x, t, xt, tt, **kw)
