"""The transaction APIs (AddPartitionsToTxn 24, AddOffsetsToTxn 25, EndTxn 26, WriteTxnMarkers
27, TxnOffsetCommit 28, DescribeTransactions 65, ListTransactions 66): every declared version
round-trips representative values field by field (nulls, empty and nested arrays), omitted
fields get Kafka's defaults, and a few frames are checked byte for byte against Kafka's wire
layout written out by hand.

kio has no WriteTxnMarkers v0 (Kafka 4 removed it), so its byte-level check below is what covers
that version beyond the generic round-trip properties; every other version is also checked
against kio in ``test_kio_differential``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest

from client.protocol import codec, headers
from client.protocol.messages import (
    APIS,
    add_offsets_to_txn,
    add_partitions_to_txn,
    describe_transactions,
    end_txn,
    list_transactions,
    txn_offset_commit,
    write_txn_markers,
)
from client.protocol.schema import Message
from tests.support.message_cases import (
    assert_frame_round_trips,
    compact_str,
    i16,
    i32,
    round_trip,
)

TXN_APIS = {
    24: add_partitions_to_txn,
    25: add_offsets_to_txn,
    26: end_txn,
    27: write_txn_markers,
    28: txn_offset_commit,
    65: describe_transactions,
    66: list_transactions,
}
# (valid versions, flexible versions) of each API as declared.
DECLARED = {
    24: ("0-3", "3+"),
    25: ("0-4", "3+"),
    26: ("0-5", "3+"),
    27: ("0-2", "1+"),
    28: ("0-5", "3+"),
    65: ("0", "0+"),
    66: ("0-2", "0+"),
}

PRODUCER_ID = 4_000_000_001
TXN_ID = "orders-etl-0"
GROUP_ID = "orders-etl"
CONCURRENT_TRANSACTIONS = 51
INVALID_PRODUCER_EPOCH = 47
UNKNOWN_TOPIC_OR_PARTITION = 3
OPERATION_NOT_ATTEMPTED = 55
NOT_LEADER_OR_FOLLOWER = 6
TRANSACTIONAL_ID_NOT_FOUND = 105


# -- representative values per (message, version) ---------------------------------------------


def add_partitions_to_txn_request(version: int) -> dict[str, Any]:
    return {
        "v3_and_below_transactional_id": TXN_ID,
        "v3_and_below_producer_id": PRODUCER_ID,
        "v3_and_below_producer_epoch": 3,
        "v3_and_below_topics": [
            {"name": "orders", "partitions": [0, 1, 7]},
            {"name": "payments", "partitions": []},
        ],
    }


def add_partitions_to_txn_response(version: int) -> dict[str, Any]:
    return {
        "throttle_time_ms": 12,
        "results_by_topic_v3_and_below": [
            {
                "name": "orders",
                "results_by_partition": [
                    {"partition_index": 0, "partition_error_code": 0},
                    {"partition_index": 7, "partition_error_code": UNKNOWN_TOPIC_OR_PARTITION},
                    {"partition_index": 1, "partition_error_code": OPERATION_NOT_ATTEMPTED},
                ],
            },
            {"name": "payments", "results_by_partition": []},
        ],
    }


def add_offsets_to_txn_request(version: int) -> dict[str, Any]:
    return {
        "transactional_id": TXN_ID,
        "producer_id": PRODUCER_ID,
        "producer_epoch": 3,
        "group_id": GROUP_ID,
    }


def add_offsets_to_txn_response(version: int) -> dict[str, Any]:
    return {"throttle_time_ms": 0, "error_code": CONCURRENT_TRANSACTIONS}


def end_txn_request(version: int) -> dict[str, Any]:
    return {
        "transactional_id": TXN_ID,
        "producer_id": PRODUCER_ID,
        "producer_epoch": 3,
        "committed": True,
    }


def end_txn_response(version: int) -> dict[str, Any]:
    value: dict[str, Any] = {"throttle_time_ms": 7, "error_code": 0}
    if version >= 5:
        # Transactions v2: the coordinator bumps the epoch at every commit.
        value["producer_id"] = PRODUCER_ID
        value["producer_epoch"] = 4
    return value


def write_txn_markers_request(version: int) -> dict[str, Any]:
    commit: dict[str, Any] = {
        "producer_id": PRODUCER_ID,
        "producer_epoch": 3,
        "transaction_result": True,
        "topics": [
            {"name": "orders", "partition_indexes": [0, 1, 7]},
            {"name": "__consumer_offsets", "partition_indexes": [12]},
        ],
        "coordinator_epoch": 9,
    }
    abort: dict[str, Any] = {
        "producer_id": PRODUCER_ID + 1,
        "producer_epoch": 0,
        "transaction_result": False,
        "topics": [],
        "coordinator_epoch": 9,
    }
    if version >= 2:
        commit["transaction_version"] = 2
        abort["transaction_version"] = 0
    return {"markers": [commit, abort]}


def write_txn_markers_response(version: int) -> dict[str, Any]:
    return {
        "markers": [
            {
                "producer_id": PRODUCER_ID,
                "topics": [
                    {
                        "name": "orders",
                        "partitions": [
                            {"partition_index": 0, "error_code": 0},
                            {"partition_index": 7, "error_code": NOT_LEADER_OR_FOLLOWER},
                        ],
                    }
                ],
            },
            {"producer_id": PRODUCER_ID + 1, "topics": []},
        ]
    }


def txn_offset_commit_request(version: int, instance: str | None = "etl-1") -> dict[str, Any]:
    committed: dict[str, Any] = {
        "partition_index": 0,
        "committed_offset": 1_234_567,
        "committed_metadata": "checkpoint-42",
    }
    no_metadata: dict[str, Any] = {
        "partition_index": 3,
        "committed_offset": 0,
        "committed_metadata": None,
    }
    if version >= 2:
        committed["committed_leader_epoch"] = 5
        no_metadata["committed_leader_epoch"] = -1
    value: dict[str, Any] = {
        "transactional_id": TXN_ID,
        "group_id": GROUP_ID,
        "producer_id": PRODUCER_ID,
        "producer_epoch": 3,
        "topics": [
            {"name": "orders", "partitions": [committed, no_metadata]},
            {"name": "payments", "partitions": []},
        ],
    }
    if version >= 3:
        value["generation_id"] = 17
        value["member_id"] = "consumer-etl-1-6f1c"
        value["group_instance_id"] = instance
    return value


def txn_offset_commit_response(version: int) -> dict[str, Any]:
    return {
        "throttle_time_ms": 0,
        "topics": [
            {
                "name": "orders",
                "partitions": [
                    {"partition_index": 0, "error_code": 0},
                    {"partition_index": 3, "error_code": INVALID_PRODUCER_EPOCH},
                ],
            }
        ],
    }


def describe_transactions_request(version: int) -> dict[str, Any]:
    return {"transactional_ids": [TXN_ID, "never-seen"]}


def describe_transactions_response(version: int) -> dict[str, Any]:
    return {
        "throttle_time_ms": 0,
        "transaction_states": [
            {
                "error_code": 0,
                "transactional_id": TXN_ID,
                "transaction_state": "Ongoing",
                "transaction_timeout_ms": 60_000,
                "transaction_start_time_ms": 1_717_171_717_171,
                "producer_id": PRODUCER_ID,
                "producer_epoch": 3,
                "topics": [
                    {"topic": "orders", "partitions": [0, 1, 7]},
                    {"topic": "__consumer_offsets", "partitions": [12]},
                ],
            },
            {
                # Kafka's answer for an id it does not know: -1 / empty for everything else.
                "error_code": TRANSACTIONAL_ID_NOT_FOUND,
                "transactional_id": "never-seen",
                "transaction_state": "",
                "transaction_timeout_ms": 0,
                "transaction_start_time_ms": -1,
                "producer_id": -1,
                "producer_epoch": -1,
                "topics": [],
            },
        ],
    }


def list_transactions_request(version: int, pattern: str | None = "^orders-.*") -> dict[str, Any]:
    value: dict[str, Any] = {
        "state_filters": ["Ongoing", "PrepareCommit"],
        "producer_id_filters": [PRODUCER_ID, 7],
    }
    if version >= 1:
        value["duration_filter"] = 30_000
    if version >= 2:
        value["transactional_id_pattern"] = pattern
    return value


def list_transactions_response(version: int) -> dict[str, Any]:
    return {
        "throttle_time_ms": 0,
        "error_code": 0,
        "unknown_state_filters": ["Completing"],
        "transaction_states": [
            {
                "transactional_id": TXN_ID,
                "producer_id": PRODUCER_ID,
                "transaction_state": "Ongoing",
            },
            {"transactional_id": "orders-etl-1", "producer_id": 7, "transaction_state": "Empty"},
        ],
    }


VALUES: dict[Message, Callable[[int], dict[str, Any]]] = {
    add_partitions_to_txn.REQUEST: add_partitions_to_txn_request,
    add_partitions_to_txn.RESPONSE: add_partitions_to_txn_response,
    add_offsets_to_txn.REQUEST: add_offsets_to_txn_request,
    add_offsets_to_txn.RESPONSE: add_offsets_to_txn_response,
    end_txn.REQUEST: end_txn_request,
    end_txn.RESPONSE: end_txn_response,
    write_txn_markers.REQUEST: write_txn_markers_request,
    write_txn_markers.RESPONSE: write_txn_markers_response,
    txn_offset_commit.REQUEST: txn_offset_commit_request,
    txn_offset_commit.RESPONSE: txn_offset_commit_response,
    describe_transactions.REQUEST: describe_transactions_request,
    describe_transactions.RESPONSE: describe_transactions_response,
    list_transactions.REQUEST: list_transactions_request,
    list_transactions.RESPONSE: list_transactions_response,
}

CASES = [
    pytest.param(message, version, id=f"{message.name}-v{version}")
    for message in VALUES
    for version in range(message.valid_versions.low, message.valid_versions.high + 1)
]


# -- the declarations -------------------------------------------------------------------------


def test_declared_once_with_kafkas_version_ranges() -> None:
    for api_key, module in TXN_APIS.items():
        assert APIS[api_key] == (module.REQUEST, module.RESPONSE)
        valid, flexible = DECLARED[api_key]
        for message in (module.REQUEST, module.RESPONSE):
            assert message.api_key == api_key
            assert str(message.valid_versions) == valid, message.name
            assert str(message.flexible_versions) == flexible, message.name
    assert len(CASES) == 2 * (4 + 5 + 6 + 3 + 6 + 1 + 3)


@pytest.mark.parametrize("api_key", sorted(TXN_APIS))
def test_header_versions_follow_flexibility(api_key: int) -> None:
    request = TXN_APIS[api_key].REQUEST
    for version in range(request.valid_versions.low, request.valid_versions.high + 1):
        flexible = request.is_flexible(version)
        assert headers.request_header_version(api_key, version) == (2 if flexible else 1)
        assert headers.response_header_version(api_key, version) == (1 if flexible else 0)


# -- every version --------------------------------------------------------------------------


@pytest.mark.parametrize(("message", "version"), CASES)
def test_representative_values_round_trip(message: Message, version: int) -> None:
    round_trip(message, version, VALUES[message](version))


@pytest.mark.parametrize(("message", "version"), CASES)
def test_frames_round_trip_with_their_headers(message: Message, version: int) -> None:
    assert_frame_round_trips(message, version, VALUES[message](version))


@pytest.mark.parametrize(("message", "version"), CASES)
def test_empty_value_gets_kafkas_defaults(message: Message, version: int) -> None:
    decoded = codec.decode(message, version, codec.encode(message, version, {}))
    for name, item in decoded.items():
        if isinstance(item, list):
            assert item == [], name
    if message is end_txn.RESPONSE and version >= 5:
        assert (decoded.producer_id, decoded.producer_epoch) == (-1, -1)
    if message is txn_offset_commit.REQUEST and version >= 3:
        assert (decoded.generation_id, decoded.member_id) == (-1, "")
        assert decoded.group_instance_id is None
    if message is list_transactions.REQUEST and version >= 1:
        assert decoded.duration_filter == -1
        assert decoded.get("transactional_id_pattern") is None
    if message is write_txn_markers.REQUEST:
        value = {"markers": [{"topics": []}]}
        decoded = codec.decode(message, version, codec.encode(message, version, value))
        assert decoded.markers[0].get("transaction_version", 0) == 0


@pytest.mark.parametrize("version", range(3, 6))
def test_txn_offset_commit_null_group_instance_id(version: int) -> None:
    round_trip(txn_offset_commit.REQUEST, version, txn_offset_commit_request(version, None))


@pytest.mark.parametrize("pattern", [None, ""])
def test_list_transactions_pattern_null_or_empty(pattern: str | None) -> None:
    round_trip(list_transactions.REQUEST, 2, list_transactions_request(2, pattern))


# -- on the wire ------------------------------------------------------------------------------


def _i64(value: int) -> bytes:
    return struct.pack(">q", value)


def _str(text: str) -> bytes:
    return i16(len(text)) + text.encode()


def test_add_partitions_to_txn_v0_and_v3_request_bytes() -> None:
    value = {
        "v3_and_below_transactional_id": "t",
        "v3_and_below_producer_id": 5,
        "v3_and_below_producer_epoch": 2,
        "v3_and_below_topics": [{"name": "a", "partitions": [0, 4]}],
    }
    v0 = _str("t") + _i64(5) + i16(2) + i32(1) + _str("a") + i32(2, 0, 4)
    for version in range(3):
        assert round_trip(add_partitions_to_txn.REQUEST, version, value) == v0
    v3 = (
        compact_str("t")
        + _i64(5)
        + i16(2)
        + b"\x02"  # one topic (compact array: n + 1)
        + compact_str("a")
        + b"\x03"
        + i32(0, 4)
        + b"\x00\x00"  # tagged-field sections: topic, request
    )
    assert round_trip(add_partitions_to_txn.REQUEST, 3, value) == v3


def test_end_txn_v2_and_v5_bytes() -> None:
    request = {"transactional_id": "t", "producer_id": 5, "producer_epoch": 2, "committed": False}
    assert round_trip(end_txn.REQUEST, 2, request) == _str("t") + _i64(5) + i16(2) + b"\x00"
    request["committed"] = True
    expected = compact_str("t") + _i64(5) + i16(2) + b"\x01\x00"
    assert round_trip(end_txn.REQUEST, 5, request) == expected
    response = {"throttle_time_ms": 0, "error_code": 0}
    assert round_trip(end_txn.RESPONSE, 4, response) == i32(0) + i16(0) + b"\x00"
    response |= {"producer_id": 5, "producer_epoch": 3}
    expected = i32(0) + i16(0) + _i64(5) + i16(3) + b"\x00"
    assert round_trip(end_txn.RESPONSE, 5, response) == expected


def _marker(version: int) -> dict[str, Any]:
    marker: dict[str, Any] = {
        "producer_id": 5,
        "producer_epoch": 2,
        "transaction_result": True,
        "topics": [{"name": "a", "partition_indexes": [1]}],
        "coordinator_epoch": 9,
    }
    if version >= 2:
        marker["transaction_version"] = 2
    return marker


def test_write_txn_markers_v0_request_bytes() -> None:
    expected = (
        i32(1)  # one marker
        + _i64(5)
        + i16(2)
        + b"\x01"  # commit
        + i32(1)
        + _str("a")
        + i32(1, 1)  # partition_indexes: [1]
        + i32(9)
    )
    assert round_trip(write_txn_markers.REQUEST, 0, {"markers": [_marker(0)]}) == expected


@pytest.mark.parametrize("version", [1, 2])
def test_write_txn_markers_flexible_request_bytes(version: int) -> None:
    expected = (
        b"\x02"
        + _i64(5)
        + i16(2)
        + b"\x01"
        + b"\x02"
        + compact_str("a")
        + b"\x02"
        + i32(1)
        + b"\x00"  # topic's tagged fields
        + i32(9)
        + (b"\x02" if version >= 2 else b"")  # transaction_version, an int8
        + b"\x00\x00"  # marker's and request's tagged fields
    )
    value = {"markers": [_marker(version)]}
    assert round_trip(write_txn_markers.REQUEST, version, value) == expected


def test_write_txn_markers_v0_response_bytes() -> None:
    value = {
        "markers": [
            {
                "producer_id": 5,
                "topics": [{"name": "a", "partitions": [{"partition_index": 1, "error_code": 6}]}],
            }
        ]
    }
    expected = i32(1) + _i64(5) + i32(1) + _str("a") + i32(1) + i32(1) + i16(6)
    assert round_trip(write_txn_markers.RESPONSE, 0, value) == expected


def test_txn_offset_commit_v3_request_bytes() -> None:
    value = {
        "transactional_id": "t",
        "group_id": "g",
        "producer_id": 5,
        "producer_epoch": 2,
        "generation_id": 4,
        "member_id": "m",
        "group_instance_id": None,
        "topics": [
            {
                "name": "a",
                "partitions": [
                    {
                        "partition_index": 1,
                        "committed_offset": 100,
                        "committed_leader_epoch": 3,
                        "committed_metadata": None,
                    }
                ],
            }
        ],
    }
    expected = (
        compact_str("t")
        + compact_str("g")
        + _i64(5)
        + i16(2)
        + i32(4)
        + compact_str("m")
        + b"\x00"  # null compact string
        + b"\x02"
        + compact_str("a")
        + b"\x02"
        + i32(1)
        + _i64(100)
        + i32(3)
        + b"\x00"  # null committed_metadata
        + b"\x00\x00\x00"  # tagged fields: partition, topic, request
    )
    assert round_trip(txn_offset_commit.REQUEST, 3, value) == expected


def test_list_transactions_v2_request_bytes() -> None:
    value = {
        "state_filters": ["Ongoing"],
        "producer_id_filters": [],
        "duration_filter": -1,
        "transactional_id_pattern": None,
    }
    expected = b"\x02" + compact_str("Ongoing") + b"\x01" + _i64(-1) + b"\x00" + b"\x00"
    assert round_trip(list_transactions.REQUEST, 2, value) == expected
