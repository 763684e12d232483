"""ZooKeeper's on-disk formats: txn log entries and files, snapshots, recovery, purge.

The golden bytes below were written by Apache ZooKeeper 3.8.0 (a standalone
server started by tests/servers.py, driven by kazoo): log entries with the 3.6+
TxnDigest, and the snapshot.0 it writes when it starts on an empty dataDir.
"""
from __future__ import annotations

import os
import shutil
import struct
import zlib
from types import SimpleNamespace as NS

import pytest

from zkwire.consts import CreateMode, OpCode, Perms
from zkwire import records as R
from zkwire.records import CloseSessionTxn, CreateTxnV0, TxnDigest, TxnHeader
from zkwire.server.core.acl import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, AuthPolicy, digest
from zkwire.server.core.prep import Prep
from zkwire.server.storage.recovery import purge, recover
from zkwire.server.storage.snapshot import (
    SnapshotCapture,
    list_snapshots,
    read_snapshot,
    read_snapshot_ex,
    save_snapshot,
    write_snapshot,
)
from zkwire.server.core.tree import DataTree
from zkwire.server.storage.txnlog import (
    DiskFormatError,
    FileTxnLog,
    LogReader,
    decode_entry,
    encode_entry,
    frame_entry,
    list_log_files,
    padded_size,
    repair_tail,
)

SID = 0x0100000771F80000
SID2 = SID + 1
IDS = [("ip", "127.0.0.1")]
T0 = 1_700_000_000_000
DIGEST_ID = digest("alice:secret")

# --- golden entries from ZooKeeper 3.8.0 (entry bytes, i.e. inside the framing) ----
ZK_CREATE = bytes.fromhex(
    "01000028f0870000000000010000000000000002000001a213a755a600000001000000022f6100000005"
    "68656c6c6f000000010000001f00000005776f726c6400000006616e796f6e650000000001000000020000"
    "0000f5d85396")
ZK_CREATE_EPHEMERAL = bytes.fromhex(
    "01000028f0870000000000020000000000000003000001a213a755b400000001000000042f612f6500000001"
    "78000000010000001f00000005776f726c6400000006616e796f6e65010000000100000002000000"
    "01ee5ae678")
ZK_MULTI = bytes.fromhex(
    "01000028f0870000000000210000000000000022000001a213a7560b0000000e00000002000000010000002b"
    "000000022f6d0000000131000000010000001f00000005776f726c6400000006616e796f6e65000000000200"
    "0000050000000f000000022f61000000017900000001000000020000000ffaf1d664")
ZK_DELETE = bytes.fromhex(
    "01000028f0870000000000220000000000000023000001a213a75610000000020000000e2f612f7330303030"
    "303030303033000000020000000ee94062a2")
ZK_CREATE_SESSION = bytes.fromhex(
    "01000028f0870001000000000000000000000024000001a213a75619fffffff600002710000000020000000e"
    "e94062a2")
ZK_CLOSE_SESSION = bytes.fromhex(
    "01000028f0870001000000010000000000000025000001a213a7561cfffffff5000000000000000200000"
    "00ee94062a2")
ZK_SNAPSHOT_0 = bytes.fromhex(
    "5a4b534e00000002ffffffffffffffff00000000000000010000000000000001000000010000000100000005"
    "776f726c6400000006616e796f6e650000000000000000ffffffffffffffff00000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000a2f7a6f6f6b656570657200000000ffffffffffffffff000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000112f7a6f6f6b65657065722f636f6e66696700000000000000000000000100000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000ffffffff00000000000000000000"
    "000000000000000000102f7a6f6f6b65657065722f71756f746100000000ffffffffffffffff000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000012f00000000b8a23b49000000012f00000000000000000000000200000000"
    "000000000000000095b93d59000000012f")


# --- helpers ----------------------------------------------------------------------------
def acl(perms, scheme, ident):
    return NS(perms=perms, id=NS(scheme=scheme, id=ident))


OPEN = [acl(Perms.ALL, "world", "anyone")]


def create(path, data=b"", flags=CreateMode.PERSISTENT, acl_=None, ttl=None):
    req = NS(path=path, data=data, acl=acl_ or OPEN, flags=flags)
    if ttl is not None:
        req.ttl = ttl
    return req


class Builder:
    """Makes txns the way the server does (Prep), applies them, keeps them."""

    def __init__(self):
        self.tree = DataTree(OPEN_ACL_UNSAFE)
        self.prep = Prep(self.tree, AuthPolicy(), extended_types=True)
        self.sessions = {}
        self.txns = []
        self.now = T0
        self.cxid = 0

    def _commit(self, hdr, txn):
        self.tree.apply(hdr, txn)
        self.prep.committed(hdr.zxid)
        if hdr.type == OpCode.createSession:
            self.sessions[hdr.clientId] = txn.timeOut
        elif hdr.type == OpCode.closeSession:
            self.sessions.pop(hdr.clientId, None)
        self.txns.append((hdr, txn))
        self.now += 7
        return hdr, txn

    def op(self, opcode, req, sid=SID):
        self.cxid += 1
        hdr, txn = self.prep.prep(sid, self.cxid, opcode, req, IDS, self.now)
        return self._commit(hdr, txn)

    def session(self, sid, timeout=30000):
        return self._commit(*self.prep.prep_create_session(sid, timeout, self.now))

    def close(self, sid):
        return self._commit(*self.prep.prep_close_session(sid, self.now))


def build_sample() -> Builder:
    """A tree exercising every node kind and txn type the log can hold."""
    b = Builder()
    b.session(SID)
    b.session(SID2, timeout=12000)
    b.op(OpCode.create, create("/app", b"root data"))
    b.op(OpCode.create2, create("/app/empty", b""))
    b.op(OpCode.create, create("/app/null", None))
    b.op(OpCode.create, create("/app/eph", b"e", CreateMode.EPHEMERAL), sid=SID2)
    for i in range(3):
        b.op(OpCode.create, create("/app/seq-", b"%d" % i, CreateMode.PERSISTENT_SEQUENTIAL))
    b.op(OpCode.create, create("/app/eseq-", b"", CreateMode.EPHEMERAL_SEQUENTIAL), sid=SID2)
    b.op(OpCode.delete, NS(path="/app/seq-0000000003", version=-1))
    b.op(OpCode.create, create("/secret", b"s", acl_=[acl(Perms.ALL, "digest", DIGEST_ID),
                                                      acl(Perms.READ, "world", "anyone")]))
    b.op(OpCode.setData, NS(path="/app", data=b"v2", version=-1))
    b.op(OpCode.setACL, NS(path="/app/empty", acl=[acl(Perms.READ | Perms.WRITE, "world",
                                                       "anyone")], version=0))
    b.op(OpCode.createContainer, create("/box", b"c", CreateMode.CONTAINER))
    b.op(OpCode.create, create("/box/item", b"i"))
    b.op(OpCode.createTTL, create("/ttl", b"t", CreateMode.PERSISTENT_WITH_TTL, ttl=5000))
    b.op(OpCode.check, NS(path="/app", version=1))
    b.op(OpCode.create, create("/app", b"again"))            # NODEEXISTS -> error txn
    b.op(OpCode.multi, [(OpCode.create, create("/m1", b"1")),
                        (OpCode.setData, NS(path="/m1", data=b"11", version=0)),
                        (OpCode.check, NS(path="/app", version=1)),
                        (OpCode.delete, NS(path="/app/seq-0000000004", version=-1))])
    b.op(OpCode.multi, [(OpCode.create, create("/m2", b"2")),
                        (OpCode.delete, NS(path="/missing", version=-1))])  # fails
    b.op(OpCode.create, create("/gone-with-session", b"g", CreateMode.EPHEMERAL))
    b.session(SID + 5)
    b.op(OpCode.create, create("/short", b"x", CreateMode.EPHEMERAL), sid=SID + 5)
    b.close(SID + 5)
    return b


def node_view(tree: DataTree) -> dict:
    """Every znode (root once, as "/"): data, acl, all stored stat fields, children."""
    out = {}
    for path, n in tree.nodes.items():
        if path == "":
            continue
        out[path] = (n.data, tuple(n.acl), n.czxid, n.mzxid, n.ctime, n.mtime, n.version,
                     n.cversion, n.aversion, n.ephemeralOwner, n.pzxid, frozenset(n.children))
    return out


def assert_same_tree(a: DataTree, b: DataTree):
    assert node_view(a) == node_view(b)
    assert a.nodes[""] is a.nodes["/"] and b.nodes[""] is b.nodes["/"]
    assert {k: set(v) for k, v in a.ephemerals.items()} == \
        {k: set(v) for k, v in b.ephemerals.items()}
    assert a.containers == b.containers
    assert a.ttls == b.ttls


def write_log(dirpath, txns, prealloc=0, roll_every=None):
    log = FileTxnLog(str(dirpath), prealloc_bytes=prealloc)
    for i, (hdr, txn) in enumerate(txns):
        if roll_every and i and i % roll_every == 0:
            log.roll()
        log.append(hdr, txn)
    log.close()
    return log


def logged(txns):
    """``(zxid, type)`` as FileTxnLog stores them: a stand-alone check becomes an
    error txn (err 0), which ZooKeeper can load."""
    return [(h.zxid, OpCode.error if h.type == OpCode.check else h.type) for h, _ in txns]


def read_all(dirpath, from_zxid=0):
    reader = LogReader(str(dirpath), from_zxid)
    return [(h.zxid, h.type) for h, _ in reader], reader


ROUND_TRIP_EXTRA = [
    (NS(clientId=SID, cxid=0, zxid=900, time=T0, type=OpCode.deleteContainer), NS(path="/box")),
    (NS(clientId=SID, cxid=0, zxid=901, time=T0, type=OpCode.reconfig),
     NS(path="/zookeeper/config", data=b"server.1=...", version=3)),
    (NS(clientId=SID, cxid=0, zxid=902, time=T0, type=OpCode.closeSession), None),
    (NS(clientId=SID, cxid=0, zxid=903, time=T0, type=OpCode.closeSession),
     NS(paths2Delete=["/a", "/b/c"])),
    (NS(clientId=SID, cxid=0, zxid=904, time=T0, type=OpCode.multi), []),
    (NS(clientId=SID, cxid=0, zxid=905, time=T0, type=OpCode.closeSession),
     NS(paths2Delete=None)),
]


# --- the entry codec ----------------------------------------------------------------------
def test_every_txn_type_round_trips():
    b = build_sample()
    types = {hdr.type for hdr, _ in b.txns}
    assert types >= {OpCode.createSession, OpCode.closeSession, OpCode.create, OpCode.create2,
                     OpCode.createContainer, OpCode.createTTL, OpCode.delete, OpCode.setData,
                     OpCode.setACL, OpCode.check, OpCode.error, OpCode.multi}
    for hdr, txn in b.txns + ROUND_TRIP_EXTRA:
        raw = encode_entry(hdr, txn)
        h2, t2, d2 = decode_entry(raw)
        assert d2 is None
        assert vars(h2) == {k: getattr(hdr, k) for k in ("clientId", "cxid", "zxid", "time", "type")}
        assert t2 == txn, hdr.type
        assert encode_entry(h2, t2) == raw
        # ... and with a TxnDigest after the record.
        raw_d = encode_entry(hdr, txn, NS(version=2, treeDigest=0x1234567890))
        assert raw_d == raw + TxnDigest.build({"version": 2, "treeDigest": 0x1234567890})
        h3, t3, d3 = decode_entry(raw_d)
        assert t3 == txn and (d3.version, d3.treeDigest) == (2, 0x1234567890)


def _jute_acl(acl):
    return [{"perms": p, "id": {"scheme": s, "id": i}} for p, s, i in acl]


def _record_bytes(type_, txn) -> bytes:
    """The txn record built with zkwire.records' jute Records (the reference)."""
    if type_ in (OpCode.create, OpCode.create2):
        return R.CreateTxn.build(dict(vars(txn), acl=_jute_acl(txn.acl)))
    if type_ == OpCode.createContainer:
        return R.CreateContainerTxn.build(dict(vars(txn), acl=_jute_acl(txn.acl)))
    if type_ == OpCode.createTTL:
        return R.CreateTTLTxn.build(dict(vars(txn), acl=_jute_acl(txn.acl)))
    if type_ in (OpCode.delete, OpCode.deleteContainer):
        return R.DeleteTxn.build(vars(txn))
    if type_ in (OpCode.setData, OpCode.reconfig):
        return R.SetDataTxn.build(vars(txn))
    if type_ == OpCode.setACL:
        return R.SetACLTxn.build(dict(vars(txn), acl=_jute_acl(txn.acl)))
    if type_ == OpCode.check:
        return R.CheckVersionTxn.build(vars(txn))
    if type_ == OpCode.createSession:
        return R.CreateSessionTxn.build(vars(txn))
    if type_ == OpCode.closeSession:
        return b"" if txn is None else R.CloseSessionTxn.build(vars(txn))
    if type_ == OpCode.error:
        return R.ErrorTxn.build(vars(txn))
    if type_ == OpCode.multi:
        return R.MultiTxn.build({"txns": [{"type": t, "data": _record_bytes(t, sub)}
                                          for t, sub in txn]})
    raise AssertionError(type_)


def test_codec_matches_the_jute_records():
    b = build_sample()
    for hdr, txn in b.txns + ROUND_TRIP_EXTRA:
        want = TxnHeader.build({k: getattr(hdr, k) for k in TxnHeader.fields})
        want += _record_bytes(hdr.type, txn)
        assert encode_entry(hdr, txn) == want, hdr.type
    # Every truncation is a clean ValueError (JuteError), except the shapes
    # ZooKeeper itself accepts: a create cut before parentCVersion (CreateTxnV0)
    # and a closeSession without its record (32 bytes: the header; 44: the
    # header and 12 bytes, read as a TxnDigest).
    for hdr, txn in b.txns:
        raw = encode_entry(hdr, txn)
        legit = {32, 44} if hdr.type == OpCode.closeSession else set()
        if hdr.type == OpCode.create:
            legit.add(len(raw) - 4)
        for cut in range(len(raw)):
            if cut not in legit:
                with pytest.raises(ValueError):
                    decode_entry(raw[:cut])


def test_decoded_txns_replay_to_the_same_tree():
    b = build_sample()
    tree = DataTree(OPEN_ACL_UNSAFE)
    for hdr, txn in b.txns:
        h, t, _ = decode_entry(encode_entry(hdr, txn))
        tree.apply(h, t)
    assert_same_tree(tree, b.tree)
    assert tree.last_zxid == b.tree.last_zxid


def test_golden_zookeeper_entries_decode_and_reencode():
    cases = [
        (ZK_CREATE, OpCode.create, NS(path="/a", data=b"hello", acl=OPEN_ACL_UNSAFE,
                                      ephemeral=False, parentCVersion=1)),
        (ZK_CREATE_EPHEMERAL, OpCode.create, NS(path="/a/e", data=b"x", acl=OPEN_ACL_UNSAFE,
                                                ephemeral=True, parentCVersion=1)),
        (ZK_MULTI, OpCode.multi, [(OpCode.create, NS(path="/m", data=b"1", acl=OPEN_ACL_UNSAFE,
                                                     ephemeral=False, parentCVersion=2)),
                                  (OpCode.setData, NS(path="/a", data=b"y", version=1))]),
        (ZK_DELETE, OpCode.delete, NS(path="/a/s0000000003")),
        (ZK_CREATE_SESSION, OpCode.createSession, NS(timeOut=10000)),
        (ZK_CLOSE_SESSION, OpCode.closeSession, NS(paths2Delete=[])),
    ]
    for raw, type_, want in cases:
        hdr, txn, dig = decode_entry(raw)
        assert hdr.type == type_
        assert hdr.clientId == 0x01000028F0870000 or hdr.clientId == 0x01000028F0870001
        assert txn == want
        assert dig is not None and dig.version == 2  # 3.6+ writes the tree digest
        assert encode_entry(hdr, txn, dig) == raw
    hdr, _, _ = decode_entry(ZK_CREATE)
    assert (hdr.cxid, hdr.zxid, hdr.time) == (1, 2, 0x1A213A755A6)


def test_old_shapes_create_v0_and_record_less_close_session():
    hdr = NS(clientId=SID, cxid=3, zxid=77, time=T0, type=OpCode.create)
    head = TxnHeader.build(vars(hdr))
    v0 = CreateTxnV0.build({"path": "/old", "data": b"d", "ephemeral": True, "acl": [
        {"perms": 31, "id": {"scheme": "world", "id": "anyone"}}]})
    _, txn, _ = decode_entry(head + v0)
    assert txn == NS(path="/old", data=b"d", acl=OPEN_ACL_UNSAFE, ephemeral=True,
                     parentCVersion=-1)
    close = NS(clientId=SID, cxid=0, zxid=78, time=T0, type=OpCode.closeSession)
    head = TxnHeader.build(vars(close))
    assert decode_entry(head) == (close, None, None)
    dig = TxnDigest.build({"version": 2, "treeDigest": 99})
    h, txn, d = decode_entry(head + dig)
    assert txn is None and (d.version, d.treeDigest) == (2, 99)
    h, txn, d = decode_entry(head + CloseSessionTxn.build({"paths2Delete": ["/x"]}) + dig)
    assert txn == NS(paths2Delete=["/x"]) and d.treeDigest == 99
    # A closeSession without a record still ends the session's ephemerals on apply.
    b = Builder()
    b.session(SID)
    b.op(OpCode.create, create("/e", b"", CreateMode.EPHEMERAL))
    b.tree.apply(close, None)
    assert b.tree.get("/e") is None


def test_undecodable_entries_raise():
    with pytest.raises(ValueError):
        decode_entry(ZK_CREATE[:40])
    bogus = TxnHeader.build({"clientId": 1, "cxid": 1, "zxid": 1, "time": 1, "type": 99})
    with pytest.raises(ValueError):
        decode_entry(bogus)


# --- log files --------------------------------------------------------------------------
def test_log_file_layout_and_roll(tmp_path):
    b = build_sample()
    log = FileTxnLog(str(tmp_path), prealloc_bytes=64 << 20)
    for hdr, txn in b.txns[:10]:
        log.append(hdr, txn)
    log.sync()
    assert log.fsyncs == 1  # one fsync for the batch (the new directory entry is not counted)
    first = log.current_path
    log.roll()
    for hdr, txn in b.txns[10:]:
        log.append(hdr, txn)
        log.sync()
    log.close()
    files = list_log_files(str(tmp_path))
    z10 = b.txns[10][0].zxid
    assert [os.path.basename(p) for _, p in files] == ["log.%x" % b.txns[0][0].zxid,
                                                       "log.%x" % z10]
    assert first == files[0][1] and os.path.dirname(first) == str(tmp_path / "version-2")
    with open(first, "rb") as f:
        head = f.read(16)
    assert head == b"ZKLG" + struct.pack(">iq", 2, 0)
    # Preallocated like ZooKeeper: the first growth is preAllocSize past the header.
    assert os.path.getsize(first) == (64 << 20) + 16
    want = logged(b.txns)
    got, reader = read_all(tmp_path)
    assert got == want and reader.torn_tail is None
    assert read_all(tmp_path, z10 + 2)[0] == want[12:]
    assert read_all(tmp_path, z10 - 1)[0] == want[9:]
    # iterate_from on a live log sees what was appended, synced or not.
    log2 = FileTxnLog(str(tmp_path), prealloc_bytes=0)
    nxt = NS(clientId=SID, cxid=99, zxid=b.tree.last_zxid + 1, time=T0, type=OpCode.setData)
    log2.append(nxt, NS(path="/app", data=b"late", version=2))
    assert [h.zxid for h, _ in log2.iterate_from(z10)][-1] == nxt.zxid
    assert log2.last_torn_tail is None
    log2.close()


def test_padding_rule_matches_zookeeper():
    pre = 64 << 20
    assert padded_size(16, 16, pre) == pre + 16
    assert padded_size(1000, pre + 16, pre) == pre + 16
    assert padded_size(pre + 16 - 4096, pre + 16, pre) == 2 * pre + 16
    assert padded_size(3 * pre + 5, 2 * pre + 16, pre) == 4 * pre
    assert padded_size(100, 16, 0) == 16


def test_force_sync_off_skips_fsync(tmp_path):
    b = build_sample()
    log = FileTxnLog(str(tmp_path), prealloc_bytes=0, force_sync=False)
    for hdr, txn in b.txns:
        log.append(hdr, txn)
    log.sync()
    log.close()
    assert log.fsyncs == 0
    assert len(read_all(tmp_path)[0]) == len(b.txns)


def test_stand_alone_check_is_logged_as_a_no_op_error_txn(tmp_path):
    b = build_sample()
    (hdr, txn), = [(h, t) for h, t in b.txns if h.type == OpCode.check]
    with FileTxnLog(str(tmp_path / "portable"), prealloc_bytes=0) as log:
        log.append(hdr, txn)
    with FileTxnLog(str(tmp_path / "faithful"), prealloc_bytes=0, portable_check=False) as log:
        log.append(hdr, txn)
    (h1, t1), = LogReader(str(tmp_path / "portable"))
    (h2, t2), = LogReader(str(tmp_path / "faithful"))
    assert (h1.zxid, h1.type, t1) == (hdr.zxid, OpCode.error, NS(err=0))
    assert (h2.type, t2) == (OpCode.check, txn)
    tree = DataTree(OPEN_ACL_UNSAFE)
    assert tree.apply(h1, t1).err == 0 and tree.last_zxid == hdr.zxid


def test_fsync_can_run_in_another_thread_while_appending(tmp_path):
    import threading

    b = build_sample()
    log = FileTxnLog(str(tmp_path), prealloc_bytes=1 << 16)
    half = len(b.txns) // 2
    for hdr, txn in b.txns[:half]:
        log.append(hdr, txn)
    log.roll()
    handle = log.flush()        # in the loop: hand the batch to the OS
    worker = threading.Thread(target=handle.fsync)
    worker.start()
    for hdr, txn in b.txns[half:]:
        log.append(hdr, txn)    # the next batch, while the fsync runs
    worker.join(10)
    assert not worker.is_alive() and log.fsyncs == 1
    handle.fsync()              # idempotent
    assert log.fsyncs == 1
    log.close()
    assert log.fsyncs == 2 and read_all(tmp_path)[0] == logged(b.txns)
    # Appending a zxid that is already in a file is refused, not overwritten.
    again = FileTxnLog(str(tmp_path), prealloc_bytes=0)
    with pytest.raises(ValueError, match="already holds entries"):
        again.append(*b.txns[half])


def _entry_offsets(path):
    """(start, end) of each framed entry in a log file without padding."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 16
    while pos + 12 <= len(data):
        _, n = struct.unpack_from(">qi", data, pos)
        if n == 0:
            break
        out.append((pos, pos + 12 + n + 1))
        pos += 12 + n + 1
    return out


@pytest.mark.parametrize("padded", [False, True], ids=["cut", "zeroed"])
def test_torn_tail_at_every_offset_of_the_last_entry(tmp_path, padded):
    b = build_sample()
    txns = b.txns[:6]
    src = tmp_path / "src"
    write_log(src, txns)
    (zxid0, path), = list_log_files(str(src))
    with open(path, "rb") as f:
        good = f.read()
    start, end = _entry_offsets(path)[-1]
    assert end == len(good)
    want = logged(txns)
    work = tmp_path / "work" / "version-2"
    work.mkdir(parents=True)
    target = work / os.path.basename(path)
    for cut in range(start, end):
        data = good[:cut]
        if padded:
            data += bytes(4096 + len(good) - cut)  # a partial write over preallocated zeros
        target.write_bytes(data)
        got, reader = read_all(work.parent)
        assert got == want[:-1], cut
        if good[start:cut].count(0) == cut - start:
            # Nothing or only zeros of the entry (its checksum's high bytes) got
            # written: indistinguishable from preallocated zeros, a clean end.
            assert reader.torn_tail is None
        else:
            assert reader.torn_tail is not None and reader.torn_tail.offset == start, cut
    # The writer cuts the torn tail off before its first append.
    target.write_bytes(good[:end - 3] + bytes(100))
    log = FileTxnLog(str(work.parent), prealloc_bytes=0)
    hdr, txn = b.txns[5]
    log.append(hdr, txn)
    log.close()
    assert log.repaired_tail is not None and log.repaired_tail.offset == start
    assert os.path.getsize(target) == start
    got, reader = read_all(work.parent)
    assert got == want and reader.torn_tail is None and reader.skipped_tails == []


def test_torn_tail_in_an_older_file_is_skipped_like_zookeeper(tmp_path):
    # ZooKeeper never cuts a torn tail; after a restart it just starts a new file.
    b = build_sample()
    write_log(tmp_path, b.txns[:5])
    (_, path), = list_log_files(str(tmp_path))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 2)
    with FileTxnLog(str(tmp_path), prealloc_bytes=0) as log:
        log._repaired = True  # behave like ZooKeeper: leave the old file alone
        for hdr, txn in b.txns[4:8]:
            log.append(hdr, txn)
    got, reader = read_all(tmp_path)
    assert got == logged(b.txns[:8])
    assert reader.torn_tail is None and len(reader.skipped_tails) == 1


def test_flipped_byte_in_a_middle_entry_is_an_error(tmp_path):
    b = build_sample()
    write_log(tmp_path, b.txns[:8], prealloc=1 << 16)
    (_, path), = list_log_files(str(tmp_path))
    spans = _entry_offsets(path)
    start, end = spans[3]
    with open(path, "r+b") as f:
        f.seek(start + 12 + 20)
        byte = f.read(1)
        f.seek(start + 12 + 20)
        f.write(bytes([byte[0] ^ 0x10]))
    with pytest.raises(DiskFormatError) as e:
        read_all(tmp_path)
    assert e.value.path == path and e.value.offset == start
    assert os.path.basename(path) in str(e.value) and "offset %d" % start in str(e.value)
    # ... also for the writer, which must not append after corruption.
    with pytest.raises(DiskFormatError):
        FileTxnLog(str(tmp_path)).append(*b.txns[8])
    # A damaged LAST entry followed by nothing but zeros is a torn write instead.
    shutil.rmtree(tmp_path / "version-2")
    write_log(tmp_path, b.txns[:4], prealloc=1 << 16)
    (_, path), = list_log_files(str(tmp_path))
    start, end = _entry_offsets(path)[-1]
    with open(path, "r+b") as f:
        f.seek(end - 2)
        f.write(b"\xee")
    got, reader = read_all(tmp_path)
    assert len(got) == 3 and reader.torn_tail.offset == start


def test_bad_magic_is_an_error(tmp_path):
    b = build_sample()
    write_log(tmp_path, b.txns[:2])
    (_, path), = list_log_files(str(tmp_path))
    with open(path, "r+b") as f:
        f.write(b"ZKSN")
    with pytest.raises(DiskFormatError, match="magic"):
        read_all(tmp_path)


def test_empty_tail_file_is_tolerated_and_removed(tmp_path):
    b = build_sample()
    write_log(tmp_path, b.txns[:3])
    (tmp_path / "version-2" / ("log.%x" % b.txns[3][0].zxid)).write_bytes(b"")
    got, reader = read_all(tmp_path)
    assert len(got) == 3 and reader.torn_tail is not None
    assert repair_tail(str(tmp_path)) is not None
    assert len(list_log_files(str(tmp_path))) == 1


def test_frame_layout():
    raw = encode_entry(*build_sample().txns[2])
    framed = frame_entry(raw)
    assert framed[:8] == struct.pack(">q", zlib.adler32(raw))
    assert framed[8:12] == struct.pack(">i", len(raw))
    assert framed[12:-1] == raw and framed[-1:] == b"B"


# --- snapshots ----------------------------------------------------------------------------
def test_snapshot_round_trip(tmp_path):
    b = build_sample()
    path = save_snapshot(str(tmp_path), b.tree, b.sessions, b.tree.last_zxid)
    assert os.path.basename(path) == "snapshot.%x" % b.tree.last_zxid
    assert os.listdir(tmp_path / "version-2") == [os.path.basename(path)]  # no temp left
    tree, sessions, zxid = read_snapshot(path)
    assert zxid == b.tree.last_zxid == tree.last_zxid
    assert sessions == b.sessions == {SID: 30000, SID2: 12000}
    assert_same_tree(tree, b.tree)
    # The sample has what a snapshot must keep apart.
    assert tree.get("/app/null").data is None and tree.get("/app/empty").data == b""
    assert tree.get("/secret").acl == ((Perms.ALL, "digest", DIGEST_ID),
                                       (Perms.READ, "world", "anyone"))
    assert tree.containers == {"/box"} and tree.ttls == {"/ttl"}
    assert set(tree.ephemerals) == {SID, SID2}
    assert tree.get("/zookeeper/config").acl == READ_ACL_UNSAFE
    assert tree.get("/zookeeper/config").aversion == -1
    # Session objects (SessionTable.sessions) are accepted as values too.
    again = write_snapshot(str(tmp_path / "other"), b.tree,
                           {SID: NS(timeout_ms=30000)}, b.tree.last_zxid)
    assert read_snapshot(again)[1] == {SID: 30000}


def test_snapshot_layout_and_acl_cache(tmp_path):
    b = build_sample()
    path = save_snapshot(str(tmp_path), b.tree, {}, 5)
    data = open(path, "rb").read()
    assert data[:16] == b"ZKSN" + struct.pack(">iq", 2, -1)
    assert data[16:20] == struct.pack(">i", 0)  # no sessions
    n_acls = struct.unpack_from(">i", data, 20)[0]
    # Distinct non-open ACLs in the sample: READ (config), digest+read, read|write.
    assert n_acls == 3
    # Seal: Adler32 of everything before it as a long, then the string "/".
    assert data[-5:] == b"\x00\x00\x00\x01/"
    assert struct.unpack(">q", data[-13:-5])[0] == zlib.adler32(data[:-13])
    assert data[-18:-13] == b"\x00\x00\x00\x01/"  # the "/" that ends the node list


def test_zookeeper_snapshot_zero_reads_as_a_fresh_tree(tmp_path):
    d = tmp_path / "version-2"
    d.mkdir()
    (d / "snapshot.0").write_bytes(ZK_SNAPSHOT_0)
    s = read_snapshot_ex(str(d / "snapshot.0"))
    assert s.zxid == 0 and s.sessions == {} and s.dbid == -1 and s.version == 2
    assert s.digest == (0, 2, 0)            # 3.6+ appends an (empty) digest section
    assert s.last_processed_zxid is None     # 3.9 would append this too
    assert_same_tree(s.tree, DataTree(OPEN_ACL_UNSAFE))


def test_zookeeper_39_trailing_sections_are_read(tmp_path):
    b = build_sample()
    path = save_snapshot(str(tmp_path), b.tree, b.sessions, 9)
    data = open(path, "rb").read()
    seal = lambda d: d + struct.pack(">q", zlib.adler32(d)) + b"\x00\x00\x00\x01/"  # noqa: E731
    with_both = seal(seal(data + struct.pack(">qiq", 9, 2, 12345)) + struct.pack(">q", 9))
    only_zxid = seal(data + struct.pack(">q", 9))
    for blob, dig, last in ((with_both, (9, 2, 12345), 9), (only_zxid, None, 9)):
        with open(path, "wb") as f:
            f.write(blob)
        s = read_snapshot_ex(path)
        assert (s.digest, s.last_processed_zxid) == (dig, last)
        assert_same_tree(s.tree, b.tree)
    with open(path, "wb") as f:
        f.write(with_both[:-6] + b"\x00" + with_both[-5:])
    with pytest.raises(DiskFormatError, match="checksum mismatch"):
        read_snapshot(path)


def test_gzip_snapshot_is_read(tmp_path):
    import gzip

    b = build_sample()
    path = save_snapshot(str(tmp_path), b.tree, b.sessions, 0x2a)
    with open(path, "rb") as f, gzip.open(path + ".gz", "wb") as g:
        g.write(f.read())
    os.unlink(path)
    tree, sessions, zxid = read_snapshot(path + ".gz")
    assert zxid == 0x2a and sessions == b.sessions
    assert_same_tree(tree, b.tree)
    assert [z for z, _ in list_snapshots(str(tmp_path))] == [0x2a]


def test_snapshot_checksum_mismatch_is_an_error(tmp_path):
    b = build_sample()
    path = save_snapshot(str(tmp_path), b.tree, b.sessions, 3)
    data = bytearray(open(path, "rb").read())
    i = data.index(b"/app/eph\x00\x00\x00\x01e") + 12  # that node's one data byte
    data[i] ^= 0x01
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(DiskFormatError, match="checksum mismatch") as e:
        read_snapshot(path)
    assert e.value.path == path and e.value.offset == len(data) - 13
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(DiskFormatError, match="truncated"):
        read_snapshot(path)


def test_fuzzy_capture_while_the_tree_changes_recovers_exactly(tmp_path):
    """A capture taken in slices while txns keep being applied (a background
    snapshot), named after the zxid at its start, plus the log, recovers the
    final tree: what ZooKeeper's fuzzy snapshots rely on."""
    b = build_sample()
    for k in (4, 9, 14):
        for max_nodes in (1, 3):
            live = Builder()
            for hdr, txn in b.txns[:k]:
                live._commit(hdr, txn)
            capture = SnapshotCapture(live.tree, live.sessions, live.tree.last_zxid)
            rest = iter(b.txns[k:])
            while not capture.step(max_nodes):
                nxt = next(rest, None)
                if nxt is not None:
                    live._commit(*nxt)
            for nxt in rest:
                live._commit(*nxt)
            d = tmp_path / ("%d-%d" % (k, max_nodes))
            path = capture.save(str(d))
            assert os.path.basename(path) == "snapshot.%x" % b.txns[k - 1][0].zxid
            write_log(d, b.txns)
            tree, sessions, zxid, report = recover(str(d))
            assert report.snapshot == path
            assert_same_tree(tree, b.tree)
            assert sessions == b.sessions and zxid == b.tree.last_zxid


# --- recovery -----------------------------------------------------------------------------
def test_recover_empty_data_dir(tmp_path):
    tree, sessions, zxid, report = recover(str(tmp_path), str(tmp_path))
    assert zxid == 0 and sessions == {} and report.fresh
    assert_same_tree(tree, DataTree(OPEN_ACL_UNSAFE))


def test_recover_logs_without_snapshot(tmp_path):
    b = build_sample()
    write_log(tmp_path / "logs", b.txns, roll_every=7)
    tree, sessions, zxid, report = recover(str(tmp_path / "snaps"), str(tmp_path / "logs"))
    assert report.snapshot is None and not report.fresh
    assert report.txns_replayed == len(b.txns) and len(report.log_files) == 4
    assert zxid == b.tree.last_zxid
    assert sessions == b.sessions
    assert_same_tree(tree, b.tree)


def test_recover_reports_a_gap_in_the_log(tmp_path):
    b = build_sample()
    save_snapshot(str(tmp_path), DataTree(OPEN_ACL_UNSAFE), {}, 0)
    write_log(tmp_path, b.txns, roll_every=7)
    assert recover(str(tmp_path))[3].gaps == []
    os.unlink(list_log_files(str(tmp_path))[1][1])   # txns 8..14 lost
    report = recover(str(tmp_path))[3]
    assert report.gaps == [(7, 15)] and "GAP" in report.summary()


def test_recover_fuzzy_snapshot_then_log(tmp_path):
    b = build_sample()
    k = 12
    # A fuzzy snapshot: named after txn k but taken with 4 more txns applied.
    partial = Builder()
    for hdr, txn in b.txns[:k + 4]:
        partial._commit(hdr, txn)
    save_snapshot(str(tmp_path), partial.tree, partial.sessions, b.txns[k - 1][0].zxid)
    write_log(tmp_path, b.txns, roll_every=5)
    tree, sessions, zxid, report = recover(str(tmp_path))
    assert report.snapshot_zxid == b.txns[k - 1][0].zxid
    assert report.first_replayed_zxid == b.txns[k][0].zxid
    assert report.txns_replayed == len(b.txns) - k
    assert zxid == b.tree.last_zxid and sessions == b.sessions
    assert_same_tree(tree, b.tree)


def test_recover_falls_back_to_an_older_snapshot(tmp_path):
    b = build_sample()
    early = Builder()
    for hdr, txn in b.txns[:6]:
        early._commit(hdr, txn)
    save_snapshot(str(tmp_path), early.tree, early.sessions, early.tree.last_zxid)
    newest = save_snapshot(str(tmp_path), b.tree, b.sessions, b.tree.last_zxid)
    write_log(tmp_path, b.txns)
    data = bytearray(open(newest, "rb").read())
    data[data.index(b"\x00\x00\x00\x02v2") + 5] ^= 0x01  # /app's data
    with open(newest, "wb") as f:
        f.write(data)
    tree, sessions, zxid, report = recover(str(tmp_path))
    assert [p for p, _ in report.skipped_snapshots] == [newest]
    assert "checksum mismatch" in report.skipped_snapshots[0][1]
    assert report.snapshot_zxid == early.tree.last_zxid
    assert zxid == b.tree.last_zxid and sessions == b.sessions
    assert_same_tree(tree, b.tree)
    assert "skipped" in report.summary()
    # With no readable snapshot at all, recovery refuses (older history may be gone).
    for _, p in list_snapshots(str(tmp_path)):
        with open(p, "r+b") as f:
            f.write(b"XXXX")
    with pytest.raises(DiskFormatError, match="no readable snapshot"):
        recover(str(tmp_path))


def test_recover_reports_a_torn_tail_and_orphans(tmp_path):
    b = build_sample()
    write_log(tmp_path, b.txns)
    (_, path), = list_log_files(str(tmp_path))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 1)
    tree, sessions, zxid, report = recover(str(tmp_path))
    assert report.torn_tail is not None and zxid == b.txns[-2][0].zxid
    # Snapshot whose session table lacks an ephemeral owner: killed like loadData does.
    save_snapshot(str(tmp_path / "o"), b.tree, {SID: 30000}, b.tree.last_zxid)
    tree, sessions, zxid, report = recover(str(tmp_path / "o"))
    assert report.orphan_sessions_killed == [SID2]
    assert tree.get("/app/eph") is None and SID2 not in tree.ephemerals


def test_purge_keeps_newest_snapshots_and_their_logs(tmp_path):
    b = build_sample()
    log = FileTxnLog(str(tmp_path), prealloc_bytes=0)
    replay = Builder()
    snaps = []
    for i, (hdr, txn) in enumerate(b.txns):
        if i and i % 5 == 0:
            log.roll()
            snaps.append(save_snapshot(str(tmp_path), replay.tree, replay.sessions,
                                       replay.tree.last_zxid))
        log.append(hdr, txn)
        replay._commit(hdr, txn)
    log.close()
    logs_before = list_log_files(str(tmp_path))
    with pytest.raises(ValueError):
        purge(str(tmp_path), str(tmp_path), 2)
    removed = purge(str(tmp_path), str(tmp_path), 3)
    kept = [p for _, p in list_snapshots(str(tmp_path))]
    assert kept == snaps[-3:][::-1]
    assert set(removed) == set(snaps[:-3]) | {p for z, p in logs_before[:len(snaps) - 3]}
    tree, sessions, zxid, report = recover(str(tmp_path))
    assert_same_tree(tree, b.tree)


def test_snapshot_read_across_chunk_boundaries(tmp_path, monkeypatch):
    """The loader reads a chunk at a time: nodes cut by every chunk boundary
    (and nodes larger than a chunk) load the same as in one piece."""
    import zkwire.server.storage.snapshot as snapshot_module

    b = build_sample()
    b.tree.create_node("/big", b"z" * 5000, OPEN_ACL_UNSAFE, 0, -1, b.tree.last_zxid + 1, 7, [])
    path = save_snapshot(str(tmp_path), b.tree, b.sessions, b.tree.last_zxid)
    whole = read_snapshot(path)
    for chunk in (1, 7, 64, 333, 4096):
        monkeypatch.setattr(snapshot_module, "_READ_CHUNK", chunk)
        tree, sessions, zxid = read_snapshot(path)
        assert (sessions, zxid) == whole[1:]
        assert_same_tree(tree, whole[0])


def test_truncated_snapshot_is_an_error_at_every_length(tmp_path, monkeypatch):
    import zkwire.server.storage.snapshot as snapshot_module

    monkeypatch.setattr(snapshot_module, "_READ_CHUNK", 16)
    b = build_sample()
    path = save_snapshot(str(tmp_path), b.tree, b.sessions, 3)
    data = open(path, "rb").read()
    cut = str(tmp_path / "cut")
    for n in range(0, len(data) - 1, 3):
        with open(cut, "wb") as f:
            f.write(data[:n])
        with pytest.raises(DiskFormatError):
            read_snapshot(cut)


def test_loaded_nodes_share_equal_stat_numbers(tmp_path):
    # Memory: a node's czxid/mzxid/pzxid (and ctime/mtime) are usually equal;
    # the loader keeps one int object for them, as a freshly created node has.
    b = build_sample()
    zxid, now_ms = (7 << 32) + 5, 1_700_000_000_123   # far above the small-int cache
    b.tree.create_node("/late", b"", OPEN_ACL_UNSAFE, 0, -1, zxid, now_ms, [])
    path = save_snapshot(str(tmp_path), b.tree, b.sessions, zxid)
    n = read_snapshot(path)[0].get("/late")
    assert (n.czxid, n.mtime) == (zxid, now_ms)
    assert n.mzxid is n.czxid and n.pzxid is n.czxid and n.mtime is n.ctime
