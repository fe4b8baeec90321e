#!/usr/bin/env python3
"""Decodes bytes produced by packetwire (Rust) with Python's EasyNetwork.

Usage: verify_rust_output.py FILE

FILE is the JSON written by the golden test (``crates/packetwire-proto/tests/golden.rs``): a list
of ``{"name", "serializer", "wrap", "options", "mode", "packets", "bytes_hex"}`` entries (or an
object with such a list under ``"cases"``). Each entry is decoded with the EasyNetwork serializer
of the same name: a stream by feeding the whole buffer to fresh incremental deserializers until it
is used up, a datagram with ``deserialize``. The packets must equal ``packets`` (tuples and lists
are the same, byte strings are ``{"$bytes": hex}``, named tuples are objects; ``1``, ``1.0`` and
``true`` differ, floats compare bit for bit).

Prints one line per case and a last line ``N passed, M failed``; exits 1 if any case failed or
the file holds no case.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from golden_common import SpecError, build_for_mode, check_decoded

REQUIRED_FIELDS = ("name", "serializer", "wrap", "options", "mode", "packets", "bytes_hex")


def check_entry(entry: Any) -> str | None:
    """What is wrong with one entry, or None if EasyNetwork decodes it to its packets."""
    if not isinstance(entry, dict):
        return f"not a JSON object: {entry!r}"
    missing = [key for key in REQUIRED_FIELDS if key not in entry]
    if missing:
        return f"missing field(s) {missing}"
    serializer, wrap, options, mode = entry["serializer"], entry["wrap"], entry["options"], entry["mode"]
    if not isinstance(serializer, str) or not isinstance(wrap, list) or not all(isinstance(w, str) for w in wrap):
        return "serializer must be a string and wrap a list of strings"
    if not isinstance(options, dict) or mode not in ("stream", "datagram") or not isinstance(entry["packets"], list):
        return "options must be an object, mode 'stream' or 'datagram', packets a list"
    try:
        data = bytes.fromhex(entry["bytes_hex"])
    except (TypeError, ValueError) as exc:
        return f"bytes_hex is not hexadecimal: {exc}"
    try:
        easynetwork_serializer = build_for_mode(serializer, wrap, options, mode)
    except (SpecError, ValueError, TypeError, KeyError) as exc:
        return f"cannot build the EasyNetwork serializer: {type(exc).__name__}: {exc}"
    return check_decoded(easynetwork_serializer, mode, data, entry["packets"])


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1])
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2
    entries = document.get("cases") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        print(f"{path}: expected a list of cases", file=sys.stderr)
        return 2

    passed = failed = 0
    for index, entry in enumerate(entries):
        name = entry.get("name", f"#{index}") if isinstance(entry, dict) else f"#{index}"
        try:
            problem = check_entry(entry)
        except Exception as exc:  # a crash in EasyNetwork on Rust's bytes is a failure too
            problem = f"EasyNetwork crashed: {type(exc).__name__}: {exc}"
        if problem is None:
            passed += 1
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}: {problem}")
    print(f"{passed} passed, {failed} failed")
    if not entries:
        print(f"{path} holds no case", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
