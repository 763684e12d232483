"""zkwire.server.edge.ensemble: three members in this process on the real
reactor, over loopback TCP, each with its storage on a MemoryDisk.

What is under test is the edge's part: carrying the peer's sends to the
election, quorum and leader connections, a learner that dials before its
leader has decided, leader loss, and bad bytes on the quorum port costing
one connection.  The protocol itself is tested packet by packet in
tests/unit/test_zab.py and against Apache ZooKeeper in
tests/integration/test_ensemble.py."""
from __future__ import annotations

import socket

from twisted.internet import defer, reactor, task
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.trial import unittest

from zkwire.server.core.frontend import CoreConfig
from zkwire.server.edge.ensemble import EnsembleMember
from zkwire.server.edge.net import ZooKeeperServer
from zkwire.server.quorum.membership import build
from zkwire.server.storage.disk import MemoryDisk
from zkwire.server.storage.store import Storage

from .test_election_net import free_ports

TICK_MS = 50


def make_ensemble(n=3):
    ports = free_ports(3 * n)
    servers = {sid: "127.0.0.1:%d:%d" % (ports[3 * (sid - 1)], ports[3 * (sid - 1) + 1])
               for sid in range(1, n + 1)}
    membership, _ = build(servers)
    members = {}
    for sid in range(1, n + 1):
        storage = Storage("/data", disk=MemoryDisk(), prealloc_bytes=4096)
        server = ZooKeeperServer(reactor, CoreConfig(tick_ms=TICK_MS, server_id=sid),
                                 port=ports[3 * (sid - 1) + 2], log_store=storage.log)
        members[sid] = EnsembleMember(reactor, server, storage, sid, membership,
                                      tick_ms=TICK_MS, init_limit=20, sync_limit=5)
    return members


@defer.inlineCallbacks
def until(predicate, timeout_s=20.0):
    """Poll a condition no event announces (a peer's role), every 10 ms."""
    waited = 0.0
    while not predicate():
        if waited > timeout_s:
            raise AssertionError("condition not reached in %.0f s" % timeout_s)
        yield task.deferLater(reactor, 0.01, lambda: None)
        waited += 0.01


def modes(members):
    return {sid: m.mode() for sid, m in members.items() if not m.stopped}


class _Garbage(Protocol):
    def connectionMade(self):
        self.transport.write(b"\x00\x00\x00\x0b" + b"\x7f" * 64)   # FOLLOWERINFO, absurd lengths

    def connectionLost(self, reason=None):
        self.factory.closed.callback(None)


class EnsembleEdgeTests(unittest.TestCase):
    timeout = 60

    def setUp(self):
        self.members = make_ensemble()
        for m in self.members.values():
            m.start()
        self.addCleanup(self._stop_all)

    @defer.inlineCallbacks
    def _stop_all(self):
        for m in self.members.values():
            if not m.stopped:
                yield m.stop()

    @defer.inlineCallbacks
    def test_three_members_elect_and_serve_then_survive_the_leader(self):
        yield until(lambda: sorted(filter(None, modes(self.members).values()))
                    == ["follower", "follower", "leader"])
        leader = next(sid for sid, mode in modes(self.members).items() if mode == "leader")
        self.assertEqual(leader, 3)                  # all empty: the highest id leads
        yield self.members[3].stop()
        yield until(lambda: sorted(filter(None, modes(self.members).values()))
                    == ["follower", "leader"])
        self.assertEqual(self.members[2].mode(), "leader")
        self.assertEqual(self.members[2].peer.role.epoch, 2)

    @defer.inlineCallbacks
    def test_bad_bytes_on_the_quorum_port_cost_that_connection_only(self):
        yield until(lambda: self.members[3].mode() == "leader")
        f = ClientFactory.forProtocol(_Garbage)
        f.closed = defer.Deferred()
        port = self.members[3].quorum_port_number
        reactor.connectTCP("127.0.0.1", port, f)
        yield f.closed
        self.assertEqual(self.members[3].mode(), "leader")
        self.assertEqual(sorted(filter(None, modes(self.members).values())),
                         ["follower", "follower", "leader"])
        self.assertIsNone(self.members[3].server.fatal_error)
