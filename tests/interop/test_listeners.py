"""Several client listeners per broker (Kafka's INTERNAL / EXTERNAL layout): each listener is
served, and every answer that names brokers gives their endpoints on the listener the request
came on.  Here PLAINTEXT is the inter-broker listener and EXTERNAL is SASL_PLAINTEXT."""

from __future__ import annotations

import re
from typing import Any

from broker.jaas import PLAIN_LOGIN_MODULE
from client.protocol.errors import ErrorCode
from tests.integration.wire import RawConnection
from tests.support.confluent import consume_group, produce_all
from tests.support.waiting import wait_until

TIMEOUT_S = 20.0
SETTINGS = {
    "listener.security.protocol.map": (
        "PLAINTEXT:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT"
    ),
    "sasl.enabled.mechanisms": "PLAIN",
    "listener.name.external.plain.sasl.jaas.config": (
        f'{PLAIN_LOGIN_MODULE} required user_alice="alice-secret";'
    ),
}
ALICE = {
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanism": "PLAIN",
    "sasl.username": "alice",
    "sasl.password": "alice-secret",
}


def metadata_ports(bootstrap: str, *, sasl: bool) -> dict[int, int]:
    with RawConnection(bootstrap) as raw:
        if sasl:
            assert raw.request(17, 1, {"mechanism": "PLAIN"}).error_code == ErrorCode.NONE
            answer = raw.request(36, 2, {"auth_bytes": b"\0alice\0alice-secret"})
            assert answer.error_code == ErrorCode.NONE
        brokers = raw.request(3, 12, {"topics": []}).brokers
        return {broker.node_id: broker.port for broker in brokers}


def coordinator_port(bootstrap: str, group: str) -> int:
    with RawConnection(bootstrap) as raw:
        raw.request(17, 1, {"mechanism": "PLAIN"})
        raw.request(36, 2, {"auth_bytes": b"\0alice\0alice-secret"})

        def found() -> int | None:
            answer = raw.request(10, 4, {"key_type": 0, "coordinator_keys": [group]})
            entry = answer.coordinators[0]
            return int(entry.port) if entry.error_code == ErrorCode.NONE else None

        return wait_until(found, "a group coordinator", TIMEOUT_S)


def test_one_broker_serves_both_listeners(kafka_broker_factory: Any, topic: str) -> None:

    broker = kafka_broker_factory.start(
        {**SETTINGS, "listeners": "PLAINTEXT://127.0.0.1:0,EXTERNAL://127.0.0.1:0"}
    )
    external = broker.server.served_listener("EXTERNAL").bound_port
    assert external not in (0, broker.port)
    assert metadata_ports(broker.bootstrap, sasl=False) == {1: broker.port}
    assert metadata_ports(f"127.0.0.1:{external}", sasl=True) == {1: external}
    assert coordinator_port(f"127.0.0.1:{external}", f"g-{topic}") == external
    with RawConnection(f"127.0.0.1:{external}") as raw:  # EXTERNAL wants a login first
        raw.send_bytes(_metadata_frame())
        assert raw.is_closed_by_peer()

    settings = {"bootstrap.servers": f"127.0.0.1:{external}", **ALICE}
    sent = [f"ext-{index}".encode() for index in range(5)]
    produce_all({**settings, "acks": "all"}, topic, sent)
    assert consume_group(settings, topic, len(sent)) == sent


def test_a_cluster_answers_each_listener_with_its_own_endpoints(
    kafka_cluster_factory: Any, topic: str
) -> None:
    """3 brokers replicating over PLAINTEXT while clients use EXTERNAL (SASL): Metadata,
    produce's leader hints and the consumers' coordinator all name EXTERNAL ports."""
    from confluent_kafka.admin import AdminClient, NewTopic

    cluster = kafka_cluster_factory.start(3, SETTINGS, extra_listeners=("EXTERNAL",))
    external = {}
    for node_id, node in cluster.nodes.items():
        text = b"".join(node.output).decode(errors="replace")
        match = re.search(r"EXTERNAL://127\.0\.0\.1:(\d+)", text)
        assert match is not None, text[-2000:]
        external[node_id] = int(match.group(1))
    plaintext = {node_id: node.port for node_id, node in cluster.nodes.items()}
    bootstrap = ",".join(f"127.0.0.1:{port}" for port in external.values())
    wait_until(
        lambda: metadata_ports(f"127.0.0.1:{external[1]}", sasl=True) == external,
        "every broker's EXTERNAL endpoint",
        TIMEOUT_S,
    )
    wait_until(
        lambda: metadata_ports(f"127.0.0.1:{plaintext[2]}", sasl=False) == plaintext,
        "every broker's PLAINTEXT endpoint at broker 2",
        TIMEOUT_S,
    )

    admin = AdminClient({"bootstrap.servers": bootstrap, **ALICE})
    created = admin.create_topics(
        [NewTopic(topic, 3, 3, config={"min.insync.replicas": "2"})], operation_timeout=10
    )
    created[topic].result(timeout=TIMEOUT_S)
    sent = [f"value-{index}".encode() for index in range(60)]
    produce_all({"bootstrap.servers": bootstrap, "acks": "all", **ALICE}, topic, sent)
    got = consume_group({"bootstrap.servers": bootstrap, **ALICE}, topic, len(sent))
    assert sorted(got) == sorted(sent)
    assert coordinator_port(f"127.0.0.1:{external[3]}", f"g-{topic}") in external.values()


def _metadata_frame() -> bytes:
    from client.protocol import headers

    return headers.encode_request(3, 12, 99, "wire-test", {"topics": []})
