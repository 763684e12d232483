"""zkwire.server.edge.election_net: the election port (ZooKeeper's
QuorumCnxManager) and the runner that drives Fast Leader Election over it.

Two kinds of tests:

* the connection rules, on a MemoryReactorClock with StringTransports, so
  every dial, handshake, frame and close is visible and time moves only when
  the test says;
* whole elections over real loopback TCP, two and three networks in this
  process on the real reactor.

What is expected comes from Apache ZooKeeper: the handshake, "the larger sid
keeps the connection" (the smaller one's dial carries its handshake and is
closed, the larger dials back and closes what it had) and the first election
of empty servers (everyone ends on the highest sid) were captured from 3.8.0
(tests/golden/quorum/README.md, "Election port"); the one-slot send queue and
the re-send of the last message on a new connection are QuorumCnxManager's
SEND_CAPACITY = 1 and SendWorker.run; tests/integration/test_election_mixed.py
runs this code in one ensemble with real 3.8.0 servers.
"""
from __future__ import annotations

import logging
import socket
import struct

from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial import unittest

from zkwire.server.edge import election_net as EN
from zkwire.server.edge.election_net import ElectionNetwork, ElectionRunner
from zkwire.server.quorum import packets as P
from zkwire.server.quorum.election import Election
from zkwire.server.quorum.membership import build


def membership(n, ports=None, observers=()):
    servers = {}
    for sid in range(1, n + 1):
        qp, ep = ports[sid] if ports else (2000 + sid, 3000 + sid)
        servers[sid] = "127.0.0.1:%d:%d%s" % (qp, ep, ":observer" if sid in observers else "")
    ms, _ = build(servers)
    return ms


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def note(leader, epoch=1, state=P.LOOKING, zxid=0):
    return P.Notification(state, leader, zxid, epoch, 0, config=b"version=0")


def handshake(sid, port=None):
    return P.Handshake(sid, "127.0.0.1:%d" % (port if port is not None else 3000 + sid)).encode()


def frames(data):
    """The notifications framed in ``data`` (what the listener side reads)."""
    dec = P.ElectionStreamDecoder(expect_handshake=False)
    return [P.decode_notification(f) for f in dec.feed(data)]


class LogCapture(logging.Handler):
    def __init__(self, testcase):
        super().__init__(logging.DEBUG)
        self.records = []
        lg = logging.getLogger("zkwire.server.election")
        old = lg.level
        lg.setLevel(logging.DEBUG)
        lg.addHandler(self)

        def undo():
            lg.removeHandler(self)
            lg.setLevel(old)
        testcase.addCleanup(undo)

    def emit(self, record):
        self.records.append(record)

    def warnings(self):
        return [r.getMessage() for r in self.records if r.levelno >= logging.WARNING]


# =========================================================================================
# The connection rules, on a memory reactor
# =========================================================================================

class Node:
    """One ElectionNetwork on a MemoryReactorClock."""

    def __init__(self, myid, ms, **kw):
        self.clock = MemoryReactorClock()
        self.got = []
        self.net = ElectionNetwork(self.clock, myid, ms,
                                   on_message=lambda sid, n: self.got.append((sid, n)), **kw)
        self.port = self.net.start()
        self._next_port = 40000

    def _transport(self):
        self._next_port += 1
        return StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", self._next_port))

    def accept(self):
        """A peer connects to our election port."""
        factory = self.clock.tcpServers[0][1]
        proto = factory.buildProtocol(None)
        tr = self._transport()
        proto.makeConnection(tr)
        return proto, tr

    def dials(self):
        return [(host, port) for host, port, _f, _t, _b in self.clock.tcpClients]

    def complete_dial(self, index=-1):
        """Our dial ``index`` reaches its peer."""
        _host, _port, factory, _timeout, _bind = self.clock.tcpClients[index]
        proto = factory.buildProtocol(None)
        tr = self._transport()
        proto.makeConnection(tr)
        return proto, tr

    def fail_dial(self, index=-1):
        from twisted.internet.error import ConnectionRefusedError
        from twisted.python.failure import Failure
        _host, _port, factory, _timeout, _bind = self.clock.tcpClients[index]
        factory.clientConnectionFailed(self.clock.connectors[index],
                                       Failure(ConnectionRefusedError()))


def lose(proto):
    proto.connectionLost(None)


class HandshakeRuleTests(unittest.TestCase):
    def setUp(self):
        self.ms = membership(3)

    def test_listen_on_the_election_address(self):
        node = Node(2, self.ms)
        port, _factory, _backlog, interface = node.clock.tcpServers[0]
        self.assertEqual((port, interface), (3002, "127.0.0.1"))
        other = Node(2, self.ms, host_for_listen="0.0.0.0")
        self.assertEqual(other.clock.tcpServers[0][3], "0.0.0.0")

    def test_a_smaller_sids_connection_is_dropped_and_the_larger_dials_back(self):
        node = Node(2, self.ms)
        proto, tr = node.accept()
        proto.dataReceived(handshake(1))
        self.assertTrue(tr.disconnecting)
        self.assertFalse(node.net.connected(1))
        self.assertEqual(node.dials(), [("127.0.0.1", 3001)])
        back, back_tr = node.complete_dial()
        # Our handshake (V1, sid 2, our election address), and the connection stays.
        self.assertEqual(back_tr.value(), handshake(2))
        self.assertFalse(back_tr.disconnecting)
        self.assertTrue(node.net.connected(1))
        node.net.send(1, note(2))
        self.assertEqual(frames(back_tr.value()[len(handshake(2)):]), [note(2)])

    def test_the_dial_back_closes_a_connection_we_still_had(self):
        node = Node(3, self.ms)
        node.net.send(1, note(3))
        _old, old_tr = node.complete_dial()
        self.assertTrue(node.net.connected(1))
        proto, tr = node.accept()
        proto.dataReceived(handshake(1))      # 1 dials us: our connection is stale to it
        self.assertTrue(old_tr.disconnecting)
        self.assertTrue(tr.disconnecting)
        self.assertEqual(len(node.dials()), 2)
        _new, new_tr = node.complete_dial()
        # The new connection carries the last message again (nothing newer waits).
        self.assertEqual(new_tr.value()[:len(handshake(3))], handshake(3))
        self.assertEqual(frames(new_tr.value()[len(handshake(3)):]), [note(3)])

    def test_a_larger_sids_connection_is_kept(self):
        node = Node(2, self.ms)
        proto, tr = node.accept()
        proto.dataReceived(handshake(3) + P.frame_election(note(3).encode()))
        self.assertFalse(tr.disconnecting)
        self.assertTrue(node.net.connected(3))
        self.assertEqual(node.dials(), [])
        self.assertEqual(node.got, [(3, note(3))])
        self.assertEqual(tr.value(), b"")     # the listener sends no handshake back
        node.net.send(3, note(3, epoch=2))
        self.assertEqual(frames(tr.value()), [note(3, epoch=2)])

    def test_dialing_a_larger_sid_sends_the_handshake_and_closes(self):
        node = Node(1, self.ms)
        node.net.send(2, note(1))
        self.assertEqual(node.dials(), [("127.0.0.1", 3002)])
        _host, _port, _f, timeout, _b = node.clock.tcpClients[0]
        self.assertEqual(timeout, EN.CONNECT_TIMEOUT_MS / 1000.0)
        _proto, tr = node.complete_dial()
        self.assertEqual(tr.value(), handshake(1))
        self.assertTrue(tr.disconnecting)
        self.assertFalse(node.net.connected(2))
        self.assertEqual(node.net.queued(2), note(1).encode())
        # 2 dials back: the waiting message goes out on that connection.
        proto, tr2 = node.accept()
        proto.dataReceived(handshake(2))
        self.assertEqual(frames(tr2.value()), [note(1)])
        self.assertIsNone(node.net.queued(2))
        self.assertEqual(node.net.last_sent(2), note(1).encode())

    def test_dialing_a_smaller_sid_keeps_the_connection(self):
        node = Node(3, self.ms)
        node.net.send(1, note(3))
        _proto, tr = node.complete_dial()
        self.assertFalse(tr.disconnecting)
        self.assertTrue(node.net.connected(1))
        self.assertEqual(tr.value()[:len(handshake(3))], handshake(3))
        self.assertEqual(frames(tr.value()[len(handshake(3)):]), [note(3)])

    def test_a_newer_connection_from_a_sid_replaces_the_older(self):
        node = Node(1, self.ms)
        a, a_tr = node.accept()
        a.dataReceived(handshake(2))
        b, b_tr = node.accept()
        b.dataReceived(handshake(2))
        self.assertTrue(a_tr.disconnecting)
        self.assertFalse(b_tr.disconnecting)
        lose(a)                               # the old one's end does not unregister the new
        self.assertTrue(node.net.connected(2))
        node.net.send(2, note(2))
        self.assertEqual(a_tr.value(), b"")
        self.assertEqual(frames(b_tr.value()), [note(2)])

    def test_a_handshake_with_our_own_sid_is_refused(self):
        log = LogCapture(self)
        node = Node(2, self.ms)
        proto, tr = node.accept()
        proto.dataReceived(handshake(2))
        self.assertTrue(tr.disconnecting)
        self.assertFalse(node.net.connected(2))
        self.assertEqual(len(log.warnings()), 1)
        self.assertIn("own sid", log.warnings()[0])

    def test_a_larger_sid_outside_the_membership_is_kept_and_answered(self):
        node = Node(2, self.ms)
        proto, tr = node.accept()
        proto.dataReceived(handshake(9, 6009) + P.frame_election(note(9).encode()))
        self.assertFalse(tr.disconnecting)
        self.assertEqual(node.got, [(9, note(9))])
        node.net.send(9, note(2, state=P.FOLLOWING))
        self.assertEqual(frames(tr.value()), [note(2, state=P.FOLLOWING)])
        # Gone: no state is kept for it, and it is not dialed.
        lose(proto)
        node.net.send(9, note(2))
        self.assertEqual(node.dials(), [])
        self.assertIsNone(node.net.queued(9))

    def test_a_smaller_sid_outside_the_membership_is_dialed_back_at_its_address(self):
        ms, _ = build({sid: "127.0.0.1:%d:%d" % (2000 + sid, 3000 + sid) for sid in (5, 6, 7)})
        node = Node(7, ms)
        proto, tr = node.accept()
        proto.dataReceived(handshake(1, 6001))
        self.assertTrue(tr.disconnecting)
        self.assertEqual(node.dials(), [("127.0.0.1", 6001)])
        _back, back_tr = node.complete_dial()
        self.assertEqual(back_tr.value(), handshake(7))
        self.assertTrue(node.net.connected(1))

    def test_an_observer_without_an_id_gets_a_negative_one(self):
        node = Node(2, self.ms)
        proto, _tr = node.accept()
        proto.dataReceived(P.Handshake(P.OBSERVER_ID, "127.0.0.1:6100").encode())
        # As QuorumCnxManager: -1 is smaller than ours, so we dial it back.
        self.assertEqual(node.dials(), [("127.0.0.1", 6100)])
        node.complete_dial()
        self.assertTrue(node.net.connected(-1))

    def test_the_old_handshake_form_is_accepted(self):
        node = Node(1, self.ms)
        proto, tr = node.accept()
        proto.dataReceived(struct.pack(">q", 3) + P.frame_election(note(3).encode()))
        self.assertTrue(node.net.connected(3))
        self.assertEqual(node.got, [(3, note(3))])


class SendQueueTests(unittest.TestCase):
    def setUp(self):
        self.ms = membership(3)

    def test_a_new_message_replaces_the_queued_one(self):
        node = Node(1, self.ms)
        node.net.send(2, note(1))
        node.net.send(2, note(3))             # newer: replaces the one waiting
        self.assertEqual(len(node.dials()), 1)  # one dial per peer at a time
        self.assertEqual(node.net.queued(2), note(3).encode())
        proto, tr = node.accept()
        proto.dataReceived(handshake(2))
        self.assertEqual(frames(tr.value()), [note(3)])

    def test_the_last_message_is_sent_again_on_a_new_connection(self):
        node = Node(1, self.ms)
        proto, tr = node.accept()
        proto.dataReceived(handshake(3))
        node.net.send(3, note(1))
        node.net.send(3, note(3))
        self.assertEqual(frames(tr.value()), [note(1), note(3)])
        lose(proto)
        self.assertFalse(node.net.connected(3))
        self.assertEqual(node.dials(), [])    # a drop alone dials nothing
        again, tr2 = node.accept()
        again.dataReceived(handshake(3))
        self.assertEqual(frames(tr2.value()), [note(3)])

    def test_a_waiting_message_goes_instead_of_the_last_one(self):
        node = Node(3, self.ms)
        node.net.send(1, note(3))
        first, tr = node.complete_dial()
        lose(first)
        node.net.send(1, note(3, epoch=2))
        self.assertEqual(len(node.dials()), 2)
        _second, tr2 = node.complete_dial()
        self.assertEqual(frames(tr2.value()[len(handshake(3)):]), [note(3, epoch=2)])

    def test_a_failed_dial_is_retried_on_the_next_send_only(self):
        log = LogCapture(self)
        node = Node(1, self.ms)
        node.net.send(3, note(1))
        node.fail_dial()
        self.assertEqual(len(node.dials()), 1)
        self.assertEqual(node.clock.getDelayedCalls(), [])   # no retry timer, no busy loop
        self.assertEqual(node.net.queued(3), note(1).encode())
        node.net.send(3, note(3))
        self.assertEqual(len(node.dials()), 2)
        node.fail_dial()
        # One log line for an unreachable peer, not one per attempt.
        lines = [r.getMessage() for r in log.records if "cannot open" in r.getMessage()]
        self.assertEqual(len(lines), 1)

    def test_a_peer_that_does_not_read_holds_one_message(self):
        node = Node(1, self.ms)
        proto, tr = node.accept()
        proto.dataReceived(handshake(2))
        self.assertIs(tr.producer, proto)
        proto.pauseProducing()                # Twisted: the write buffer is full
        node.net.send(2, note(1))
        node.net.send(2, note(2))
        self.assertEqual(tr.value(), b"")
        self.assertEqual(node.net.queued(2), note(2).encode())
        proto.resumeProducing()
        self.assertEqual(frames(tr.value()), [note(2)])

    def test_a_message_to_ourselves_is_looped_back(self):
        node = Node(2, self.ms)
        node.net.send(2, note(2))
        self.assertEqual(node.got, [])
        node.clock.advance(0)
        self.assertEqual(node.got, [(2, note(2))])
        self.assertEqual(node.dials(), [])


class BadInputTests(unittest.TestCase):
    def setUp(self):
        self.ms = membership(3)
        self.log = LogCapture(self)
        self.node = Node(1, self.ms, max_pending_handshakes=2)
        self.good, self.good_tr = self.node.accept()
        self.good.dataReceived(handshake(3))

    def assert_only_that_one_closed(self, tr, reason):
        self.assertTrue(tr.disconnecting)
        self.assertFalse(self.good_tr.disconnecting)
        self.assertTrue(self.node.net.connected(3))
        warnings = self.log.warnings()
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("127.0.0.1:", warnings[0])         # names the peer
        self.assertIn(reason, warnings[0])
        self.good.dataReceived(P.frame_election(note(3).encode()))
        self.assertEqual(self.node.got[-1], (3, note(3)))

    def test_an_unknown_protocol_version(self):
        proto, tr = self.node.accept()
        proto.dataReceived(struct.pack(">q", -5) + b"\0" * 12)
        self.assert_only_that_one_closed(tr, "protocol version")

    def test_an_unreasonable_address_length(self):
        proto, tr = self.node.accept()
        proto.dataReceived(struct.pack(">qqi", P.PROTOCOL_VERSION_V1, 2, 4096))
        self.assert_only_that_one_closed(tr, "address length")

    def test_a_badly_formed_address(self):
        proto, tr = self.node.accept()
        proto.dataReceived(P.Handshake(2, "no-port-here").encode())
        self.assert_only_that_one_closed(tr, "address")

    def test_an_oversized_frame(self):
        proto, tr = self.node.accept()
        proto.dataReceived(handshake(2) + struct.pack(">i", P.MAX_ELECTION_FRAME_BYTES + 1))
        self.assert_only_that_one_closed(tr, "frame length")
        self.assertFalse(self.node.net.connected(2))

    def test_a_frame_above_a_lower_limit(self):
        node = Node(1, self.ms, max_frame_bytes=64)
        proto, tr = node.accept()
        proto.dataReceived(handshake(2) + P.frame_election(b"\0" * 65))
        self.assertTrue(tr.disconnecting)
        self.assertFalse(node.net.connected(2))

    def test_a_malformed_notification_is_dropped_and_the_connection_stays(self):
        # FastLeaderElection skips a short or malformed message and keeps reading.
        proto, tr = self.node.accept()
        proto.dataReceived(handshake(2) + P.frame_election(b"\0" * 10)
                           + P.frame_election(note(2).encode()))
        self.assertFalse(tr.disconnecting)
        self.assertEqual(self.node.got[-1], (2, note(2)))
        self.assertEqual(len(self.log.warnings()), 1)
        self.assertIn("malformed notification", self.log.warnings()[0])

    def test_no_handshake_in_time(self):
        proto, tr = self.node.accept()
        proto.dataReceived(struct.pack(">q", P.PROTOCOL_VERSION_V1))   # then nothing
        self.node.clock.advance(EN.HANDSHAKE_TIMEOUT_MS / 1000.0 - 0.001)
        self.assertFalse(tr.disconnecting)
        self.node.clock.advance(0.001)
        self.assert_only_that_one_closed(tr, "no handshake within")

    def test_too_many_connections_waiting_for_a_handshake(self):
        waiting = [self.node.accept() for _ in range(2)]
        _proto, tr = self.node.accept()
        self.assertTrue(tr.disconnecting)
        self.assertEqual([t.disconnecting for _p, t in waiting], [False, False])
        self.assertEqual(self.node.net.pending_handshakes(), 2)
        # A handshake frees a slot.
        waiting[0][0].dataReceived(handshake(2))
        _proto, tr = self.node.accept()
        self.assertFalse(tr.disconnecting)

    def test_too_many_sids_outside_the_membership(self):
        node = Node(1, self.ms, max_nonmember_peers=2)
        kept = []
        for sid in (10, 11, 12):
            proto, tr = node.accept()
            proto.dataReceived(handshake(sid, 6000 + sid))
            kept.append(tr.disconnecting)
        self.assertEqual(kept, [False, False, True])
        self.assertEqual(node.net.connected_sids(), [10, 11])


class StopTests(unittest.TestCase):
    def test_stop_closes_everything_and_cancels_every_timer(self):
        node = Node(2, membership(3))
        kept, kept_tr = node.accept()
        kept.dataReceived(handshake(3))
        _waiting, waiting_tr = node.accept()
        node.net.send(1, note(2))              # a dial in progress
        node.net.send(2, note(2))              # a loopback pending
        d = node.net.stop()
        self.assertTrue(kept_tr.disconnecting and waiting_tr.disconnecting)
        self.assertTrue(node.clock.connectors[0].stoppedConnecting)
        self.assertEqual(node.clock.getDelayedCalls(), [])
        self.assertNoResult(d)
        lose(kept)
        lose(_waiting)
        self.successResultOf(d)
        node.net.send(1, note(2))              # after stop: nothing happens
        self.assertEqual(len(node.dials()), 1)


# =========================================================================================
# Runner on a clock: timers
# =========================================================================================

class RunnerTimerTests(unittest.TestCase):
    def test_a_silent_round_resends_on_the_elections_deadline(self):
        ms = membership(3)
        node = Node(1, ms)
        election = Election(1, ms, 0, 0)
        runner = ElectionRunner(node.clock, election, node.net)
        d = runner.start()
        self.assertNoResult(d)
        self.assertEqual(len(node.dials()), 2)            # to 2 and 3
        calls = node.clock.getDelayedCalls()
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0].getTime(), election.deadline_ms / 1000.0)
        node.fail_dial(0)
        node.fail_dial(1)
        node.clock.advance(0.2)                           # 200 ms: tell everyone again
        self.assertEqual(len(node.dials()), 4)
        self.assertAlmostEqual(node.clock.getDelayedCalls()[0].getTime(), 0.6)   # then 400 ms
        runner.stop()
        self.assertEqual(node.clock.getDelayedCalls(), [])
        self.successResultOf(node.net.stop())


# =========================================================================================
# Whole elections over loopback TCP, on the real reactor
# =========================================================================================

class RawPeer(Protocol):
    def __init__(self):
        self.made = defer.Deferred()
        self.lost = defer.Deferred()
        self.data = bytearray()

    def connectionMade(self):
        self.made.callback(self)

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason=None):
        self.lost.callback(None)


class RawFactory(ClientFactory):
    def __init__(self):
        self.proto = RawPeer()

    def buildProtocol(self, addr):
        return self.proto

    def clientConnectionFailed(self, connector, reason):
        self.proto.made.errback(reason)


class LoopbackTests(unittest.TestCase):
    timeout = 20

    def ensemble(self, n, zxids=None):
        ports = free_ports(2 * n)
        self.ms = membership(n, {sid: (ports[2 * sid - 2], ports[2 * sid - 1])
                                 for sid in range(1, n + 1)})
        self.zxids = zxids or {}
        self.nodes = {}

    def start(self, sid):
        ms = self.ms
        election = Election(sid, ms, self.zxids.get(sid, 0), 0,
                            config=ms.config_text().encode())
        net = ElectionNetwork(reactor, sid, ms)
        net.start()
        runner = ElectionRunner(reactor, election, net)
        self.nodes[sid] = (net, runner)
        self.addCleanup(self.stop, sid)
        return runner.start()

    def stop(self, sid):
        node = self.nodes.pop(sid, None)
        if node is None:
            return None
        net, runner = node
        runner.stop()
        return net.stop()

    @defer.inlineCallbacks
    def test_two_servers_elect_the_same_leader(self):
        self.ensemble(2)
        results = yield defer.gatherResults([self.start(1), self.start(2)])
        self.assertEqual([(s, v.leader) for s, v in results],
                         [(P.FOLLOWING, 2), (P.LEADING, 2)])
        self.assertEqual({(v.zxid, v.election_epoch, v.peer_epoch) for _s, v in results},
                         {(0, 1, 0)})

    @defer.inlineCallbacks
    def test_three_servers_elect_the_same_leader(self):
        self.ensemble(3)
        results = yield defer.gatherResults([self.start(sid) for sid in (1, 2, 3)])
        self.assertEqual([(s, v.leader) for s, v in results],
                         [(P.FOLLOWING, 3), (P.FOLLOWING, 3), (P.LEADING, 3)])
        # One connection per pair survives, the one the larger sid dialed.
        for sid, (net, _runner) in self.nodes.items():
            self.assertEqual(net.connected_sids(), [s for s in (1, 2, 3) if s != sid])

    @defer.inlineCallbacks
    def test_the_server_with_the_latest_zxid_leads(self):
        self.ensemble(3, zxids={1: 5})
        results = yield defer.gatherResults([self.start(sid) for sid in (1, 2, 3)])
        self.assertEqual([(s, v.leader) for s, v in results],
                         [(P.LEADING, 1), (P.FOLLOWING, 1), (P.FOLLOWING, 1)])

    @defer.inlineCallbacks
    def test_a_latecomer_follows_the_established_leader(self):
        # 1 and 2 decide without 3; they keep answering after the decision, and
        # 3 (whose own vote would win) joins their leader.
        self.ensemble(3)
        first = yield defer.gatherResults([self.start(1), self.start(2)])
        self.assertEqual([(s, v.leader) for s, v in first], [(P.FOLLOWING, 2), (P.LEADING, 2)])
        state, vote = yield self.start(3)
        self.assertEqual((state, vote.leader), (P.FOLLOWING, 2))

    @defer.inlineCallbacks
    def test_a_new_round_after_the_leader_is_lost(self):
        self.ensemble(3)
        yield defer.gatherResults([self.start(sid) for sid in (1, 2, 3)])
        yield self.stop(3)
        rounds = [self.nodes[sid][1].start() for sid in (1, 2)]
        results = yield defer.gatherResults(rounds)
        self.assertEqual([(s, v.leader) for s, v in results], [(P.FOLLOWING, 2), (P.LEADING, 2)])
        self.assertEqual({v.election_epoch for _s, v in results}, {2})

    @defer.inlineCallbacks
    def test_bad_input_closes_only_that_connection(self):
        log = LogCapture(self)
        self.ensemble(2)
        yield defer.gatherResults([self.start(1), self.start(2)])
        net2 = self.nodes[2][0]
        port2 = self.ms.members[2].election_port
        lost_election = []
        for conn in list(net2._conns.values()):
            conn.lost.addCallback(lambda _: lost_election.append(1))

        for bad in (struct.pack(">q", -7) + b"\0" * 16,                               # handshake
                    handshake(9) + struct.pack(">i", P.MAX_ELECTION_FRAME_BYTES + 1)):  # frame
            factory = RawFactory()
            connector = reactor.connectTCP("127.0.0.1", port2, factory)
            self.addCleanup(connector.disconnect)
            peer = yield factory.proto.made
            peer.transport.write(bad)
            yield peer.lost                    # the server closed it
        self.assertEqual(len(log.warnings()), 2, log.warnings())
        self.assertEqual(lost_election, [])
        self.assertEqual(net2.connected_sids(), [1])
        # The election connection still carries notifications: a new round decides.
        results = yield defer.gatherResults([self.nodes[sid][1].start() for sid in (1, 2)])
        self.assertEqual([v.leader for _s, v in results], [2, 2])

    @defer.inlineCallbacks
    def test_stop_leaves_the_reactor_clean(self):
        # Connections, a dial to a peer that is not there, a handshake timer and
        # the election's timer are all open when stop() is called; trial's
        # dirty-reactor check fails the test if any survives.
        self.ensemble(3)
        yield defer.gatherResults([self.start(1), self.start(2)])
        net2 = self.nodes[2][0]
        accepted = defer.Deferred()
        really_accept = net2._accepted

        def spy(conn):
            really_accept(conn)
            if not accepted.called:
                accepted.callback(conn)
        net2._accepted = spy
        factory = RawFactory()
        reactor.connectTCP("127.0.0.1", self.ms.members[2].election_port, factory)
        peer = yield factory.proto.made
        waiting = yield accepted
        self.assertEqual(net2.pending_handshakes(), 1)
        self.assertTrue(waiting.handshake_timer.active())
        self.nodes[1][1].start()             # dials 3 (not there), sets a timer
        self.assertIn(3, self.nodes[1][0]._dialing)
        yield self.stop(1)
        yield self.stop(2)
        yield peer.lost
