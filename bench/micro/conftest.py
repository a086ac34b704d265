"""Fixtures of the handler-level micro benchmarks (see ``_shell.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.micro._shell import start_shell
from broker.server.broker import BrokerServer


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[BrokerServer]:
    """A never-served broker (node 1) with live peers 2 and 3; closed after the test."""
    server = start_shell(tmp_path / "node-1")
    yield server
    server.close()
