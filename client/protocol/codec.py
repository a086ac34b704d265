"""Build one construct codec per (message, version) from a :class:`~client.protocol.schema.Message`.

The declaration is walked once per version: fields absent from that version are dropped, each
string / bytes / array picks its classic or compact encoding and its nullability, and in
flexible versions every struct ends with a tagged-field section.  Codecs are cached, so the walk
happens once per process.  Decoded values are construct ``Container``s (dicts with attribute
access) whose keys are the declaration's snake_case field names; unknown tagged fields are kept
under ``_unknown_tagged_fields`` so a decode / encode round trip is byte-exact.  Any decode
failure surfaces as :class:`~client.protocol.errors.ProtocolError`.

``decode_from`` / ``encode_parts`` run straight-line functions generated from these trees
(:mod:`client.protocol.compiled`, same values, bytes and refusals, checked against the trees
by ``tests/unit/test_codec_compiled.py``); the trees themselves stay the definition and serve
streams that are not a :class:`~client.protocol.primitives.Reader`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

import construct
from construct import Construct, Container

from client.protocol import primitives as p
from client.protocol.errors import ProtocolError
from client.protocol.primitives import Stream
from client.protocol.schema import Array, Field, FieldType, Message, Struct

UNKNOWN_TAGS = "_unknown_tagged_fields"
# Known tagged fields that were on the wire although equal to their default (kept so that a
# round trip re-emits them; our own encoder leaves defaults out, as Kafka's does).
DEFAULT_TAGS = "_default_tagged_fields"

_FIXED: dict[str, Construct] = {
    "int8": p.Int8,
    "int16": p.Int16,
    "int32": p.Int32,
    "int64": p.Int64,
    "uint16": p.UInt16,
    "uint32": p.UInt32,
    "uvarint": p.UVarint,
    "float64": p.Float64,
    "bool": p.Bool,
    "uuid": p.UUID_TYPE,
}
_ZERO_UUID = __import__("uuid").UUID(int=0)
_ZERO: dict[str, Any] = {
    "int8": 0,
    "int16": 0,
    "int32": 0,
    "int64": 0,
    "uint16": 0,
    "uint32": 0,
    "uvarint": 0,
    "float64": 0.0,
    "bool": False,
    "uuid": _ZERO_UUID,
    "string": "",
    "bytes": b"",
    "records": None,
}


class KafkaArray(Construct):  # type: ignore[misc]
    """ARRAY / COMPACT_ARRAY (nullable or not) of one element codec."""

    def __init__(self, element: Construct, *, compact: bool, nullable: bool) -> None:
        super().__init__()
        self.element = element
        self.compact = compact
        self.nullable = nullable

    def _parse(self, stream: Stream, context: Any, path: str) -> list[Any] | None:
        if self.compact:
            count = p.UVarint._parse(stream, context, path) - 1
        else:
            count = p.Int32._parse(stream, context, path)
        if count < 0:
            if count == -1 and self.nullable:
                return None
            raise construct.ValidationError(f"invalid array length {count}", path=path)
        if count > p.remaining(stream):
            raise construct.StreamError(f"array of {count} exceeds the frame", path=path)
        parse = self.element._parse
        return [parse(stream, context, path) for _ in range(count)]

    def _build(self, obj: Any, stream: Stream, context: Any, path: str) -> Any:
        if obj is None:
            if not self.nullable:
                raise construct.ValidationError("null in a non-nullable array", path=path)
            p.write(stream, b"\x00" if self.compact else b"\xff\xff\xff\xff", path)
            return obj
        if self.compact:
            p.write(stream, p.encode_uvarint(len(obj) + 1), path)
        else:
            p.Int32._build(len(obj), stream, context, path)
        build = self.element._build
        for item in obj:
            build(item, stream, context, path)
        return obj


class NullableStruct(Construct):  # type: ignore[misc]
    """A nullable struct field (KIP-893): an INT8 first, -1 for null or 1 for the struct
    (read as Kafka does: any negative marker is null, any other is a struct)."""

    def __init__(self, struct: Construct) -> None:
        super().__init__()
        self.struct = struct

    def _parse(self, stream: Stream, context: Any, path: str) -> Any:
        if p.Int8._parse(stream, context, path) < 0:
            return None
        return self.struct._parse(stream, context, path)

    def _build(self, obj: Any, stream: Stream, context: Any, path: str) -> Any:
        if obj is None:
            p.write(stream, b"\xff", path)
            return obj
        p.write(stream, b"\x01", path)
        self.struct._build(obj, stream, context, path)
        return obj


_Slot = tuple[str, Construct, Any]


def fresh_default(default: Any) -> Any:
    """A copy of a tagged field's default, made without ``copy.deepcopy`` (a profile of the
    follower's fetch round spent 7% of the broker in it): defaults are scalars, lists and
    Containers of those."""
    if isinstance(default, list):
        return [fresh_default(item) for item in default]
    if isinstance(default, dict):
        return type(default)((key, fresh_default(value)) for key, value in default.items())
    return default


def _is_mutable(default: Any) -> bool:
    return isinstance(default, list | dict)


class KafkaStruct(Construct):  # type: ignore[misc]
    """A struct: its fields in order, then (flexible versions only) the tagged-field section."""

    def __init__(self, fields: list[_Slot], tagged: dict[int, _Slot] | None) -> None:
        super().__init__()
        self.slots = fields
        self.tagged = tagged
        # (name, default, needs a fresh copy per decoded message)
        self._tagged_defaults = [
            (name, default, _is_mutable(default))
            for name, _codec, default in (tagged or {}).values()
        ]

    def _parse(self, stream: Stream, context: Any, path: str) -> Container:
        out = Container()
        for name, codec, _default in self.slots:
            out[name] = codec._parse(stream, context, path)
        tagged = self.tagged
        if tagged is not None:
            if not tagged and type(stream) is p.Reader:
                # Nearly every struct on the wire: no tagged fields known, none sent.
                position = stream._position
                if position < stream._end and stream._view[position] == 0:
                    stream._position = position + 1
                    return out
            self._parse_tagged(out, stream, context, path)
        return out

    def _parse_tagged(self, out: Container, stream: Stream, context: Any, path: str) -> None:
        tagged = self.tagged
        assert tagged is not None
        for name, default, mutable in self._tagged_defaults:
            # A fresh copy: a shared list or Container default would leak mutations between
            # decoded messages.
            out[name] = fresh_default(default) if mutable else default
        count = p.UVarint._parse(stream, context, path)
        unknown: list[tuple[int, bytes]] = []
        defaults: list[int] = []
        previous = -1
        for _ in range(count):
            tag = p.UVarint._parse(stream, context, path)
            size = p.UVarint._parse(stream, context, path)
            if tag <= previous:
                raise construct.ValidationError("tagged fields out of order", path=path)
            previous = tag
            if size > p.remaining(stream):
                raise construct.StreamError("tagged field exceeds the frame", path=path)
            data = p.read(stream, size, path)
            slot = tagged.get(tag)
            if slot is None:
                unknown.append((tag, data))
                continue
            inner = p.Reader(data)
            value = slot[1]._parse(inner, context, path)
            if inner.tell() != size:
                raise construct.ValidationError(f"tagged field {tag} has trailing bytes", path=path)
            out[slot[0]] = value
            if value == slot[2]:
                defaults.append(tag)
        if unknown:
            out[UNKNOWN_TAGS] = unknown
        if defaults:
            out[DEFAULT_TAGS] = defaults

    def _build(self, obj: Any, stream: Stream, context: Any, path: str) -> Any:
        get = obj.get
        for name, codec, default in self.slots:
            value = get(name, default)
            codec._build(value, stream, context, path)
        if self.tagged is not None:
            self._build_tagged(obj, stream, context, path)
        return obj

    def _build_tagged(self, obj: Any, stream: Stream, context: Any, path: str) -> None:
        tagged = self.tagged
        assert tagged is not None
        if not tagged and UNKNOWN_TAGS not in obj:
            stream.write(b"\x00")  # the usual struct: an empty tagged-field section
            return
        entries: list[tuple[int, bytes]] = list(obj.get(UNKNOWN_TAGS) or ())
        keep = obj.get(DEFAULT_TAGS) or ()
        for tag, (name, codec, default) in tagged.items():
            value = obj.get(name, default)
            if value == default and tag not in keep:
                continue
            entries.append((tag, codec.build(value)))
        entries.sort(key=lambda entry: entry[0])
        out = bytearray(p.encode_uvarint(len(entries)))
        for tag, data in entries:
            out += p.encode_uvarint(tag)
            out += p.encode_uvarint(len(data))
            out += data
        p.write(stream, bytes(out), path)


def _is_flexible(field: Field, version: int, flexible: bool) -> bool:
    if field.flexible_versions is None:
        return flexible
    return version in field.flexible_versions


def _type_codec(kind: FieldType, version: int, flexible: bool, nullable: bool) -> Construct:
    if isinstance(kind, Struct):
        struct = _struct_codec(kind.fields, version, flexible)
        return NullableStruct(struct) if nullable else struct
    if isinstance(kind, Array):
        element = _type_codec(kind.element, version, flexible, nullable=False)
        return KafkaArray(element, compact=flexible, nullable=nullable)
    if kind == "string":
        return p.KafkaString(compact=flexible, nullable=nullable)
    if kind in ("bytes", "records"):
        return p.Bytes(compact=flexible, nullable=nullable or kind == "records")
    return _FIXED[kind]


def _default(field: Field, version: int) -> Any:
    if field.default is not None:
        return field.default
    if version in field.nullable_versions:
        return None
    if isinstance(field.type, Array):
        return []
    if isinstance(field.type, Struct):
        # Kafka's default for a struct is the struct of its fields' defaults; a tagged struct
        # field (Fetch's diverging_epoch, current_leader) is left out when equal to it.
        return Container(
            (inner.name, _default(inner, version))
            for inner in field.type.fields
            if version in inner.versions
        )
    return _ZERO[field.type]


def _struct_codec(fields: tuple[Field, ...], version: int, flexible: bool) -> KafkaStruct:
    slots: list[_Slot] = []
    tagged: dict[int, _Slot] = {}
    for field in fields:
        if version not in field.versions:
            continue
        field_flexible = _is_flexible(field, version, flexible)
        nullable = version in field.nullable_versions
        codec = _type_codec(field.type, version, field_flexible, nullable)
        slot = (field.name, codec, _default(field, version))
        if field.tag is not None and version in field.tagged_versions and flexible:
            tagged[field.tag] = slot
        else:
            slots.append(slot)
    return KafkaStruct(slots, tagged if flexible else None)


_CACHE: dict[tuple[int, str, str, int], KafkaStruct] = {}
# Written pieces shorter than this are copied into a shared buffer; longer ones are kept.
SMALL_PIECE_BYTES = 4096


_Compiled = tuple[
    Callable[[memoryview, int], tuple[Any, int]], Callable[[Any, bytearray, list[Any]], None]
]
_COMPILED: dict[tuple[int, str, str, int], _Compiled | None] = {}


def compiled_for(message: Message, version: int) -> _Compiled | None:
    """The generated (decoder, encoder) of ``message`` at ``version`` (see
    :mod:`client.protocol.compiled`), compiled on first use; ``None`` keeps construct's."""
    key = (id(message), message.kind, message.name, version)
    try:
        return _COMPILED[key]
    except KeyError:
        pass
    from client.protocol import compiled  # it builds on this module's constructs

    functions = compiled.compile_struct(
        codec_for(message, version),
        unknown_key=UNKNOWN_TAGS,
        default_key=DEFAULT_TAGS,
        small_piece_bytes=SMALL_PIECE_BYTES,
    )
    _COMPILED[key] = functions
    return functions


def codec_for(message: Message, version: int) -> KafkaStruct:
    """The (cached) codec of ``message`` at ``version``; ``ValueError`` if not a valid version."""
    key = (id(message), message.kind, message.name, version)
    codec = _CACHE.get(key)
    if codec is None:
        if version not in message.valid_versions:
            raise ValueError(f"{message.name} has no version {version}")
        codec = _struct_codec(message.fields, version, message.is_flexible(version))
        _CACHE[key] = codec
    return codec


class Parts:
    """A write-only stream that keeps large written pieces instead of copying them.

    Encoding appends references to large pieces (a 1 MiB ``records`` field is not copied) and
    gathers the many small ones (lengths, numbers, names) into one buffer as it goes, so a
    response is a few pieces, not one per field; the caller joins or gather-writes them.
    """

    __slots__ = ("_pieces", "_small", "size")

    def __init__(self) -> None:
        self._pieces: list[bytes | bytearray | memoryview] = []
        self._small = bytearray()
        self.size = 0

    @classmethod
    def of(cls, small: bytearray, large: list[tuple[int, Any]]) -> Parts:
        """The pieces a generated encoder left: ``small`` with ``large`` spliced in."""
        parts = cls()
        if large:
            from client.protocol import compiled

            parts._pieces = compiled.pieces(small, large)
            parts.size = len(small) + sum(len(piece) for _, piece in large)
        else:
            parts._pieces = [small] if small else []
            parts.size = len(small)
        return parts

    def write(self, data: bytes | bytearray | memoryview) -> int:
        length = len(data)
        if length < SMALL_PIECE_BYTES:
            self._small += data
        else:
            if self._small:
                self._pieces.append(self._small)
                self._small = bytearray()
            self._pieces.append(data)
        self.size += length
        return length

    @property
    def parts(self) -> list[bytes | bytearray | memoryview]:
        if self._small:
            self._pieces.append(self._small)
            self._small = bytearray()
        return self._pieces


def encode_parts(message: Message, version: int, value: Mapping[str, Any]) -> Parts:
    """Encode ``value`` as ``message`` at ``version`` into uncopied pieces."""
    functions = compiled_for(message, version)
    if functions is None:
        parts = Parts()
        codec_for(message, version)._build(value, parts, None, "")
        return parts
    small = bytearray()
    large: list[tuple[int, Any]] = []
    try:
        functions[1](value, small, large)
    except struct.error as error:  # what construct's _Fixed reports as FormatFieldError
        raise construct.FormatFieldError(f"cannot encode a {message.name} field: {error}") from None
    return Parts.of(small, large)


def encode(message: Message, version: int, value: Mapping[str, Any]) -> bytes:
    """Encode ``value`` (a mapping of field names) as ``message`` at ``version``."""
    return b"".join(encode_parts(message, version, value).parts)


def decode_from(message: Message, version: int, stream: Stream) -> Container:
    """Decode one ``message`` from ``stream``, leaving the stream after it."""
    try:
        # A Reader's view ends where its frame does: the generated decoders bound every read by
        # the view's length (anything else takes construct's codec).
        functions = compiled_for(message, version) if type(stream) is p.Reader else None
        if functions is None:
            return codec_for(message, version)._parse(stream, None, "")
        value, stream._position = functions[0](stream._view, stream._position)
        return value
    except construct.ConstructError as error:
        raise ProtocolError(f"cannot decode {message.name} v{version}: {error}") from error
    except (IndexError, struct.error) as error:
        raise ProtocolError(
            f"cannot decode {message.name} v{version}: truncated ({error})"
        ) from error
    except (ValueError, OverflowError) as error:
        raise ProtocolError(f"cannot decode {message.name} v{version}: {error}") from error


def decode(message: Message, version: int, data: bytes | memoryview) -> Container:
    """Decode exactly one ``message`` from ``data``; trailing bytes are a ``ProtocolError``."""
    stream = p.Reader(data)
    value = decode_from(message, version, stream)
    if stream.tell() != len(data):
        raise ProtocolError(f"{message.name} v{version}: {len(data) - stream.tell()} extra bytes")
    return value
