"""Declaration types for Kafka protocol messages, in Kafka's own vocabulary.

Each API's request and response is declared once (in ``messages/<api>.py``) as a
:class:`Message` covering its whole version range, the way Kafka's message JSON files do:
``valid_versions``, ``flexible_versions``, and per field ``versions``, ``nullable_versions``,
``tag`` / ``tagged_versions`` and ``default``.  Version ranges are written as Kafka writes them:
``"0+"``, ``"3-7"``, ``"none"``.  :mod:`client.protocol.codec` turns a declaration into one
codec per version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MAX_VERSION = 0x7FFF


@dataclass(frozen=True, slots=True)
class Versions:
    """An inclusive range of versions; ``low > high`` means the empty range ``"none"``."""

    low: int
    high: int

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self.low <= version <= self.high

    @property
    def empty(self) -> bool:
        return self.low > self.high

    def __str__(self) -> str:
        if self.empty:
            return "none"
        if self.high == MAX_VERSION:
            return f"{self.low}+"
        return f"{self.low}-{self.high}" if self.low != self.high else str(self.low)


NONE = Versions(1, 0)


def versions(spec: str | Versions) -> Versions:
    """Parse Kafka's version-range syntax: ``"3+"``, ``"0-5"``, ``"4"``, ``"none"``."""
    if isinstance(spec, Versions):
        return spec
    spec = spec.strip()
    if spec in ("none", ""):
        return NONE
    if spec.endswith("+"):
        return Versions(int(spec[:-1]), MAX_VERSION)
    if "-" in spec:
        low, high = spec.split("-", 1)
        return Versions(int(low), int(high))
    return Versions(int(spec), int(spec))


# -- field types ---------------------------------------------------------------------------

Primitive = Literal[
    "int8",
    "int16",
    "int32",
    "int64",
    "uint16",
    "uint32",
    "uvarint",
    "float64",
    "bool",
    "uuid",
    "string",
    "bytes",
    "records",
]

INT8: Primitive = "int8"
INT16: Primitive = "int16"
INT32: Primitive = "int32"
INT64: Primitive = "int64"
UINT16: Primitive = "uint16"
UINT32: Primitive = "uint32"
UVARINT: Primitive = "uvarint"
FLOAT64: Primitive = "float64"
BOOL: Primitive = "bool"
UUID: Primitive = "uuid"
STRING: Primitive = "string"
BYTES: Primitive = "bytes"
RECORDS: Primitive = "records"


@dataclass(frozen=True, slots=True)
class Struct:
    """A nested structure: an ordered list of fields (Kafka's ``"type": "[]SomeName"`` body)."""

    fields: tuple[Field, ...]
    name: str = ""

    def __init__(self, fields: list[Field] | tuple[Field, ...], name: str = "") -> None:
        object.__setattr__(self, "fields", tuple(fields))
        object.__setattr__(self, "name", name)


@dataclass(frozen=True, slots=True)
class Array:
    """An array of a primitive or of a :class:`Struct`."""

    element: FieldType


FieldType = Primitive | Struct | Array


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a message or struct.

    ``versions``: the versions the field is present in.  ``nullable_versions``: where null is
    legal.  ``tag``/``tagged_versions``: a tagged field, present only in the tagged-field section
    of those (flexible) versions.  ``flexible_versions`` overrides the message's flexible range
    for this field's own encoding (the request header's ``client_id`` is never compact).
    ``default``: the value used when building a message that omits the field, and the value
    for which a tagged field is left out; ``None`` means the type's zero (null if nullable).
    """

    name: str
    type: FieldType
    versions: Versions = field(default_factory=lambda: versions("0+"))
    nullable_versions: Versions = NONE
    tag: int | None = None
    tagged_versions: Versions = NONE
    default: Any = None
    flexible_versions: Versions | None = None

    def __init__(
        self,
        name: str,
        type: FieldType,
        versions: str | Versions = "0+",
        *,
        nullable: str | Versions = "none",
        tag: int | None = None,
        tagged: str | Versions = "none",
        default: Any = None,
        flexible: str | Versions | None = None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "type", type)
        set_(self, "versions", _parse(versions))
        set_(self, "nullable_versions", _parse(nullable))
        set_(self, "tag", tag)
        set_(self, "tagged_versions", _parse(tagged))
        set_(self, "default", default)
        set_(self, "flexible_versions", None if flexible is None else _parse(flexible))
        if tag is not None and self.tagged_versions.empty:
            set_(self, "tagged_versions", self.versions)


def _parse(spec: str | Versions) -> Versions:
    return versions(spec)


Kind = Literal["request", "response", "header", "data"]


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message declaration (a request, a response, a header or a data record)."""

    name: str
    api_key: int
    kind: Kind
    valid_versions: Versions
    flexible_versions: Versions
    fields: tuple[Field, ...]

    def __init__(
        self,
        name: str,
        *,
        api_key: int,
        kind: Kind,
        valid: str,
        flexible: str,
        fields: list[Field],
    ) -> None:
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "api_key", api_key)
        set_(self, "kind", kind)
        set_(self, "valid_versions", versions(valid))
        set_(self, "flexible_versions", versions(flexible))
        set_(self, "fields", tuple(fields))

    def is_flexible(self, version: int) -> bool:
        return version in self.flexible_versions
