"""The KRaft controller-listener APIs (AlterPartition 56, BrokerRegistration 62, BrokerHeartbeat
63, AllocateProducerIds 67): every declared version round-trips representative values (tagged
fields, nulls, empty and nested arrays), defaults fill omitted fields, and a few frames are
checked byte for byte against Kafka's wire layout written out by hand.

kio has no AlterPartition v0-1 (Kafka 4 removed them), so the byte-level checks below are what
covers those two versions beyond the generic round-trip properties; v2+ and the other three APIs
are also checked against kio in ``test_kio_differential``.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any

import pytest

from client.protocol import codec, headers
from client.protocol.messages import (
    APIS,
    allocate_producer_ids,
    alter_partition,
    broker_heartbeat,
    broker_registration,
)
from client.protocol.schema import Message

CONTROLLER_APIS = {
    56: alter_partition,
    62: broker_registration,
    63: broker_heartbeat,
    67: allocate_producer_ids,
}

TOPIC_ID = uuid.UUID("9d2c0b8e-6a4f-4e0e-8f3b-1f2a3b4c5d6e")
INCARNATION_ID = uuid.UUID("00112233-4455-6677-8899-aabbccddeeff")
DIR_A = uuid.UUID(int=0xA)
DIR_B = uuid.UUID(int=0xB)


# -- representative values per (message, version) ---------------------------------------------


def alter_partition_request(version: int) -> dict[str, Any]:
    partition: dict[str, Any] = {"partition_index": 3, "leader_epoch": 7, "partition_epoch": 11}
    if version <= 2:
        partition["new_isr"] = [1, 2, 3]
    else:
        partition["new_isr_with_epochs"] = [
            {"broker_id": 1, "broker_epoch": 100},
            {"broker_id": 2, "broker_epoch": -1},
        ]
    if version >= 1:
        partition["leader_recovery_state"] = 1
    empty: dict[str, Any] = {"partitions": []}
    topic: dict[str, Any] = {"partitions": [partition]}
    if version <= 1:
        topic["topic_name"] = "orders"
        empty["topic_name"] = ""
    else:
        topic["topic_id"] = TOPIC_ID
        empty["topic_id"] = uuid.UUID(int=0)
    return {"broker_id": 1, "broker_epoch": 42, "topics": [topic, empty]}


def alter_partition_response(version: int) -> dict[str, Any]:
    partition: dict[str, Any] = {
        "partition_index": 3,
        "error_code": 0,
        "leader_id": 1,
        "leader_epoch": 7,
        "isr": [1, 2],
        "partition_epoch": 12,
    }
    failed: dict[str, Any] = {
        "partition_index": 4,
        "error_code": 116,  # NEW_LEADER_ELECTED
        "leader_id": -1,
        "leader_epoch": -1,
        "isr": [],
        "partition_epoch": -1,
    }
    if version >= 1:
        partition["leader_recovery_state"] = 0
        failed["leader_recovery_state"] = 1
    topic: dict[str, Any] = {"partitions": [partition, failed]}
    if version <= 1:
        topic["topic_name"] = "orders"
    else:
        topic["topic_id"] = TOPIC_ID
    return {"throttle_time_ms": 5, "error_code": 0, "topics": [topic]}


def broker_registration_request(version: int, rack: str | None = "rack-a") -> dict[str, Any]:
    value: dict[str, Any] = {
        "broker_id": 2,
        "cluster_id": "odradek-cluster",
        "incarnation_id": INCARNATION_ID,
        "listeners": [
            {"name": "PLAINTEXT", "host": "b2.local", "port": 9092, "security_protocol": 0},
            {"name": "SSL", "host": "b2.local", "port": 65535, "security_protocol": 1},
        ],
        "features": [
            {"name": "metadata.version", "min_supported_version": 1, "max_supported_version": 21},
            {"name": "kraft.version", "min_supported_version": 0, "max_supported_version": 1},
        ],
        "rack": rack,
    }
    if version >= 1:
        value["is_migrating_zk_broker"] = False
    if version >= 2:
        value["log_dirs"] = [DIR_A, DIR_B]
    if version >= 3:
        value["previous_broker_epoch"] = 17
    return value


def broker_registration_response(version: int) -> dict[str, Any]:
    return {"throttle_time_ms": 0, "error_code": 0, "broker_epoch": 18}


def broker_heartbeat_request(version: int) -> dict[str, Any]:
    value: dict[str, Any] = {
        "broker_id": 2,
        "broker_epoch": 18,
        "current_metadata_offset": 1234,
        "want_fence": False,
        "want_shut_down": True,
    }
    if version >= 1:
        value["offline_log_dirs"] = [DIR_B]
    return value


def broker_heartbeat_response(version: int) -> dict[str, Any]:
    return {
        "throttle_time_ms": 0,
        "error_code": 0,
        "is_caught_up": True,
        "is_fenced": False,
        "should_shut_down": False,
    }


def allocate_producer_ids_request(version: int) -> dict[str, Any]:
    return {"broker_id": 2, "broker_epoch": 18}


def allocate_producer_ids_response(version: int) -> dict[str, Any]:
    return {
        "throttle_time_ms": 0,
        "error_code": 0,
        "producer_id_start": 2**40,
        "producer_id_len": 1000,
    }


VALUES = {
    alter_partition.REQUEST: alter_partition_request,
    alter_partition.RESPONSE: alter_partition_response,
    broker_registration.REQUEST: broker_registration_request,
    broker_registration.RESPONSE: broker_registration_response,
    broker_heartbeat.REQUEST: broker_heartbeat_request,
    broker_heartbeat.RESPONSE: broker_heartbeat_response,
    allocate_producer_ids.REQUEST: allocate_producer_ids_request,
    allocate_producer_ids.RESPONSE: allocate_producer_ids_response,
}

CASES = [
    pytest.param(message, version, id=f"{message.name}-v{version}")
    for message in VALUES
    for version in range(message.valid_versions.low, message.valid_versions.high + 1)
]


def round_trip(message: Message, version: int, value: dict[str, Any]) -> bytes:
    encoded = codec.encode(message, version, value)
    decoded = codec.decode(message, version, encoded)
    assert decoded == value
    assert codec.encode(message, version, decoded) == encoded
    return encoded


# -- the declarations -------------------------------------------------------------------------


def test_declared_once_with_kafkas_version_ranges() -> None:
    expected = {56: "0-3", 62: "0-4", 63: "0-1", 67: "0"}
    for api_key, module in CONTROLLER_APIS.items():
        assert APIS[api_key] == (module.REQUEST, module.RESPONSE)
        for message in (module.REQUEST, module.RESPONSE):
            assert str(message.valid_versions) == expected[api_key]
            assert str(message.flexible_versions) == "0+"
    assert len(CASES) == 2 * (4 + 5 + 2 + 1)


def test_every_version_is_flexible_with_header_v2() -> None:
    for api_key, module in CONTROLLER_APIS.items():
        for version in range(
            module.REQUEST.valid_versions.low, 1 + module.REQUEST.valid_versions.high
        ):
            assert headers.request_header_version(api_key, version) == 2
            assert headers.response_header_version(api_key, version) == 1


def test_the_broker_does_not_advertise_controller_apis() -> None:
    from broker.server.handlers import HANDLERS

    assert not set(CONTROLLER_APIS) & set(HANDLERS)


@pytest.mark.parametrize(("message", "version"), CASES)
def test_representative_values_round_trip(message: Message, version: int) -> None:
    round_trip(message, version, VALUES[message](version))


@pytest.mark.parametrize(("message", "version"), CASES)
def test_empty_value_gets_kafkas_defaults(message: Message, version: int) -> None:
    decoded = codec.decode(message, version, codec.encode(message, version, {}))
    for name in ("broker_epoch", "previous_broker_epoch"):
        if name in decoded:
            assert decoded[name] == -1, name
    for name, value in decoded.items():
        if isinstance(value, list):
            assert value == [], name
    if message is broker_heartbeat.RESPONSE:
        assert (decoded.is_caught_up, decoded.is_fenced) == (False, True)
    if message is broker_registration.REQUEST:
        assert decoded.rack is None
        assert decoded.get("is_migrating_zk_broker", False) is False


# -- AlterPartition on the wire ---------------------------------------------------------------


def _i32(*values: int) -> bytes:
    return struct.pack(f">{len(values)}i", *values)


def _i64(value: int) -> bytes:
    return struct.pack(">q", value)


def _alter_partition_v0_v1(version: int) -> bytes:
    return (
        _i32(1)
        + _i64(5)
        + b"\x02"  # one topic (compact array: n + 1)
        + b"\x02t"  # compact string "t"
        + b"\x02"  # one partition
        + _i32(0, 2)  # partition_index, leader_epoch
        + b"\x03"
        + _i32(1, 2)  # new_isr
        + (b"\x01" if version >= 1 else b"")  # leader_recovery_state
        + _i32(3)  # partition_epoch
        + b"\x00\x00\x00"  # tagged-field sections: partition, topic, request
    )


@pytest.mark.parametrize("version", [0, 1])
def test_alter_partition_v0_v1_request_bytes(version: int) -> None:
    partition: dict[str, Any] = {
        "partition_index": 0,
        "leader_epoch": 2,
        "new_isr": [1, 2],
        "partition_epoch": 3,
    }
    if version >= 1:
        partition["leader_recovery_state"] = 1
    value = {
        "broker_id": 1,
        "broker_epoch": 5,
        "topics": [{"topic_name": "t", "partitions": [partition]}],
    }
    assert round_trip(alter_partition.REQUEST, version, value) == _alter_partition_v0_v1(version)


def test_alter_partition_v3_request_bytes() -> None:
    value = {
        "broker_id": 1,
        "broker_epoch": 5,
        "topics": [
            {
                "topic_id": TOPIC_ID,
                "partitions": [
                    {
                        "partition_index": 0,
                        "leader_epoch": 2,
                        "new_isr_with_epochs": [
                            {"broker_id": 1, "broker_epoch": 10},
                            {"broker_id": 2, "broker_epoch": -1},
                        ],
                        "leader_recovery_state": 0,
                        "partition_epoch": 3,
                    }
                ],
            }
        ],
    }
    expected = (
        _i32(1)
        + _i64(5)
        + b"\x02"
        + TOPIC_ID.bytes
        + b"\x02"
        + _i32(0, 2)
        + b"\x03"
        + _i32(1)
        + _i64(10)
        + b"\x00"
        + _i32(2)
        + _i64(-1)
        + b"\x00"
        + b"\x00"  # leader_recovery_state
        + _i32(3)
        + b"\x00\x00\x00"
    )
    assert round_trip(alter_partition.REQUEST, 3, value) == expected


def test_alter_partition_response_v0_v1_bytes() -> None:
    partition = {
        "partition_index": 0,
        "error_code": 0,
        "leader_id": 1,
        "leader_epoch": 2,
        "isr": [1],
        "partition_epoch": 4,
    }
    value = {
        "throttle_time_ms": 0,
        "error_code": 0,
        "topics": [{"topic_name": "t", "partitions": [partition]}],
    }

    def body(recovery: bytes) -> bytes:
        return (
            _i32(0)
            + b"\x00\x00"
            + b"\x02\x02t\x02"
            + _i32(0)
            + b"\x00\x00"
            + _i32(1, 2)
            + b"\x02"
            + _i32(1)
            + recovery
            + _i32(4)
            + b"\x00\x00\x00"
        )

    assert round_trip(alter_partition.RESPONSE, 0, value) == body(b"")
    partition["leader_recovery_state"] = 1
    assert round_trip(alter_partition.RESPONSE, 1, value) == body(b"\x01")


# -- BrokerRegistration / BrokerHeartbeat / AllocateProducerIds on the wire -------------------


@pytest.mark.parametrize("version", range(5))
def test_broker_registration_null_rack_and_empty_lists(version: int) -> None:
    value = broker_registration_request(version, rack=None)
    value["listeners"] = []
    value["features"] = []
    if version >= 2:
        value["log_dirs"] = []
    encoded = round_trip(broker_registration.REQUEST, version, value)
    prefix = _i32(2) + b"\x10odradek-cluster" + INCARNATION_ID.bytes + b"\x01\x01"
    assert encoded.startswith(prefix + b"\x00")  # null compact string: length 0
    tail = encoded[len(prefix) + 1 :]
    expected_tail = (
        (b"\x00" if version >= 1 else b"")  # is_migrating_zk_broker
        + (b"\x01" if version >= 2 else b"")  # log_dirs: empty compact array
        + (_i64(17) if version >= 3 else b"")
        + b"\x00"
    )
    assert tail == expected_tail


def test_broker_registration_listener_port_is_uint16() -> None:
    value = broker_registration_request(4)
    encoded = round_trip(broker_registration.REQUEST, 4, value)
    assert b"\x04SSL\x09b2.local\xff\xff\x00\x01\x00" in encoded


@pytest.mark.parametrize("version", [0, 1])
def test_broker_heartbeat_offline_log_dirs_is_tagged(version: int) -> None:
    fixed = _i32(2) + _i64(18) + _i64(1234) + b"\x00\x01"
    value = broker_heartbeat_request(version)
    encoded = round_trip(broker_heartbeat.REQUEST, version, value)
    if version == 0:
        assert encoded == fixed + b"\x00"
        return
    # One tagged field: tag 0, size 17, a compact array of one uuid.
    assert encoded == fixed + b"\x01\x00\x11\x02" + DIR_B.bytes
    # Empty (its default) it is left out, as Kafka does: the v1 frame is then the v0 frame.
    value["offline_log_dirs"] = []
    assert round_trip(broker_heartbeat.REQUEST, 1, value) == fixed + b"\x00"


def test_broker_heartbeat_response_bytes() -> None:
    value = broker_heartbeat_response(1)
    assert round_trip(broker_heartbeat.RESPONSE, 1, value) == _i32(0) + b"\x00\x00\x01\x00\x00\x00"


def test_allocate_producer_ids_bytes() -> None:
    request = codec.encode(allocate_producer_ids.REQUEST, 0, {"broker_id": 2})
    assert request == _i32(2) + _i64(-1) + b"\x00"  # broker_epoch defaults to -1
    assert round_trip(allocate_producer_ids.REQUEST, 0, allocate_producer_ids_request(0))
    response = allocate_producer_ids_response(0)
    expected = _i32(0) + b"\x00\x00" + _i64(2**40) + _i32(1000) + b"\x00"
    assert round_trip(allocate_producer_ids.RESPONSE, 0, response) == expected


def test_full_frames_round_trip_with_header_v2() -> None:
    body = broker_heartbeat_request(1)
    frame = headers.encode_request(63, 1, 9, "broker-2", body)[4:]
    header, decoded = headers.decode_request(frame)
    assert (header.api_key, header.api_version, header.correlation_id) == (63, 1, 9)
    assert header.client_id == "broker-2"
    assert decoded == body
