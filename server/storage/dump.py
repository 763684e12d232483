"""Readable dumps of txn logs and snapshots, for bug reports.

``zkwire dump FILE`` prints a ``log.*`` file one txn per line (like ZooKeeper's
TxnLogToolkit) or a ``snapshot.*`` file node by node with its Stat, then the
sessions (like its SnapshotFormatter).  The file kind is told by its magic.
"""
from __future__ import annotations

import struct
import time

from zkwire.consts import OPCODE_NAMES, OpCode
from .txnlog import SNAP_MAGIC, TXNLOG_MAGIC, LogFileScan, decode_entry
from .snapshot import read_snapshot_ex


def _hex(v: int) -> str:
    return "0x%x" % (v & 0xFFFFFFFFFFFFFFFF)


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000.0)) + ".%03d UTC" % (ms % 1000)


def _data(b) -> str:
    if b is None:
        return "null"
    text = repr(bytes(b[:64]))
    return text + ("...(%d bytes)" % len(b) if len(b) > 64 else "")


def _acl(acl) -> str:
    return "[" + ", ".join("%s:%s:%d" % (s, i, p) for p, s, i in (acl or ())) + "]"


def describe_txn(type_: int, txn) -> str:
    name = OPCODE_NAMES.get(type_, str(type_))
    if txn is None:
        return name
    if type_ == OpCode.multi:
        return "multi[" + "; ".join(describe_txn(t, sub) for t, sub in txn) + "]"
    if type_ == OpCode.error:
        return "error %d" % txn.err
    if type_ == OpCode.createSession:
        return "createSession timeout=%d" % txn.timeOut
    if type_ == OpCode.closeSession:
        return "closeSession delete=%s" % (txn.paths2Delete,)
    parts = [name, txn.path]
    for field in ("data", "acl", "ephemeral", "parentCVersion", "ttl", "version"):
        if hasattr(txn, field):
            v = getattr(txn, field)
            if field == "data":
                v = _data(v)
            elif field == "acl":
                v = _acl(v)
            parts.append("%s=%s" % (field, v))
    return " ".join(str(p) for p in parts)


def dump_log(path: str):
    scan = LogFileScan(path)
    yield "txn log %s" % path
    for offset, entry in scan:
        hdr, txn, digest = decode_entry(entry)
        yield "%s session %s cxid %s zxid %s %s" % (
            _when(hdr.time), _hex(hdr.clientId), _hex(hdr.cxid), _hex(hdr.zxid),
            describe_txn(hdr.type, txn))
    if scan.torn is not None:
        yield "TORN TAIL at byte %d: %s" % (scan.torn.offset, scan.torn.reason)
    yield "EOF reached at byte %d" % scan.end


def dump_snapshot(path: str):
    s = read_snapshot_ex(path)
    tree = s.tree
    paths = [p for p in tree.nodes if p]
    yield "snapshot %s (zxid %s)" % (path, _hex(s.zxid))
    yield "ZNode Details (count=%d):" % len(paths)
    for p in sorted(paths):
        n = tree.nodes[p]
        yield "----"
        yield p
        for field in ("czxid", "mzxid", "pzxid"):
            yield "  %s = %s" % (field, _hex(getattr(n, field)))
        yield "  ctime = %s" % _when(n.ctime)
        yield "  mtime = %s" % _when(n.mtime)
        yield "  version = %d, cversion = %d (stored), aversion = %d" % (n.version, n.cversion, n.aversion)
        yield "  ephemeralOwner = %s" % _hex(n.ephemeralOwner)
        yield "  dataLength = %d, data = %s" % (len(n.data or b""), _data(n.data))
        yield "  acl = %s" % _acl(n.acl)
    yield "----"
    yield "Session Details (sid, timeout, ephemeralCount):"
    for sid, timeout in sorted(s.sessions.items()):
        yield "%s, %d, %d" % (_hex(sid), timeout, len(tree.ephemerals.get(sid, ())))


def dump(path: str):
    with open(path, "rb") as f:
        head = f.read(4)
    magic = struct.unpack(">i", head)[0] if len(head) == 4 else None
    if magic == TXNLOG_MAGIC:
        return dump_log(path)
    if magic == SNAP_MAGIC or path.rsplit("/", 1)[-1].startswith("snapshot."):
        return dump_snapshot(path)
    raise ValueError("%s is neither a txn log nor a snapshot" % path)
