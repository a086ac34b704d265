"""kio (entities generated from Kafka's own message JSON) as an oracle for our declarations.

For every declared message and every version kio has: the field layout lines up (names, order,
tags, nullability, defaults), and for drawn values our encoding equals kio's byte for byte, kio
parses ours to the same values, and we decode kio's to the same values.

kio types some int fields more richly: ``*_ms`` durations as ``timedelta`` (the ``_ms`` suffix
dropped from the name), timestamps as ``datetime`` (a nullable one with -1 for null), error codes
as ``ErrorCode``, a zero UUID as ``None``. The converters below map those to our plain values;
``_kio_domain`` keeps drawn values inside what kio's types can hold.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.index import UnknownEntity, load_request_schema, load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer
from kio.serial._introspect import EntityField, EntityTupleField, classify_field, is_optional
from kio.serial.readers import tz_aware_from_i64

from client.protocol import codec
from client.protocol.messages import APIS
from client.protocol.schema import Array, Field, Message, Struct

Values = Callable[[Message, int], st.SearchStrategy[dict[str, Any]]]

DURATIONS = frozenset({"timedelta_i32", "timedelta_i64"})
TIMESTAMP = "datetime_i64"
ZERO_UUID = uuid.UUID(int=0)
ERROR_CODES = sorted(code.value for code in ErrorCode)
# Well inside timedelta's and datetime's range and exact through kio's float conversions.
TIME_MODULUS = 2**40
# Versions Kafka 4 removed, which kio (generated from Kafka 4) does not have.
EXPECTED_MISSING = {
    ("AlterPartition", 0),
    ("AlterPartition", 1),
    ("CreateAcls", 0),  # Kafka 4 removed v0 of the ACL APIs (KIP-896); we still declare it
    ("CreateTopics", 0),
    ("DeleteAcls", 0),
    ("CreateTopics", 1),
    ("DeleteTopics", 0),
    ("DescribeAcls", 0),
    ("DescribeConfigs", 0),
    ("DescribeLogDirs", 0),
    ("OffsetForLeaderEpoch", 0),
    ("OffsetForLeaderEpoch", 1),
    ("WriteTxnMarkers", 0),
}
REQUIRED_APIS = {0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18, 19, 20, 22, 32}
# The KRaft controller-listener APIs: AlterPartition, BrokerRegistration, BrokerHeartbeat,
# AllocateProducerIds.
REQUIRED_APIS |= {56, 62, 63, 67}
# Admin and replication APIs of session 12: DeleteRecords, OffsetForLeaderEpoch, AlterConfigs,
# ElectLeaders, IncrementalAlterConfigs.
REQUIRED_APIS |= {21, 23, 33, 43, 44}
# The transaction APIs: AddPartitionsToTxn (client versions 0-3 only), AddOffsetsToTxn, EndTxn,
# WriteTxnMarkers, TxnOffsetCommit, DescribeTransactions, ListTransactions.
REQUIRED_APIS |= {24, 25, 26, 27, 28, 65, 66}
# The KIP-848 consumer group APIs: ConsumerGroupHeartbeat, ConsumerGroupDescribe.
REQUIRED_APIS |= {68, 69}
# Security (session 20): SaslHandshake, SaslAuthenticate, the ACL APIs, SCRAM credentials.
REQUIRED_APIS |= {17, 36, 29, 30, 31, 50, 51}
# DescribeTopicPartitions, UpdateFeatures, AlterReplicaLogDirs, ListConfigResources (session 24).
REQUIRED_APIS |= {75, 57, 34, 74}
# KIP-932 share groups (session 25; schemas only so far): v1 of 76-79.
REQUIRED_APIS |= {76, 77, 78, 79}


def _kio_class(message: Message, version: int) -> type[Any] | None:
    load = load_request_schema if message.kind == "request" else load_response_schema
    try:
        return load(message.api_key, version)
    except UnknownEntity:
        return None


CASES = []
COVERED: set[int] = set()
MISSING = set()
for _request, _response in APIS.values():
    for _message in (_request, _response):
        for _version in range(_message.valid_versions.low, _message.valid_versions.high + 1):
            _kio = _kio_class(_message, _version)
            if _kio is None:
                MISSING.add((_message.name.removesuffix(_message.kind.title()), _version))
                continue
            COVERED.add(_message.api_key)
            CASES.append(pytest.param(_message, _version, _kio, id=f"{_message.name}-v{_version}"))


def _kafka_type(kio_field: dataclasses.Field[Any]) -> str:
    return str(kio_field.metadata.get("kafka_type", ""))


def _pairs(
    fields: tuple[Field, ...], kio_type: type[Any], version: int
) -> list[tuple[Field, dataclasses.Field[Any]]]:
    """Our fields of ``version`` next to kio's, asserting the names line up in order."""
    ours = [field for field in fields if version in field.versions]
    theirs = dataclasses.fields(kio_type)
    names = [
        kio_field.name + ("_ms" if _kafka_type(kio_field) in DURATIONS | {TIMESTAMP} else "")
        for kio_field in theirs
    ]
    assert [field.name for field in ours] == names, kio_type
    return list(zip(ours, theirs, strict=True))


def _struct_of(field: Field) -> Struct | None:
    kind = field.type.element if isinstance(field.type, Array) else field.type
    return kind if isinstance(kind, Struct) else None


def _nested(kio_field: dataclasses.Field[Any]) -> type[Any]:
    kind = classify_field(kio_field)
    assert isinstance(kind, EntityField | EntityTupleField)
    return kind.type_


# -- values: ours -> kio ----------------------------------------------------------------------


def _to_kio_scalar(kafka_type: str, nullable: bool, value: Any) -> Any:
    if value is None:
        return None
    if kafka_type in DURATIONS:
        return datetime.timedelta(milliseconds=value)
    if kafka_type == TIMESTAMP:
        return None if nullable and value == -1 else tz_aware_from_i64(value)
    if kafka_type == "error_code":
        return ErrorCode(value)
    return value


def _each(field: Field, item: Any, convert: Callable[[Any], Any], sequence: type = list) -> Any:
    """``convert`` applied to a field's value, or to each element of an array (null kept, and
    a null struct too: ConsumerGroupHeartbeat's assignment)."""
    if not isinstance(field.type, Array):
        return None if item is None and isinstance(field.type, Struct) else convert(item)
    return None if item is None else sequence(convert(element) for element in item)


def to_kio(fields: tuple[Field, ...], kio_type: type[Any], version: int, value: Any) -> Any:
    arguments = {}
    for field, kio_field in _pairs(fields, kio_type, version):
        struct = _struct_of(field)
        if struct is not None:
            convert = partial(to_kio, struct.fields, _nested(kio_field), version)
        else:
            convert = partial(_to_kio_scalar, _kafka_type(kio_field), is_optional(kio_field))
        arguments[kio_field.name] = _each(field, value[field.name], convert, tuple)
    return kio_type(**arguments)


# -- values: kio -> ours ----------------------------------------------------------------------


def _from_kio_scalar(kafka_type: str, value: Any) -> Any:
    if kafka_type in DURATIONS:
        return round(value.total_seconds() * 1000)
    if kafka_type == TIMESTAMP:
        return -1 if value is None else round(value.timestamp() * 1000)
    if kafka_type == "uuid":
        return ZERO_UUID if value is None else value
    if value is None:
        return None
    if kafka_type == "error_code":
        return value.value
    if kafka_type in ("bytes", "records"):
        return bytes(value)
    return value


def from_kio(fields: tuple[Field, ...], kio_type: type[Any], version: int, entity: Any) -> Any:
    out: dict[str, Any] = {}
    for field, kio_field in _pairs(fields, kio_type, version):
        struct = _struct_of(field)
        if struct is not None:
            convert = partial(from_kio, struct.fields, _nested(kio_field), version)
        else:
            convert = partial(_from_kio_scalar, _kafka_type(kio_field))
        out[field.name] = _each(field, getattr(entity, kio_field.name), convert)
    return out


def _kio_domain_scalar(kafka_type: str, nullable: bool, value: Any) -> Any:
    if value is None:
        return None
    if kafka_type == "error_code":
        return ERROR_CODES[value % len(ERROR_CODES)]
    if kafka_type == "timedelta_i32":
        return value % 2**31
    if kafka_type == "timedelta_i64":
        return value % TIME_MODULUS
    if kafka_type == TIMESTAMP:
        # kio reads no negative timestamp into a non-nullable datetime, though Kafka sends -1
        # there too (DescribeTransactions' start time of a transaction not yet begun).
        return -1 if nullable and value < 0 else value % TIME_MODULUS
    return value


def _kio_domain(fields: tuple[Field, ...], kio_type: type[Any], version: int, value: Any) -> Any:
    """``value`` with error codes, durations and timestamps moved into kio's types' range."""
    out = dict(value)
    for field, kio_field in _pairs(fields, kio_type, version):
        struct = _struct_of(field)
        if struct is not None:
            convert = partial(_kio_domain, struct.fields, _nested(kio_field), version)
        else:
            convert = partial(_kio_domain_scalar, _kafka_type(kio_field), is_optional(kio_field))
        out[field.name] = _each(field, value[field.name], convert)
    return out


# -- the layout -------------------------------------------------------------------------------

_ZERO = {"bool": False, "string": "", "bytes": b"", "uuid": ZERO_UUID, "float64": 0.0}


def _kio_default(kio_field: dataclasses.Field[Any]) -> Any:
    if kio_field.default is not dataclasses.MISSING:
        return kio_field.default
    if kio_field.default_factory is not dataclasses.MISSING:
        return kio_field.default_factory()
    return dataclasses.MISSING


def _check_default(field: Field, kio_field: dataclasses.Field[Any], version: int) -> None:
    """Kafka's default (as kio has it) equals ours: ``default=`` or the type's zero / null."""
    theirs = _kio_default(kio_field)
    if theirs is dataclasses.MISSING:
        assert field.default is None, field.name
        return
    if field.default is not None:
        ours = field.default
    elif version in field.nullable_versions:
        ours = None
    else:
        ours = _ZERO.get(str(field.type), 0)
    assert ours == _from_kio_scalar(_kafka_type(kio_field), theirs), field.name


def check_layout(fields: tuple[Field, ...], kio_type: type[Any], version: int) -> None:
    """Assert that names, order, tags, nullability and defaults match, recursively."""
    flexible = bool(kio_type.__flexible__)
    for field, kio_field in _pairs(fields, kio_type, version):
        tagged = flexible and field.tag is not None and version in field.tagged_versions
        assert (field.tag if tagged else None) == kio_field.metadata.get("tag"), field.name
        struct = _struct_of(field)
        if struct is not None:
            assert (version in field.nullable_versions) == is_optional(kio_field), field.name
            check_layout(struct.fields, _nested(kio_field), version)
            continue
        if _kafka_type(kio_field) not in ("uuid", TIMESTAMP):
            assert (version in field.nullable_versions) == is_optional(kio_field), field.name
        if not isinstance(field.type, Array):
            _check_default(field, kio_field, version)


# -- the tests --------------------------------------------------------------------------------

SETTINGS = settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_kio_covers_every_required_api_and_only_removed_versions_are_missing() -> None:
    assert MISSING == EXPECTED_MISSING
    assert set(APIS) == COVERED >= REQUIRED_APIS
    assert len(CASES) > 200


@pytest.mark.parametrize(("message", "version", "kio_type"), CASES)
def test_layout_matches_kio(message: Message, version: int, kio_type: type[Any]) -> None:
    assert kio_type.__flexible__ == message.is_flexible(version)
    assert kio_type.__api_key__ == message.api_key
    check_layout(message.fields, kio_type, version)


@pytest.mark.parametrize(("message", "version", "kio_type"), CASES)
@SETTINGS
@given(data=st.data())
def test_values_match_kio(
    values_for: Values, message: Message, version: int, kio_type: type[Any], data: st.DataObject
) -> None:
    value = _kio_domain(message.fields, kio_type, version, data.draw(values_for(message, version)))
    ours = codec.encode(message, version, value)

    parsed, size = entity_reader(kio_type)(ours, 0)
    assert size == len(ours)
    assert from_kio(message.fields, kio_type, version, parsed) == value

    buffer = io.BytesIO()
    entity_writer(kio_type)(buffer, to_kio(message.fields, kio_type, version, value))
    theirs = buffer.getvalue()
    assert codec.decode(message, version, theirs) == value
    assert theirs == ours
