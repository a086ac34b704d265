"""UnregisterBroker (64), ``kafka-cluster unregister --id N``: sent to any broker, forwarded
to the controller.  A dead broker's registration goes (a second call finds none); a broker
still running registers again at its next heartbeat and rejoins its ISRs."""

from __future__ import annotations

from typing import Any

import pytest

from broker import cli
from broker.testing import BrokerFactory, ClusterFactory
from client.protocol.errors import ErrorCode
from tests.integration.admin_requests import create_topic, wait_for_states
from tests.integration.wire import RawConnection
from tests.support.waiting import wait_until

UNREGISTER_BROKER = 64


def _unregister(address: str, broker_id: int) -> tuple[ErrorCode, str | None]:
    with RawConnection(address) as conn:
        response = conn.request(UNREGISTER_BROKER, 0, {"broker_id": broker_id})
    return ErrorCode(response.error_code), response.error_message


def test_unknown_broker_on_a_single_node(
    kafka_broker_factory: BrokerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    broker: Any = kafka_broker_factory.start()
    assert _unregister(broker.bootstrap, 5) == (
        ErrorCode.BROKER_ID_NOT_REGISTERED,
        "Broker 5 is not registered.",
    )
    argv = ["cluster", "unregister", "--id", "5", "--bootstrap-server", broker.bootstrap]
    assert cli.main(argv) == 1
    assert capsys.readouterr().err == (
        "odradek: error: broker 5: BROKER_ID_NOT_REGISTERED (102): Broker 5 is not registered.\n"
    )


def test_unregister_a_dead_then_a_live_broker(kafka_cluster_factory: ClusterFactory) -> None:
    cluster = kafka_cluster_factory.start(brokers=3)
    nodes = cluster.nodes
    first = f"127.0.0.1:{nodes[1].port}"
    create_topic(first, "u", assignments=[[3, 1, 2]])
    wait_for_states(cluster, "u", lambda s: len(s[0][2]) == 3, "u: full ISR")

    nodes[3].kill()
    assert cli.main(["cluster", "unregister", "--id", "3", "--bootstrap-server", first]) == 0
    moved = wait_for_states(
        cluster, "u", lambda s: s[0][0] in (1, 2) and 3 not in s[0][2], "u led without 3"
    )
    assert moved[0][0] in (1, 2)
    assert _unregister(first, 3)[0] == ErrorCode.BROKER_ID_NOT_REGISTERED
    assert _unregister(first, 42)[0] == ErrorCode.BROKER_ID_NOT_REGISTERED

    # Started again, it registers anew and catches up into the ISR.
    nodes[3].start()
    wait_for_states(cluster, "u", lambda s: 3 in s[0][2], "3 back in the ISR")
    # A running broker unregistered: it registers again by itself and rejoins.
    assert _unregister(first, 2) == (ErrorCode.NONE, None)
    wait_until(
        lambda: any(b"registering again" in line for line in list(nodes[2].output)),
        "broker 2 told its registration is gone",
    )
    wait_for_states(cluster, "u", lambda s: len(s[0][2]) == 3, "2 registered again, full ISR")
