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
    assert "hidden_size must be a positive integer" in capsys.readouterr().err


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == "python -m pytest"
    assert "python -m pytest" in readme.split("\n## ")[0]  # among the opening commands
    assert 'pip install ".[test]"' in readme and 'pip install ".[test]"' in "\n".join(ci)
