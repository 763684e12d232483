"""Bad input on one connection must not disturb anyone else.

A kazoo client keeps a watch and works while other sockets send garbage,
oversized frames, truncated frames and random bytes after a valid handshake.
Against zkwire we also check the server's log: one line per dropped connection,
naming the peer, and no traceback.
"""
from __future__ import annotations

import os
import random
import socket
import struct
import threading

import pytest

from servers import target_kind

CONNECT = struct.pack(">iqiqi", 0, 0, 10000, 0, 16) + b"\0" * 16


def _raw(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return s


def _closed_by_server(s, timeout=5.0) -> bool:
    s.settimeout(timeout)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def _handshake(s):
    s.sendall(struct.pack(">i", len(CONNECT)) + CONNECT)
    hdr = b""
    while len(hdr) < 4:
        hdr += s.recv(4 - len(hdr))
    (n,) = struct.unpack(">i", hdr)
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    return body


BAD_STREAMS = {
    "oversized frame length": lambda: struct.pack(">i", 0x7FFFFFF0) + b"x" * 100,
    "negative frame length": lambda: struct.pack(">i", -5),
    "zero frame length": lambda: struct.pack(">i", 0),
    "garbage bytes": lambda: bytes(random.Random(1).getrandbits(8) for _ in range(4096)),
}


@pytest.mark.parametrize("what", sorted(BAD_STREAMS))
def test_bad_stream_before_handshake_closes_only_that_connection(server, zk, what):
    zk.create("/calm", b"0")
    seen = threading.Event()
    zk.get("/calm", watch=lambda e: seen.set())
    s = _raw(server)
    try:
        s.sendall(BAD_STREAMS[what]())
        assert _closed_by_server(s)
    finally:
        s.close()
    zk.set("/calm", b"1")
    assert seen.wait(10)
    assert zk.get("/calm")[0] == b"1"


@pytest.mark.parametrize("what", ["oversized frame length", "garbage bytes", "negative frame length"])
def test_bad_stream_after_handshake_closes_only_that_connection(server, zk, what):
    zk.create("/calm2", b"0")
    s = _raw(server)
    try:
        resp = _handshake(s)
        assert len(resp) in (36, 37)
        s.sendall(BAD_STREAMS[what]())
        assert _closed_by_server(s)
    finally:
        s.close()
    zk.set("/calm2", b"1")
    assert zk.get("/calm2")[0] == b"1"


def test_flood_of_random_connections(server, zk):
    """Many connections spraying random bytes while a client keeps writing."""
    rng = random.Random(42)
    zk.create("/flood", b"")
    stop = threading.Event()
    errors = []

    def spray(seed):
        r = random.Random(seed)
        for _ in range(20):
            if stop.is_set():
                return
            try:
                s = _raw(server)
                if r.random() < 0.5:
                    _handshake(s)
                s.sendall(bytes(r.getrandbits(8) for _ in range(r.randint(1, 3000))))
                s.settimeout(2)
                try:
                    while s.recv(65536):
                        pass
                except OSError:
                    pass
                s.close()
            except OSError as e:  # the server may close on us mid-send
                errors.append(e)

    threads = [threading.Thread(target=spray, args=(rng.random(),)) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(100):
            zk.set("/flood", str(i).encode())
            assert zk.get("/flood")[0] == str(i).encode()
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert zk.get("/flood")[0] == b"99"
    assert "Mode:" in server.four_letter("srvr")


@pytest.mark.skipif(target_kind() != "zkwire", reason="inspects zkwire's own log")
def test_bad_input_logs_one_line_and_no_traceback(server, zk):
    s = _raw(server)
    s.sendall(struct.pack(">i", 0x7FFFFFF0))
    assert _closed_by_server(s)
    s.close()
    zk.exists("/")  # a round trip, so the log line has been written
    log = open(os.path.join(server.workdir, "server.log"), encoding="utf-8", errors="replace").read()
    assert "Traceback" not in log
    assert "jute.maxbuffer" in log
