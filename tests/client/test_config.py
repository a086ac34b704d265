"""Client config parsing: Kafka keys and Python keywords, defaults, suggestions, bad values."""

from __future__ import annotations

import dataclasses

import pytest

from client.config import (
    ACKS_ALL,
    AdminConfig,
    CommonConfig,
    ConsumerConfig,
    ProducerConfig,
    parse_address,
)
from client.errors import IllegalConfigError

SERVERS = {"bootstrap.servers": "k1:9092,k2:9093"}


def test_kafka_defaults() -> None:
    producer = ProducerConfig.from_settings(SERVERS)
    assert producer.bootstrap_servers == ("k1:9092", "k2:9093")
    assert producer.acks == ACKS_ALL and producer.enable_idempotence
    assert (producer.linger_ms, producer.batch_size, producer.buffer_memory) == (5, 16384, 33554432)
    assert producer.retries == 2**31 - 1 and producer.delivery_timeout_ms == 120000
    assert producer.compression_type == "none" and producer.max_request_size == 1048576
    assert producer.request_timeout_ms == 30000 and producer.retry_backoff_ms == 100
    assert (producer.reconnect_backoff_ms, producer.reconnect_backoff_max_ms) == (50, 1000)
    assert producer.max_in_flight_requests_per_connection == 5
    assert producer.metadata_max_age_ms == 300000
    consumer = ConsumerConfig.from_settings(SERVERS)
    assert consumer.group_id is None and consumer.auto_offset_reset == "latest"
    assert (consumer.fetch_min_bytes, consumer.fetch_max_wait_ms) == (1, 500)
    assert consumer.max_partition_fetch_bytes == 1048576 and consumer.fetch_max_bytes == 52428800
    assert consumer.max_poll_records == 500 and consumer.isolation_level == "read_uncommitted"
    assert consumer.enable_auto_commit and consumer.auto_commit_interval_ms == 5000
    assert (consumer.session_timeout_ms, consumer.heartbeat_interval_ms) == (45000, 3000)
    assert AdminConfig.from_settings(SERVERS).connections_max_idle_ms == 300000


def test_python_keywords_and_kafka_keys_are_equivalent() -> None:
    by_keys = ProducerConfig.from_settings(
        {"bootstrap.servers": "k:1", "linger.ms": "10", "client.id": "me"}
    )
    by_keywords = ProducerConfig.from_settings(
        bootstrap_servers=["k:1"], linger_ms=10, client_id="me"
    )
    mixed = ProducerConfig.from_settings(
        {"bootstrap_servers": "k:1", "client.id": "me"}, linger_ms=10
    )
    assert by_keys == by_keywords == mixed
    assert by_keys.linger_ms == 10


def test_values_from_properties_strings() -> None:
    config = ConsumerConfig.from_settings(
        SERVERS,
        enable_auto_commit="false",
        isolation_level="READ_COMMITTED",
        partition_assignment_strategy="range, roundrobin",
    )
    assert config.enable_auto_commit is False and config.read_committed
    assert config.partition_assignment_strategy == ("range", "roundrobin")
    assert ProducerConfig.from_settings(SERVERS, acks="all").acks == ACKS_ALL
    assert ProducerConfig.from_settings(SERVERS, acks=1, enable_idempotence=False).acks == 1


def test_unknown_key_suggests_the_closest() -> None:
    with pytest.raises(IllegalConfigError, match=r"did you mean linger.ms") as caught:
        ProducerConfig.from_settings(SERVERS, lingr_ms=5)
    assert caught.value.key == "lingr.ms"
    with pytest.raises(IllegalConfigError, match=r"'bootstrap.server'.*bootstrap.servers"):
        ConsumerConfig.from_settings({"bootstrap.server": "k:1"})
    with pytest.raises(IllegalConfigError, match=r"unknown admin config key 'zzz'$"):
        AdminConfig.from_settings(SERVERS, zzz=1)


def test_key_of_another_role_is_named_as_such() -> None:
    with pytest.raises(IllegalConfigError, match=r"group.id is a consumer setting, not a producer"):
        ProducerConfig.from_settings(SERVERS, group_id="g")
    with pytest.raises(IllegalConfigError, match=r"acks is a producer setting"):
        ConsumerConfig.from_settings(SERVERS, acks=1)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("acks", "2", "invalid value '2' for acks: expected all, -1, 0 or 1"),
        ("linger.ms", -1, r"linger.ms: expected an integer in \[0, "),
        ("linger.ms", True, "linger.ms"),
        ("linger.ms", "soon", "linger.ms"),
        ("compression.type", "brotli", "none, gzip, snappy, lz4, zstd"),
        ("enable.idempotence", "yes", "true or false"),
        ("max.in.flight.requests.per.connection", 0, "max.in.flight"),
        ("partitioner", 42, "a callable"),
        ("bootstrap.servers", "", "at least one host:port"),
        ("bootstrap.servers", "k:99999", "port must be 1-65535"),
    ],
)
def test_bad_values_are_named(key: str, value: object, message: str) -> None:
    with pytest.raises(IllegalConfigError, match=message):
        ProducerConfig.from_settings({**SERVERS, key: value})


def test_cross_key_rules() -> None:
    with pytest.raises(IllegalConfigError, match=r"bootstrap.servers is required"):
        ProducerConfig.from_settings({})
    with pytest.raises(IllegalConfigError, match=r"delivery.timeout.ms"):
        ProducerConfig.from_settings(SERVERS, delivery_timeout_ms=1000)
    with pytest.raises(IllegalConfigError, match=r"heartbeat.interval.ms"):
        ConsumerConfig.from_settings(SERVERS, session_timeout_ms=3000)
    with pytest.raises(IllegalConfigError, match=r"reconnect.backoff.max.ms"):
        CommonConfig.from_settings(SERVERS, reconnect_backoff_ms=500, reconnect_backoff_max_ms=100)
    with pytest.raises(IllegalConfigError, match=r"given twice"):
        ProducerConfig.from_settings({**SERVERS, "linger.ms": 1}, linger_ms=2)


def test_idempotence_follows_kafkas_rule() -> None:
    # Only the default: conflicting keys switch idempotence off.
    assert not ProducerConfig.from_settings(SERVERS, acks=1).enable_idempotence
    # Asked for explicitly: a conflict is an error.
    with pytest.raises(IllegalConfigError, match=r"acks must be all"):
        ProducerConfig.from_settings(SERVERS, acks=1, enable_idempotence=True)
    unset = ProducerConfig.from_settings(SERVERS, linger_ms=100_000)
    assert unset.delivery_timeout_ms == 100_000 + 30_000


def test_configs_are_frozen_and_documented() -> None:
    config = ProducerConfig.from_settings(SERVERS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.acks = 0  # type: ignore[misc]
    described = ProducerConfig.describe()
    assert described["linger.ms"][0] == 5 and described["linger.ms"][1]
    assert "bootstrap.servers" in ProducerConfig.keys_set()
    assert config.client_id.startswith("odradek-producer-")


def test_parse_address() -> None:
    assert parse_address("k1:9093") == ("k1", 9093)
    assert parse_address("k1") == ("k1", 9092)
    assert parse_address("[::1]:9094") == ("::1", 9094)
    with pytest.raises(ValueError, match=r"brackets"):
        parse_address("::1:9092")
