"""``broker.server.broker.run`` (the process entry point) freezes the start-up heap before it
serves, so the cyclic collector's full passes skip what lives as long as the process."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.server import broker as module
from broker.testing import broker_config


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # this test process keeps its own heap collectable


def test_run_freezes_the_heap_before_serving(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    frozen_when_serving: list[int] = []

    class Server:
        node_id = 1

        def __init__(self, config: Any) -> None:
            self.closed = False

        def close(self) -> None:
            self.closed = True

    def serve(*args: Any, **kwargs: Any) -> None:
        frozen_when_serving.append(gc.get_freeze_count())

    monkeypatch.setattr(module, "BrokerServer", Server)
    monkeypatch.setattr(module.anyio, "run", serve)
    assert gc.get_freeze_count() == 0
    assert module.run(broker_config(tmp_path)) == 0
    assert frozen_when_serving and frozen_when_serving[0] > 0
