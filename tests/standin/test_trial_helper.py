"""zkwire.testing.trial: a server on the reactor that trial runs."""
from __future__ import annotations

from kazoo.client import KazooClient
from twisted.internet import defer, threads
from twisted.trial import unittest

from zkwire.testing.trial import ServerMixin, start_server


def _connect(hosts):
    client = KazooClient(hosts=hosts)
    client.start()
    client.create("/eph", b"", ephemeral=True)
    return client


def _close(client):
    client.stop()
    client.close()


class TrialHelperTests(ServerMixin, unittest.TestCase):
    @defer.inlineCallbacks
    def test_expire_session_on_the_test_reactor(self):
        zk = yield start_server(self)
        # kazoo blocks: it runs in a thread, the server on trial's reactor.
        client = yield threads.deferToThread(_connect, zk.hosts)
        self.addCleanup(threads.deferToThread, _close, client)
        sid = client.client_id[0]
        self.assertEqual([s["ephemerals"] for s in zk.sessions()], [["/eph"]])
        yield zk.expire_session(sid)
        self.assertNotIn("/eph", zk.export())
        self.assertNotIn(sid, [s["session_id"] for s in zk.sessions()])

    @defer.inlineCallbacks
    def test_mixin_and_seed(self):
        zk = yield self.start_zookeeper(load={"/seeded": "yes"})
        self.assertEqual(zk.export(), {"/seeded": "yes"})
        yield zk.restart()
        self.assertEqual(zk.export(), {"/seeded": "yes"})
