"""Print the saved benchmark run that ``make bench`` compares with (nothing if there is none).

    python -m bench.micro.baseline [STORAGE]      # STORAGE: bench/baselines by default

pytest-benchmark saves runs as ``STORAGE/<machine id>/NNNN_<name>.json`` (the machine id is
``OS-implementation-version-bits``, e.g. ``Linux-CPython-3.11-64bit``), and its plain
``--benchmark-compare`` only looks in the current machine id's folder, so on a fresh clone run
with another Python it would find nothing.  This picks the newest run saved for the current
machine id, else the newest saved for any (by the run's own ``datetime``), and the Makefile
passes that file explicitly: ``--benchmark-compare=<file>``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pytest_benchmark.utils import get_machine_id

PATTERN = "[0-9][0-9][0-9][0-9]_*.json"


def _saved_at(path: Path) -> str:
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["datetime"])
    except (OSError, ValueError, KeyError):
        return ""


def newest_run(storage: Path) -> Path | None:
    machine = str(get_machine_id())  # type: ignore[no-untyped-call]
    own = sorted((storage / machine).glob(PATTERN))
    if own:
        return own[-1]  # pytest-benchmark numbers a machine's runs in order
    every = [path for path in storage.glob(f"*/{PATTERN}") if _saved_at(path)]
    return max(every, key=_saved_at, default=None)


def main(argv: list[str]) -> int:
    storage = Path(argv[0] if argv else "bench/baselines")
    found = newest_run(storage)
    if found is not None:
        print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
