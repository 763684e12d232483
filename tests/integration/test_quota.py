"""Quotas through ZooKeeper's own tool: zkCli.sh's setquota, listquota and
delquota (Debian's 3.8.0 client), then kazoo writes, against the server under
test with ``zookeeper.enforceQuota=true``.  Every expectation is what Apache
ZooKeeper 3.8.0 answers (run with ZKWIRE_TEST_TARGET=zookeeper)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import QuotaExceededError

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from servers import ServerProcess, apache_zookeeper_available, target_kind  # noqa: E402

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"

pytestmark = pytest.mark.skipif(not (apache_zookeeper_available() and os.path.exists(ZKCLI)),
                                reason="Debian's zookeeper package is not installed")


@pytest.fixture(scope="module")
def srv():
    s = ServerProcess(target_kind(), sysprops={"zookeeper.enforceQuota": "true"}).start()
    yield s
    s.cleanup()


@pytest.fixture
def zk(srv):
    c = KazooClient(hosts=srv.hosts, timeout=10)
    c.start(timeout=20)
    yield c
    c.stop()
    c.close()


def zkcli(srv, *args) -> list:
    """Run one zkCli.sh command; its output lines without the JVM's chatter."""
    p = subprocess.run([ZKCLI, "-server", srv.hosts] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120, text=True)
    return [ln for ln in p.stdout.splitlines()
            if ln and not ln.startswith(("WatchedEvent", "WATCHER::", "Connecting to",
                                         "log4j", "SLF4J", "Welcome", "JLine"))]


def test_setquota_listquota_and_hard_count_limit(srv, zk):
    zk.create("/qc", b"12345")
    zk.create("/qc/a", b"")
    zkcli(srv, "setquota", "-N", "3", "/qc")
    out = zkcli(srv, "listquota", "/qc")
    assert "Output quota for /qc count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3" in out
    assert "Output stat for /qc count=2,bytes=5" in out
    zk.create("/qc/b", b"")
    with pytest.raises(QuotaExceededError):
        zk.create("/qc/c", b"")
    zk.set("/qc", b"123")
    data, _ = zk.get("/zookeeper/quota/qc/zookeeper_stats")
    assert data == b"count=3,bytes=3"
    # A delete frees room again.
    zk.delete("/qc/b")
    zk.create("/qc/c", b"")


def test_hard_byte_limit_and_delquota(srv, zk):
    zk.create("/qb", b"")
    zkcli(srv, "setquota", "-B", "10", "/qb")
    zk.create("/qb/a", b"123456")
    with pytest.raises(QuotaExceededError):
        zk.set("/qb/a", b"12345678901")
    with pytest.raises(QuotaExceededError):
        zk.create("/qb/b", b"12345")
    zk.create("/qb/b", b"1234")           # exactly 10 bytes
    data, _ = zk.get("/zookeeper/quota/qb/zookeeper_stats")
    assert data == b"count=3,bytes=10"
    zkcli(srv, "delquota", "/qb")
    assert zk.exists("/zookeeper/quota/qb/zookeeper_limits") is None
    zk.create("/qb/c", b"over the old limit")


def test_soft_limit_only_logs(srv, zk):
    zk.create("/qs", b"")
    zkcli(srv, "setquota", "-n", "1", "/qs")
    zk.create("/qs/a", b"")
    zk.create("/qs/b", b"")
    data, _ = zk.get("/zookeeper/quota/qs/zookeeper_stats")
    assert data == b"count=3,bytes=0"
