"""``python -m fastbp``: the command line (see :mod:`fastbp.cli`)."""

import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while numpy/numba load: the same status as later, no traceback
    sys.exit(130)

sys.exit(main())
