"""Hypothesis strategies derived from our message declarations, shared by the codec tests.

``message_values(message, version)`` draws a value (a dict of snake_case field names) that is
valid for that version: every field present in it, nulls only where the version allows them,
integers within their wire width and lists kept short so nested messages stay small.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import strategies as st

from client.protocol.schema import Array, Field, FieldType, Message, Struct

MAX_LIST_SIZE = 3
MAX_TEXT_SIZE = 8
MAX_BYTES_SIZE = 16

_INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uvarint": (0, 2**32 - 1),
}

_OTHER: dict[str, st.SearchStrategy[Any]] = {
    "float64": st.floats(allow_nan=False),
    "bool": st.booleans(),
    "uuid": st.builds(uuid.UUID, int=st.integers(0, 2**128 - 1)),
    "string": st.text(max_size=MAX_TEXT_SIZE),
    "bytes": st.binary(max_size=MAX_BYTES_SIZE),
    "records": st.binary(max_size=MAX_BYTES_SIZE),
}


def _type_values(kind: FieldType, version: int) -> st.SearchStrategy[Any]:
    if isinstance(kind, Struct):
        return struct_values(kind.fields, version)
    if isinstance(kind, Array):
        return st.lists(_type_values(kind.element, version), max_size=MAX_LIST_SIZE)
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return st.integers(low, high)
    return _OTHER[kind]


def field_values(field: Field, version: int) -> st.SearchStrategy[Any]:
    values = _type_values(field.type, version)
    if version in field.nullable_versions:
        return st.none() | values
    return values


def struct_values(fields: tuple[Field, ...], version: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {field.name: field_values(field, version) for field in fields if version in field.versions}
    )


def message_values(message: Message, version: int) -> st.SearchStrategy[dict[str, Any]]:
    """Values of ``message`` at ``version`` (every field of that version, none missing)."""
    assert version in message.valid_versions, (message.name, version)
    return struct_values(message.fields, version)


@pytest.fixture(scope="session")
def values_for() -> Callable[[Message, int], st.SearchStrategy[dict[str, Any]]]:
    return message_values
