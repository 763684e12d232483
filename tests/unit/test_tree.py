"""zkwire.server.core.tree.DataTree: the fresh tree, txn application, stats, triggers, determinism.

Expected values are ZooKeeper 3.8.0's observed ones (tests/ZOOKEEPER_FACTS.md §0, §4, §6).
"""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkwire.consts import CONTAINER_EPHEMERAL_OWNER, Err, EventType, OpCode, Perms
from zkwire.server.core.acl import OPEN_ACL_UNSAFE
from zkwire.server.core.tree import DataTree, ephemeral_kind, parent_of
from zkwire.server.storage.txnlog import decode_entry, encode_entry

from . import CoreHarness, create_req

OPEN = OPEN_ACL_UNSAFE
SID = 0x0100000771F80000
CREATED, DELETED, CHANGED, CHILDREN = (EventType.NodeCreated, EventType.NodeDeleted,
                                       EventType.NodeDataChanged, EventType.NodeChildrenChanged)


def stat(tree, path):
    return dict(zip(("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
                     "ephemeralOwner", "dataLength", "numChildren", "pzxid"),
                    tree.get(path).stat()))


class Txns:
    """Builds txns the way prep does, with consecutive zxids."""

    def __init__(self, tree, zxid=1, sid=SID):
        self.tree = tree
        self.zxid = zxid
        self.sid = sid
        self.time = 1000

    def apply(self, type_, txn, sid=None):
        hdr = NS(clientId=self.sid if sid is None else sid, cxid=0, zxid=self.zxid,
                 time=self.time, type=type_)
        self.zxid += 1
        self.time += 10
        return self.tree.apply(hdr, txn)

    def create(self, path, data=b"", ephemeral=False, pcv=-1, acl=OPEN, sid=None):
        return self.apply(OpCode.create, NS(path=path, data=data, acl=acl, ephemeral=ephemeral,
                                            parentCVersion=pcv), sid)

    def delete(self, path):
        return self.apply(OpCode.delete, NS(path=path))

    def set_data(self, path, data, version):
        return self.apply(OpCode.setData, NS(path=path, data=data, version=version))

    def error(self, err):
        return self.apply(OpCode.error, NS(err=err))


@pytest.fixture
def tree():
    return DataTree(OPEN)


# --- the fresh tree (tests/ZOOKEEPER_FACTS.md §0) -----------------------------------------------

def test_fresh_tree_matches_zookeeper(tree):
    assert tree.last_zxid == 0
    assert tree.node_count() == 5  # the root is counted twice, as ZooKeeper's srvr does
    assert list(tree.get("/").children) == ["zookeeper"]
    assert sorted(tree.get("/zookeeper").children) == ["config", "quota"]
    expect = {
        "/": (0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0),
        "/zookeeper": (0, 0, 0, 0, 0, -2, 0, 0, 0, 2, 0),
        "/zookeeper/quota": (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        "/zookeeper/config": (0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0),
    }
    for path, st_ in expect.items():
        assert tree.get(path).stat() == st_, path
        assert tree.get(path).data == b""
    assert tree.get("/").acl == ((31, "world", "anyone"),)
    assert tree.get("/zookeeper/config").acl == ((Perms.READ, "world", "anyone"),)
    # "" is the root's internal key: reads of "" see the root (tests/ZOOKEEPER_FACTS.md §3)
    assert tree.get("") is tree.get("/")


def test_parent_of():
    assert parent_of("/a") == ("", "a")
    assert parent_of("/a/b") == ("/a", "b")
    assert parent_of("/0000000007") == ("", "0000000007")


# --- create / delete / setData / setACL ----------------------------------------------------------

def test_create_sets_stat_and_parent(tree):
    t = Txns(tree, zxid=3)
    rc = t.create("/q1", b"hello")
    assert rc.err == 0 and rc.path == "/q1" and rc.zxid == 3
    s = stat(tree, "/q1")
    assert (s["czxid"], s["mzxid"], s["pzxid"]) == (3, 3, 3)
    assert s["ctime"] == s["mtime"] == 1000
    assert (s["version"], s["cversion"], s["aversion"], s["ephemeralOwner"]) == (0, 0, 0, 0)
    assert (s["dataLength"], s["numChildren"]) == (5, 0)
    assert rc.stat == tree.get("/q1").stat()
    root = stat(tree, "/")
    assert (root["cversion"], root["numChildren"], root["pzxid"]) == (0, 2, 3)
    assert rc.triggers == [(CREATED, "/q1"), (CHILDREN, "/")]
    assert tree.last_zxid == 3


def test_sequence_counter_and_reported_cversion(tree):
    # tests/ZOOKEEPER_FACTS.md §4, trace under /t: (reported cversion, numChildren, pzxid)
    # after each step.
    t = Txns(tree, zxid=0xB9)
    t.create("/t")
    assert (stat(tree, "/t")["cversion"], stat(tree, "/t")["numChildren"]) == (0, 0)
    steps = [
        (lambda: t.create("/t/s0000000000"), (1, 1, 0xBA)),
        (lambda: t.delete("/t/s0000000000"), (2, 0, 0xBB)),
        (lambda: t.create("/t/s0000000001"), (3, 1, 0xBC)),
        (lambda: t.delete("/t/s0000000001"), (4, 0, 0xBD)),
    ]
    for do, want in steps:
        do()
        s = stat(tree, "/t")
        assert (s["cversion"], s["numChildren"], s["pzxid"]) == want
    # The internal counter (sequence suffix) counts creations only.
    assert tree.get("/t").cversion == 2


def test_delete(tree):
    t = Txns(tree, zxid=1)
    t.create("/w")
    t.create("/w/x")
    rc = t.delete("/w/x")
    assert rc.err == 0 and rc.path == "/w/x"
    assert rc.triggers == [(DELETED, "/w/x"), (CHILDREN, "/w")]
    assert tree.get("/w/x") is None
    s = stat(tree, "/w")
    assert (s["numChildren"], s["cversion"], s["pzxid"]) == (0, 2, 3)
    assert tree.node_count() == 6


def test_set_data_and_acl(tree):
    t = Txns(tree, zxid=1)
    t.create("/d", b"a")
    rc = t.set_data("/d", b"bcd", 1)
    assert rc.err == 0 and rc.triggers == [(CHANGED, "/d")]
    s = stat(tree, "/d")
    assert (s["version"], s["mzxid"], s["czxid"], s["dataLength"]) == (1, 2, 1, 3)
    assert s["mtime"] == 1010 and s["ctime"] == 1000
    assert rc.stat == tree.get("/d").stat()
    acl = ((Perms.READ, "world", "anyone"),)
    rc = t.apply(OpCode.setACL, NS(path="/d", acl=acl, version=1))
    assert rc.err == 0 and rc.triggers == []
    assert tree.get("/d").acl == acl
    s = stat(tree, "/d")
    assert (s["aversion"], s["version"], s["mzxid"]) == (1, 1, 2)
    # setData on the parent does not change its cversion (tests/ZOOKEEPER_FACTS.md §4)
    before = stat(tree, "/")["cversion"]
    t.set_data("/", b"x", 1)
    assert stat(tree, "/")["cversion"] == before


def test_null_data_has_length_zero(tree):
    t = Txns(tree, zxid=1)
    t.create("/n", None)
    assert tree.get("/n").data is None
    assert stat(tree, "/n")["dataLength"] == 0


def test_error_txn_consumes_zxid_without_changes(tree):
    t = Txns(tree, zxid=5)
    rc = t.error(Err.NODEEXISTS)
    assert rc.err == Err.NODEEXISTS and rc.triggers == []
    assert tree.last_zxid == 5
    assert tree.node_count() == 5


def test_create_session_txn_changes_nothing_but_zxid(tree):
    t = Txns(tree, zxid=1)
    rc = t.apply(OpCode.createSession, NS(timeOut=3000))
    assert rc.err == 0 and tree.last_zxid == 1 and tree.node_count() == 5


# --- ephemerals and closeSession ----------------------------------------------------------------

def test_ephemerals_indexed_and_removed_by_close_session(tree):
    t = Txns(tree, zxid=1)
    t.create("/p")
    t.create("/p/e1", ephemeral=True)
    t.create("/e2", ephemeral=True)
    t.create("/other", ephemeral=True, sid=SID + 1)
    assert stat(tree, "/p/e1")["ephemeralOwner"] == SID
    assert ephemeral_kind(SID) == "normal"
    assert sorted(tree.session_ephemerals(SID)) == ["/e2", "/p/e1"]
    rc = t.apply(OpCode.closeSession, NS(paths2Delete=["/p/e1", "/e2"]))
    assert rc.err == 0
    assert rc.triggers == [(DELETED, "/p/e1"), (CHILDREN, "/p"), (DELETED, "/e2"), (CHILDREN, "/")]
    assert tree.get("/p/e1") is None and tree.get("/e2") is None
    assert tree.session_ephemerals(SID) == []
    assert tree.session_ephemerals(SID + 1) == ["/other"]
    assert tree.get("/other") is not None


def test_close_session_also_deletes_unlisted_ephemerals(tree):
    # A txn logged before an ephemeral was created must still leave no orphan behind.
    t = Txns(tree, zxid=1)
    t.create("/e", ephemeral=True)
    rc = t.apply(OpCode.closeSession, NS(paths2Delete=[]))
    assert tree.get("/e") is None
    assert rc.triggers == [(DELETED, "/e"), (CHILDREN, "/")]


def test_container_owner(tree):
    t = Txns(tree, zxid=1)
    rc = t.apply(OpCode.createContainer, NS(path="/c", data=b"", acl=OPEN, parentCVersion=-1))
    assert rc.err == 0
    # Stored as ZooKeeper stores it; clients are shown 0 (DataNode.copyStat shows
    # only a session's ownership), which Apache ZooKeeper also reports via kazoo.
    assert tree.get("/c").ephemeralOwner == CONTAINER_EPHEMERAL_OWNER == -(2 ** 63)
    assert stat(tree, "/c")["ephemeralOwner"] == 0
    assert ephemeral_kind(CONTAINER_EPHEMERAL_OWNER) == "container"
    assert ephemeral_kind(0) == ""


# --- multi -------------------------------------------------------------------------------------

def test_multi_success_applies_in_order_with_one_zxid(tree):
    t = Txns(tree, zxid=0xCA)
    t.create("/mm")
    subs = [
        (OpCode.create, NS(path="/mm/a", data=b"", acl=OPEN, ephemeral=False, parentCVersion=1)),
        (OpCode.setData, NS(path="/mm", data=b"y", version=1)),
        (OpCode.check, NS(path="/mm", version=1)),
        (OpCode.delete, NS(path="/mm/a")),
    ]
    rc = t.apply(OpCode.multi, subs)
    assert rc.err == 0
    assert [(s.type, s.err) for s in rc.multi] == [(1, 0), (5, 0), (13, 0), (2, 0)]
    # the setData result shows /mm as of that op (child /mm/a still there)
    st1 = dict(zip(("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
                    "ephemeralOwner", "dataLength", "numChildren", "pzxid"), rc.multi[1].stat))
    assert (st1["czxid"], st1["mzxid"], st1["version"], st1["numChildren"], st1["pzxid"],
            st1["cversion"]) == (0xCA, 0xCB, 1, 1, 0xCB, 1)
    assert rc.triggers == [(CREATED, "/mm/a"), (CHILDREN, "/mm"), (CHANGED, "/mm"),
                           (DELETED, "/mm/a"), (CHILDREN, "/mm")]
    s = stat(tree, "/mm")
    assert (s["mzxid"], s["pzxid"], s["version"], s["czxid"]) == (0xCB, 0xCB, 1, 0xCA)
    assert tree.last_zxid == 0xCB


def test_failed_multi_applies_nothing(tree):
    # tests/ZOOKEEPER_FACTS.md §6: results 0 before the failing op, its code, -2 after;
    # nothing applied.
    t = Txns(tree, zxid=1)
    t.create("/mm")
    subs = [
        (OpCode.error, NS(err=0)),
        (OpCode.error, NS(err=0)),
        (OpCode.error, NS(err=Err.BADVERSION)),
        (OpCode.error, NS(err=Err.RUNTIMEINCONSISTENCY)),
    ]
    before = tree.get("/mm").stat()
    rc = t.apply(OpCode.multi, subs)
    assert [(s.type, s.err) for s in rc.multi] == [(-1, 0), (-1, 0), (-1, -103), (-1, -2)]
    assert rc.triggers == []
    assert tree.get("/mm").stat() == before
    assert tree.last_zxid == 2


def test_empty_multi(tree):
    rc = Txns(tree, zxid=7).apply(OpCode.multi, [])
    assert rc.err == 0 and rc.multi == [] and tree.last_zxid == 7


# --- replay tolerance ----------------------------------------------------------------------------

def test_replayed_txns_that_no_longer_fit_do_not_raise(tree):
    t = Txns(tree, zxid=1)
    t.create("/a")
    assert t.create("/a").err == Err.NODEEXISTS
    assert t.delete("/nope").err == Err.NONODE
    assert t.create("/x/y").err == Err.NONODE
    assert t.set_data("/nope", b"", 1).err == Err.NONODE
    assert tree.last_zxid == 5


# --- determinism -------------------------------------------------------------------------------

def snapshot(tree):
    out = {}
    for path, node in tree.nodes.items():
        out[path] = (node.stat(), node.data, tuple(node.acl), tuple(node.children))
    return out, tree.last_zxid, {k: tuple(v) for k, v in tree.ephemerals.items()}


NAMES = st.sampled_from(["/a", "/b", "/a/x", "/a/y", "/b/z", "/a/x/q"])


@st.composite
def request_script(draw):
    steps = []
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["create", "eph", "seq", "delete", "set", "multi", "close"]))
        steps.append((kind, draw(st.integers(0, 2)), draw(NAMES), draw(st.binary(max_size=4))))
    return steps


def run_script(script):
    h = CoreHarness(tick_ms=500, now=1_000_000)
    conns = [h.session(), h.session(), h.session()]
    for i, (kind, who, path, data) in enumerate(script):
        c = conns[who]
        if c.closed or not c.established or any(o[0] == "close" for o in c.outbox):
            conns[who] = c = h.session()
        if kind in ("create", "eph", "seq"):
            flags = {"create": 0, "eph": 1, "seq": 2}[kind]
            h.req(c, i, OpCode.create, create_req(path, data, flags), flush=i % 3 == 0)
        elif kind == "delete":
            h.req(c, i, OpCode.delete, NS(path=path, version=-1), flush=i % 2 == 0)
        elif kind == "set":
            h.req(c, i, OpCode.setData, NS(path=path, data=data, version=-1), flush=False)
        elif kind == "multi":
            ops = [(OpCode.create, create_req(path + "m", data, 0)),
                   (OpCode.setData, NS(path=path, data=data, version=-1))]
            h.req(c, i, OpCode.multi, ops, flush=False)
        else:
            h.req(c, i, OpCode.closeSession, None)
        h.now += 7
    h.flush()
    return h


def through_the_log(entries):
    """The entries as a replica reads them: encoded as in the txn log, then
    decoded from those bytes (no object is shared with the server's tree)."""
    return [decode_entry(encode_entry(hdr, txn))[:2] for hdr, txn in entries]


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(request_script())
def test_replicas_applying_the_same_txns_are_identical(script):
    h = run_script(script)
    # A second tree replaying the txn log's bytes ends identical to the server's.
    replica = DataTree(OPEN)
    for hdr, txn in through_the_log(h.log.entries):
        replica.apply(hdr, txn)
    assert snapshot(replica) == snapshot(h.core.tree)
    # every logged txn got its own zxid, in order
    zxids = [hdr.zxid for hdr, _ in h.log.entries]
    assert zxids == list(range(1, len(zxids) + 1))


class LoggingTree(DataTree):
    """A DataTree that keeps every txn applied to it, as the log would."""

    def __init__(self, acl):
        super().__init__(acl)
        self.entries = []

    def apply(self, hdr, txn):
        self.entries.append((hdr, txn))
        return super().apply(hdr, txn)


def test_two_trees_same_txns_identical():
    first = LoggingTree(OPEN)
    t = Txns(first, zxid=1)
    t.create("/a", b"1")
    t.create("/a/b", ephemeral=True)
    t.create("/a/c")
    t.set_data("/a", b"22", 1)
    t.delete("/a/c")
    t.apply(OpCode.closeSession, NS(paths2Delete=["/a/b"]))
    t.create("/a/s0000000003")
    second = DataTree(OPEN)
    for hdr, txn in through_the_log(first.entries):
        second.apply(hdr, txn)
    assert snapshot(second) == snapshot(first)
    assert "/a/s0000000003" in second.nodes and "/a/b" not in second.nodes
    assert second.get("/a").data == b"22"


def test_equal_acls_are_shared_and_leaves_share_no_children():
    from zkwire.server.core.tree import NO_CHILDREN

    tree = DataTree(OPEN_ACL_UNSAFE)
    acl = lambda: ((31, "digest", "u:" + "x" * 3),)  # noqa: E731 - a fresh tuple each call
    tree.create_node("/a", b"", acl(), 0, -1, 1, 0, [])
    tree.create_node("/b", b"", acl(), 0, -1, 2, 0, [])
    assert tree.get("/a").acl is tree.get("/b").acl
    tree.set_acl("/a", acl(), 1)
    assert tree.get("/a").acl is tree.get("/b").acl
    assert tree.get("/a").children is NO_CHILDREN
    tree.create_node("/a/c", b"", acl(), 0, -1, 3, 0, [])
    assert list(tree.get("/a").children) == ["c"]
    tree.delete_node("/a/c", 4, [])
    assert tree.get("/a").children is NO_CHILDREN and tree.get("/a").stat()[9] == 0
