"""Single-node operations through unmodified kazoo: create/get/set/delete/exists/children/sync.

Every expected value here was observed on Apache ZooKeeper 3.8.0
(``ZKWIRE_TEST_TARGET=zookeeper``); the same file runs unchanged against zkwire.

Facts about ZooKeeper pinned down here (see the individual tests):

* Every write request that reaches the leader consumes a zxid, even when it fails
  (create on an existing node, delete of a missing node, bad version...): ZooKeeper
  logs an error txn for it.  Reads and sync do not consume a zxid.
* The client-visible ``cversion`` is derived: ZooKeeper stores the number of child
  *creations* and reports ``2 * creations - numChildren``.  So a create bumps it by 1,
  a delete bumps it by 1, setData on a child leaves it alone, and the initial nodes
  have odd values (``/`` has -1, ``/zookeeper`` has -2).
* The sequential suffix is the number of child creations so far (NOT the visible
  cversion): ``(cversion + numChildren) // 2``.
"""
from __future__ import annotations

import re
import threading
import time

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)
from kazoo.security import ACL, Id, OPEN_ACL_UNSAFE, Permissions

from servers import ServerProcess, target_kind

EVENT_TIMEOUT = 10.0


def now_ms() -> int:
    return int(time.time() * 1000)


def stat_tuple(stat):
    return (
        stat.czxid, stat.mzxid, stat.ctime, stat.mtime, stat.version, stat.cversion,
        stat.aversion, stat.ephemeralOwner, stat.dataLength, stat.numChildren, stat.pzxid,
    )


# ---------------------------------------------------------------------------
# Fresh server: the initial tree exactly as a brand new ZooKeeper shows it
# ---------------------------------------------------------------------------


@pytest.fixture
def fresh(make_client):
    """A brand new server (own data dir) and one connected client."""
    srv = ServerProcess(target_kind())
    srv.start()
    try:
        client = make_client(hosts=srv.hosts)
        yield client
        client.stop()
    finally:
        srv.cleanup()


@pytest.fixture(scope="module")
def pristine():
    """A brand new server shared by read-only tests of the initial tree."""
    from kazoo.client import KazooClient

    srv = ServerProcess(target_kind())
    srv.start()
    client = KazooClient(hosts=srv.hosts, timeout=10.0)
    try:
        client.start(timeout=15)
        yield client
    finally:
        try:
            client.stop()
            client.close()
        finally:
            srv.cleanup()


def test_fresh_root_node(pristine):
    fresh = pristine
    data, stat = fresh.get("/")
    assert data == b""
    # cversion -1: zero recorded creations, one child ("zookeeper").
    assert stat_tuple(stat) == (0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0)
    assert fresh.get_children("/") == ["zookeeper"]
    assert fresh.get_acls("/")[0] == OPEN_ACL_UNSAFE


def test_fresh_zookeeper_node(pristine):
    fresh = pristine
    data, stat = fresh.get("/zookeeper")
    assert data == b""
    assert stat_tuple(stat) == (0, 0, 0, 0, 0, -2, 0, 0, 0, 2, 0)
    assert sorted(fresh.get_children("/zookeeper")) == ["config", "quota"]
    assert fresh.get_acls("/zookeeper")[0] == OPEN_ACL_UNSAFE


def test_fresh_config_and_quota_nodes(pristine):
    fresh = pristine
    data, stat = fresh.get("/zookeeper/config")
    assert data == b""
    # /zookeeper/config is the only initial node with aversion -1.
    assert stat_tuple(stat) == (0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0)
    assert fresh.get_children("/zookeeper/config") == []
    assert fresh.get_acls("/zookeeper/config")[0] == [
        ACL(Permissions.READ, Id("world", "anyone"))
    ]
    data, stat = fresh.get("/zookeeper/quota")
    assert data == b""
    assert stat_tuple(stat) == (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert fresh.get_children("/zookeeper/quota") == []
    assert fresh.get_acls("/zookeeper/quota")[0] == OPEN_ACL_UNSAFE


def test_fresh_first_create_zxid_and_root_stat(fresh):
    # zxid 1 went to the createSession of the only client.
    path, stat = fresh.create("/first", b"", include_data=True)
    assert path == "/first"
    assert (stat.czxid, stat.mzxid, stat.pzxid) == (2, 2, 2)
    root = fresh.exists("/")
    # one recorded creation, two children -> 2*1 - 2 == 0
    assert stat_tuple(root) == (0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2)


def test_fresh_first_sequential_under_root(fresh):
    # "zookeeper" is not counted as a creation: the first suffix is 0.
    assert fresh.create("/s", sequence=True) == "/s0000000000"
    assert fresh.create("/s", sequence=True) == "/s0000000001"
    root = fresh.exists("/")
    assert (root.cversion, root.numChildren) == (1, 3)


def test_fresh_system_nodes_protected(fresh):
    with pytest.raises(BadArgumentsError):
        fresh.delete("/")
    with pytest.raises(BadArgumentsError):
        fresh.delete("/", version=99)
    with pytest.raises(BadArgumentsError):
        fresh.delete("/zookeeper")
    with pytest.raises(BadArgumentsError):
        fresh.delete("/zookeeper", version=5)
    with pytest.raises(BadArgumentsError):
        fresh.delete("/zookeeper/quota")
    with pytest.raises(BadArgumentsError):
        fresh.delete("/zookeeper/config")
    with pytest.raises(NodeExistsError):
        fresh.create("/")
    with pytest.raises(NodeExistsError):
        fresh.create("/zookeeper")
    # /zookeeper/config is world:READ only
    with pytest.raises(NoAuthError):
        fresh.set("/zookeeper/config", b"x")
    with pytest.raises(NoAuthError):
        fresh.create("/zookeeper/config/x")
    assert sorted(fresh.get_children("/zookeeper")) == ["config", "quota"]
    assert fresh.get("/zookeeper/config")[1].version == 0


def test_fresh_zookeeper_node_is_writable(fresh):
    # Children can be created and deleted under /zookeeper and /zookeeper/quota,
    # and /zookeeper's data can be set; only the system nodes themselves are protected.
    path, stat = fresh.create("/zookeeper/x", include_data=True)
    assert path == "/zookeeper/x"
    zstat = fresh.exists("/zookeeper")
    assert (zstat.cversion, zstat.numChildren, zstat.pzxid) == (-1, 3, stat.czxid)
    fresh.delete("/zookeeper/x")
    zstat = fresh.exists("/zookeeper")
    assert (zstat.cversion, zstat.numChildren, zstat.pzxid) == (0, 2, stat.czxid + 1)
    stat = fresh.set("/zookeeper", b"v")
    assert (stat.version, stat.dataLength, stat.czxid) == (1, 1, 0)
    assert fresh.set("/", b"root").version == 1
    assert fresh.get("/")[0] == b"root"


# ---------------------------------------------------------------------------
# create
# ---------------------------------------------------------------------------


def test_create_persistent(zk):
    assert zk.create("/p", b"hello") == "/p"
    data, stat = zk.get("/p")
    assert data == b"hello"
    assert stat.ephemeralOwner == 0
    assert stat.dataLength == 5


def test_create_default_data_is_empty(zk):
    zk.create("/empty")
    data, stat = zk.get("/empty")
    assert data == b""
    assert stat.dataLength == 0


def test_create_returns_create2_stat(zk):
    before = now_ms()
    path, stat = zk.create("/c2", b"abc", include_data=True)
    after = now_ms()
    assert path == "/c2"
    assert stat.czxid == stat.mzxid == stat.pzxid
    assert stat.czxid > 0
    assert stat.ctime == stat.mtime
    assert before - 1000 <= stat.ctime <= after + 1000
    assert (stat.version, stat.cversion, stat.aversion) == (0, 0, 0)
    assert (stat.ephemeralOwner, stat.dataLength, stat.numChildren) == (0, 3, 0)
    assert stat_tuple(zk.get("/c2")[1]) == stat_tuple(stat)
    assert stat_tuple(zk.exists("/c2")) == stat_tuple(stat)


def test_create_ephemeral(zk, make_client):
    path, stat = zk.create("/eph", b"e", ephemeral=True, include_data=True)
    assert path == "/eph"
    assert stat.ephemeralOwner == zk.client_id[0]
    assert stat.ephemeralOwner != 0
    other = make_client()
    assert other.exists("/eph").ephemeralOwner == zk.client_id[0]
    assert other.get("/eph")[0] == b"e"


def test_create_sequential(zk):
    zk.create("/seq")
    assert zk.create("/seq/n-", b"a", sequence=True) == "/seq/n-0000000000"
    assert zk.create("/seq/n-", sequence=True) == "/seq/n-0000000001"
    assert zk.create("/seq/other", sequence=True) == "/seq/other0000000002"
    assert sorted(zk.get_children("/seq")) == [
        "n-0000000000", "n-0000000001", "other0000000002",
    ]
    assert zk.get("/seq/n-0000000000")[0] == b"a"


def test_create_sequential_empty_prefix(zk):
    zk.create("/seq")
    assert zk.create("/seq/", sequence=True) == "/seq/0000000000"
    assert zk.get_children("/seq") == ["0000000000"]


def test_create_ephemeral_sequential(zk):
    zk.create("/es")
    path, stat = zk.create("/es/x", ephemeral=True, sequence=True, include_data=True)
    assert re.fullmatch(r"/es/x\d{10}", path)
    assert path == "/es/x0000000000"
    assert stat.ephemeralOwner == zk.client_id[0]
    assert zk.exists(path).ephemeralOwner == zk.client_id[0]


def test_sequence_counts_creations_not_deletions(zk):
    zk.create("/sc")
    zk.create("/sc/a")
    zk.delete("/sc/a")
    st = zk.exists("/sc")
    assert (st.cversion, st.numChildren) == (2, 0)
    # One creation so far -> suffix 1, although the visible cversion is 2.
    assert zk.create("/sc/s", sequence=True) == "/sc/s0000000001"
    zk.create("/sc/b")
    zk.create("/sc/c")
    zk.delete("/sc/b")
    zk.delete("/sc/c")
    st = zk.exists("/sc")
    assert (st.cversion, st.numChildren) == (7, 1)
    assert zk.create("/sc/s", sequence=True) == "/sc/s0000000004"
    st = zk.exists("/sc")
    assert (st.cversion + st.numChildren) // 2 == 5


def test_sequence_not_affected_by_child_set_data(zk):
    zk.create("/sd")
    zk.create("/sd/a")
    zk.set("/sd/a", b"1")
    zk.set("/sd/a", b"2")
    assert zk.create("/sd/s", sequence=True) == "/sd/s0000000001"


def test_create_makepath(zk):
    path, stat = zk.create("/mk/a/b", b"d", makepath=True, include_data=True)
    assert path == "/mk/a/b"
    assert zk.get("/mk/a/b")[0] == b"d"
    mk = zk.exists("/mk")
    mka = zk.exists("/mk/a")
    assert mk.czxid < mka.czxid < stat.czxid
    assert mk.numChildren == 1 and mka.numChildren == 1
    assert mk.pzxid == mka.czxid
    assert mka.pzxid == stat.czxid
    assert zk.get("/mk")[0] == b""
    # makepath on an existing parent is a normal create
    assert zk.create("/mk/a/c", makepath=True) == "/mk/a/c"


def test_create_existing_raises_node_exists(zk):
    zk.create("/dup", b"one")
    with pytest.raises(NodeExistsError):
        zk.create("/dup", b"two")
    with pytest.raises(NodeExistsError):
        zk.create("/dup", ephemeral=True)
    data, stat = zk.get("/dup")
    assert data == b"one"
    assert stat.version == 0


def test_create_missing_parent_raises_no_node(zk):
    with pytest.raises(NoNodeError):
        zk.create("/missing/child")
    with pytest.raises(NoNodeError):
        zk.create("/missing/child", sequence=True)
    assert zk.exists("/missing") is None


def test_create_child_of_ephemeral(zk):
    zk.create("/ep", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create("/ep/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create("/ep/child", sequence=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create("/ep/child", ephemeral=True)
    assert zk.get_children("/ep") == []


# ---------------------------------------------------------------------------
# exists / get / set
# ---------------------------------------------------------------------------


def test_exists_stat_and_none(zk):
    assert zk.exists("/nope") is None
    assert zk.exists("/nope/deeper") is None
    path, stat = zk.create("/there", b"xy", include_data=True)
    st = zk.exists("/there")
    assert st is not None
    assert stat_tuple(st) == stat_tuple(stat)


def test_get_every_stat_field(zk):
    before = now_ms()
    zk.create("/g", b"12345")
    zk.create("/g/c1", b"")
    zk.create("/g/c2", b"")
    after = now_ms()
    data, st = zk.get("/g")
    c1 = zk.exists("/g/c1")
    c2 = zk.exists("/g/c2")
    assert data == b"12345"
    assert st.mzxid == st.czxid
    assert c1.czxid == st.czxid + 1
    assert c2.czxid == st.czxid + 2
    assert st.pzxid == c2.czxid
    assert before - 1000 <= st.ctime <= after + 1000
    assert st.mtime == st.ctime
    assert st.version == 0
    assert st.cversion == 2
    assert st.aversion == 0
    assert st.ephemeralOwner == 0
    assert st.dataLength == 5
    assert st.numChildren == 2
    # leaf
    assert (c1.cversion, c1.numChildren, c1.pzxid, c1.dataLength) == (0, 0, c1.czxid, 0)


def test_set_bumps_version_and_mzxid(zk):
    _, created = zk.create("/s", b"a", include_data=True)
    st1 = zk.set("/s", b"bb")
    assert st1.version == 1
    assert st1.mzxid == created.czxid + 1
    assert st1.czxid == created.czxid
    assert st1.ctime == created.ctime
    assert st1.mtime >= created.mtime
    assert st1.dataLength == 2
    assert st1.pzxid == created.pzxid
    assert (st1.cversion, st1.aversion, st1.numChildren) == (0, 0, 0)
    # setting identical data still bumps the version
    st2 = zk.set("/s", b"bb")
    assert st2.version == 2
    assert st2.mzxid == st1.mzxid + 1
    data, st = zk.get("/s")
    assert data == b"bb"
    assert stat_tuple(st) == stat_tuple(st2)


def test_set_with_version(zk):
    zk.create("/v", b"0")
    assert zk.set("/v", b"1", version=0).version == 1
    assert zk.set("/v", b"2", version=1).version == 2
    with pytest.raises(BadVersionError):
        zk.set("/v", b"x", version=1)
    with pytest.raises(BadVersionError):
        zk.set("/v", b"x", version=5)
    assert zk.set("/v", b"3", version=-1).version == 3
    assert zk.get("/v")[0] == b"3"


def test_set_to_empty_data(zk):
    zk.create("/e", b"data")
    st = zk.set("/e", b"")
    assert st.dataLength == 0
    assert zk.get("/e")[0] == b""


def test_ephemeral_stat_fields(zk):
    zk.create("/par")
    zk.create("/par/e", b"x", ephemeral=True)
    st = zk.exists("/par/e")
    assert st.ephemeralOwner == zk.client_id[0]
    st = zk.set("/par/e", b"y")
    assert st.ephemeralOwner == zk.client_id[0]
    assert zk.exists("/par").ephemeralOwner == 0


# ---------------------------------------------------------------------------
# children / delete / sync / check
# ---------------------------------------------------------------------------


def test_get_children(zk):
    zk.create("/k")
    assert zk.get_children("/k") == []
    for name in ["b", "a", "c"]:
        zk.create("/k/" + name)
    # ZooKeeper returns children in no particular order
    assert sorted(zk.get_children("/k")) == ["a", "b", "c"]
    assert "zookeeper" in zk.get_children("/")
    assert "k" in zk.get_children("/")


def test_get_children_include_data(zk):
    zk.create("/k", b"dd")
    zk.create("/k/x")
    children, st = zk.get_children("/k", include_data=True)
    assert children == ["x"]
    assert st.numChildren == 1
    assert st.dataLength == 2
    assert st.pzxid == zk.exists("/k/x").czxid
    assert stat_tuple(st) == stat_tuple(zk.exists("/k"))


def test_delete(zk):
    zk.create("/d")
    assert zk.delete("/d") is True
    assert zk.exists("/d") is None


def test_delete_with_version(zk):
    zk.create("/d", b"0")
    zk.set("/d", b"1")
    with pytest.raises(BadVersionError):
        zk.delete("/d", version=0)
    with pytest.raises(BadVersionError):
        zk.delete("/d", version=2)
    assert zk.exists("/d") is not None
    zk.delete("/d", version=1)
    assert zk.exists("/d") is None


def test_delete_non_empty(zk):
    zk.create("/ne/child", makepath=True)
    with pytest.raises(NotEmptyError):
        zk.delete("/ne")
    with pytest.raises(NotEmptyError):
        zk.delete("/ne", version=0)
    assert zk.get_children("/ne") == ["child"]


def test_delete_non_empty_bad_version(zk):
    # version is checked before emptiness
    zk.create("/ne/child", makepath=True)
    with pytest.raises(BadVersionError):
        zk.delete("/ne", version=3)


@pytest.mark.parametrize(
    "op",
    ["get", "set", "delete", "get_children", "exists_child_create", "set_version", "delete_version"],
)
def test_no_node_errors(zk, op):
    calls = {
        "get": lambda: zk.get("/absent"),
        "set": lambda: zk.set("/absent", b"x"),
        "delete": lambda: zk.delete("/absent"),
        "get_children": lambda: zk.get_children("/absent"),
        "exists_child_create": lambda: zk.create("/absent/child"),
        "set_version": lambda: zk.set("/absent", b"x", version=3),
        "delete_version": lambda: zk.delete("/absent", version=3),
    }
    with pytest.raises(NoNodeError):
        calls[op]()


def test_sync(zk):
    zk.create("/sy")
    assert zk.sync("/sy") == "/sy"
    assert zk.sync("/") == "/"
    # sync does not check that the node exists
    assert zk.sync("/not/there") == "/not/there"


def test_check_via_transaction(zk):
    zk.create("/chk", b"0")
    zk.set("/chk", b"1")
    tx = zk.transaction()
    tx.check("/chk", 1)
    assert tx.commit() == [True]
    tx = zk.transaction()
    tx.check("/chk", -1)
    assert tx.commit() == [True]
    tx = zk.transaction()
    tx.check("/chk", 0)
    res = tx.commit()
    assert len(res) == 1 and type(res[0]) is BadVersionError
    tx = zk.transaction()
    tx.check("/chk-missing", 0)
    res = tx.commit()
    assert len(res) == 1 and type(res[0]) is NoNodeError


# ---------------------------------------------------------------------------
# Stat semantics of the parent
# ---------------------------------------------------------------------------


def test_parent_cversion_and_pzxid(zk):
    _, p0 = zk.create("/par", b"v", include_data=True)
    assert (p0.cversion, p0.pzxid, p0.numChildren) == (0, p0.czxid, 0)

    _, c = zk.create("/par/c", include_data=True)
    p1 = zk.exists("/par")
    assert (p1.cversion, p1.pzxid, p1.numChildren) == (1, c.czxid, 1)
    # child creation changes neither the parent's data version nor its mzxid
    assert (p1.version, p1.mzxid, p1.mtime) == (0, p0.mzxid, p0.mtime)

    cset = zk.set("/par/c", b"changed")
    p2 = zk.exists("/par")
    assert stat_tuple(p2) == stat_tuple(p1)
    assert cset.mzxid == c.czxid + 1

    zk.delete("/par/c")
    p3 = zk.exists("/par")
    assert (p3.cversion, p3.numChildren) == (2, 0)
    assert p3.pzxid == cset.mzxid + 1
    assert (p3.version, p3.mzxid) == (0, p0.mzxid)


def test_parent_set_data_does_not_touch_children_fields(zk):
    zk.create("/par/c", makepath=True)
    before = zk.exists("/par")
    after = zk.set("/par", b"x")
    assert (after.cversion, after.pzxid, after.numChildren) == (
        before.cversion, before.pzxid, before.numChildren,
    )
    assert after.version == before.version + 1


def test_num_children(zk):
    zk.create("/nc")
    for i in range(5):
        zk.create("/nc/c%d" % i)
    assert zk.exists("/nc").numChildren == 5
    zk.delete("/nc/c3")
    zk.delete("/nc/c0")
    st = zk.exists("/nc")
    assert (st.numChildren, st.cversion) == (3, 7)
    zk.create("/nc/c1/grand")
    assert zk.exists("/nc").numChildren == 3
    assert zk.exists("/nc/c1").numChildren == 1


def test_ephemerals_removed_when_session_closes(zk, make_client):
    zk.create("/eph")
    other = make_client()
    other.create("/eph/a", ephemeral=True)
    other.create("/eph/b", b"x", ephemeral=True, sequence=True)
    before = zk.exists("/eph")
    assert (before.numChildren, before.cversion) == (2, 2)
    gone = threading.Event()

    def watcher(children):
        if not children:
            gone.set()
            return False
        return True

    zk.ChildrenWatch("/eph", watcher)
    other.stop()
    assert gone.wait(EVENT_TIMEOUT)
    after = zk.exists("/eph")
    assert (after.numChildren, after.cversion) == (0, 4)
    assert after.pzxid > before.pzxid
    assert after.mzxid == before.mzxid


# ---------------------------------------------------------------------------
# zxid relations
# ---------------------------------------------------------------------------


def test_consecutive_writes_have_consecutive_zxids(zk):
    a = zk.create("/a", include_data=True)[1]
    b = zk.create("/b", include_data=True)[1]
    assert b.czxid == a.czxid + 1
    s = zk.set("/a", b"x")
    assert s.mzxid == b.czxid + 1
    zk.delete("/b")
    c = zk.create("/c", include_data=True)[1]
    assert c.czxid == s.mzxid + 2


def _fail_create_existing(zk):
    with pytest.raises(NodeExistsError):
        zk.create("/a")


def _fail_delete_missing(zk):
    with pytest.raises(NoNodeError):
        zk.delete("/missing")


def _fail_set_missing(zk):
    with pytest.raises(NoNodeError):
        zk.set("/missing", b"x")


def _fail_set_bad_version(zk):
    with pytest.raises(BadVersionError):
        zk.set("/a", b"x", version=7)


def _fail_delete_bad_version(zk):
    with pytest.raises(BadVersionError):
        zk.delete("/a", version=7)


def _fail_create_no_parent(zk):
    with pytest.raises(NoNodeError):
        zk.create("/missing/x")


def _fail_delete_not_empty(zk):
    zk.create("/a/k")  # consumes one zxid itself
    with pytest.raises(NotEmptyError):
        zk.delete("/a")


def _fail_child_of_ephemeral(zk):
    zk.create("/e", ephemeral=True)  # consumes one zxid itself
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create("/e/x")


@pytest.mark.parametrize(
    "failing,extra",
    [
        (_fail_create_existing, 0),
        (_fail_delete_missing, 0),
        (_fail_set_missing, 0),
        (_fail_set_bad_version, 0),
        (_fail_delete_bad_version, 0),
        (_fail_create_no_parent, 0),
        (_fail_delete_not_empty, 1),
        (_fail_child_of_ephemeral, 1),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_failed_write_consumes_a_zxid(zk, failing, extra):
    a = zk.create("/a", include_data=True)[1]
    failing(zk)
    b = zk.create("/b", include_data=True)[1]
    assert b.czxid == a.czxid + 2 + extra


def test_reads_and_sync_do_not_consume_zxids(zk):
    a = zk.create("/a", include_data=True)[1]
    zk.get("/a")
    zk.exists("/a")
    zk.exists("/nothing")
    zk.get_children("/a")
    zk.get_acls("/a")
    zk.sync("/a")
    with pytest.raises(NoNodeError):
        zk.get("/nothing")
    b = zk.create("/b", include_data=True)[1]
    assert b.czxid == a.czxid + 1


# ---------------------------------------------------------------------------
# data and path contents
# ---------------------------------------------------------------------------


def test_large_data_round_trip(zk):
    payload = bytes(range(256)) * 2000  # 512000 bytes
    _, st = zk.create("/big", payload, include_data=True)
    assert st.dataLength == len(payload)
    data, st = zk.get("/big")
    assert data == payload
    assert st.dataLength == 512000
    payload2 = payload[::-1]
    assert zk.set("/big", payload2).dataLength == 512000
    assert zk.get("/big")[0] == payload2


def test_binary_data_round_trip(zk):
    payload = bytes(range(256))
    zk.create("/bin", payload)
    assert zk.get("/bin")[0] == payload


def test_unicode_paths(zk):
    path = zk.create("/ünï/€ 日本", "ok".encode(), makepath=True)
    assert path == "/ünï/€ 日本"
    assert zk.get_children("/ünï") == ["€ 日本"]
    assert "ünï" in zk.get_children("/")
    assert zk.get("/ünï/€ 日本")[0] == b"ok"
    assert zk.create("/ünï/ß", sequence=True) == "/ünï/ß0000000001"
    zk.delete("/ünï/€ 日本")
    assert zk.get_children("/ünï") == ["ß0000000001"]


# ---------------------------------------------------------------------------
# chroot
# ---------------------------------------------------------------------------


@pytest.fixture
def chrooted(zk, make_client, server):
    zk.create("/chroot")
    return make_client(hosts=server.hosts + "/chroot")


def test_chroot_paths(zk, chrooted):
    path, st = chrooted.create("/x", b"1", include_data=True)
    assert path == "/x"
    assert zk.get("/chroot/x")[0] == b"1"
    assert zk.exists("/chroot/x").czxid == st.czxid
    assert chrooted.get_children("/") == ["x"]
    data, root = chrooted.get("/")
    assert root.czxid == zk.exists("/chroot").czxid
    assert root.numChildren == 1
    assert chrooted.exists("/chroot") is None
    assert chrooted.ensure_path("/deep/er") == "/deep/er"
    assert zk.exists("/chroot/deep/er") is not None


def test_chroot_sequential_paths(zk, chrooted):
    chrooted.create("/q")
    assert chrooted.create("/q/s", sequence=True) == "/q/s0000000000"
    assert chrooted.create("/q/e", ephemeral=True, sequence=True) == "/q/e0000000001"
    assert sorted(zk.get_children("/chroot/q")) == ["e0000000001", "s0000000000"]


def test_chroot_errors_and_sync(zk, chrooted):
    with pytest.raises(NoNodeError):
        chrooted.get("/absent")
    chrooted.create("/x")
    with pytest.raises(NodeExistsError):
        chrooted.create("/x")
    with pytest.raises(NotEmptyError):
        chrooted.delete("/")
    assert chrooted.sync("/x") == "/x"
    assert chrooted.sync("/") == "/"


def test_chroot_transaction_paths(zk, chrooted):
    tx = chrooted.transaction()
    tx.create("/m", sequence=True)
    tx.create("/m2")
    tx.delete("/m2")
    res = tx.commit()
    assert res == ["/m0000000000", "/m2", True]
    assert zk.get_children("/chroot") == ["m0000000000"]


def test_chroot_watch_event_paths(zk, chrooted):
    chrooted.create("/x")
    events = []
    got = threading.Event()

    def watch(ev):
        events.append(ev)
        got.set()

    chrooted.get("/x", watch=watch)
    zk.set("/chroot/x", b"2")
    assert got.wait(EVENT_TIMEOUT)
    assert (events[-1].type, events[-1].path) == ("CHANGED", "/x")

    got.clear()
    chrooted.get_children("/x", watch=watch)
    zk.create("/chroot/x/k")
    assert got.wait(EVENT_TIMEOUT)
    assert (events[-1].type, events[-1].path) == ("CHILD", "/x")

    got.clear()
    assert chrooted.exists("/nn", watch=watch) is None
    zk.create("/chroot/nn")
    assert got.wait(EVENT_TIMEOUT)
    assert (events[-1].type, events[-1].path) == ("CREATED", "/nn")

    got.clear()
    chrooted.exists("/nn", watch=watch)
    zk.delete("/chroot/nn")
    assert got.wait(EVENT_TIMEOUT)
    assert (events[-1].type, events[-1].path) == ("DELETED", "/nn")
