"""Fixtures of the interop suite (``python -m pytest interop``).

``servers``: Apache ZooKeeper and zkwire, started once for the session with the
same configuration (interop/servers.py).  ``admins``: one kazoo client per
server, for the runner's own bookkeeping (scenario roots, final trees).
``driver_factories(client)``: per server, a callable (hosts, root) -> driver
for that client; the Java, C and Node drivers are built once and run as one
process per server for the whole session.

The suite needs Apache ZooKeeper, a JDK, gcc with libzookeeper-mt-dev and
node-zookeeper-client: ``bash interop/install.sh`` installs them.  A missing
one fails the tests that need it (with what to install); nothing is skipped.

INTEROP_CLIENTS=kazoo,java runs only some clients; INTEROP_KEEP_SERVERS=1 keeps
both servers' dataDirs (their txn logs show every zxid) after the run.
"""
from __future__ import annotations

import os

import pytest

from interop.clients import Build, DriverProcess, LineDriver, availability
from interop.servers import KINDS, apache_zookeeper_available, start_pair


class Pairs:
    """Server pairs by zoo.cfg additions (most scenarios use the default pair;
    ``!config`` scenarios get a pair of their own), each with its admins: one
    kazoo client per server, authenticated as super, for the runner's own
    bookkeeping (scenario roots, final trees, cleanup)."""

    def __init__(self):
        self.pairs = {}

    def get(self, cfg=None):
        key = tuple(sorted((cfg or {}).items()))
        if key not in self.pairs:
            if not apache_zookeeper_available():
                pytest.fail("Apache ZooKeeper is not installed: run bash interop/install.sh")
            servers = start_pair(dict(key))
            self.pairs[key] = (servers, self._admins(servers))
        return self.pairs[key]

    @staticmethod
    def _admins(servers):
        from kazoo.client import KazooClient

        out = {}
        for kind, srv in servers.items():
            c = KazooClient(hosts=srv.hosts, timeout=10.0)
            c.start(timeout=15)
            c.add_auth("digest", "super:super")
            out[kind] = c
        return out

    def close(self):
        for servers, admins in self.pairs.values():
            for c in admins.values():
                c.stop()
                c.close()
            for srv in servers.values():
                if os.environ.get("INTEROP_KEEP_SERVERS"):
                    # Keep the dataDirs (txn logs: python -m zkwire dump DIR/data/version-2/log.*)
                    srv.stop()
                    print("\n%s data kept in %s" % (srv.kind, srv.workdir))
                else:
                    srv.cleanup()


@pytest.fixture(scope="session")
def pairs():
    p = Pairs()
    yield p
    p.close()


@pytest.fixture(scope="session")
def servers(pairs):
    return pairs.get()[0]


@pytest.fixture(scope="session")
def admins(pairs):
    return pairs.get()[1]


@pytest.fixture(scope="session")
def build():
    b = Build()
    yield b
    b.cleanup()


@pytest.fixture(scope="session")
def driver_processes(servers, build):
    procs = {}

    def get(client, kind):
        key = (client, kind)
        if key in procs and procs[key].proc.poll() is not None:
            procs.pop(key).stop()          # it died (a library crash): a fresh one
        if key not in procs:
            cmd = {"java": lambda: build.java() + ["ZkDriver"], "c": build.c, "node": build.node}[client]()
            procs[key] = DriverProcess(cmd, "%s driver (%s)" % (client, kind))
        return procs[key]

    yield get
    for p in procs.values():
        p.stop()


@pytest.fixture(scope="session")
def driver_factories(driver_processes):
    def factories(client):
        missing = availability(client)
        if missing:
            pytest.fail("%s client unavailable: %s (run bash interop/install.sh)" % (client, missing))
        if client == "kazoo":
            from interop.drivers.kazoo_driver import KazooDriver

            return {kind: KazooDriver for kind in KINDS}
        out = {}
        for kind in KINDS:
            proc = driver_processes(client, kind)
            out[kind] = (lambda p: (lambda hosts, root: LineDriver(p, hosts, root)))(proc)
        return out

    return factories
