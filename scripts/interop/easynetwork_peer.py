"""Python EasyNetwork as a peer of packetwire: its servers for packetwire's clients, its clients for
packetwire's servers.

    easynetwork_peer.py server ADDR -s SERIALIZER [-w WRAP,...] [--echo] [--uvloop]
        Serves ADDR with EasyNetwork's async server for that transport. Prints one line
        ``ready ADDR`` on stdout (the real port when ADDR asked for port 0) once it accepts, then
        answers every packet until SIGTERM, SIGINT or the end of standard input. The answer shows
        that Python decoded the packet: a JSON object comes back with ``"served_by": "easynetwork"``
        added, a string with ``easynetwork: `` in front, anything else unchanged. With ``--echo``
        every packet comes back unchanged (the benchmarks' echo server); ``--uvloop`` runs the
        server on uvloop instead of asyncio's own event loop.

    easynetwork_peer.py client ADDR -s SERIALIZER [-w WRAP,...] [--timeout SECS] PACKET...
        Connects to ADDR with EasyNetwork's blocking client, sends each PACKET (a JSON value;
        ``{"$bytes": "hex"}`` is a byte string), waits for one reply each, and prints each reply as
        one compact JSON line. Exits 1 with a message on stderr on any error.

ADDR is ``tcp://HOST:PORT``, ``udp://HOST:PORT``, ``unix:PATH`` or ``unix-dgram:PATH`` (the forms
``packetwire send`` and ``packetwire serve`` take). SERIALIZER and WRAP are the names of
``packetwire``'s codec specs (json, msgpack, cbor, pickle, line, ...; base64, zlib, bz2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "golden"))

from easynetwork.clients import TCPNetworkClient, UDPNetworkClient  # noqa: E402
from easynetwork.clients.unix_datagram import UnixDatagramClient  # noqa: E402
from easynetwork.clients.unix_stream import UnixStreamClient  # noqa: E402
from easynetwork.protocol import DatagramProtocol, StreamProtocol  # noqa: E402
from easynetwork.servers import AsyncTCPNetworkServer, AsyncUDPNetworkServer  # noqa: E402
from easynetwork.servers.async_unix_datagram import AsyncUnixDatagramServer  # noqa: E402
from easynetwork.servers.async_unix_stream import AsyncUnixStreamServer  # noqa: E402
from easynetwork.servers.handlers import (  # noqa: E402
    AsyncDatagramRequestHandler,
    AsyncStreamRequestHandler,
)
from golden_common import build_serializer, from_json_packet, to_json_packet  # noqa: E402


def parse_address(text: str) -> tuple[str, Any]:
    """(transport, address) of an ADDR."""
    for scheme in ("tcp://", "udp://"):
        if text.startswith(scheme):
            host, _, port = text[len(scheme) :].rpartition(":")
            return scheme[:3], (host.strip("[]"), int(port))
    if text.startswith("unix-dgram:"):
        return "unix-dgram", text[len("unix-dgram:") :]
    if text.startswith("unix:"):
        return "unix", text[len("unix:") :]
    raise SystemExit(f"easynetwork_peer: unsupported address {text!r}")


def answer(packet: Any) -> Any:
    if isinstance(packet, dict):
        return {**packet, "served_by": "easynetwork"}
    if isinstance(packet, str):
        return "easynetwork: " + packet
    return packet


class StreamEcho(AsyncStreamRequestHandler[Any, Any]):
    def __init__(self, transform: Any) -> None:
        self.transform = transform

    async def handle(self, client):  # type: ignore[no-untyped-def]
        request = yield
        await client.send_packet(self.transform(request))


class DatagramEcho(AsyncDatagramRequestHandler[Any, Any]):
    def __init__(self, transform: Any) -> None:
        self.transform = transform

    async def handle(self, client):  # type: ignore[no-untyped-def]
        request = yield
        await client.send_packet(self.transform(request))


def protocol_for(transport: str, serializer: str, wrap: list[str]) -> Any:
    built = build_serializer(serializer, wrap, {})
    if transport in ("tcp", "unix"):
        return StreamProtocol(built)
    return DatagramProtocol(built)


def format_address(transport: str, address: Any) -> str:
    if transport in ("tcp", "udp"):
        host, port = address[0], address[1]
        return f"{transport}://{host}:{port}"
    return f"{transport}:{address}"


async def serve(args: argparse.Namespace) -> int:
    transport, address = parse_address(args.address)
    protocol = protocol_for(transport, args.serializer, args.wrap)
    transform = (lambda packet: packet) if args.echo else answer
    server: Any
    match transport:
        case "tcp":
            server = AsyncTCPNetworkServer(address[0], address[1], protocol, StreamEcho(transform))
        case "udp":
            server = AsyncUDPNetworkServer(address[0], address[1], protocol, DatagramEcho(transform))
        case "unix":
            server = AsyncUnixStreamServer(address, protocol, StreamEcho(transform))
        case _:
            # Log unnamed senders instead of ignoring them silently: they cannot get a reply.
            server = AsyncUnixDatagramServer(
                address, protocol, DatagramEcho(transform), unnamed_addresses_behavior="warn"
            )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not os.read(sys.stdin.fileno(), 4096) else None)
    async with server:
        is_up = asyncio.Event()
        serving = asyncio.create_task(server.serve_forever(is_up_event=is_up))
        await is_up.wait()
        if transport in ("tcp", "udp"):
            bound = server.get_addresses()[0]
            shown = format_address(transport, (address[0], bound.port))
        else:
            shown = format_address(transport, address)
        print(f"ready {shown}", flush=True)
        await stop.wait()
        await server.shutdown()
        serving.cancel()
    return 0


def run_client(args: argparse.Namespace) -> int:
    transport, address = parse_address(args.address)
    protocol = protocol_for(transport, args.serializer, args.wrap)
    packets = [from_json_packet(json.loads(text), args.serializer) for text in args.packets]
    local_dir = None
    client: Any
    match transport:
        case "tcp":
            client = TCPNetworkClient(address, protocol, connect_timeout=args.timeout)
        case "udp":
            client = UDPNetworkClient(address, protocol)
        case "unix":
            client = UnixStreamClient(address, protocol, connect_timeout=args.timeout)
        case _:
            # A named local socket, so that the server's replies can come back.
            local_dir = tempfile.TemporaryDirectory(prefix="en-client-")
            client = UnixDatagramClient(address, protocol, local_path=os.path.join(local_dir.name, "client.sock"))
    try:
        with client:
            for packet in packets:
                client.send_packet(packet)
                reply = client.recv_packet(timeout=args.timeout)
                print(json.dumps(to_json_packet(reply), separators=(",", ":"), ensure_ascii=False), flush=True)
    except Exception as exc:  # noqa: BLE001 - report any failure in one line
        print(f"easynetwork_peer: {transport} client: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if local_dir is not None:
            local_dir.cleanup()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("server", "client"):
        p = sub.add_parser(mode)
        p.add_argument("address")
        p.add_argument("-s", "--serializer", required=True)
        p.add_argument("-w", "--wrap", default="", type=lambda s: [w for w in s.split(",") if w])
        if mode == "server":
            p.add_argument("--echo", action="store_true")
            p.add_argument("--uvloop", action="store_true")
        if mode == "client":
            p.add_argument("--timeout", type=float, default=10.0)
            p.add_argument("packets", nargs="+")
    args = parser.parse_args(argv)
    if args.mode == "server":
        if args.uvloop:
            import uvloop

            return uvloop.run(serve(args))
        return asyncio.run(serve(args))
    return run_client(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
