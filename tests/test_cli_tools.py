"""fastbp.cli.tools: warmup shows its progress and says what it compiled."""

import re

from fastbp.cli import main


def test_warmup_shows_progress_and_a_summary(capsys):
    assert main(["warmup", "--no-measure"]) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    n = int(re.match(r"\[1/(\d+)\] TwoLayerNet, float64, batch 1$", lines[0])[1])
    assert len(lines) == n and lines[-1].startswith(f"[{n}/{n}] ")  # stderr is not a terminal: no tqdm
    assert any("SimpleConvNet" in line for line in lines) and "compiling kernels" not in err
    assert re.fullmatch(
        r"compiled and cached in [\d.]+ s: (all cached|\d+ kernel versions compiled .*), in .+\n", out
    )
