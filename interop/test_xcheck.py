"""``zkwire xcheck``: kazoo through the cross-checking proxy.

Oracle = Apache ZooKeeper, candidate = zkwire: an application's worth of
traffic (reads, writes, watches from two sessions, a multi, ephemerals, ACLs)
must produce no MISMATCH line, only KNOWN lines for documented differences.
Then a deliberately different candidate (a second zkwire holding a node the
oracle does not have) must be reported, in replies and in watch events.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, NodeExistsError
from kazoo.security import make_digest_acl

from interop.servers import SYSPROPS, ServerProcess, free_port, wait_until

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Proxy:
    def __init__(self, oracle, candidate, tmp_path):
        self.port = free_port()
        self.log = str(tmp_path / "xcheck.log")
        self.stderr = open(str(tmp_path / "xcheck.stderr"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zkwire", "xcheck", "--oracle", oracle.hosts,
             "--candidate", candidate.hosts, "--listen", str(self.port), "--log", self.log,
             "--show-known"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=self.stderr)
        if not wait_until(lambda: "LISTENING" in self.text(), timeout=20):
            self.stop()
            raise RuntimeError("xcheck did not start:\n%s" % self.stderr_text())

    @property
    def hosts(self):
        return "127.0.0.1:%d" % self.port

    def text(self) -> str:
        try:
            with open(self.log, encoding="utf-8") as f:
                return f.read()
        except OSError:
            return ""

    def lines(self, kind):
        return [x for x in self.text().splitlines() if x.startswith(kind)]

    def stderr_text(self):
        with open(self.stderr.name, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_closed(self, n, timeout=15):
        assert wait_until(lambda: len(self.lines("CLOSED")) >= n, timeout=timeout), self.text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.stderr.close()


def client(hosts, **kw):
    c = KazooClient(hosts=hosts, timeout=10.0, **kw)
    c.start(timeout=15)
    return c


def test_same_traffic_no_mismatch(servers, tmp_path):
    proxy = Proxy(servers["zookeeper"], servers["zkwire"], tmp_path)
    try:
        setup = client(proxy.hosts)
        setup.create("/xcheck-clean", b"")
        setup.stop()
        setup.close()

        a = client(proxy.hosts + "/xcheck-clean")
        b = client(proxy.hosts + "/xcheck-clean")
        fired = []
        a.create("/n", b"v0")
        a.get("/n", watch=fired.append)
        a.get_children("/", watch=fired.append)
        a.exists("/later", watch=fired.append)
        b.set("/n", b"v1")
        b.create("/later", b"", ephemeral=True)
        b.create("/seq-", b"", sequence=True)
        t = b.transaction()
        t.create("/m", b"multi")
        t.set_data("/n", b"v2")
        t.check("/n", 2)
        t.commit()
        try:
            b.create("/n", b"")
        except NodeExistsError:
            pass
        b.get_children("/", include_data=True)
        b.create("/secret", b"s", acl=[make_digest_acl("u", "p", all=True)])
        assert b.exists("/secret") is not None          # ZooKeeper 3.8: a Stat
        with pytest.raises(NoAuthError):
            b.get("/secret")
        a.delete("/m")
        assert wait_until(lambda: len(fired) >= 3)
        a.stop()
        a.close()
        b.stop()
        b.close()
        proxy.wait_closed(3)
    finally:
        proxy.stop()
    log = proxy.text()
    assert proxy.lines("MISMATCH") == [], log
    summaries = proxy.lines("CLOSED")
    assert sum(int(x.split("replies=")[1].split()[0]) for x in summaries) >= 20, log
    assert sum(int(x.split("events=")[1].split()[0]) for x in summaries) >= 3, log
    # Documented differences are reported only as KNOWN lines: exists on an
    # unreadable node, and the notification zxids (3.8 sends -1).
    assert any("ZOOKEEPER-2590" in x for x in proxy.lines("KNOWN")), log
    assert any("ZOOKEEPER-4655" in x for x in proxy.lines("KNOWN")), log


def test_different_candidate_is_reported(servers, tmp_path):
    other = ServerProcess("zkwire", sysprops=dict(SYSPROPS)).start()
    try:
        seed = client(other.hosts)
        seed.create("/xcheck-diff/only-candidate", b"candidate", makepath=True)
        seed.stop()
        seed.close()

        proxy = Proxy(servers["zookeeper"], other, tmp_path)
        try:
            c = client(proxy.hosts)
            c.create("/xcheck-diff", b"")                 # candidate: NODEEXISTS
            c.create("/xcheck-diff/shared", b"s")         # both fine
            events = []
            c.exists("/xcheck-diff/only-candidate", watch=events.append)
            c.create("/xcheck-diff/only-candidate", b"o")  # oracle fires NodeCreated
            c.set("/xcheck-diff/only-candidate", b"x")     # candidate fires NodeDataChanged
            c.get_children("/xcheck-diff")
            assert wait_until(lambda: events)
            c.delete("/xcheck-diff", recursive=True)
            c.stop()
            c.close()
            proxy.wait_closed(1)
        finally:
            proxy.stop()
    finally:
        other.cleanup()
    mism = proxy.lines("MISMATCH")
    log = proxy.text()
    assert any(" create /xcheck-diff:" in x and "err: oracle 'OK' candidate 'NODEEXISTS'" in x
               for x in mism), log
    assert any(" exists /xcheck-diff/only-candidate:" in x for x in mism), log
    assert any(x.startswith("MISMATCH conn=1 event NodeCreated /xcheck-diff/only-candidate")
               and "NodeDataChanged" in x for x in mism), log
    assert any(" setData /xcheck-diff/only-candidate:" in x and "stat.czxid" in x for x in mism), log
