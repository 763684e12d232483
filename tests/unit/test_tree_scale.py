"""The data tree at scale: a session with many ephemerals, and whole-tree figures.

Closing or listing a session that owns many ephemerals ran on the event loop
in quadratic time (a set rebuilt per path) and hashed every name character by
character (issue 9, item 4); mntr's approximate data size and
getAllChildrenNumber scanned every znode (item 14).  These tests pin the fix
without timing anything: they count the work (hash calls, set constructions,
scans of the node table) and hold the results to the previous implementation,
kept below as the oracle.  That implementation's orders were checked against
Apache ZooKeeper by the ordering tests in tests/unit and tests/integration;
here only "same output as before" is asserted.
"""
from __future__ import annotations

import random
from types import SimpleNamespace as NS

import pytest

from zkwire.consts import Err, EventType, OpCode
from zkwire.server.core import javaorder, prep as prep_module, tree as tree_module
from zkwire.server.core.acl import OPEN_ACL_UNSAFE, AuthPolicy
from zkwire.server.core.prep import Prep
from zkwire.server.storage.snapshot import read_snapshot, write_snapshot
from zkwire.server.core.tree import DataTree

from . import create_req

IDS = [("ip", "127.0.0.1")]
SID = 0x0100000771F80000
OTHER = SID + 1


# --- the previous implementation, as the oracle ----------------------------------------

def old_string_hash(s):
    """String.hashCode by its definition, one UTF-16 code unit at a time."""
    h = 0
    raw = s.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(raw), 2):
        h = (31 * h + (raw[i] << 8 | raw[i + 1])) & 0xFFFFFFFF
    return h - 0x100000000 if h & 0x80000000 else h


def old_table_capacity(max_size, initial=16):
    cap = initial
    while max_size > cap * 3 // 4:
        cap *= 2
    return cap


def old_clone_capacity(size):
    t = int(size / 0.75 + 1.0)
    cap = 1
    while cap < t:
        cap *= 2
    return cap


def old_hashset_order(strings, capacity):
    mask = capacity - 1
    keyed = []
    for i, s in enumerate(strings):
        h = old_string_hash(s) & 0xFFFFFFFF
        keyed.append(((h ^ (h >> 16)) & mask, i, s))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [k[2] for k in keyed]


def old_session_ephemerals(paths_in_insertion_order, max_size):
    first = old_hashset_order(list(paths_in_insertion_order), old_table_capacity(max_size))
    return old_hashset_order(first, old_clone_capacity(len(first)))


def old_prep_close_order(listed, outstanding, session_id):
    """The closeSession txn's path list (old Prep.prep_close_session)."""
    paths = dict.fromkeys(listed)
    capacity = old_clone_capacity(len(paths))
    for c in outstanding:
        if not c.exists:
            paths.pop(c.path, None)
        elif c.ephemeralOwner == session_id:
            paths[c.path] = None
            capacity = max(capacity, old_table_capacity(len(paths), capacity))
    return old_hashset_order(list(paths), capacity)


def old_kill_order(paths, local):
    order = list(paths) if paths is not None else []
    order.extend(p for p in local if p not in set(order))
    return order


def old_approximate_data_size(nodes):
    return sum(len(p) + (len(n.data) if n.data else 0) for p, n in dict.items(nodes))


def old_all_children_number(nodes, path):
    prefix = "/" if path == "/" else path + "/"
    return sum(1 for p in dict.__iter__(nodes) if p.startswith(prefix) and p != path)


# --- helpers ----------------------------------------------------------------------------

class Txns:
    def __init__(self, tree, zxid=1):
        self.tree = tree
        self.zxid = zxid

    def hdr(self, type_, sid=SID):
        self.zxid += 1
        return NS(clientId=sid, cxid=0, zxid=self.zxid, time=self.zxid, type=type_)

    def apply(self, type_, txn, sid=SID):
        return self.tree.apply(self.hdr(type_, sid), txn)

    def create(self, path, data=b"", ephemeral=False, sid=SID):
        return self.apply(OpCode.create, create_txn(path, data, ephemeral), sid)

    def close(self, paths, sid=SID):
        return self.apply(OpCode.closeSession,
                          None if paths is None else NS(paths2Delete=list(paths)), sid)


def create_txn(path, data=b"", ephemeral=False):
    return NS(path=path, data=data, acl=OPEN_ACL_UNSAFE, ephemeral=ephemeral, parentCVersion=-1)


def random_name(rnd):
    """Path components of every kind of text a client may send: ASCII, BMP,
    beyond the BMP (a surrogate pair in Java), short and long."""
    alphabet = rnd.choice(["abcxyz0123456789-_.", "aé中\u00ff\u0100", "a\U0001F600é\uffff"])
    n = rnd.choice([1, 3, 8, 20, 70, 300])
    return "".join(rnd.choice(alphabet) for _ in range(n))


def deleted(rc):
    return [p for ev, p in rc.triggers if ev == EventType.NodeDeleted]


@pytest.fixture
def hash_calls(monkeypatch):
    """Counts every String.hashCode computed, wherever it is called from."""
    real = javaorder.string_hash
    calls = []

    def counting(s):
        calls.append(s)
        return real(s)

    monkeypatch.setattr(javaorder, "string_hash", counting)
    monkeypatch.setattr(prep_module, "string_hash", counting, raising=False)
    monkeypatch.setattr(tree_module, "string_hash", counting, raising=False)
    return calls


# --- String.hashCode --------------------------------------------------------------------

def test_string_hash_is_java_string_hashcode():
    """The fast forms (short, block-wise, chunk by chunk; ASCII or not) against
    the definition, at every length where the implementation changes form;
    lone surrogates included (a Java String may hold them)."""
    rnd = random.Random(9)
    pools = ["az09/-", "aé中\u00ff\u0100\uffff", "a\U0001F600\U0010FFFF中", "a\ud800\udfff中"]
    lengths = [0, 1, 2, 5, 6, 7, 31, 63, 64, 65, 127, 128, 129, 1000, 4095, 4096, 4097,
               6143, 6144, 6145, 12289, 20000]
    for n in lengths:
        for pool in pools:
            s = "".join(rnd.choice(pool) for _ in range(n))
            assert javaorder.string_hash(s) == old_string_hash(s), (n, pool)
    for _ in range(300):
        s = "".join(chr(rnd.choice([rnd.randrange(128), rnd.randrange(0x10000),
                                    rnd.randrange(0x10000, 0x110000)]))
                    for _ in range(rnd.randrange(400)))
        assert javaorder.string_hash(s) == old_string_hash(s)
    # Extremes of the code unit range, where a slot could overflow.
    for s in ("\x7f" * 500, "\uffff" * 500, "\x7f\uffff" * 300, "x" * 7000):
        assert javaorder.string_hash(s) == old_string_hash(s)


# --- a session's ephemerals: order, and each path hashed once ----------------------------

def build_session(rnd, n):
    """A tree where SID created ``n`` ephemerals (under a few parents) and
    deleted some of them again (so the HashSet's peak exceeds its size)."""
    tree = DataTree(OPEN_ACL_UNSAFE)
    t = Txns(tree)
    parents = ["/p%d" % i for i in range(3)]
    for p in parents:
        t.create(p)
    paths = []
    while len(paths) < n:
        path = "%s/%s" % (rnd.choice(parents), random_name(rnd))
        if path not in tree.nodes:
            t.create(path, ephemeral=True)
            paths.append(path)
    t.create("/p0/someone-else", ephemeral=True, sid=OTHER)
    gone = rnd.sample(paths, n // 5)
    for path in gone:
        t.apply(OpCode.delete, NS(path=path))
    alive = [p for p in paths if p not in set(gone)]
    return tree, t, alive, n


@pytest.mark.parametrize("seed", range(4))
def test_listing_and_closing_keep_the_order_and_hash_each_path_once(seed, hash_calls):
    rnd = random.Random(seed)
    tree, _, alive, peak = build_session(rnd, 400)
    created = len(hash_calls)
    expected = old_session_ephemerals(alive, peak)

    assert tree.session_ephemerals(SID) == expected
    assert tree.session_ephemerals(SID) == expected      # a second getEphemerals
    # Close while a create and a delete of this session's ephemerals are pending.
    prep = Prep(tree, AuthPolicy(None))
    pending = [prep.prep(SID, 1, OpCode.create, create_req("/p1/pending-%d" % seed, flags=1),
                           IDS, 5),
               prep.prep(SID, 2, OpCode.delete, NS(path=alive[7], version=-1), IDS, 5)]
    assert all(hdr.type != OpCode.error for hdr, _ in pending)
    outstanding = list(prep.outstanding)
    hdr, txn = prep.prep_close_session(SID, 5)
    assert txn.paths2Delete == old_prep_close_order(expected, outstanding, SID)
    for h, x in pending:
        tree.apply(h, x)
    rc = tree.apply(hdr, txn)
    assert deleted(rc) == txn.paths2Delete
    assert tree.session_ephemerals(SID) == [] and "/p0/someone-else" in tree.nodes

    # Each ephemeral was hashed when it was created, and not again: after that,
    # only the pending create's path (once in prep, once when applied).
    assert created <= 400 + 1
    assert len(hash_calls) - created <= 2


def test_ephemerals_from_a_snapshot_are_hashed_once(tmp_path, hash_calls):
    rnd = random.Random(5)
    tree, _, alive, _ = build_session(rnd, 300)
    path = write_snapshot(str(tmp_path / "snapshot.1"), tree, {SID: 30000, OTHER: 30000},
                          fsync=False)
    loaded, _, _ = read_snapshot(path)
    del hash_calls[:]
    # A loaded set has no history: ZooKeeper rebuilds it, so its peak is its size.
    expected = old_session_ephemerals(alive, len(alive))
    assert loaded.session_ephemerals(SID) == expected
    assert loaded.session_ephemerals(SID) == expected
    assert sorted(hash_calls) == sorted(alive)


# --- closeSession: linear, same deletion order ------------------------------------------

@pytest.fixture
def set_calls(monkeypatch):
    """Counts set() constructions made by the tree module."""
    calls = []

    def counting(*args):
        calls.append(1)
        return set(*args)

    monkeypatch.setattr(tree_module, "set", counting, raising=False)
    return calls


@pytest.mark.parametrize("seed", range(6))
def test_close_session_deletes_in_the_same_order_without_a_set_per_path(seed, set_calls):
    rnd = random.Random(seed)
    tree, t, alive, _ = build_session(rnd, 300)
    local = list(tree.ephemerals[SID])
    # The txn's list: none (a 3.5-era log), or some of the session's paths in
    # any order, with paths already gone and repeats (a log replayed over a
    # fuzzy snapshot), missing some the session still owns.
    if seed % 3 == 0:
        paths = None
    else:
        paths = rnd.sample(alive, len(alive) * 2 // 3) + ["/p0/gone", "/nowhere/x"]
        paths += rnd.sample(paths, 5)
        rnd.shuffle(paths)
    before = set(tree.nodes)
    del set_calls[:]
    rc = t.close(paths)
    order = old_kill_order(paths, local)
    assert deleted(rc) == [p for p in dict.fromkeys(order) if p in before]
    assert not tree.ephemerals.get(SID) and "/p0/someone-else" in tree.nodes
    assert len(set_calls) <= 1


# --- running totals: approximate data size, getAllChildrenNumber -------------------------

class CountingDict(dict):
    """``nodes`` that counts how often it is scanned."""
    scans = 0

    def __iter__(self):
        self.scans += 1
        return dict.__iter__(self)

    def items(self):
        self.scans += 1
        return dict.items(self)

    def keys(self):
        self.scans += 1
        return dict.keys(self)

    def values(self):
        self.scans += 1
        return dict.values(self)


def random_txn(rnd, tree, sids, orphans, in_multi=None):
    """A txn of any kind, fitting the tree or not (as in a replayed log);
    ``orphans``: may delete a node that has children (replay tolerates it), which
    a snapshot cannot hold; without it, a multi deletes nothing (its own
    creates could be under what it deletes)."""
    paths = [p for p in dict.__iter__(tree.nodes)
             if len(p) > 1 and not p.startswith("/zookeeper")]
    some = rnd.choice(paths) if paths else "/x"
    parents = paths if orphans else [p for p in paths if not tree.nodes[p].ephemeralOwner]
    fresh = "%s/%s" % (rnd.choice(parents + ["", ""]), random_name(rnd)[:12])
    data = rnd.choice([b"", b"d", b"x" * rnd.randrange(300), None])
    k = rnd.random()
    if k < 0.4:
        return OpCode.create, create_txn(fresh, data, ephemeral=rnd.random() < 0.5)
    if k < 0.55 and in_multi is None:
        if not orphans:
            leaves = [p for p in paths if not tree.nodes[p].children]
            some = rnd.choice(leaves) if leaves else "/x"
        return OpCode.delete, NS(path=some)
    if k < 0.55 and orphans:
        return OpCode.delete, NS(path=some)
    if k < 0.75:
        return OpCode.setData, NS(path=rnd.choice([some, "/", "/nonexistent"]), data=data,
                                  version=1)
    if k < 0.9:
        ops = []
        for _ in range(rnd.randrange(1, 5)):
            ops.append(random_txn(rnd, tree, sids, orphans, in_multi=ops))
            if ops[-1][0] in (OpCode.multi, OpCode.closeSession):
                ops.pop()
        if rnd.random() < 0.3:
            ops.insert(rnd.randrange(len(ops) + 1), (OpCode.error, NS(err=Err.NONODE)))
        return OpCode.multi, ops
    return OpCode.closeSession, None


def check_totals(tree):
    nodes = tree.nodes
    assert tree.approximate_data_size() == old_approximate_data_size(nodes)
    for p in list(dict.__iter__(nodes)) + ["/nonexistent", "/zookeeper"]:
        assert tree.all_children_number(p) == old_all_children_number(nodes, p), p


@pytest.mark.parametrize("seed", range(6))
def test_running_totals_equal_a_recount_and_never_scan(seed, tmp_path):
    rnd = random.Random(seed)
    tree = DataTree(OPEN_ACL_UNSAFE)
    t = Txns(tree)
    sids = [SID, OTHER, OTHER + 1]

    def run(tree, t, steps, orphans):
        tree.nodes = CountingDict(tree.nodes)
        tree.approximate_data_size()      # a tree may recount once, when it is new to it
        scans = tree.nodes.scans
        for _ in range(steps):
            type_, txn = random_txn(rnd, tree, sids, orphans)
            t.apply(type_, txn, sid=rnd.choice(sids))
            check_totals(tree)
        assert tree.nodes.scans == scans

    run(tree, t, 150, orphans=False)   # a snapshot cannot hold orphans
    # Replay: a snapshot of that tree, loaded, then more txns applied to it.
    path = write_snapshot(str(tmp_path / "snapshot.1"), tree, {s: 30000 for s in sids},
                          fsync=False)
    loaded, _, _ = read_snapshot(path)
    check_totals(loaded)
    run(loaded, Txns(loaded, t.zxid), 150, orphans=True)
    # A recount of a tree with orphans (paths whose parent is gone) agrees too.
    loaded.nodes = dict(loaded.nodes)
    check_totals(loaded)
