"""The edge's limits and its failure rule, driven over StringTransports.

* Our own bugs stop the server (``ZooKeeperServer.fail``): an exception while
  applying committed txns or while the core handles a request leaves the core
  possibly half-changed, so nothing more may be answered from it.  A bug in
  decoding touches no state and costs only that connection.
* Every queue has a bound: requests pipelined before the handshake, requests
  in flight per connection and in all (globalOutstandingLimit), the replies
  built for a peer that does not read them.
* A connection that never sends its ConnectRequest is closed after
  zookeeper.nio.sessionlessCnxnTimeout, as ZooKeeper closes it
  (tests/ZOOKEEPER_FACTS.md §12); a closed connection whose peer does not read
  its last bytes is aborted after a grace period.

A StringTransport never pushes back by itself, so "the peer stopped reading"
is the transport calling the protocol's ``pauseProducing``, as Twisted's TCP
transport does once more than its bufferSize waits to be sent.
"""
from __future__ import annotations

from zkwire import protocol as p
from zkwire.consts import OpCode

from .test_net import Client, NetTestCase, connect_payload, create, parse_reply


class FatalErrorTests(NetTestCase):
    def setUp(self):
        super().setUp()
        self.fatal = []
        self.server.on_fatal = self.fatal.append

    def test_an_exception_applying_a_commit_stops_the_server(self):
        c = self.handshake()
        other = self.handshake(port=2)
        real_apply = self.server.core.tree.apply

        def broken(hdr, txn):
            if hdr.type == OpCode.create:
                raise RuntimeError("simulated bug in apply")
            return real_apply(hdr, txn)

        self.server.core.tree.apply = broken
        c.request(1, OpCode.create, create("/a"))
        self.flush()
        self.assertEqual(len(self.fatal), 1)
        self.assertIn("applying committed txns", self.server.fatal_error)
        self.assertEqual(c.frames(), [])          # the write is never acknowledged
        self.assertTrue(c.closed and other.closed)
        self.assertIsNone(self.server.listening)
        # nothing more is answered from the half-changed core
        other.request(2, OpCode.exists, dict(path="/", watch=False))
        self.assertEqual(other.frames(), [])

    def test_an_exception_in_the_request_path_stops_the_server(self):
        c = self.handshake()

        def broken(*a, **k):
            raise RuntimeError("simulated bug in prep")

        self.server.core.proposer.prep.prep = broken
        c.request(1, OpCode.create, create("/a"))
        self.flush()
        self.assertEqual(len(self.fatal), 1)
        self.assertIn("request", self.server.fatal_error)
        self.assertTrue(c.closed)

    def test_a_txn_that_does_not_fit_the_live_tree_is_our_bug(self):
        # Prep validated every txn against this tree: a misfit must not become
        # a client's error code (that is only right while replaying a log).
        from types import SimpleNamespace as Rec

        c = self.handshake()
        core = self.server.core
        hdr = Rec(clientId=c.sid, cxid=5, zxid=core.proposer.prep.next_zxid(), time=0, type=OpCode.delete)
        self.server.replicator.propose(hdr, Rec(path="/nowhere"))
        self.server.after_input()
        self.flush()
        self.assertEqual(len(self.fatal), 1)

    def test_a_decoding_bug_closes_only_that_connection(self):
        import zkwire.server.edge.net as net

        c = self.handshake()
        other = self.handshake(port=2)
        real = net.decode_request

        def broken(f):
            raise RuntimeError("simulated codec bug")

        net.decode_request = broken
        try:
            c.request(1, OpCode.exists, dict(path="/", watch=False))
        finally:
            net.decode_request = real
        self.assertTrue(c.closed)
        self.assertEqual(self.fatal, [])
        [(xid, _, err, _)] = self.call(other, 2, OpCode.exists, dict(path="/", watch=False))
        self.assertEqual((xid, err), (2, 0))


class HandshakeTimeoutTests(NetTestCase):
    def test_a_connection_without_connect_request_is_closed(self):
        idle = Client(self.server, port=1)
        done = self.handshake(port=2)
        limit_s = self.server.sessionless_timeout_ms / 1000.0
        waited = 0.0
        while waited < limit_s - 0.5:
            self.clock.advance(0.5)
            waited += 0.5
            done.request(-2, OpCode.ping)        # keeps its session alive
        self.assertFalse(idle.closed)
        self.clock.advance(1.0)
        self.assertTrue(idle.closed)
        self.assertFalse(done.closed)

    def test_a_partial_connect_request_does_not_count(self):
        idle = Client(self.server, port=1)
        idle.send(p.frame(b"\0" * 44)[:10])
        self.clock.advance(self.server.sessionless_timeout_ms / 1000.0 + 0.1)
        self.assertTrue(idle.closed)


class OutstandingLimitTests(NetTestCase):
    def test_requests_pipelined_before_the_handshake_are_bounded(self):
        limit = self.server.config.max_outstanding_per_conn
        c = Client(self.server)

        data = p.frame(connect_payload())
        data += b"".join(p.encode_request(i, OpCode.exists, dict(path="/", watch=False))
                         for i in range(1, limit + 1))
        c.send(data)
        # The session is not created yet: everything waits, and we stop reading.
        self.assertEqual(len(c.proto.conn.early), limit)
        self.assertEqual(c.transport.producerState, "paused")
        self.flush()
        frames = c.frames()
        self.assertEqual(len(frames), limit + 1)   # the ConnectResponse and every answer
        self.assertEqual(c.transport.producerState, "producing")

    def test_global_outstanding_limit_pauses_the_connections_that_add_to_it(self):
        self.server.global_outstanding_limit = 4
        clients = [self.handshake(port=10 + i) for i in range(3)]
        idle = self.handshake(port=20)
        for i, c in enumerate(clients):
            c.request(1, OpCode.create, create("/n%d" % i))
            c.request(2, OpCode.create, create("/m%d" % i))
        # 6 writes wait for the log, over the limit of 4: their connections
        # are no longer read; a connection with nothing waiting still is.
        self.assertEqual(self.server.core.in_process, 6)
        for c in clients:
            self.assertEqual(c.transport.producerState, "paused")
        self.assertEqual(idle.transport.producerState, "producing")
        self.flush()
        self.assertEqual(self.server.core.outstanding, 0)
        for c in clients:
            self.assertEqual(c.transport.producerState, "producing")
            self.assertEqual([e for _, _, e, _ in map(parse_reply, c.frames())], [0, 0])


class SlowReaderTests(NetTestCase):
    """A peer that pipelines reads of a big node and does not read its replies."""

    BIG = 256 << 10

    def setUp(self):
        super().setUp()
        w = self.handshake(port=99)
        self.call(w, 1, OpCode.create, create("/big", b"x" * self.BIG))

    def test_a_peer_that_stops_reading_gets_no_more_replies_built(self):
        c = self.handshake()
        budget = self.server.config.max_output_bytes_per_conn
        sent = []
        real_write = c.transport.write

        def write(data):
            sent.append(len(data))
            real_write(data)
            if sum(sent) > budget:
                c.proto.pauseProducing()     # the kernel buffer and Twisted's are full

        c.transport.write = write
        import zkwire.server.edge.net as net

        real_now, net._write_now = net._write_now, lambda t, d: t.write(d)
        try:
            n = 40 * budget // self.BIG
            c.send(b"".join(p.encode_request(i, OpCode.getData, dict(path="/big", watch=False))
                            for i in range(1, n + 1)))
            # At most the budget plus one batch was built; the rest waits as
            # parsed requests, and we stopped reading from the peer.
            self.assertLessEqual(sum(sent), 2 * budget + self.BIG + 1000)
            self.assertEqual(c.transport.producerState, "paused")
            queued = len(c.proto.conn.queue)
            self.assertGreater(queued, 0)
            answered = len(c.frames())
            # The peer catches up: the transport drained and says so.
            sent.clear()
            c.proto.resumeProducing()
            answered += len(c.frames())
            self.assertLessEqual(sum(sent), 2 * budget + self.BIG + 1000)
            while c.proto.conn.queue:
                sent.clear()
                c.proto.resumeProducing()
                answered += len(c.frames())
            self.assertEqual(answered, n)
            self.assertEqual(c.transport.producerState, "producing")
        finally:
            net._write_now = real_now

    def test_a_closed_connection_that_is_not_read_is_aborted_after_the_grace(self):
        c = self.handshake()
        aborted = []
        c.transport.abortConnection = lambda: aborted.append(True)
        c.request(1, OpCode.closeSession)
        self.flush()
        self.assertTrue(c.closed)                  # loseConnection: waits for the bytes to go
        self.assertEqual(aborted, [])
        self.clock.advance(self.server.close_grace_ms / 1000.0 + 0.1)
        self.assertEqual(aborted, [True])


class MaxCnxnsTests(NetTestCase):
    def test_max_cnxns_counts_every_ip(self):
        self.server.max_cnxns = 2
        a = Client(self.server, host="127.0.0.1", port=1)
        b = Client(self.server, host="127.0.0.2", port=1)
        c = Client(self.server, host="127.0.0.3", port=1)
        self.assertFalse(a.closed or b.closed)
        self.assertTrue(c.closed)


class LongListingTests(NetTestCase):
    """wchp / wchc / dump over many watches or ephemerals are written a few
    chunks per reactor turn, so the other clients are answered meanwhile
    (with 1M watches, building wchp in one go blocked every client for 2.4 s)."""

    N = 40000

    def watched(self):
        c = self.handshake()
        table = self.server.core.watches
        for i in range(self.N):
            table.data.add("/w%d" % i, c.proto.conn)
            if i % 3 == 0:
                table.child.add("/w%d" % i, c.proto.conn)
        table.child.add("/only-child", c.proto.conn)
        return c

    def run_word(self, word, expected):
        other = self.handshake(port=40000)
        four = Client(self.server, port=40001)
        writes = []                               # (who, bytes) in the order written
        for name, cl in (("other", other), ("four", four)):
            real = cl.transport.write
            cl.transport.write = (lambda real, name: lambda data: (
                writes.append((name, data)), real(data)))(real, name)
        import zkwire.server.edge.net as net
        real_now, net._write_now = net._write_now, lambda t, d: t.write(d)
        try:
            four.send(word)
            self.assertFalse(four.closed)         # not all of it in the first turn
            other.request(7, OpCode.exists, dict(path="/", watch=False))
            for _ in range(1000):
                if four.closed:
                    break
                self.flush()
        finally:
            net._write_now = real_now
        self.assertTrue(four.closed)
        self.assertEqual(b"".join(d for who, d in writes if who == "four").decode(), expected)
        who = [w for w, _ in writes]
        # The other client was answered while the listing was still going on.
        self.assertEqual(who.count("other"), 1)
        self.assertIn("four", who[who.index("other") + 1:])
        self.assertLess(who.index("other"), len(who) // 2)
        [reply] = [parse_reply(f) for f in other.frames()]
        self.assertEqual(reply[:1], (7,))

    def test_wchp_is_written_over_several_turns(self):
        c = self.watched()
        sid = "\t0x%x\n" % c.sid
        expected = "".join("/w%d\n%s" % (i, sid) for i in range(self.N))
        expected += "/only-child\n" + sid + "\n"
        self.run_word(b"wchp", expected)

    def test_wchc_is_written_over_several_turns(self):
        c = self.watched()
        expected = "0x%x\n" % c.sid + "".join("\t/w%d\n" % i for i in range(self.N))
        expected += "\t/only-child\n\n"
        self.run_word(b"wchc", expected)
