"""The README's Python examples run as written."""

import contextlib
import io
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Write your own network"


def examples():
    text = README.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


def test_the_section_has_a_sequential_and_a_graph_example():
    blocks = examples()
    assert any("Sequential(" in b for b in blocks) and any("AddLayer()" in b for b in blocks)


@pytest.mark.parametrize("index", range(2))
def test_write_your_own_network_examples_run(index):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(examples()[index], f"README example {index}", "exec"), {})
    printed = out.getvalue().split()
    assert printed
    if "AddLayer" in examples()[index]:
        assert float(printed[-1]) < 1e-7  # backprop equals the central differences
