"""A ``LoadTestShape`` that steps the user count up until the p99 produce latency crosses a
threshold, then prints the highest sustainable rate and stops.

Add it to any locustfile with producers (Locust takes several ``-f`` files):

    locust -f bench/load/produce.py,bench/load/step_shape.py --headless --host 127.0.0.1:9092

Each step runs ``ODRADEK_STEP_USERS`` more users (default 5) for ``ODRADEK_STEP_SECONDS``
(default 15); its p99 is computed over that step's own ``produce`` samples (Locust's
per-millisecond histogram, differenced between step boundaries), so earlier steps do not dilute
it.  The run ends at the first step whose p99 exceeds ``ODRADEK_P99_MS`` (default 50), or after
``ODRADEK_MAX_USERS`` (default 200).  The last step within the threshold is the sustainable one:
its users and its produce rate are printed (and kept in ``StepLoadShape.sustainable``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from locust import LoadTestShape
from locust.stats import RequestStats, calculate_response_time_percentile

PRODUCE = "produce"


@dataclass(frozen=True)
class StepResult:
    """One finished step: its users, produce requests per second and p99 (ms)."""

    users: int
    rate_per_s: float
    p99_ms: float


def produce_histogram(stats: RequestStats) -> dict[int, int]:
    """Produce response times (rounded ms → count) summed over every topic."""
    histogram: dict[int, int] = {}
    for entry in stats.entries.values():
        if entry.method == PRODUCE:
            for response_time, count in entry.response_times.items():
                histogram[response_time] = histogram.get(response_time, 0) + count
    return histogram


def step_result(
    users: int, before: dict[int, int], after: dict[int, int], seconds: float
) -> StepResult | None:
    """The step between two histograms; None if it saw no produce request."""
    delta = {rt: count - before.get(rt, 0) for rt, count in after.items()}
    delta = {rt: count for rt, count in delta.items() if count > 0}
    total = sum(delta.values())
    if total == 0:
        return None
    p99 = calculate_response_time_percentile(delta, total, 0.99)
    return StepResult(users, total / max(seconds, 1e-9), float(p99))


class StepLoadShape(LoadTestShape):
    """Users += step every step; stop when a step's p99 produce latency > the threshold."""

    step_users = int(os.environ.get("ODRADEK_STEP_USERS", "5"))
    step_seconds = float(os.environ.get("ODRADEK_STEP_SECONDS", "15"))
    p99_threshold_ms = float(os.environ.get("ODRADEK_P99_MS", "50"))
    max_users = int(os.environ.get("ODRADEK_MAX_USERS", "200"))

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.step = 0
        self.histogram: dict[int, int] = {}
        self.results: list[StepResult] = []
        self.sustainable: StepResult | None = None
        self.finished = False

    def tick(self) -> tuple[int, float] | None:
        """(users, spawn rate) for now, or None to stop the test."""
        if self.finished:
            return None
        step = int(self.get_run_time() // self.step_seconds)  # type: ignore[no-untyped-call]
        if step > self.step:
            if self._close_step():
                self.finished = True
                return None
            self.step = step
        users = self.step_users * (self.step + 1)
        if users > self.max_users:
            self._report(f"reached ODRADEK_MAX_USERS={self.max_users}")
            self.finished = True
            return None
        return users, float(self.step_users)

    def _close_step(self) -> bool:
        """Judge the step that just ended; True if its p99 crossed the threshold."""
        assert self.runner is not None
        now = produce_histogram(self.runner.stats)
        users = self.step_users * (self.step + 1)
        result = step_result(users, self.histogram, now, self.step_seconds)
        self.histogram = now
        if result is None:
            return False
        self.results.append(result)
        print(
            f"step {self.step + 1}: {users} users, {result.rate_per_s:.0f} produce/s, "
            f"p99 {result.p99_ms:.0f} ms",
            flush=True,
        )
        if result.p99_ms > self.p99_threshold_ms:
            self._report(f"p99 {result.p99_ms:.0f} ms > {self.p99_threshold_ms:.0f} ms")
            return True
        self.sustainable = result
        return False

    def _report(self, reason: str) -> None:
        best = self.sustainable
        if best is None:
            print(f"stopped ({reason}): no step stayed within the threshold", flush=True)
            return
        print(
            f"highest sustainable rate: {best.rate_per_s:.0f} produce/s with {best.users} users "
            f"(p99 {best.p99_ms:.0f} ms <= {self.p99_threshold_ms:.0f} ms); stopped: {reason}",
            flush=True,
        )
