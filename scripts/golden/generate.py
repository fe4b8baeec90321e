#!/usr/bin/env python3
"""Writes packetwire's golden vectors with Python's EasyNetwork serializers.

Usage: generate.py [OUTPUT]   (default: crates/packetwire-proto/tests/golden/vectors.json)

Every byte string in the output is made by EasyNetwork's own serializer classes: on a stream,
the joined ``incremental_serialize(packet)`` chunks of each packet of the case; for a datagram,
``serialize(packet)``. Every case is then decoded back with EasyNetwork (whole buffer, and byte
by byte on streams) and must give its packets again, so ``packets`` is what EasyNetwork reads
from ``bytes_hex``. Invalid-input cases record what EasyNetwork decodes after a parse error.

The output is deterministic: cases sorted by name, and no timestamp.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import pickle
import platform
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from easynetwork.serializers.abc import AbstractIncrementalPacketSerializer

from golden_common import (
    Mode,
    build_for_mode,
    check_decoded,
    decode_stream,
    encode,
    from_json_packet,
    short,
    to_json_packet,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO_ROOT / "crates" / "packetwire-proto" / "tests" / "golden" / "vectors.json"

# A fixed signing key for ``base64:key=...`` (32 bytes, URL-safe base64: 44 characters).
KEY = base64.urlsafe_b64encode(bytes(range(0xE0, 0x100))).decode()
OTHER_KEY = base64.urlsafe_b64encode(bytes(32)).decode()
assert len(KEY) == 44 and len(OTHER_KEY) == 44

# --------------------------------------------------------------------------------------------
# Sample packets (JSON-compatible Python data; ``bytes`` only where the format has byte strings)

TEXT_ASCII = "hello world"
TEXT_ESCAPES = 'quote" backslash\\ slash/ \b\f\n\r\t nul\x00 unit\x1f del\x7f'
TEXT_LATIN = "café crème brûlée ÿ"
TEXT_ASTRAL = "emoji \U0001f600 clef \U0001d11e"  # surrogate pairs in escaped JSON
TEXT_CJK = "日本語のテキスト"

FLOATS = [0.1, 1e16, 1e-05, -0.0, 0.0, 1e15, 2.0, -1.5e-07, 123456.789, 5e-324, 1.7976931348623157e308, 1e22]
BIG_INTS = [0, 1, -1, 2**31 - 1, -(2**31), 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1]

NESTED = {
    "user": {
        "name": "Zoë",
        "tags": ["admin", "ops"],
        "age": 42,
        "score": 9.5,
        "active": True,
        "manager": None,
    },
    "items": [[1, [2, [3, []]]], {"k": [{"deep": False}]}],
    "z": "last key first in no sorted order",
    "a": 0,
}
EMPTY_CONTAINERS = [[], {}, "", [[]], {"a": {}}, [{}]]
MIXED_LIST = [1, -1, 1.5, "s", None, True, False, [], {}]

# fmt: off
MSGPACK_INTS = [
    0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
    -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63),
]
CBOR_INTS = [
    0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1,
    -1, -24, -25, -256, -257, -65536, -65537, -(2**32), -(2**32) - 1, -(2**63),
]
PICKLE_INTS = [
    0, 255, 256, 65535, 65536, 2**31 - 1, 2**31, -1, -(2**31), -(2**31) - 1, 2**63 - 1, 2**64 - 1, -(2**63),
]
# fmt: on
SIZED_STRINGS = ["", "x" * 31, "y" * 32, "z" * 255, "w" * 256, "é" * 200]
BYTES_VALUES = [b"", b"\x00", b"\xfb\xff\xfe", bytes(range(256)), b"\xaa" * 300]
BYTES_IN_MAP = {"blob": b"\xfb\xff\xfe\x00", "name": "x", "nested": [b"a", {"b": b""}]}
WIDE_CONTAINERS = {
    "list16": list(range(20)),
    "map16": {f"key{i:02d}": i for i in range(20)},
}
SHARED_KEYS = [{"id": 1, "tag": "x"}, {"id": 2, "tag": "x"}, {"id": 3, "tag": "y"}]

COMMON_SAMPLES: dict[str, Any] = {
    "null": None,
    "true": True,
    "false": False,
    "int": 42,
    "big-ints": BIG_INTS,
    "floats": FLOATS,
    "float-scalar": 0.1,
    "text-ascii": TEXT_ASCII,
    "text-escapes": TEXT_ESCAPES,
    "text-latin": TEXT_LATIN,
    "text-astral": TEXT_ASTRAL,
    "text-cjk": TEXT_CJK,
    "empty-list": [],
    "empty-map": {},
    "empty-string": "",
    "empty-containers": EMPTY_CONTAINERS,
    "nested": NESTED,
    "mixed-list": MIXED_LIST,
}
BINARY_SAMPLES: dict[str, Any] = {
    "bytes": BYTES_VALUES,
    "bytes-in-map": BYTES_IN_MAP,
    "sized-strings": SIZED_STRINGS,
    "wide-containers": WIDE_CONTAINERS,
    "shared-keys": SHARED_KEYS,
}

STREAM_MIXED = [NESTED, TEXT_ESCAPES, FLOATS, 42, None, True, False, {}, [], "", -0.0, 1e16, TEXT_ASTRAL]
STREAM_BINARY = [BYTES_IN_MAP, b"\x00\xff", 2**64 - 1, -(2**63), "é", [b"", {}], 0.1, None]


# --------------------------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    name: str
    serializer: str
    wrap: tuple[str, ...]
    options: dict[str, Any]
    mode: Mode
    packets: list[Any]  # JSON form
    source: list[Any]  # the Python objects given to EasyNetwork (tuples stay tuples)
    bytes_hex: str = ""
    exact: bool = True


@dataclass
class InvalidCase:
    name: str
    serializer: str
    wrap: tuple[str, ...]
    options: dict[str, Any]
    mode: Mode
    invalid_hex: str
    note: str
    packets_after: list[Any] = field(default_factory=list)  # JSON form

    @property
    def expect(self) -> str:
        return "error then packets" if self.mode == "stream" else "error"


def serializer_label(serializer: str, options: dict[str, Any]) -> str:
    if not options:
        return serializer
    details = ",".join(f"{key}={value}" for key, value in options.items())
    return f"{serializer}[{details}]"


def wrap_label(wrapper: str) -> str:
    parts = wrapper.split(":")
    return ":".join("key" if part.startswith("key=") else part for part in parts)


def case_name(serializer: str, wrap: Sequence[str], options: dict[str, Any], mode: Mode, label: str) -> str:
    head = serializer_label(serializer, options) + "".join(f"+{wrap_label(w)}" for w in wrap)
    return f"{head}/{mode}/{label}"


def contains_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(contains_float(item) for item in value)
    if isinstance(value, dict):
        return any(contains_float(item) for item in value.values())
    return False


def is_exact(serializer: str, wrap: Sequence[str], packets_json: list[Any]) -> bool:
    """Whether a correct implementation must reproduce EasyNetwork's bytes exactly.

    Not exact: zlib (deflate implementations choose different matches), pickle (the pickler's
    opcode choices and memo are Python's own), CBOR holding floats (cbor2 always writes
    float64, a shortest-float encoder is just as valid)."""
    kind = serializer.split(":")[0]
    if kind == "pickle":
        return False
    if kind == "cbor" and contains_float(packets_json):
        return False
    return not any(w.split(":")[0] == "zlib" for w in wrap)


def make_case(
    serializer: str,
    mode: Mode,
    label: str,
    packets: Sequence[Any],
    *,
    wrap: Sequence[str] = (),
    options: dict[str, Any] | None = None,
) -> Case:
    options = dict(options or {})
    packets_json = [to_json_packet(p) for p in packets]
    return Case(
        name=case_name(serializer, wrap, options, mode, label),
        serializer=serializer,
        wrap=tuple(wrap),
        options=options,
        mode=mode,
        packets=packets_json,
        source=list(packets),
        exact=is_exact(serializer, wrap, packets_json),
    )


def datagram_cases(
    serializer: str, samples: dict[str, Any], *, wrap: Sequence[str] = (), options: dict[str, Any] | None = None
) -> Iterator[Case]:
    for label, packet in samples.items():
        yield make_case(serializer, "datagram", label, [packet], wrap=wrap, options=options)


def both_modes(
    serializer: str,
    label: str,
    packets: Sequence[Any],
    *,
    wrap: Sequence[str] = (),
    options: dict[str, Any] | None = None,
) -> Iterator[Case]:
    """A stream case with all `packets`, and a datagram case with the first one."""
    yield make_case(serializer, "stream", label, packets, wrap=wrap, options=options)
    yield make_case(serializer, "datagram", label, packets[:1], wrap=wrap, options=options)


def json_cases() -> Iterator[Case]:
    yield from datagram_cases("json", COMMON_SAMPLES)
    yield make_case("json", "stream", "mixed", STREAM_MIXED)
    yield make_case("json", "stream", "text", [TEXT_ASCII, TEXT_LATIN, TEXT_ASTRAL, TEXT_CJK])
    yield make_case("json", "stream", "scalars", [None, True, False, 0, -1, 2**64 - 1, -(2**63), 0.1, 1e-05])
    for label in ("nested", "floats", "text-escapes", "empty-containers", "null", "empty-string"):
        yield make_case("json-raw", "datagram", label, [COMMON_SAMPLES[label]])
    # Raw mode: objects, arrays and strings go without a newline, bare literals with one.
    yield make_case("json-raw", "stream", "mixed", STREAM_MIXED)
    yield make_case(
        "json-raw",
        "stream",
        "brackets-in-strings",
        [{"a": "}", "b": "]]", "c": '"{['}, ["[", "\\", '"'], "}{", "\\", {"x": '\\"}'}],
    )
    yield make_case("json-raw", "stream", "literals", [1, -2, 0.5, 1e16, -0.0, True, False, None, TEXT_ASCII])


def line_cases() -> Iterator[Case]:
    lf_ascii = {"newline": "lf", "encoding": "ascii"}
    yield make_case(
        "line",
        "stream",
        "ascii",
        ["hello", "GET /index.html HTTP/1.0", "tab\there", " spaces ", "a\rb"],
        options=lf_ascii,
    )
    yield make_case(
        "line",
        "stream",
        "ftp",
        ["USER anonymous", "PASS guest", "lone\nlf and lone\rcr", "QUIT"],
        options={"newline": "crlf", "encoding": "ascii"},
    )
    yield make_case(
        "line", "stream", "cr", ["a", "b c", "with\nlf inside"], options={"newline": "cr", "encoding": "ascii"}
    )
    yield make_case(
        "line", "stream", "utf-8", ["héllo", TEXT_CJK, TEXT_ASTRAL], options={"newline": "lf", "encoding": "utf-8"}
    )
    yield make_case(
        "line", "stream", "latin-1", ["café", "ÿ þ ß", "\x80\x9f"], options={"newline": "crlf", "encoding": "latin-1"}
    )
    yield make_case("line", "stream", "utf-8-cr", ["Zoë", "\U0001f600"], options={"newline": "cr", "encoding": "utf-8"})
    yield make_case("line", "stream", "default-options", ["plain", "text"])
    yield make_case("line", "datagram", "ascii", ["hello world"], options=lf_ascii)
    yield make_case(
        "line", "datagram", "utf-8", ["héllo wörld \U0001f600"], options={"newline": "crlf", "encoding": "utf-8"}
    )
    yield make_case("line", "datagram", "latin-1", ["café"], options={"newline": "cr", "encoding": "latin-1"})
    yield make_case("line", "datagram", "empty", [""], options=lf_ascii)
    yield make_case("line", "datagram", "default-options", ["plain"])
    yield make_case(
        "line", "datagram", "inner-newline", ["two\nlines"], options={"newline": "crlf", "encoding": "ascii"}
    )


def msgpack_cases() -> Iterator[Case]:
    samples = dict(COMMON_SAMPLES)
    samples.update(BINARY_SAMPLES)
    samples["int-boundaries"] = MSGPACK_INTS
    yield from datagram_cases("msgpack", samples)
    yield make_case("msgpack", "stream", "mixed", STREAM_MIXED)
    yield make_case("msgpack", "stream", "binary", STREAM_BINARY)
    yield make_case("msgpack", "stream", "int-boundaries", MSGPACK_INTS)
    yield make_case("msgpack", "stream", "sized", SIZED_STRINGS + BYTES_VALUES + [WIDE_CONTAINERS])


def cbor_cases() -> Iterator[Case]:
    samples = dict(COMMON_SAMPLES)
    samples.update(BINARY_SAMPLES)
    samples["int-boundaries"] = CBOR_INTS
    yield from datagram_cases("cbor", samples)
    yield make_case("cbor", "stream", "mixed", STREAM_MIXED)
    yield make_case("cbor", "stream", "binary", STREAM_BINARY)
    yield make_case("cbor", "stream", "int-boundaries", CBOR_INTS)
    yield make_case(
        "cbor", "stream", "no-floats", [NESTED["items"], SHARED_KEYS, b"\x01\x02", "é", None, True, {}, [], -(2**63)]
    )
    yield make_case("cbor", "stream", "sized", SIZED_STRINGS + BYTES_VALUES + [WIDE_CONTAINERS])


def pickle_cases() -> Iterator[Case]:
    samples = dict(COMMON_SAMPLES)
    samples.update(BINARY_SAMPLES)
    samples["int-boundaries"] = PICKLE_INTS
    samples["tuples"] = ((), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), ("nested", (b"x",)))
    yield from datagram_cases("pickle", samples)
    # One-shot only: on a stream it needs a wrapper (see wrapper_cases).


def struct_cases() -> Iterator[Case]:
    yield from both_modes("struct:ii", "no-prefix", [(10, 20), (-1, 2**31 - 1), (-(2**31), 0)])
    yield from both_modes(
        "struct:<bBhHiIqQ",
        "little-endian-ints",
        [
            (-128, 255, -32768, 65535, -(2**31), 2**32 - 1, -(2**63), 2**64 - 1),
            (127, 0, 32767, 0, 2**31 - 1, 0, 2**63 - 1, 0),
            (0, 1, 2, 3, 4, 5, 6, 7),
        ],
    )
    yield from both_modes(
        "struct:>?cxd", "bool-char-pad-double", [(True, b"A", 0.1), (False, b"\x00", -0.0), (True, b"\xff", 1e16)]
    )
    yield from both_modes(
        "struct:!fd",
        "floats",
        [(0.5, 0.1), (-2.25, 1e300), (3.4028234663852886e38, 5e-324), (1.401298464324817e-45, -0.0)],
    )
    yield from both_modes("struct:!3h4s", "repeat-and-bytes", [(1, -2, 3, b"abcd"), (0, 0, 0, b"\x00\x00\x00\x00")])
    yield from both_modes("struct:=lLqQ", "standard-native-order", [(-1, 2**32 - 1, -(2**63), 2**64 - 1)])
    yield from both_modes("struct:!lLbB", "network-long", [(-(2**31), 2**32 - 1, -1, 255), (1, 2, 3, 4)])
    yield from both_modes("struct:>H", "single-field", [(1,), (65535,), (0,)])


def record_cases() -> Iterator[Case]:
    person = "record:name=10s,age=I"
    yield from both_modes(
        person,
        "person",
        [
            {"name": "John", "age": 20},
            {"name": "Zoë", "age": 65535},
            {"name": "", "age": 0},
            {"name": "ten chars!", "age": 2**32 - 1},
        ],
    )
    yield from both_modes(
        "record:id=Q,temp=d,ok=B,code=h,tag=4s",
        "mixed-fields",
        [
            {"id": 2**64 - 1, "temp": -0.0, "ok": 1, "code": -32768, "tag": "abcd"},
            {"id": 0, "temp": 21.5, "ok": 0, "code": 7, "tag": "é"},
        ],
    )
    yield from both_modes(
        "record:name=8s,age=B", "latin-1", [{"name": "café", "age": 7}], options={"encoding": "latin-1"}
    )


# Serializers (and sample packets) under each wrapper combination.
JSON_WRAPPED = [{"question": "why?>>", "answer": 42}, TEXT_ASTRAL, FLOATS, None]
MSGPACK_WRAPPED = [BYTES_IN_MAP, 2**64 - 1, "é", [b"\xfb\xff"]]
PICKLE_WRAPPED = [{"data": 42}, BYTES_IN_MAP, (1, "two", 3.0), PICKLE_INTS, TEXT_CJK]
CBOR_WRAPPED = [SHARED_KEYS, b"\xfb\xff\xfe", -(2**63), "??>>"]
CBOR_WRAPPED_FLOATS = [FLOATS, {"f": -0.0}]
LINE_WRAPPED = ["héllo", "a\r\nb", "?>?>"]
STRUCT_WRAPPED = [(1, b"\xfb\xff"), (-1, b"??")]
RECORD_WRAPPED = [{"name": "John", "age": 20}, {"name": "Zoë", "age": 1}]

WRAPPED_SERIALIZERS: dict[str, tuple[str, dict[str, Any], list[Any]]] = {
    "json": ("json", {}, JSON_WRAPPED),
    "json-raw": ("json-raw", {}, JSON_WRAPPED),
    "msgpack": ("msgpack", {}, MSGPACK_WRAPPED),
    "pickle": ("pickle", {}, PICKLE_WRAPPED),
    "cbor": ("cbor", {}, CBOR_WRAPPED),
    "cbor-floats": ("cbor", {}, CBOR_WRAPPED_FLOATS),
    "line": ("line", {"newline": "crlf", "encoding": "utf-8"}, LINE_WRAPPED),
    "struct": ("struct:!h2s", {}, STRUCT_WRAPPED),
    "record": ("record:name=10s,age=I", {}, RECORD_WRAPPED),
}

WRAPPER_COMBINATIONS: list[tuple[tuple[str, ...], list[str]]] = [
    (("base64",), ["json", "msgpack", "pickle", "line", "struct", "record", "cbor"]),
    (("base64:standard",), ["pickle", "json", "msgpack"]),
    (("base64:urlsafe",), ["pickle"]),
    (("base64:checksum",), ["json", "msgpack", "pickle"]),
    ((f"base64:key={KEY}",), ["pickle", "json", "line"]),
    (("base64:standard:checksum",), ["cbor", "json"]),
    ((f"base64:standard:key={KEY}",), ["msgpack"]),
    (("zlib",), ["json", "json-raw", "msgpack", "cbor", "cbor-floats", "pickle", "line", "struct", "record"]),
    (("bz2",), ["json", "msgpack", "pickle", "line", "cbor", "record"]),
    (("zlib", "base64"), ["json", "pickle", "msgpack"]),
    (("bz2", "base64:standard:checksum"), ["msgpack", "json", "pickle"]),
    (("base64", "zlib"), ["json", "pickle"]),
    (("bz2", "zlib"), ["cbor"]),
    (("zlib", f"base64:key={KEY}"), ["record"]),
]


def wrapper_cases() -> Iterator[Case]:
    for wrap, names in WRAPPER_COMBINATIONS:
        for name in names:
            serializer, options, packets = WRAPPED_SERIALIZERS[name]
            label = "floats" if name == "cbor-floats" else "several"
            yield from both_modes(serializer, label, packets, wrap=wrap, options=options)


def all_cases() -> list[Case]:
    groups: Iterable[Iterator[Case]] = (
        json_cases(),
        line_cases(),
        msgpack_cases(),
        cbor_cases(),
        pickle_cases(),
        struct_cases(),
        record_cases(),
        wrapper_cases(),
    )
    return [case for group in groups for case in group]


# --------------------------------------------------------------------------------------------
# Invalid input


def _invalid(
    serializer: str,
    mode: Mode,
    label: str,
    data: bytes,
    note: str,
    *,
    wrap: Sequence[str] = (),
    options: dict[str, Any] | None = None,
) -> InvalidCase:
    options = dict(options or {})
    return InvalidCase(
        name=case_name(serializer, wrap, options, mode, "invalid-" + label),
        serializer=serializer,
        wrap=tuple(wrap),
        options=options,
        mode=mode,
        invalid_hex=data.hex(),
        note=note,
    )


def _python(serializer: str, packet: Any, *, wrap: Sequence[str] = (), options: dict[str, Any] | None = None) -> bytes:
    """EasyNetwork's one-shot bytes for `packet` (used to build invalid input)."""
    s = build_for_mode(serializer, wrap, options or {}, "datagram")
    return s.serialize(from_json_packet(to_json_packet(packet), serializer))


def _frame(serializer: str, packet: Any, *, wrap: Sequence[str] = (), options: dict[str, Any] | None = None) -> bytes:
    """EasyNetwork's stream bytes for `packet`."""
    s = build_for_mode(serializer, wrap, options or {}, "stream")
    return encode(s, "stream", [from_json_packet(to_json_packet(packet), serializer)])


def invalid_cases() -> list[InvalidCase]:
    good_json = {"ok": True}
    zlib_corrupt = bytearray(_python("json", good_json, wrap=["zlib"]))
    zlib_corrupt[2] = 0x07  # first deflate block header: final block of reserved type 3
    bz2_corrupt = bytearray(_python("json", good_json, wrap=["bz2"]))
    bz2_corrupt[4:10] = b"\x00" * 6  # block magic overwritten
    signed_other = _frame("json", good_json, wrap=[f"base64:key={OTHER_KEY}"])
    checksum_token = bytearray(_frame("json", {"ok": False}, wrap=["base64:checksum"]))
    checksum_token[3] = ord("A") if checksum_token[3] != ord("A") else ord("B")
    msgpack_ok = _python("msgpack", [1, 2])
    cbor_ok = _python("cbor", [1, 2]) + _python("cbor", "x")
    person = "record:name=10s,age=I"
    return [
        # Streams: the whole input is one chunk.
        _invalid(
            "line",
            "stream",
            "ascii-byte",
            "é\nvalid\n".encode("latin-1"),
            "0xE9 is not ASCII; the line after it still parses",
            options={"newline": "lf", "encoding": "ascii"},
        ),
        _invalid(
            "line",
            "stream",
            "limit-overrun",
            b"0123456789abcdef\nrest\n",
            "a 16-byte line over an 8-byte limit is skipped up to its separator",
            options={"newline": "lf", "encoding": "ascii", "limit": 8},
        ),
        _invalid(
            "line",
            "stream",
            "utf-8-crlf",
            b"ok\xff\r\nnext\r\n",
            "invalid UTF-8 line, then a good one",
            options={"newline": "crlf", "encoding": "utf-8"},
        ),
        _invalid("json", "stream", "bad-line", b'{"a":1,}\n{"b":2}\n', "trailing comma: the next line still parses"),
        _invalid("json-raw", "stream", "bad-object", b"{bad}[1,2]", "bracket scanning finds the end of the bad object"),
        _invalid(
            "json-raw",
            "stream",
            "literal-extra-data",
            b"42 7\nnull\n",
            "a bare literal ends at the first non-printable byte: '42 7' is one bad document",
        ),
        _invalid(
            "msgpack",
            "stream",
            "reserved-byte",
            b"\xc1" + msgpack_ok,
            "0xC1 is never used; EasyNetwork's remainder is empty, the rest of the chunk is lost",
        ),
        _invalid(
            "cbor",
            "stream",
            "reserved-subtype",
            b"\x1c" + cbor_ok,
            "additional info 28 is reserved; cbor2 stops right after it, so the following items parse",
        ),
        _invalid(
            "json",
            "stream",
            "bad-token",
            b"abc\r\n" + _frame("json", good_json, wrap=["base64"]),
            "base64 with missing padding is an invalid token",
            wrap=["base64"],
        ),
        _invalid(
            "json",
            "stream",
            "checksum-mismatch",
            bytes(checksum_token) + _frame("json", good_json, wrap=["base64:checksum"]),
            "one base64 character changed: SHA-256 mismatch",
            wrap=["base64:checksum"],
        ),
        _invalid(
            "json",
            "stream",
            "wrong-key",
            signed_other + _frame("json", good_json, wrap=[f"base64:key={KEY}"]),
            "signed with another key",
            wrap=[f"base64:key={KEY}"],
        ),
        _invalid(
            "pickle",
            "stream",
            "bad-pickle",
            _frame("line", "not a pickle", wrap=["base64"]) + _frame("pickle", good_json, wrap=["base64"]),
            "valid base64 of bytes that are no pickle",
            wrap=["base64"],
        ),
        _invalid(
            "json",
            "stream",
            "corrupt-stream",
            bytes(zlib_corrupt) + _python("json", good_json, wrap=["zlib"]),
            "reserved deflate block type: zlib error; EasyNetwork's remainder is empty,"
            " so the next packet in the chunk is lost too",
            wrap=["zlib"],
        ),
        _invalid(
            "json",
            "stream",
            "bad-payload",
            _python("line", "not json", wrap=["zlib"]) + _python("json", good_json, wrap=["zlib"]),
            "valid zlib stream of invalid JSON: the unused data after it is kept",
            wrap=["zlib"],
        ),
        _invalid(
            "json",
            "stream",
            "corrupt-stream",
            bytes(bz2_corrupt) + _python("json", good_json, wrap=["bz2"]),
            "bz2 block magic overwritten: remainder empty",
            wrap=["bz2"],
        ),
        _invalid(
            person,
            "stream",
            "bad-utf-8",
            b"\xff" * 10 + b"\x00\x00\x00\x01" + _frame(person, {"name": "ok", "age": 2}),
            "a string field that is not UTF-8: the next fixed-size record parses",
        ),
        # Datagrams: one error, nothing after.
        _invalid("json", "datagram", "extra-data", b"[1] x", "trailing garbage"),
        _invalid("json", "datagram", "truncated", b'{"a":', "incomplete document"),
        _invalid("json", "datagram", "bad-utf-8", b'"\xff"', "not UTF-8"),
        _invalid(
            "line",
            "datagram",
            "not-ascii",
            b"caf\xe9",
            "0xE9 is not ASCII",
            options={"newline": "lf", "encoding": "ascii"},
        ),
        _invalid("msgpack", "datagram", "extra-data", msgpack_ok + b"\x01", "Extra data caught"),
        _invalid("msgpack", "datagram", "truncated", msgpack_ok[:-1], "Missing data to create packet"),
        _invalid("cbor", "datagram", "extra-data", _python("cbor", 1) + b"\x01", "Extra data caught"),
        _invalid("cbor", "datagram", "truncated", _python("cbor", "hello")[:-1], "Missing data to create packet"),
        _invalid("pickle", "datagram", "truncated", _python("pickle", [1, 2, 3])[:-1], "no STOP opcode"),
        _invalid("pickle", "datagram", "extra-data", _python("pickle", 1) + b".", "Extra data caught"),
        _invalid("struct:!ii", "datagram", "wrong-size", b"\x00" * 7, "7 bytes for an 8-byte struct"),
        _invalid(person, "datagram", "bad-utf-8", b"\xff" * 10 + b"\x00\x00\x00\x01", "string field not UTF-8"),
        _invalid(
            "json",
            "datagram",
            "truncated",
            _python("json", good_json, wrap=["zlib"])[:-1],
            "compressed data ended before the end-of-stream marker",
            wrap=["zlib"],
        ),
        _invalid(
            "json",
            "datagram",
            "trailing-data",
            _python("json", good_json, wrap=["zlib"]) + b"\x00",
            "trailing data after the end of the zlib stream",
            wrap=["zlib"],
        ),
        _invalid(
            "json",
            "datagram",
            "truncated",
            _python("json", good_json, wrap=["bz2"])[:-1],
            "compressed data ended before the end-of-stream marker",
            wrap=["bz2"],
        ),
        _invalid(
            "json",
            "datagram",
            "checksum-mismatch",
            _python("json", good_json, wrap=["base64:checksum"])[:-4] + b"AAA=",
            "digest changed",
            wrap=["base64:checksum"],
        ),
        _invalid("json", "datagram", "bad-token", b"abc", "missing padding", wrap=["base64"]),
    ]


# --------------------------------------------------------------------------------------------
# Generation and self-check


class GenerationError(RuntimeError):
    pass


def fill_case(case: Case) -> None:
    serializer = build_for_mode(case.serializer, case.wrap, case.options, case.mode)
    if case.serializer.startswith(("struct:", "record:")):
        packets = [from_json_packet(p, case.serializer) for p in case.packets]
    else:
        packets = case.source
    data = encode(serializer, case.mode, packets)
    if not data and case.mode == "stream":
        raise GenerationError(f"{case.name}: EasyNetwork sends no bytes for these packets")
    case.bytes_hex = data.hex()
    # `packets` must be exactly what EasyNetwork reads back, whole and byte by byte.
    for chunk_size in (None, 1) if case.mode == "stream" else (None,):
        problem = check_decoded(serializer, case.mode, data, case.packets, chunk_size=chunk_size)
        if problem is not None:
            how = "byte by byte" if chunk_size == 1 else "in one chunk"
            raise GenerationError(f"{case.name}: EasyNetwork does not read its own bytes back {how}: {problem}")


def fill_invalid(case: InvalidCase) -> None:
    serializer = build_for_mode(case.serializer, case.wrap, case.options, case.mode)
    data = bytes.fromhex(case.invalid_hex)
    if case.mode == "datagram":
        try:
            packet = serializer.deserialize(data)
        except Exception as exc:
            if type(exc).__name__ != "DeserializeError":
                raise GenerationError(
                    f"{case.name}: expected DeserializeError, got {type(exc).__name__}: {exc}"
                ) from exc
            case.note += f" [EasyNetwork: {exc}]"
            return
        raise GenerationError(f"{case.name}: EasyNetwork decoded {short(packet)} instead of failing")
    assert isinstance(serializer, AbstractIncrementalPacketSerializer)
    result = decode_stream(serializer, data)
    events = result.events
    if not events or events[0].error is None or any(e.error is not None for e in events[1:]):
        raise GenerationError(f"{case.name}: expected one parse error then packets, got {events}")
    if result.leftover:
        raise GenerationError(f"{case.name}: {len(result.leftover)} byte(s) left after the packets")
    case.packets_after = [to_json_packet(e.packet) for e in events[1:]]
    case.note += f" [EasyNetwork: {events[0].error}]"


# --------------------------------------------------------------------------------------------
# Output


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(", ", ": "))


def _render_object(fields: list[tuple[str, Any]], indent: str) -> str:
    inner = indent + "  "
    lines = [f"{inner}{json.dumps(key)}: {_compact(value)}" for key, value in fields]
    return indent + "{\n" + ",\n".join(lines) + "\n" + indent + "}"


def render(cases: list[Case], invalid: list[InvalidCase], header: dict[str, Any]) -> str:
    case_objects = [
        _render_object(
            [
                ("name", c.name),
                ("serializer", c.serializer),
                ("wrap", list(c.wrap)),
                ("options", c.options),
                ("mode", c.mode),
                ("exact", c.exact),
                ("packets", c.packets),
                ("bytes_hex", c.bytes_hex),
            ],
            "    ",
        )
        for c in cases
    ]
    invalid_objects = [
        _render_object(
            [
                ("name", c.name),
                ("serializer", c.serializer),
                ("wrap", list(c.wrap)),
                ("options", c.options),
                ("mode", c.mode),
                ("invalid_hex", c.invalid_hex),
                ("expect", c.expect),
                ("packets_after", c.packets_after),
                ("note", c.note),
            ],
            "    ",
        )
        for c in invalid
    ]
    return (
        "{\n"
        f'  "generator": {_compact(header)},\n'
        '  "cases": [\n' + ",\n".join(case_objects) + "\n  ],\n"
        '  "invalid_cases": [\n' + ",\n".join(invalid_objects) + "\n  ]\n"
        "}\n"
    )


def header() -> dict[str, Any]:
    return {
        "made_by": "scripts/golden/generate.py",
        "easynetwork": importlib.metadata.version("easynetwork"),
        "python": platform.python_version(),
        "cbor2": importlib.metadata.version("cbor2"),
        "msgpack": importlib.metadata.version("msgpack"),
        "pickle_protocol": pickle.DEFAULT_PROTOCOL,
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "bytes": 'byte strings in packets are {"$bytes": "<lowercase hex>"}',
    }


def main(argv: list[str]) -> int:
    if len(argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    output = Path(argv[1]) if len(argv) == 2 else DEFAULT_OUTPUT

    cases = sorted(all_cases(), key=lambda c: c.name)
    invalid = sorted(invalid_cases(), key=lambda c: c.name)
    names = [c.name for c in cases] + [c.name for c in invalid]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise GenerationError(f"duplicate case names: {duplicates}")

    for case in cases:
        fill_case(case)
    for invalid_case in invalid:
        fill_invalid(invalid_case)

    output.parent.mkdir(parents=True, exist_ok=True)
    text = render(cases, invalid, header())
    json.loads(text)  # well-formed
    output.write_text(text, encoding="ascii")
    exact = sum(c.exact for c in cases)
    print(f"wrote {output}: {len(cases)} cases ({exact} exact), {len(invalid)} invalid-input cases")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
