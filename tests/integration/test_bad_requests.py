"""Bad requests and ``zookeeper.enforce.auth``, on the wire, as Apache ZooKeeper answers them.

Every expectation was observed on Apache ZooKeeper 3.8.0 and is written down in
tests/ZOOKEEPER_FACTS.md §13 (bad requests) and §14 (enforce.auth), re-checked by
tests/facts/probe.py; run with ``ZKWIRE_TEST_TARGET=zookeeper`` these tests check
the same against the real server.

* A request whose record does not parse is answered MARSHALLINGERROR on a
  connection that stays open; a write spends a zxid on it (an error txn in the
  log), a read, and reconfig, do not.  Bytes after a complete record are ignored.
* A bad auth or SASL packet closes the connection; a SASL packet is otherwise
  answered OK with a null token (no SASL configured).
* With ``zookeeper.enforce.auth.enabled=true`` and ``schemes=digest``, a
  connection without a digest identity gets SESSIONCLOSEDREQUIRESASLAUTH (zxid 0)
  for anything but auth and SASL, and is closed; its session survives.

Zxid arithmetic is exact, so each server here is this module's own, and every
session a test opens is closed at teardown.
"""
from __future__ import annotations

import glob
import os
import struct
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servers import ServerProcess, target_kind, wait_until  # noqa: E402

from rawclient import (  # noqa: E402
    AUTH, AUTH_XID, BAD_ARGUMENTS, CHECK, CLOSE_SESSION, CREATE, CREATE2, DELETE, EXISTS,
    GET_ACL, GET_CHILDREN, GET_CHILDREN2, GET_DATA, INVALID_ACL, MARSHALLING_ERROR, MULTI,
    MULTI_END, MULTI_READ, NO_NODE, OK, OPEN_ACL, PING, PING_XID, SET_ACL, SET_DATA,
    SET_WATCHES, SET_WATCHES_XID, SYNC, UNIMPLEMENTED, ConnectionClosed,
    RawConnection, acl_list, auth_req, buffer, check_req, create_req, delete_req, int32, int64,
    multi_header, multi_req, parse_connect_response, path_only_req, path_req, set_acl_req,
    set_data_req, set_watches_req, string,
)

RECONFIG, SASL, DELETE_CONTAINER, CREATE_CONTAINER, CREATE_TTL = 16, 102, 20, 19, 21
SET_WATCHES2, GET_EPHEMERALS, GET_ALL_CHILDREN_NUMBER, CHECK_WATCHES = 105, 103, 104, 17
CREATE_SESSION = -10
RECONFIG_DISABLED, SESSION_CLOSED_REQUIRE_SASL_AUTH = -123, -124

ENFORCE_DIGEST = {"zookeeper.enforce.auth.enabled": "true",
                  "zookeeper.enforce.auth.schemes": "digest"}


# ------------------------------------------------------------------ fixtures


class Conns:
    """Raw connections to one server; ``close()`` closes every session they opened
    (after an addauth digest, so that it works on an enforcing server too)."""

    def __init__(self, srv: ServerProcess):
        self.srv = srv
        self.conns: list = []

    def __call__(self, handshake: bool = True) -> RawConnection:
        c = RawConnection(self.srv.port)
        self.conns.append(c)
        if handshake:
            r = c.handshake()
            assert r.session_id != 0, r.raw.hex()
        return c

    def resume(self, c: RawConnection) -> RawConnection:
        d = self(handshake=False)
        r = d.handshake(session_id=c.session.session_id, passwd=c.session.passwd)
        assert r.session_id == c.session.session_id, "the session did not survive"
        return d

    def close(self) -> None:
        sessions = {}
        for c in self.conns:
            c.close()
            if c.session is not None:
                sessions[c.session.session_id] = c.session.passwd
        for sid, passwd in sessions.items():
            try:
                c = RawConnection(self.srv.port)
                if c.handshake(session_id=sid, passwd=passwd).session_id == sid:
                    c.call(AUTH, auth_req("digest", b"cleanup:pw"), xid=AUTH_XID)
                    c.call(CLOSE_SESSION)
                c.close()
            except (ConnectionClosed, OSError, AssertionError, ValueError):
                pass


def _server(cfg=None, sysprops=None):
    srv = ServerProcess(target_kind(), cfg=cfg, sysprops=sysprops).start()
    return srv


@pytest.fixture(scope="module")
def plain_srv():
    srv = _server()
    yield srv
    srv.cleanup()


@pytest.fixture
def raw(plain_srv):
    conns = Conns(plain_srv)
    first = conns()
    first.call(CREATE, create_req("/t", b"d"))
    yield conns
    c = conns()
    for path in ("/t/c", "/t", "/n", "/x", "/y", "/v"):
        c.call(DELETE, delete_req(path))
    conns.close()


@pytest.fixture(scope="module")
def enforcing_srv():
    srv = _server(sysprops=ENFORCE_DIGEST)
    yield srv
    srv.cleanup()


@pytest.fixture
def enf(enforcing_srv):
    conns = Conns(enforcing_srv)
    yield conns
    conns.close()


def logged_txns(srv: ServerProcess) -> dict:
    """zxid -> (cxid, type, ErrorTxn err or None), read from the txn log files with
    the documented format (16-byte header; per entry a long checksum, an int
    length, the entry, 'B'; entries open with TxnHeader(long, int cxid, long zxid,
    long, int type))."""
    out = {}
    files = glob.glob(os.path.join(srv.cfg["dataDir"], "version-2", "log.*"))
    for path in sorted(files, key=lambda p: int(p.rsplit(".", 1)[1], 16)):
        with open(path, "rb") as f:
            data = f.read()
        pos = 16
        while pos + 12 <= len(data):
            _, n = struct.unpack_from(">qi", data, pos)
            if n <= 0 or pos + 12 + n > len(data):
                break
            entry = data[pos + 12:pos + 12 + n]
            _, cxid, zxid, _, typ = struct.unpack_from(">qiqqi", entry, 0)
            out[zxid] = (cxid, typ, struct.unpack_from(">i", entry, 32)[0] if typ == -1 else None)
            pos += 12 + n + 1
    return out


def assert_error_txn(srv, zxid, cxid, err):
    assert wait_until(lambda: zxid in logged_txns(srv)), f"no txn at {zxid:#x}"
    assert logged_txns(srv)[zxid] == (cxid, -1, err)


def frames_of(*reqs) -> bytes:
    return b"".join(struct.pack(">i", 8 + len(body)) + int32(xid) + int32(op) + body
                    for xid, op, body in reqs)


# ------------------------------------------------------------------ §13 truncated records

READS = {
    "exists": (EXISTS, path_req("/t")), "getData": (GET_DATA, path_req("/t")),
    "getACL": (GET_ACL, path_only_req("/t")), "getChildren": (GET_CHILDREN, path_req("/t")),
    "getChildren2": (GET_CHILDREN2, path_req("/t")), "sync": (SYNC, path_only_req("/t")),
    "getAllChildrenNumber": (GET_ALL_CHILDREN_NUMBER, path_only_req("/t")),
    "getEphemerals": (GET_EPHEMERALS, path_only_req("/t")),
    "checkWatches": (CHECK_WATCHES, string("/t") + int32(3)),
    "multiRead": (MULTI_READ, multi_req([(GET_DATA, path_req("/t"))])),
    "setWatches": (SET_WATCHES, set_watches_req(0, ["/t"], [], [])),
    "setWatches2": (SET_WATCHES2, set_watches_req(0, ["/t"], [], []) + int32(0) + int32(0)),
}
WRITES = {
    "create": (CREATE, create_req("/n")), "create2": (CREATE2, create_req("/n")),
    "createContainer": (CREATE_CONTAINER, create_req("/n", flags=4)),
    "createTTL": (CREATE_TTL, create_req("/n", flags=5) + int64(1000)),
    "delete": (DELETE, delete_req("/n")), "setData": (SET_DATA, set_data_req("/t", b"x")),
    "setACL": (SET_ACL, set_acl_req("/t", OPEN_ACL)), "check": (CHECK, check_req("/t", -1)),
    "multi": (MULTI, multi_req([(CHECK, check_req("/t", -1))])),
}
CUTS = {"empty": lambda b: b"", "3 bytes": lambda b: b[:3], "one byte short": lambda b: b[:-1]}


@pytest.mark.parametrize("cut", sorted(CUTS))
@pytest.mark.parametrize("name", sorted(READS))
def test_truncated_read_is_a_marshalling_error(raw, name, cut):
    op, body = READS[name]
    c = raw()
    z = c.last_zxid()
    xid = SET_WATCHES_XID if op == SET_WATCHES else 7
    f = c.call(op, CUTS[cut](body), xid=xid)
    assert (f.summary(), f.body) == ((xid, z, MARSHALLING_ERROR), b"")
    assert c.last_zxid() == z                       # connection kept, no zxid spent


@pytest.mark.parametrize("cut", sorted(CUTS))
@pytest.mark.parametrize("name", sorted(WRITES))
def test_truncated_write_spends_a_zxid_on_an_error_txn(raw, plain_srv, name, cut):
    op, body = WRITES[name]
    c = raw()
    z = c.last_zxid()
    f = c.call(op, CUTS[cut](body), xid=8)
    assert (f.summary(), f.body) == ((8, z + 1, MARSHALLING_ERROR), b"")
    assert_error_txn(plain_srv, z + 1, 8, MARSHALLING_ERROR)
    assert c.call(EXISTS, path_req("/n")).err == NO_NODE


@pytest.mark.parametrize("body", [
    multi_header(CREATE, False, -1) + create_req("/m")[:-2],            # an op cut short
    multi_header(CHECK, False, -1) + check_req("/t", -1),               # no end header
    multi_header(99, False, -1) + path_req("/t") + MULTI_END,           # an unknown op
    multi_header(-1, False, -1),                                        # type -1, not done
], ids=["op-cut-short", "no-end-header", "op-99", "type-minus-1-not-done"])
def test_multi_that_does_not_parse(raw, plain_srv, body):
    c = raw()
    z = c.last_zxid()
    f = c.call(MULTI, body, xid=9)
    assert (f.summary(), f.body) == ((9, z + 1, MARSHALLING_ERROR), b"")
    assert_error_txn(plain_srv, z + 1, 9, MARSHALLING_ERROR)


def test_multi_read_with_an_unknown_op(raw):
    c = raw()
    z = c.last_zxid()
    f = c.call(MULTI_READ, multi_header(99, False, -1) + path_req("/t") + MULTI_END, xid=9)
    assert (f.summary(), f.body) == ((9, z, MARSHALLING_ERROR), b"")
    assert c.last_zxid() == z


def test_multi_read_of_a_write_carries_an_empty_result_list(raw):
    # ZOOKEEPER_FACTS.md §6 wrong-kind-of-op-in-multi.
    c = raw()
    z = c.last_zxid()
    f = c.call(MULTI_READ, multi_req([(CREATE, create_req("/x"))]), xid=2)
    assert (f.summary(), f.body) == ((2, z, MARSHALLING_ERROR), MULTI_END)


def test_truncated_reconfig_spends_no_zxid(raw):
    c = raw()
    z = c.last_zxid()
    for body in (b"", string("") * 2):
        f = c.call(RECONFIG, body, xid=7)
        assert (f.summary(), f.body) == ((7, z, MARSHALLING_ERROR), b"")
    assert c.last_zxid() == z


# ------------------------------------------------------------------ §13 trailing bytes

TRAILING_READS = ["exists", "getData", "getChildren2", "sync", "multiRead"]


@pytest.mark.parametrize("name", TRAILING_READS)
def test_trailing_bytes_after_a_read_are_ignored(raw, name):
    op, body = READS[name]
    c = raw()
    plain = c.call(op, body, xid=3)
    extra = c.call(op, body + b"garbage!", xid=3)
    assert (extra.summary(), extra.body) == (plain.summary(), plain.body)


def test_trailing_bytes_after_set_watches_are_ignored(raw):
    c = raw()
    z = c.last_zxid()
    f = c.call(SET_WATCHES, set_watches_req(z, ["/t"], [], []) + b"garbage!", xid=SET_WATCHES_XID)
    assert (f.summary(), f.body) == ((SET_WATCHES_XID, z, OK), b"")


@pytest.mark.parametrize("name, op, body, result", [
    ("create", CREATE, create_req("/x"), string("/x")),
    ("delete", DELETE, delete_req("/t/c"), None),
    ("multi", MULTI, multi_req([(CREATE, create_req("/y"))]),
     multi_header(CREATE, False, 0) + string("/y") + MULTI_END),
    ("multi-ended-by-a-done-check", MULTI, multi_header(CHECK, True, -1) + check_req("/t", -1),
     MULTI_END),
], ids=lambda x: x if isinstance(x, str) else None)
def test_trailing_bytes_after_a_write_are_ignored(raw, name, op, body, result):
    c = raw()
    if op == DELETE:
        c.call(CREATE, create_req("/t/c"))
    z = c.last_zxid()
    f = c.call(op, body + b"garbage!", xid=9)
    assert f.summary() == (9, z + 1, OK)
    if result is not None:
        assert f.body == result


def test_trailing_bytes_after_auth_and_sasl_are_ignored(raw):
    c = raw()
    f = c.call(AUTH, auth_req("digest", b"u:p") + b"garbage!", xid=AUTH_XID)
    assert f.summary() == (AUTH_XID, 0, OK)
    f = c.call(SASL, buffer(b"tok") + b"garbage!", xid=5)
    assert f.raw == int32(5) + int64(0) + int32(OK) + int32(-1)


# ------------------------------------------------------------------ §13 SASL, reconfig, op 20


@pytest.mark.parametrize("token", [b"tok", b""])
def test_sasl_packet_without_sasl_configured(raw, token):
    c = raw()
    z = c.last_zxid()
    f = c.call(SASL, buffer(token), xid=5)
    assert f.raw == int32(5) + int64(0) + int32(OK) + int32(-1)   # SetSASLResponse(null)
    assert c.last_zxid() == z


def test_sasl_packet_with_a_null_token_closes_the_connection(raw):
    c, watcher = raw(), raw()
    c.send_raw(frames_of((5, SASL, buffer(None)), (6, CREATE, create_req("/x"))))
    c.expect_closed()
    assert watcher.call(EXISTS, path_req("/x")).err == NO_NODE  # nothing after it ran
    raw.resume(c)


def test_reconfig_with_reconfig_enabled_on_a_standalone_server():
    srv = _server(cfg={"reconfigEnabled": "true"})
    conns = Conns(srv)
    try:
        c = conns()
        for body in (string("") * 3 + int64(-1), int32(-1) * 3 + int64(-1)):
            z = c.last_zxid()
            f = c.call(RECONFIG, body, xid=7)
            assert (f.summary(), f.body) == ((7, z + 1, UNIMPLEMENTED), b"")
            assert_error_txn(srv, z + 1, 7, UNIMPLEMENTED)
        # Cut short, it is refused before it gets a zxid.
        z = c.last_zxid()
        assert c.call(RECONFIG, string(""), xid=8).summary() == (8, z, MARSHALLING_ERROR)
    finally:
        conns.close()
        srv.cleanup()


@pytest.mark.parametrize("body", [string("/t"), b"", b"/t"], ids=["jute-path", "empty", "raw-path"])
def test_delete_container_from_a_client(raw, plain_srv, body):
    c = raw()
    z = c.last_zxid()
    f = c.call(DELETE_CONTAINER, body, xid=8)
    assert (f.summary(), f.body) == ((8, z + 1, BAD_ARGUMENTS), b"")
    assert_error_txn(plain_srv, z + 1, 8, BAD_ARGUMENTS)
    assert c.call(EXISTS, path_req("/t")).err == OK


# ------------------------------------------------------------------ §13 lengths and UTF-8


def test_string_length_below_minus_one(raw):
    c = raw()
    z = c.last_zxid()
    assert c.call(EXISTS, int32(-2) + b"/t\0", xid=2).summary() == (2, z, MARSHALLING_ERROR)
    f = c.call(CREATE, string("/v") + int32(-2) + acl_list(OPEN_ACL) + int32(0), xid=3)
    assert f.summary() == (3, z + 1, MARSHALLING_ERROR)


def test_vector_count_below_minus_one_is_empty(raw):
    c = raw()
    z = c.last_zxid()
    f = c.call(CREATE, string("/v") + buffer(b"") + int32(-2) + int32(0), xid=3)
    assert f.summary() == (3, z + 1, INVALID_ACL)             # as an empty ACL
    f = c.call(SET_WATCHES, int64(z + 1) + int32(-2) * 3, xid=SET_WATCHES_XID)
    assert f.summary() == (SET_WATCHES_XID, z + 1, OK)


@pytest.mark.parametrize("raw_bytes, echoed", [
    ("ff", "efbfbd"), ("c328", "efbfbd28"), ("eda080", "efbfbd"), ("eda041", "efbfbd41"),
    ("eda0808080", "efbfbd" * 3), ("e08080", "efbfbd" * 3), ("c0af", "efbfbd" * 2),
    ("61808062", "61efbfbdefbfbd62"), ("f4908080", "efbfbd" * 4),
])
def test_invalid_utf8_in_a_path_becomes_replacement_characters(raw, raw_bytes, echoed):
    c = raw()
    f = c.call(SYNC, string(b"/" + bytes.fromhex(raw_bytes)), xid=3)
    assert f.err == OK
    assert f.body == string(b"/" + bytes.fromhex(echoed))


def test_invalid_utf8_in_a_created_path(raw):
    c = raw()
    z = c.last_zxid()
    assert c.call(EXISTS, string(b"/\xff") + b"\0").err == NO_NODE
    # U+FFFD is not a valid path character.
    assert c.call(CREATE, create_req(b"/\xffq\xc3"), xid=4).summary() == (4, z + 1, BAD_ARGUMENTS)


# ------------------------------------------------------------------ §14 enforce.auth

ENFORCED = [
    ("exists", EXISTS, path_req("/"), 1), ("getData", GET_DATA, path_req("/zookeeper"), 2),
    ("getChildren", GET_CHILDREN, path_req("/"), 3), ("getACL", GET_ACL, path_only_req("/"), 5),
    ("sync", SYNC, path_only_req("/"), 6), ("create", CREATE, create_req("/a"), 7),
    ("setData", SET_DATA, set_data_req("/", b"x"), 8), ("delete", DELETE, delete_req("/nope"), 9),
    ("multi", MULTI, multi_req([(CREATE, create_req("/m"))]), 12),
    ("multiRead", MULTI_READ, multi_req([(GET_DATA, path_req("/"))]), 13),
    ("setWatches", SET_WATCHES, set_watches_req(0, ["/"], [], []), SET_WATCHES_XID),
    ("ping", PING, b"", PING_XID), ("closeSession", CLOSE_SESSION, b"", 14),
    ("reconfig", RECONFIG, string("") * 3 + int64(-1), 21), ("opcode-99", 99, b"", 22),
    ("truncated-exists", EXISTS, b"", 23), ("createSession-opcode", CREATE_SESSION, b"", 24),
    ("deleteContainer", DELETE_CONTAINER, string("/"), 25),
]


@pytest.mark.parametrize("name, op, body, xid", ENFORCED, ids=[e[0] for e in ENFORCED])
def test_enforce_auth_refuses_an_unauthenticated_request(enf, name, op, body, xid):
    c = enf()
    c.send(op, body, xid=xid)
    f = c.read_frame()
    assert (f.summary(), f.body) == ((xid, 0, SESSION_CLOSED_REQUIRE_SASL_AUTH), b"")
    c.expect_closed()
    d = enf.resume(c)                                  # the session survives
    assert d.call(AUTH, auth_req("digest", b"u:p"), xid=AUTH_XID).err == OK
    assert d.call(EXISTS, path_req("/a")).err == NO_NODE
    assert d.call(EXISTS, path_req("/m")).err == NO_NODE


def test_enforce_auth_spends_no_zxid(enf):
    a = enf()
    a.call(AUTH, auth_req("digest", b"u:p"), xid=AUTH_XID)
    c = enf()
    z = a.last_zxid()                                  # after c's createSession
    c.send(CREATE, create_req("/a"), xid=7)
    assert c.read_frame().summary() == (7, 0, SESSION_CLOSED_REQUIRE_SASL_AUTH)
    c.expect_closed()
    assert a.last_zxid() == z


def test_enforce_auth_lets_sasl_and_digest_through(enf):
    c = enf()
    f = c.call(SASL, buffer(b"tok"), xid=20)
    assert f.raw == int32(20) + int64(0) + int32(OK) + int32(-1)
    assert c.call(AUTH, auth_req("digest", b"u:p"), xid=AUTH_XID).summary() == (AUTH_XID, 0, OK)
    f = c.call(CREATE, create_req("/a"), xid=30)
    assert (f.err, f.reader().string()) == (OK, "/a")
    assert c.call(DELETE, delete_req("/a")).err == OK
    d = enf()
    assert d.call(AUTH, auth_req("digest", b"nocolon"), xid=AUTH_XID).err == OK
    assert d.call(EXISTS, path_req("/")).err == OK


def test_enforce_auth_ip_identity_does_not_count(enf):
    c = enf()
    assert c.call(AUTH, auth_req("ip", b"127.0.0.1"), xid=AUTH_XID).summary() == (AUTH_XID, 0, OK)
    c.send(EXISTS, path_req("/"), xid=32)
    assert c.read_frame().summary() == (32, 0, SESSION_CLOSED_REQUIRE_SASL_AUTH)
    c.expect_closed()


def test_enforce_auth_pipelined_requests(enf):
    watcher = enf()
    watcher.call(AUTH, auth_req("digest", b"u:p"), xid=AUTH_XID)
    c = enf()
    c.send_raw(frames_of((40, EXISTS, path_req("/")), (41, CREATE, create_req("/p"))))
    assert c.read_frame().summary() == (40, 0, SESSION_CLOSED_REQUIRE_SASL_AUTH)
    c.expect_closed()
    assert watcher.call(EXISTS, path_req("/p")).err == NO_NODE
    # Behind the ConnectRequest: the session is created, then the request refused.
    d = enf(handshake=False)
    d.send_raw(int32(len(d.connect_request())) + d.connect_request()
               + frames_of((50, EXISTS, path_req("/"))))
    d.session = parse_connect_response(d.read_payload())
    assert d.session.session_id != 0
    assert d.read_frame().summary() == (50, 0, SESSION_CLOSED_REQUIRE_SASL_AUTH)
    d.expect_closed()
    # An addauth ahead of the request in the same write counts.
    e = enf()
    e.send_raw(frames_of((AUTH_XID, AUTH, auth_req("digest", b"u:p")), (60, EXISTS, path_req("/"))))
    assert [e.read_frame().summary()[::2] for _ in range(2)] == [(AUTH_XID, OK), (60, OK)]
