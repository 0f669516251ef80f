"""The command line and the README's commands."""

import re
from pathlib import Path

from fastbp.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_gradcheck_prints_the_books_table(capsys):
    assert main(["gradcheck", "--input-size", "30", "--hidden-size", "6", "--output-size", "4"]) == 0
    out = capsys.readouterr().out
    rows = dict(re.findall(r"^(W1|b1|W2|b2):(\S+)$", out, re.M))
    assert set(rows) == {"W1", "b1", "W2", "b2"}
    assert all(float(v) < 1e-8 for v in rows.values())
    assert out.rstrip().endswith("OK")


def test_gradcheck_fails_loudly_when_the_tolerance_is_not_met(capsys):
    assert main(["gradcheck", "--input-size", "30", "--hidden-size", "6", "--tol", "0"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_gradcheck_reports_bad_arguments(capsys):
    assert main(["gradcheck", "--hidden-size", "0"]) == 2
    assert "fastbp gradcheck: error: --hidden-size must be a positive integer" in capsys.readouterr().err


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "python -m pytest" in readme.split("\n## ")[0]  # among the opening commands
    assert 'pip install ".[test]"' in readme
    # the latest versions' job runs the README's commands as they stand, and the script starts it
    body = ci[ci.index("latest_versions() {") + 1 :]
    body = body[: body.index("}")]
    assert 'pip install ".[test]"' in body and "python -m pytest" in body
    assert body.index('pip install ".[test]"') < body.index("python -m pytest")
    assert "latest_versions &" in ci


def test_train_on_the_embedded_subset_prints_epochs_and_saves(tmp_path, capsys):
    out_file = tmp_path / "net.npz"
    argv = ["train", "--epochs", "2", "--hidden", "30", "--save", str(out_file)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", out, re.M)
    assert [int(r[0]) for r in rows] == [1, 2]
    assert float(rows[-1][3]) > 0.8  # test accuracy after two epochs on 10,000 real digits (0.84 seen)
    assert "embedded MNIST subset: 10000 train / 2000 test" in out
    assert out_file.exists()


def test_train_multi_layer_float32_numpy_backend(capsys):
    argv = [
        "train",
        "--net",
        "multi-layer",
        "--hidden",
        "20,20",
        "--epochs",
        "1",
        "--optimizer",
        "adam",
        "--dtype",
        "float32",
        "--backend",
        "numpy",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "MultiLayerNet 784-20-20-10, adam lr 0.001, batch 100, float32, backend numpy" in out


def test_train_reports_bad_arguments(tmp_path, capsys):
    assert main(["train", "--net", "two-layer", "--hidden", "10,10"]) == 2
    assert "--net two-layer takes one hidden size" in capsys.readouterr().err
    assert main(["train", "--hidden", "a,b"]) == 2
    assert "--hidden must be comma-separated positive integers" in capsys.readouterr().err
    assert main(["train", "--epochs", "0"]) == 2
    assert "--epochs must be a positive integer" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path), "--no-download"]) == 1  # the data, not the arguments
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and str(tmp_path) in err and "Traceback" not in err


def test_plot_without_matplotlib_says_so(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kw):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert main(["train", "--epochs", "1", "--plot", "curves.png"]) == 2
    assert "--plot needs matplotlib" in capsys.readouterr().err


def test_warmup_compiles_everything(capsys):
    assert main(["warmup", "--no-measure"]) == 0
    assert "compiled and cached in" in capsys.readouterr().out
