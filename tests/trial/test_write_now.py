"""_write_now against Twisted's real TCP transport: the fast path is taken
(nothing left in Twisted's buffer) and the bytes arrive.  If a Twisted
release renames the attributes it reads, the first test fails instead of
the fast path quietly going away."""
from __future__ import annotations

from twisted.internet import defer, protocol, reactor
from twisted.trial import unittest

from zkwire.server.edge.net import _write_now


class Sender(protocol.Protocol):
    def connectionMade(self):
        _write_now(self.transport, b"hello")
        self.factory.buffered.callback(
            (list(self.transport._tempDataBuffer), len(self.transport.dataBuffer)))


class Receiver(protocol.Protocol):
    def dataReceived(self, data):
        self.factory.got += data
        if self.factory.got == b"hello":
            self.factory.done.callback(self.factory.got)
            self.transport.loseConnection()


class WriteNowTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_real_tcp_transport_takes_the_fast_path(self):
        server = protocol.ServerFactory.forProtocol(Sender)
        server.buffered = defer.Deferred()
        port = reactor.listenTCP(0, server, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = protocol.ClientFactory.forProtocol(Receiver)
        client.got = b""
        client.done = defer.Deferred()
        connector = reactor.connectTCP("127.0.0.1", port.getHost().port, client)
        self.addCleanup(connector.disconnect)
        queued, unsent = yield server.buffered
        self.assertEqual((queued, unsent), ([], 0))
        got = yield client.done
        self.assertEqual(got, b"hello")
