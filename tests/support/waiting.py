"""Bounded observation loops for tests that watch real processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

POLL_S = 0.05


def wait_until(check: Callable[[], T | None], what: str, timeout_s: float = 15.0) -> T:
    """Observe ``check()`` every ``POLL_S`` until it returns something other than None or
    False, or the deadline passes (an observation loop over cluster state, not a sleep
    standing in for an event).  OSError / ConnectionError count as "not yet": a node may be
    between restarts."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        try:
            last = check()
        except (OSError, ConnectionError) as error:
            last = error
        if last is not None and last is not False and not isinstance(last, Exception):
            return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; last: {last}")
        pause.wait(POLL_S)
