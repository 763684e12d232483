"""zkwire.protocol: frames, request decoding, response encoding, and fuzzing.

Expected bytes come from frames Apache ZooKeeper 3.8.0 actually sent
(tests/ZOOKEEPER_FACTS.md §1, §2, §6 and §11).
"""
from __future__ import annotations

import struct
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkwire import protocol as p
from zkwire import records as r
from zkwire.consts import Err, EventType, KeeperState, OpCode, Xid
from zkwire.protocol import FrameDecoder, ProtocolError
from zkwire.server.core.tree import TxnResult

from . import record_strategy

FAST = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

H = bytes.fromhex


def be32(n):
    return struct.pack(">i", n)


def stat(**kw):
    s = dict.fromkeys(r.Stat.fields, 0)
    s.update(kw)
    return tuple(s[f] for f in r.Stat.fields)


# --- frames -----------------------------------------------------------------------------

def test_frame_prefixes_length():
    assert p.frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert p.frame(b"") == b"\x00\x00\x00\x00"


def test_decoder_splits_and_joins():
    d = FrameDecoder()
    stream = p.frame(b"one") + p.frame(b"two!") + p.frame(b"3")
    assert d.feed(stream) == [b"one", b"two!", b"3"]
    assert d.buffered() == 0
    # byte by byte
    got = []
    for i in range(len(stream)):
        got.extend(d.feed(stream[i:i + 1]))
    assert got == [b"one", b"two!", b"3"]
    assert d.buffered() == 0


def test_decoder_keeps_partial_frame():
    d = FrameDecoder()
    assert d.feed(p.frame(b"hello")[:6]) == []
    assert d.buffered() == 6
    assert d.feed(b"llo" + p.frame(b"x")[:2]) == [b"hello"]
    assert d.buffered() == 2
    assert d.feed(p.frame(b"x")[2:]) == [b"x"]


def test_peek_first_word():
    d = FrameDecoder()
    assert d.peek_first_word() is None
    d.feed(b"ru")
    assert d.peek_first_word() is None
    with pytest.raises(ProtocolError):
        d.feed(b"ok")  # 'ruok' read as a length is far above jute.maxbuffer


@pytest.mark.parametrize("length", [0, -1, -100, 0x100000, 0x100064, 0x7FFFFFFF, -(2 ** 31)])
def test_bad_frame_lengths_rejected(length):
    # ZooKeeper closes the connection for length <= 0 or > jute.maxbuffer (0xfffff).
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(be32(length))


def test_max_frame_length_accepted_and_waits_for_body():
    d = FrameDecoder()
    assert d.feed(be32(0xFFFFF)) == []
    assert d.feed(b"\x00" * 0xFFFFE) == []
    assert d.feed(b"\x07") == [b"\x00" * 0xFFFFE + b"\x07"]


def test_custom_max_frame_bytes():
    d = FrameDecoder(max_frame_bytes=10)
    assert d.feed(p.frame(b"x" * 10)) == [b"x" * 10]
    with pytest.raises(ProtocolError):
        d.feed(be32(11))


def test_bad_length_after_good_frames_raises():
    d = FrameDecoder()
    with pytest.raises(ProtocolError):
        d.feed(p.frame(b"ok") + be32(0))


# --- ConnectRequest ------------------------------------------------------------------------

KAZOO_CONNECT = H("000000000000000000000000000007d0000000000000000000000010"
                  "0000000000000000000000000000000000")


def test_decode_connect_with_read_only_byte():
    req, ro = p.decode_connect(KAZOO_CONNECT)
    assert ro is True
    assert (req.protocolVersion, req.lastZxidSeen, req.timeOut, req.sessionId) == (0, 0, 2000, 0)
    assert req.passwd == b"\x00" * 16
    assert req.readOnly is False


def test_decode_connect_without_read_only_byte():
    req, ro = p.decode_connect(KAZOO_CONNECT[:-1])
    assert ro is False
    assert req.timeOut == 2000 and req.sessionId == 0


@pytest.mark.parametrize("passwd, expected", [(be32(-1), None), (be32(0), b"")])
def test_decode_connect_null_or_empty_password(passwd, expected):
    payload = be32(0) + struct.pack(">q", 0) + be32(5000) + struct.pack(">q", 0) + passwd
    req, ro = p.decode_connect(payload)
    assert ro is False and req.passwd == expected and req.timeOut == 5000
    req, ro = p.decode_connect(payload + b"\x01")
    assert ro is True and req.readOnly is True


def test_decode_connect_ignores_trailing_bytes():
    # tests/ZOOKEEPER_FACTS.md §2: readOnly byte + 5 extra bytes -> a normal 37-byte response.
    req, ro = p.decode_connect(KAZOO_CONNECT + b"\x01\x02\x03\x04\x05")
    assert ro is True
    assert req.timeOut == 2000 and req.passwd == b"\x00" * 16


def test_decode_connect_max_size_zero_frame():
    # tests/ZOOKEEPER_FACTS.md §11: a 0xfffff-byte all-zero "connect" frame is a valid
    # ConnectRequest (timeout 0, sid 0, empty passwd, readOnly false) answered with the
    # readOnly byte.
    req, ro = p.decode_connect(b"\x00" * 0xFFFFF)
    assert ro is True
    assert (req.timeOut, req.sessionId, req.passwd, req.readOnly) == (0, 0, b"", False)


@pytest.mark.parametrize("payload", [b"", b"\x00" * 3, b"\x00" * 27, KAZOO_CONNECT[:30],
                                     KAZOO_CONNECT[:24] + be32(-2)])
def test_decode_connect_malformed(payload):
    with pytest.raises(ProtocolError):
        p.decode_connect(payload)


# --- requests ---------------------------------------------------------------------------------

REQUEST_OPS = sorted(p.REQUEST_RECORDS)


@pytest.mark.parametrize("op", REQUEST_OPS)
@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_request_round_trip_every_opcode(op, data):
    rec = p.REQUEST_RECORDS[op]
    value = data.draw(record_strategy(rec))
    xid = data.draw(st.integers(-(2 ** 31), 2 ** 31 - 1))
    wire = p.encode_request(xid, op, value)
    assert struct.unpack(">i", wire[:4])[0] == len(wire) - 4
    xid2, op2, req = p.decode_request(wire[4:])
    assert (xid2, op2) == (xid, op)
    assert rec.build(req) == rec.build(value)
    assert p.encode_request(xid2, op2, req) == wire


@pytest.mark.parametrize("op", [OpCode.ping, OpCode.closeSession, OpCode.whoAmI])
def test_header_only_requests(op):
    wire = p.encode_request(7, op)
    assert wire == p.frame(struct.pack(">ii", 7, op))
    assert p.decode_request(wire[4:]) == (7, op, None)


def test_ping_request_bytes():
    assert p.encode_request(Xid.PING, OpCode.ping) == H("00000008fffffffe0000000b")


@pytest.mark.parametrize("op", [99, 0, 10, -1, 1000])
def test_unknown_opcode_decodes_with_none(op):
    xid, op2, req = p.decode_request(struct.pack(">ii", 3, op) + b"whatever")
    assert (xid, op2, req) == (3, op, None)


@pytest.mark.parametrize("payload", [b"", b"\x00", b"\x00\x00", b"\x00\x00\x00\x01",
                                     b"\x00\x00\x00\x01\x00\x00\x00"])
def test_request_shorter_than_header(payload):
    with pytest.raises(ProtocolError):
        p.decode_request(payload)


def test_trailing_bytes_after_a_request_are_ignored():
    # ZOOKEEPER_FACTS.md §11 trailing-bytes-ignored, §13 trailing-bytes-ignored-per-opcode.
    body = r.ExistsRequest.build(dict(path="/", watch=True))
    xid, op, req = p.decode_request(struct.pack(">ii", 1, OpCode.exists) + body + b"garbage")
    assert (xid, op, req.path, req.watch) == (1, OpCode.exists, "/", True)
    body = r.AuthPacket.build(dict(type=0, scheme="digest", auth=b"u:p"))
    assert p.decode_request(struct.pack(">ii", -4, OpCode.auth) + body + b"x")[2].scheme == "digest"


def test_truncated_request_body_decodes_as_malformed():
    # ZOOKEEPER_FACTS.md §13 truncated-read-bodies: getChildren without its
    # watch byte is answered MARSHALLINGERROR on a connection that stays open.
    payload = struct.pack(">ii", 1, OpCode.getChildren) + r.SyncRequest.build(dict(path="/"))
    xid, op, req = p.decode_request(payload)
    assert (xid, op) == (1, OpCode.getChildren)
    assert isinstance(req, p.Malformed) and "GetChildrenRequest" in req.reason


CREATE = dict(path="/g/tx", data=b"t",
              acl=[dict(perms=31, id=dict(scheme="world", id="anyone"))], flags=0)


def test_multi_round_trip_matches_kazoo_bytes():
    # kazoo's "transaction ok" frame from tests/golden/kazoo.json.
    golden = H("000000110000000e0000000100ffffffff000000052f672f74780000000174000000010000001f"
               "00000005776f726c6400000006616e796f6e65000000000000000500ffffffff000000052f672f"
               "6332000000026433ffffffff0000000d00ffffffff000000022f67000000010000000200ffffff"
               "ff000000062f672f6e6577ffffffffffffffff01ffffffff")
    xid, op, ops = p.decode_request(golden)
    assert (xid, op) == (0x11, OpCode.multi)
    assert [t for t, _ in ops] == [OpCode.create, OpCode.setData, OpCode.check, OpCode.delete]
    assert ops[0][1].path == "/g/tx" and ops[1][1].version == -1 and ops[2][1].version == 1
    assert p.encode_request(xid, op, ops) == p.frame(golden)


def test_empty_multi_and_multi_read():
    for op in (OpCode.multi, OpCode.multiRead):
        wire = p.encode_request(4, op, [])
        assert wire[4:] == struct.pack(">ii", 4, op) + H("ffffffff01ffffffff")
        assert p.decode_request(wire[4:]) == (4, op, [])


def test_multi_end_header_err_zero_accepted():
    # tests/ZOOKEEPER_FACTS.md §6: only `done` matters in the end header.
    payload = struct.pack(">ii", 2, OpCode.multi) + H("ffffffff0100000000")
    assert p.decode_request(payload) == (2, OpCode.multi, [])


def test_multi_read_round_trip():
    ops = [(OpCode.getChildren, dict(path="/mm", watch=False)),
           (OpCode.getData, dict(path="/mm", watch=True))]
    wire = p.encode_request(9, OpCode.multiRead, ops)
    xid, op, got = p.decode_request(wire[4:])
    assert (xid, op) == (9, OpCode.multiRead)
    assert [(t, b.path, b.watch) for t, b in got] == [(8, "/mm", False), (4, "/mm", True)]


@pytest.mark.parametrize("cut", [1, 5, 9, 20])
def test_multi_truncated(cut):
    wire = p.encode_request(1, OpCode.multi, [(OpCode.create, CREATE)])[4:]
    assert isinstance(p.decode_request(wire[:-cut])[2], p.Malformed)


def test_multi_without_end_header():
    wire = p.encode_request(1, OpCode.multi, [(OpCode.delete, dict(path="/a", version=-1))])[4:]
    assert isinstance(p.decode_request(wire[:-9])[2], p.Malformed)


@pytest.mark.parametrize("op", [OpCode.multi, OpCode.multiRead])
def test_unknown_op_inside_multi_is_malformed(op):
    # ZOOKEEPER_FACTS.md §13 multi-odd-op-lists: op 99 inside -> MARSHALLINGERROR.
    payload = struct.pack(">ii", 1, op) + H("0000006300ffffffff") + H("ffffffff01ffffffff")
    assert isinstance(p.decode_request(payload)[2], p.Malformed)


def test_multi_ends_at_the_first_done_header():
    # ZOOKEEPER_FACTS.md §13 multi-odd-op-lists: (13, done, -1) + a check body -> an empty multi.
    payload = struct.pack(">ii", 1, OpCode.multi) + H("0000000d01ffffffff") + H("000000022f74ffffffff")
    assert p.decode_request(payload) == (1, OpCode.multi, [])


# --- responses -------------------------------------------------------------------------------

def test_notification_bytes():
    # tests/ZOOKEEPER_FACTS.md §1: RH(xid -1, zxid -1, err 0) + WatcherEvent(3, 3, "/q1").
    wire = p.encode_event(-1, EventType.NodeDataChanged, KeeperState.SyncConnected, "/q1")
    assert wire == p.frame(H("ffffffffffffffffffffffff00000000000000030000000300000003"
                             "2f7131"))


def test_connect_response_bytes():
    # tests/ZOOKEEPER_FACTS.md §2: new session, no readOnly byte in the request -> 36 bytes.
    passwd = H("3f7e0ae23bcac14e9e67abfb19d24a69")
    wire = p.encode_connect(1000, 0x010000032F1C0008, passwd, False, False)
    assert wire == p.frame(H("00000000000003e8010000032f1c000800000010") + passwd)
    assert len(wire) == 4 + 36
    wire = p.encode_connect(1000, 0x010000032F1C0008, passwd, False, True)
    assert wire == p.frame(H("00000000000003e8010000032f1c000800000010") + passwd + b"\x00")


def test_expired_session_connect_response_bytes():
    wire = p.encode_connect(0, 0, b"\x00" * 16, False, False)
    assert wire == p.frame(H("00000000" "00000000" "0000000000000000" "00000010") + bytes(16))


def test_auth_and_ping_and_error_replies_are_header_only():
    assert p.encode_reply(Xid.AUTH, 0, 0, OpCode.auth, None) == p.frame(
        H("fffffffc000000000000000000000000"))
    assert p.encode_reply(Xid.AUTH, 0, Err.AUTHFAILED, OpCode.auth, None) == p.frame(
        H("fffffffc0000000000000000ffffff8d"))
    assert p.encode_reply(Xid.PING, 0xB, 0, OpCode.ping, None) == p.frame(
        H("fffffffe000000000000000b00000000"))
    # exists with no body: RH(xid 1, zxid 0x17a, err -5)
    assert p.encode_reply(1, 0x17A, Err.MARSHALLINGERROR, OpCode.exists, None) == p.frame(
        H("00000001000000000000017afffffffb"))
    # An error reply never carries a body, even if one is passed.
    assert p.encode_reply(4, 3, Err.NONODE, OpCode.getData, (b"x", stat())) == p.frame(
        H("00000004000000000000000300000000")[:12] + be32(Err.NONODE))


def test_unimplemented_reply_bytes():
    assert p.encode_reply(5, -1, Err.UNIMPLEMENTED, 99, None) == p.frame(
        H("00000005fffffffffffffffffffffffa"))


def test_sync_reply_echoes_path():
    assert p.encode_reply(15, 0xB, 0, OpCode.sync, "/") == p.frame(
        H("0000000f000000000000000b00000000000000012f"))


def test_read_reply_bodies():
    s = stat(czxid=3, mzxid=4, version=1, dataLength=1, pzxid=3)
    head = H("00000002000000000000000400000000")
    sb = r.Stat.build(p.stat_value(s))
    assert p.encode_reply(2, 4, 0, OpCode.getData, (b"y", s)) == p.frame(head + H("0000000179") + sb)
    assert p.encode_reply(2, 4, 0, OpCode.getData, (None, s)) == p.frame(head + H("ffffffff") + sb)
    assert p.encode_reply(2, 4, 0, OpCode.exists, s) == p.frame(head + sb)
    assert p.encode_reply(2, 4, 0, OpCode.getChildren, ["a", "bc"]) == p.frame(
        head + H("00000002000000016100000002" "6263"))
    assert p.encode_reply(2, 4, 0, OpCode.getChildren2, (["a"], s)) == p.frame(
        head + H("000000010000000161") + sb)
    acl = ((31, "world", "anyone"),)
    assert p.encode_reply(2, 4, 0, OpCode.getACL, (acl, s)) == p.frame(
        head + H("000000010000001f00000005776f726c6400000006616e796f6e65") + sb)


def _rc(type_, zxid=7, err=0, path=None, st_=None):
    rc = TxnResult(type_, zxid)
    rc.err, rc.path, rc.stat = err, path, st_
    return rc


def test_write_reply_bodies():
    s = stat(czxid=9, mzxid=9, pzxid=9)
    head = H("0000000b000000000000000900000000")
    assert p.encode_reply(11, 9, 0, OpCode.create, _rc(1, path="/q1b", st_=s)) == p.frame(
        head + H("000000042f713162"))
    assert p.encode_reply(11, 9, 0, OpCode.create2, _rc(15, path="/q1b", st_=s)) == p.frame(
        head + H("000000042f713162") + r.Stat.build(p.stat_value(s)))
    assert p.encode_reply(11, 9, 0, OpCode.setData, _rc(5, path="/q1b", st_=s)) == p.frame(
        head + r.Stat.build(p.stat_value(s)))
    assert p.encode_reply(11, 9, 0, OpCode.setACL, _rc(7, path="/q1b", st_=s)) == p.frame(
        head + r.Stat.build(p.stat_value(s)))
    assert p.encode_reply(11, 9, 0, OpCode.delete, _rc(2, path="/q1b")) == p.frame(head)


def test_failed_multi_reply_bytes():
    # tests/ZOOKEEPER_FACTS.md §6: ops [create, setData, check(version 99), delete]: RH err 0, then
    # header(-1,false,e)+ErrorResult(e) for e in 0, 0, -103, -2, then the end header.
    rc = _rc(OpCode.multi, zxid=0xCC)
    rc.multi = [_rc(OpCode.error, err=e) for e in (0, 0, Err.BADVERSION, Err.RUNTIMEINCONSISTENCY)]
    wire = p.encode_reply(3, 0xCC, 0, OpCode.multi, rc)
    assert wire == p.frame(H("00000003" "00000000000000cc" "00000000")
                           + H("ffffffff0000000000" "00000000") * 2
                           + H("ffffffff00ffffff99" "ffffff99")
                           + H("ffffffff00fffffffe" "fffffffe")
                           + H("ffffffff01ffffffff"))


def test_successful_multi_reply_bytes():
    s = stat(czxid=0xCA, mzxid=0xCB, version=1, pzxid=0xCB)
    rc = _rc(OpCode.multi, zxid=0xCB)
    rc.multi = [_rc(OpCode.create, path="/mm/a", st_=s), _rc(OpCode.setData, path="/mm", st_=s),
                _rc(OpCode.check, path="/mm"), _rc(OpCode.delete, path="/mm/a")]
    wire = p.encode_reply(2, 0xCB, 0, OpCode.multi, rc)
    assert wire == p.frame(H("00000002" "00000000000000cb" "00000000")
                           + H("0000000100" "00000000" "00000005") + b"/mm/a"
                           + H("0000000500" "00000000") + r.Stat.build(p.stat_value(s))
                           + H("0000000d00" "00000000")
                           + H("0000000200" "00000000")
                           + H("ffffffff01ffffffff"))


def test_empty_multi_reply_bytes():
    rc = _rc(OpCode.multi, zxid=0xCE)
    rc.multi = []
    assert p.encode_reply(1, 0xCE, 0, OpCode.multi, rc) == p.frame(
        H("00000001" "00000000000000ce" "00000000" "ffffffff01ffffffff"))


def test_multi_read_reply_bytes():
    s = stat(czxid=1)
    results = [(OpCode.getChildren, 0, ["s0000000002", "b"]), (OpCode.getData, 0, (b"y", s)),
               (OpCode.error, Err.NONODE, None), (OpCode.getData, 0, (b"", s))]
    wire = p.encode_reply(5, 0xCB, 0, OpCode.multiRead, results)
    sb = r.Stat.build(p.stat_value(s))
    assert wire == p.frame(H("00000005" "00000000000000cb" "00000000")
                           + H("0000000800" "00000000" "00000002" "0000000b") + b"s0000000002"
                           + H("0000000162")
                           + H("0000000400" "00000000" "0000000179") + sb
                           + H("ffffffff00ffffff9bffffff9b")
                           + H("0000000400" "00000000" "00000000") + sb
                           + H("ffffffff01ffffffff"))


def test_whoami_and_ephemerals_and_children_number():
    head = H("00000001000000000000000500000000")
    assert p.encode_reply(1, 5, 0, OpCode.whoAmI, [("ip", "127.0.0.1")]) == p.frame(
        head + H("00000001000000026970000000093132372e302e302e31"))
    assert p.encode_reply(1, 5, 0, OpCode.getEphemerals, ["/e"]) == p.frame(
        head + H("00000001000000022f65"))
    assert p.encode_reply(1, 5, 0, OpCode.getAllChildrenNumber, 3) == p.frame(head + be32(3))


# --- fuzzing: only ProtocolError may escape -----------------------------------------------

def _decode_request_ok(payload):
    try:
        xid, op, req = p.decode_request(payload)
    except ProtocolError:
        assert len(payload) < 8 or struct.unpack_from(">i", payload, 4)[0] in p.CLOSE_ON_BAD_RECORD
        return
    assert isinstance(xid, int) and isinstance(op, int)


def _decode_connect_ok(payload):
    try:
        req, ro = p.decode_connect(payload)
    except ProtocolError:
        return
    assert ro in (True, False)
    assert isinstance(req.timeOut, int) and isinstance(req.sessionId, int)


@st.composite
def valid_request(draw):
    op = draw(st.sampled_from(REQUEST_OPS + [OpCode.multi, OpCode.multiRead, OpCode.ping]))
    xid = draw(st.integers(-10, 10 ** 6))
    if op in (OpCode.multi, OpCode.multiRead):
        allowed = sorted(p.MULTI_WRITE_OPS if op == OpCode.multi else p.MULTI_READ_OPS)
        n = draw(st.integers(0, 3))
        ops = []
        for _ in range(n):
            sub = draw(st.sampled_from(allowed))
            ops.append((sub, draw(record_strategy(p.REQUEST_RECORDS[sub]))))
        return p.encode_request(xid, op, ops)[4:]
    if op == OpCode.ping:
        return p.encode_request(xid, op)[4:]
    return p.encode_request(xid, op, draw(record_strategy(p.REQUEST_RECORDS[op])))[4:]


@st.composite
def mutate(draw, base):
    wire = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "len", "op"]))
        if kind == "truncate" and wire:
            del wire[draw(st.integers(0, len(wire) - 1)):]
        elif kind == "flip" and wire:
            i = draw(st.integers(0, len(wire) - 1))
            wire[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            i = draw(st.integers(0, len(wire)))
            wire[i:i] = draw(st.binary(min_size=1, max_size=6))
        elif kind == "delete" and wire:
            i = draw(st.integers(0, len(wire) - 1))
            del wire[i:i + draw(st.integers(1, 4))]
        elif kind == "len" and len(wire) >= 4:
            i = draw(st.integers(0, len(wire) - 4))
            wire[i:i + 4] = be32(draw(st.sampled_from([-1, -2, 0, 1, 0x7FFFFFFF, -(2 ** 31)])))
        elif kind == "op" and len(wire) >= 8:
            wire[4:8] = be32(draw(st.sampled_from([1, 2, 5, 13, 14, 22, 101, 105, -11, 99])))
    return bytes(wire)


@FAST
@given(st.binary(max_size=128))
def test_fuzz_decode_request_random_bytes(data):
    _decode_request_ok(data)


@FAST
@given(st.integers(-20, 120), st.binary(max_size=96))
def test_fuzz_decode_request_random_body(op, body):
    _decode_request_ok(struct.pack(">ii", 1, op) + body)


@FAST
@given(data=st.data())
def test_fuzz_decode_request_mutations(data):
    _decode_request_ok(data.draw(mutate(data.draw(valid_request()))))


@FAST
@given(st.binary(max_size=80))
def test_fuzz_decode_connect_random_bytes(data):
    _decode_connect_ok(data)


@FAST
@given(data=st.data())
def test_fuzz_decode_connect_mutations(data):
    value = data.draw(record_strategy(r.ConnectRequestRO))
    rec = data.draw(st.sampled_from([r.ConnectRequest, r.ConnectRequestRO]))
    _decode_connect_ok(data.draw(mutate(rec.build(value))))


@FAST
@given(st.lists(st.binary(max_size=40), max_size=8), st.integers(1, 64))
def test_fuzz_frame_decoder(chunks, limit):
    d = FrameDecoder(max_frame_bytes=limit)
    total = 0
    try:
        for c in chunks:
            for f in d.feed(c):
                assert 0 < len(f) <= limit
                total += 4 + len(f)
    except ProtocolError:
        return
    assert total + d.buffered() == sum(len(c) for c in chunks)


@FAST
@given(st.lists(st.binary(min_size=1, max_size=30), max_size=6), st.data())
def test_frame_decoder_reassembles_any_chunking(payloads, data):
    stream = b"".join(p.frame(x) for x in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    d = FrameDecoder()
    got = []
    prev = 0
    for c in cuts + [len(stream)]:
        got.extend(d.feed(stream[prev:c]))
        prev = c
    assert got == payloads and d.buffered() == 0


def test_encoders_accept_namespace_results():
    # The codec reads results by attribute: any object with type/err/path/stat works.
    sub = SimpleNamespace(type=OpCode.create, err=0, path="/x", stat=None)
    rc = SimpleNamespace(multi=[sub])
    wire = p.encode_reply(1, 2, 0, OpCode.multi, rc)
    assert wire.endswith(H("0000000100" "00000000" "00000002") + b"/x" + H("ffffffff01ffffffff"))
