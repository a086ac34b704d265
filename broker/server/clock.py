"""The shell's clocks: ``monotonic_ms`` for deadlines, ``wall_ms`` for timestamps."""

from __future__ import annotations

import time


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000
