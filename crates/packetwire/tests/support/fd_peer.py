"""Python peer for packetwire's Unix ancillary-data interop tests (stdlib only).

Usage: python3 fd_peer.py MODE SOCKET_PATH

Modes:
  stream-send   connect, send a pipe's write end with b"from python" (socket.send_fds),
                then read the pipe until EOF and expect b"written by rust"
  stream-recv   connect, receive one fd with socket.recv_fds, expect b"from rust",
                write b"written by python" through the fd
  dgram-send    like stream-send over a SOCK_DGRAM socket connected to SOCKET_PATH
  creds-send    connect, send b"creds" with an SCM_CREDENTIALS message (own pid/uid/gid)
  creds-recv    connect, enable SO_PASSCRED, receive b"creds" and expect the parent's pid and
                our uid/gid in SCM_CREDENTIALS

Exits 0 on success; prints what went wrong and exits 1 otherwise.
"""

import os
import socket
import struct
import sys

TIMEOUT = 10.0


def fail(message):
    print(f"fd_peer: {message}", file=sys.stderr)
    sys.exit(1)


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def stream_socket(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    sock.connect(path)
    return sock


def send_pipe(sock):
    read_end, write_end = os.pipe()
    socket.send_fds(sock, [b"from python"], [write_end])
    os.close(write_end)
    received = read_all(read_end)
    os.close(read_end)
    if received != b"written by rust":
        fail(f"read {received!r} from the pipe")


def main():
    if len(sys.argv) != 3:
        fail("usage: fd_peer.py MODE SOCKET_PATH")
    mode, path = sys.argv[1], sys.argv[2]

    if mode == "stream-send":
        with stream_socket(path) as sock:
            send_pipe(sock)
    elif mode == "dgram-send":
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(TIMEOUT)
            # Connected: Python 3.11's send_fds ignores its address argument.
            sock.connect(path)
            send_pipe(sock)
    elif mode == "stream-recv":
        with stream_socket(path) as sock:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 1024, 4)
            if msg != b"from rust" or len(fds) != 1:
                fail(f"received {msg!r} with {len(fds)} fds")
            os.write(fds[0], b"written by python")
            os.close(fds[0])
    elif mode == "creds-send":
        with stream_socket(path) as sock:
            creds = struct.pack("iII", os.getpid(), os.getuid(), os.getgid())
            sock.sendmsg([b"creds"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)])
            # Wait for the other side to be done before closing.
            sock.recv(1)
    elif mode == "creds-recv":
        with stream_socket(path) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            sock.sendall(b"r")  # ready: SO_PASSCRED is set
            size = struct.calcsize("iII")
            msg, ancdata, _flags, _addr = sock.recvmsg(64, socket.CMSG_SPACE(size))
            if msg != b"creds":
                fail(f"received {msg!r}")
            found = [
                struct.unpack("iII", data[:size])
                for level, kind, data in ancdata
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS
            ]
            expected = (os.getppid(), os.getuid(), os.getgid())
            if found != [expected]:
                fail(f"credentials {found!r}, expected {expected!r}")
    else:
        fail(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
