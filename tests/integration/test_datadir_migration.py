"""A dataDir moves between Apache ZooKeeper and zkwire, both ways.

(a) Apache ZooKeeper writes a tree (kazoo clients: persistent, ephemeral and
    sequential nodes, digest ACLs, empty and null data, multis, a failed write,
    setData, setACL, deletes, a container, a TTL node, a closed session, sessions
    left open) and is stopped; ``recover`` on its dataDir must give exactly the
    tree kazoo read before the stop, and the open sessions with their timeouts.
    Once with the default snapCount (only the start-up snapshot.0: everything
    comes from the log) and once with snapCount=20 (fuzzy snapshots and rolled
    logs).  Every log entry ZooKeeper wrote must also re-encode to its bytes.
(b) zkwire writes a dataDir (a snapshot and a rolled log of txns made by Prep);
    Apache ZooKeeper starts on it, and kazoo must read exactly our tree; the
    snapshot ZooKeeper then takes must read back as our tree too.

Only Apache ZooKeeper is started here; zkwire's server is not involved.
"""
from __future__ import annotations

import os
import re
import struct
import time
from collections import namedtuple
from types import SimpleNamespace as NS

import pytest

from servers import ServerProcess, apache_zookeeper_available

from zkwire.consts import CreateMode, OpCode, Perms
from zkwire.server.core.acl import OPEN_ACL_UNSAFE, AuthPolicy, digest
from zkwire.server.core.prep import Prep
from zkwire.server.storage.recovery import recover
from zkwire.server.storage.snapshot import list_snapshots, read_snapshot, save_snapshot, write_snapshot
from zkwire.server.core.tree import DataTree, ephemeral_kind
from zkwire.server.storage.txnlog import (
    FileTxnLog,
    LogFileScan,
    decode_entry,
    encode_entry,
    list_log_files,
)

pytestmark = pytest.mark.skipif(not apache_zookeeper_available(),
                                reason="Apache ZooKeeper is not installed")

SLF4J_SIMPLE = "/usr/share/java/slf4j-simple.jar"


class ZooKeeper(ServerProcess):
    """Apache ZooKeeper with its log going to server.log (so a refused dataDir
    says why), otherwise exactly tests/servers.py's."""

    def __init__(self, cfg=None):
        super().__init__("zookeeper", cfg=cfg)

    def command(self):
        cmd = super().command()
        if os.path.exists(SLF4J_SIMPLE):
            i = cmd.index("-cp") + 1
            cmd[i] = SLF4J_SIMPLE + ":" + cmd[i]
        return cmd

    def zxid(self) -> int:
        return int(re.search(r"Zxid: (0x[0-9a-f]+)", self.four_letter("srvr")).group(1), 16)

    def session_timeouts(self) -> dict:
        """Session id -> negotiated timeout, from ``cons``."""
        out = {}
        for sid, to in re.findall(r"sid=(0x[0-9a-f]+),.*?to=(\d+)", self.four_letter("cons")):
            out[int(sid, 16)] = int(to)
        return out

    def ephemerals_dump(self) -> dict:
        """Session id -> set of ephemeral paths, from ``dump``."""
        text = self.four_letter("dump").split("Sessions with Ephemerals", 1)[1]
        text = text.split("Connections dump", 1)[0]
        out, current = {}, None
        for line in text.splitlines()[1:]:
            if line.startswith("0x"):
                current = out.setdefault(int(line.rstrip(":"), 16), set())
            elif line.startswith("\t") and current is not None:
                current.add(line.strip())
        return out


def signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


# --- what kazoo sees, and the same view of a DataTree -------------------------------------
def zk_view(client) -> dict:
    out = {}
    stack = ["/"]
    while stack:
        path = stack.pop()
        data, stat = client.get(path)
        acls, _ = client.get_acls(path)
        kids = client.get_children(path)
        out[path] = (data, tuple(stat), tuple((a.perms, a.id.scheme, a.id.id) for a in acls),
                     frozenset(kids))
        stack.extend((path.rstrip("/") + "/" + k) for k in kids)
    return out


def tree_view(tree: DataTree) -> dict:
    """As a client sees it: Node.stat() (cversion = 2 * stored - numChildren), and
    ephemeralOwner 0 for containers and TTL nodes (DataNode.copyStat)."""
    out = {}
    for path, n in tree.nodes.items():
        if path == "":
            continue
        stat = list(n.stat())
        if ephemeral_kind(n.ephemeralOwner) in ("container", "ttl"):
            stat[7] = 0
        out[path] = (n.data, tuple(stat), tuple(n.acl), frozenset(n.children))
    return out


def same_tree(a: DataTree, b: DataTree) -> bool:
    def raw(t):
        return {p: (n.data, tuple(n.acl), n.czxid, n.mzxid, n.ctime, n.mtime, n.version,
                    n.cversion, n.aversion, n.ephemeralOwner, n.pzxid, frozenset(n.children))
                for p, n in t.nodes.items()}
    return (raw(a) == raw(b) and a.containers == b.containers and a.ttls == b.ttls
            and {k: set(v) for k, v in a.ephemerals.items()}
            == {k: set(v) for k, v in b.ephemerals.items()})


# --- kazoo requests for the extended create opcodes --------------------------------------
def _create_body(req):
    from kazoo.protocol.serialization import Create2
    return Create2(req.path, req.data, req.acl, req.flags).serialize()


class CreateContainer(namedtuple("CreateContainer", "path data acl flags")):
    type = OpCode.createContainer

    def serialize(self):
        return _create_body(self)

    @classmethod
    def deserialize(cls, raw, offset):
        from kazoo.protocol.serialization import Create2
        return Create2.deserialize(raw, offset)


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    type = OpCode.createTTL

    def serialize(self):
        return _create_body(self) + struct.pack(">q", self.ttl)

    @classmethod
    def deserialize(cls, raw, offset):
        from kazoo.protocol.serialization import Create2
        return Create2.deserialize(raw, offset)


def call(client, request):
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=10)


# --- (a) ZooKeeper -> zkwire ----------------------------------------------------------------
def zookeeper_workload(srv):
    from kazoo.client import KazooClient
    from kazoo.exceptions import NodeExistsError
    from kazoo.security import ACL, Id, READ_ACL_UNSAFE, make_digest_acl
    from kazoo.security import OPEN_ACL_UNSAFE as KOPEN

    def client(timeout):
        c = KazooClient(hosts=srv.hosts, timeout=timeout)
        c.start(timeout=15)
        return c

    main = client(10.0)
    main.add_auth("digest", "alice:secret")
    other = client(4.0)
    main.create("/app", b"root")
    main.create("/app/empty", b"", include_data=True)  # create2
    main.create("/app/null", None)
    other.create("/app/eph", b"e", ephemeral=True)
    for i in range(3):
        main.create("/app/seq-", b"%d" % i, sequence=True)
    other.create("/app/eseq-", b"", ephemeral=True, sequence=True)
    main.create("/secret", b"s", acl=[make_digest_acl("alice", "secret", all=True)]
                + list(READ_ACL_UNSAFE))
    main.set("/app", b"v2")
    main.set("/app", b"v3")
    main.delete("/app/seq-0000000003")
    main.set_acls("/app/empty", [ACL(Perms.READ | Perms.WRITE, Id("world", "anyone"))])
    t = main.transaction()
    t.create("/m1", b"1")
    t.set_data("/app", b"v4")
    t.check("/app", 3)
    t.delete("/app/seq-0000000004")
    results = t.commit()
    assert results[0] == "/m1" and results[2:] == [True, True]
    t = main.transaction()
    t.create("/m2", b"2")
    t.delete("/missing")
    results = t.commit()
    assert any(isinstance(r, Exception) for r in results)
    with pytest.raises(NodeExistsError):
        main.create("/app", b"again")
    call(main, CreateContainer("/box", b"c", KOPEN, CreateMode.CONTAINER))
    main.create("/box/item", b"i")
    call(main, CreateTTL("/ttl", b"t", KOPEN, CreateMode.PERSISTENT_WITH_TTL, 600000))
    short = client(6.0)
    short.create("/short", b"x", ephemeral=True)
    short.stop()
    short.close()
    main.create("/bulk")
    for i in range(24):
        main.create("/bulk/n%02d" % i, b"%d" % i)
    for i in range(0, 24, 3):
        main.delete("/bulk/n%02d" % i)
    main.create("/bulk/z", b"last")
    return main, other


def _entries(data_dir):
    for _, path in list_log_files(data_dir):
        yield from LogFileScan(path)


@pytest.mark.parametrize("snap_count", [None, 20], ids=["log-only", "snapCount=20"])
def test_zookeeper_datadir_recovers_to_what_kazoo_read(snap_count):
    srv = ZooKeeper(cfg={"snapCount": str(snap_count)} if snap_count else None)
    clients = ()
    try:
        srv.start()
        clients = zookeeper_workload(srv)
        main, other = clients
        main_sid, other_sid = main.client_id[0], other.client_id[0]
        expected = zk_view(main)
        expected_sessions = srv.session_timeouts()
        last_zxid = srv.zxid()
        srv.stop()  # sessions stay open: ZooKeeper keeps them on disk
        for c in clients:
            c.stop()
            c.close()
        data_dir = srv.cfg["dataDir"]

        assert set(expected_sessions) == {main_sid, other_sid}
        assert sorted(expected_sessions.values()) == [4000, 10000]
        tree, sessions, zxid, report = recover(data_dir, data_dir)
        assert tree_view(tree) == expected
        assert sessions == expected_sessions
        assert zxid == last_zxid
        assert report.torn_tail is None and not report.gaps
        assert report.orphan_sessions_killed == []
        assert tree.containers == {"/box"} and tree.ttls == {"/ttl"}
        assert {k: set(v) for k, v in tree.ephemerals.items()} == {
            other_sid: {"/app/eph", "/app/eseq-0000000006"}}
        assert tree.get("/app/null").data is None and tree.get("/app/empty").data == b""

        snaps = list_snapshots(data_dir)
        if snap_count is None:
            # Only the snapshot ZooKeeper writes at start-up: everything is in the log.
            assert [z for z, _ in snaps] == [0]
            assert report.snapshot_zxid == 0 and report.txns_replayed == last_zxid
            # No snapshot at all (ZooKeeper would refuse): the log alone rebuilds it.
            for _, path in snaps:
                os.unlink(path)
            tree2, sessions2, zxid2, report2 = recover(data_dir)
            assert report2.snapshot is None and zxid2 == last_zxid
            assert tree_view(tree2) == expected and sessions2 == expected_sessions
        else:
            assert len(snaps) >= 3 and len(list_log_files(data_dir)) >= 3
            assert report.snapshot_zxid == snaps[0][0] > 0
            if report.txns_replayed:  # none if the last snapshot came with the last txn
                assert report.first_replayed_zxid == report.snapshot_zxid + 1
            # Replaying from an older, fuzzier snapshot ends in the same state.
            for _, path in snaps[:-2]:
                os.unlink(path)
            tree2, sessions2, zxid2, _ = recover(data_dir)
            assert tree_view(tree2) == expected and sessions2 == expected_sessions

        # Our codec re-encodes every entry ZooKeeper wrote to the same bytes (TxnDigest too).
        types = set()
        closes = []
        for _, raw in _entries(data_dir):
            hdr, txn, dig = decode_entry(raw)
            types.add(hdr.type)
            if hdr.type == OpCode.closeSession:
                closes.append(txn)
            # ZooKeeper 3.8 logs a TxnDigest after every txn but a top-level error txn.
            assert (dig is None) == (hdr.type == OpCode.error)
            assert encode_entry(hdr, txn, dig) == raw
        assert types >= {OpCode.createSession, OpCode.closeSession, OpCode.create,
                         OpCode.create2, OpCode.createContainer, OpCode.createTTL,
                         OpCode.delete, OpCode.setData, OpCode.setACL, OpCode.multi,
                         OpCode.error}
        # 3.6+ closeSession lists the session's ephemerals (CloseSessionTxn).
        assert closes == [NS(paths2Delete=["/short"])]

        # Finally the real thing: a zkwire server started on ZooKeeper's dataDir
        # serves the same tree and stats to kazoo.
        from kazoo.client import KazooClient

        zw = ServerProcess("zkwire")
        zw.cfg["dataDir"] = data_dir
        try:
            zw.start()
            viewer = KazooClient(hosts=zw.hosts)
            viewer.start(timeout=15)
            viewer.add_auth("digest", "alice:secret")  # as main was: ADMIN sees digests
            try:
                assert zk_view(viewer) == expected
            finally:
                viewer.stop()
                viewer.close()
        finally:
            zw.cleanup()
    finally:
        for c in clients:
            c.stop()
            c.close()
        srv.cleanup()


# --- (b) zkwire -> ZooKeeper ----------------------------------------------------------------
def acl(perms, scheme, ident):
    return NS(perms=perms, id=NS(scheme=scheme, id=ident))


OPEN = [acl(Perms.ALL, "world", "anyone")]
S1 = 0x0100000771F80000
S2 = S1 + 1
S3 = S1 + 2


class Writer:
    """A zkwire write path in miniature: Prep makes txns, the tree applies them,
    FileTxnLog logs them (one sync per txn, as group commit of one)."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.tree = DataTree(OPEN_ACL_UNSAFE)
        self.prep = Prep(self.tree, AuthPolicy(), extended_types=True)
        self.sessions = {}
        self.log = FileTxnLog(data_dir)
        self.now = int(time.time() * 1000)
        self.cxid = 0

    def commit(self, hdr, txn):
        self.log.append(hdr, txn)
        self.log.sync()
        self.tree.apply(hdr, txn)
        self.prep.committed(hdr.zxid)
        if hdr.type == OpCode.createSession:
            self.sessions[hdr.clientId] = txn.timeOut
        elif hdr.type == OpCode.closeSession:
            self.sessions.pop(hdr.clientId, None)
        self.now += 3

    def op(self, opcode, req, sid=S1):
        self.cxid += 1
        self.commit(*self.prep.prep(sid, self.cxid, opcode, req, [("ip", "127.0.0.1")],
                                    self.now))

    def create(self, path, data=b"", flags=CreateMode.PERSISTENT, acl_=None, sid=S1,
               opcode=OpCode.create, **extra):
        self.op(opcode, NS(path=path, data=data, acl=acl_ or OPEN, flags=flags, **extra), sid)

    def session(self, sid, timeout):
        self.commit(*self.prep.prep_create_session(sid, timeout, self.now))

    def close_session(self, sid):
        self.commit(*self.prep.prep_close_session(sid, self.now))

    def snapshot(self):
        """Roll the log and snapshot the tree, as ZooKeeper's SyncRequestProcessor does."""
        self.log.roll()
        return save_snapshot(self.data_dir, self.tree, self.sessions, self.tree.last_zxid)


def test_zkwire_datadir_loads_in_zookeeper():
    srv = ZooKeeper()
    reader = None
    try:
        data_dir = srv.cfg["dataDir"]
        w = Writer(data_dir)
        w.snapshot()  # snapshot.0: ZooKeeper refuses a log without any snapshot
        w.session(S1, 30000)
        w.session(S2, 30000)
        w.session(S3, 8000)
        w.create("/app", b"root")
        w.create("/app/empty", b"", opcode=OpCode.create2)
        w.create("/app/null", None)
        w.create("/app/eph", b"e", CreateMode.EPHEMERAL, sid=S2)
        for i in range(3):
            w.create("/app/seq-", b"%d" % i, CreateMode.PERSISTENT_SEQUENTIAL)
        w.create("/app/eseq-", b"", CreateMode.EPHEMERAL_SEQUENTIAL, sid=S2)
        w.op(OpCode.delete, NS(path="/app/seq-0000000003", version=-1))
        w.create("/secret", b"s", acl_=[acl(Perms.ALL, "digest", digest("alice:secret")),
                                        acl(Perms.READ, "world", "anyone")])
        w.create("/doomed", b"", CreateMode.EPHEMERAL, sid=S3)
        mid = w.snapshot()
        w.op(OpCode.setData, NS(path="/app", data=b"v2", version=-1))
        w.op(OpCode.setACL, NS(path="/app/empty", acl=[acl(Perms.READ | Perms.WRITE, "world",
                                                           "anyone")], version=0))
        w.create("/box", b"c", CreateMode.CONTAINER, opcode=OpCode.createContainer)
        w.create("/box/item", b"i")
        w.create("/ttl", b"t", CreateMode.PERSISTENT_WITH_TTL, opcode=OpCode.createTTL,
                 ttl=600000)
        w.op(OpCode.check, NS(path="/app", version=1))   # a stand-alone check
        w.create("/app", b"again")                        # NODEEXISTS: an error txn
        w.op(OpCode.multi, [(OpCode.create, NS(path="/m1", data=b"1", acl=OPEN, flags=0)),
                            (OpCode.setData, NS(path="/m1", data=b"11", version=0)),
                            (OpCode.check, NS(path="/app", version=1)),
                            (OpCode.delete, NS(path="/app/seq-0000000004", version=-1))])
        w.op(OpCode.multi, [(OpCode.create, NS(path="/m2", data=b"2", acl=OPEN, flags=0)),
                            (OpCode.delete, NS(path="/missing", version=-1))])
        w.log.roll()
        w.create("/later", b"after a roll")
        w.close_session(S3)                               # deletes /doomed
        w.log.close()
        ours = w.tree
        assert os.path.basename(mid) == "snapshot.e"  # 3 sessions + 11 writes
        assert len(list_log_files(data_dir)) == 3
        assert ours.get("/doomed") is None and ours.get("/m1").data == b"11"

        srv.start()
        from kazoo.client import KazooClient
        reader = KazooClient(hosts=srv.hosts, timeout=10.0)
        reader.start(timeout=15)
        reader.add_auth("digest", "alice:secret")
        assert zk_view(reader) == tree_view(ours)
        assert srv.ephemerals_dump() == {S2: {"/app/eph", "/app/eseq-0000000006"}}
        assert srv.zxid() == ours.last_zxid + 1   # the reader's createSession
        # ZooKeeper snapshots what it loaded at start-up: our tree, our sessions.
        z_tree, z_sessions, z_zxid = read_snapshot(
            os.path.join(data_dir, "version-2", "snapshot.%x" % ours.last_zxid))
        assert z_zxid == ours.last_zxid
        assert same_tree(z_tree, ours)
        assert z_sessions == {S1: 30000, S2: 30000}
        reader.stop()
        reader.close()
        reader = None
        srv.stop()

        # And back: zkwire recovers ZooKeeper's dataDir (its snapshot + its log).
        tree, sessions, zxid, report = recover(data_dir)
        assert report.snapshot_zxid == ours.last_zxid
        assert report.txns_replayed == 2  # the reader's createSession and closeSession
        assert same_tree(tree, ours) and sessions == {S1: 30000, S2: 30000}
        # Our snapshot writer on ZooKeeper's tree reads back the same.
        again = write_snapshot(os.path.join(srv.workdir, "copy", "snapshot.%x" % zxid), tree,
                               sessions, zxid)
        t2, s2, z2 = read_snapshot(again)
        assert same_tree(t2, tree) and s2 == sessions and z2 == zxid
    finally:
        if reader is not None:
            reader.stop()
            reader.close()
        srv.cleanup()
