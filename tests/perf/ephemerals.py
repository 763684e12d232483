"""What a session with many ephemerals costs when it is listed or closed (not a test: prints figures).

    .venv/bin/python tests/perf/ephemerals.py inproc             # DataTree + Prep, in this process
    .venv/bin/python tests/perf/ephemerals.py e2e                # real zkwire vs Apache ZooKeeper
    .venv/bin/python tests/perf/ephemerals.py all
    options: --sizes 5000,10000,20000  --names short,1k  --servers zkwire,zookeeper
             --modes close,drop  (e2e: the owner closes its session / its process dies)

``inproc`` creates N ephemerals of one session in a DataTree and times, in
seconds: creating them, getEphemerals (DataTree.session_ephemerals; twice, the
second time with whatever the first one left cached), Prep.prep_close_session,
applying that closeSession, applying a closeSession without a list (a 3.5-era
log), and replaying a txn log that ends with the closeSession (``recover``
whole, and the closeSession's apply alone).

``e2e`` starts each server on loopback (tests/servers.py), lets a kazoo client
in a child process create N ephemerals under /eph (``create``: how long that
took, 500 requests in flight), and has another kazoo client
ask ``exists /eph`` in a loop the whole time.  It reports how long that second
client's slowest request took (the stall every other client sees) while the
owner asks getEphemerals, and once the owner closes its session (``close``) or
its process is killed so the session expires (``drop``; session timeout 2 s,
which is included in "gone"), and when the second client saw /eph empty.
getEph reads "lost" when the owner's connection dropped while it waited (a
server stalled past the owner's 2 s session timeout).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from types import SimpleNamespace as Rec

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

SID = 0x0100000771F80000
NAME_KINDS = {
    # "/eph/" + a 6-digit number, or that padded to 1 KB: the two ends of what
    # clients name their ephemerals (locks and leases vs. encoded payloads).
    "short": lambda i: "/eph/n%06d" % i,
    "1k": lambda i: "/eph/n%06d-%s" % (i, "x" * 1010),
}


def _fmt(seconds):
    return "%.3f" % seconds


def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = "  ".join("%*s" % (w, h) for w, h in zip(widths, header))
    out = [line, "-" * len(line)]
    out += ["  ".join("%*s" % (w, c) for w, c in zip(widths, r)) for r in rows]
    return "\n".join(out)


# --- in-process ---------------------------------------------------------------------------

def _txns(n, kind):
    from zkwire.consts import OpCode
    from zkwire.server.core.acl import OPEN_ACL_UNSAFE

    name = NAME_KINDS[kind]
    yield Rec(clientId=SID, cxid=0, zxid=1, time=1, type=OpCode.createSession), Rec(timeOut=30000)
    yield (Rec(clientId=SID, cxid=1, zxid=2, time=1, type=OpCode.create),
           Rec(path="/eph", data=b"", acl=OPEN_ACL_UNSAFE, ephemeral=False, parentCVersion=-1))
    for i in range(n):
        yield (Rec(clientId=SID, cxid=i + 2, zxid=i + 3, time=1, type=OpCode.create),
               Rec(path=name(i), data=b"", acl=OPEN_ACL_UNSAFE, ephemeral=True,
                   parentCVersion=-1))


def _inproc_one(n, kind):
    from zkwire.consts import OpCode
    from zkwire.server.core.acl import OPEN_ACL_UNSAFE, AuthPolicy
    from zkwire.server.core.prep import Prep
    from zkwire.server.storage.recovery import recover
    from zkwire.server.core.tree import DataTree
    from zkwire.server.storage.txnlog import FileTxnLog, LogReader

    def build():
        tree = DataTree(OPEN_ACL_UNSAFE)
        txns = list(_txns(n, kind))
        t0 = time.perf_counter()
        for hdr, txn in txns:
            tree.apply(hdr, txn)
        return tree, time.perf_counter() - t0

    row = [n, kind]
    tree, t_create = build()
    row.append(_fmt(t_create))
    for _ in range(2):
        t0 = time.perf_counter()
        listed = tree.session_ephemerals(SID)
        row.append(_fmt(time.perf_counter() - t0))
    assert len(listed) == n
    prep = Prep(tree, AuthPolicy(None))
    t0 = time.perf_counter()
    hdr, txn = prep.prep_close_session(SID, 2)
    row.append(_fmt(time.perf_counter() - t0))
    t0 = time.perf_counter()
    rc = tree.apply(hdr, txn)
    row.append(_fmt(time.perf_counter() - t0))
    assert len(rc.triggers) == 2 * n and not tree.ephemerals

    tree, _ = build()
    t0 = time.perf_counter()
    tree.apply(Rec(clientId=SID, cxid=0, zxid=n + 3, time=2, type=OpCode.closeSession), None)
    row.append(_fmt(time.perf_counter() - t0))
    assert not tree.ephemerals

    tmp = tempfile.mkdtemp(prefix="zkwire-ephbench-")
    try:
        log = FileTxnLog(tmp, force_sync=False)
        for h, t in _txns(n, kind):
            log.append(h, t)
        log.append(hdr, txn)
        log.sync()
        log.close()
        t0 = time.perf_counter()
        tree, _, _, _ = recover(tmp)
        row.append(_fmt(time.perf_counter() - t0))
        assert not tree.ephemerals and "/eph" in tree.nodes
        # The closeSession's apply alone, on a tree replayed up to it.
        tree = DataTree(OPEN_ACL_UNSAFE)
        spent = 0.0
        for h, t in LogReader(tmp):
            if h.type == OpCode.closeSession:
                t0 = time.perf_counter()
                tree.apply(h, t)
                spent += time.perf_counter() - t0
            else:
                tree.apply(h, t)
        row.append(_fmt(spent))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return row


def inproc(sizes, kinds):
    header = ["N", "names", "create", "getEph", "getEph2", "prepClose", "applyClose",
              "closeNoList", "recover", "replayClose"]
    rows = []
    for kind in kinds:
        for n in sizes:
            rows.append(_inproc_one(n, kind))
            print("  ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
    print("in-process (%s %s), seconds:" % (sys.implementation.name, sys.version.split()[0]))
    print(_table(header, rows))


# --- end to end ---------------------------------------------------------------------------

OWNER = r'''
import sys, time
from collections import namedtuple
from kazoo.client import KazooClient
from kazoo.protocol.serialization import int_struct, read_string, write_string

class GetEphemerals(namedtuple("GetEphemerals", "path")):
    type = 103
    def serialize(self):
        return bytearray(write_string(self.path))
    def deserialize(self, b, o):
        n = int_struct.unpack_from(b, o)[0]
        o += 4
        out = []
        for _ in range(max(n, 0)):
            s, o = read_string(b, o)
            out.append(s)
        return out

hosts, n, pad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
zk = KazooClient(hosts=hosts, timeout=2.0)
zk.start(timeout=30)
pending = []
t0 = time.perf_counter()
for i in range(n):
    path = "/eph/n%06d" % i + ("-" + "x" * pad if pad else "")
    pending.append(zk.create_async(path, b"", ephemeral=True))
    if len(pending) >= 500:
        for p in pending:
            p.get(timeout=60)
        pending = []
for p in pending:
    p.get(timeout=60)
print("ready %.6f" % (time.perf_counter() - t0), flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "geteph":
        r = zk.handler.async_result()
        t0 = time.perf_counter()
        zk._call(GetEphemerals("/eph"), r)
        try:
            got = len(r.get(timeout=600))
        except Exception:  # a server stalled past the session timeout drops us
            got = -1
        print("geteph %d %.6f" % (got, time.perf_counter() - t0), flush=True)
    elif cmd == "close":
        t0 = time.perf_counter()
        zk.stop()
        print("closed %.6f" % (time.perf_counter() - t0), flush=True)
        break
'''


class Watcher(threading.Thread):
    """Another client: ``exists /eph`` back to back, recording each request."""

    def __init__(self, hosts):
        from kazoo.client import KazooClient

        super().__init__(daemon=True)
        self.zk = KazooClient(hosts=hosts, timeout=30.0)
        self.zk.start(timeout=30)
        self.samples = []          # (start, end, numChildren)
        self.halt = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        from kazoo.exceptions import KazooException

        while not self.halt.is_set():
            t0 = time.perf_counter()
            try:
                st = self.zk.exists("/eph")
            except KazooException:     # connection lost to a stalled server: retry
                self.errors += 1
                time.sleep(0.01)
                continue
            t1 = time.perf_counter()
            with self.lock:
                self.samples.append((t0, t1, st.numChildren if st else -1))

    errors = 0

    def stall_since(self, t0):
        """The longest this client waited for an answer at or after ``t0``: its
        slowest request, or the longest gap between two answers (failed
        requests in between)."""
        with self.lock:
            worst = max((e - s for s, e, _ in self.samples if e >= t0), default=0.0)
            ends = [e for _, e, _ in self.samples]
        for prev, e in zip(ends, ends[1:]):
            if e >= t0:
                worst = max(worst, e - max(prev, t0))
        return worst

    def answered_after(self, t0, timeout_s=600.0):
        """Wait for an answer to a request sent after ``t0`` (the server serves again)."""
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            with self.lock:
                if self.samples and self.samples[-1][0] >= t0:
                    return
            time.sleep(0.005)
        raise RuntimeError("no answer since %.3f" % t0)

    def empty_at(self, t0, timeout_s=600.0):
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            with self.lock:
                for s, e, k in self.samples:
                    if s >= t0 and k == 0:
                        return e
            time.sleep(0.005)
        raise RuntimeError("/eph never emptied")

    def stop(self):
        self.halt.set()
        self.join(60)
        self.zk.stop()
        self.zk.close()


def _e2e_one(server, n, kind, mode):
    from kazoo.client import KazooClient

    setup = KazooClient(hosts=server.hosts, timeout=30.0)
    setup.start(timeout=30)
    setup.ensure_path("/eph")
    setup.stop()
    setup.close()
    pad = 1010 if kind == "1k" else 0
    owner = subprocess.Popen([sys.executable, "-c", OWNER, server.hosts, str(n), str(pad)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = owner.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise RuntimeError("the owner did not create its ephemerals")
        watcher = Watcher(server.hosts)
        watcher.start()
        time.sleep(0.2)
        t0 = time.perf_counter()
        owner.stdin.write("geteph\n")
        owner.stdin.flush()
        _, count, took = owner.stdout.readline().split()
        assert int(count) in (n, -1), count
        time.sleep(0.2)
        watcher.answered_after(time.perf_counter())
        geteph_stall = watcher.stall_since(t0)
        if int(count) == -1:
            took = "lost"              # the owner's connection dropped meanwhile
        t0 = time.perf_counter()
        if mode == "close":
            owner.stdin.write("close\n")
            owner.stdin.flush()
        else:
            owner.send_signal(signal.SIGKILL)
        gone = watcher.empty_at(t0) - t0
        time.sleep(0.2)
        watcher.answered_after(time.perf_counter())
        stall = watcher.stall_since(t0)
        watcher.stop()
        took = took if took == "lost" else "%.3f" % float(took)
        return [server.kind, mode, n, kind, "%.3f" % float(ready[1]), took,
                _fmt(geteph_stall), _fmt(gone), _fmt(stall)]
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.wait()


def e2e(sizes, kinds, servers, modes):
    from servers import ServerProcess

    header = ["server", "mode", "N", "names", "create", "getEph", "stall(getEph)", "gone",
              "stall(close)"]
    rows = []
    for kind in servers:
        # A fresh server per case: nothing left over from the previous one.
        for names in kinds:
            for mode in modes:
                for n in sizes:
                    srv = ServerProcess(kind, {"maxSessionTimeout": "60000"}).start()
                    try:
                        rows.append(_e2e_one(srv, n, names, mode))
                    finally:
                        srv.cleanup()
                    print("  ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
    print("end to end (seconds; stall = slowest request of another client):")
    print(_table(header, rows))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("inproc", "e2e", "all"))
    p.add_argument("--sizes", default="5000,10000,20000")
    p.add_argument("--names", default="short,1k")
    p.add_argument("--servers", default="zkwire,zookeeper")
    p.add_argument("--modes", default="close,drop")
    a = p.parse_args(argv)
    sizes = [int(x) for x in a.sizes.split(",")]
    kinds = a.names.split(",")
    if a.what in ("inproc", "all"):
        inproc(sizes, kinds)
    if a.what in ("e2e", "all"):
        e2e(sizes, kinds, a.servers.split(","), a.modes.split(","))


if __name__ == "__main__":
    main()
