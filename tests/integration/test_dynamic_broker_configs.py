"""Dynamic broker configs (KIP-226) over the wire: IncrementalAlterConfigs / AlterConfigs on
BROKER resources (this broker's id, or '' for the cluster default) change the effective
config of every partition at once, DescribeConfigs reports the layers, and the change is
metadata: it survives restarts and reaches every broker of a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from broker.testing import BrokerFactory, ClusterFactory
from client.protocol.errors import ErrorCode
from tests.integration.test_alter_configs import (
    BROKER,
    DEFAULT_CONFIG,
    DELETE,
    DESCRIBE_CONFIGS,
    SET,
    TOPIC,
    _alter,
    _codes,
    _create,
    _describe,
    _describe_or_none,
    _eventually,
    _incremental,
    _partition,
    _produce,
)
from tests.integration.wire import RawConnection

DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG = 2, 3
BIG = b"x" * 5000


def _describe_broker(conn: RawConnection, name: str) -> dict[str, Any]:
    body = {
        "resources": [{"resource_type": BROKER, "resource_name": name, "configuration_keys": None}],
        "include_synonyms": True,
        "include_documentation": False,
    }
    result = conn.request(DESCRIBE_CONFIGS, 4, body).results[0]
    assert result.error_code == ErrorCode.NONE, result
    return {entry.name: entry for entry in result.configs}


def _set_broker(conn: RawConnection, name: str, key: str, value: str | None) -> None:
    operation = SET if value is not None else DELETE
    answers = _incremental(conn, [(BROKER, name, [(key, operation, value)])])
    assert _codes(answers) == [ErrorCode.NONE], answers


@pytest.fixture
def broker(kafka_broker_factory: BrokerFactory) -> Any:
    return kafka_broker_factory.start({"auto.create.topics.enable": "false"})


def test_layers_act_on_live_partitions(broker: Any) -> None:
    """Topic override > this broker's dynamic config > cluster default > static > default,
    each change applied to the live partition at once."""
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "t")
        assert _produce(conn, "t", BIG).error_code == ErrorCode.NONE

        _set_broker(conn, "", "message.max.bytes", "2000")
        assert _describe(conn, "t")["max.message.bytes"] == ("2000", DYNAMIC_DEFAULT_BROKER_CONFIG)
        assert _produce(conn, "t", BIG).error_code == ErrorCode.MESSAGE_TOO_LARGE

        _set_broker(conn, "1", "message.max.bytes", "8000")
        assert _describe(conn, "t")["max.message.bytes"] == ("8000", DYNAMIC_BROKER_CONFIG)
        assert _produce(conn, "t", BIG).error_code == ErrorCode.NONE

        override = _incremental(conn, [(TOPIC, "t", [("max.message.bytes", SET, "3000")])])
        assert _codes(override) == [ErrorCode.NONE]
        assert _produce(conn, "t", BIG).error_code == ErrorCode.MESSAGE_TOO_LARGE
        dropped = _incremental(conn, [(TOPIC, "t", [("max.message.bytes", DELETE, None)])])
        assert _codes(dropped) == [ErrorCode.NONE]
        assert _produce(conn, "t", BIG).error_code == ErrorCode.NONE

        # A topic created now takes the dynamic values too.
        _create(conn, "u")
        assert _describe(conn, "u")["max.message.bytes"] == ("8000", DYNAMIC_BROKER_CONFIG)

        described = _describe_broker(conn, "1")["message.max.bytes"]
        assert (described.value, described.config_source, described.read_only) == (
            "8000",
            DYNAMIC_BROKER_CONFIG,
            False,
        )
        assert [(s.value, s.source) for s in described.synonyms][:2] == [
            ("8000", DYNAMIC_BROKER_CONFIG),
            ("2000", DYNAMIC_DEFAULT_BROKER_CONFIG),
        ]
        assert _describe_broker(conn, "1")["node.id"].read_only
        default = _describe_broker(conn, "")
        assert {name: (e.value, e.config_source) for name, e in default.items()} == {
            "message.max.bytes": ("2000", DYNAMIC_DEFAULT_BROKER_CONFIG)
        }

        _set_broker(conn, "1", "message.max.bytes", None)
        assert _describe(conn, "t")["max.message.bytes"] == ("2000", DYNAMIC_DEFAULT_BROKER_CONFIG)
        assert _produce(conn, "t", BIG).error_code == ErrorCode.MESSAGE_TOO_LARGE
        # AlterConfigs (legacy) replaces the default's whole set: an empty set clears it.
        assert _codes(_alter(conn, [(BROKER, "", {})])) == [ErrorCode.NONE]
        assert _describe(conn, "t")["max.message.bytes"] == ("1048588", DEFAULT_CONFIG)
        assert _describe_broker(conn, "") == {}
        assert _produce(conn, "t", BIG).error_code == ErrorCode.NONE


def test_bad_dynamic_configs_are_refused(broker: Any) -> None:
    with RawConnection(broker.bootstrap) as conn:
        answers = _incremental(
            conn,
            [
                (BROKER, "", [("log.retention.ms", SET, "soon")]),
                (BROKER, "1", [("listeners", SET, "PLAINTEXT://:1")]),
            ],
        )
        assert _codes(answers) == [ErrorCode.INVALID_CONFIG, ErrorCode.INVALID_REQUEST]
        checked = _incremental(
            conn, [(BROKER, "", [("log.retention.ms", SET, "1000")])], validate_only=True
        )
        assert _codes(checked) == [ErrorCode.NONE]
        assert _describe_broker(conn, "") == {}


def test_dynamic_configs_survive_a_restart(kafka_broker_factory: BrokerFactory) -> None:
    data_dir = kafka_broker_factory.new_data_dir()
    broker = kafka_broker_factory.start(subprocess=True, data_dir=data_dir)
    with RawConnection(broker.bootstrap) as conn:
        _create(conn, "t")
        _set_broker(conn, "", "message.max.bytes", "2000")
        _set_broker(conn, "1", "log.retention.ms", "3600000")
    broker.kill()  # type: ignore[union-attr]
    again = kafka_broker_factory.start(subprocess=True, data_dir=data_dir)
    with RawConnection(again.bootstrap) as conn:
        described = _describe(conn, "t")
        assert described["max.message.bytes"] == ("2000", DYNAMIC_DEFAULT_BROKER_CONFIG)
        assert described["retention.ms"] == ("3600000", DYNAMIC_BROKER_CONFIG)
        assert _produce(conn, "t", BIG).error_code == ErrorCode.MESSAGE_TOO_LARGE


def test_cluster_default_reaches_every_broker(kafka_cluster_factory: ClusterFactory) -> None:
    """The cluster default set through one broker (forwarded to the controller) acts on the
    leader wherever it is; a broker's own config is taken only from that broker."""
    cluster = kafka_cluster_factory.start(brokers=2)
    first = cluster.bootstrap.split(",")[0]
    with RawConnection(first) as conn:
        _create(conn, "c", replication_factor=2)
        metadata, partition = _partition(conn, "c")
        addresses = {b.node_id: f"{b.host}:{b.port}" for b in metadata.brokers}
        own = next(node for node, address in addresses.items() if address == first)
        other = next(node for node in addresses if node != own)
        _set_broker(conn, "", "message.max.bytes", "2000")
        assert _describe(conn, "c")["max.message.bytes"] == ("2000", DYNAMIC_DEFAULT_BROKER_CONFIG)
        refused = _incremental(conn, [(BROKER, str(other), [("message.max.bytes", SET, "9000")])])
        assert _codes(refused) == [ErrorCode.INVALID_REQUEST]
    with RawConnection(addresses[other]) as conn:
        _eventually(
            lambda: (
                (_describe_or_none(conn, "c") or {}).get("max.message.bytes")
                == ("2000", DYNAMIC_DEFAULT_BROKER_CONFIG)
            ),
            "the cluster default at the other broker",
        )
        _set_broker(conn, str(other), "message.max.bytes", "9000")
        assert _describe(conn, "c")["max.message.bytes"] == ("9000", DYNAMIC_BROKER_CONFIG)
    with RawConnection(first) as conn:
        # Broker-scoped: the first broker still has the cluster default.
        assert _describe(conn, "c")["max.message.bytes"] == ("2000", DYNAMIC_DEFAULT_BROKER_CONFIG)
    expected = ErrorCode.MESSAGE_TOO_LARGE if partition.leader_id == own else ErrorCode.NONE
    with RawConnection(addresses[partition.leader_id]) as conn:
        assert _produce(conn, "c", BIG, acks=-1).error_code == expected
