"""The two trees run.py runs the book's scripts in, built once in OUT/work from the user's clone.

    OUT/work/book/          copy of the book's repository; the four MNIST .gz files in its dataset/,
                            converted there by the book's own dataset/mnist.py (no download)
    OUT/work/fastbp/        the same copy with only its import lines rewritten (imports.py)
    OUT/work/fastbp_data/   the .gz files again, FASTBP_DATA of the fastbp runs (checked by SHA-256,
                            parsed into fastbp's .npy cache)
    OUT/work/shipped/       the weight files the book ships, restored before every run
    OUT/work/imports.diff   the exact import-line diff between the two trees
    OUT/work/trees.json     what was built from what (its presence means "built": later runs reuse it)

The user's clone is only read. Both datasets are converted at build time so that no timed run
includes the one-off conversion (the book pickles on first use, fastbp caches .npy files).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import imports

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# Weight files the book ships that scripts read (ch03, ch08) or overwrite (ch07 train_convnet,
# ch08 train_deepnet): restoring them before each run makes the results independent of run order.
SHIPPED = {"ch03": ["sample_weight.pkl"], "ch07": ["params.pkl"], "ch08": ["deep_convnet_params.pkl"]}


class Paths:
    def __init__(self, out: Path):
        self.work = Path(out) / "work"
        self.book = self.work / "book"
        self.fastbp = self.work / "fastbp"
        self.data = self.work / "fastbp_data"
        self.shipped = self.work / "shipped"
        self.diff = self.work / "imports.diff"
        self.manifest = self.work / "trees.json"

    def tree(self, name: str) -> Path:
        """The tree a run of `name` (book, fastbp, fastbp_bookloss) uses."""
        return self.book if name == "book" else self.fastbp


def check_inputs(book_repo: Path | None, mnist_dir: Path | None) -> list[str]:
    """What is wrong with --book-repo / --mnist, as messages (empty when usable)."""
    errors = []
    if book_repo is None:
        errors.append("--book-repo is needed to build the trees")
    else:
        need = [f"ch0{i}" for i in range(3, 9)] + ["common/layers.py", "dataset/mnist.py"]
        need += [f"{ch}/{fn}" for ch, fns in SHIPPED.items() for fn in fns]
        missing = [n for n in need if not (book_repo / n).exists()]
        if missing:
            errors.append(
                f"--book-repo {book_repo} does not look like a clone of the book's repository "
                f"(missing: {', '.join(missing)})"
            )
    if mnist_dir is None:
        errors.append("--mnist is needed to build the trees")
    else:
        missing = [n for n in MNIST_FILES if not (mnist_dir / n).is_file()]
        if missing:
            errors.append(f"--mnist {mnist_dir} lacks {', '.join(missing)}")
    return errors


def git_state(path: Path) -> dict | None:
    """{"commit", "dirty"} of a git checkout, or None (not a checkout, or no git)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _copy_repo(src: Path, dst: Path) -> None:
    def ignore(folder, names):
        skip = {n for n in names if n in (".git", "__pycache__") or n.endswith(".pyc")}
        if Path(folder).name == "dataset":
            # an existing pickle or .gz in the user's clone would bypass the files given with --mnist
            skip |= {n for n in names if n == "mnist.pkl" or n.endswith(".gz")}
        return skip

    shutil.copytree(src, dst, ignore=ignore, symlinks=True)


def _run_logged(cmd, cwd, env, log: Path) -> None:
    with open(log, "w") as f:
        rc = subprocess.run(
            cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        ).returncode
    if rc != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed (exit {rc}); see {log}")


def build(
    paths: Paths, book_repo: Path, mnist_dir: Path, python: str, book_env: dict, fastbp_env: dict, nice: int
) -> dict:
    """Build everything in paths.work (which must not hold a build yet); returns the manifest."""
    errors = check_inputs(book_repo, mnist_dir)
    if errors:
        raise SystemExit("\n".join(errors))
    paths.work.mkdir(parents=True, exist_ok=True)
    book_repo, mnist_dir = book_repo.resolve(), mnist_dir.resolve()
    print(f"building the trees in {paths.work} from {book_repo}", flush=True)
    for d in (paths.book, paths.fastbp, paths.data, paths.shipped):
        if d.exists():  # a half-finished earlier build (no manifest): it is ours to replace
            shutil.rmtree(d)
    _copy_repo(book_repo, paths.book)
    _copy_repo(book_repo, paths.fastbp)
    res = imports.rewrite_tree(paths.fastbp)
    paths.diff.write_text(res["diff"])
    for ch, fns in SHIPPED.items():
        (paths.shipped / ch).mkdir(parents=True, exist_ok=True)
        for fn in fns:
            shutil.copy2(book_repo / ch / fn, paths.shipped / ch / fn)
    paths.data.mkdir()
    for fn in MNIST_FILES:
        shutil.copy2(mnist_dir / fn, paths.book / "dataset" / fn)
        shutil.copy2(mnist_dir / fn, paths.data / fn)

    prefix = ["nice", "-n", str(nice)] if nice else []
    print(
        "converting MNIST with the book's dataset/mnist.py (it finds the .gz files and downloads nothing)",
        flush=True,
    )
    _run_logged(
        prefix + [python, "-c", "from dataset import mnist; mnist.init_mnist()"],
        paths.book,
        book_env,
        paths.work / "convert_book.log",
    )
    print("converting MNIST with fastbp.dataset.mnist (checks the files' SHA-256)", flush=True)
    _run_logged(
        prefix + [python, "-m", "fastbp.dataset.mnist"],
        paths.data,
        fastbp_env,
        paths.work / "convert_fastbp.log",
    )

    manifest = {
        "book_repo": str(book_repo),
        "book_git": git_state(book_repo),
        "mnist": str(mnist_dir),
        "import_lines_changed": sum(len(c) for c in res["files"].values()),
        "files_changed": {rel: len(c) for rel, c in res["files"].items()},
        "not_mapped": {rel: [f"{n}: {line}" for n, line in rest] for rel, rest in res["leftovers"].items()},
        "built": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    paths.manifest.write_text(json.dumps(manifest, indent=1))
    print(
        f"{manifest['import_lines_changed']} import lines changed in {len(res['files'])} files: {paths.diff}",
        flush=True,
    )
    for rel, rest in manifest["not_mapped"].items():
        print(f"  warning: {rel} still imports the book's packages: {rest}", flush=True)
    return manifest


def load(paths: Paths) -> dict | None:
    return json.loads(paths.manifest.read_text()) if paths.manifest.exists() else None


def remove(paths: Paths) -> None:
    """Delete a build (for --rebuild). Only a folder holding our manifest is touched."""
    if not paths.manifest.exists():
        return
    for d in (paths.book, paths.fastbp, paths.data, paths.shipped):
        if d.exists():
            shutil.rmtree(d)
    paths.manifest.unlink()


def restore_shipped(paths: Paths, tree: Path, chapter: str) -> None:
    for fn in SHIPPED.get(chapter, []):
        shutil.copy2(paths.shipped / chapter / fn, tree / chapter / fn)


def keep_rewritten(paths: Paths, tree: Path, chapter: str, out_prefix: str) -> list[str]:
    """Copy a shipped file the run changed (a trainer saving its weights) to OUT, then restore it."""
    kept = []
    for fn in SHIPPED.get(chapter, []):
        cur, orig = tree / chapter / fn, paths.shipped / chapter / fn
        if not cur.exists() or cur.read_bytes() != orig.read_bytes():
            if cur.exists():
                dst = f"{out_prefix}_{fn}"
                shutil.copy2(cur, dst)
                kept.append(dst)
            shutil.copy2(orig, cur)
    return kept
