"""scripts/book_scripts: the import-line rewriter and the log comparison, on inline text (no book repo)."""

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parent.parent / "scripts" / "book_scripts"


def load(name):
    spec = importlib.util.spec_from_file_location(f"book_scripts_{name}", TOOL / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def imports():
    return load("imports")


@pytest.fixture(scope="module")
def compare():
    return load("compare")


SAMPLE = (
    "# coding: utf-8\n"
    "import sys, os\n"
    "sys.path.append(os.pardir)\n"
    "import numpy as np\n"
    "from dataset.mnist import load_mnist\n"
    "from common.layers import *\n"
    "from common.util import smooth_curve, shuffle_dataset\n"
    "from two_layer_net import TwoLayerNet\n"
    "from simple_convnet import SimpleConvNet\n"
    "    from common.layers import Relu\n"  # indented: not a top-level import line
    "# from common.optimizer import SGD would be the old way\n"
    "x = 'from common.layers import *'\n"
    "from common.unknown import thing\n"
)


def test_rewrites_the_mapped_import_lines_and_nothing_else(imports):
    new, changes = imports.rewrite_text(SAMPLE, "ch05")
    assert [(n, old) for n, old, _ in changes] == [
        (5, "from dataset.mnist import load_mnist"),
        (6, "from common.layers import *"),
        (7, "from common.util import smooth_curve, shuffle_dataset"),
        (8, "from two_layer_net import TwoLayerNet"),
    ]
    assert [new for _, _, new in changes] == [
        "from fastbp.dataset.mnist import load_mnist",
        "from fastbp.layers import *",
        "from fastbp.util import smooth_curve, shuffle_dataset",
        "from fastbp.nets import TwoLayerNet",
    ]
    old_lines, new_lines = SAMPLE.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    assert [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b] == [4, 5, 6, 7]
    # an import the table does not know stays, and is reported
    assert imports.leftovers(new) == [
        (10, "    from common.layers import Relu"),
        (13, "from common.unknown import thing"),
    ]


def test_chapter_local_networks_are_mapped_only_in_their_own_chapter(imports):
    # ch04's two_layer_net is a different TwoLayerNet; ch05's SimpleConvNet line is not ch07's
    _, changes = imports.rewrite_text("from two_layer_net import TwoLayerNet\n", "ch04")
    assert changes == []
    _, changes = imports.rewrite_text("from simple_convnet import SimpleConvNet\n", "ch07")
    assert changes[0][2] == "from fastbp.nets import SimpleConvNet"
    _, changes = imports.rewrite_text("from deep_convnet import DeepConvNet\n", "ch07")
    assert changes == []


def test_line_endings_and_trailing_text_are_kept(imports):
    new, changes = imports.rewrite_text("from common.functions import softmax\r\nimport numpy\r\n", "ch03")
    assert new == "from fastbp.functions import softmax\r\nimport numpy\r\n"
    new, _ = imports.rewrite_text("from common.optimizer import *", "ch06")  # no final newline
    assert new == "from fastbp.optimizer import *"


def test_rewrite_tree_writes_the_chapter_files_and_the_diff(imports, tmp_path):
    (tmp_path / "ch03").mkdir()
    (tmp_path / "common").mkdir()
    script = tmp_path / "ch03" / "s.py"
    script.write_text("import numpy as np\nfrom common.functions import sigmoid\nprint(1)\n")
    untouched = tmp_path / "common" / "functions.py"
    untouched.write_text("from common.util import im2col\n")  # not a chapter folder
    res = imports.rewrite_tree(tmp_path, write=False)
    assert "from common.functions" in script.read_text()  # write=False writes nothing
    res = imports.rewrite_tree(tmp_path)
    assert script.read_text() == "import numpy as np\nfrom fastbp.functions import sigmoid\nprint(1)\n"
    assert untouched.read_text() == "from common.util import im2col\n"
    assert res["files"] == {
        "ch03/s.py": [(2, "from common.functions import sigmoid", "from fastbp.functions import sigmoid")]
    }
    assert "-from common.functions import sigmoid\n+from fastbp.functions import sigmoid\n" in res["diff"]


def test_compare_counts_identical_close_and_other_lines(compare):
    # NumPy pads printed arrays to their widest number: only the amount of blank space differs
    book = ["loss 2.3025850929940455", "acc | 0.1, 0.1", "[[ 0.44452826  0.14014461]", "done", "x 1.0"]
    fastbp = ["loss 2.302585101", "acc | 0.1, 0.1", "[[ 0.44453     0.14014516]", "done!", "x 1.1"]
    res = compare.compare_lines(book, fastbp, rtol=1e-5)
    assert (res["identical"], res["close"], res["other"]) == (1, 2, 2)
    assert 3e-6 < res["max_rel_close"] < 5e-6
    assert res["others"] == [(4, "done", 4, "done!"), (5, "x 1.0", 5, "x 1.1")]


def test_compare_resynchronises_after_an_extra_line(compare):
    book = [f"step {i} loss {1 / (i + 1):.6f}" for i in range(10)]
    fastbp = book[:3] + ["RuntimeWarning: overflow encountered"] + book[3:]
    res = compare.compare_lines(book, fastbp)
    assert (res["identical"], res["close"], res["other"]) == (10, 0, 1)
    assert res["others"] == [(None, "", 4, "RuntimeWarning: overflow encountered")]
