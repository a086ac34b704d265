"""``python -m bench.e2e``: the end-to-end benchmark matrix (see :mod:`bench.e2e.matrix`)."""

import sys

from bench.e2e.matrix import main

sys.exit(main())
