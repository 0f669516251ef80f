"""Run one book script as ``python SCRIPT`` would, with a seeded np.random and its figures saved to files.

    python wrapper.py --seed 0 --fig-prefix OUT/ch07_train_convnet --timing OUT/x.timing.json SCRIPT

run.py starts this in the script's chapter folder (the scripts append ``os.pardir`` to sys.path and
open files by relative names). What it does around the unchanged script:

- ``np.random.seed(SEED)`` just before the script starts: the scripts never seed, and both trees must
  draw the same weights and batches for their printed numbers to be comparable line by line.
- matplotlib's ``plt.show()`` saves every open figure as ``<prefix>_fig<N>.png`` and closes it (no
  window, nothing blocks); figures still open at exit are saved too. PIL's ``Image.show()`` saves
  ``<prefix>_pil<N>.png`` instead of starting a viewer.
- ``--timing FILE`` gets ``{"script_s": seconds inside the script, "exc": exception name or null}``:
  the time without Python start-up and the wrapper's own imports, which the caller's wall time includes.
"""

import argparse
import atexit
import json
import os
import runpy
import sys
import time

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("script")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--fig-prefix", required=True)
ap.add_argument("--timing", default=None)
args = ap.parse_args()
script = os.path.abspath(args.script)

# Before matplotlib is imported anywhere: a headless backend, so savefig works without a display.
os.environ.setdefault("MPLBACKEND", "Agg")
counters = {"fig": 0, "pil": 0}


def save_open_figures():
    import matplotlib.pyplot as plt

    for num in plt.get_fignums():
        counters["fig"] += 1
        fig = plt.figure(num)
        try:
            fig.savefig(f"{args.fig_prefix}_fig{counters['fig']}.png")
        except Exception as e:  # a figure that cannot be drawn must not hide the script's own output
            print(f"[wrapper] savefig failed for figure {num}: {e!r}", file=sys.stderr)
        plt.close(fig)


try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def show(*_args, **_kwargs):
        save_open_figures()

    plt.show = show
    # matplotlib.pylab (which some scripts import) copies `show` from pyplot when it is first imported,
    # so patching pyplot first is enough, unless pylab was already imported
    if "matplotlib.pylab" in sys.modules:
        sys.modules["matplotlib.pylab"].show = show
    have_mpl = True
except ImportError:
    have_mpl = False

try:
    from PIL import Image

    def pil_show(self, title=None, **_kwargs):
        counters["pil"] += 1
        self.save(f"{args.fig_prefix}_pil{counters['pil']}.png")

    Image.Image.show = pil_show
except ImportError:
    pass


@atexit.register
def save_leftover_figures():
    if have_mpl:
        try:
            save_open_figures()
        except Exception:  # at exit, after the script's own output: nothing useful left to report to
            pass


# What `python SCRIPT` would have set. sys.path[0] is this tool's folder until here: replacing it also
# keeps this folder's modules (run.py, compare.py, ...) from shadowing anything the script imports.
sys.argv = [script]
sys.path[0] = os.path.dirname(script)

import numpy as np  # noqa: E402  (usually imported already, by matplotlib)

np.random.seed(args.seed)
exc = None
t0 = time.perf_counter()
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as e:
    exc = None if e.code in (None, 0) else f"SystemExit({e.code!r})"
    raise
except BaseException as e:
    exc = type(e).__name__
    raise
finally:
    elapsed = time.perf_counter() - t0
    sys.stdout.flush()
    if args.timing:
        with open(args.timing, "w") as f:
            json.dump({"script_s": elapsed, "exc": exc}, f)
