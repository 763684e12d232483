"""zkwire.server.core.prep.Prep: validation against outstanding (uncommitted) changes,
error txns, zxid consumption and the argument checks of ZooKeeper 3.8.0
(tests/ZOOKEEPER_FACTS.md §3, §4, §6)."""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from zkwire import records as r
from zkwire.consts import Err, OpCode, Perms
from zkwire.server.core.acl import OPEN_ACL_UNSAFE, AuthPolicy, digest
from zkwire.server.core.prep import Prep
from zkwire.server.core.tree import DataTree

from . import acl, create_req

SID = 0x0100000771F80000
IDS = [("ip", "127.0.0.1")]
OK = 0


class World:
    """A tree plus prep; ``do`` preps a request, ``commit`` applies all prepped txns."""

    def __init__(self, extended_types=True, super_digest=None):
        self.tree = DataTree(OPEN_ACL_UNSAFE)
        self.prep = Prep(self.tree, AuthPolicy(super_digest), extended_types)
        self.pending = []
        self.cxid = 0

    def do(self, op, req, ids=IDS, sid=SID):
        self.cxid += 1
        hdr, txn = self.prep.prep(sid, self.cxid, op, req, ids, 1000 + self.cxid)
        self.pending.append((hdr, txn))
        return hdr, txn

    def err(self, op, req, **kw):
        hdr, txn = self.do(op, req, **kw)
        return txn.err if hdr.type == OpCode.error else OK

    def create(self, path, data=b"", flags=0, acl_list=None, **kw):
        return self.do(OpCode.create, create_req(path, data, flags, acl_list), **kw)

    def create_err(self, path, flags=0, acl_list=None, op=OpCode.create, **kw):
        return self.err(op, create_req(path, b"", flags, acl_list), **kw)

    def commit(self):
        results = []
        for hdr, txn in self.pending:
            results.append(self.tree.apply(hdr, txn))
            self.prep.committed(hdr.zxid)
        self.pending = []
        return results


@pytest.fixture
def w():
    return World()


# --- zxids -------------------------------------------------------------------------------------

def test_every_write_gets_the_next_zxid_even_failed_ones(w):
    z = []
    for op, req in [(OpCode.create, create_req("/q1")),
                    (OpCode.create, create_req("/q1")),                       # NODEEXISTS
                    (OpCode.setData, NS(path="/q1", data=b"", version=99)),   # BADVERSION
                    (OpCode.delete, NS(path="/nonexist", version=-1)),        # NONODE
                    (OpCode.create, create_req("/np/x")),                     # NONODE
                    (OpCode.create, create_req("a")),                         # BADARGUMENTS
                    (OpCode.multi, [])]:
        hdr, _ = w.do(op, req)
        z.append(hdr.zxid)
    assert z == list(range(1, 8))
    results = w.commit()
    assert [rc.err for rc in results] == [0, -110, -103, -101, -101, -8, 0]
    assert w.tree.last_zxid == 7


def test_error_txn_shape(w):
    hdr, txn = w.create("a")
    assert hdr.type == OpCode.error and txn.err == Err.BADARGUMENTS
    assert hdr.clientId == SID and hdr.cxid == 1 and hdr.time == 1001


def test_create_session_and_close_session_consume_zxids(w):
    hdr, txn = w.prep.prep_create_session(SID, 4000, 5)
    assert (hdr.type, hdr.zxid, hdr.clientId, txn.timeOut) == (OpCode.createSession, 1, SID, 4000)
    hdr, txn = w.prep.prep_close_session(SID, 6)
    assert (hdr.type, hdr.zxid, txn.paths2Delete) == (OpCode.closeSession, 2, [])


# --- outstanding changes -------------------------------------------------------------------------

def test_pipelined_create_parent_then_child(w):
    h1, t1 = w.create("/a")
    h2, t2 = w.create("/a/b")
    assert h1.type == OpCode.create and h2.type == OpCode.create
    assert t2.path == "/a/b"
    w.commit()
    assert w.tree.get("/a/b") is not None


def test_create_twice_before_commit_is_node_exists(w):
    assert w.create_err("/a") == OK
    assert w.create_err("/a") == Err.NODEEXISTS
    w.commit()
    assert w.create_err("/a") == Err.NODEEXISTS


def test_delete_then_recreate_before_commit(w):
    w.create("/a")
    w.commit()
    assert w.err(OpCode.delete, NS(path="/a", version=-1)) == OK
    assert w.err(OpCode.setData,
                 NS(path="/a", data=b"", version=-1)) == Err.NONODE
    assert w.create_err("/a") == OK
    w.commit()
    assert w.tree.get("/a").version == 0


def test_versions_follow_pending_changes(w):
    w.create("/v")
    assert w.err(OpCode.setData, NS(path="/v", data=b"1", version=0)) == OK
    assert w.err(OpCode.setData, NS(path="/v", data=b"2", version=0)) == Err.BADVERSION
    assert w.err(OpCode.setData, NS(path="/v", data=b"3", version=1)) == OK
    assert w.err(OpCode.check, NS(path="/v", version=2)) == OK
    assert w.err(OpCode.delete, NS(path="/v", version=1)) == Err.BADVERSION
    w.commit()
    assert w.tree.get("/v").version == 2 and w.tree.get("/v").data == b"3"
    assert w.err(OpCode.delete, NS(path="/v", version=2)) == OK


def test_delete_parent_with_pending_child_is_not_empty(w):
    w.create("/p")
    w.create("/p/c")
    assert w.err(OpCode.delete, NS(path="/p", version=-1)) == Err.NOTEMPTY
    assert w.err(OpCode.delete, NS(path="/p/c", version=-1)) == OK
    assert w.err(OpCode.delete, NS(path="/p", version=-1)) == OK
    w.commit()
    assert w.tree.get("/p") is None


def test_sequential_suffix_counts_pending_creations(w):
    w.create("/s")
    _, t1 = w.create("/s/q-", flags=2)
    _, t2 = w.create("/s/plain")
    _, t3 = w.create("/s/q-", flags=2)
    assert (t1.path, t3.path) == ("/s/q-0000000000", "/s/q-0000000002")
    w.err(OpCode.delete, NS(path="/s/plain", version=-1))
    _, t4 = w.create("/s/q-", flags=3)  # deletes do not advance the counter
    assert t4.path == "/s/q-0000000003"
    w.commit()
    assert sorted(w.tree.get("/s").children) == ["q-0000000000", "q-0000000002", "q-0000000003"]
    _, t5 = w.create("/s/q-", flags=2)
    assert t5.path == "/s/q-0000000004"


def test_failed_creates_do_not_advance_the_counter(w):
    w.create("/s")
    w.create("/s/b")
    w.commit()
    assert w.create_err("/s/b") == Err.NODEEXISTS
    assert w.create_err("/s/x/y") == Err.NONODE
    _, t = w.create("/s/a", flags=2)
    assert t.path == "/s/a0000000001"


def test_failed_multi_rolls_back_its_pending_records(w):
    w.create("/s")
    w.commit()
    w.create("/s/x")              # outstanding, not committed
    hdr, txns = w.do(OpCode.multi, [(OpCode.create, create_req("/s/a")),
                                    (OpCode.create, create_req("/s/a/b")),
                                    (OpCode.create, create_req("/nx/y"))])
    # As in ZooKeeper's log: the ops before the failure keep their txns, the failing one
    # is an ErrorTxn; applying it yields 0, 0, -101 and changes nothing.
    assert [t for t, _ in txns] == [OpCode.create, OpCode.create, OpCode.error]
    assert txns[2][1].err == Err.NONODE
    # the multi's records are gone: /s/a may be created, and the counter is right
    _, t = w.create("/s/q-", flags=2)
    assert t.path == "/s/q-0000000001"
    assert w.create_err("/s/a") == OK
    assert w.create_err("/s/a/b") == OK
    w.commit()
    assert sorted(w.tree.get("/s").children) == ["a", "q-0000000001", "x"]


def test_failed_multi_rollback_without_other_outstanding_changes(w):
    w.create("/m")
    w.commit()
    _, txns = w.do(OpCode.multi, [(OpCode.create, create_req("/m/one")),
                                  (OpCode.setData, NS(path="/m", data=b"", version=0)),
                                  (OpCode.create, create_req("/m/one"))])
    assert [t for t, _ in txns] == [OpCode.create, OpCode.setData, OpCode.error]
    assert txns[2][1].err == Err.NODEEXISTS
    assert w.err(OpCode.setData, NS(path="/m", data=b"", version=0)) == OK
    _, t = w.create("/m/s", flags=2)
    assert t.path == "/m/s0000000000"
    w.commit()
    assert w.tree.get("/m/one") is None and w.tree.get("/m").version == 1


def test_failed_multi_results_after_the_failure(w):
    w.create("/mm")
    w.commit()
    _, txns = w.do(OpCode.multi, [(OpCode.create, create_req("/mm/c")),
                                  (OpCode.setData, NS(path="/mm", data=b"x", version=-1)),
                                  (OpCode.check, NS(path="/mm", version=99)),
                                  (OpCode.delete, NS(path="/mm/b", version=-1))])
    assert [t for t, _ in txns] == [OpCode.create, OpCode.setData, OpCode.error, OpCode.error]
    assert [x.err for _, x in txns[2:]] == [Err.BADVERSION, Err.RUNTIMEINCONSISTENCY]
    [rc] = w.commit()
    assert rc.type == OpCode.multi
    assert [(s.type, s.err) for s in rc.multi] == [(-1, 0), (-1, 0), (-1, -103), (-1, -2)]
    assert w.tree.get("/mm/c") is None and w.tree.get("/mm").version == 0


def test_multi_ops_see_earlier_ops(w):
    w.create("/mm")
    w.commit()
    hdr, txns = w.do(OpCode.multi, [(OpCode.create, create_req("/mm/a")),
                                    (OpCode.create, create_req("/mm/b")),
                                    (OpCode.setData, NS(path="/mm", data=b"y", version=0)),
                                    (OpCode.check, NS(path="/mm", version=1)),
                                    (OpCode.delete, NS(path="/mm/a", version=-1)),
                                    (OpCode.create, create_req("/mm/s", flags=2))])
    assert hdr.type == OpCode.multi
    assert [t for t, _ in txns] == [1, 1, 5, 13, 2, 1]
    assert txns[-1][1].path == "/mm/s0000000002"
    [rc] = w.commit()
    assert rc.err == 0 and sorted(w.tree.get("/mm").children) == ["b", "s0000000002"]


def test_close_session_deletes_pending_and_committed_ephemerals(w):
    w.create("/e1", flags=1)
    w.commit()
    w.create("/e2", flags=1)
    w.create("/p")
    hdr, txn = w.prep.prep_close_session(SID, 9)
    assert sorted(txn.paths2Delete) == ["/e1", "/e2"]
    w.pending.append((hdr, txn))
    # the ephemerals are gone for later requests already
    assert w.create_err("/e1") == OK
    w.commit()
    assert w.tree.get("/e2") is None and w.tree.get("/e1").ephemeralOwner == 0


# --- create: argument checks (tests/ZOOKEEPER_FACTS.md §3) -----------------------------------------

@pytest.fixture
def w3():
    w = World()
    w.create("/v")
    w.create("/seq")
    w.create("/eph", flags=1)
    w.commit()
    return w


@pytest.mark.parametrize("path, flags, expected", [
    ("", 0, Err.BADARGUMENTS),
    ("a", 0, Err.BADARGUMENTS),
    ("/a/", 0, Err.NONODE),
    ("//a", 0, Err.BADARGUMENTS),
    ("/a//b", 0, Err.NONODE),
    ("/a/./b", 0, Err.NONODE),
    ("/a/../b", 0, Err.NONODE),
    ("/a/.", 0, Err.NONODE),
    ("/a\x00b", 0, Err.BADARGUMENTS),
    ("/.", 0, Err.BADARGUMENTS),
    ("/..", 0, Err.BADARGUMENTS),
    ("/a\x01b", 0, Err.BADARGUMENTS),
    ("/a\x7fb", 0, Err.BADARGUMENTS),
    ("/a\uf000b", 0, Err.BADARGUMENTS),
    ("/a.b", 0, OK),
    ("/...", 0, OK),
    ("/v/.x", 0, OK),
    ("/v/x.", 0, OK),
    ("/v/..x", 0, OK),
    ("/v//x", 0, Err.NONODE),
    ("/v/./x", 0, Err.NONODE),
    ("/v/.", 0, Err.BADARGUMENTS),
    ("/v/..", 0, Err.BADARGUMENTS),
    ("/v/", 0, Err.BADARGUMENTS),
    ("/v/x/", 0, Err.NONODE),
    ("/", 0, Err.NODEEXISTS),
    ("/seq/", 0, Err.BADARGUMENTS),
    ("/v//", 2, Err.NONODE),
    ("/zookeeper/x", 0, OK),
    ("/zookeeper/quota/x", 0, OK),
    ("/nx/a", 7, Err.BADARGUMENTS),
    ("/v/f", 7, Err.BADARGUMENTS),
    ("/v/f", 99, Err.BADARGUMENTS),
    ("/v/f", -1, Err.BADARGUMENTS),
    ("/v/f", 4, OK),
    ("/v/f", 5, Err.BADARGUMENTS),
    ("/v/f", 6, Err.BADARGUMENTS),
    ("/eph/c", 0, Err.NOCHILDRENFOREPHEMERALS),
    ("/eph/c/d", 0, Err.NONODE),
    ("/eph/.", 0, Err.BADARGUMENTS),
    ("/eph/", 2, Err.NOCHILDRENFOREPHEMERALS),
])
def test_create_argument_checks(w3, path, flags, expected):
    assert w3.create_err(path, flags) == expected


@pytest.mark.parametrize("path, flags, created", [
    ("/", 2, "/0000000003"),          # root counter: zookeeper, v, seq, eph -> 3 creations
    ("/seq/", 2, "/seq/0000000000"),
    ("/v/.", 2, "/v/.0000000000"),
    ("/v/..", 3, "/v/..0000000000"),
])
def test_sequential_suffix_makes_paths_valid(w3, path, flags, created):
    hdr, txn = w3.create(path, flags=flags)
    assert hdr.type == OpCode.create, txn
    assert txn.path == created


def test_root_sequential_counts_root_children_creations():
    w = World()
    # a fresh root: /zookeeper was not created by a txn, its internal counter is 0
    _, txn = w.create("/", flags=2)
    assert txn.path == "/0000000000"


def test_null_path_is_marshalling_error(w):
    req = NS(path=None, data=b"", acl=create_req("/x").acl, flags=0)
    hdr, txn = w.do(OpCode.create, req)
    assert hdr.type == OpCode.error and txn.err == Err.MARSHALLINGERROR
    assert hdr.zxid == 1


# --- ACLs on create (tests/ZOOKEEPER_FACTS.md §3, §8) ---------------------------------------------

@pytest.mark.parametrize("acl_list", [
    [],
    None,
    [acl(31, "foo", "bar")],
    [acl(31, "world", "bob")],
    [acl(31, "ip", "notanip")],
    [acl(31, "auth", "")],
])
def test_invalid_acls(w3, acl_list):
    req = create_req("/v/acl")
    req.acl = acl_list
    assert w3.err(OpCode.create, req) == Err.INVALIDACL


def test_invalid_acl_precedence(w3):
    def err(path):
        req = create_req(path)
        req.acl = []
        return w3.err(OpCode.create, req)

    assert err("/nx/a") == Err.INVALIDACL     # before NONODE
    assert err("/v") == Err.INVALIDACL        # before NODEEXISTS
    assert err("/v/") == Err.INVALIDACL       # before the path syntax check
    assert err("a") == Err.BADARGUMENTS       # but after the leading-slash check


def test_acl_perms_zero_allowed(w3):
    assert w3.create_err("/v/z", acl_list=[acl(0, "world", "anyone")]) == OK


def test_valid_ip_and_digest_acls(w3):
    assert w3.create_err("/v/i", acl_list=[acl(31, "ip", "127.0.0.1")]) == OK
    assert w3.create_err("/v/n", acl_list=[acl(31, "ip", "10.0.0.0/8")]) == OK
    assert w3.create_err("/v/d", acl_list=[acl(31, "digest", "user:abc")]) == OK


def test_auth_acl_expands_to_digest_identities(w3):
    ids = IDS + [("digest", digest("user:pass"))]
    hdr, txn = w3.create("/v/a", acl_list=[acl(31, "auth", "whatever")], ids=ids)
    assert hdr.type == OpCode.create
    assert txn.acl == ((31, "digest", "user:smGaoVKd/cQkjm7b88GyorAUz20="),)


def test_create_needs_create_permission_on_parent(w3):
    w3.create("/locked", acl_list=[acl(Perms.READ, "world", "anyone")])
    w3.commit()
    assert w3.create_err("/locked/c") == Err.NOAUTH
    # super bypasses ACLs
    assert w3.create_err("/locked/c", ids=IDS + [("super", "")]) == OK


# --- other writes (tests/ZOOKEEPER_FACTS.md §3 "Other writes") --------------------------------------

@pytest.mark.parametrize("op, req, expected", [
    (OpCode.setData, NS(path="a", data=b"", version=-1), Err.BADARGUMENTS),
    (OpCode.setData, NS(path="/a/", data=b"", version=-1), Err.BADARGUMENTS),
    (OpCode.setData, NS(path="/nx", data=b"", version=-1), Err.NONODE),
    (OpCode.delete, NS(path="", version=-1), Err.BADARGUMENTS),
    (OpCode.delete, NS(path="a", version=-1), Err.BADARGUMENTS),
    (OpCode.delete, NS(path="/a/", version=-1), Err.NONODE),
    (OpCode.delete, NS(path="/v/", version=-1), Err.NONODE),
    (OpCode.delete, NS(path="/", version=-1), Err.BADARGUMENTS),
    (OpCode.delete, NS(path="/zookeeper", version=-1), Err.BADARGUMENTS),
    (OpCode.delete, NS(path="/zookeeper/quota", version=-1), Err.BADARGUMENTS),
    (OpCode.delete, NS(path="/zookeeper/config", version=-1), Err.BADARGUMENTS),
    (OpCode.setData, NS(path="/zookeeper/config", data=b"", version=-1), Err.NOAUTH),
    (OpCode.setACL, NS(path="/zookeeper/config", acl=[acl(31, "world", "anyone")], version=-1),
     Err.NOAUTH),
    (OpCode.setData, NS(path="/zookeeper", data=b"", version=-1), OK),
    (OpCode.setData, NS(path="/", data=b"", version=-1), OK),
    (OpCode.setData, NS(path="/v", data=b"", version=1), Err.BADVERSION),
    (OpCode.setACL, NS(path="/v", acl=[], version=-1), Err.INVALIDACL),
    (OpCode.setACL, NS(path="/v", acl=[acl(31, "world", "anyone")], version=0), OK),
    (OpCode.setACL, NS(path="/v", acl=[acl(31, "world", "anyone")], version=3), Err.BADVERSION),
    (OpCode.check, NS(path="/v", version=0), OK),
    (OpCode.check, NS(path="/v", version=5), Err.BADVERSION),
    (OpCode.check, NS(path="/nope", version=-1), Err.NONODE),
])
def test_other_write_checks(w3, op, req, expected):
    assert w3.err(op, req) == expected


def test_set_data_on_root_bumps_version(w3):
    w3.do(OpCode.setData, NS(path="/", data=b"", version=-1))
    w3.commit()
    assert w3.tree.get("/").version == 1


def test_delete_checks_parents_delete_permission_not_the_nodes(w3):
    w3.create("/v/secret", acl_list=[acl(31, "digest", digest("user:pass"))])
    w3.commit()
    assert w3.err(OpCode.setData, NS(path="/v/secret", data=b"", version=-1)) == Err.NOAUTH
    assert w3.err(OpCode.delete, NS(path="/v/secret", version=-1)) == OK


def test_set_acl_stores_version(w3):
    hdr, txn = w3.do(OpCode.setACL, NS(path="/v", acl=[acl(1, "world", "anyone")], version=-1))
    assert txn.version == 1 and txn.acl == ((1, "world", "anyone"),)
    [rc] = w3.commit()
    assert rc.err == 0 and w3.tree.get("/v").aversion == 1


def test_ephemeral_owner_of_created_nodes(w3):
    _, txn = w3.create("/v/e", flags=1)
    assert txn.ephemeral is True
    _, txn = w3.create("/v/p", flags=0)
    assert txn.ephemeral is False
    w3.commit()
    assert w3.tree.get("/v/e").ephemeralOwner == SID
    assert w3.tree.get("/v/p").ephemeralOwner == 0
