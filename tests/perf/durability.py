"""Measure what durability costs (not a test: prints figures).

    python tests/perf/durability.py fsync     # setData/s with forceSync=yes vs no
    python tests/perf/durability.py recovery  # start-up time with 1M znodes of 100 bytes

Both start real zkwire processes on loopback (tests/servers.py).
"""
from __future__ import annotations

import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from servers import ServerProcess  # noqa: E402

CONNECT = struct.pack(">iqiqi", 0, 0, 10000, 0, 16) + b"\0" * 16 + b"\0"


def _frame(b):
    return struct.pack(">i", len(b)) + b


def _s(p):
    b = p.encode()
    return struct.pack(">i", len(b)) + b


def _connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(_frame(CONNECT))
    _read_frame(s, bytearray())
    return s


def _read_frame(s, buf):
    while True:
        if len(buf) >= 4:
            n = struct.unpack_from(">i", buf)[0]
            if len(buf) >= 4 + n:
                f = bytes(buf[4:4 + n])
                del buf[:4 + n]
                return f
        data = s.recv(1 << 16)
        if not data:
            raise EOFError
        buf += data


def set_load(port, seconds, depth, conns=2):
    """setData on one node with ``depth`` requests in flight per connection."""
    s = _connect(port)
    s.sendall(_frame(struct.pack(">ii", 1, 1) + _s("/bench") + _s("x" * 10)[0:0]
                     + struct.pack(">i", 10) + b"x" * 10 + struct.pack(">i", 1)
                     + struct.pack(">i", 31) + _s("world") + _s("anyone") + struct.pack(">i", 0)))
    _read_frame(s, bytearray())
    req = _frame(struct.pack(">ii", 7, 5) + _s("/bench") + struct.pack(">i", 100) + b"y" * 100
                 + struct.pack(">i", -1))
    counts = []

    def worker():
        c = _connect(port)
        buf = bytearray()
        done = inflight = 0
        end = time.time() + seconds
        while time.time() < end:
            if inflight < depth:
                c.sendall(req * (depth - inflight))
                inflight = depth
            _read_frame(c, buf)
            done += 1
            inflight -= 1
        counts.append(done)

    ts = [threading.Thread(target=worker) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / seconds


def fsync():
    for force in ("yes", "no"):
        srv = ServerProcess("zkwire", cfg={"forceSync": force}).start()
        try:
            serial = set_load(srv.port, 3, 1, conns=1)
            piped = set_load(srv.port, 5, 100, conns=2)
            print("forceSync=%-3s  serial setData %7.0f/s   pipelined (2 conns x 100) %7.0f/s"
                  % (force, serial, piped))
        finally:
            srv.cleanup()


def recovery(n=1_000_000):
    from zkwire.server.core.acl import OPEN_ACL_UNSAFE
    from zkwire.server.storage.snapshot import save_snapshot
    from zkwire.server.core.tree import DataTree, Node

    srv = ServerProcess("zkwire")
    data_dir = srv.cfg["dataDir"]
    os.makedirs(data_dir, exist_ok=True)
    t0 = time.time()
    tree = DataTree(OPEN_ACL_UNSAFE)
    root = tree.nodes["/"]
    payload = b"v" * 100
    for i in range(n):
        name = "n%07d" % i
        node = Node(payload, OPEN_ACL_UNSAFE, i + 1, 0, 0)
        root.children[name] = None
        tree.nodes["/" + name] = node
    root.cversion = n
    tree.last_zxid = n
    path = save_snapshot(data_dir, tree, {}, n)
    print("wrote %s (%d MB) in %.1fs" % (path, os.path.getsize(path) >> 20, time.time() - t0))
    del tree, root
    t0 = time.time()
    srv.start(timeout_s=600)
    print("zkwire start-up with %d znodes of 100 bytes: %.1fs (load + snapshot of the loaded state)"
          % (n, time.time() - t0))
    rss = 0
    with open("/proc/%d/status" % srv.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
    print("RSS after start: %d MB (%.0f bytes per znode)" % (rss, rss * 1048576.0 / n))
    srv.stop()
    # The same dataDir, loaded by Apache ZooKeeper (Debian's package), for comparison.
    zk = ServerProcess("zookeeper")
    zk.cfg["dataDir"] = data_dir
    t0 = time.time()
    zk.start(timeout_s=600)
    print("Apache ZooKeeper start-up on the same dataDir: %.1fs" % (time.time() - t0))
    zk.cleanup()
    srv.cleanup()


if __name__ == "__main__":
    {"fsync": fsync, "recovery": recovery}[sys.argv[1] if len(sys.argv) > 1 else "fsync"]()
