"""Wire-level behaviour pinned to Apache ZooKeeper, through a raw jute client.

Every expectation here was observed on Apache ZooKeeper 3.8 (run with
``ZKWIRE_TEST_TARGET=zookeeper``); zkwire must produce the same frames.  The only
deliberate differences are the ZooKeeper 3.9 changes zkwire follows, expressed
with ``since_39`` and the JIRA that made them.

Zxid arithmetic is exact ("this write took exactly one zxid"), so these tests run
on a server of their own (``zksrv``) where nothing else happens concurrently, and
every session a test opens is closed explicitly at teardown (a session left to
expire would take a zxid in the middle of a later test).
"""
from __future__ import annotations

import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from servers import ServerProcess, since_39, target_kind  # noqa: E402

from rawclient import (  # noqa: E402
    AUTH, AUTH_XID, BAD_ARGUMENTS, BAD_VERSION, CHECK, CLOSE_SESSION, CONTAINER, CREATE,
    CREATE2, DELETE, EPHEMERAL, EXISTS, GET_ACL, GET_CHILDREN, GET_CHILDREN2, GET_DATA,
    INVALID_ACL, MAX_FRAME, MULTI, MULTI_END, MULTI_READ, NO_AUTH,
    NO_CHILDREN_FOR_EPHEMERALS, NO_NODE, NODE_CHILDREN_CHANGED, NODE_CREATED,
    NODE_DATA_CHANGED, NODE_DELETED, NODE_EXISTS, OK, OPEN_ACL, PERM_ALL, PERM_READ, PING,
    PING_XID, RUNTIME_INCONSISTENCY, SEQUENTIAL, SET_ACL, SET_DATA, SET_WATCHES,
    SET_WATCHES_XID, SYNC, SYNC_CONNECTED, STAT_SIZE, UNIMPLEMENTED, ConnectionClosed,
    Event, RawConnection, Stat, auth_req, buffer, check_req, create_req,
    delete_req, four_letter, int32, int64, multi_header, multi_req, parse_multi_response,
    path_only_req, path_req, set_acl_req, set_data_req, set_watches_req, string,
    zero_connect_response,
)

# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def zksrv():
    srv = ServerProcess(target_kind()).start()
    yield srv
    srv.cleanup()


def _wipe(conn: RawConnection, path: str = "/") -> None:
    f = conn.call(GET_CHILDREN, path_req(path))
    if f.err != OK:
        return
    for child in f.reader().string_list():
        full = (path.rstrip("/") + "/" + child)
        if full == "/zookeeper":
            continue
        _wipe(conn, full)
        conn.call(DELETE, delete_req(full))


@pytest.fixture
def raw(zksrv):
    """Factory of raw connections (handshaken unless handshake=False).

    At teardown every socket is closed, every session seen is resumed and closed
    with closeSession, and the tree is wiped back to /zookeeper.
    """
    conns: list = []

    def make(handshake: bool = True, **kwargs) -> RawConnection:
        c = RawConnection(zksrv.port)
        conns.append(c)
        if handshake:
            r = c.handshake(**kwargs)
            assert r.session_id != 0, f"handshake refused: {r.raw.hex()}"
        return c

    yield make

    sessions = {}
    for c in conns:
        c.close()
        if c.session is not None:
            sessions[c.session.session_id] = c.session.passwd
    for sid, passwd in sessions.items():
        try:
            c = RawConnection(zksrv.port)
            if c.handshake(session_id=sid, passwd=passwd).session_id == sid:
                c.call(CLOSE_SESSION)
            c.close()
        except Exception:
            pass
    try:
        c = RawConnection(zksrv.port)
        c.handshake()
        _wipe(c)
        c.call(CLOSE_SESSION)
        c.close()
    except Exception:
        pass


def resume(make, conn: RawConnection, **kwargs) -> RawConnection:
    """A new connection that resumes ``conn``'s session (right password)."""
    other = make(handshake=False)
    r = other.handshake(session_id=conn.session.session_id, passwd=conn.session.passwd, **kwargs)
    assert r.session_id == conn.session.session_id, r.raw.hex()
    return other


def events(frames) -> list:
    out = []
    for f in frames:
        assert f.is_notification, f"not a notification: {f.summary()}"
        assert f.err == 0
        out.append(f.event())
    return out


def exists_stat(conn: RawConnection, path: str) -> Stat:
    f = conn.call(EXISTS, path_req(path))
    assert f.err == OK, (path, f.err)
    return f.reader().stat()


def ev(typ: int, path: str) -> Event:
    return Event(typ, SYNC_CONNECTED, path)


# ------------------------------------------------------------------ handshake


def test_connect_response_without_read_only_byte(raw):
    c = raw(handshake=False)
    r = c.handshake(timeout_ms=3000)
    assert len(r.raw) == 36
    assert r.read_only is None
    assert (r.protocol_version, r.timeout) == (0, 3000)
    assert r.session_id != 0
    assert len(r.passwd) == 16
    assert c.call(EXISTS, path_req("/")).err == OK


@pytest.mark.parametrize("read_only", [False, True])
def test_connect_response_with_read_only_byte(raw, read_only):
    c = raw(handshake=False)
    r = c.handshake(timeout_ms=3000, read_only=read_only)
    assert len(r.raw) == 37
    # A standalone server is never read-only, whatever the client asked for.
    assert r.raw[-1:] == b"\x00"
    assert r.read_only is False
    assert c.call(EXISTS, path_req("/")).err == OK


@pytest.mark.parametrize("requested,negotiated",
                         [(100, 1000), (100000, 10000), (3000, 3000), (0, 1000), (-5, 1000)])
def test_session_timeout_is_clamped(raw, requested, negotiated):
    # tickTime 500: minSessionTimeout 1000, maxSessionTimeout 10000.
    c = raw(handshake=False)
    assert c.handshake(timeout_ms=requested).timeout == negotiated


def test_new_session_ids_differ(raw):
    a, b = raw(), raw()
    assert a.session.session_id != b.session.session_id
    assert a.session.session_id != 0 and b.session.session_id != 0


@pytest.mark.parametrize("passwd,proto", [(b"", 0), (None, 0), (b"\x01" * 16, 1),
                                          (b"\x00" * 16, -1), (b"\x00" * 16, 5)])
def test_new_session_ignores_password_and_protocol_version(raw, passwd, proto):
    c = raw(handshake=False)
    r = c.handshake(passwd=passwd, protocol_version=proto, timeout_ms=3000)
    assert (r.protocol_version, r.timeout, len(r.raw)) == (0, 3000, 36)
    assert r.session_id != 0 and len(r.passwd) == 16
    assert c.call(EXISTS, path_req("/")).err == OK


def test_reconnect_with_right_password(raw):
    a = raw(timeout_ms=3000)
    sid, passwd = a.session.session_id, a.session.passwd
    b = raw(handshake=False)
    r = b.handshake(timeout_ms=5000, session_id=sid, passwd=passwd)
    # Same session and password; the timeout is negotiated again.
    assert r.raw == int32(0) + int32(5000) + int64(sid) + buffer(passwd)
    # The session's previous connection is closed by the server, without a frame.
    a.expect_closed()
    assert b.call(EXISTS, path_req("/")).err == OK


@pytest.mark.parametrize("bad_passwd", [b"x" * 16, b"short"])
@pytest.mark.parametrize("read_only", [None, True])
def test_reconnect_with_wrong_password(raw, bad_passwd, read_only):
    a = raw()
    sid, passwd = a.session.session_id, a.session.passwd
    assert a.call(CREATE, create_req("/wrongpw", flags=EPHEMERAL)).err == OK
    c = raw(handshake=False)
    c.send_frame(c.connect_request(session_id=sid, passwd=bad_passwd, read_only=read_only))
    assert c.read_payload() == zero_connect_response(read_only_byte=read_only is not None)
    c.expect_closed()
    # The attempt also killed the session's live connection...
    a.expect_closed()
    # ...but not the session: the right password still resumes it, ephemeral intact.
    d = resume(raw, a)
    assert d.call(EXISTS, path_req("/wrongpw")).err == OK


def test_reconnect_to_unknown_session(raw):
    c = raw(handshake=False)
    c.send_frame(c.connect_request(session_id=0x1234567, passwd=b"x" * 16))
    assert c.read_payload() == zero_connect_response()
    c.expect_closed()


def test_last_zxid_seen_ahead_of_server(raw):
    a = raw()
    z = a.last_zxid()
    for ahead in (z + 1, z + 100):
        c = raw(handshake=False)
        c.send_frame(c.connect_request(last_zxid=ahead))
        c.expect_closed()  # no ConnectResponse at all
    # A reconnect of a live session with a future zxid is refused the same way and
    # leaves the session's current connection alone.
    d = raw(handshake=False)
    d.send_frame(d.connect_request(session_id=a.session.session_id, passwd=a.session.passwd,
                                   last_zxid=z + 100))
    d.expect_closed()
    assert a.last_zxid() == z  # nothing consumed, connection still fine
    # Equal to the server's zxid is fine.
    e = raw(handshake=False)
    assert e.handshake(last_zxid=z).session_id != 0


# ------------------------------------------------------------------ zxids


def test_reply_header_zxids(raw):
    c = raw()
    z = c.last_zxid()

    def write(op, body, err):
        nonlocal z
        f = c.call(op, body)
        assert (f.zxid, f.err) == (z + 1, err), (op, body)
        z += 1
        return f

    def read(op, body, err=OK, xid=None):
        f = c.call(op, body, xid=xid)
        assert (f.zxid, f.err) == (z, err), (op, body)
        return f

    f = write(CREATE, create_req("/q1", b"x"), OK)
    assert f.body == string("/q1")
    created = z
    f = read(GET_DATA, path_req("/q1"))
    r = f.reader()
    assert r.buffer() == b"x" and r.stat().czxid == created
    assert read(EXISTS, path_req("/q1")).reader().stat().czxid == created
    assert read(EXISTS, path_req("/nonexist"), NO_NODE).body == b""
    read(GET_CHILDREN, path_req("/"))
    f = write(SET_DATA, set_data_req("/q1", b"y"), OK)
    assert f.reader().stat().mzxid == z
    # Failed writes still take exactly one zxid each.
    assert write(CREATE, create_req("/q1"), NODE_EXISTS).body == b""
    assert write(SET_DATA, set_data_req("/q1", b"z", 99), BAD_VERSION).body == b""
    assert write(DELETE, delete_req("/nonexist"), NO_NODE).body == b""
    assert write(CREATE, create_req("/np/x"), NO_NODE).body == b""
    assert write(CREATE, create_req("a"), BAD_ARGUMENTS).body == b""
    assert write(CREATE, create_req("/q2", acls=[]), INVALID_ACL).body == b""
    assert write(SET_ACL, set_acl_req("/q1", OPEN_ACL, 5), BAD_VERSION).body == b""
    f = write(SET_ACL, set_acl_req("/q1", OPEN_ACL), OK)
    assert f.reader().stat().aversion == 1
    f = write(CREATE2, create_req("/q1b"), OK)
    r = f.reader()
    assert r.string() == "/q1b" and r.stat().czxid == z and r.at_end()
    # Every multi takes one zxid: failed (header err 0), successful, empty.
    write(MULTI, multi_req([(CREATE, create_req("/m1")), (CREATE, create_req("/q1"))]), OK)
    write(MULTI, multi_req([(CREATE, create_req("/m2"))]), OK)
    assert write(MULTI, multi_req([]), OK).body == MULTI_END
    # Reads, sync, ping, setWatches, multiRead: the last processed zxid.
    assert read(SYNC, path_only_req("/")).body == string("/")
    assert read(PING, b"", xid=PING_XID).body == b""
    assert read(SET_WATCHES, set_watches_req(0), xid=SET_WATCHES_XID).body == b""
    assert read(MULTI_READ, multi_req([])).body == MULTI_END
    # Auth replies always carry zxid 0.
    f = c.call(AUTH, auth_req("digest", "u:p"), xid=AUTH_XID)
    assert f.raw == int32(AUTH_XID) + int64(0) + int32(OK)
    write(DELETE, delete_req("/q1b"), OK)
    # closeSession is a txn too; the server then closes the connection.
    assert write(CLOSE_SESSION, b"", OK).body == b""
    c.expect_closed()


def test_closed_session_cannot_be_resumed(raw):
    a = raw()
    sid, passwd = a.session.session_id, a.session.passwd
    a.call(CLOSE_SESSION)
    a.expect_closed()
    c = raw(handshake=False)
    c.send_frame(c.connect_request(session_id=sid, passwd=passwd))
    assert c.read_payload() == zero_connect_response()
    c.expect_closed()


def test_create_session_takes_a_zxid(raw):
    a = raw()
    z = a.last_zxid()
    b = raw()  # createSession txn: z + 1
    assert b.call(EXISTS, path_req("/")).zxid == z + 1
    f = b.call(CREATE, create_req("/cs"))
    assert (f.zxid, f.err) == (z + 2, OK)
    assert exists_stat(b, "/cs").czxid == z + 2


def test_fresh_server_zxids_and_tree():
    srv = ServerProcess(target_kind()).start()
    try:
        c = RawConnection(srv.port)
        c.handshake()
        # The session's createSession txn is zxid 1.
        f = c.call(GET_DATA, path_req("/"))
        assert (f.zxid, f.err) == (1, OK)
        r = f.reader()
        assert r.buffer() == b""
        assert r.stat() == Stat(0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0)
        f = c.call(GET_DATA, path_req("/zookeeper"))
        r = f.reader()
        assert r.buffer() == b""
        assert r.stat() == Stat(0, 0, 0, 0, 0, -2, 0, 0, 0, 2, 0)
        f = c.call(GET_ACL, path_only_req("/zookeeper/config"))
        r = f.reader()
        assert r.acl_list() == [(PERM_READ, "world", "anyone")]
        assert r.stat().aversion == -1
        f = c.call(GET_ACL, path_only_req("/"))
        assert f.reader().acl_list() == [(PERM_ALL, "world", "anyone")]
        f = c.call(GET_CHILDREN, path_req("/zookeeper"))
        assert sorted(f.reader().string_list()) == ["config", "quota"]
        f = c.call(CREATE, create_req("/first"))
        assert (f.zxid, f.err) == (2, OK)
        assert "Zxid: 0x2\n" in four_letter(srv.port, "srvr")
        assert c.call(CLOSE_SESSION).zxid == 3
        c.close()
    finally:
        srv.cleanup()


# ------------------------------------------------------------------ multi


def _failure_results(*codes) -> bytes:
    return b"".join(multi_header(-1, False, e) + int32(e) for e in codes) + MULTI_END


def test_failed_multi_exact_bytes(raw):
    c = raw()
    c.call(CREATE, create_req("/mm", b"x"))
    c.call(CREATE, create_req("/mm/b"))
    z = c.last_zxid()
    f = c.call(MULTI, multi_req([
        (CREATE, create_req("/mm/c")),
        (SET_DATA, set_data_req("/mm", b"z")),
        (CHECK, check_req("/mm", 99)),
        (DELETE, delete_req("/mm/b")),
    ]))
    assert (f.zxid, f.err) == (z + 1, OK)
    assert f.body == _failure_results(OK, OK, BAD_VERSION, RUNTIME_INCONSISTENCY)
    # Nothing was applied.
    assert c.call(EXISTS, path_req("/mm/c")).err == NO_NODE
    assert c.call(GET_DATA, path_req("/mm")).reader().buffer() == b"x"
    assert c.call(EXISTS, path_req("/mm/b")).err == OK


@pytest.mark.parametrize("ops,codes", [
    ([(CREATE, create_req("/nx/x")), (CREATE, create_req("/mm/d"))], (NO_NODE, RUNTIME_INCONSISTENCY)),
    ([(CREATE, create_req("a")), (CREATE, create_req("/mm/d"))], (BAD_ARGUMENTS, RUNTIME_INCONSISTENCY)),
    ([(CREATE, create_req("/mm/d")), (CREATE, create_req("/mm/e", acls=[]))], (OK, INVALID_ACL)),
    ([(CREATE, create_req("/mm/d")), (CREATE, create_req("/mm/d"))], (OK, NODE_EXISTS)),
], ids=["first-op-nonode", "bad-path", "invalid-acl", "same-create-twice"])
def test_failed_multi_results(raw, ops, codes):
    c = raw()
    c.call(CREATE, create_req("/mm"))
    z = c.last_zxid()
    f = c.call(MULTI, multi_req(ops))
    assert (f.zxid, f.err) == (z + 1, OK)
    assert f.body == _failure_results(*codes)
    assert c.call(EXISTS, path_req("/mm/d")).err == NO_NODE


def test_successful_multi_results(raw):
    c = raw()
    c.call(CREATE, create_req("/mm"))
    mm = exists_stat(c, "/mm")
    z = c.last_zxid()
    f = c.call(MULTI, multi_req([
        (CREATE, create_req("/mm/a")),
        (CREATE2, create_req("/mm/b")),
        (SET_DATA, set_data_req("/mm", b"new")),
        (CHECK, check_req("/mm", 1)),
        (DELETE, delete_req("/mm/a")),
        (CREATE, create_req("/mm/s", flags=SEQUENTIAL)),
    ]))
    assert (f.zxid, f.err) == (z + 1, OK)
    results = parse_multi_response(f.body)
    # ZOOKEEPER-4026 (3.9): create2 inside a multi answers as create2 (path and
    # Stat); 3.8 turned it into a plain create (type 1, the path only).
    b_type = since_39(CREATE, CREATE2)
    assert [(r.type, r.err) for r in results] == [
        (CREATE, 0), (b_type, 0), (SET_DATA, 0), (CHECK, 0), (DELETE, 0), (CREATE, 0)]
    assert [r.path for r in results] == ["/mm/a", "/mm/b", None, None, None, "/mm/s0000000002"]
    st = results[2].stat
    # Later ops see the earlier ones: two children created in this same txn.
    assert st == Stat(mm.czxid, z + 1, mm.ctime, st.mtime, 1, 2, 0, 0, 3, 2, z + 1)
    assert st.mtime >= mm.ctime
    b_result = multi_header(b_type, False, 0) + string("/mm/b")
    if b_type == CREATE2:
        b_stat = results[1].stat
        # /mm/b as created by this txn: czxid = mzxid = pzxid = the multi's zxid.
        assert (b_stat.czxid, b_stat.mzxid, b_stat.pzxid) == (z + 1, z + 1, z + 1)
        assert (b_stat.version, b_stat.cversion, b_stat.numChildren, b_stat.dataLength) == (0, 0, 0, 0)
        i = f.body.index(b_result) + len(b_result)
        b_result += f.body[i:i + STAT_SIZE]
    set_pos = f.body.index(multi_header(SET_DATA, False, 0)) + len(multi_header(SET_DATA, False, 0))
    expected = (multi_header(CREATE, False, 0) + string("/mm/a")
                + b_result
                + multi_header(SET_DATA, False, 0) + f.body[set_pos:set_pos + STAT_SIZE]
                + multi_header(CHECK, False, 0)
                + multi_header(DELETE, False, 0)
                + multi_header(CREATE, False, 0) + string("/mm/s0000000002")
                + MULTI_END)
    assert f.body == expected
    assert c.call(EXISTS, path_req("/mm/a")).err == NO_NODE


def test_multi_read_results(raw):
    c = raw()
    c.call(CREATE, create_req("/mr", b"y"))
    c.call(CREATE, create_req("/mr/b"))
    c.call(CREATE, create_req("/mr/s", flags=SEQUENTIAL))
    z = c.last_zxid()
    f = c.call(MULTI_READ, multi_req([
        (GET_CHILDREN, path_req("/mr")),
        (GET_DATA, path_req("/mr")),
        (GET_DATA, path_req("/nope")),
        (GET_CHILDREN, path_req("/nope")),
        (GET_DATA, path_req("/mr/b")),
    ]))
    assert (f.zxid, f.err) == (z, OK)  # a read: no zxid consumed
    results = parse_multi_response(f.body)
    assert [(r.type, r.err) for r in results] == [
        (GET_CHILDREN, 0), (GET_DATA, 0), (-1, NO_NODE), (-1, NO_NODE), (GET_DATA, 0)]
    assert sorted(results[0].children) == ["b", "s0000000001"]
    assert results[1].data == b"y"
    assert results[1].stat == exists_stat(c, "/mr")
    assert results[4].data == b""  # zero-length, not null
    # Failed reads do not abort the rest (no -2 results); the error record is exact.
    err = multi_header(-1, False, NO_NODE) + int32(NO_NODE)
    assert err + err in f.body


# ------------------------------------------------------------------ validation

B = "/vt"  # base node of the validation tests: children v, seq and ephemeral e

CREATE_CASES = [
    # (path, flags, acls, expected err, created path for OK)
    ("", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    ("a", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    (B + "/a/", 0, OPEN_ACL, NO_NODE, None),          # parent checked before syntax
    ("//a", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    (B + "/a//b", 0, OPEN_ACL, NO_NODE, None),
    (B + "/a/./b", 0, OPEN_ACL, NO_NODE, None),
    (B + "/a/../b", 0, OPEN_ACL, NO_NODE, None),
    (B + "/a/.", 0, OPEN_ACL, NO_NODE, None),
    ("/a\x00b", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    ("/.", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    ("/..", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    ("/a\x01b", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    ("/a\x7fb", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    ("/a\uf000b", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    (B + "/a.b", 0, OPEN_ACL, OK, B + "/a.b"),
    (B + "/...", 0, OPEN_ACL, OK, B + "/..."),
    (B + "/v/.x", 0, OPEN_ACL, OK, B + "/v/.x"),
    (B + "/v/x.", 0, OPEN_ACL, OK, B + "/v/x."),
    (B + "/v/..x", 0, OPEN_ACL, OK, B + "/v/..x"),
    (B + "/v//x", 0, OPEN_ACL, NO_NODE, None),
    (B + "/v/./x", 0, OPEN_ACL, NO_NODE, None),
    (B + "/v/.", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    (B + "/v/..", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    (B + "/v/", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    (B + "/v/x/", 0, OPEN_ACL, NO_NODE, None),
    ("/", 0, OPEN_ACL, NODE_EXISTS, None),
    (B + "/seq/", SEQUENTIAL, OPEN_ACL, OK, B + "/seq/0000000000"),
    (B + "/", SEQUENTIAL, OPEN_ACL, OK, B + "/0000000003"),  # v, seq, e created before
    (B + "/seq/", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    (B + "/v/.", SEQUENTIAL, OPEN_ACL, OK, B + "/v/.0000000000"),
    (B + "/v/..", SEQUENTIAL, OPEN_ACL, OK, B + "/v/..0000000000"),
    (B + "/v//", SEQUENTIAL, OPEN_ACL, NO_NODE, None),
    ("/zookeeper/x", 0, OPEN_ACL, OK, "/zookeeper/x"),
    ("/zookeeper/quota/x", 0, OPEN_ACL, OK, "/zookeeper/quota/x"),
    (B + "/f", 7, OPEN_ACL, BAD_ARGUMENTS, None),
    (B + "/f", 99, OPEN_ACL, BAD_ARGUMENTS, None),
    (B + "/f", -1, OPEN_ACL, BAD_ARGUMENTS, None),
    ("/nx/a", 7, OPEN_ACL, BAD_ARGUMENTS, None),       # flags checked before the parent
    (B + "/c", CONTAINER, OPEN_ACL, OK, B + "/c"),     # container mode via plain create
    (B + "/t", 5, OPEN_ACL, BAD_ARGUMENTS, None),      # TTL modes need op 21
    (B + "/t", 6, OPEN_ACL, BAD_ARGUMENTS, None),
    (B + "/f", 0, [], INVALID_ACL, None),
    (B + "/f", 0, None, INVALID_ACL, None),
    (B + "/f", 0, [(PERM_ALL, "foo", "bar")], INVALID_ACL, None),
    (B + "/f", 0, [(PERM_ALL, "world", "bob")], INVALID_ACL, None),
    (B + "/f", 0, [(PERM_ALL, "ip", "notanip")], INVALID_ACL, None),
    (B + "/f", 0, [(PERM_ALL, "auth", "")], INVALID_ACL, None),  # no addauth done
    (B + "/f", 0, [(0, "world", "anyone")], OK, B + "/f"),        # perms 0 allowed
    ("/nx/a", 0, [], INVALID_ACL, None),               # ACL checked before the parent
    (B + "/v", 0, [], INVALID_ACL, None),              # ... and before NODEEXISTS
    (B + "/v/", 0, [], INVALID_ACL, None),             # ... and before path syntax
    ("a", 0, [], BAD_ARGUMENTS, None),                 # but not before "no leading /"
    (B + "/e/c", 0, OPEN_ACL, NO_CHILDREN_FOR_EPHEMERALS, None),
    (B + "/e/c/d", 0, OPEN_ACL, NO_NODE, None),
    (B + "/e/.", 0, OPEN_ACL, BAD_ARGUMENTS, None),
    (B + "/e/", SEQUENTIAL, OPEN_ACL, NO_CHILDREN_FOR_EPHEMERALS, None),
]


@pytest.fixture
def vconn(raw):
    c = raw()
    for path, flags in ((B, 0), (B + "/v", 0), (B + "/seq", 0), (B + "/e", EPHEMERAL)):
        assert c.call(CREATE, create_req(path, flags=flags)).err == OK
    return c


@pytest.mark.parametrize("path,flags,acls,err,created", CREATE_CASES,
                         ids=[f"{i}:{c[0]!r}:{c[1]}" for i, c in enumerate(CREATE_CASES)])
def test_create_validation(vconn, path, flags, acls, err, created):
    z = vconn.last_zxid()
    f = vconn.call(CREATE, create_req(path, flags=flags, acls=acls))
    assert (f.err, f.zxid) == (err, z + 1)  # failed or not, a create takes one zxid
    assert f.body == (string(created) if err == OK else b"")
    if created and created.startswith("/zookeeper/"):
        assert vconn.call(DELETE, delete_req(created)).err == OK


def test_create_sequential_root(vconn):
    f = vconn.call(CREATE, create_req("/", flags=SEQUENTIAL))
    assert f.err == OK
    name = f.reader().string()
    assert re.fullmatch(r"/\d{10}", name), name
    assert vconn.call(DELETE, delete_req(name)).err == OK


WRITE_BODIES = {
    "delete": (DELETE, lambda p: delete_req(p)),
    "setData": (SET_DATA, lambda p: set_data_req(p, b"")),
    "setACL": (SET_ACL, lambda p: set_acl_req(p, OPEN_ACL)),
}


@pytest.mark.parametrize("op,path,err", [
    ("delete", "", BAD_ARGUMENTS),
    ("delete", "a", BAD_ARGUMENTS),
    ("delete", B + "/a/", NO_NODE),    # delete does no syntax check, only a lookup
    ("delete", B + "/v/", NO_NODE),
    ("delete", "/", BAD_ARGUMENTS),
    ("delete", "/zookeeper", BAD_ARGUMENTS),
    ("delete", "/zookeeper/quota", BAD_ARGUMENTS),
    ("delete", "/zookeeper/config", BAD_ARGUMENTS),
    ("setData", "a", BAD_ARGUMENTS),
    ("setData", B + "/a/", BAD_ARGUMENTS),  # setData validates the path
    ("setData", B + "/nx", NO_NODE),
    ("setData", "/zookeeper/config", NO_AUTH),  # its ACL is world:anyone READ
    ("setData", "/zookeeper", OK),
    ("setData", "/", OK),
    ("setACL", "/zookeeper/config", NO_AUTH),
])
def test_write_validation(vconn, op, path, err):
    opcode, body = WRITE_BODIES[op]
    z = vconn.last_zxid()
    f = vconn.call(opcode, body(path))
    assert (f.err, f.zxid) == (err, z + 1)  # failed or not, one zxid


def test_set_data_on_root_bumps_version(vconn):
    before = exists_stat(vconn, "/").version
    f = vconn.call(SET_DATA, set_data_req("/", b""))
    assert f.err == OK and f.reader().stat().version == before + 1


READ_BODIES = {
    "getData": (GET_DATA, path_req),
    "exists": (EXISTS, path_req),
    "getChildren": (GET_CHILDREN, path_req),
    "getACL": (GET_ACL, path_only_req),
}


@pytest.mark.parametrize("op,path,err", [
    ("getData", "a", NO_NODE),
    ("exists", "a", NO_NODE),
    ("getChildren", "a", NO_NODE),
    ("getACL", "a", NO_NODE),
    ("getData", "/a/", NO_NODE),
    ("exists", "/a/", NO_NODE),
    ("getData", "//a", NO_NODE),
    ("exists", "//a", NO_NODE),
    ("getData", "/a\x00b", NO_NODE),
    ("exists", "/a\x00b", BAD_ARGUMENTS),  # exists alone rejects \0
])
def test_read_validation(vconn, op, path, err):
    # Reads do no path validation, just a lookup, and consume no zxid.
    opcode, body = READ_BODIES[op]
    z = vconn.last_zxid()
    f = vconn.call(opcode, body(path))
    assert (f.err, f.zxid, f.body) == (err, z, b"")


def test_empty_path_reads_the_root(vconn):
    z = vconn.last_zxid()
    root = vconn.call(GET_DATA, path_req("/"))
    f = vconn.call(GET_DATA, path_req(""))
    assert (f.err, f.zxid, f.body) == (OK, z, root.body)
    f = vconn.call(EXISTS, path_req(""))
    assert (f.err, f.zxid) == (OK, z)
    assert f.body == root.body[-STAT_SIZE:]


@pytest.mark.parametrize("path", ["a", "/nonexist", "/"])
def test_sync_echoes_path(vconn, path):
    z = vconn.last_zxid()
    f = vconn.call(SYNC, path_only_req(path))
    assert (f.err, f.zxid, f.body) == (OK, z, string(path))


def test_null_data(vconn):
    f = vconn.call(CREATE, create_req(B + "/nd", data=None))
    assert f.err == OK
    f = vconn.call(GET_DATA, path_req(B + "/nd"))
    r = f.reader()
    assert f.body[:4] == int32(-1)  # null buffer, not an empty one
    assert r.buffer() is None
    assert r.stat().dataLength == 0


# ------------------------------------------------------------------ unknown opcode


@pytest.mark.parametrize("opcode", [99, 0, 10])
def test_unknown_opcode(raw, opcode):
    a = raw()
    f = a.call(opcode, b"")
    assert f.raw == int32(1) + int64(-1) + int32(UNIMPLEMENTED)
    a.expect_closed()
    # The session itself is not closed.
    b = resume(raw, a)
    assert b.call(EXISTS, path_req("/")).err == OK


# ------------------------------------------------------------------ watches


def test_notification_precedes_reply_on_same_connection(raw):
    c = raw()
    c.call(CREATE, create_req("/w", b"a"))
    c.call(GET_DATA, path_req("/w", True))
    xid = c.send(SET_DATA, set_data_req("/w", b"b"))
    n, r = c.frames_until_reply(xid)
    assert (r.xid, r.err) == (xid, OK)
    # ZOOKEEPER-4655: 3.9 notifications carry the zxid of the change (-1 in 3.8).
    assert n.raw == (int32(-1) + int64(since_39(-1, r.zxid)) + int32(0)
                     + int32(NODE_DATA_CHANGED) + int32(SYNC_CONNECTED) + string("/w"))

    c.call(GET_CHILDREN, path_req("/w", True))
    xid = c.send(CREATE, create_req("/w/d"))
    n, r = c.frames_until_reply(xid)
    assert events([n]) == [ev(NODE_CHILDREN_CHANGED, "/w")] and r.err == OK
    assert n.zxid == since_39(-1, r.zxid)  # ZOOKEEPER-4655

    assert c.call(EXISTS, path_req("/w5", True)).err == NO_NODE
    xid = c.send(CREATE, create_req("/w5"))
    n, r = c.frames_until_reply(xid)
    assert events([n]) == [ev(NODE_CREATED, "/w5")] and r.err == OK

    # A multi: every event, in op order, before the multi's reply.
    c.call(GET_CHILDREN, path_req("/w5", True))
    c.call(GET_DATA, path_req("/w5", True))
    assert c.call(EXISTS, path_req("/w6", True)).err == NO_NODE
    xid = c.send(MULTI, multi_req([(CREATE, create_req("/w5/x")),
                                   (SET_DATA, set_data_req("/w5", b"1")),
                                   (CREATE, create_req("/w6"))]))
    frames = c.frames_until_reply(xid)
    assert events(frames[:-1]) == [ev(NODE_CHILDREN_CHANGED, "/w5"),
                                   ev(NODE_DATA_CHANGED, "/w5"), ev(NODE_CREATED, "/w6")]
    assert frames[-1].err == OK
    # ZOOKEEPER-4655
    assert {f.zxid for f in frames[:-1]} == {since_39(-1, frames[-1].zxid)}


def _watch_all(c: RawConnection, path: str) -> None:
    assert c.call(GET_DATA, path_req(path, True)).err == OK
    assert c.call(GET_CHILDREN, path_req(path, True)).err == OK
    assert c.call(EXISTS, path_req(path, True)).err == OK


def test_delete_with_all_watches_fires_one_event_same_connection(raw):
    c = raw()
    c.call(CREATE, create_req("/w"))
    _watch_all(c, "/w")
    xid = c.send(DELETE, delete_req("/w"))
    frames = c.frames_until_reply(xid)
    assert events(frames[:-1]) == [ev(NODE_DELETED, "/w")]
    assert c.barrier()[0] == []


def test_delete_with_all_watches_fires_one_event_other_connection(raw):
    a, b = raw(), raw()
    b.call(CREATE, create_req("/w"))
    _watch_all(a, "/w")
    f = b.call(DELETE, delete_req("/w"))
    notes, _ = a.barrier()
    assert events(notes) == [ev(NODE_DELETED, "/w")]
    assert notes[0].zxid == since_39(-1, f.zxid)  # ZOOKEEPER-4655


def test_watch_registration_on_missing_nodes(raw):
    a, b = raw(), raw()
    z = a.last_zxid()
    # getData / getChildren on a missing node register nothing; exists does.
    assert a.call(GET_DATA, path_req("/m1", True)).summary() == (2, z, NO_NODE)  # xid 2
    assert a.call(GET_CHILDREN, path_req("/m2", True)).err == NO_NODE
    assert a.call(GET_CHILDREN2, path_req("/m4", True)).err == NO_NODE
    assert a.call(EXISTS, path_req("/m3", True)).err == NO_NODE
    for p in ("/m1", "/m2", "/m2/c", "/m3", "/m4", "/m4/c"):
        b.call(CREATE, create_req(p))
    b.call(SET_DATA, set_data_req("/m1", b"x"))
    notes, _ = a.barrier()
    assert events(notes) == [ev(NODE_CREATED, "/m3")]


def test_watches_are_a_set_per_connection(raw):
    a, b = raw(), raw()
    b.call(CREATE, create_req("/ws"))
    a.call(GET_DATA, path_req("/ws", True))
    a.call(GET_DATA, path_req("/ws", True))
    a.call(EXISTS, path_req("/ws", True))
    b.call(SET_DATA, set_data_req("/ws", b"x"))
    notes, _ = a.barrier()
    assert events(notes) == [ev(NODE_DATA_CHANGED, "/ws")]


def test_child_watch_and_data_watch_of_child(raw):
    a, b = raw(), raw()
    b.call(CREATE, create_req("/w5"))
    b.call(CREATE, create_req("/w5/x"))
    a.call(GET_CHILDREN, path_req("/w5", True))
    a.call(GET_DATA, path_req("/w5/x", True))
    a.call(GET_DATA, path_req("/w5", True))
    b.call(DELETE, delete_req("/w5/x"))
    notes, _ = a.barrier()
    assert events(notes) == [ev(NODE_DELETED, "/w5/x"), ev(NODE_CHILDREN_CHANGED, "/w5")]


def test_set_watches_after_reconnect(raw):
    a, b = raw(), raw()
    p = "/sw"
    for n in ("", "/d1", "/d2", "/d3", "/p4", "/e7"):
        assert b.call(CREATE, create_req(p + n)).err == OK
    z = a.last_zxid()
    a.close()
    b.call(SET_DATA, set_data_req(p + "/d1", b"x"))
    b.call(DELETE, delete_req(p + "/d3"))
    b.call(CREATE, create_req(p + "/p4/c"))
    b.call(CREATE, create_req(p + "/e5"))
    b.call(DELETE, delete_req(p + "/e7"))
    current = b.last_zxid()

    a2 = resume(raw, a, last_zxid=z)
    a2.send(SET_WATCHES, set_watches_req(
        z,
        data=[p + "/d1", p + "/d2", p + "/d3", p + "/nonexist"],
        exist=[p + "/e5", p + "/e6", p + "/d2", p + "/e7"],
        child=[p + "/p4", p + "/d3", p + "/nonexist2", p + "/d2"],
    ), xid=SET_WATCHES_XID)
    frames = a2.frames_until_reply(SET_WATCHES_XID)
    # Data watches, then exist watches, then child watches, each in list order,
    # all before the reply.
    assert events(frames[:-1]) == [
        ev(NODE_DATA_CHANGED, p + "/d1"),      # mzxid > relativeZxid
        ev(NODE_DELETED, p + "/d3"),
        ev(NODE_DELETED, p + "/nonexist"),     # even though it never existed
        ev(NODE_CREATED, p + "/e5"),
        ev(NODE_CREATED, p + "/d2"),           # exists now: fires even if unchanged
        ev(NODE_CHILDREN_CHANGED, p + "/p4"),  # pzxid > relativeZxid
        ev(NODE_DELETED, p + "/d3"),
        ev(NODE_DELETED, p + "/nonexist2"),
    ]
    # Events fired by SetWatches carry zxid -1 in 3.8 and 3.9 alike.
    assert {f.zxid for f in frames[:-1]} == {-1}
    assert frames[-1].raw == int32(SET_WATCHES_XID) + int64(current) + int32(OK)

    # The unfired watches were registered: data d2, exist e6 and e7, child d2;
    # the data watch on the missing "nonexist" was not kept.
    w1 = b.call(SET_DATA, set_data_req(p + "/d2", b"y"))
    w2 = b.call(CREATE, create_req(p + "/e6"))
    b.call(CREATE, create_req(p + "/nonexist"))
    w3 = b.call(CREATE, create_req(p + "/d2/c"))
    w4 = b.call(CREATE, create_req(p + "/e7"))
    notes, _ = a2.barrier()
    assert events(notes) == [ev(NODE_DATA_CHANGED, p + "/d2"), ev(NODE_CREATED, p + "/e6"),
                             ev(NODE_CHILDREN_CHANGED, p + "/d2"), ev(NODE_CREATED, p + "/e7")]
    # ZOOKEEPER-4655: events caused by a write carry its zxid in 3.9.
    assert [n.zxid for n in notes] == [since_39(-1, w.zxid) for w in (w1, w2, w3, w4)]


def test_set_watches_relative_zxid_zero(raw):
    a, b = raw(), raw()
    b.call(CREATE, create_req("/z0"))
    z = a.last_zxid()
    a.send(SET_WATCHES, set_watches_req(0, ["/z0"], ["/z0"], ["/z0"]), xid=SET_WATCHES_XID)
    frames = a.frames_until_reply(SET_WATCHES_XID)
    assert events(frames[:-1]) == [ev(NODE_DATA_CHANGED, "/z0"), ev(NODE_CREATED, "/z0"),
                                   ev(NODE_CHILDREN_CHANGED, "/z0")]
    assert frames[-1].summary() == (SET_WATCHES_XID, z, OK)
    # Any xid works for SetWatches; the reply echoes it.
    a.send(SET_WATCHES, set_watches_req(0, [], ["/z0"], []), xid=5)
    frames = a.frames_until_reply(5)
    assert events(frames[:-1]) == [ev(NODE_CREATED, "/z0")]
    assert frames[-1].summary() == (5, z, OK) and frames[-1].body == b""


# ------------------------------------------------------------------ persistent watches

ADD_WATCH, REMOVE_WATCHES, SET_WATCHES2 = 106, 18, 105
PERSISTENT, PERSISTENT_RECURSIVE = 0, 1


def add_watch_req(path: str, mode: int) -> bytes:
    return string(path) + int32(mode)


def set_watches2_req(relative_zxid, data=(), exist=(), child=(), persistent=(), recursive=()):
    return set_watches_req(relative_zxid, data, exist, child) + b"".join(
        int32(len(paths)) + b"".join(string(x) for x in paths) for paths in (persistent, recursive))


def test_add_watch_reply_carries_an_error_response_body(raw):
    # FinalRequestProcessor answers addWatch with ErrorResponse(0): the header
    # (last zxid, OK) and an int32 0 body; no zxid consumed.  No node needed.
    a = raw()
    z = a.last_zxid()
    f = a.call(ADD_WATCH, add_watch_req("/aw-missing", PERSISTENT))
    assert f.summary()[1:] == (z, OK) and f.body == int32(0)
    assert a.last_zxid() == z


def test_persistent_watch_events(raw):
    a, b = raw(), raw()
    b.call(CREATE, create_req("/pw"))
    a.call(ADD_WATCH, add_watch_req("/pw", PERSISTENT))
    b.call(SET_DATA, set_data_req("/pw", b"1"))
    b.call(CREATE, create_req("/pw/c"))
    b.call(DELETE, delete_req("/pw/c"))
    b.call(DELETE, delete_req("/pw"))
    b.call(CREATE, create_req("/pw"))
    notes, _ = a.barrier()
    assert events(notes) == [ev(NODE_DATA_CHANGED, "/pw"), ev(NODE_CHILDREN_CHANGED, "/pw"),
                             ev(NODE_CHILDREN_CHANGED, "/pw"), ev(NODE_DELETED, "/pw"),
                             ev(NODE_CREATED, "/pw")]


def test_recursive_watch_events(raw):
    a, b = raw(), raw()
    b.call(CREATE, create_req("/rw"))
    a.call(ADD_WATCH, add_watch_req("/rw", PERSISTENT_RECURSIVE))
    b.call(CREATE, create_req("/rw/a"))
    b.call(CREATE, create_req("/rw/a/b"))
    b.call(SET_DATA, set_data_req("/rw/a/b", b"x"))
    b.call(DELETE, delete_req("/rw/a/b"))
    b.call(CREATE, create_req("/rwx"))      # a sibling with the same prefix: not below /rw
    b.call(SET_DATA, set_data_req("/rw", b"y"))
    notes, _ = a.barrier()
    assert events(notes) == [ev(NODE_CREATED, "/rw/a"), ev(NODE_CREATED, "/rw/a/b"),
                             ev(NODE_DATA_CHANGED, "/rw/a/b"), ev(NODE_DELETED, "/rw/a/b"),
                             ev(NODE_DATA_CHANGED, "/rw")]


def test_set_watches2_restores_persistent_watches(raw):
    # A client that reconnects sends its persistent watches in SetWatches2;
    # they come back with no event for what happened in between.
    a, b = raw(), raw()
    b.call(CREATE, create_req("/sw2"))
    b.call(CREATE, create_req("/sw2r"))
    z = a.last_zxid()
    b.call(SET_DATA, set_data_req("/sw2", b"missed"))
    a.send(SET_WATCHES2, set_watches2_req(z, persistent=["/sw2"], recursive=["/sw2r"]),
           xid=SET_WATCHES_XID)
    frames = a.frames_until_reply(SET_WATCHES_XID)
    assert len(frames) == 1 and frames[0].err == OK and frames[0].body == b""
    b.call(SET_DATA, set_data_req("/sw2", b"1"))
    b.call(CREATE, create_req("/sw2r/k"))
    b.call(SET_DATA, set_data_req("/sw2", b"2"))
    notes, _ = a.barrier()
    assert events(notes) == [ev(NODE_DATA_CHANGED, "/sw2"), ev(NODE_CREATED, "/sw2r/k"),
                             ev(NODE_DATA_CHANGED, "/sw2")]


def test_remove_watches_any_removes_a_persistent_watch(raw):
    # Type Any (3) removes every mode in both tables, in 3.8 and 3.9 alike.
    a, b = raw(), raw()
    b.call(CREATE, create_req("/rwa"))
    a.call(ADD_WATCH, add_watch_req("/rwa", PERSISTENT))
    f = a.call(REMOVE_WATCHES, string("/rwa") + int32(3))
    assert f.err == OK
    b.call(SET_DATA, set_data_req("/rwa", b"1"))
    notes, _ = a.barrier()
    assert notes == []
    f = a.call(REMOVE_WATCHES, string("/rwa") + int32(3))
    assert f.err == -121  # NOWATCHER


def test_auth_reply_echoes_the_request_xid(raw):
    # Clients send addauth with xid -4; ZooKeeper answers with whatever xid
    # came (ZooKeeperServer.processPacket builds the header from it).
    a = raw()
    f = a.call(AUTH, auth_req("digest", "u:p"), xid=7)
    assert f.raw == int32(7) + int64(0) + int32(OK)


# ------------------------------------------------------------------ frame limits


@pytest.mark.parametrize("length", [0, -1, -100, MAX_FRAME + 1, 0x100064, 0x7FFFFFFF])
def test_bad_frame_length_after_connect(raw, length):
    a = raw()
    a.send_raw(int32(length))
    a.expect_closed()
    b = resume(raw, a)  # the session survives
    assert b.call(EXISTS, path_req("/")).err == OK


@pytest.mark.parametrize("length", [0, -1, MAX_FRAME + 1, 0x7FFFFFFF])
def test_bad_frame_length_before_connect(raw, length):
    c = raw(handshake=False)
    c.send_raw(int32(length))
    c.expect_closed()


def test_max_frame_payload(raw):
    a = raw()
    a.call(CREATE, create_req("/big"))
    overhead = 8 + len(set_data_req("/big", b""))
    pad = MAX_FRAME - overhead
    f = a.call(SET_DATA, set_data_req("/big", b"y" * pad))  # payload exactly 0xfffff
    assert f.err == OK and f.reader().stat().dataLength == pad
    # Replies are not limited by jute.maxbuffer.
    f = a.call(GET_DATA, path_req("/big"))
    assert f.err == OK and f.reader().buffer() == b"y" * pad
    # One byte more and the connection is dropped without a reply.
    try:
        a.send(SET_DATA, set_data_req("/big", b"y" * (pad + 1)))
    except ConnectionClosed:
        pass
    a.expect_closed()
    b = resume(raw, a)
    assert b.call(EXISTS, path_req("/big")).reader().stat().dataLength == pad


# ------------------------------------------------------------------ pipelining


def test_pipelined_requests_answered_in_order(raw):
    c = raw()
    z = c.last_zxid()
    reqs = [
        (CREATE, create_req("/p", b"d")),
        (GET_DATA, path_req("/p")),
        (DELETE, delete_req("/p")),
        (EXISTS, path_req("/p")),
        (CREATE, create_req("/p")),
        (CREATE, create_req("/p")),
        (SYNC, path_only_req("/")),
        (EXISTS, path_req("/p")),
    ]
    c.send_raw(b"".join(int32(8 + len(body)) + int32(i + 10) + int32(op) + body
                        for i, (op, body) in enumerate(reqs)))
    frames = [c.read_frame() for _ in reqs]
    assert [f.summary() for f in frames] == [
        (10, z + 1, OK), (11, z + 1, OK), (12, z + 2, OK), (13, z + 2, NO_NODE),
        (14, z + 3, OK), (15, z + 4, NODE_EXISTS), (16, z + 4, OK), (17, z + 4, OK)]
    assert frames[0].body == string("/p")
    assert frames[1].reader().buffer() == b"d"  # the read sees the preceding write
    assert frames[6].body == string("/")
    assert frames[7].reader().stat().czxid == z + 3


def test_xids_are_echoed_not_checked(raw):
    c = raw()
    xids = [100, 5, 5, -7, 0]
    body = path_req("/")
    c.send_raw(b"".join(int32(8 + len(body)) + int32(x) + int32(EXISTS) + body for x in xids))
    assert [c.read_frame().summary()[::2] for _ in xids] == [(x, OK) for x in xids]


# ------------------------------------------------------------------ expiry


def test_silent_session_expires(raw):
    b = raw()  # observer, 10 s session
    c = raw(timeout_ms=1000)
    t0 = time.monotonic()
    assert c.session.timeout == 1000
    z = b.last_zxid()
    c.expect_closed(timeout=10.0)  # no frame of any kind before the close
    # Never before the timeout (a busy machine can only make it later).
    assert time.monotonic() - t0 >= 0.9
    assert b.last_zxid() == z + 1  # the expiry's closeSession txn
    d = raw(handshake=False)
    d.send_frame(d.connect_request(session_id=c.session.session_id, passwd=c.session.passwd))
    assert d.read_payload() == zero_connect_response()
    d.expect_closed()


def test_pings_keep_session_alive(raw):
    c = raw(timeout_ms=1000)
    z = c.last_zxid()
    deadline = time.monotonic() + 2.5  # 2.5 x the session timeout
    while time.monotonic() < deadline:
        assert c.is_open_after(0.4)
        f = c.call(PING, b"", xid=PING_XID)
        assert f.raw == int32(PING_XID) + int64(z) + int32(OK)
    assert c.call(EXISTS, path_req("/")).err == OK


# ------------------------------------------------------------------ maxClientCnxns


def test_max_client_connections():
    srv = ServerProcess(target_kind(), cfg={"maxClientCnxns": "2"}).start()
    conns = []
    try:
        for _ in range(2):
            c = RawConnection(srv.port)
            conns.append(c)
            assert c.handshake().session_id != 0
        # The third is closed without a ConnectResponse.  The server drops it as
        # soon as it is accepted, so even connect() or the send may already fail.
        try:
            third = RawConnection(srv.port)
        except ConnectionRefusedError:
            raise
        except OSError:
            third = None
        if third is not None:
            conns.append(third)
            try:
                third.send_frame(third.connect_request())
            except ConnectionClosed:
                pass
            third.expect_closed()
        # The first two still work.
        for c in conns[:2]:
            assert c.call(EXISTS, path_req("/")).err == OK
    finally:
        for c in conns:
            c.close()
        srv.cleanup()
