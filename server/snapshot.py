"""ZooKeeper's snapshot file (format version 2): the whole DataTree plus the
session table, readable and writable by ZooKeeper 3.4-3.9.

Theory of operation
-------------------
A snapshot is ``<dataDir>/version-2/snapshot.<zxid hex>``, the zxid being the
last txn the tree had applied when serialization began.  ZooKeeper takes
snapshots while it keeps applying txns ("fuzzy" snapshots), so the tree inside
may already reflect some later txns; recovery replays the log from zxid + 1 and
the tree tolerates the repeats.  The file is one stream, checksummed as it is
written (an Adler32 over every byte from the start):

* FileHeader: magic "ZKSN", version 2, dbid -1;
* the sessions: an int count, then (long id, int timeout ms) pairs;
* the ACL cache: an int count, then (long id, vector<ACL>) entries.  Nodes refer
  to their ACL by that id.  Id -1 is reserved and never listed: it means
  OPEN_ACL_UNSAFE (ZooKeeper gives it to the nodes it makes itself: the root,
  /zookeeper, /zookeeper/quota);
* the nodes, depth first from the root, whose path is "" (each parent before its
  children): path (ustring), then the DataNode: data (buffer, may be null), acl
  id (long), StatPersisted (czxid, mzxid, ctime, mtime, version, cversion,
  aversion, ephemeralOwner, pzxid; cversion counts child creations);
* the path "/" closes the node list;
* the seal: the checksum so far as a long, then the string "/".

ZooKeeper 3.6+ may append sections, each closed by another seal whose checksum
covers everything before it: the tree digest at some zxid (zxid long, digest
version int, digest long; a hex string instead for digest versions below 2) and,
from 3.9, the last processed zxid (long).  We read and verify them; we write
neither, which every version accepts as an older snapshot.  A snapshot whose
name ends in ``.gz`` is read through gzip (``snapshot.compression.method=gz``;
the checksums cover the uncompressed stream); ``.snappy`` is not supported.

Background snapshots: :class:`SnapshotCapture` copies the tree in slices on the
thread that owns it (each node at one instant, as ZooKeeper's per-node lock
does) and writes the copy from any thread; the result is a fuzzy snapshot
named after the zxid at which the capture began.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from types import SimpleNamespace
from typing import Dict, Tuple

from .acl import OPEN_ACL_UNSAFE
from .tree import DataTree, Node, ephemeral_kind
from .txnlog import (
    SNAP_MAGIC,
    SNAP_PREFIX,
    DiskFormatError,
    _fsync_dir,
    file_header,
    list_files,
    version_dir,
    zxid_from_name,
)

OPEN_ACL_ID = -1
SNAPSHOT_DBID = -1

_I = struct.Struct(">i")
_Q = struct.Struct(">q")
_SESSION = struct.Struct(">qi")
_STAT = struct.Struct(">qqqqiiiqq")
_SEAL_TAIL = b"\x00\x00\x00\x01/"   # the "/" string after each seal's checksum


def snapshot_name(zxid: int) -> str:
    return "%s.%x" % (SNAP_PREFIX, zxid & 0xFFFFFFFFFFFFFFFF)


def list_snapshots(data_dir: str):
    """``(zxid, path)`` of the snapshot files in ``<data_dir>/version-2``, newest first."""
    return list_files(version_dir(data_dir), SNAP_PREFIX)[::-1]


# --- writing ------------------------------------------------------------------------
class _CheckedWriter:
    """A buffered file writer that keeps the running Adler32 of what it wrote."""

    def __init__(self, f):
        self.f = f
        self.adler = 1
        self.buf = []
        self.size = 0

    def write(self, b: bytes) -> None:
        self.adler = zlib.adler32(b, self.adler)
        self.buf.append(b)
        self.size += len(b)
        if self.size >= 1 << 20:
            self.drain()

    def drain(self) -> None:
        if self.buf:
            self.f.write(b"".join(self.buf))
            self.buf = []
            self.size = 0


def _ustring(s: str) -> bytes:
    raw = s.encode("utf-8")
    return _I.pack(len(raw)) + raw


def _buffer(b) -> bytes:
    if b is None:
        return b"\xff\xff\xff\xff"
    return _I.pack(len(b)) + bytes(b)


def _acl_bytes(acl) -> bytes:
    out = [_I.pack(len(acl))]
    for perms, scheme, aid in acl:
        out.append(_I.pack(perms))
        out.append(_ustring(scheme))
        out.append(_ustring(aid))
    return b"".join(out)


def _timeout_of(value) -> int:
    return getattr(value, "timeout_ms", value)


class SnapshotCapture:
    """A snapshot taken in slices, the way ZooKeeper takes a fuzzy one.

    Construct it and call :meth:`step` on the thread that owns the tree (each
    call copies up to ``max_nodes`` nodes, depth first, every node's fields and
    child names at one instant, like ZooKeeper's per-node lock); the tree may
    change between steps.  Once :meth:`step` returns True, :meth:`write` touches
    only the copy, so it can run in a worker thread.  Name the snapshot after
    the zxid the tree had applied when the capture *began*: replaying the log
    from the next zxid repairs whatever changed during the capture.
    """

    def __init__(self, tree: DataTree, sessions: dict, zxid: int):
        self.zxid = zxid
        self.sessions = sorted((sid, _timeout_of(v)) for sid, v in list(sessions.items()))
        self.nodes = []        # (path, data, acl, StatPersisted tuple)
        self._tree = tree
        self._stack = [""]
        self.done = False

    def step(self, max_nodes: int = 10000) -> bool:
        """Copy up to ``max_nodes`` more nodes; True once the walk is complete."""
        tree_nodes = self._tree.nodes if self._tree is not None else {}
        stack = self._stack
        out = self.nodes
        budget = max_nodes
        while stack and budget > 0:
            path = stack.pop()
            node = tree_nodes.get(path)
            if node is None:
                if path != "":
                    continue  # deleted since its parent was copied
                node = tree_nodes.get("/")
                if node is None:
                    continue
            out.append((path, node.data, node.acl,
                        (node.czxid, node.mzxid, node.ctime, node.mtime, node.version,
                         node.cversion, node.aversion, node.ephemeralOwner, node.pzxid)))
            prefix = path + "/"
            kids = [prefix + name for name in node.children]
            kids.reverse()
            stack.extend(kids)
            budget -= 1
        if not stack:
            self.done = True
            self._tree = None
        return self.done

    def write(self, path: str, fsync: bool = True) -> str:
        """Write the captured snapshot to the file ``path``, atomically (a hidden
        temp file in the same directory, fsync'd, then renamed)."""
        if not self.done:
            raise ValueError("snapshot capture not finished: call step() until it returns True")
        path = os.fspath(path)
        directory = os.path.dirname(path) or "."
        os.makedirs(directory, exist_ok=True)
        # A name ZooKeeper's getZxidFromName rejects, so no reader takes it for a snapshot.
        tmp = os.path.join(directory, ".%s.tmp-%d" % (os.path.basename(path), os.getpid()))
        try:
            with open(tmp, "wb") as f:
                self._serialize(_CheckedWriter(f))
                f.flush()
                if fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        if fsync:
            _fsync_dir(directory)
        return path

    def save(self, data_dir: str, fsync: bool = True) -> str:
        """:meth:`write` to ``<data_dir>/version-2/snapshot.<zxid hex>``."""
        return self.write(os.path.join(version_dir(data_dir), snapshot_name(self.zxid)), fsync)

    def _serialize(self, w: "_CheckedWriter") -> None:
        w.write(file_header(SNAP_MAGIC, SNAPSHOT_DBID))
        w.write(_I.pack(len(self.sessions)))
        for sid, timeout in self.sessions:
            w.write(_SESSION.pack(sid, timeout))
        # The ACL cache precedes the nodes; OPEN_ACL_UNSAFE is id -1, never listed.
        acl_ids = {}
        for _, _, acl, _ in self.nodes:
            acl = tuple(acl) if acl is not None else OPEN_ACL_UNSAFE
            if acl != OPEN_ACL_UNSAFE and acl not in acl_ids:
                acl_ids[acl] = len(acl_ids) + 1
        w.write(_I.pack(len(acl_ids)))
        for acl, ident in acl_ids.items():
            w.write(_Q.pack(ident))
            w.write(_acl_bytes(acl))
        for node_path, data, acl, stat in self.nodes:
            acl = tuple(acl) if acl is not None else OPEN_ACL_UNSAFE
            w.write(_ustring(node_path))
            w.write(_buffer(data))
            w.write(_Q.pack(OPEN_ACL_ID if acl == OPEN_ACL_UNSAFE else acl_ids[acl]))
            w.write(_STAT.pack(*stat))
        w.write(_ustring("/"))
        w.write(_Q.pack(w.adler))
        w.write(_SEAL_TAIL)
        w.drain()


def write_snapshot(path: str, tree: DataTree, sessions: dict, zxid: int = None,
                   fsync: bool = True) -> str:
    """Write ``tree`` and ``sessions`` (session id -> timeout ms; Session objects
    with ``timeout_ms`` work too) to the snapshot file ``path`` in one go,
    atomically.  ``zxid`` is informational here (the file name carries it)."""
    capture = SnapshotCapture(tree, sessions, zxid if zxid is not None else tree.last_zxid)
    capture.step(max_nodes=1 << 62)
    return capture.write(path, fsync=fsync)


def save_snapshot(data_dir: str, tree: DataTree, sessions: dict, zxid: int,
                  fsync: bool = True) -> str:
    """Write ``<data_dir>/version-2/snapshot.<zxid hex>``; returns its path.
    ``zxid`` must be the last txn the tree has applied (tree.last_zxid), or an
    earlier one if the tree may be ahead (a fuzzy snapshot)."""
    path = os.path.join(version_dir(data_dir), snapshot_name(zxid))
    return write_snapshot(path, tree, sessions, zxid, fsync=fsync)


# --- reading ------------------------------------------------------------------------
class _Reader:
    __slots__ = ("data", "pos", "path")

    def __init__(self, data, path):
        self.data = data
        self.pos = 0
        self.path = path

    def fail(self, msg, offset=None):
        raise DiskFormatError(self.path, self.pos if offset is None else offset, msg)

    def take(self, n, what):
        p = self.pos
        if n < 0 or p + n > len(self.data):
            self.fail("snapshot truncated reading %s" % what)
        self.pos = p + n
        return p

    def int(self, what):
        return _I.unpack_from(self.data, self.take(4, what))[0]

    def long(self, what):
        return _Q.unpack_from(self.data, self.take(8, what))[0]

    def buffer(self, what):
        n = self.int(what)
        if n == -1:
            return None
        if n < -1:
            self.fail("negative length %d for %s" % (n, what), self.pos - 4)
        p = self.take(n, what)
        return bytes(self.data[p:p + n])

    def string(self, what):
        b = self.buffer(what)
        if b is None:
            return None
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            self.fail("invalid UTF-8 in %s" % what)

    def seal(self, what):
        """Check a seal: the checksum of everything before it, then "/"."""
        start = self.pos
        expected = zlib.adler32(self.data[:start])
        stored = self.long("checksum")
        self.string("seal path")
        if stored != expected:
            raise DiskFormatError(self.path, start,
                                  "snapshot checksum mismatch after %s (stored %#x, computed %#x)"
                                  % (what, stored & 0xFFFFFFFFFFFFFFFF, expected))


def read_snapshot_ex(path: str) -> SimpleNamespace:
    """Read a snapshot completely and verify every seal.  Returns a namespace:
    tree, sessions (id -> timeout ms), zxid (from the name; -1 if it has none),
    dbid, version, digest (zxid, version, value) or None, last_processed_zxid
    (ZooKeeper 3.9's section) or None."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    name = os.path.basename(path)
    if name.endswith(".snappy"):
        raise DiskFormatError(path, None, "snappy-compressed snapshots are not supported")
    if name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DiskFormatError(path, None, "bad gzip stream: %s" % e) from None
    r = _Reader(memoryview(raw), path)
    magic = r.int("file header")
    version = r.int("file header")
    dbid = r.long("file header")
    if magic != SNAP_MAGIC:
        r.fail("bad snapshot magic %#x (want %#x 'ZKSN')" % (magic & 0xFFFFFFFF, SNAP_MAGIC), 0)

    sessions = {}
    count = r.int("session count")
    if count < 0:
        r.fail("negative session count %d" % count, r.pos - 4)
    for _ in range(count):
        p = r.take(12, "session")
        sid, timeout = _SESSION.unpack_from(r.data, p)
        sessions[sid] = timeout

    acls = {OPEN_ACL_ID: OPEN_ACL_UNSAFE}
    count = r.int("ACL cache size")
    if count < 0:
        r.fail("negative ACL cache size %d" % count, r.pos - 4)
    for _ in range(count):
        ident = r.long("ACL id")
        n = r.int("ACL list length")
        if n < 0:
            r.fail("missing ACL list for ACL id %d" % ident, r.pos - 4)
        entries = []
        for _ in range(n):
            perms = r.int("ACL perms")
            scheme = r.string("ACL scheme")
            aid = r.string("ACL id")
            entries.append((perms, scheme, aid))
        acls[ident] = tuple(entries)

    zxid = zxid_from_name(name, SNAP_PREFIX)
    tree = DataTree(OPEN_ACL_UNSAFE)
    tree.nodes = nodes = {}
    tree.ephemerals = {}
    tree.containers = set()
    tree.ttls = set()
    tree.last_zxid = max(zxid, 0)
    root = None
    while True:
        at = r.pos
        node_path = r.string("node path")
        if node_path == "/":
            break
        if node_path is None:
            r.fail("null node path", at)
        data = r.buffer("node data")
        ident = r.long("node ACL id")
        p = r.take(_STAT.size, "node stat")
        (czxid, mzxid, ctime, mtime, version_, cversion, aversion, owner,
         pzxid) = _STAT.unpack_from(r.data, p)
        acl = acls.get(ident)
        if acl is None:
            r.fail("node %r refers to ACL id %d, absent from the ACL cache" % (node_path, ident), at)
        node = Node(data, acl, czxid, ctime, owner)
        node.mzxid = mzxid
        node.mtime = mtime
        node.version = version_
        node.cversion = cversion
        node.aversion = aversion
        node.pzxid = pzxid
        i = node_path.rfind("/")
        if i == -1:
            # Only the root has no slash (its path is "").
            root = node
            nodes[node_path] = node
            continue
        parent = nodes.get(node_path[:i])
        if parent is None:
            r.fail("node %r comes before its parent" % node_path, at)
        parent.children[node_path[i + 1:]] = None
        nodes[node_path] = node
        if owner:
            kind = ephemeral_kind(owner)
            if kind == "normal":
                tree.ephemerals.setdefault(owner, {})[node_path] = None
            elif kind == "container":
                tree.containers.add(node_path)
            elif kind == "ttl":
                tree.ttls.add(node_path)
    if root is None:
        r.fail("snapshot has no root node")
    nodes[""] = root
    nodes["/"] = root
    r.seal("the tree")

    # Optional sections (ZooKeeper 3.6+ digest, 3.9 last processed zxid),
    # each followed by its own seal.  Their sizes tell them apart.
    digest = None
    last_processed = None
    rest = len(r.data) - r.pos
    if rest and rest != 8 + 13:
        dz = r.long("digest zxid")
        dv = r.int("digest version")
        if dv < 2:
            text = r.string("digest")
            try:
                value = int(text, 16) if text else 0
            except ValueError:
                r.fail("bad digest %r" % text)
        else:
            value = r.long("digest")
        digest = (dz, dv, value)
        r.seal("the digest")
        rest = len(r.data) - r.pos
    if rest:
        last_processed = r.long("last processed zxid")
        r.seal("the last processed zxid")
    if r.pos != len(r.data):
        r.fail("%d unexpected bytes after the snapshot" % (len(r.data) - r.pos))
    return SimpleNamespace(tree=tree, sessions=sessions, zxid=zxid, dbid=dbid, version=version,
                           digest=digest, last_processed_zxid=last_processed)


def read_snapshot(path: str) -> Tuple[DataTree, Dict[int, int], int]:
    """``(tree, sessions, zxid)``: the tree (ephemerals, containers and TTL
    indexes rebuilt from ephemeralOwner), session id -> timeout ms, and the zxid
    from the file name.  Raises :class:`DiskFormatError` on a bad magic, a
    structural error or a checksum mismatch."""
    s = read_snapshot_ex(path)
    return s.tree, s.sessions, s.zxid


def looks_complete(path: str) -> bool:
    """ZooKeeper's cheap SnapStream.isValidSnapshot: a snapshot name, at least
    10 bytes, ending with the seal's "/" string (gz: the gzip magic)."""
    name = os.path.basename(path)
    if zxid_from_name(name, SNAP_PREFIX) == -1:
        return False
    try:
        with open(path, "rb") as f:
            if name.endswith(".gz"):
                return f.read(2) == b"\x1f\x8b"
            f.seek(0, os.SEEK_END)
            size = f.tell()
            if size < 10:
                return False
            f.seek(size - 5)
            return f.read(5) == _SEAL_TAIL
    except OSError:
        return False
