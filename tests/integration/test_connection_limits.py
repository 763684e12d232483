"""Connections that never send a ConnectRequest, against both servers.

Apache ZooKeeper closes a connection that has not completed its handshake
after ``zookeeper.nio.sessionlessCnxnTimeout`` (default 10 s), so idle sockets
from one address cannot lock that address out for good under
``maxClientCnxns``.  These tests run against zkwire and, with
ZKWIRE_TEST_TARGET=zookeeper, against Apache ZooKeeper (tests/run.sh does both).
The timeout is set to 3 s so the tests are short; only lower bounds on time
are asserted (load can only make the close later).
"""
from __future__ import annotations

import socket
import struct
import time

import pytest

from tests.servers import ServerProcess, target_kind, wait_until

TIMEOUT_MS = 3000
WAIT_S = 20.0


@pytest.fixture(scope="module")
def srv():
    s = ServerProcess(target_kind(), cfg={"maxClientCnxns": "3"},
                      sysprops={"zookeeper.nio.sessionlessCnxnTimeout": str(TIMEOUT_MS)})
    s.start()
    yield s
    s.cleanup()


# The idle connections come from 127.0.0.2, so that the four-letter words the
# tests ask from 127.0.0.1 do not count against their address's limit.
IDLE_HOST = "127.0.0.2"


def idle_socket(srv):
    return socket.create_connection(("127.0.0.1", srv.port), timeout=WAIT_S,
                                    source_address=(IDLE_HOST, 0))


def accepted_from_idle_host(srv) -> int:
    """Connections from IDLE_HOST the server has accepted (``cons`` lists
    connections before their handshake, on both servers)."""
    return srv.four_letter("cons").count(" /%s:" % IDLE_HOST)


def closed_after(sock) -> float:
    """Seconds until the peer closes ``sock``; fails if it sends any byte."""
    t0 = time.monotonic()
    sock.settimeout(WAIT_S)
    try:
        data = sock.recv(1)
    except ConnectionResetError:
        data = b""
    assert data == b"", "the server sent %r before closing" % data
    return time.monotonic() - t0


def handshake_ok(srv) -> bool:
    """A full ConnectRequest from IDLE_HOST gets a ConnectResponse with a session id."""
    try:
        return _handshake(srv)
    except ConnectionError:          # refused, reset: no session
        return False


def _handshake(srv) -> bool:
    with idle_socket(srv) as s:
        body = struct.pack(">iqiq", 0, 0, 10000, 0) + struct.pack(">i", 16) + b"\0" * 16
        s.sendall(struct.pack(">i", len(body)) + body)
        head = b""
        while len(head) < 4:
            chunk = s.recv(4 - len(head))
            if not chunk:
                return False
            head += chunk
        (n,) = struct.unpack(">i", head)
        resp = b""
        while len(resp) < n:
            chunk = s.recv(n - len(resp))
            if not chunk:
                return False
            resp += chunk
        return struct.unpack(">q", resp[8:16])[0] != 0


def test_a_connection_that_sends_nothing_is_closed(srv):
    s = idle_socket(srv)
    try:
        assert closed_after(s) >= TIMEOUT_MS / 1000.0 * 0.6
    finally:
        s.close()


def test_a_partial_connect_request_is_closed_too(srv):
    s = idle_socket(srv)
    try:
        s.sendall(struct.pack(">i", 44) + b"\0" * 10)     # half a ConnectRequest
        assert closed_after(s) >= TIMEOUT_MS / 1000.0 * 0.6
    finally:
        s.close()


def test_idle_sockets_do_not_lock_an_address_out_for_good(srv):
    idle = [idle_socket(srv) for _ in range(3)]           # maxClientCnxns=3
    try:
        # ZooKeeper registers an accepted connection on another thread: wait
        # until it counts all three.
        assert wait_until(lambda: accepted_from_idle_host(srv) == 3, timeout=WAIT_S)
        # The limit bites: a fourth connection gets no session ...
        assert not handshake_ok(srv)
        # ... until the server has closed the idle ones.
        for s in idle:
            closed_after(s)
    finally:
        for s in idle:
            s.close()
    assert wait_until(lambda: handshake_ok(srv), timeout=WAIT_S), "the address stayed locked out"
