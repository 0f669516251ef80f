"""The ``fastbp`` command line.

- ``fastbp train``: train a network of the book (``--net two-layer|multi-layer|multi-layer-extend|
  simple-conv|deep-conv``) on MNIST with :class:`fastbp.trainer.Trainer`, printing per-epoch loss,
  accuracies, seconds per epoch and samples per second, and the first step's (compilation) time apart.
- ``fastbp evaluate PATH``: the test accuracy of a network saved by ``fastbp train --save PATH``.
- ``fastbp bench``, ``fastbp warmup``, ``fastbp gradcheck``: timings, compilation, the ch05 check.

Every argument is checked before data is loaded or anything is trained. Exit status: 0 success;
1 failure (a gradient check fails, training diverges to NaN, MNIST cannot be loaded, a file cannot be
written); 2 a usage error, printed as one line ``fastbp <command>: error: ...``; 130 interrupted
(Ctrl-C), without a traceback.
"""

from __future__ import annotations

import re
import sys

from .. import _interrupt
from . import parser as _parser
from .checks import UsageError
from .tools import run_bench, run_gradcheck, run_warmup
from .train import run_evaluate, run_train

__all__ = ["main", "UsageError"]

COMMANDS = {
    "train": run_train,
    "evaluate": run_evaluate,
    "bench": run_bench,
    "warmup": run_warmup,
    "gradcheck": run_gradcheck,
}


def _one_line_per_file(message: str) -> str:
    """data's download report lists each file, then one indented line per mirror tried: join each
    file's lines into one. Any other text is returned as it is."""
    out, current = [], None
    for line in message.splitlines():
        if re.fullmatch(r"  \S+:", line):
            out.append(line)
            current = len(out) - 1
        elif current is not None and line.startswith("    "):
            out[current] += (" " if out[current].endswith(":") else "; ") + line.strip()
        else:
            current = None
            out.append(line)
    return "\n".join(out)


def main(argv=None) -> int:
    """Run the ``fastbp`` command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    command = "fastbp"
    try:
        try:
            args, given = _parser.parse(argv)
        except SystemExit as e:  # --help, --version, or argparse's one-line error (status 2)
            return e.code if isinstance(e.code, int) else 2
        command = f"fastbp {args.command}"
        from .. import _threads
        from ..data import MnistError
        from ..trainer import TrainingDiverged

        _threads.ensure_applied()  # the command runs fastbp's steps: their thread setting (see _threads)
        try:
            with _interrupt.catching():
                try:
                    return COMMANDS[args.command](args, given)
                except Exception as e:  # after a Ctrl-C: what it caused (Numba's state after one it
                    if not _interrupt.seen():  # swallowed: fastbp._interrupt), whatever the failure
                        raise
                    print(f"{command}: after the Ctrl-C: {type(e).__name__}: {e}", file=sys.stderr)
                    print(f"{command}: interrupted", file=sys.stderr)
                    return 130
        except UsageError as e:
            if not getattr(e, "quiet", False):  # (--distributed: rank 0 alone says it)
                print(f"{command}: error: {e}", file=sys.stderr)
            return 2
        except MnistError as e:
            print(f"{command}: error: {_one_line_per_file(str(e))}", file=sys.stderr)
            return 1
        except TrainingDiverged as e:
            print(f"{command}: error: {e}", file=sys.stderr)
            return 1
        except OSError as e:  # writing a result failed (disk full, permissions changed meanwhile)
            print(f"{command}: error: {e}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
