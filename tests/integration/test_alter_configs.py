"""AlterConfigs (33) and IncrementalAlterConfigs (44) over the wire: per-resource answers,
DescribeConfigs reading the change back, the new config acting on live partitions (the log's
max.message.bytes, min.insync.replicas for acks=all), and the change surviving restarts.

Single-node tests run a combined broker in this process; the cluster tests run a controller
and broker-only nodes as processes, where a change is forwarded to the controller and reaches
every broker through the metadata log.
"""

from __future__ import annotations

import random
import struct
import threading
import time
import uuid
from typing import Any

import pytest

from broker.testing import BrokerFactory, ClusterFactory
from client.protocol import headers
from client.protocol.errors import ErrorCode
from client.protocol.records import build_batch
from tests.integration.wire import RawConnection

PRODUCE, METADATA, API_VERSIONS, CREATE_TOPICS, DESCRIBE_CONFIGS = 0, 3, 18, 19, 32
ALTER_CONFIGS, INCREMENTAL_ALTER_CONFIGS = 33, 44
TOPIC, BROKER = 2, 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG = 1, 5
DEADLINE_S = 20.0


def _create(conn: RawConnection, name: str, replication_factor: int = 1, **configs: str) -> None:
    body = {
        "topics": [
            {
                "name": name,
                "num_partitions": 1,
                "replication_factor": replication_factor,
                "assignments": [],
                "configs": [{"name": k.replace("_", "."), "value": v} for k, v in configs.items()],
            }
        ],
        "timeout_ms": 5000,
    }
    assert conn.request(CREATE_TOPICS, 4, body).topics[0].error_code == ErrorCode.NONE


def _incremental(
    conn: RawConnection,
    resources: list[tuple[int, str, list[tuple[str, int, str | None]]]],
    *,
    validate_only: bool = False,
    version: int = 1,
) -> list[tuple[int, str, ErrorCode, str | None]]:
    body = {
        "resources": [
            {
                "resource_type": kind,
                "resource_name": name,
                "configs": [
                    {"name": key, "config_operation": op, "value": value}
                    for key, op, value in configs
                ],
            }
            for kind, name, configs in resources
        ],
        "validate_only": validate_only,
    }
    return _answers(conn.request(INCREMENTAL_ALTER_CONFIGS, version, body))


def _alter(
    conn: RawConnection,
    resources: list[tuple[int, str, dict[str, str | None]]],
    *,
    validate_only: bool = False,
    version: int = 2,
) -> list[tuple[int, str, ErrorCode, str | None]]:
    body = {
        "resources": [
            {
                "resource_type": kind,
                "resource_name": name,
                "configs": [{"name": key, "value": value} for key, value in configs.items()],
            }
            for kind, name, configs in resources
        ],
        "validate_only": validate_only,
    }
    return _answers(conn.request(ALTER_CONFIGS, version, body))


def _answers(response: Any) -> list[tuple[int, str, ErrorCode, str | None]]:
    assert response.throttle_time_ms == 0
    return [
        (item.resource_type, item.resource_name, ErrorCode(item.error_code), item.error_message)
        for item in response.responses
    ]


def _codes(answers: list[tuple[int, str, ErrorCode, str | None]]) -> list[ErrorCode]:
    return [code for _, _, code, _ in answers]


def _describe_or_none(conn: RawConnection, topic: str) -> dict[str, tuple[str | None, int]] | None:
    """The topic's configs; None while this broker does not know the topic (its metadata
    may lag the broker that created it)."""
    body = {
        "resources": [{"resource_type": TOPIC, "resource_name": topic, "configuration_keys": None}],
        "include_synonyms": False,
        "include_documentation": False,
    }
    result = conn.request(DESCRIBE_CONFIGS, 4, body).results[0]
    if result.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
        return None
    assert result.error_code == ErrorCode.NONE, result
    return {entry.name: (entry.value, entry.config_source) for entry in result.configs}


def _describe(conn: RawConnection, topic: str) -> dict[str, tuple[str | None, int]]:
    described = _describe_or_none(conn, topic)
    assert described is not None, f"{topic} unknown"
    return described


def _produce(
    conn: RawConnection, topic: str, value: bytes, acks: int = 1, timeout_ms: int = 5000
) -> Any:
    body = {
        "transactional_id": None,
        "acks": acks,
        "timeout_ms": timeout_ms,
        "topic_data": [
            {"name": topic, "partition_data": [{"index": 0, "records": build_batch([value])}]}
        ],
    }
    return conn.request(PRODUCE, 8, body).responses[0].partition_responses[0]


def _still_serving(bootstrap: str) -> None:
    with RawConnection(bootstrap) as conn:
        assert conn.request(API_VERSIONS, 0, {}).error_code == ErrorCode.NONE


def _eventually(check: Any, what: str, deadline_s: float = DEADLINE_S) -> Any:
    """Poll ``check`` until it returns a truthy value (bounded; no sleeping)."""
    pause = threading.Event()
    deadline = time.monotonic() + deadline_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.05)


@pytest.fixture
def broker(kafka_broker_factory: BrokerFactory) -> Any:
    return kafka_broker_factory.start({"auto.create.topics.enable": "false"})


# -- one broker (combined mode) ----------------------------------------------------------------


def test_api_versions_advertise_both(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        versions = {
            entry.api_key: (entry.min_version, entry.max_version)
            for entry in conn.request(API_VERSIONS, 3, {}).api_keys
        }
    assert versions[ALTER_CONFIGS] == (0, 2)
    assert versions[INCREMENTAL_ALTER_CONFIGS] == (0, 1)


@pytest.mark.parametrize("version", [0, 1])
def test_incremental_operations_and_describe(broker: Any, version: int) -> None:
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "t", retention_ms="3600000")
        answers = _incremental(
            conn,
            [
                (
                    TOPIC,
                    "t",
                    [
                        ("retention.ms", SET, "1000"),
                        ("cleanup.policy", APPEND, "compact"),
                        ("min.insync.replicas", SET, "1"),
                    ],
                )
            ],
            version=version,
        )
        assert answers == [(TOPIC, "t", ErrorCode.NONE, None)]
        described = _describe(conn, "t")
        assert described["retention.ms"] == ("1000", DYNAMIC_TOPIC_CONFIG)
        assert described["cleanup.policy"] == ("delete,compact", DYNAMIC_TOPIC_CONFIG)
        assert described["segment.bytes"][1] == DEFAULT_CONFIG
        answers = _incremental(
            conn,
            [
                (
                    TOPIC,
                    "t",
                    [("retention.ms", DELETE, None), ("cleanup.policy", SUBTRACT, "delete")],
                )
            ],
            version=version,
        )
        assert _codes(answers) == [ErrorCode.NONE]
        described = _describe(conn, "t")
        assert described["retention.ms"] == ("604800000", DEFAULT_CONFIG)
        assert described["cleanup.policy"] == ("compact", DYNAMIC_TOPIC_CONFIG)


@pytest.mark.parametrize("version", [0, 1, 2])
def test_alter_configs_replaces_the_dynamic_set(broker: Any, version: int) -> None:
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "t", retention_ms="3600000", segment_ms="60000")
        answers = _alter(conn, [(TOPIC, "t", {"segment.bytes": "1048576"})], version=version)
        assert answers == [(TOPIC, "t", ErrorCode.NONE, None)]
        described = _describe(conn, "t")
        assert described["segment.bytes"] == ("1048576", DYNAMIC_TOPIC_CONFIG)
        # Keys not given went back to their defaults.
        assert described["retention.ms"] == ("604800000", DEFAULT_CONFIG)
        assert described["segment.ms"] == ("604800000", DEFAULT_CONFIG)


def test_errors_are_per_resource(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "good")
        _create(conn, "other")
        answers = _incremental(
            conn,
            [
                (TOPIC, "missing", [("retention.ms", SET, "1")]),
                (TOPIC, "other", [("retention.mss", SET, "1")]),
                (TOPIC, "other", [("retention.ms", SET, "soon")]),
                (BROKER, "1", [("num.partitions", SET, "1")]),
                (99, "x", []),
                (TOPIC, "good", [("retention.ms", SET, "5000")]),
                (TOPIC, "extra", [("retention.ms", APPEND, "1")]),
            ],
        )
        assert _codes(answers) == [
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            ErrorCode.INVALID_REQUEST,  # "other" twice
            ErrorCode.INVALID_REQUEST,
            ErrorCode.INVALID_REQUEST,
            ErrorCode.INVALID_REQUEST,
            ErrorCode.NONE,
            ErrorCode.INVALID_CONFIG,
        ]
        assert [(kind, name) for kind, name, _, _ in answers] == [
            (TOPIC, "missing"),
            (TOPIC, "other"),
            (TOPIC, "other"),
            (BROKER, "1"),
            (99, "x"),
            (TOPIC, "good"),
            (TOPIC, "extra"),
        ]
        broker_message = answers[3][3]
        assert broker_message is not None and "dynamically" in broker_message
        assert answers[6][3] == "Can't APPEND to key retention.ms because its type is not LIST."
        assert _describe(conn, "good")["retention.ms"] == ("5000", DYNAMIC_TOPIC_CONFIG)
        # Each kind of bad key or value alone.
        unknown = _alter(conn, [(TOPIC, "other", {"retention.mss": "1"})])[0]
        assert unknown[2] is ErrorCode.INVALID_CONFIG
        assert unknown[3] is not None and "retention.mss" in unknown[3]
        bad = _alter(conn, [(TOPIC, "other", {"min.insync.replicas": "0"})])[0]
        assert bad[2] is ErrorCode.INVALID_CONFIG
        assert _describe(conn, "other")["min.insync.replicas"][1] == DEFAULT_CONFIG


def test_broker_resources_refuse_static_keys_and_other_brokers(broker: Any) -> None:
    """Dynamic broker configs are tests/integration/test_dynamic_broker_configs.py's."""
    with RawConnection(broker.bootstrap) as conn:
        answers = _alter(
            conn,
            [
                (BROKER, "1", {"num.partitions": "3"}),
                (BROKER, "", {"listeners": "PLAINTEXT://:9"}),
                (BROKER, "7", {}),
                (BROKER, "1", {}),  # a duplicate of the first
            ],
        )
        assert _codes(answers) == [ErrorCode.INVALID_REQUEST] * 4
        static = answers[1][3]
        assert static is not None and "Cannot update these configs dynamically" in static
        assert _codes(_incremental(conn, [(BROKER, "1", [])])) == [ErrorCode.NONE]


def test_validate_only_changes_nothing(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "t", retention_ms="3600000")
        assert _codes(
            _incremental(conn, [(TOPIC, "t", [("retention.ms", SET, "1")])], validate_only=True)
        ) == [ErrorCode.NONE]
        assert _codes(_alter(conn, [(TOPIC, "t", {})], validate_only=True)) == [ErrorCode.NONE]
        refused = _incremental(
            conn, [(TOPIC, "t", [("retention.ms", SET, "x")])], validate_only=True
        )
        assert _codes(refused) == [ErrorCode.INVALID_CONFIG]
        assert _describe(conn, "t")["retention.ms"] == ("3600000", DYNAMIC_TOPIC_CONFIG)


def test_max_message_bytes_acts_on_the_live_partition(broker: Any) -> None:
    value = b"x" * 5000
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "t")
        assert _produce(conn, "t", value).error_code == ErrorCode.NONE
        changed = _incremental(conn, [(TOPIC, "t", [("max.message.bytes", SET, "2000")])])
        assert _codes(changed) == [ErrorCode.NONE]
        assert _produce(conn, "t", value).error_code == ErrorCode.MESSAGE_TOO_LARGE
        assert _produce(conn, "t", b"small").error_code == ErrorCode.NONE
        deleted = _incremental(conn, [(TOPIC, "t", [("max.message.bytes", DELETE, None)])])
        assert _codes(deleted) == [ErrorCode.NONE]
        assert _produce(conn, "t", value).error_code == ErrorCode.NONE


def test_config_survives_a_restart(kafka_broker_factory: BrokerFactory) -> None:
    data_dir = kafka_broker_factory.new_data_dir()
    broker = kafka_broker_factory.start(subprocess=True, data_dir=data_dir)
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "t")
        changed = _alter(conn, [(TOPIC, "t", {"max.message.bytes": "2000", "retention.ms": "9"})])
        assert _codes(changed) == [ErrorCode.NONE]
    broker.kill()  # type: ignore[union-attr]
    again = kafka_broker_factory.start(subprocess=True, data_dir=data_dir)
    with RawConnection(again.bootstrap) as conn:
        described = _describe(conn, "t")
        assert described["max.message.bytes"] == ("2000", DYNAMIC_TOPIC_CONFIG)
        assert described["retention.ms"] == ("9", DYNAMIC_TOPIC_CONFIG)
        assert _produce(conn, "t", b"x" * 5000).error_code == ErrorCode.MESSAGE_TOO_LARGE


# -- bad input -------------------------------------------------------------------------------


def test_unknown_operations_and_null_values(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "t")
        for operation in (4, 5, -1, 127, -128):
            answers = _incremental(conn, [(TOPIC, "t", [("retention.ms", operation, "1")])])
            assert _codes(answers) == [ErrorCode.INVALID_REQUEST]
        assert _codes(_incremental(conn, [(TOPIC, "t", [("retention.ms", SET, None)])])) == [
            ErrorCode.INVALID_REQUEST
        ]
        assert _codes(_alter(conn, [(TOPIC, "t", {"retention.ms": None})])) == [
            ErrorCode.INVALID_REQUEST
        ]
        duplicate = _incremental(
            conn, [(TOPIC, "t", [("retention.ms", SET, "1"), ("retention.ms", DELETE, None)])]
        )
        assert _codes(duplicate) == [ErrorCode.INVALID_REQUEST]
        assert _incremental(conn, []) == []
        assert _describe(conn, "t")["retention.ms"][1] == DEFAULT_CONFIG


def test_truncated_frames_close_the_connection(broker: Any) -> None:
    body = {
        "resources": [
            {
                "resource_type": TOPIC,
                "resource_name": "t",
                "configs": [{"name": "retention.ms", "config_operation": SET, "value": "1"}],
            }
        ],
        "validate_only": False,
    }
    for api_key, version in ((INCREMENTAL_ALTER_CONFIGS, 0), (INCREMENTAL_ALTER_CONFIGS, 1)):
        frame = headers.encode_request(api_key, version, 1, "x", body)
        broken = struct.pack(">i", len(frame) - 4 - 5) + frame[4:-5]
        with RawConnection(broker.bootstrap) as conn:
            conn.send_bytes(broken)
            assert conn.is_closed_by_peer()
    _still_serving(broker.bootstrap)


def test_random_requests_get_an_answer_per_resource(broker: Any) -> None:
    """Seeded random requests: every resource is answered with one of the expected codes,
    the broker keeps serving, and DescribeConfigs still describes a valid topic."""
    rng = random.Random(20240)
    keys = ["retention.ms", "cleanup.policy", "min.insync.replicas", "bogus.key", "", "x" * 300]
    values = ["1", "-1", "compact", "delete,compact", "", " 5 ", "\u00e9", None, "9" * 40]
    expected = {
        ErrorCode.NONE,
        ErrorCode.INVALID_CONFIG,
        ErrorCode.INVALID_REQUEST,
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.INVALID_TOPIC_EXCEPTION,
    }
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "t")
        for _ in range(60):
            resources = [
                (
                    rng.choice([TOPIC, TOPIC, TOPIC, BROKER, 0, 8, 127]),
                    rng.choice(["t", "t", "missing", "", "1", "bad/name"]),
                    [
                        (rng.choice(keys), rng.randint(-2, 5), rng.choice(values))
                        for _ in range(rng.randint(0, 3))
                    ],
                )
                for _ in range(rng.randint(0, 4))
            ]
            if rng.random() < 0.5:
                answers = _incremental(conn, resources, validate_only=rng.random() < 0.3)
            else:
                legacy = [
                    (kind, name, dict((k, v) for k, _, v in cfg)) for kind, name, cfg in resources
                ]
                answers = _alter(conn, legacy, validate_only=rng.random() < 0.3)
            assert len(answers) == len(resources)
            assert set(_codes(answers)) <= expected, answers
        assert "retention.ms" in _describe(conn, "t")
    _still_serving(broker.bootstrap)


# -- a cluster (forwarded to the controller, applied by every broker) ------------------------


def _partition(conn: RawConnection, topic: str) -> Any:
    metadata = conn.request(
        METADATA, 12, {"topics": [{"name": topic, "topic_id": uuid.UUID(int=0)}]}
    )
    return metadata, metadata.topics[0].partitions[0]


def test_min_insync_replicas_raised_on_a_cluster(kafka_cluster_factory: ClusterFactory) -> None:
    """min.insync.replicas 1 -> 3 on an RF=3 topic: every broker reports it, a killed follower
    makes acks=all refused with NOT_ENOUGH_REPLICAS, and the restarted broker has it too."""
    cluster = kafka_cluster_factory.start(brokers=3)
    first = cluster.bootstrap.split(",")[0]
    with RawConnection(first) as conn:
        _create(conn, "m", replication_factor=3)
        answers = _incremental(
            conn,
            [
                (
                    TOPIC,
                    "m",
                    [("min.insync.replicas", SET, "3"), ("max.message.bytes", SET, "3000")],
                )
            ],
        )
        assert answers == [(TOPIC, "m", ErrorCode.NONE, None)]
        # Read-your-writes at the broker that forwarded the change.
        assert _describe(conn, "m")["min.insync.replicas"] == ("3", DYNAMIC_TOPIC_CONFIG)
        metadata, partition = _partition(conn, "m")
    addresses = {b.node_id: f"{b.host}:{b.port}" for b in metadata.brokers}
    for address in addresses.values():
        with RawConnection(address) as conn:
            _eventually(
                lambda conn=conn: (
                    (_describe_or_none(conn, "m") or {}).get("min.insync.replicas")
                    == ("3", DYNAMIC_TOPIC_CONFIG)
                ),
                f"min.insync.replicas=3 at {address}",
            )
    leader = partition.leader_id
    with RawConnection(addresses[leader]) as conn:
        # The leader, a broker-only node, applied the log config it replayed.
        assert _produce(conn, "m", b"x" * 5000, acks=-1).error_code == ErrorCode.MESSAGE_TOO_LARGE
        assert _produce(conn, "m", b"all-three", acks=-1).error_code == ErrorCode.NONE
    victim = next(replica for replica in partition.replica_nodes if replica != leader)
    cluster.nodes[victim].kill()
    with RawConnection(addresses[leader]) as conn:

        def refused() -> bool:
            answer = _produce(conn, "m", b"two-of-three", acks=-1, timeout_ms=1000)
            return bool(answer.error_code == ErrorCode.NOT_ENOUGH_REPLICAS)

        _eventually(refused, "acks=all refused with NOT_ENOUGH_REPLICAS")
        # acks=1 is still taken: min.insync.replicas only gates acks=all.
        assert _produce(conn, "m", b"acks-1", acks=1).error_code == ErrorCode.NONE
    restarted = cluster.nodes[victim].start()
    with RawConnection(f"127.0.0.1:{restarted.port}") as conn:
        _eventually(
            lambda: _describe(conn, "m").get("min.insync.replicas") == ("3", DYNAMIC_TOPIC_CONFIG),
            "the restarted broker's config",
        )
    with RawConnection(addresses[leader]) as conn:
        _eventually(
            lambda: (
                _produce(conn, "m", b"three-again", acks=-1, timeout_ms=1000).error_code
                == ErrorCode.NONE
            ),
            "acks=all accepted once the ISR is 3 again",
        )


def test_log_config_survives_a_broker_only_restart(
    kafka_cluster_factory: ClusterFactory,
) -> None:
    """A broker-only node loads its logs before it has the metadata: once caught up, they
    take the topic's configs (here max.message.bytes set by AlterConfigs)."""
    cluster = kafka_cluster_factory.start(brokers=1)
    with RawConnection(cluster.bootstrap) as conn:
        _create(conn, "s")
        assert _codes(_alter(conn, [(TOPIC, "s", {"max.message.bytes": "2000"})])) == [
            ErrorCode.NONE
        ]
        assert _produce(conn, "s", b"x" * 5000).error_code == ErrorCode.MESSAGE_TOO_LARGE
    node = cluster.nodes[1]
    node.kill()
    node.start()
    with RawConnection(f"127.0.0.1:{node.port}") as conn:
        assert _describe(conn, "s")["max.message.bytes"] == ("2000", DYNAMIC_TOPIC_CONFIG)

        def answered() -> Any:
            code = _produce(conn, "s", b"x" * 5000).error_code
            return code if code != ErrorCode.NOT_LEADER_OR_FOLLOWER else None

        assert _eventually(answered, "the restarted leader") == ErrorCode.MESSAGE_TOO_LARGE
        assert _produce(conn, "s", b"small").error_code == ErrorCode.NONE
