"""The broker's controller link while the controller is away: backoff doubling to a cap, one
log line per interval instead of one per attempt, and a line when it is reachable again."""

from __future__ import annotations

import logging

import anyio
import anyio.lowlevel
import pytest

from broker.server import controller_link
from broker.server.controller_link import _Retry

pytestmark = pytest.mark.anyio


async def test_backoff_doubles_to_the_cap_and_logs_sparsely(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slept: list[float] = []
    clock = [1000.0]

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    retry = _Retry("controller 127.0.0.1:1", sleep=fake_sleep, clock=lambda: clock[0])
    with caplog.at_level(logging.INFO, logger="odradek.controller_link"):
        for _ in range(30):
            await retry.failed(ConnectionRefusedError("refused"))
        retry.succeeded()
        retry.succeeded()  # nothing more to say
    assert [round(s * 1000) for s in slept[:6]] == [50, 100, 200, 400, 800, 1000]
    assert max(slept) == controller_link.RETRY_BACKOFF_MAX_MS / 1000
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    # 30 attempts over ~26 s: the first, then one per 10 s
    assert 2 <= len(warnings) <= 4, [r.getMessage() for r in warnings]
    assert "attempt 1" in warnings[0].getMessage()
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["controller 127.0.0.1:1: reachable again after 30 failed attempts"]
    await retry.failed(OSError("again"))  # a new outage starts from the first delay
    assert round(slept[-1] * 1000) == 50


async def test_an_unexpected_error_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def no_sleep(seconds: float) -> None:
        await anyio.lowlevel.checkpoint()

    retry = _Retry("metadata fetch", sleep=no_sleep)
    try:
        raise ValueError("bug")
    except ValueError as error:
        await retry.failed(error, unexpected=True)
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None


async def test_the_backoff_can_be_capped_at_a_heartbeat_interval() -> None:
    """The broker's link to the controller backs off no longer than a heartbeat interval:
    a restarted controller hears from it within its session timeout."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    retry = _Retry("controller 127.0.0.1:1", sleep=fake_sleep, max_backoff_ms=250)
    for _ in range(8):
        await retry.failed(ConnectionRefusedError("refused"))
    assert [round(s * 1000) for s in slept] == [50, 100, 200, 250, 250, 250, 250, 250]
