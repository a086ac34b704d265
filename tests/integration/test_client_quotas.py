"""Client quotas on a running broker: AlterClientQuotas / DescribeClientQuotas on the wire,
and enforcement (throttle_time_ms, the muted connection, the empty throttled fetch, the
closed connection over connection_creation_rate)."""

from __future__ import annotations

import time
from typing import Any

from broker.testing import BrokerFactory
from client.protocol import headers
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch
from tests.integration.wire import RawConnection

ALTER, DESCRIBE = 49, 48


def _request(
    conn: RawConnection, api_key: int, version: int, body: dict[str, Any], client_id: str
) -> Any:
    conn.correlation_id += 1
    conn.send_bytes(headers.encode_request(api_key, version, conn.correlation_id, client_id, body))
    correlation_id, response = headers.decode_response(api_key, version, conn.read_frame())
    assert correlation_id == conn.correlation_id
    return response


def _entity(**names: str | None) -> list[dict[str, Any]]:
    return [
        {"entity_type": kind.replace("_", "-"), "entity_name": name} for kind, name in names.items()
    ]


def _alter(
    bootstrap: str,
    entity: list[dict[str, Any]],
    ops: dict[str, float | None],
    validate_only: bool = False,
) -> Any:
    body = {
        "entries": [
            {
                "entity": entity,
                "ops": [
                    {"key": key, "value": value or 0.0, "remove": value is None}
                    for key, value in ops.items()
                ],
            }
        ],
        "validate_only": validate_only,
    }
    with RawConnection(bootstrap) as conn:
        return conn.request(ALTER, 1, body).entries[0]


def _describe(bootstrap: str, components: list[tuple[str, int, str | None]], strict: bool) -> Any:
    body = {
        "components": [
            {"entity_type": kind, "match_type": match_type, "match": match}
            for kind, match_type, match in components
        ],
        "strict": strict,
    }
    with RawConnection(bootstrap) as conn:
        return conn.request(DESCRIBE, 1, body)


def _described(response: Any) -> dict[tuple[tuple[str, str | None], ...], dict[str, float]]:
    assert response.error_code == ErrorCode.NONE, response.error_message
    return {
        tuple((e.entity_type, e.entity_name) for e in entry.entity): {
            v.key: v.value for v in entry["values"]
        }
        for entry in response.entries
    }


def test_alter_and_describe_client_quotas(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start()
    bootstrap = broker.bootstrap
    result = _alter(bootstrap, _entity(user="alice", client_id=None), {"producer_byte_rate": 1024})
    assert result.error_code == ErrorCode.NONE
    assert [(e.entity_type, e.entity_name) for e in result.entity] == [
        ("user", "alice"),
        ("client-id", None),
    ]
    assert _alter(bootstrap, _entity(client_id="c1"), {"request_percentage": 12.5}).error_code == 0
    assert _alter(bootstrap, _entity(ip=None), {"connection_creation_rate": 100}).error_code == 0
    # validate_only checks and changes nothing
    checked = _alter(bootstrap, _entity(client_id="c2"), {"consumer_byte_rate": 10}, True)
    assert checked.error_code == ErrorCode.NONE
    everything = _described(_describe(bootstrap, [], strict=False))
    assert everything == {
        (("client-id", None), ("user", "alice")): {"producer_byte_rate": 1024.0},
        (("client-id", "c1"),): {"request_percentage": 12.5},
        (("ip", None),): {"connection_creation_rate": 100.0},
    }
    only_users = _described(_describe(bootstrap, [("user", 2, None)], strict=True))
    assert only_users == {}
    alice = _described(_describe(bootstrap, [("user", 0, "alice")], strict=False))
    assert list(alice) == [(("client-id", None), ("user", "alice"))]
    defaults = _described(_describe(bootstrap, [("ip", 1, None)], strict=True))
    assert list(defaults) == [(("ip", None),)]
    # refusals
    bad = _alter(bootstrap, _entity(client_id="c1"), {"producer_byte_rate": 1.5})
    assert bad.error_code == ErrorCode.INVALID_REQUEST
    assert "fractional" in bad.error_message
    bad = _alter(bootstrap, _entity(client_id="c1"), {"connection_creation_rate": 5})
    assert (bad.error_code, bad.error_message) == (
        ErrorCode.INVALID_REQUEST,
        "Invalid configuration key connection_creation_rate",
    )
    mixed = _describe(bootstrap, [("ip", 2, None), ("user", 2, None)], strict=False)
    assert mixed.error_code == ErrorCode.INVALID_REQUEST
    unknown = _describe(bootstrap, [("group", 2, None)], strict=False)
    assert unknown.error_code == ErrorCode.UNSUPPORTED_VERSION
    # removal
    removed = _alter(bootstrap, _entity(client_id="c1"), {"request_percentage": None})
    assert removed.error_code == ErrorCode.NONE
    assert (("client-id", "c1"),) not in _described(_describe(bootstrap, [], strict=False))


def test_quotas_survive_a_restart(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start(subprocess=True)
    result = _alter(broker.bootstrap, _entity(client_id=None), {"consumer_byte_rate": 2048})
    assert result.error_code == ErrorCode.NONE
    data_dir = broker.data_dir
    broker.stop()
    again = kafka_broker_factory.start(subprocess=True, data_dir=data_dir)
    assert _described(_describe(again.bootstrap, [], strict=False)) == {
        (("client-id", None),): {"consumer_byte_rate": 2048.0}
    }


def _create_topic(bootstrap: str, name: str) -> None:
    create = {
        "topics": [
            {
                "name": name,
                "num_partitions": 1,
                "replication_factor": 1,
                "assignments": [],
                "configs": [],
            }
        ],
        "timeout_ms": 5000,
    }
    with RawConnection(bootstrap) as conn:
        assert conn.request(19, 4, create).topics[0].error_code == ErrorCode.NONE


def _produce_body(topic: str, values: list[bytes], acks: int = 1) -> dict[str, Any]:
    return {
        "transactional_id": None,
        "acks": acks,
        "timeout_ms": 5000,
        "topic_data": [
            {"name": topic, "partition_data": [{"index": 0, "records": build_batch(values)}]}
        ],
    }


def test_producer_byte_rate_throttles_that_client_only(
    kafka_broker_factory: BrokerFactory,
) -> None:
    broker = kafka_broker_factory.start()
    _create_topic(broker.bootstrap, "q")
    result = _alter(broker.bootstrap, _entity(client_id="slow"), {"producer_byte_rate": 1000})
    assert result.error_code == ErrorCode.NONE
    body = _produce_body("q", [b"x" * 1000] * 30)  # ~30 kB: 3 kB/s over the 10 s window
    with RawConnection(broker.bootstrap) as conn:
        throttled = _request(conn, 0, 8, body, "slow")
        partition = throttled.responses[0].partition_responses[0]
        assert partition.error_code == ErrorCode.NONE  # throttled, not refused: it is stored
        # (30 kB / 10 s - 1 kB/s) / 1 kB/s * 10 s ~ 20 s
        assert 15_000 < throttled.throttle_time_ms < 25_000
    with RawConnection(broker.bootstrap) as conn:
        other = _request(conn, 0, 8, body, "fast")
        assert other.throttle_time_ms == 0
        assert other.responses[0].partition_responses[0].base_offset == 30


def test_a_throttled_connection_is_muted(kafka_broker_factory: BrokerFactory) -> None:
    """After a throttled response the broker reads the connection's next request only once
    the throttle time has passed; other connections are served meanwhile."""
    broker = kafka_broker_factory.start()
    _create_topic(broker.bootstrap, "m")
    assert (
        _alter(broker.bootstrap, _entity(client_id="m"), {"producer_byte_rate": 2000}).error_code
        == 0
    )
    # ~24 kB: (2.4 kB/s - 2 kB/s) / 2 kB/s * 10 s ~ 2 s of throttle
    body = _produce_body("m", [b"y" * 1000] * 24)
    with RawConnection(broker.bootstrap) as conn:
        first = _request(conn, 0, 8, body, "m")
        assert first.throttle_time_ms > 0
        started = time.monotonic()
        second = _request(conn, 18, 3, {}, "m")  # answered only after the mute
        waited_ms = (time.monotonic() - started) * 1000
        with RawConnection(broker.bootstrap) as other:
            assert _request(other, 18, 3, {}, "m").error_code == ErrorCode.NONE
    assert second.error_code == ErrorCode.NONE
    assert waited_ms >= first.throttle_time_ms - 50  # clock granularity


def test_consumer_byte_rate_answers_an_empty_fetch_when_over(
    kafka_broker_factory: BrokerFactory,
) -> None:
    broker = kafka_broker_factory.start()
    _create_topic(broker.bootstrap, "f")
    with RawConnection(broker.bootstrap) as conn:
        for _ in range(8):  # batches of ~5 kB
            produced = conn.request(0, 8, _produce_body("f", [b"z" * 500] * 10))
            assert produced.responses[0].partition_responses[0].error_code == ErrorCode.NONE
    assert (
        _alter(
            broker.bootstrap, _entity(client_id="reader"), {"consumer_byte_rate": 1000}
        ).error_code
        == 0
    )

    def fetch(conn: RawConnection, offset: int) -> Any:
        body = {
            "replica_id": -1,
            "max_wait_ms": 0,
            "min_bytes": 0,
            "max_bytes": 1 << 20,
            "isolation_level": 0,
            "session_id": 0,
            "session_epoch": -1,
            "topics": [
                {
                    "topic": "f",
                    "partitions": [
                        {
                            "partition": 0,
                            "current_leader_epoch": -1,
                            "fetch_offset": offset,
                            "log_start_offset": -1,
                            "partition_max_bytes": 1 << 20,
                        }
                    ],
                }
            ],
            "forgotten_topics_data": [],
            "rack_id": "",
        }
        return _request(conn, 1, 11, body, "reader")

    with RawConnection(broker.bootstrap) as conn:
        first = fetch(conn, 0)
        records = first.responses[0].partitions[0].records
        # The quota caps one response at what the window allows (1 kB/s x 10 s): one batch.
        assert 5_000 < len(records) <= 10_000
        assert first.throttle_time_ms == 0
    with RawConnection(broker.bootstrap) as conn:
        second = fetch(conn, 10)
        assert second.throttle_time_ms > 0
        assert second.responses == []  # over the quota: nothing sent, nothing counted


def test_request_percentage_throttles(kafka_broker_factory: BrokerFactory) -> None:
    broker = kafka_broker_factory.start()
    assert (
        _alter(broker.bootstrap, _entity(client_id="busy"), {"request_percentage": 0.01}).error_code
        == 0
    )
    throttle = 0
    with RawConnection(broker.bootstrap) as conn:
        for _ in range(500):  # 0.01% of a thread over 10 s is 1 ms of handling
            throttle = _request(conn, 3, 9, {"topics": None}, "busy").throttle_time_ms
            if throttle:
                break
    assert 0 < throttle <= 1000  # a request throttle is capped at one window


def test_connection_creation_rate_closes_connections_over_it(
    kafka_broker_factory: BrokerFactory,
) -> None:
    broker = kafka_broker_factory.start()
    result = _alter(broker.bootstrap, _entity(ip="127.0.0.1"), {"connection_creation_rate": 1})
    assert result.error_code == ErrorCode.NONE
    closed = 0
    for _ in range(30):  # 1/s over a 10 s window: the twelfth connection is over
        with RawConnection(broker.bootstrap) as conn:
            conn.correlation_id += 1
            conn.send_bytes(headers.encode_request(18, 3, 1, "c", {}))
            try:
                conn.read_frame()
            except (ConnectionError, OSError):
                closed += 1
                break
    assert closed == 1


def _create(bootstrap: str, name: str, partitions: int, version: int, client_id: str) -> Any:
    body = {
        "topics": [
            {
                "name": name,
                "num_partitions": partitions,
                "replication_factor": 1,
                "assignments": [],
                "configs": [],
            }
        ],
        "timeout_ms": 5000,
        "validate_only": False,
    }
    with RawConnection(bootstrap) as conn:  # a throttled connection stays muted: one each
        return _request(conn, 19, version, body, client_id)


def test_controller_mutation_rate(kafka_broker_factory: BrokerFactory) -> None:
    """A token bucket of 1 partition/s holding 11 s worth: a 20-partition topic empties it
    (accepted: the bucket may go negative); then strict versions refuse, older ones throttle."""
    broker = kafka_broker_factory.start()
    bootstrap = broker.bootstrap
    quota = {"controller_mutation_rate": 1.0}
    assert _alter(bootstrap, _entity(client_id="admin"), quota).error_code == ErrorCode.NONE
    first = _create(bootstrap, "big", 20, 7, "admin")
    assert (first.topics[0].error_code, first.throttle_time_ms) == (ErrorCode.NONE, 0)
    refused = _create(bootstrap, "next", 1, 7, "admin")
    assert refused.topics[0].error_code == ErrorCode.THROTTLING_QUOTA_EXCEEDED
    assert 8_000 <= refused.throttle_time_ms <= 9_000  # back to zero tokens at 1/s
    permissive = _create(bootstrap, "old", 1, 5, "admin")  # v5 (before KIP-599): throttled
    assert permissive.topics[0].error_code == ErrorCode.NONE
    assert permissive.throttle_time_ms > 8_000
    other = _create(bootstrap, "free", 3, 7, "someone-else")
    assert (other.topics[0].error_code, other.throttle_time_ms) == (ErrorCode.NONE, 0)
    # A topic that fails for another reason is refunded: the throttle stays ~10 s, not ~30 s.
    again = _create(bootstrap, "big", 20, 5, "admin")
    assert again.topics[0].error_code == ErrorCode.TOPIC_ALREADY_EXISTS
    assert permissive.throttle_time_ms - 1_000 <= again.throttle_time_ms <= 11_000
    # DeleteTopics v5+ is strict too: deleting "free" (3 partitions) is refused meanwhile.
    with RawConnection(bootstrap) as conn:
        deleted = _request(conn, 20, 5, {"topic_names": ["free"], "timeout_ms": 5000}, "admin")
    assert deleted.responses[0].error_code == ErrorCode.THROTTLING_QUOTA_EXCEEDED
    assert deleted.throttle_time_ms > 8_000
