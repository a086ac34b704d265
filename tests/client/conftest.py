"""Client tests run against the ``kafka_broker`` fixture, or against any Kafka-protocol broker
named by ``ODRADEK_TEST_BOOTSTRAP=host:port`` (then no odradek broker is started)."""

from __future__ import annotations

import os
import uuid

import pytest

BOOTSTRAP_ENV = "ODRADEK_TEST_BOOTSTRAP"


@pytest.fixture
def anyio_backend() -> str:
    """The client runs on anyio; the tests use its asyncio backend."""
    return "asyncio"


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    """``host:port`` of the broker under test: $ODRADEK_TEST_BOOTSTRAP or a fresh odradek."""
    external = os.environ.get(BOOTSTRAP_ENV)
    if external:
        return external
    return str(request.getfixturevalue("kafka_broker").bootstrap)


@pytest.fixture
def topic_name() -> str:
    """A topic name no other test (or earlier run against an external broker) uses."""
    return f"client-test-{uuid.uuid4().hex[:12]}"
