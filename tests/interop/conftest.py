"""Shared fixtures for the interop tests: real odradek brokers driven by unmodified clients.

Every test gets its own broker (``kafka_broker`` / ``kafka_broker_factory`` from
``broker.testing``) and unique topic names, so tests never share state.  Each client call
carries its own bounded timeout; the watchdog below is the last line of defence, turning a
client that hangs anyway into a failed test instead of a hung CI run.
"""

from __future__ import annotations

import re
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType

import pytest

# Hard cap on one interop test; client calls themselves are bounded well below this.
TEST_WATCHDOG_S = 45.0

# Records carry CreateTime stamps this far in the past: explicit (so a broker that replaced
# them by its own clock would be caught) yet recent, so no retention or timestamp-skew rule
# of the broker applies to them.
SAMPLE_AGE_MS = 600_000

# Kafka's legal topic characters; anything else in a test id becomes '-'.
_ILLEGAL_TOPIC_CHARS = re.compile(r"[^a-zA-Z0-9._-]")
_MAX_TOPIC_STEM = 120


@pytest.fixture(autouse=True)
def interop_watchdog() -> Iterator[None]:
    """Fail (not hang) a test whose client blocks past ``TEST_WATCHDOG_S``."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"interop test exceeded its {TEST_WATCHDOG_S:.0f} s watchdog")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, TEST_WATCHDOG_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def new_topic_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Make topic names unique to this test: ``new_topic_name("extra")``."""
    stem = _ILLEGAL_TOPIC_CHARS.sub("-", request.node.name)[:_MAX_TOPIC_STEM]

    def make(suffix: str = "") -> str:
        return f"{stem}{suffix}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def topic(new_topic_name: Callable[[str], str]) -> str:
    """One unique topic name for this test (the topic itself is not created)."""
    return new_topic_name("")


@dataclass(frozen=True)
class Sample:
    """One record as produced, to compare with what a consumer reads back."""

    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int


def make_samples(count: int, base_timestamp_ms: int, tag: str = "r") -> list[Sample]:
    """``count`` keyed records with varied sizes, header sets and increasing timestamps.

    Headers vary on purpose: none, one, a repeated key, an empty value; values range from
    empty to about a kilobyte so compressed batches hold several records of mixed sizes.
    """
    samples = []
    for index in range(count):
        headers: list[tuple[str, bytes]] = []
        if index % 4 != 0:
            headers.append(("index", str(index).encode()))
        if index % 3 == 0:
            headers += [("dup", b"first"), ("dup", b"second")]
        if index % 5 == 1:
            headers.append(("empty", b""))
        value = (f"{tag}-value-{index}-".encode() * (index * 7 % 60)) if index % 9 else b""
        samples.append(
            Sample(
                key=f"{tag}-key-{index}".encode(),
                value=value,
                headers=tuple(headers),
                timestamp_ms=base_timestamp_ms + index * 10,
            )
        )
    return samples


@pytest.fixture
def base_timestamp_ms() -> int:
    """A CreateTime base for this test's records (see ``SAMPLE_AGE_MS``)."""
    return int(time.time() * 1000) - SAMPLE_AGE_MS


@pytest.fixture
def samples(base_timestamp_ms: int) -> Callable[..., list[Sample]]:
    """``samples(count, tag="r")``: records stamped from this test's ``base_timestamp_ms``."""

    def make(count: int, tag: str = "r") -> list[Sample]:
        return make_samples(count, base_timestamp_ms, tag)

    return make
