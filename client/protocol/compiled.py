"""Straight-line decode / encode functions generated from the construct codecs, one per version.

The construct codec (:mod:`client.protocol.codec`) stays the definition: a declaration becomes a
tree of constructs once per version.  Walking that tree costs a Python call per field and per
primitive: decoding a 2-record Produce and encoding its answer were about a third of that
request's handling (cProfile, through the dispatcher).  This module walks the same tree once
more and writes Python source for it: consecutive fixed-width fields read or written with one
precompiled ``struct.Struct``, lengths and one-byte varints inline, one function per struct,
then ``exec``\\ s it.  The generated functions behave exactly like the tree they come from (same
values, same bytes, same refusals; ``tests/unit/test_codec_compiled.py`` checks every declared
message and version against construct, on valid values and on damaged frames).

Decoders take ``(view, position)`` and return ``(value, position)``; the view's end is the
frame's end.  A short frame surfaces as ``IndexError`` or ``struct.error`` besides construct's
own errors; :func:`client.protocol.codec.decode_from` turns all of them into ``ProtocolError``.
Encoders take ``(value, small, large)``: small pieces are appended to the ``small`` bytearray,
byte strings of ``SMALL_PIECE_BYTES`` or more are recorded in ``large`` as ``(position in
small, piece)`` so records go out uncopied.

Only names we generate appear in the source as identifiers; field names from the declarations
appear only as string literals (``repr``).  A tree with a construct this module does not know
yields ``None`` and the caller keeps the construct codec.
"""

from __future__ import annotations

import keyword
import operator
import struct
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import construct
from construct import Construct, Container

from client.protocol import primitives as p
from client.protocol.codec import KafkaArray, KafkaStruct, NullableStruct, fresh_default

Decoder = Callable[[memoryview, int], tuple[Any, int]]
Encoder = Callable[[Any, bytearray, list[tuple[int, Any]]], None]

_UVARINT_MAX = 0xFFFFFFFF


class Unsupported(Exception):
    """The tree holds a construct the generator does not know (the caller keeps construct)."""


# -- runtime helpers the generated code calls ---------------------------------------------------


def _uvarint(view: memoryview, position: int) -> tuple[int, int]:
    byte = view[position]
    if byte < 0x80:
        return byte, position + 1
    return p.decode_uvarint(view, position, 5)


class TagSection(NamedTuple):
    """What a struct's tagged-field section holds: per tag (name, decoder, default), the
    defaults set before reading (name, default, needs a fresh copy), and where unknown tags and
    known tags sent at their default are kept."""

    table: dict[int, tuple[str, Decoder, Any]]
    defaults: list[tuple[str, Any, bool]]
    unknown_key: str
    default_key: str


def _parse_tagged(out: Container, view: memoryview, position: int, section: TagSection) -> int:
    """The tagged-field section after a struct's fields (KafkaStruct._parse_tagged's rules)."""
    table = section.table
    for name, default, mutable in section.defaults:
        out[name] = fresh_default(default) if mutable else default
    count, position = _uvarint(view, position)
    unknown: list[tuple[int, memoryview]] = []
    seen_default: list[int] = []
    previous = -1
    for _ in range(count):
        tag, position = _uvarint(view, position)
        size, position = _uvarint(view, position)
        if tag <= previous:
            raise construct.ValidationError("tagged fields out of order")
        previous = tag
        if size > len(view) - position:
            raise construct.StreamError("tagged field exceeds the frame")
        end = position + size
        slot = table.get(tag)
        if slot is None:
            unknown.append((tag, view[position:end]))
        else:
            name, decode, default = slot
            value, after = decode(view[position:end], 0)
            if after != size:
                raise construct.ValidationError(f"tagged field {tag} has trailing bytes")
            out[name] = value
            if value == default:
                seen_default.append(tag)
        position = end
    if unknown:
        out[section.unknown_key] = unknown
    if seen_default:
        out[section.default_key] = seen_default
    return position


def _encode_uvarint(value: int) -> bytes:
    return p.encode_uvarint(value)


def _joined(small: bytearray, large: list[tuple[int, Any]]) -> bytes:
    if not large:
        return bytes(small)
    return b"".join(pieces(small, large))


def pieces(small: bytearray, large: list[tuple[int, Any]]) -> list[Any]:
    """The encoded message in order: stretches of ``small`` with the large pieces between."""
    if not large:
        return [small] if small else []
    out: list[Any] = []
    previous = 0
    for position, piece in large:
        if position > previous:
            out.append(small[previous:position])
        out.append(piece)
        previous = position
    if previous < len(small):
        out.append(small[previous:])
    return out


_TagEncoders = list[tuple[int, str, Any, Callable[[Any], bytes]]]


def _build_tagged(
    obj: Any, small: bytearray, table: _TagEncoders, unknown_key: str, default_key: str
) -> None:
    """The tagged-field section (KafkaStruct._build_tagged's rules)."""
    entries: list[tuple[int, Any]] = list(obj.get(unknown_key) or ())
    keep = obj.get(default_key) or ()
    for tag, name, default, encode in table:
        value = obj.get(name, default)
        if value == default and tag not in keep:
            continue
        entries.append((tag, encode(value)))
    entries.sort(key=lambda entry: entry[0])
    small += p.encode_uvarint(len(entries))
    for tag, data in entries:
        small += p.encode_uvarint(tag)
        small += p.encode_uvarint(len(data))
        small += data


# -- the generator ------------------------------------------------------------------------------


class _Generator:
    """Collects the source of every function of one message version and its constants."""

    def __init__(self, unknown_key: str, default_key: str, small_piece_bytes: int) -> None:
        self.unknown_key = unknown_key
        self.default_key = default_key
        self.small_piece_bytes = small_piece_bytes
        self.sources: list[str] = []
        self.names: dict[str, Any] = {
            "_C": Container,
            "_uvarint": _uvarint,
            "_decode_uvarint": p.decode_uvarint,
            "_encode_uvarint": _encode_uvarint,
            # construct's own error classes, raised as its constructs raise them
            "_ValidationError": construct.ValidationError,
            "_StreamError": construct.StreamError,
            "_IntegerError": construct.IntegerError,
            "_parse_tagged": _parse_tagged,
            "_build_tagged": _build_tagged,
            "_joined": _joined,
            "_fresh": fresh_default,
            "_UUID": uuid.UUID,
            "_I16": struct.Struct(">h"),
            "_I32": struct.Struct(">i"),
        }
        self._temps = 0
        self._structs: dict[int, tuple[str, str]] = {}
        self._keep: list[Any] = []  # the structs named above (their ids stay unique)
        self._tables: list[Any] = []  # tag tables holding _Deferred names until build

    def constant(self, value: Any) -> str:
        name = f"_k{len(self.names)}"
        self.names[name] = value
        return name

    def temp(self, stem: str) -> str:
        self._temps += 1
        return f"{stem}{self._temps}"

    # -- decoding -----------------------------------------------------------------------------

    def decode_value(self, codec: Construct, target: str, pad: str) -> list[str]:
        """Lines that read one value of ``codec`` at ``pos`` of ``v`` into ``target``."""
        kind = type(codec)
        if kind is KafkaStruct:
            decode_name, _ = self.struct(codec)
            return [f"{pad}{target}, pos = {decode_name}(v, pos)"]
        if kind is NullableStruct:
            decode_name, _ = self.struct(codec.struct)
            marker = self.temp("m")
            return [  # as Kafka: a negative INT8 marker is null, any other a struct
                f"{pad}{marker} = v[pos]",
                f"{pad}pos += 1",
                f"{pad}if {marker} >= 128:",
                f"{pad}    {target} = None",
                f"{pad}else:",
                f"{pad}    {target}, pos = {decode_name}(v, pos)",
            ]
        if kind is KafkaArray:
            return self._decode_array(codec, target, pad)
        if isinstance(codec, p._Fixed):
            fixed = self.constant(_fixed_struct([codec]))
            return [
                f"{pad}({target},) = {fixed}.unpack_from(v, pos)",
                f"{pad}pos += {codec._size}",
            ]
        if kind is p._UVarint:
            return self._decode_uvarint(target, pad)
        if kind is p._Uuid:
            return [
                f"{pad}if pos + 16 > len(v):",
                f"{pad}    raise _StreamError('length 16 exceeds the frame')",
                f"{pad}{target} = _UUID(bytes=bytes(v[pos : pos + 16]))",
                f"{pad}pos += 16",
            ]
        if kind is p._Sized:
            return self._decode_sized(codec, target, pad)
        raise Unsupported(kind.__name__)

    def _decode_uvarint(self, target: str, pad: str) -> list[str]:
        byte = self.temp("b")
        return [
            f"{pad}{byte} = v[pos]",
            f"{pad}if {byte} < 128:",
            f"{pad}    {target} = {byte}",
            f"{pad}    pos += 1",
            f"{pad}else:",
            f"{pad}    {target}, pos = _decode_uvarint(v, pos, 5)",
        ]

    def _decode_length(self, compact: bool, wide: bool, target: str, pad: str) -> list[str]:
        if compact:
            lines = self._decode_uvarint(target, pad)
            return [*lines, f"{pad}{target} -= 1"]
        prefix = "_I32" if wide else "_I16"
        return [
            f"{pad}({target},) = {prefix}.unpack_from(v, pos)",
            f"{pad}pos += {4 if wide else 2}",
        ]

    def _decode_sized(self, codec: Any, target: str, pad: str) -> list[str]:
        length = self.temp("n")
        lines = self._decode_length(codec.compact, not codec.text, length, pad)
        lines.append(f"{pad}if {length} < 0:")
        if codec.nullable:
            lines += [
                f"{pad}    if {length} != -1:",
                f"{pad}        raise _ValidationError(f'invalid length {{{length}}}')",
                f"{pad}    {target} = None",
            ]
        else:
            lines.append(f"{pad}    raise _ValidationError(f'invalid length {{{length}}}')")
        end = self.temp("e")
        value = f"str(v[pos:{end}], 'utf-8')" if codec.text else f"v[pos:{end}]"
        lines += [
            f"{pad}else:",
            f"{pad}    {end} = pos + {length}",
            f"{pad}    if {end} > len(v):",
            f"{pad}        raise _StreamError(f'length {{{length}}} exceeds the frame')",
            f"{pad}    {target} = {value}",
            f"{pad}    pos = {end}",
        ]
        return lines

    def _decode_array(self, codec: Any, target: str, pad: str) -> list[str]:
        count = self.temp("c")
        lines = self._decode_length(codec.compact, True, count, pad)
        lines.append(f"{pad}if {count} < 0:")
        if codec.nullable:
            lines += [
                f"{pad}    if {count} != -1:",
                f"{pad}        raise _ValidationError(f'invalid array length {{{count}}}')",
                f"{pad}    {target} = None",
            ]
        else:
            lines.append(f"{pad}    raise _ValidationError(f'invalid array length {{{count}}}')")
        item = self.temp("x")
        append = self.temp("ap")
        lines += [
            f"{pad}else:",
            f"{pad}    if {count} > len(v) - pos:",
            f"{pad}        raise _StreamError(f'array of {{{count}}} exceeds the frame')",
            f"{pad}    {target} = []",
            f"{pad}    {append} = {target}.append",
            f"{pad}    for _ in range({count}):",
            *self.decode_value(codec.element, item, pad + "        "),
            f"{pad}        {append}({item})",
        ]
        return lines

    def value_decoder(self, codec: Construct) -> str:
        """A function decoding one value of ``codec`` (a tagged field's)."""
        name = self.temp("_dt")
        lines = [
            f"def {name}(v, pos):",
            *self.decode_value(codec, "x", "    "),
            "    return x, pos",
        ]
        self.sources.append("\n".join(lines))
        return name

    # -- encoding -----------------------------------------------------------------------------

    def encode_value(self, codec: Construct, source: str, pad: str) -> list[str]:
        """Lines that write ``source`` (a local name) as ``codec`` to ``s`` / ``big``."""
        kind = type(codec)
        if kind is KafkaStruct:
            _, encode_name = self.struct(codec)
            return [f"{pad}{encode_name}({source}, s, big)"]
        if kind is NullableStruct:
            _, encode_name = self.struct(codec.struct)
            return [
                f"{pad}if {source} is None:",
                f"{pad}    s += b'\\xff'",
                f"{pad}else:",
                f"{pad}    s += b'\\x01'",
                f"{pad}    {encode_name}({source}, s, big)",
            ]
        if kind is KafkaArray:
            return self._encode_array(codec, source, pad)
        if isinstance(codec, p._Fixed):
            fixed = self.constant(_fixed_struct([codec]))
            return [f"{pad}s += {fixed}.pack({source})"]
        if kind is p._UVarint:
            return [
                f"{pad}if not 0 <= {source} <= {_UVARINT_MAX}:",
                f"{pad}    raise _IntegerError(f'uvarint out of range: {{{source}}}')",
                *self._encode_uvarint(source, pad),
            ]
        if kind is p._Uuid:
            return [f"{pad}s += {source}.bytes"]
        if kind is p._Sized:
            return self._encode_sized(codec, source, pad)
        raise Unsupported(kind.__name__)

    @staticmethod
    def _encode_uvarint(source: str, pad: str) -> list[str]:
        return [
            f"{pad}if {source} < 128:",
            f"{pad}    s.append({source})",
            f"{pad}else:",
            f"{pad}    s += _encode_uvarint({source})",
        ]

    def _encode_length(self, compact: bool, wide: bool, length: str, pad: str) -> list[str]:
        if compact:
            plus = self.temp("m")
            return [f"{pad}{plus} = {length} + 1", *self._encode_uvarint(plus, pad)]
        return [f"{pad}s += {'_I32' if wide else '_I16'}.pack({length})"]

    @staticmethod
    def _encode_null(compact: bool, wide: bool, nullable: bool, what: str, pad: str) -> str:
        if not nullable:
            return f"{pad}    raise _ValidationError('null in a non-nullable {what}')"
        null = b"\x00" if compact else (b"\xff\xff\xff\xff" if wide else b"\xff\xff")
        return f"{pad}    s += {null!r}"

    def _encode_sized(self, codec: Any, source: str, pad: str) -> list[str]:
        data = self.temp("d")
        length = self.temp("n")
        wide = not codec.text
        lines = [
            f"{pad}if {source} is None:",
            self._encode_null(codec.compact, wide, codec.nullable, "field", pad),
            f"{pad}else:",
            f"{pad}    {data} = {source}.encode('utf-8')"
            if codec.text
            else f"{pad}    {data} = {source}",
            f"{pad}    {length} = len({data})",
            *self._encode_length(codec.compact, wide, length, pad + "    "),
        ]
        if codec.text:
            lines.append(f"{pad}    s += {data}")
        else:
            lines += [
                f"{pad}    if {length} < {self.small_piece_bytes}:",
                f"{pad}        s += {data}",
                f"{pad}    else:",
                f"{pad}        big.append((len(s), {data}))",
            ]
        return lines

    def _encode_array(self, codec: Any, source: str, pad: str) -> list[str]:
        length = self.temp("n")
        item = self.temp("x")
        return [
            f"{pad}if {source} is None:",
            self._encode_null(codec.compact, True, codec.nullable, "array", pad),
            f"{pad}else:",
            f"{pad}    {length} = len({source})",
            *self._encode_length(codec.compact, True, length, pad + "    "),
            f"{pad}    for {item} in {source}:",
            *self.encode_value(codec.element, item, pad + "        "),
        ]

    def value_encoder(self, codec: Construct) -> str:
        """A function encoding one value of ``codec`` to bytes (a tagged field's)."""
        name = self.temp("_et")
        lines = [
            f"def {name}(x):",
            "    s = bytearray()",
            "    big = []",
            *self.encode_value(codec, "x", "    "),
            "    return _joined(s, big)",
        ]
        self.sources.append("\n".join(lines))
        return name

    # -- structs ------------------------------------------------------------------------------

    def struct(self, codec: Any) -> tuple[str, str]:
        """The (decoder, encoder) function names of a KafkaStruct, generated on first use."""
        known = self._structs.get(id(codec))
        if known is not None:
            return known
        index = len(self._structs)
        names = (f"_d{index}", f"_e{index}")
        self._structs[id(codec)] = names
        self._keep.append(codec)
        self.sources.append(self._struct_decoder(codec, names[0]))
        self.sources.append(self._struct_encoder(codec, names[1]))
        return names

    def _struct_decoder(self, codec: Any, name: str) -> str:
        lines = [f"def {name}(v, pos):"]
        keys: list[tuple[str, str]] = []
        for run in _runs(codec.slots):
            if isinstance(run, list):
                targets = [self.temp("a") for _ in run]
                fixed = self.constant(_fixed_struct([slot[1] for slot in run]))
                lines.append(f"    ({', '.join(targets)},) = {fixed}.unpack_from(v, pos)")
                lines.append(f"    pos += {sum(slot[1]._size for slot in run)}")
                keys += [(slot[0], target) for slot, target in zip(run, targets, strict=True)]
            else:
                target = self.temp("a")
                lines += self.decode_value(run[1], target, "    ")
                keys.append((run[0], target))
        fields = ", ".join(f"{key!r}: {target}" for key, target in keys)
        tagged = codec.tagged
        names = [key for key, _ in keys] + [slot[0] for slot in (tagged or {}).values()]
        lines.append(f"    out = {self.constant(record_class(names))}({{{fields}}})")
        if tagged is not None:
            # The usual section: nothing sent, every known tagged field at its default.
            lines.append("    if v[pos] == 0:")
            for tag_name, default, mutable in codec._tagged_defaults:
                value = self.constant(default)
                lines.append(
                    f"        out[{tag_name!r}] = {f'_fresh({value})' if mutable else value}"
                )
            lines.append("        return out, pos + 1")
            decoders: dict[int, Any] = {  # decoders named now, resolved by build
                tag: (slot[0], _Deferred(self.value_decoder(slot[1])), slot[2])
                for tag, slot in tagged.items()
            }
            self._tables.append(decoders)
            section = self.constant(
                TagSection(decoders, codec._tagged_defaults, self.unknown_key, self.default_key)
            )
            lines.append(f"    pos = _parse_tagged(out, v, pos, {section})")
        lines.append("    return out, pos")
        return "\n".join(lines)

    def _struct_encoder(self, codec: Any, name: str) -> str:
        lines = [f"def {name}(obj, s, big):", "    g = obj.get"]
        for run in _runs(codec.slots):
            if isinstance(run, list):
                fixed = self.constant(_fixed_struct([slot[1] for slot in run]))
                values = ", ".join(f"g({slot[0]!r}, {self.constant(slot[2])})" for slot in run)
                lines.append(f"    s += {fixed}.pack({values})")
            else:
                source = self.temp("f")
                lines.append(f"    {source} = g({run[0]!r}, {self.constant(run[2])})")
                lines += self.encode_value(run[1], source, "    ")
        tagged = codec.tagged
        if tagged is not None:
            encoders = [
                (tag, slot[0], slot[2], _Deferred(self.value_encoder(slot[1])))
                for tag, slot in tagged.items()
            ]
            self._tables.append(encoders)
            table = self.constant(encoders)
            call = f"_build_tagged(obj, s, {table}, {self.unknown_key!r}, {self.default_key!r})"
            # The usual section: no unknown tags to keep, every known one left out or the very
            # default object (equal to it, so construct would leave it out too).
            checks = [f"{self.unknown_key!r} not in obj"]
            if tagged:
                checks.append(f"{self.default_key!r} not in obj")
            for tag_name, _codec, default in tagged.values():
                value = self.constant(default)
                checks.append(f"g({tag_name!r}, {value}) is {value}")
            lines += [
                f"    if {' and '.join(checks)}:",
                "        s.append(0)",
                "    else:",
                f"        {call}",
            ]
        return "\n".join(lines)

    def build(self) -> dict[str, Any]:
        namespace = dict(self.names)
        exec("\n\n".join(self.sources), namespace)  # our own generated source
        for table in self._tables:
            keys = table.keys() if isinstance(table, dict) else range(len(table))
            for key in keys:
                table[key] = tuple(
                    namespace[item.name] if isinstance(item, _Deferred) else item
                    for item in table[key]
                )
        return namespace


class _Deferred:
    """A generated function named before the source is executed; resolved by ``build``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _as_container(record: Container) -> tuple[type[Container], tuple[dict[str, Any]]]:
    return Container, (dict(record),)


def record_class(names: list[str]) -> type[Container]:
    """A ``Container`` whose declared fields read as attributes at C speed.

    construct's ``Container.__getattr__`` is Python code run after the normal lookup fails
    (~0.35 us a read; the Produce handler alone makes seven per request): here each field is a
    property over ``operator.itemgetter`` instead.  Names a dict or Container method already
    has (``items``, ``keys``...) keep the method, as they do on a Container.  Everything else
    is Container's: item access, ``get``, equality, repr; pickled, it is a plain Container.
    """
    namespace: dict[str, Any] = {"__slots__": (), "__reduce__": _as_container}
    for name in names:
        if name.isidentifier() and not keyword.iskeyword(name) and not hasattr(Container, name):
            namespace[name] = property(operator.itemgetter(name))
    return type("Container", (Container,), namespace)


def _fixed_struct(codecs: list[Any]) -> struct.Struct:
    return struct.Struct(">" + "".join(_format(codec) for codec in codecs))


def _format(codec: Any) -> str:
    if type(codec) is p._Bool:
        return "?"
    fmt: str = codec._struct.format
    return fmt.lstrip("<>!=@")


def _runs(slots: list[tuple[str, Construct, Any]]) -> list[Any]:
    """Slots grouped: consecutive fixed-width ones as a list, each other one on its own."""
    out: list[Any] = []
    for slot in slots:
        if isinstance(slot[1], p._Fixed):
            if out and isinstance(out[-1], list):
                out[-1].append(slot)
            else:
                out.append([slot])
        else:
            out.append(slot)
    return out


def compile_struct(
    codec: Any, *, unknown_key: str, default_key: str, small_piece_bytes: int
) -> tuple[Decoder, Encoder] | None:
    """The generated (decoder, encoder) of a message's top-level KafkaStruct, or ``None``."""
    generator = _Generator(unknown_key, default_key, small_piece_bytes)
    try:
        decode_name, encode_name = generator.struct(codec)
    except Unsupported:
        return None
    namespace = generator.build()
    return namespace[decode_name], namespace[encode_name]
