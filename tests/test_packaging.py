"""Packaging: one version source, the licenses and py.typed shipped as package data."""

import pathlib
import re

import pytest

import fastbp

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_is_written_once():
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "fastbp.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", fastbp.__version__)


def test_licenses_and_py_typed_are_shipped():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    notice = (ROOT / "fastbp" / "_data" / "mnist_subset" / "NOTICE").read_text()
    assert "CC BY-SA 3.0" in notice and "Yann LeCun, Corinna Cortes and Christopher J.C. Burges" in notice
    assert (ROOT / "fastbp" / "py.typed").exists()
    data = PYPROJECT["tool"]["setuptools"]["package-data"]["fastbp"]
    assert "py.typed" in data and "_data/mnist_subset/*" in data  # the NOTICE goes with the files


def test_optional_features_are_extras():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert extras["progress"] == ["tqdm"] and extras["plot"] == ["matplotlib"]


def test_the_modules_the_books_numpy_only_scripts_use_import_without_numba():
    """The book's chapter 3-4 scripts use only functions, gradient and the MNIST loader, and chapter 6
    runs the optimizers on Python floats: importing Numba (about 0.15 s) would make them slower than
    the book's (they run in a third of a second)."""
    import subprocess
    import sys

    code = (
        "import sys, fastbp.functions, fastbp.gradient, fastbp.dataset.mnist, fastbp.optimizer, "
        "fastbp.config as c; "
        "assert 'numba' not in sys.modules, 'numba imported'; "
        "assert isinstance(c.CSR_MAX_DENSITY, dict) and 'numba' in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
