"""Multi (kazoo transactions) against the server, through unmodified kazoo.

Expected values were observed on Apache ZooKeeper 3.8.0.  Facts pinned down here:

* A successful multi applies all its ops under ONE zxid (every created node has the
  same czxid, every set returns that zxid as mzxid).
* A failed multi applies nothing and reports, per op: ops before the failing one ->
  RolledBackError (code 0 in the error result), the failing op -> its own error,
  ops after it -> RuntimeInconsistency (code -2).
* Every multi consumes exactly one zxid: successful, failed, check-only and even an
  empty one.
"""
from __future__ import annotations

import pytest
from kazoo.exceptions import (
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import ZnodeStat
from kazoo.security import ACL, Id, Permissions


def classes(results):
    return [type(r) for r in results]


def czxid(zk, path):
    return zk.exists(path).czxid


def test_all_succeed_results(zk):
    zk.create("/base", b"0")
    tx = zk.transaction()
    tx.create("/new", b"n")
    tx.set_data("/base", b"1")
    tx.check("/base", 1)
    tx.delete("/new")
    res = tx.commit()
    assert len(res) == 4
    assert res[0] == "/new"
    assert isinstance(res[1], ZnodeStat)
    assert res[1].version == 1
    assert res[1].dataLength == 1
    assert res[2] is True
    assert res[3] is True
    assert zk.exists("/new") is None
    assert zk.get("/base")[0] == b"1"


def test_ops_share_one_zxid(zk):
    zk.create("/before")
    tx = zk.transaction()
    tx.create("/i1")
    tx.create("/i2")
    tx.create("/i1/child")
    res = tx.commit()
    assert res == ["/i1", "/i2", "/i1/child"]
    z = czxid(zk, "/before")
    assert czxid(zk, "/i1") == z + 1
    assert czxid(zk, "/i2") == z + 1
    assert czxid(zk, "/i1/child") == z + 1
    zk.create("/after")
    assert czxid(zk, "/after") == z + 2


def test_set_data_results_show_intermediate_versions(zk):
    tx = zk.transaction()
    tx.create("/x1", b"a")
    tx.set_data("/x1", b"bb")
    tx.set_data("/x1", b"ccc")
    tx.check("/x1", 2)
    res = tx.commit()
    assert res[0] == "/x1"
    s1, s2 = res[1], res[2]
    assert (s1.version, s1.dataLength) == (1, 2)
    assert (s2.version, s2.dataLength) == (2, 3)
    # created and modified under the same zxid
    assert s1.czxid == s1.mzxid == s2.mzxid == s2.czxid
    assert res[3] is True
    data, st = zk.get("/x1")
    assert data == b"ccc"
    assert (st.version, st.czxid, st.mzxid) == (2, s2.czxid, s2.czxid)


def test_failing_middle_op(zk):
    zk.create("/exists", b"keep")
    tx = zk.transaction()
    tx.create("/t1")
    tx.create("/exists")
    tx.create("/t2")
    tx.delete("/t9")
    res = tx.commit()
    assert classes(res) == [
        RolledBackError, NodeExistsError, RuntimeInconsistency, RuntimeInconsistency,
    ]
    assert zk.exists("/t1") is None
    assert zk.exists("/t2") is None
    assert zk.get("/exists")[1].version == 0


def test_failing_first_op(zk):
    zk.create("/n", b"v")
    tx = zk.transaction()
    tx.set_data("/n", b"x", version=5)
    tx.create("/m")
    tx.delete("/n")
    res = tx.commit()
    assert classes(res) == [BadVersionError, RuntimeInconsistency, RuntimeInconsistency]
    assert zk.get("/n")[0] == b"v"
    assert zk.exists("/m") is None


def test_failing_last_op_rolls_back_earlier(zk):
    zk.create("/n", b"v")
    zk.create("/gone")
    tx = zk.transaction()
    tx.set_data("/n", b"changed")
    tx.delete("/gone")
    tx.create("/made")
    tx.check("/n", 0)  # would be version 1 after the set above
    res = tx.commit()
    assert classes(res) == [RolledBackError, RolledBackError, RolledBackError, BadVersionError]
    data, st = zk.get("/n")
    assert (data, st.version) == (b"v", 0)
    assert zk.exists("/gone") is not None
    assert zk.exists("/made") is None


@pytest.mark.parametrize(
    "case",
    ["check_missing", "set_missing", "create_no_parent", "delete_not_empty",
     "child_of_ephemeral", "delete_bad_version_of_new"],
)
def test_failure_kinds(zk, case):
    zk.create("/p")
    zk.create("/p/ne/c", makepath=True)
    zk.create("/p/e", ephemeral=True)
    tx = zk.transaction()
    tx.create("/p/a")
    if case == "check_missing":
        tx.check("/p/missing", 0)
        expected = NoNodeError
    elif case == "set_missing":
        tx.set_data("/p/missing", b"")
        expected = NoNodeError
    elif case == "create_no_parent":
        tx.create("/p/q/r")
        expected = NoNodeError
    elif case == "delete_not_empty":
        tx.delete("/p/ne")
        expected = NotEmptyError
    elif case == "child_of_ephemeral":
        tx.create("/p/e/x")
        expected = NoChildrenForEphemeralsError
    else:
        tx.delete("/p/a", version=3)
        expected = BadVersionError
    tx.set_data("/p", b"1")
    res = tx.commit()
    assert classes(res) == [RolledBackError, expected, RuntimeInconsistency]
    assert zk.exists("/p/a") is None
    assert zk.get("/p")[1].version == 0


def test_nothing_applied_on_failure_including_stats(zk):
    zk.create("/p", b"d")
    before = zk.exists("/p")
    tx = zk.transaction()
    tx.create("/p/c1")
    tx.create("/p/c2", sequence=True)
    tx.set_data("/p", b"new")
    tx.create("/p/c1")  # fails: created earlier in this multi
    res = tx.commit()
    assert classes(res) == [RolledBackError, RolledBackError, RolledBackError, NodeExistsError]
    after = zk.exists("/p")
    assert (after.cversion, after.numChildren, after.version, after.pzxid, after.mzxid) == (
        before.cversion, before.numChildren, before.version, before.pzxid, before.mzxid,
    )
    # the rolled-back sequential create did not use up a sequence number
    assert zk.create("/p/s", sequence=True) == "/p/s0000000000"


def test_create_then_delete_same_node(zk):
    zk.create("/p")
    before = zk.exists("/p")
    tx = zk.transaction()
    tx.create("/p/t")
    tx.delete("/p/t")
    assert tx.commit() == ["/p/t", True]
    assert zk.exists("/p/t") is None
    after = zk.exists("/p")
    assert after.numChildren == 0
    assert after.cversion == before.cversion + 2
    assert after.pzxid == before.czxid + 1
    assert zk.create("/p/s", sequence=True) == "/p/s0000000001"


def test_delete_then_recreate_same_node(zk):
    zk.create("/p/ne/c", b"old", makepath=True)
    tx = zk.transaction()
    tx.delete("/p/ne/c")
    tx.delete("/p/ne")
    tx.create("/p/ne", b"again")
    res = tx.commit()
    assert res == [True, True, "/p/ne"]
    data, st = zk.get("/p/ne")
    assert data == b"again"
    assert (st.version, st.numChildren, st.cversion) == (0, 0, 0)
    assert st.czxid == st.mzxid == st.pzxid


def test_create_delete_create_and_check(zk):
    tx = zk.transaction()
    tx.create("/w")
    tx.delete("/w", version=0)
    tx.create("/w", b"2")
    tx.check("/w", 0)
    assert tx.commit() == ["/w", True, "/w", True]
    assert zk.get("/w")[0] == b"2"


def test_sequential_create_in_multi(zk):
    zk.create("/p")
    zk.create("/p/plain")
    tx = zk.transaction()
    tx.create("/p/s-", sequence=True)
    tx.create("/p/s-", sequence=True)
    tx.create("/p/es-", ephemeral=True, sequence=True)
    res = tx.commit()
    assert res == ["/p/s-0000000001", "/p/s-0000000002", "/p/es-0000000003"]
    assert zk.exists("/p/es-0000000003").ephemeralOwner == zk.client_id[0]
    assert zk.exists("/p/s-0000000001").ephemeralOwner == 0
    assert sorted(zk.get_children("/p")) == [
        "es-0000000003", "plain", "s-0000000001", "s-0000000002",
    ]


def test_sequential_after_create_in_same_multi(zk):
    tx = zk.transaction()
    tx.create("/t1", b"z")
    tx.create("/t1/q", sequence=True)
    tx.create("/t1/q", sequence=True)
    assert tx.commit() == ["/t1", "/t1/q0000000000", "/t1/q0000000001"]
    st = zk.exists("/t1")
    assert (st.numChildren, st.cversion, st.pzxid) == (2, 2, st.czxid)


def test_ephemeral_in_multi(zk):
    tx = zk.transaction()
    tx.create("/e", b"x", ephemeral=True)
    assert tx.commit() == ["/e"]
    assert zk.exists("/e").ephemeralOwner == zk.client_id[0]


def test_failed_multi_consumes_one_zxid(zk):
    zk.create("/a")
    tx = zk.transaction()
    tx.create("/h1")
    tx.create("/h2")
    tx.create("/a")
    res = tx.commit()
    assert classes(res) == [RolledBackError, RolledBackError, NodeExistsError]
    zk.create("/b")
    assert czxid(zk, "/b") == czxid(zk, "/a") + 2


def test_check_only_multi_consumes_one_zxid(zk):
    zk.create("/a")
    tx = zk.transaction()
    tx.check("/a", 0)
    tx.check("/a", 0)
    assert tx.commit() == [True, True]
    zk.create("/b")
    assert czxid(zk, "/b") == czxid(zk, "/a") + 2


def test_failed_check_only_multi_consumes_one_zxid(zk):
    zk.create("/a")
    tx = zk.transaction()
    tx.check("/a", 3)
    res = tx.commit()
    assert classes(res) == [BadVersionError]
    zk.create("/b")
    assert czxid(zk, "/b") == czxid(zk, "/a") + 2


def test_empty_multi(zk):
    zk.create("/a")
    assert zk.transaction().commit() == []
    zk.create("/b")
    assert czxid(zk, "/b") == czxid(zk, "/a") + 2


def test_invalid_acl_in_multi(zk):
    tx = zk.transaction()
    tx.create("/bad", acl=[])
    tx.create("/good")
    res = tx.commit()
    assert classes(res) == [InvalidACLError, RuntimeInconsistency]
    assert zk.exists("/good") is None
    assert zk.exists("/bad") is None


def test_no_auth_in_multi(zk):
    zk.create("/ro", acl=[ACL(Permissions.READ, Id("world", "anyone"))])
    zk.create("/rw", b"v")
    tx = zk.transaction()
    tx.set_data("/rw", b"w")
    tx.create("/ro/child")
    res = tx.commit()
    assert classes(res) == [RolledBackError, NoAuthError]
    tx = zk.transaction()
    tx.check("/ro", 0)
    tx.set_data("/ro", b"x")
    res = tx.commit()
    assert classes(res) == [RolledBackError, NoAuthError]
    assert zk.get("/rw")[0] == b"v"
    # /ro can still be deleted: delete needs DELETE on the (open) parent
    zk.delete("/ro")


def test_multi_ops_see_each_other(zk):
    zk.create("/cnt", b"0")
    tx = zk.transaction()
    tx.check("/cnt", 0)
    tx.set_data("/cnt", b"1", version=0)
    tx.set_data("/cnt", b"2", version=1)
    tx.check("/cnt", 2)
    res = tx.commit()
    assert res[0] is True and res[3] is True
    assert (res[1].version, res[2].version) == (1, 2)
    assert zk.get("/cnt")[1].version == 2
