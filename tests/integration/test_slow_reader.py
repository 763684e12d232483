"""A client that pipelines reads and never reads its replies must not hurt the
server or anyone else (issue 9 item 11).

Measured before the output bound: 68 MB -> 3.2 GB of server memory in 14 s
with 64 KB values, other clients' requests stalled 1.1-1.5 s and a kazoo
session expired.  Apache ZooKeeper 3.8.0 with default settings takes the
first test's load (its resident set grows by tens of MB), but only because
of its getData response cache: with that cache off
(-Dzookeeper.maxResponseCacheSize=0) the same load drives it out of memory
at -Xmx2g within seconds (tests/ZOOKEEPER_FACTS.md §12
slow-reader-default-settings, slow-reader-out-of-memory).  The test runs
against zkwire only: it is zkwire's own promise, not ZooKeeper's behaviour.

The bound checked is on memory (the server's resident set), not on time.
"""
from __future__ import annotations

import socket
import struct
import threading

import pytest

from servers import ServerProcess, target_kind, wait_until

pytestmark = pytest.mark.skipif(target_kind() != "zkwire",
                                reason="zkwire's own bound (ZooKeeper holds only through its response cache, §12)")

VALUE = 512 << 10
REQUESTS = 4000          # 2 GB of replies if the server built them all


def _rss_mb(pid) -> float:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS")


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def _connect(port, timeout_ms=10000):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(_frame(struct.pack(">iqiqi", 0, 0, timeout_ms, 0, 16) + b"\0" * 16))
    head = b""
    while len(head) < 4:
        head += s.recv(4 - len(head))
    (n,) = struct.unpack(">i", head)
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    return s


def _get_data(xid, path):
    p = path.encode()
    return _frame(struct.pack(">ii", xid, 4) + struct.pack(">i", len(p)) + p + b"\0")


@pytest.fixture
def zkwire_server():
    srv = ServerProcess("zkwire", cfg={"tickTime": "500"})
    srv.start()
    yield srv
    srv.cleanup()


def test_a_client_that_never_reads_its_replies(zkwire_server):
    from kazoo.client import KazooClient

    srv = zkwire_server
    zk = KazooClient(hosts=srv.hosts, timeout=4.0)
    zk.start(timeout=15)
    try:
        zk.create("/big", b"x" * VALUE)
        zk.create("/mine", b"", ephemeral=True)
        base_mb = _rss_mb(srv.proc.pid)
        hog = _connect(srv.port)
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        stop = threading.Event()

        def pipeline():
            try:
                for xid in range(1, REQUESTS + 1):
                    if stop.is_set():
                        return
                    hog.sendall(_get_data(xid, "/big"))
            except OSError:
                pass  # the server stopped reading: our send buffer filled and timed out

        hog.settimeout(30)
        t = threading.Thread(target=pipeline, daemon=True)
        t.start()
        peak = base_mb
        # Everyone else is still served, and the server's memory stays bounded.
        for i in range(200):
            zk.set("/mine", str(i).encode())
            assert zk.get("/mine")[0] == str(i).encode()
            peak = max(peak, _rss_mb(srv.proc.pid))
        assert zk.exists("/mine") is not None       # the session did not expire
        assert peak - base_mb < 200, (base_mb, peak)
        stop.set()
        hog.close()
        t.join(30)
    finally:
        zk.stop()
        zk.close()


def test_an_expired_session_that_never_reads_is_closed(zkwire_server):
    srv = zkwire_server
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=srv.hosts, timeout=10.0)
    zk.start(timeout=15)
    try:
        zk.create("/big", b"x" * VALUE)
        hog = _connect(srv.port, timeout_ms=1000)      # the shortest session allowed
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        hog.settimeout(5)
        try:
            for xid in range(1, 200):
                hog.sendall(_get_data(xid, "/big"))
        except OSError:
            pass
        # No pings, no reads: the session expires, and the server must drop the
        # connection without waiting for the peer to take its replies (ZooKeeper
        # drops it at the expiry: tests/ZOOKEEPER_FACTS.md §12).
        me = ":%d[" % hog.getsockname()[1]
        assert me in srv.four_letter("cons")
        assert wait_until(lambda: me not in srv.four_letter("cons"), timeout=30), \
            srv.four_letter("cons")
        hog.close()
    finally:
        zk.stop()
        zk.close()
