"""zkwire.server.core.frontend.ServerCore driven directly (sans-IO, no sockets).

Each test feeds requests with a fake clock, flushes the StandaloneReplicator into
``commit`` the way the Twisted edge does, and inspects the outbox tuples:

    ("connect", timeout_ms, session_id, passwd, read_only)
    ("reply", xid, zxid, err, op, body)
    ("event", zxid, event_type, state, path)
    ("close", reason)

Every expectation is Apache ZooKeeper 3.8.0's observed behaviour
(tests/ZOOKEEPER_FACTS.md §0-§6, §8-§10).
"""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from zkwire import records as r
from zkwire.consts import Err, EventType, KeeperState, OpCode, Perms, Xid
from zkwire.server.core.sessions import session_password

from . import CoreHarness, acl, create_req, events, kinds, replies

CREATED, DELETED, CHANGED, CHILDREN = (EventType.NodeCreated, EventType.NodeDeleted,
                                       EventType.NodeDataChanged, EventType.NodeChildrenChanged)
USER = "user:smGaoVKd/cQkjm7b88GyorAUz20="
ZERO16 = b"\0" * 16


def stat_of(st_tuple):
    return dict(zip(r.Stat.fields, st_tuple))


def get(path, watch=False):
    return NS(path=path, watch=watch)


def set_data(path, data=b"", version=-1):
    return NS(path=path, data=data, version=version)


def delete(path, version=-1):
    return NS(path=path, version=version)


def auth(scheme, data):
    return NS(type=0, scheme=scheme, auth=data)


def reply(out):
    rs = replies(out)
    assert len(rs) == 1, out
    return rs[0]


def summary(out):
    """[(xid, zxid, err)] of the replies in ``out``."""
    return [(o[1], o[2], o[3]) for o in replies(out)]


@pytest.fixture
def h():
    return CoreHarness(tick_ms=500, now=0)


# --- the handshake (tests/ZOOKEEPER_FACTS.md §2) ------------------------------------------------

def test_new_session_after_create_session_commits(h):
    conn = h.connect(timeout=3000, flush=False)
    assert conn.outbox == []                       # waits for the createSession txn
    assert h.core.tree.last_zxid == 0
    h.flush()
    [item] = h.take(conn)
    kind, timeout, sid, passwd, read_only = item
    assert (kind, timeout, read_only) == ("connect", 3000, False)
    assert passwd == session_password(sid)
    assert (sid >> 56) == 1                        # standalone server id 1 in the top byte
    assert h.core.tree.last_zxid == 1              # createSession consumed a zxid
    assert conn.established and conn.session_id == sid


def test_session_ids_increment(h):
    a = h.connect()
    b = h.connect()
    sa, sb = h.take(a)[0][2], h.take(b)[0][2]
    assert sb == sa + 1


@pytest.mark.parametrize("asked, negotiated", [
    (100, 1000), (3000, 3000), (100000, 10000), (0, 1000), (-5, 1000), (1000, 1000),
    (10000, 10000),
])
def test_timeout_negotiation(h, asked, negotiated):
    conn = h.connect(timeout=asked)
    assert h.take(conn)[0][1] == negotiated


@pytest.mark.parametrize("passwd", [b"", None, b"garbage"])
def test_password_ignored_for_new_session(h, passwd):
    conn = h.connect(passwd=passwd)
    out = h.take(conn)
    assert kinds(out) == ["connect"] and out[0][2] != 0


def test_protocol_version_ignored(h):
    for pv in (1, -1, 5):
        conn = h.open()
        h.core.connect(conn, NS(protocolVersion=pv, lastZxidSeen=0, timeOut=3000, sessionId=0,
                                passwd=b""), False, h.now)
        h.flush()
        assert kinds(h.take(conn)) == ["connect"]


def test_client_ahead_of_server_is_closed_without_reply(h):
    a = h.session()
    z = h.core.tree.last_zxid
    for last in (z + 1, z + 100):
        conn = h.connect(last_zxid=last)
        assert kinds(h.take(conn)) == ["close"]
    assert h.core.tree.last_zxid == z               # no zxid consumed
    conn = h.connect(last_zxid=z)                   # equal is fine
    assert kinds(h.take(conn)) == ["connect"]
    # reconnect variant: the live connection of that session is NOT closed
    sid = a.session_id
    conn = h.connect(sid=sid, passwd=session_password(sid), last_zxid=z + 50)
    assert kinds(h.take(conn)) == ["close"]
    assert h.take(a) == []
    assert reply(h.call(a, 1, OpCode.exists, get("/")))[3] == 0


def test_reconnect_with_password_moves_the_session(h):
    old = h.connect(timeout=3000)
    _, _, sid, passwd, _ = h.take(old)[0]
    h.create(old, "/e", flags=1)
    new = h.connect(timeout=5000, sid=sid, passwd=passwd, last_zxid=h.core.tree.last_zxid)
    assert h.take(new) == [("connect", 5000, sid, passwd, False)]
    assert kinds(h.take(old)) == ["close"]          # the old connection is closed
    assert h.core.tree.get("/e") is not None        # the session and its ephemerals live on
    assert reply(h.call(new, 1, OpCode.getData, get("/e")))[3] == 0


@pytest.mark.parametrize("bad", [b"x" * 16, b"short", b"", None])
def test_wrong_password_reply_and_side_effects(h, bad):
    live = h.session()
    sid = live.session_id
    conn = h.connect(sid=sid, passwd=bad, last_zxid=h.core.tree.last_zxid)
    out = h.take(conn)
    assert out[0] == ("connect", 0, 0, ZERO16, False)
    assert kinds(out) == ["connect", "close"]
    # the session's live connection is closed too ...
    assert kinds(h.take(live)) == ["close"]
    # ... but the session survives: the right password still works
    again = h.connect(sid=sid, passwd=session_password(sid), last_zxid=h.core.tree.last_zxid)
    assert kinds(h.take(again)) == ["connect"]
    assert h.take(again) == []


def test_unknown_session(h):
    conn = h.connect(sid=0x0100000771F80099, passwd=session_password(0x0100000771F80099))
    out = h.take(conn)
    assert out[0] == ("connect", 0, 0, ZERO16, False)
    assert kinds(out) == ["connect", "close"]


def test_requests_pipelined_behind_the_handshake(h):
    conn = h.connect(flush=False)
    h.req(conn, 1, OpCode.create, create_req("/early"), flush=False)
    h.req(conn, 2, OpCode.exists, get("/early"), flush=False)
    assert conn.outbox == []
    h.flush()
    out = h.take(conn)
    assert kinds(out) == ["connect", "reply", "reply"]
    assert summary(out) == [(1, 2, 0), (2, 2, 0)]


# --- zxids in replies (tests/ZOOKEEPER_FACTS.md §1) ----------------------------------------------

def test_reply_zxids_follow_zookeeper(h):
    c = h.session()
    assert h.core.tree.last_zxid == 1
    seq = [
        (1, OpCode.create, create_req("/q1"), (2, 0)),
        (2, OpCode.getData, get("/q1"), (2, 0)),
        (3, OpCode.exists, get("/q1"), (2, 0)),
        (4, OpCode.exists, get("/nonexist"), (2, Err.NONODE)),
        (5, OpCode.getChildren, get("/"), (2, 0)),
        (6, OpCode.setData, set_data("/q1", b"x"), (3, 0)),
        (7, OpCode.create, create_req("/q1"), (4, Err.NODEEXISTS)),
        (8, OpCode.setData, set_data("/q1", b"", 99), (5, Err.BADVERSION)),
        (9, OpCode.delete, delete("/nonexist"), (6, Err.NONODE)),
        (10, OpCode.create, create_req("/np/x"), (7, Err.NONODE)),
        (11, OpCode.create2, create_req("/q1b"), (8, 0)),
        (13, OpCode.multi, [(OpCode.create, create_req("/m1")),
                            (OpCode.create, create_req("/q1"))], (9, 0)),
        (14, OpCode.multi, [(OpCode.create, create_req("/m2"))], (10, 0)),
        (15, OpCode.sync, NS(path="/"), (10, 0)),
        (16, OpCode.delete, delete("/q1b"), (11, 0)),
    ]
    for xid, op, req, (zxid, err) in seq:
        out = h.call(c, xid, op, req)
        assert summary(out) == [(xid, zxid, err)], (xid, out)
    # create2 carries the new node's stat: czxid is the txn zxid
    assert h.core.tree.get("/m1") is None
    assert h.core.tree.get("/m2").czxid == 10


def test_ping_auth_set_watches_zxids(h):
    c = h.session()
    h.create(c, "/a")
    z = h.core.tree.last_zxid
    assert h.call(c, Xid.PING, OpCode.ping) == [("reply", Xid.PING, z, 0, OpCode.ping, None)]
    out = h.call(c, Xid.AUTH, OpCode.auth, auth("digest", b"u:p"))
    assert summary(out) == [(Xid.AUTH, 0, 0)]
    sw = NS(relativeZxid=z, dataWatches=[], existWatches=[], childWatches=[])
    assert summary(h.call(c, Xid.SET_WATCHES, OpCode.setWatches, sw)) == [(Xid.SET_WATCHES, z, 0)]
    assert h.core.tree.last_zxid == z


def test_close_session_reply_then_close(h):
    c = h.session()
    h.create(c, "/e", flags=1)
    z = h.core.tree.last_zxid
    out = h.call(c, 17, OpCode.closeSession)
    assert kinds(out) == ["reply", "close"]
    assert summary(out) == [(17, z + 1, 0)]         # the closeSession txn's zxid
    assert h.core.tree.last_zxid == z + 1
    assert h.core.tree.get("/e") is None
    assert c.session_id not in h.core.sessions.sessions
    # the session is gone: reconnecting gets the all-zero answer
    again = h.connect(sid=c.session_id, passwd=session_password(c.session_id),
                      last_zxid=h.core.tree.last_zxid)
    assert h.take(again)[0] == ("connect", 0, 0, ZERO16, False)


def test_sync_echoes_any_path(h):
    c = h.session()
    for path in ("/", "a", "/nonexist"):
        out = h.call(c, 1, OpCode.sync, NS(path=path))
        assert reply(out)[3:] == (0, OpCode.sync, path)


def test_xids_are_echoed_unchecked(h):
    c = h.session()
    for xid in (100, 5, 5, -7, 0):
        assert reply(h.call(c, xid, OpCode.exists, get("/")))[1] == xid


# --- reads with odd paths (tests/ZOOKEEPER_FACTS.md §3) ---------------------------------------------

def test_reads_of_the_empty_path_see_the_root(h):
    c = h.session()
    root = h.core.tree.get("/").stat()
    assert reply(h.call(c, 1, OpCode.getData, get("")))[3:] == (0, OpCode.getData, (b"", root))
    assert reply(h.call(c, 2, OpCode.exists, get("")))[3:] == (0, OpCode.exists, root)


@pytest.mark.parametrize("op, path, err", [
    (OpCode.getData, "a", Err.NONODE),
    (OpCode.exists, "a", Err.NONODE),
    (OpCode.getChildren, "a", Err.NONODE),
    (OpCode.getACL, "a", Err.NONODE),
    (OpCode.getData, "/a/", Err.NONODE),
    (OpCode.exists, "//a", Err.NONODE),
    (OpCode.getData, "/a\x00b", Err.NONODE),
    (OpCode.exists, "/a\x00b", Err.BADARGUMENTS),
    (OpCode.getData, None, Err.MARSHALLINGERROR),
    (OpCode.exists, None, Err.MARSHALLINGERROR),
])
def test_read_path_handling(h, op, path, err):
    c = h.session()
    req = NS(path=path) if op == OpCode.getACL else get(path)
    out = h.call(c, 3, op, req)
    assert summary(out) == [(3, 1, err)]
    assert "close" not in kinds(out)
    assert reply(h.call(c, 4, OpCode.exists, get("/")))[3] == 0   # connection still usable


def test_null_data_reads_back_as_null(h):
    c = h.session()
    h.call(c, 1, OpCode.create, create_req("/n", None))
    data, st_ = reply(h.call(c, 2, OpCode.getData, get("/n")))[5]
    assert data is None and stat_of(st_)["dataLength"] == 0


def test_fresh_tree_reads(h):
    c = h.session()
    children = reply(h.call(c, 1, OpCode.getChildren, get("/zookeeper")))[5]
    assert sorted(children) == ["config", "quota"]
    acl_, st_ = reply(h.call(c, 2, OpCode.getACL, NS(path="/zookeeper/config")))[5]
    assert list(acl_) == [(Perms.READ, "world", "anyone")]
    assert stat_of(st_)["aversion"] == -1
    ch, st_ = reply(h.call(c, 3, OpCode.getChildren2, get("/")))[5]
    assert ch == ["zookeeper"] and stat_of(st_)["cversion"] == -1


def test_special_nodes_protected(h):
    c = h.session()
    assert summary(h.call(c, 1, OpCode.setData, set_data("/zookeeper/config")))[0][2] == \
        Err.NOAUTH
    for i, path in enumerate(("/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/")):
        assert summary(h.call(c, 2 + i, OpCode.delete, delete(path)))[0][2] == Err.BADARGUMENTS
    assert summary(h.call(c, 9, OpCode.create, create_req("/zookeeper/x")))[0][2] == 0


# --- sequential suffix and cversion (tests/ZOOKEEPER_FACTS.md §4) --------------------------------

def test_sequence_and_cversion_trace(h):
    a = h.session()
    b = h.session()

    def stat_t():
        s = stat_of(reply(h.call(a, 99, OpCode.exists, get("/t")))[5])
        return s["cversion"], s["numChildren"], s["pzxid"]

    h.create(a, "/t")
    z0 = h.core.tree.last_zxid
    assert stat_t() == (0, 0, z0)
    assert h.create(a, "/t/s", flags=2) == "/t/s0000000000"
    assert stat_t() == (1, 1, z0 + 1)
    h.call(a, 1, OpCode.delete, delete("/t/s0000000000"))
    assert stat_t() == (2, 0, z0 + 2)
    assert h.create(a, "/t/s", flags=2) == "/t/s0000000001"
    assert stat_t() == (3, 1, z0 + 3)
    h.call(a, 2, OpCode.delete, delete("/t/s0000000001"))
    assert stat_t() == (4, 0, z0 + 4)
    assert h.create(b, "/t/s", flags=2) == "/t/s0000000002"
    assert stat_t() == (5, 1, z0 + 5)
    h.create(a, "/t/p")
    assert stat_t() == (6, 2, z0 + 6)
    h.call(a, 3, OpCode.delete, delete("/t/p"))
    assert stat_t() == (7, 1, z0 + 7)
    h.create(a, "/t/p")
    h.call(a, 4, OpCode.delete, delete("/t/p"))
    assert stat_t() == (9, 1, z0 + 9)
    # failed delete: consumes a zxid, changes nothing
    assert summary(h.call(a, 5, OpCode.delete, delete("/t/p")))[0][2] == Err.NONODE
    assert stat_t() == (9, 1, z0 + 9)
    assert h.create(a, "/t/s", flags=2) == "/t/s0000000005"
    assert stat_t() == (10, 2, z0 + 11)


def test_sequential_with_trailing_slash_and_ephemeral(h):
    c = h.session()
    h.create(c, "/s")
    assert h.create(c, "/s/a", flags=2) == "/s/a0000000000"
    h.create(c, "/s/b")
    assert h.create(c, "/s/a", flags=2) == "/s/a0000000002"
    assert h.create(c, "/s/e", flags=3) == "/s/e0000000003"
    assert h.create(c, "/s/", flags=2) == "/s/0000000004"
    assert h.core.tree.get("/s/e0000000003").ephemeralOwner == c.session_id


# --- multi (tests/ZOOKEEPER_FACTS.md §6) ---------------------------------------------------------

def test_multi_success(h):
    c = h.session()
    h.create(c, "/mm")
    z = h.core.tree.last_zxid
    ops = [(OpCode.create, create_req("/mm/a")), (OpCode.create, create_req("/mm/b")),
           (OpCode.setData, set_data("/mm", b"y", 0)), (OpCode.check, delete("/mm", 1)),
           (OpCode.delete, delete("/mm/a")), (OpCode.create, create_req("/mm/s", flags=2))]
    out = h.call(c, 2, OpCode.multi, ops)
    (_, xid, zxid, err, op, rc), = replies(out)
    assert (xid, zxid, err, op) == (2, z + 1, 0, OpCode.multi)
    assert [(s.type, s.err) for s in rc.multi] == [(1, 0), (1, 0), (5, 0), (13, 0), (2, 0), (1, 0)]
    assert rc.multi[5].path == "/mm/s0000000002"
    st_ = stat_of(rc.multi[2].stat)
    assert (st_["czxid"], st_["mzxid"], st_["version"], st_["pzxid"]) == (z, z + 1, 1, z + 1)
    assert h.core.tree.last_zxid == z + 1


def test_failed_multi(h):
    c = h.session()
    h.create(c, "/mm")
    z = h.core.tree.last_zxid
    ops = [(OpCode.create, create_req("/mm/c")), (OpCode.setData, set_data("/mm")),
           (OpCode.check, delete("/mm", 99)), (OpCode.delete, delete("/mm/b"))]
    (_, xid, zxid, err, op, rc), = replies(h.call(c, 3, OpCode.multi, ops))
    assert (zxid, err) == (z + 1, 0)                  # RH err is 0, a zxid is consumed
    assert [(s.type, s.err) for s in rc.multi] == [(-1, 0), (-1, 0), (-1, -103), (-1, -2)]
    assert h.core.tree.get("/mm/c") is None
    assert h.core.tree.get("/mm").version == 0


@pytest.mark.parametrize("ops, errs", [
    ([(OpCode.create, create_req("/nx/x")), (OpCode.create, create_req("/mm/d"))], [-101, -2]),
    ([(OpCode.create, create_req("a")), (OpCode.create, create_req("/mm/d"))], [-8, -2]),
    ([(OpCode.create, create_req("/mm/d")), (OpCode.create, create_req("/mm/e", acl_list=[]))],
     [0, -114]),
    ([(OpCode.create, create_req("/mm/d")), (OpCode.create, create_req("/mm/d"))], [0, -110]),
])
def test_failed_multi_variants(h, ops, errs):
    c = h.session()
    h.create(c, "/mm")
    (_, _, _, err, _, rc), = replies(h.call(c, 3, OpCode.multi, ops))
    assert err == 0
    assert [s.err for s in rc.multi] == errs
    assert h.core.tree.get("/mm/d") is None


def test_empty_and_check_only_multi_consume_a_zxid(h):
    c = h.session()
    z = h.core.tree.last_zxid
    (_, _, zxid, err, _, rc), = replies(h.call(c, 1, OpCode.multi, []))
    assert (zxid, err, rc.multi) == (z + 1, 0, [])
    (_, _, zxid, err, _, rc), = replies(h.call(c, 2, OpCode.multi,
                                               [(OpCode.check, delete("/", -1))]))
    assert (zxid, err) == (z + 2, 0)
    assert [(s.type, s.err) for s in rc.multi] == [(OpCode.check, 0)]


def test_multi_read(h):
    c = h.session()
    h.create(c, "/mm")
    h.create(c, "/mm/b")
    z = h.core.tree.last_zxid
    ops = [(OpCode.getChildren, get("/mm")), (OpCode.getData, get("/mm")),
           (OpCode.getData, get("/nope")), (OpCode.getChildren, get("/nope")),
           (OpCode.getData, get("/mm/b"))]
    (_, xid, zxid, err, op, results), = replies(h.call(c, 5, OpCode.multiRead, ops))
    assert (zxid, err) == (z, 0)                      # no zxid consumed
    assert [(o, e) for o, e, _ in results] == [(8, 0), (4, 0), (-1, -101), (-1, -101), (4, 0)]
    assert results[0][2] == ["b"]
    assert results[4][2][0] == b""
    assert h.core.tree.last_zxid == z
    (_, _, zxid, err, _, results), = replies(h.call(c, 6, OpCode.multiRead, []))
    assert (zxid, err, results) == (z, 0, [])


# --- watches (tests/ZOOKEEPER_FACTS.md §5) ----------------------------------------------------------

def test_data_watch_fires_for_other_sessions_change(h):
    a, b = h.session(), h.session()
    h.create(b, "/w")
    h.call(a, 1, OpCode.getData, get("/w", True))
    out_b = h.call(b, 2, OpCode.setData, set_data("/w", b"v"))
    assert kinds(out_b) == ["reply"]
    out_a = h.take(a)
    assert kinds(out_a) == ["event"]
    assert out_a[0][2:] == (CHANGED, KeeperState.SyncConnected, "/w")
    # one-shot
    h.call(b, 3, OpCode.setData, set_data("/w", b"w"))
    assert h.take(a) == []


def test_delete_with_data_child_and_exist_watches_fires_once(h):
    a, b = h.session(), h.session()
    h.create(b, "/w")
    h.call(a, 1, OpCode.getData, get("/w", True))
    h.call(a, 2, OpCode.getChildren, get("/w", True))
    h.call(a, 3, OpCode.exists, get("/w", True))
    h.call(b, 4, OpCode.delete, delete("/w"))
    assert events(h.take(a)) == [(DELETED, "/w")]


def test_child_watch_only_on_delete(h):
    a, b = h.session(), h.session()
    h.create(b, "/w")
    h.call(a, 1, OpCode.getChildren, get("/w", True))
    h.call(b, 2, OpCode.delete, delete("/w"))
    assert events(h.take(a)) == [(DELETED, "/w")]


def test_child_creation_fires_child_watch_not_data_watch(h):
    a, b = h.session(), h.session()
    h.create(b, "/w")
    h.call(a, 1, OpCode.getChildren, get("/w", True))
    h.call(a, 2, OpCode.getData, get("/w", True))
    h.create(b, "/w/c")
    assert events(h.take(a)) == [(CHILDREN, "/w")]
    h.call(a, 3, OpCode.getChildren, get("/w", True))
    h.call(b, 4, OpCode.delete, delete("/w/c"))
    assert events(h.take(a)) == [(CHILDREN, "/w")]
    h.call(b, 5, OpCode.setData, set_data("/w"))    # the data watch is still pending
    assert events(h.take(a)) == [(CHANGED, "/w")]


def test_exists_on_missing_node_registers_getdata_and_getchildren_do_not(h):
    a, b = h.session(), h.session()
    assert summary(h.call(a, 1, OpCode.exists, get("/w2", True)))[0][2] == Err.NONODE
    assert summary(h.call(a, 2, OpCode.getData, get("/w3", True)))[0][2] == Err.NONODE
    assert summary(h.call(a, 3, OpCode.getChildren, get("/w4", True)))[0][2] == Err.NONODE
    h.create(b, "/w2")
    assert events(h.take(a)) == [(CREATED, "/w2")]
    h.create(b, "/w3")
    h.call(b, 4, OpCode.setData, set_data("/w3"))
    h.create(b, "/w4")
    h.create(b, "/w4/c")
    assert h.take(a) == []


def test_watches_are_a_set_per_connection(h):
    a, b = h.session(), h.session()
    h.create(b, "/w3")
    h.call(a, 1, OpCode.getData, get("/w3", True))
    h.call(a, 2, OpCode.getData, get("/w3", True))
    h.call(a, 3, OpCode.exists, get("/w3", True))
    h.call(b, 4, OpCode.setData, set_data("/w3"))
    assert events(h.take(a)) == [(CHANGED, "/w3")]


def test_child_delete_events_order(h):
    a, b = h.session(), h.session()
    h.create(b, "/w5")
    h.create(b, "/w5/x")
    h.call(a, 1, OpCode.getChildren, get("/w5", True))
    h.call(a, 2, OpCode.getData, get("/w5/x", True))
    h.call(b, 3, OpCode.delete, delete("/w5/x"))
    assert events(h.take(a)) == [(DELETED, "/w5/x"), (CHILDREN, "/w5")]


def test_event_precedes_the_reply_on_the_same_connection(h):
    c = h.session()
    h.create(c, "/w3")
    h.call(c, 1, OpCode.getData, get("/w3", True))
    out = h.call(c, 2, OpCode.setData, set_data("/w3"))
    assert kinds(out) == ["event", "reply"]
    assert events(out) == [(CHANGED, "/w3")]
    h.call(c, 3, OpCode.getData, get("/w3", True))
    h.call(c, 4, OpCode.getChildren, get("/w3", True))
    out = h.call(c, 5, OpCode.delete, delete("/w3"))
    assert kinds(out) == ["event", "reply"] and events(out) == [(DELETED, "/w3")]
    h.create(c, "/w4")
    h.call(c, 6, OpCode.getChildren, get("/w4", True))
    out = h.call(c, 7, OpCode.create, create_req("/w4/d"))
    assert kinds(out) == ["event", "reply"] and events(out) == [(CHILDREN, "/w4")]
    h.call(c, 8, OpCode.exists, get("/w5", True))
    out = h.call(c, 9, OpCode.create, create_req("/w5"))
    assert kinds(out) == ["event", "reply"] and events(out) == [(CREATED, "/w5")]


def test_multi_events_in_op_order_before_reply(h):
    c = h.session()
    h.create(c, "/w5")
    h.call(c, 1, OpCode.getChildren, get("/w5", True))
    h.call(c, 2, OpCode.getData, get("/w5", True))
    h.call(c, 3, OpCode.exists, get("/w6", True))
    out = h.call(c, 4, OpCode.multi, [(OpCode.create, create_req("/w5/x")),
                                      (OpCode.setData, set_data("/w5")),
                                      (OpCode.create, create_req("/w6"))])
    assert kinds(out) == ["event", "event", "event", "reply"]
    assert events(out) == [(CHILDREN, "/w5"), (CHANGED, "/w5"), (CREATED, "/w6")]


def test_close_session_deletes_ephemerals_and_fires_watches(h):
    a, c = h.session(), h.session()
    h.create(c, "/eph", flags=1)
    h.call(a, 1, OpCode.getData, get("/eph", True))
    h.call(a, 2, OpCode.getChildren, get("/", True))
    z = h.core.tree.last_zxid
    out = h.call(c, 3, OpCode.closeSession)
    assert kinds(out) == ["reply", "close"] and summary(out) == [(3, z + 1, 0)]
    assert events(h.take(a)) == [(DELETED, "/eph"), (CHILDREN, "/")]
    assert h.core.tree.get("/eph") is None


def test_lost_connection_drops_its_watches(h):
    a, b = h.session(), h.session()
    h.create(b, "/w")
    h.call(a, 1, OpCode.getData, get("/w", True))
    h.core.conn_lost(a)
    assert h.core.watches.count() == 0
    h.call(b, 2, OpCode.setData, set_data("/w"))
    assert h.take(a) == []


def test_set_watches_after_reconnect(h):
    # tests/ZOOKEEPER_FACTS.md §5 "SetWatches (op 101, xid -8) after reconnect"
    a, b = h.session(), h.session()
    for p in ("/d1", "/d2", "/d3", "/e7", "/p4"):
        h.create(b, p)
    rel = h.core.tree.last_zxid
    h.core.conn_lost(a)
    h.call(b, 1, OpCode.setData, set_data("/d1"))
    h.call(b, 2, OpCode.delete, delete("/d3"))
    h.create(b, "/p4/c")
    h.create(b, "/e5")
    h.call(b, 3, OpCode.delete, delete("/e7"))
    sid = a.session_id
    a2 = h.connect(sid=sid, passwd=session_password(sid), last_zxid=rel)
    assert kinds(h.take(a2)) == ["connect"]
    sw = NS(relativeZxid=rel, dataWatches=["/d1", "/d2", "/d3", "/nonexist"],
            existWatches=["/e5", "/e6", "/d2", "/e7"],
            childWatches=["/p4", "/d3", "/nonexist2", "/d2"])
    out = h.call(a2, Xid.SET_WATCHES, OpCode.setWatches, sw)
    assert kinds(out) == ["event"] * 8 + ["reply"]
    assert events(out) == [(CHANGED, "/d1"), (DELETED, "/d3"), (DELETED, "/nonexist"),
                           (CREATED, "/e5"), (CREATED, "/d2"),
                           (CHILDREN, "/p4"), (DELETED, "/d3"), (DELETED, "/nonexist2")]
    assert summary(out) == [(Xid.SET_WATCHES, h.core.tree.last_zxid, 0)]
    # the unfired ones were registered: d2 data, e6 and e7 exist, d2 child
    h.call(b, 4, OpCode.setData, set_data("/d2"))
    assert events(h.take(a2)) == [(CHANGED, "/d2")]
    h.create(b, "/e6")
    assert events(h.take(a2)) == [(CREATED, "/e6")]
    h.create(b, "/e7")
    assert events(h.take(a2)) == [(CREATED, "/e7")]
    h.create(b, "/d2/c")
    assert events(h.take(a2)) == [(CHILDREN, "/d2")]
    h.create(b, "/nonexist")                          # that data watch was not kept
    assert h.take(a2) == []


def test_set_watches_relative_zero_fires_everything(h):
    c = h.session()
    h.create(c, "/z0")
    sw = NS(relativeZxid=0, dataWatches=["/z0"], existWatches=["/z0"], childWatches=["/z0"])
    out = h.call(c, 5, OpCode.setWatches, sw)   # any xid works, it is echoed
    assert events(out) == [(CHANGED, "/z0"), (CREATED, "/z0"), (CHILDREN, "/z0")]
    assert replies(out)[0][1] == 5


# --- ordering and pipelining (tests/ZOOKEEPER_FACTS.md §10) ---------------------------------------

def test_read_waits_behind_the_same_sessions_write(h):
    c = h.session()
    h.req(c, 1, OpCode.create, create_req("/p"), flush=False)
    h.req(c, 2, OpCode.getData, get("/p"), flush=False)
    h.req(c, 3, OpCode.ping, None, flush=False)
    assert c.outbox == []                  # nothing leaves before the write commits
    h.flush()
    out = h.take(c)
    assert [(o[1], o[3]) for o in replies(out)] == [(1, 0), (2, 0), (Xid.PING, 0)]
    assert replies(out)[1][5][0] == b""     # the read saw the create


def test_other_sessions_read_is_not_blocked(h):
    a, b = h.session(), h.session()
    z = h.core.tree.last_zxid
    h.req(a, 1, OpCode.create, create_req("/p"), flush=False)
    h.req(b, 1, OpCode.exists, get("/p"), flush=False)
    assert summary(h.take(b)) == [(1, z, Err.NONODE)]     # answered at once, before the commit
    h.flush()
    assert summary(h.take(a)) == [(1, z + 1, 0)]


def test_pipelined_requests_answered_in_order(h):
    c = h.session()
    z = h.core.tree.last_zxid
    reqs = [(1, OpCode.create, create_req("/p")), (2, OpCode.getData, get("/p")),
            (3, OpCode.delete, delete("/p")), (4, OpCode.exists, get("/p")),
            (5, OpCode.create, create_req("/p")), (6, OpCode.create, create_req("/p")),
            (7, OpCode.sync, NS(path="/")), (8, OpCode.exists, get("/p"))]
    for xid, op, req in reqs:
        h.req(c, xid, op, req, flush=False)
    h.flush()
    out = h.take(c)
    assert summary(out) == [(1, z + 1, 0), (2, z + 1, 0), (3, z + 2, 0), (4, z + 2, -101),
                            (5, z + 3, 0), (6, z + 4, -110), (7, z + 4, 0), (8, z + 4, 0)]
    # each read sees the state at its place in the session's FIFO
    assert stat_of(replies(out)[1][5][1])["czxid"] == z + 1
    assert stat_of(replies(out)[-1][5])["czxid"] == z + 3


def test_group_commit_replies_carry_their_own_txn_zxid(h):
    # Several sessions' writes committed in one batch: each reply carries its own zxid.
    conns = [h.session() for _ in range(3)]
    z = h.core.tree.last_zxid
    for i, c in enumerate(conns):
        h.req(c, 1, OpCode.create, create_req("/g%d" % i), flush=False)
        h.req(c, 2, OpCode.getData, get("/g%d" % i), flush=False)
    h.flush()
    for i, c in enumerate(conns):
        (w, rd) = summary(h.take(c))
        assert w == (1, z + 1 + i, 0)
        # a read behind it sees at least that write (other sessions' commits may interleave)
        assert rd[0] == 2 and rd[2] == 0 and z + 1 + i <= rd[1] <= z + 3


# --- sessions and expiry (tests/ZOOKEEPER_FACTS.md §9) ----------------------------------------------

def test_session_expiry_through_tick(h):
    h.now = 0
    c = h.connect(timeout=1000)       # deadline: (0 + 1000) rounded up to the next tick = 1500
    h.take(c)
    h.create(c, "/e", flags=1)
    watcher = h.session(timeout=10000)
    h.call(watcher, 1, OpCode.exists, get("/e", True))
    z = h.core.tree.last_zxid
    h.tick(1499)
    assert h.take(c) == [] and h.core.tree.get("/e") is not None
    h.tick(1500)
    out = h.take(c)
    assert kinds(out) == ["close"]    # no frame of any kind, just closed
    assert h.core.tree.last_zxid == z + 1                 # expiry is a closeSession txn
    assert h.core.tree.get("/e") is None
    assert events(h.take(watcher)) == [(DELETED, "/e")]
    assert c.session_id not in h.core.sessions.sessions
    # reconnect to the expired session: all-zero answer, then close
    again = h.connect(sid=c.session_id, passwd=session_password(c.session_id),
                      last_zxid=h.core.tree.last_zxid)
    out = h.take(again)
    assert out[0] == ("connect", 0, 0, ZERO16, False) and kinds(out) == ["connect", "close"]


@pytest.mark.parametrize("connect_at, timeout, deadline", [
    (0, 1000, 1500), (1, 1000, 1500), (499, 1000, 1500), (500, 1000, 2000), (100, 3000, 3500),
])
def test_expiry_deadline_is_rounded_up_to_a_tick(connect_at, timeout, deadline):
    h = CoreHarness(tick_ms=500, now=connect_at)
    c = h.connect(timeout=timeout)
    h.take(c)
    h.tick(deadline - 1)
    assert h.take(c) == []
    h.tick(deadline)
    assert kinds(h.take(c)) == ["close"]


def test_requests_and_pings_keep_a_session_alive(h):
    c = h.connect(timeout=1000)
    h.take(c)
    for t in range(400, 3300, 400):
        h.now = t
        h.tick(t)
        h.req(c, Xid.PING, OpCode.ping)
        assert kinds(h.take(c)) == ["reply"], t
    # last touch at 3200: deadline (3200 + 1000) rounded up to the next tick = 4500
    h.tick(4499)
    assert h.take(c) == []
    h.tick(4500)
    assert kinds(h.take(c)) == ["close"]


def test_closed_socket_does_not_end_the_session(h):
    c = h.connect(timeout=3000)
    h.take(c)
    sid = c.session_id
    h.create(c, "/e", flags=1)
    h.core.conn_lost(c)
    h.tick(2000)
    assert h.core.tree.get("/e") is not None
    again = h.connect(timeout=3000, sid=sid, passwd=session_password(sid),
                      last_zxid=h.core.tree.last_zxid)
    assert kinds(h.take(again)) == ["connect"]
    h.core.conn_lost(again)
    h.tick(2000 + 3500)                 # (2000 + 3000) -> 5500
    assert h.core.tree.get("/e") is None
    assert sid not in h.core.sessions.sessions


def test_request_on_expired_session_closes_the_connection(h):
    c = h.connect(timeout=1000)
    h.take(c)
    h.core.tick(1500)                   # expiry proposed, not yet committed
    h.req(c, 5, OpCode.exists, get("/"), flush=False)
    assert kinds(h.take(c)) == ["close"]
    h.flush()


# --- auth (tests/ZOOKEEPER_FACTS.md §8) ---------------------------------------------------------------

def test_digest_auth_and_auth_acl(h):
    a, other = h.session(), h.session()
    out = h.call(a, Xid.AUTH, OpCode.auth, auth("digest", b"user:pass"))
    assert out == [("reply", Xid.AUTH, 0, 0, OpCode.auth, None)]
    out = h.call(a, 1, OpCode.create, create_req("/sec", b"s", acl_list=[acl(31, "auth", "")]))
    assert summary(out)[0][2] == 0
    assert h.core.tree.get("/sec").acl == ((31, "digest", USER),)
    assert reply(h.call(a, 2, OpCode.getData, get("/sec")))[3] == 0
    for op, req in [(OpCode.getData, get("/sec")), (OpCode.getChildren, get("/sec")),
                    (OpCode.setData, set_data("/sec")), (OpCode.getACL, NS(path="/sec"))]:
        assert reply(h.call(other, 3, op, req))[3] == Err.NOAUTH, op
    # delete checks the parent's ACL
    assert reply(h.call(other, 4, OpCode.delete, delete("/sec")))[3] == 0


def test_duplicate_and_second_addauth(h):
    a = h.session()
    for data in (b"user:pass", b"user2:pass2", b"user:pass", b"nocolon"):
        assert h.call(a, Xid.AUTH, OpCode.auth, auth("digest", data)) == [
            ("reply", Xid.AUTH, 0, 0, OpCode.auth, None)]
    h.call(a, 1, OpCode.create, create_req("/x", acl_list=[acl(31, "auth", "")]))
    stored = h.core.tree.get("/x").acl
    assert len(stored) == len(set(stored))
    assert (31, "digest", USER) in stored


@pytest.mark.parametrize("scheme", ["foo", "world", "sasl", "x509"])
def test_failed_auth_replies_then_closes(h, scheme):
    a = h.session()
    out = h.call(a, Xid.AUTH, OpCode.auth, auth(scheme, b"whatever"))
    assert out[0] == ("reply", Xid.AUTH, 0, Err.AUTHFAILED, OpCode.auth, None)
    assert kinds(out) == ["reply", "close"]          # no AUTH_FAILED event frame
    sid = a.session_id
    h.core.conn_lost(a)
    again = h.connect(sid=sid, passwd=session_password(sid), last_zxid=h.core.tree.last_zxid)
    assert kinds(h.take(again)) == ["connect"]       # the session survived


def test_ip_addauth_succeeds(h):
    a = h.session()
    out = h.call(a, Xid.AUTH, OpCode.auth, auth("ip", b"127.0.0.1"))
    assert out == [("reply", Xid.AUTH, 0, 0, OpCode.auth, None)]


def test_ip_acl_uses_the_connection_address(h):
    a = h.session()
    h.call(a, 1, OpCode.create, create_req("/ip", acl_list=[acl(31, "ip", "127.0.0.1")]))
    assert reply(h.call(a, 2, OpCode.getData, get("/ip")))[3] == 0
    far = h.connect(ip="10.1.2.3")
    h.take(far)
    assert reply(h.call(far, 3, OpCode.getData, get("/ip")))[3] == Err.NOAUTH


def test_who_am_i(h):
    a = h.session()
    h.call(a, Xid.AUTH, OpCode.auth, auth("digest", b"user:pass"))
    h.call(a, Xid.AUTH, OpCode.auth, auth("digest", b"user2:pass2"))
    body = reply(h.call(a, 1, OpCode.whoAmI))[5]
    # ClientInfo(authScheme, user): digest identities show the user name only
    assert sorted(body) == [("digest", "user"), ("digest", "user2"), ("ip", "127.0.0.1")]


def test_super_digest():
    from zkwire.server.core.acl import digest

    h = CoreHarness(tick_ms=500, super_digest=digest("super:pw"))
    a, s = h.session(), h.session()
    h.call(a, 1, OpCode.create, create_req("/locked", acl_list=[acl(0, "world", "anyone")]))
    assert reply(h.call(s, 2, OpCode.getData, get("/locked")))[3] == Err.NOAUTH
    h.call(s, Xid.AUTH, OpCode.auth, auth("digest", b"super:pw"))
    assert reply(h.call(s, 3, OpCode.getData, get("/locked")))[3] == 0


# --- misc ---------------------------------------------------------------------------------------

def test_stats_counters(h):
    c = h.session()
    before = h.core.stats.packets_sent
    h.call(c, 1, OpCode.exists, get("/"))
    h.call(c, 2, OpCode.create, create_req("/s"))
    assert h.core.stats.packets_sent == before + 2
    assert c.sent >= 2 and c.received >= 3


def test_ready_lists_touched_connections(h):
    a, b = h.session(), h.session()
    h.driver.ready()
    h.req(a, 1, OpCode.exists, get("/"), flush=False)
    rd = h.driver.ready()
    assert rd.conns == [a] and rd.persist == [] and rd.committed == []
    assert not h.driver.ready()
    assert b.outbox == []


def test_ready_hands_out_one_batch_and_commits_only_what_was_persisted(h):
    a = h.session()
    h.take(a)
    h.req(a, 1, OpCode.create, create_req("/x"), flush=False)
    rd = h.driver.ready(persist=False)
    assert rd.persist == []                      # left to gather into a batch
    rd = h.driver.ready()
    [(hdr, txn)] = rd.persist
    h.req(a, 2, OpCode.create, create_req("/y"), flush=False)
    assert h.driver.ready().persist == []        # one batch out at a time
    assert h.take(a) == [] and "/x" not in h.core.tree.nodes
    with pytest.raises(AssertionError):
        h.driver.persisted(hdr.zxid + 1, h.now)  # not what was handed out
    h.driver.persisted(hdr.zxid, h.now)
    rd = h.driver.ready()
    assert [c.zxid for c, _ in rd.committed] == [hdr.zxid]
    assert rd.conns == [a] and len(rd.persist) == 1   # /y's batch comes next
    assert replies(h.take(a))[0][:5] == ("reply", 1, hdr.zxid, 0, OpCode.create)


# --- the front end / proposer seam ----------------------------------------------------

class Forwarder:
    """What a follower puts in the proposer's place: it records, never preps."""

    def __init__(self):
        self.sent = []

    def create_session(self, sid, timeout_ms, now_ms):
        self.sent.append(("createSession", sid, 0))

    def write(self, sid, cxid, op, request, ids, now_ms):
        self.sent.append((op, sid, cxid))

    def reject(self, sid, cxid, err, now_ms):
        self.sent.append(("error", sid, cxid))

    def close_session(self, sid, cxid, now_ms):
        self.sent.append((OpCode.closeSession, sid, cxid))

    def committed(self, hdr):
        pass

    def tick(self, now_ms):
        pass


def test_commits_are_matched_to_requests_by_session_and_cxid(h):
    """A front end whose writes are proposed elsewhere (a follower's) answers
    each request when the txn with its (session id, cxid) commits, whatever
    its zxid, and ignores txns of sessions it does not hold."""
    a, b = h.session(), h.session()
    h.take(a), h.take(b)
    leader = h.core.proposer
    h.core.proposer = fwd = Forwarder()
    h.req(a, 7, OpCode.create, create_req("/a"), flush=False)
    h.req(b, 7, OpCode.create, create_req("/b"), flush=False)
    h.req(a, 8, OpCode.exists, get("/a"), flush=False)     # waits behind a's write
    assert fwd.sent == [(OpCode.create, a.session_id, 7), (OpCode.create, b.session_id, 7)]
    assert h.take(a) == [] and h.take(b) == []
    # The leader orders b's write first, and a txn from a third session between.
    other = 0x7700000000000001
    txns = [leader.prep.prep(b.session_id, 7, OpCode.create, create_req("/b"), (), h.now),
            leader.prep.prep(other, 7, OpCode.create, create_req("/c"), (), h.now),
            leader.prep.prep(a.session_id, 7, OpCode.create, create_req("/a"), (), h.now)]
    h.core.commit(txns[:2], h.now)
    [rb] = replies(h.take(b))
    assert rb[:5] == ("reply", 7, txns[0][0].zxid, 0, OpCode.create)
    assert h.take(a) == []                       # /c answers nobody here
    h.core.commit(txns[2:], h.now)
    ra = replies(h.take(a))
    assert [r[1] for r in ra] == [7, 8]          # the write, then the read behind it
    assert ra[1][3] == 0 and h.core.in_process == 0


def test_an_expiry_does_not_answer_a_pending_write_with_the_same_cxid(h):
    a = h.session()
    h.take(a)
    leader = h.core.proposer
    h.core.proposer = Forwarder()
    h.req(a, 0, OpCode.create, create_req("/z"), flush=False)   # xid 0, as an expiry's cxid
    hdr, txn = leader.prep.prep_close_session(a.session_id, h.now)
    h.core.commit([(hdr, txn)], h.now)
    out = h.take(a)
    assert not replies(out) and ("close", ) == out[-1][:1]
