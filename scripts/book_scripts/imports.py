"""Rewrite the import lines of the book's chapter scripts to fastbp, and nothing else.

The mapping is the README's "Drop-in for the book" table, as data:

- ``from common.<module> import NAMES`` and ``from dataset.mnist import NAMES`` become
  ``from fastbp.<module> import NAMES`` (the module names are the book's, kept by fastbp);
- three chapter-local model imports become ``fastbp.nets`` imports, each only in its own chapter.

Only whole top-level lines are rewritten (no leading whitespace): the book's imports are all at the
top of its files, and a line that merely mentions ``common.`` (a comment, a string) must stay as it is,
or the comparison would no longer be "the same script with its import lines changed".

    python imports.py TREE            # rewrite TREE/ch03..ch08/*.py in place, print the diff
    python imports.py TREE --check    # print the diff only
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

CHAPTERS = ("ch03", "ch04", "ch05", "ch06", "ch07", "ch08")

# book module -> fastbp module, for `from <module> import ...` lines in any chapter.
MODULES = {
    "common.functions": "fastbp.functions",
    "common.gradient": "fastbp.gradient",
    "common.layers": "fastbp.layers",
    "common.optimizer": "fastbp.optimizer",
    "common.trainer": "fastbp.trainer",
    "common.util": "fastbp.util",
    "common.multi_layer_net": "fastbp.multi_layer_net",
    "common.multi_layer_net_extend": "fastbp.multi_layer_net_extend",
    "dataset.mnist": "fastbp.dataset.mnist",
}

# Chapter-local networks that fastbp provides, as exact lines. Per chapter, because the same module
# name means different code elsewhere: ch04's two_layer_net is the numerical-differentiation
# TwoLayerNet, not ch05's layer-based one that fastbp.nets.TwoLayerNet reproduces, so ch04 keeps its
# own file (whose `common` imports are rewritten by MODULES).
CHAPTER_LINES = {
    "ch05": {"from two_layer_net import TwoLayerNet": "from fastbp.nets import TwoLayerNet"},
    "ch07": {"from simple_convnet import SimpleConvNet": "from fastbp.nets import SimpleConvNet"},
    "ch08": {"from deep_convnet import DeepConvNet": "from fastbp.nets import DeepConvNet"},
}

_FROM_IMPORT = re.compile(r"from (?P<module>[\w.]+) import (?P<names>.+)")
# What a leftover reference to the book's packages looks like after rewriting (reported, not changed).
_LEFTOVER = re.compile(r"^\s*(from|import)\s+(common|dataset)\b")


def rewrite_line(line: str, chapter: str) -> str | None:
    """The fastbp version of one line (without its end-of-line), or None if it is not a mapped import."""
    body = line.rstrip()  # trailing blanks are not part of the match; the caller keeps the line ending
    local = CHAPTER_LINES.get(chapter, {}).get(body)
    if local is not None:
        return local
    m = _FROM_IMPORT.fullmatch(body)
    if m and m["module"] in MODULES:
        return f"from {MODULES[m['module']]} import {m['names']}"
    return None


def rewrite_text(text: str, chapter: str) -> tuple[str, list[tuple[int, str, str]]]:
    """(new text, [(line number, old line, new line), ...]); line endings are kept byte for byte."""
    lines = text.splitlines(keepends=True)
    changes = []
    for i, line in enumerate(lines):
        body = line.rstrip("\r\n")
        new = rewrite_line(body, chapter)
        if new is not None and new != body:
            lines[i] = new + line[len(body) :]
            changes.append((i + 1, body, new))
    return "".join(lines), changes


def leftovers(text: str) -> list[tuple[int, str]]:
    """Lines still importing the book's `common`/`dataset` packages (an unmapped import)."""
    return [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if _LEFTOVER.match(ln)]


def rewrite_tree(tree: Path, write: bool = True) -> dict:
    """Rewrite TREE/ch03..ch08/*.py; returns {"diff": unified diff text, "files": {rel: [changes]},
    "leftovers": {rel: [(line number, line)]}}. With write=False nothing is written."""
    diff, files, left = [], {}, {}
    for chapter in CHAPTERS:
        for path in sorted((tree / chapter).glob("*.py")):
            rel = path.relative_to(tree).as_posix()
            # bytes -> str without newline translation, so CRLF files stay CRLF
            old = path.read_bytes().decode("utf-8")
            new, changes = rewrite_text(old, chapter)
            if changes:
                files[rel] = changes
                diff += difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    f"book/{rel}",
                    f"fastbp/{rel}",
                    n=0,
                )
                if write:
                    path.write_bytes(new.encode("utf-8"))
            rest = leftovers(new)
            if rest:
                left[rel] = rest
    # a file without a final newline would glue the next hunk header on; diffs of imports never need it
    text = "".join(d if d.endswith("\n") else d + "\n" for d in diff)
    return {"diff": text, "files": files, "leftovers": left}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tree", type=Path, help="a copy of the book's repository (it is changed in place)")
    ap.add_argument("--check", action="store_true", help="print the diff, write nothing")
    args = ap.parse_args(argv)
    res = rewrite_tree(args.tree, write=not args.check)
    sys.stdout.write(res["diff"])
    n = sum(len(c) for c in res["files"].values())
    print(f"# {n} import lines in {len(res['files'])} files", file=sys.stderr)
    for rel, lines in res["leftovers"].items():
        for num, line in lines:
            print(f"# not mapped: {rel}:{num}: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
