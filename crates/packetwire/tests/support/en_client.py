"""EasyNetwork's own clients against a packetwire echo server (JSON packets).

Usage: en_client.py tcp PORT | udp PORT | unix-stream PATH | unix-datagram PATH
Prints "ok" and exits 0 when every packet came back equal.
"""

import sys

from easynetwork.protocol import DatagramProtocol, StreamProtocol
from easynetwork.serializers import JSONSerializer

PACKETS = [{"hello": "world"}, [1, 2.5, None, True], "text with \u00e9", 12345678901234]


def check(got, expected):
    if got != expected:
        sys.exit(f"expected {expected!r}, got {got!r}")


def main():
    kind, where = sys.argv[1], sys.argv[2]
    if kind == "tcp":
        from easynetwork.clients import TCPNetworkClient

        client = TCPNetworkClient(("127.0.0.1", int(where)), StreamProtocol(JSONSerializer()))
    elif kind == "udp":
        from easynetwork.clients import UDPNetworkClient

        client = UDPNetworkClient(("127.0.0.1", int(where)), DatagramProtocol(JSONSerializer()))
    elif kind == "unix-stream":
        from easynetwork.clients.unix_stream import UnixStreamClient

        client = UnixStreamClient(where, StreamProtocol(JSONSerializer()))
    elif kind == "unix-datagram":
        from easynetwork.clients.unix_datagram import UnixDatagramClient

        client = UnixDatagramClient(where, DatagramProtocol(JSONSerializer()))
    else:
        sys.exit(f"unknown transport {kind}")
    with client:
        # One at a time.
        for packet in PACKETS:
            client.send_packet(packet)
            check(client.recv_packet(timeout=10), packet)
        # Pipelined.
        for packet in PACKETS:
            client.send_packet(packet)
        for packet in PACKETS:
            check(client.recv_packet(timeout=10), packet)
    print(f"ok: {kind}, {2 * len(PACKETS)} packets echoed")


main()
