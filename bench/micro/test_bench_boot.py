"""How long the ``kafka_broker`` fixture takes to give a test a ready broker.

For comparison: Kafka in a container takes 5-10 s to accept connections.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from pytest_benchmark.fixture import BenchmarkFixture

from broker.testing import InProcessBroker, ProcessBroker, broker_config
from tests.integration.wire import RawConnection

_COUNTER = itertools.count()


def _ready(bootstrap: str) -> None:
    with RawConnection(bootstrap) as conn:
        assert conn.request(18, 0, {}).error_code == 0


def test_in_process_broker_boot(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    def boot() -> None:
        directory = tmp_path / f"b{next(_COUNTER)}"
        broker = InProcessBroker(directory, broker_config(directory)).start()
        _ready(broker.bootstrap)
        broker.stop()

    benchmark.pedantic(boot, rounds=10, iterations=1)


def test_subprocess_broker_boot(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    def boot() -> None:
        broker = ProcessBroker(tmp_path / f"p{next(_COUNTER)}", {}).start()
        _ready(broker.bootstrap)
        broker.terminate()

    benchmark.pedantic(boot, rounds=5, iterations=1)
