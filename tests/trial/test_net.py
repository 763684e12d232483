"""zkwire.server.edge.net: ZooKeeperServer + ClientProtocol over StringTransports.

The reactor is a MemoryReactorClock, so time only moves when a test advances it:
``clock.advance(0)`` runs the flush the server schedules for the end of a reactor
turn (group commit), ``clock.advance(tick)`` runs the session-expiry tick.
Expected wire behaviour is Apache ZooKeeper 3.8.0's (tests/ZOOKEEPER_FACTS.md).
"""
from __future__ import annotations

import struct

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial import unittest

from zkwire import protocol as p
from zkwire import records as r
from zkwire.consts import Err, EventType, KeeperState, OpCode, Xid
from zkwire.server.core.frontend import CoreConfig
from zkwire.server.edge.net import ClientProtocol, ZooKeeperServer
from zkwire.server.core.sessions import session_password
from zkwire.server.storage.store import MemoryLog

TICK_MS = 500
OPEN_ACL = [dict(perms=31, id=dict(scheme="world", id="anyone"))]


def connect_payload(timeout=3000, sid=0, passwd=b"\0" * 16, last_zxid=0, read_only=None):
    v = dict(protocolVersion=0, lastZxidSeen=last_zxid, timeOut=timeout, sessionId=sid,
             passwd=passwd, readOnly=bool(read_only))
    if read_only is None:
        return r.ConnectRequest.build(v)
    return r.ConnectRequestRO.build(v)


def create(path, data=b"", flags=0):
    return dict(path=path, data=data, acl=OPEN_ACL, flags=flags)


class Client:
    """One ClientProtocol on a StringTransport, plus a reader for what it was sent."""

    def __init__(self, server, host="127.0.0.1", port=12345):
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", host, port))
        self.proto = ClientProtocol(server)
        self.proto.makeConnection(self.transport)
        self.decoder = p.FrameDecoder(max_frame_bytes=0x7FFFFFFF)
        self.ro = False

    def send(self, data: bytes) -> None:
        self.proto.dataReceived(data)

    def send_frame(self, payload: bytes) -> None:
        self.send(p.frame(payload))

    def request(self, xid, op, req=None) -> None:
        self.send(p.encode_request(xid, op, req))

    def raw(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data

    def frames(self) -> list:
        return self.decoder.feed(self.raw())

    @property
    def closed(self) -> bool:
        return bool(self.transport.disconnecting)

    def lose(self) -> None:
        """The TCP connection went away."""
        self.proto.connectionLost(None)


def parse_reply(payload: bytes):
    hdr, pos = r.ReplyHeader.parse_prefix(payload)
    return hdr.xid, hdr.zxid, hdr.err, payload[pos:]


class NetTestCase(unittest.TestCase):
    max_client_cnxns = 60
    whitelist = ("*",)

    def setUp(self):
        self.clock = MemoryReactorClock()
        self.log = MemoryLog()
        self.server = ZooKeeperServer(
            self.clock, CoreConfig(tick_ms=TICK_MS), host="127.0.0.1", port=0,
            max_client_cnxns=self.max_client_cnxns, log_store=self.log,
            four_letter_whitelist=self.whitelist)
        self.server.start()

    def tearDown(self):
        self.server.stop()

    # --- helpers -------------------------------------------------------------------------
    def flush(self):
        self.clock.advance(0)

    def handshake(self, client=None, timeout=3000, read_only=None, **kw):
        c = client or Client(self.server, **kw)
        c.send_frame(connect_payload(timeout, read_only=read_only))
        self.flush()
        [f] = c.frames()
        rec = r.ConnectResponseRO if read_only is not None else r.ConnectResponse
        resp = rec.parse(f)
        c.sid, c.passwd, c.timeout = resp.sessionId, resp.passwd, resp.timeOut
        return c

    def call(self, c, xid, op, req=None):
        c.request(xid, op, req)
        self.flush()
        return [parse_reply(f) for f in c.frames()]

    def last_zxid(self):
        return self.server.core.tree.last_zxid


class HandshakeTests(NetTestCase):
    def test_handshake_bytes(self):
        c = Client(self.server)
        c.send_frame(connect_payload(timeout=3000))
        self.assertEqual(c.raw(), b"")              # the createSession txn is not committed yet
        self.flush()
        [f] = c.frames()
        self.assertEqual(len(f), 36)                # no readOnly byte: the request had none
        resp = r.ConnectResponse.parse(f)
        self.assertEqual((resp.protocolVersion, resp.timeOut), (0, 3000))
        self.assertEqual(resp.passwd, session_password(resp.sessionId))
        self.assertEqual(resp.sessionId >> 56, 1)
        self.assertFalse(c.closed)
        self.assertEqual(self.last_zxid(), 1)

    def test_handshake_with_read_only_byte(self):
        for ro in (False, True):
            c = Client(self.server, port=20000 + ro)
            c.send_frame(connect_payload(timeout=100000, read_only=ro))
            self.flush()
            [f] = c.frames()
            self.assertEqual(len(f), 37)
            self.assertEqual(f[-1:], b"\x00")       # a standalone server is not read-only
            self.assertEqual(r.ConnectResponseRO.parse(f).timeOut, 10000)

    def test_handshake_split_into_single_bytes(self):
        c = Client(self.server)
        for b in p.frame(connect_payload()):
            c.send(bytes([b]))
        self.flush()
        [f] = c.frames()
        self.assertEqual(r.ConnectResponse.parse(f).timeOut, 3000)

    def test_malformed_connect_closes_without_reply(self):
        for i, payload in enumerate((b"\x00\x00\x00",
                                     struct.pack(">ii", 1, OpCode.exists) + b"\x00\x00\x00\x01/\x00")):
            c = Client(self.server, port=30000 + i)
            c.send_frame(payload)
            self.flush()
            self.assertTrue(c.closed)
            self.assertEqual(c.raw(), b"")

    def test_reconnect_and_wrong_password(self):
        a = self.handshake()
        b = Client(self.server, port=2)
        b.send_frame(connect_payload(sid=a.sid, passwd=b"x" * 16, last_zxid=self.last_zxid()))
        self.flush()
        [f] = b.frames()
        # protocolVersion 0, timeOut 0, sessionId 0, passwd = 16 zero bytes
        self.assertEqual(f, bytes.fromhex("00000000" "00000000" "0000000000000000" "00000010")
                         + bytes(16))
        self.assertTrue(b.closed)
        self.assertTrue(a.closed)                   # the live connection is dropped as well
        c = Client(self.server, port=3)
        c.send_frame(connect_payload(sid=a.sid, passwd=a.passwd, last_zxid=self.last_zxid()))
        self.flush()
        [f] = c.frames()
        self.assertEqual(r.ConnectResponse.parse(f).sessionId, a.sid)
        self.assertFalse(c.closed)

    def test_client_ahead_of_server(self):
        c = Client(self.server)
        c.send_frame(connect_payload(last_zxid=5))
        self.flush()
        self.assertTrue(c.closed)
        self.assertEqual(c.raw(), b"")
        self.assertEqual(self.last_zxid(), 0)


class RequestTests(NetTestCase):
    def test_ping(self):
        c = self.handshake()
        c.request(Xid.PING, OpCode.ping)
        # a ping is answered at once, no flush needed
        [f] = c.frames()
        self.assertEqual(f, struct.pack(">iqi", Xid.PING, 1, 0))

    def test_write_answered_only_after_the_flush(self):
        c = self.handshake()
        c.request(1, OpCode.create, create("/a", b"x"))
        c.request(2, OpCode.getData, dict(path="/a", watch=False))
        self.assertEqual(c.raw(), b"")
        self.flush()
        frames = c.frames()
        self.assertEqual(len(frames), 2)
        xid, zxid, err, body = parse_reply(frames[0])
        self.assertEqual((xid, zxid, err), (1, 2, 0))
        self.assertEqual(r.CreateResponse.parse(body).path, "/a")
        xid, zxid, err, body = parse_reply(frames[1])
        self.assertEqual((xid, zxid, err), (2, 2, 0))
        self.assertEqual(r.GetDataResponse.parse(body).data, b"x")

    def test_group_commit_one_sync_per_turn(self):
        a, b = self.handshake(port=1), self.handshake(port=2)
        syncs = self.log.syncs
        a.request(1, OpCode.create, create("/x"))
        b.request(1, OpCode.create, create("/y"))
        a.request(2, OpCode.setData, dict(path="/x", data=b"1", version=-1))
        self.flush()
        self.assertEqual(self.log.syncs, syncs + 1)
        self.assertEqual([parse_reply(f)[:3] for f in a.frames()], [(1, 2 + 1, 0), (2, 5, 0)])
        self.assertEqual([parse_reply(f)[:3] for f in b.frames()], [(1, 4, 0)])

    def test_notification_frame(self):
        a, b = self.handshake(port=1), self.handshake(port=2)
        self.call(a, 1, OpCode.create, create("/q1"))
        self.call(b, 1, OpCode.getData, dict(path="/q1", watch=True))
        [(_, set_zxid, _, _)] = self.call(a, 2, OpCode.setData, dict(path="/q1", data=b"v", version=-1))
        [f] = b.frames()
        # RH(xid -1, zxid, err 0) + WatcherEvent(NodeDataChanged, SyncConnected, "/q1").
        # ZooKeeper 3.9 puts the zxid of the change in the header (ZOOKEEPER-4655);
        # 3.8 sent -1 (ffffffffffffffff).
        self.assertEqual(set_zxid, 4)
        self.assertEqual(f, bytes.fromhex("ffffffff" "0000000000000004" "00000000"
                                          "00000003000000030000000" "32f7131"))

    def test_notification_before_reply_on_the_same_connection(self):
        c = self.handshake()
        self.call(c, 1, OpCode.create, create("/w"))
        self.call(c, 2, OpCode.getData, dict(path="/w", watch=True))
        c.request(3, OpCode.setData, dict(path="/w", data=b"", version=-1))
        self.flush()
        frames = c.frames()
        self.assertEqual(len(frames), 2)
        self.assertEqual(parse_reply(frames[0])[0], Xid.NOTIFICATION)
        ev = r.WatcherEvent.parse(parse_reply(frames[0])[3])
        self.assertEqual((ev.type, ev.state, ev.path),
                         (EventType.NodeDataChanged, KeeperState.SyncConnected, "/w"))
        self.assertEqual(parse_reply(frames[1])[:3], (3, 3, 0))

    def test_close_session(self):
        c = self.handshake()
        self.call(c, 1, OpCode.create, create("/e", flags=1))
        [(xid, zxid, err, body)] = self.call(c, 2, OpCode.closeSession)
        self.assertEqual((xid, zxid, err, body), (2, 3, 0, b""))
        self.assertTrue(c.closed)
        self.assertIsNone(self.server.core.tree.get("/e"))

    def test_unknown_opcode_answers_then_closes(self):
        c = self.handshake()
        for_later = self.last_zxid()
        c.send_frame(struct.pack(">ii", 5, 99) + b"body")
        self.flush()
        [f] = c.frames()
        self.assertEqual(f, struct.pack(">iqi", 5, -1, Err.UNIMPLEMENTED))
        self.assertTrue(c.closed)
        self.assertEqual(self.last_zxid(), for_later)
        # the session survives
        d = Client(self.server, port=7)
        d.send_frame(connect_payload(sid=c.sid, passwd=c.passwd, last_zxid=self.last_zxid()))
        self.flush()
        self.assertEqual(r.ConnectResponse.parse(d.frames()[0]).sessionId, c.sid)

    # As ZooKeeper (tests/ZOOKEEPER_FACTS.md §11, §13): a request whose record
    # does not parse is answered MARSHALLINGERROR on a connection that stays
    # open; a write spends a zxid on it (an error txn), a read does not.
    # Bytes after a complete record are ignored.
    def test_truncated_read_body_is_a_marshalling_error(self):
        c = self.handshake()
        z = self.last_zxid()
        for xid, bad in [
            (1, struct.pack(">ii", 1, OpCode.exists)),
            (2, struct.pack(">ii", 2, OpCode.getChildren) + b"\x00\x00\x00\x01/"),
            (3, struct.pack(">ii", 3, OpCode.getData) + b"\x00\x00\x00\x64/"),
        ]:
            c.send_frame(bad)
            self.flush()
            self.assertEqual(c.frames(), [struct.pack(">iqi", xid, z, Err.MARSHALLINGERROR)])
            self.assertFalse(c.closed)
        self.assertEqual(self.last_zxid(), z)

    def test_truncated_write_body_spends_a_zxid(self):
        c = self.handshake()
        z = self.last_zxid()
        c.send_frame(struct.pack(">ii", 1, OpCode.create) + b"\x00\x00\x00\x02/a")
        self.flush()
        self.assertEqual(c.frames(), [struct.pack(">iqi", 1, z + 1, Err.MARSHALLINGERROR)])
        self.assertFalse(c.closed)
        self.assertEqual(self.last_zxid(), z + 1)

    def test_trailing_garbage_after_request_is_ignored(self):
        c = self.handshake()
        c.send_frame(struct.pack(">ii", 1, OpCode.exists)
                     + r.ExistsRequest.build(dict(path="/", watch=False)) + b"garbage")
        self.flush()
        [f] = c.frames()
        self.assertEqual(parse_reply(f)[:3], (1, self.last_zxid(), 0))
        self.assertFalse(c.closed)

    def test_connect_with_trailing_garbage(self):
        c = Client(self.server)
        c.send_frame(connect_payload(read_only=False) + b"\x01\x02\x03\x04\x05")
        self.flush()
        [f] = c.frames()
        self.assertEqual(len(f), 37)
        self.assertFalse(c.closed)

    def test_create_session_opcode_on_established_session(self):
        # tests/ZOOKEEPER_FACTS.md §3: op -10 after the handshake -> MARSHALLINGERROR,
        # zxid consumed, stays open.
        c = self.handshake()
        z = self.last_zxid()
        c.send_frame(struct.pack(">ii", 1, OpCode.createSession))
        self.flush()
        self.assertEqual([parse_reply(f)[:3] for f in c.frames()],
                         [(1, z + 1, Err.MARSHALLINGERROR)])
        self.assertFalse(c.closed)

    def test_read_inside_multi_and_write_inside_multi_read(self):
        # tests/ZOOKEEPER_FACTS.md §6: both are MARSHALLINGERROR; the multi consumes a zxid;
        # connection stays.
        c = self.handshake()
        z = self.last_zxid()
        payload = (struct.pack(">ii", 1, OpCode.multi)
                   + r.MultiHeader.build(dict(type=OpCode.getData, done=False, err=-1))
                   + r.GetDataRequest.build(dict(path="/", watch=False))
                   + r.MultiHeader.build(dict(type=-1, done=True, err=-1)))
        c.send_frame(payload)
        self.flush()
        self.assertEqual([parse_reply(f)[:4] for f in c.frames()],
                         [(1, z + 1, Err.MARSHALLINGERROR, b"")])
        self.assertFalse(c.closed)
        payload = (struct.pack(">ii", 2, OpCode.multiRead)
                   + r.MultiHeader.build(dict(type=OpCode.create, done=False, err=-1))
                   + r.CreateRequest.build(create("/x"))
                   + r.MultiHeader.build(dict(type=-1, done=True, err=-1)))
        c.send_frame(payload)
        self.flush()
        # ...and the multiRead's reply carries an empty result list (tests/ZOOKEEPER_FACTS.md §6).
        self.assertEqual([parse_reply(f)[:4] for f in c.frames()],
                         [(2, z + 1, Err.MARSHALLINGERROR, bytes.fromhex("ffffffff01ffffffff"))])
        self.assertFalse(c.closed)

    def test_pipelined_requests_in_one_segment(self):
        c = self.handshake()
        data = b"".join([
            p.encode_request(1, OpCode.create, create("/p")),
            p.encode_request(2, OpCode.getData, dict(path="/p", watch=False)),
            p.encode_request(3, OpCode.delete, dict(path="/p", version=-1)),
            p.encode_request(4, OpCode.exists, dict(path="/p", watch=False)),
        ])
        c.send(data)
        self.flush()
        self.assertEqual([parse_reply(f)[:3] for f in c.frames()],
                         [(1, 2, 0), (2, 2, 0), (3, 3, 0), (4, 3, Err.NONODE)])


class BadInputTests(NetTestCase):
    def test_garbage_closes_only_that_connection(self):
        good = self.handshake(port=1)
        bad = self.handshake(port=2)
        bad.send(b"\xff\xff\xff\xfe garbage that is not a frame")
        self.flush()
        self.assertTrue(bad.closed)
        self.assertEqual(bad.raw(), b"")
        # the other connection, and the server, keep working
        [(xid, zxid, err, _)] = self.call(good, 1, OpCode.create, create("/still"))
        self.assertEqual((xid, err), (1, 0))
        self.assertFalse(good.closed)
        fresh = self.handshake(port=3)
        self.assertFalse(fresh.closed)

    def test_garbage_before_handshake(self):
        c = Client(self.server)
        c.send(b"abcdefgh")             # 'abcd' as a length is far above jute.maxbuffer
        self.assertTrue(c.closed)
        self.assertEqual(c.raw(), b"")

    def test_short_request_frames_close(self):
        for i, payload in enumerate((b"\x00\x01", b"\x00\x00\x00\x01")):
            c = self.handshake(port=100 + i)
            c.send_frame(payload)
            self.flush()
            self.assertTrue(c.closed)
            self.assertEqual(c.raw(), b"")

    def test_frame_length_limits(self):
        for i, length in enumerate((0x100000, 0x7FFFFFFF, 0, -1, -100)):
            c = self.handshake(port=200 + i)
            c.send(struct.pack(">i", length))
            self.assertTrue(c.closed, length)
            self.assertEqual(c.raw(), b"")
        # exactly jute.maxbuffer is accepted: the server waits for the body
        c = self.handshake(port=300)
        c.send(struct.pack(">i", 0xFFFFF))
        self.assertFalse(c.closed)
        # also as the very first frame
        d = Client(self.server, port=301)
        d.send(struct.pack(">i", 0x100000))
        self.assertTrue(d.closed)

    def test_max_size_set_data_frame_accepted(self):
        c = self.handshake()
        self.call(c, 1, OpCode.create, create("/big"))
        head = struct.pack(">ii", 2, OpCode.setData) + r.SyncRequest.build(dict(path="/big"))
        data_len = 0xFFFFF - len(head) - 4 - 4
        payload = head + struct.pack(">i", data_len) + b"\x00" * data_len + struct.pack(">i", -1)
        self.assertEqual(len(payload), 0xFFFFF)
        c.send_frame(payload)
        self.flush()
        self.assertEqual([parse_reply(f)[:3] for f in c.frames()], [(2, 3, 0)])
        self.assertFalse(c.closed)


class ExpiryTests(NetTestCase):
    def test_session_expiry_closes_the_connection(self):
        c = self.handshake(timeout=1000)     # connected at t=0: deadline 1500 ms
        self.call(c, 1, OpCode.create, create("/e", flags=1))
        z = self.last_zxid()
        # (clock steps are binary fractions so the float clock stays exact)
        self.clock.advance(1.0)
        self.flush()
        self.assertFalse(c.closed)
        self.clock.advance(0.25)
        self.flush()
        self.assertFalse(c.closed)
        self.clock.advance(0.25)             # t = 1.5 s: the tick expires the session
        self.flush()
        self.assertTrue(c.closed)
        self.assertEqual(c.raw(), b"")       # closed without any frame
        self.assertEqual(self.last_zxid(), z + 1)
        self.assertIsNone(self.server.core.tree.get("/e"))

    def test_pings_keep_the_session_alive(self):
        c = self.handshake(timeout=1000)
        for _ in range(12):
            self.clock.advance(0.25)
            c.request(Xid.PING, OpCode.ping)
            self.flush()
            self.assertFalse(c.closed)
            self.assertEqual(len(c.frames()), 1)
        # last ping at 3.0 s: deadline (3000 + 1000) rounded up to the next tick = 4.5 s
        for _ in range(5):
            self.clock.advance(0.25)
            self.flush()
            self.assertFalse(c.closed, self.clock.seconds())
        self.clock.advance(0.25)
        self.flush()
        self.assertTrue(c.closed)

    def test_lost_connection_keeps_session_until_expiry(self):
        c = self.handshake(timeout=1000)
        self.call(c, 1, OpCode.create, create("/e", flags=1))
        c.lose()
        self.clock.advance(1.0)
        self.flush()
        self.assertIsNotNone(self.server.core.tree.get("/e"))
        self.clock.advance(0.5)
        self.flush()
        self.assertIsNone(self.server.core.tree.get("/e"))


class FourLetterWordTests(NetTestCase):
    def test_ruok(self):
        c = Client(self.server)
        c.send(b"ruok")
        self.assertEqual(c.raw(), b"imok")
        self.assertTrue(c.closed)

    def test_ruok_split_and_with_trailing_bytes(self):
        c = Client(self.server, port=1)
        c.send(b"ru")
        self.assertFalse(c.closed)
        c.send(b"ok")
        self.assertEqual(c.raw(), b"imok")
        self.assertTrue(c.closed)
        d = Client(self.server, port=2)
        d.send(b"ruokruok")
        self.assertEqual(d.raw(), b"imok")
        self.assertTrue(d.closed)

    def test_isro_and_upper_case(self):
        c = Client(self.server, port=1)
        c.send(b"isro")
        self.assertEqual(c.raw(), b"rw")
        d = Client(self.server, port=2)
        d.send(b"RUOK")
        self.assertEqual(d.raw(), b"")
        self.assertTrue(d.closed)

    def test_only_first_bytes_of_a_connection(self):
        c = self.handshake()
        c.send(b"ruok")                       # after the handshake: a (bad) frame length
        self.assertEqual(c.raw(), b"")
        self.assertTrue(c.closed)

    def test_srvr_lines(self):
        c = Client(self.server)
        c.send(b"srvr")
        text = c.raw().decode()
        self.assertTrue(text.startswith("Zookeeper version: "))
        self.assertIn("\nMode: standalone\n", text)
        self.assertIn("\nNode count: 5\n", text)
        self.assertIn("\nZxid: 0x0\n", text)
        self.assertTrue(c.closed)


class WhitelistTests(NetTestCase):
    whitelist = ("ruok",)

    def test_non_whitelisted_word(self):
        c = Client(self.server, port=1)
        c.send(b"envi")
        self.assertEqual(c.raw(), b"envi is not executed because it is not in the whitelist.\n")
        self.assertTrue(c.closed)
        d = Client(self.server, port=2)
        d.send(b"ruok")
        self.assertEqual(d.raw(), b"imok")

    def test_srvr_is_always_enabled(self):
        # ZooKeeper's FourLetterCommands adds srvr to any whitelist (zkServer.sh needs it):
        # with 4lw.commands.whitelist=ruok, srvr answers and stat is refused.
        c = Client(self.server, port=1)
        c.send(b"srvr")
        self.assertTrue(c.raw().startswith(b"Zookeeper version: "))
        d = Client(self.server, port=2)
        d.send(b"stat")
        self.assertEqual(d.raw(), b"stat is not executed because it is not in the whitelist.\n")


class DefaultWhitelistTests(NetTestCase):
    whitelist = ("srvr",)

    def test_default_whitelist_is_srvr_only(self):
        c = Client(self.server, port=1)
        c.send(b"ruok")
        self.assertEqual(c.raw(), b"ruok is not executed because it is not in the whitelist.\n")
        d = Client(self.server, port=2)
        d.send(b"srvr")
        self.assertTrue(d.raw().startswith(b"Zookeeper version: "))


class MaxClientCnxnsTests(NetTestCase):
    max_client_cnxns = 2

    def test_per_ip_limit(self):
        a = self.handshake(host="127.0.0.1", port=1)
        b = self.handshake(host="127.0.0.1", port=2)
        third = Client(self.server, host="127.0.0.1", port=3)
        self.assertTrue(third.closed)
        third.send(p.frame(connect_payload()))
        self.flush()
        self.assertEqual(third.raw(), b"")
        # another address has its own budget
        other = self.handshake(host="127.0.0.2", port=4)
        self.assertFalse(other.closed)
        # a closed connection frees a slot
        a.lose()
        again = self.handshake(host="127.0.0.1", port=5)
        self.assertFalse(again.closed)
        self.assertFalse(b.closed)
