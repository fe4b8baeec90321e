"""Shared helpers of the golden-vector scripts.

* Build an EasyNetwork serializer from the names used by packetwire's ``CodecSpec``
  (``json``, ``line``, ``struct:!ii``, ``record:name=10s,age=I`` ... wrapped by ``base64``,
  ``zlib``, ``bz2`` ...).
* Convert packets between Python objects and the JSON form of the vectors, where a byte string
  is ``{"$bytes": "<lowercase hex>"}``.
* Compare packets strictly: ``1``, ``1.0`` and ``True`` differ, floats are compared bit for bit
  (so ``-0.0`` differs from ``0.0``), map order matters.
* Decode a whole stream buffer with an incremental deserializer, the way EasyNetwork's stream
  consumers do (restart a parser on the remainder after each packet or parse error).
"""

from __future__ import annotations

import collections
import functools
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from easynetwork.exceptions import IncrementalDeserializeError
from easynetwork.lowlevel.constants import DEFAULT_SERIALIZER_LIMIT
from easynetwork.serializers import (
    CBORSerializer,
    JSONSerializer,
    MessagePackSerializer,
    NamedTupleStructSerializer,
    PickleSerializer,
    StringLineSerializer,
    StructSerializer,
)
from easynetwork.serializers.abc import AbstractIncrementalPacketSerializer, AbstractPacketSerializer
from easynetwork.serializers.wrapper import (
    Base64EncoderSerializer,
    BZ2CompressorSerializer,
    ZlibCompressorSerializer,
)

Mode = Literal["stream", "datagram"]

NEWLINES: dict[str, Literal["LF", "CR", "CRLF"]] = {"lf": "LF", "cr": "CR", "crlf": "CRLF"}
ENCODINGS: dict[str, str] = {"ascii": "ascii", "utf-8": "utf-8", "latin-1": "latin-1"}
KNOWN_OPTIONS = frozenset({"newline", "encoding", "limit"})


class SpecError(ValueError):
    """A serializer or wrapper name that these scripts do not know."""


# --------------------------------------------------------------------------------------------
# Building serializers


@dataclass(frozen=True)
class RecordSpec:
    """``record:name=10s,age=I``: a named tuple and the struct format of each field."""

    fields: tuple[str, ...]
    formats: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> RecordSpec:
        fields: list[str] = []
        formats: list[str] = []
        for item in text.split(","):
            name, sep, fmt = item.partition("=")
            if not sep or not name or not fmt:
                raise SpecError(f"bad record field {item!r}: expected NAME=FORMAT")
            fields.append(name)
            formats.append(fmt)
        return cls(tuple(fields), tuple(formats))

    def namedtuple_cls(self) -> type[Any]:
        return _namedtuple_cls(self.fields)


@functools.cache
def _namedtuple_cls(fields: tuple[str, ...]) -> type[Any]:
    # One class per field list: the serializer checks packets with isinstance().
    return collections.namedtuple("Record", fields)


def _limit(options: Mapping[str, Any]) -> int:
    limit = options.get("limit")
    return DEFAULT_SERIALIZER_LIMIT if limit is None else int(limit)


def build_base_serializer(serializer: str, options: Mapping[str, Any]) -> AbstractPacketSerializer[Any, Any]:
    """The serializer named `serializer`, without wrappers."""
    unknown = set(options) - KNOWN_OPTIONS
    if unknown:
        raise SpecError(f"unknown options {sorted(unknown)}")
    limit = _limit(options)
    kind, _, arg = serializer.partition(":")
    match kind:
        case "json":
            return JSONSerializer(limit=limit)
        case "json-raw":
            return JSONSerializer(use_lines=False, limit=limit)
        case "line":
            newline = NEWLINES[str(options.get("newline", "lf"))]
            encoding = ENCODINGS[str(options.get("encoding", "ascii"))]
            return StringLineSerializer(newline, encoding=encoding, limit=limit)
        case "msgpack":
            return MessagePackSerializer(limit=limit)
        case "cbor":
            return CBORSerializer(limit=limit)
        case "pickle":
            return PickleSerializer()
        case "struct" if arg:
            return StructSerializer(arg)
        case "record" if arg:
            record = RecordSpec.parse(arg)
            # EasyNetwork's default string encoding for records is UTF-8.
            encoding = ENCODINGS[str(options.get("encoding", "utf-8"))]
            return NamedTupleStructSerializer(
                record.namedtuple_cls(), dict(zip(record.fields, record.formats, strict=True)), encoding=encoding
            )
        case _:
            raise SpecError(f"unknown serializer {serializer!r}")


def wrap_serializer(
    inner: AbstractPacketSerializer[Any, Any], wrapper: str, options: Mapping[str, Any]
) -> AbstractPacketSerializer[Any, Any]:
    """`inner` inside the wrapper named `wrapper` (``base64:standard:checksum``, ``zlib`` ...)."""
    kind, *modifiers = wrapper.split(":")
    match kind:
        case "base64":
            alphabet: Literal["standard", "urlsafe"] = "urlsafe"
            checksum: bool | str = False
            for modifier in modifiers:
                if modifier in ("standard", "urlsafe"):
                    alphabet = "standard" if modifier == "standard" else "urlsafe"
                elif modifier == "checksum":
                    checksum = True
                elif modifier.startswith("key="):
                    checksum = modifier.removeprefix("key=")
                else:
                    raise SpecError(f"unknown base64 modifier {modifier!r}")
            return Base64EncoderSerializer(inner, alphabet=alphabet, checksum=checksum, limit=_limit(options))
        case "zlib" | "bz2":
            level: int | None = None
            for modifier in modifiers:
                if modifier.startswith("level="):
                    level = int(modifier.removeprefix("level="))
                else:
                    raise SpecError(f"unknown {kind} modifier {modifier!r}")
            if kind == "zlib":
                return ZlibCompressorSerializer(inner, compress_level=level)
            return BZ2CompressorSerializer(inner, compress_level=level)
        case _:
            raise SpecError(f"unknown wrapper {wrapper!r}")


def build_serializer(
    serializer: str, wrap: Sequence[str], options: Mapping[str, Any]
) -> AbstractPacketSerializer[Any, Any]:
    """The serializer inside its wrappers (listed innermost first)."""
    result = build_base_serializer(serializer, options)
    for wrapper in wrap:
        result = wrap_serializer(result, wrapper, options)
    return result


def build_for_mode(
    serializer: str, wrap: Sequence[str], options: Mapping[str, Any], mode: Mode
) -> AbstractPacketSerializer[Any, Any]:
    """Like :func:`build_serializer`, and checks that the result can be used in `mode`."""
    result = build_serializer(serializer, wrap, options)
    if mode == "stream" and not isinstance(result, AbstractIncrementalPacketSerializer):
        raise SpecError(f"{type(result).__name__} is one-shot only: it cannot be used on a stream")
    if mode not in ("stream", "datagram"):
        raise SpecError(f"unknown mode {mode!r}")
    return result


# --------------------------------------------------------------------------------------------
# Packets <-> JSON


def to_json_packet(obj: Any) -> Any:
    """A decoded Python packet in the JSON form of the vectors."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"non-finite float {obj!r} has no JSON form")
        return obj
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"$bytes": bytes(obj).hex()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return {name: to_json_packet(value) for name, value in zip(obj._fields, obj, strict=True)}
    if isinstance(obj, (list, tuple)):
        return [to_json_packet(item) for item in obj]
    if isinstance(obj, dict):
        result: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ValueError(f"map key {key!r} is not a string: it has no JSON form")
            result[key] = to_json_packet(value)
        if list(result) == ["$bytes"]:
            raise ValueError("a map whose only key is '$bytes' would read back as a byte string")
        return result
    raise ValueError(f"{type(obj).__name__} value {obj!r} has no JSON form")


def from_json_value(value: Any) -> Any:
    """A JSON packet as plain Python data: ``{"$bytes": hex}`` becomes ``bytes``."""
    if isinstance(value, list):
        return [from_json_value(item) for item in value]
    if isinstance(value, dict):
        if list(value) == ["$bytes"] and isinstance(value["$bytes"], str):
            return bytes.fromhex(value["$bytes"])
        return {key: from_json_value(item) for key, item in value.items()}
    return value


def from_json_packet(value: Any, serializer: str) -> Any:
    """A JSON packet as the Python object that `serializer` sends (tuples for ``struct``,
    named tuples for ``record``)."""
    packet = from_json_value(value)
    kind, _, arg = serializer.partition(":")
    if kind == "struct":
        if not isinstance(packet, list):
            raise ValueError(f"a struct packet is a JSON array, not {value!r}")
        return tuple(packet)
    if kind == "record":
        if not isinstance(packet, dict):
            raise ValueError(f"a record packet is a JSON object, not {value!r}")
        return RecordSpec.parse(arg).namedtuple_cls()(**packet)
    return packet


def _float_key(x: float) -> str:
    return "nan" if math.isnan(x) else struct.pack(">d", x).hex()


def canonical(value: Any) -> Any:
    """A hashable form of a JSON packet that tells apart ``1``, ``1.0`` and ``True``, ``0.0``
    and ``-0.0``, and keeps map order."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", _float_key(value))
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, list):
        return ("list", tuple(canonical(item) for item in value))
    if isinstance(value, dict):
        return ("map", tuple((key, canonical(item)) for key, item in value.items()))
    raise TypeError(f"not a JSON value: {value!r}")


def same_packet(decoded: Any, expected_json: Any) -> bool:
    """Whether a decoded Python packet equals a JSON packet (strictly, see :func:`canonical`)."""
    return bool(canonical(to_json_packet(decoded)) == canonical(expected_json))


def short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Decoding


@dataclass(frozen=True)
class StreamEvent:
    """One result of decoding a stream: a packet, or a parse error."""

    packet: Any = None
    error: str | None = None


@dataclass(frozen=True)
class StreamResult:
    events: list[StreamEvent]
    leftover: bytes  # bytes left in the buffer that do not form a whole packet


def decode_stream(
    serializer: AbstractIncrementalPacketSerializer[Any, Any],
    data: bytes,
    *,
    chunk_size: int | None = None,
) -> StreamResult:
    """Feeds `data` to fresh incremental parsers the way EasyNetwork's stream consumer does: a
    parser gets the buffered bytes, then (if it wants more) the next chunks; after a packet or
    an ``IncrementalDeserializeError`` the remainder is kept and a new parser starts on it.

    With `chunk_size` None the whole buffer is one chunk."""
    if chunk_size is None:
        chunks = [data] if data else []
    else:
        chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    pending = collections.deque(chunks)
    buffered = b""
    events: list[StreamEvent] = []
    while buffered or pending:
        parser = serializer.incremental_deserialize()
        next(parser)
        if not buffered:
            buffered = pending.popleft()
        to_send = buffered
        buffered = b""
        fed: list[bytes] = []
        while True:
            fed.append(to_send)
            try:
                parser.send(to_send)
            except StopIteration as stop:
                packet, remainder = stop.value
                events.append(StreamEvent(packet=packet))
                buffered = bytes(remainder)
                break
            except IncrementalDeserializeError as exc:
                events.append(StreamEvent(error=f"{type(exc).__name__}: {exc}"))
                buffered = bytes(exc.remaining_data)
                break
            if not pending:
                parser.close()
                return StreamResult(events, b"".join(fed))
            to_send = pending.popleft()
    return StreamResult(events, b"")


def decode_datagram(serializer: AbstractPacketSerializer[Any, Any], data: bytes) -> Any:
    return serializer.deserialize(data)


def encode(serializer: AbstractPacketSerializer[Any, Any], mode: Mode, packets: Sequence[Any]) -> bytes:
    """Python's bytes for the packets: joined ``incremental_serialize`` chunks on a stream,
    ``serialize`` for the single packet of a datagram."""
    if mode == "datagram":
        if len(packets) != 1:
            raise ValueError("a datagram case has exactly one packet")
        return serializer.serialize(packets[0])
    assert isinstance(serializer, AbstractIncrementalPacketSerializer)
    return b"".join(b"".join(serializer.incremental_serialize(packet)) for packet in packets)


def check_decoded(
    serializer: AbstractPacketSerializer[Any, Any],
    mode: Mode,
    data: bytes,
    expected: Sequence[Any],
    *,
    chunk_size: int | None = None,
) -> str | None:
    """Decodes `data` and compares with the JSON packets `expected`; returns what is wrong, or None."""
    decoded: list[Any]
    if mode == "datagram":
        if len(expected) != 1:
            return f"a datagram case has exactly one packet, not {len(expected)}"
        try:
            decoded = [decode_datagram(serializer, data)]
        except Exception as exc:
            return f"deserialize raised {type(exc).__name__}: {exc}"
    else:
        assert isinstance(serializer, AbstractIncrementalPacketSerializer)
        try:
            result = decode_stream(serializer, data, chunk_size=chunk_size)
        except Exception as exc:
            return f"the incremental deserializer raised {type(exc).__name__}: {exc}"
        errors = [event.error for event in result.events if event.error is not None]
        if errors:
            return f"parse error(s): {errors}"
        if result.leftover:
            return f"{len(result.leftover)} byte(s) left that do not form a packet: {result.leftover[:40]!r}"
        decoded = [event.packet for event in result.events]
    if len(decoded) != len(expected):
        return f"decoded {len(decoded)} packet(s), expected {len(expected)}: {short(decoded)}"
    for index, (got, want) in enumerate(zip(decoded, expected, strict=True)):
        try:
            ok = same_packet(got, want)
        except ValueError as exc:
            return f"packet {index}: {exc}"
        if not ok:
            return f"packet {index}: decoded {short(to_json_packet(got))}, expected {short(want)}"
    return None
