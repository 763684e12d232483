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

Every file access goes through a :class:`~zkwire.server.storage.disk.Disk` (the
``disk`` argument; the real file system unless told otherwise).  A snapshot is
written under a hidden temporary name, synced, renamed into place and its
directory synced, so a crash leaves the old set of snapshots or the new one.
"""
from __future__ import annotations

import gc
import gzip
import io
import os
import platform
import struct
import zlib
from types import SimpleNamespace
from typing import Dict, Tuple

from ..core.acl import OPEN_ACL_UNSAFE
from .disk import FILE_DISK
from ..core.tree import NO_CHILDREN, DataTree, Node, ephemeral_kind
from .txnlog import (
    SNAP_MAGIC,
    SNAP_PREFIX,
    FORMAT_VERSION,
    DiskFormatError,
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


def list_snapshots(data_dir: str, disk=None):
    """``(zxid, path)`` of the snapshot files in ``<data_dir>/version-2``, newest first."""
    return list_files(version_dir(data_dir), SNAP_PREFIX, disk)[::-1]


# --- writing ------------------------------------------------------------------------
_NODE = struct.Struct(">qqqqqiiiqq")  # acl id + StatPersisted: what follows a node's data
_NULL_LEN = b"\xff\xff\xff\xff"
_CHUNK_BYTES = 1 << 20


def _ustring(s: str) -> bytes:
    raw = s.encode("utf-8")
    return _I.pack(len(raw)) + raw


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
    call serializes up to ``max_nodes`` nodes, parents before children, every
    node's fields at one instant, like ZooKeeper's per-node lock); the tree
    may change between steps.  Nodes are serialized as they are copied, into
    ``spool`` (a binary file, e.g. an unnamed temporary file next to the
    snapshots; default: memory), so the copy costs no Python objects.  Once
    :meth:`step` returns True, :meth:`write` touches only the spool and the
    ACL table, so it can run in a worker thread.  The snapshot is named after
    the zxid the tree had applied when the capture *began*: replaying the log
    from the next zxid repairs whatever changed during the capture.
    """

    def __init__(self, tree: DataTree, sessions: dict, zxid: int, spool=None, disk=None):
        self.zxid = zxid
        self.disk = disk or FILE_DISK
        self.sessions = sorted((sid, _timeout_of(v)) for sid, v in list(sessions.items()))
        self.node_count = 0
        self._acl_ids = {OPEN_ACL_UNSAFE: OPEN_ACL_ID}
        self._spool = spool if spool is not None else io.BytesIO()
        self._buf = bytearray()
        self._tree = tree
        # The paths to visit: the tree's keys in insertion order, where every
        # parent comes before its children (a child can only be added to a
        # parent that exists, and a parent only deleted once childless).  The
        # keys are the tree's own strings, so lookups need no hashing.  The
        # root's own key "" comes before all others but its alias "/" (see
        # DataTree), so the root is written first, under "" as ZooKeeper's is.
        self._paths = list(tree.nodes)
        self._next = 0
        self._skipped = set()
        self._last_acl = (None, OPEN_ACL_ID)
        self.done = False

    def step(self, max_nodes: int = 10000) -> bool:
        """Serialize up to ``max_nodes`` more nodes; True once the walk is complete."""
        tree = self._tree
        tree_nodes = tree.nodes if tree is not None else {}
        buf = self._buf
        pack_int = _I.pack
        pack_node = _NODE.pack
        paths = self._paths
        skipped = self._skipped
        last_acl, last_acl_id = self._last_acl
        i = self._next
        end = min(len(paths), i + max_nodes)
        while i < end:
            path = paths[i]
            i += 1
            if path == "/":
                continue  # the root's alias: the root is written as ""
            node = tree_nodes.get(path)
            if node is None:
                skipped.add(path)  # deleted since the capture began
                continue
            if skipped and path[:path.rfind("/")] in skipped:
                # Its parent was gone when its turn came (deleted, maybe made
                # again since): leave it to the log replay, so every node in
                # the file still follows its parent.
                skipped.add(path)
                continue
            acl = node.acl
            if acl is not last_acl:
                # Runs of nodes share one ACL object (the tree interns them):
                # hash a tuple only when the object changes.
                last_acl = acl
                last_acl_id = self._acl_id(acl)
            raw = path.encode()
            buf += pack_int(len(raw))
            buf += raw
            data = node.data
            if data is None:
                buf += _NULL_LEN
            else:
                buf += pack_int(len(data))
                buf += data
            buf += pack_node(last_acl_id, node.czxid, node.mzxid, node.ctime, node.mtime,
                             node.version, node.cversion, node.aversion,
                             node.ephemeralOwner, node.pzxid)
            if not i & 1023 and len(buf) >= _CHUNK_BYTES:
                self._spool.write(buf)
                del buf[:]
        self._last_acl = (last_acl, last_acl_id)
        self.node_count += i - self._next
        self._next = i
        finished = i >= len(paths)
        if len(buf) >= _CHUNK_BYTES or finished:
            self._spool.write(buf)
            del buf[:]
        if finished:
            self.done = True
            self._tree = None
            self._paths = None
        return self.done

    def _acl_id(self, acl) -> int:
        if acl is None:
            return OPEN_ACL_ID
        acl = tuple(acl)
        ident = self._acl_ids.get(acl)
        if ident is None:
            ident = self._acl_ids[acl] = len(self._acl_ids)
        return ident

    def write(self, path: str, fsync: bool = True) -> str:
        """Write the captured snapshot to the file ``path``, atomically (a hidden
        temp file in the same directory, fsync'd, then renamed)."""
        if not self.done:
            raise ValueError("snapshot capture not finished: call step() until it returns True")
        path = os.fspath(path)
        directory = os.path.dirname(path) or "."
        self.disk.makedirs(directory)
        # A name ZooKeeper's getZxidFromName rejects, so no reader takes it for a snapshot.
        tmp = os.path.join(directory, ".%s.tmp-%d" % (os.path.basename(path), os.getpid()))
        with self.disk.create_atomic(path, tmp, fsync=fsync) as f:
            self._serialize(f)
        return path

    def save(self, data_dir: str, fsync: bool = True) -> str:
        """:meth:`write` to ``<data_dir>/version-2/snapshot.<zxid hex>``."""
        return self.write(os.path.join(version_dir(data_dir), snapshot_name(self.zxid)), fsync)

    def close(self) -> None:
        """Drop the spool (a finished or abandoned capture)."""
        self._spool.close()
    def body(self) -> bytes:
        """The snapshot without file header and seal: what a leader streams
        after a SNAP packet (sessions, ACL cache, nodes, the closing "/")."""
        return b"".join(self.body_pieces())

    def body_pieces(self):
        """:meth:`body` in pieces of at most about 1 MiB each."""
        if not self.done:
            raise ValueError("snapshot capture not finished: call step() until it returns True")
        return self._pieces(framed=False)

    def _serialize(self, f, framed: bool = True) -> None:
        for piece in self._pieces(framed):
            f.write(piece)

    def _pieces(self, framed: bool):
        # Header, sessions and the ACL cache (which precedes the nodes that
        # use it; OPEN_ACL_UNSAFE is id -1, never listed), then the spooled
        # nodes, then the closing "/" and the seal.  Adler32 over it all.
        head = [file_header(SNAP_MAGIC, SNAPSHOT_DBID) if framed else b"",
                _I.pack(len(self.sessions))]
        head.extend(_SESSION.pack(sid, timeout) for sid, timeout in self.sessions)
        acls = [(ident, acl) for acl, ident in self._acl_ids.items() if ident != OPEN_ACL_ID]
        head.append(_I.pack(len(acls)))
        for ident, acl in sorted(acls):
            head.append(_Q.pack(ident))
            head.append(_acl_bytes(acl))
        chunk = b"".join(head)
        adler = zlib.adler32(chunk)
        yield chunk
        spool = self._spool
        spool.seek(0)
        while True:
            chunk = spool.read(_CHUNK_BYTES)
            if not chunk:
                break
            if framed:
                adler = zlib.adler32(chunk, adler)
            yield chunk
        chunk = _ustring("/")
        if framed:
            yield chunk + _Q.pack(zlib.adler32(chunk, adler)) + _SEAL_TAIL
        else:
            yield chunk


def spool_in(directory: str, disk=None):
    """An unnamed temporary file in ``directory`` for a capture's serialized
    nodes: a snapshot of a big tree costs disk, not RSS, while it is taken."""
    return (disk or FILE_DISK).temp_file(directory)


def write_snapshot(path: str, tree: DataTree, sessions: dict, zxid: int = None,
                   fsync: bool = True, disk=None) -> str:
    """Write ``tree`` and ``sessions`` (session id -> timeout ms; Session objects
    with ``timeout_ms`` work too) to the snapshot file ``path`` in one go,
    atomically.  ``zxid`` is informational here (the file name carries it)."""
    capture = SnapshotCapture(tree, sessions, zxid if zxid is not None else tree.last_zxid,
                              spool=spool_in(os.path.dirname(os.fspath(path)) or ".", disk),
                              disk=disk)
    try:
        capture.step(max_nodes=1 << 62)
        return capture.write(path, fsync=fsync)
    finally:
        capture.close()


def save_snapshot(data_dir: str, tree: DataTree, sessions: dict, zxid: int,
                  fsync: bool = True, disk=None) -> str:
    """Write ``<data_dir>/version-2/snapshot.<zxid hex>``; returns its path.
    ``zxid`` must be the last txn the tree has applied (tree.last_zxid), or an
    earlier one if the tree may be ahead (a fuzzy snapshot)."""
    path = os.path.join(version_dir(data_dir), snapshot_name(zxid))
    return write_snapshot(path, tree, sessions, zxid, fsync=fsync, disk=disk)


def snapshot_body(tree: DataTree, sessions: dict) -> bytes:
    """``tree`` and ``sessions`` as a leader sends them after SNAP: a snapshot
    file's content without its file header, checksum seal or digest."""
    capture = SnapshotCapture(tree, sessions, tree.last_zxid)
    try:
        capture.step(max_nodes=1 << 62)
        return capture.body()
    finally:
        capture.close()


class SnapshotBodyReader:
    """The snapshot body a leader streams after SNAP, read as it arrives.

    :meth:`feed` takes the body in pieces of any size (a learner gets whole
    sessions, ACLs and nodes per piece from its stream decoder, so nothing
    is carried over) and adds what they complete to a new tree; no piece is
    kept once read, so a multi-GB tree never exists as one buffer.
    :meth:`finish` returns the namespace of :func:`read_snapshot_ex`, with
    ``tree.last_zxid`` the SNAP packet's zxid.  ``DiskFormatError`` (path
    "<SNAP from the leader>", offset into the body) for a body that is not
    well formed: the body has no checksum; the stream decoder has already
    checked every length."""

    NAME = "<SNAP from the leader>"

    def __init__(self, zxid: int):
        self.zxid = zxid
        self.sessions = {}
        self.acls = {OPEN_ACL_ID: OPEN_ACL_UNSAFE}
        tree = self.tree = DataTree(OPEN_ACL_UNSAFE)
        tree.nodes = {}
        tree.ephemerals = {}
        tree.containers = set()
        tree.ttls = set()
        tree.last_zxid = max(zxid, 0)
        self._root = None
        self._rest = b""          # an unfinished unit carried to the next piece
        self._offset = 0          # body offset of _rest[0]
        # What comes next: "sessions" (count first), "acls" (count first), "nodes", "done".
        self._section = "sessions"
        self._count = None        # items left in the section; None: its count is next

    def _fail(self, msg, at):
        raise DiskFormatError(self.NAME, self._offset + at, msg)

    def feed(self, data: bytes) -> None:
        if self._section == "done":
            if data:
                self._fail("%d bytes after the closing \"/\"" % len(data), 0)
            return
        if self._rest:
            data = self._rest + data
        pos = 0
        if self._section != "nodes":
            pos = self._head(data, pos)
        if self._section == "nodes":
            try:
                pos, self._root, closed = _parse_nodes(data, pos, self.tree, self.acls, self._root)
            except _BadNode as e:
                self._fail(e.args[0], e.args[1])
            if closed:
                self._section = "done"
                if pos < len(data):
                    self._fail("%d bytes after the closing \"/\"" % (len(data) - pos), pos)
        self._rest = data[pos:]
        self._offset += pos

    def _head(self, data, pos) -> int:
        """Sessions and the ACL cache, as far as ``data`` goes."""
        end = len(data)
        while self._section in ("sessions", "acls"):
            if self._count is None:
                if pos + 4 > end:
                    return pos
                n = _I.unpack_from(data, pos)[0]
                if n < 0:
                    self._fail("negative %s count %d" % (self._section[:-1], n), pos)
                self._count = n
                pos += 4
            if self._section == "sessions":
                while self._count and pos + 12 <= end:
                    sid, timeout = _SESSION.unpack_from(data, pos)
                    self.sessions[sid] = timeout
                    pos += 12
                    self._count -= 1
            else:
                while self._count:
                    got = self._acl_entry(data, pos)
                    if got is None:
                        return pos
                    pos = got
                    self._count -= 1
            if self._count:
                return pos
            self._section = "acls" if self._section == "sessions" else "nodes"
            self._count = None
        return pos

    def _acl_entry(self, data, pos):
        """One ACL cache entry at ``pos``: the position after it, or None if it is not all there."""
        end = len(data)
        if pos + 12 > end:
            return None
        ident = _Q.unpack_from(data, pos)[0]
        n = _I.unpack_from(data, pos + 8)[0]
        if n < 0:
            self._fail("missing ACL list for ACL id %d" % ident, pos + 8)
        p = pos + 12
        entries = []
        for _ in range(n):
            if p + 4 > end:
                return None
            perms = _I.unpack_from(data, p)[0]
            p += 4
            fields = []
            for what in ("ACL scheme", "ACL id"):
                if p + 4 > end:
                    return None
                k = _I.unpack_from(data, p)[0]
                if k < -1:
                    self._fail("negative length %d for %s" % (k, what), p)
                if p + 4 + max(k, 0) > end:
                    return None
                raw = data[p + 4:p + 4 + k] if k >= 0 else None
                try:
                    fields.append(raw.decode("utf-8") if raw is not None else None)
                except UnicodeDecodeError:
                    self._fail("invalid UTF-8 in %s" % what, p)
                p += 4 + max(k, 0)
            entries.append((perms, fields[0], fields[1]))
        self.acls[ident] = tuple(entries)
        return p

    def finish(self) -> SimpleNamespace:
        if self._section != "done":
            self._fail("the body ends before its closing \"/\" (in its %s)" % self._section,
                       len(self._rest))
        if self._root is None:
            self._fail("snapshot has no root node", 0)
        tree = self.tree
        tree.nodes[""] = self._root
        tree.nodes["/"] = self._root
        return SimpleNamespace(tree=tree, sessions=self.sessions, zxid=self.zxid,
                               dbid=SNAPSHOT_DBID, version=FORMAT_VERSION, digest=None,
                               last_processed_zxid=None)


def read_snapshot_body(body: bytes, zxid: int) -> SimpleNamespace:
    """The inverse of :func:`snapshot_body`, in one piece (see :class:`SnapshotBodyReader`)."""
    reader = SnapshotBodyReader(zxid)
    reader.feed(body)
    return reader.finish()


# --- reading ------------------------------------------------------------------------
_READ_CHUNK = 4 << 20
_CPYTHON = platform.python_implementation() == "CPython"
_new_node = object.__new__


class _Stream:
    """A snapshot read a chunk at a time, with the running Adler32 of what
    was consumed.  ``data[pos:]`` is unread; ``base`` is the file offset of
    ``data[0]``; the checksum covers the file up to ``base + checked``."""

    __slots__ = ("f", "path", "data", "pos", "base", "adler", "checked", "eof")

    def __init__(self, f, path):
        self.f = f
        self.path = path
        self.data = b""
        self.pos = 0
        self.base = 0
        self.adler = 1
        self.checked = 0
        self.eof = False

    def fail(self, msg, offset=None):
        raise DiskFormatError(self.path, self.base + self.pos if offset is None else offset, msg)

    def refill(self, need: int) -> None:
        """Make at least ``need`` bytes from ``pos`` available (fewer at EOF)."""
        data, pos = self.data, self.pos
        self.adler = zlib.adler32(memoryview(data)[self.checked:pos], self.adler)
        parts = [data[pos:]]
        have = len(data) - pos
        want = max(need, _READ_CHUNK)
        while have < want and not self.eof:
            chunk = self.f.read(want - have)
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self.data = b"".join(parts)
        self.base += pos
        self.pos = self.checked = 0

    def take(self, n, what) -> int:
        if n < 0:
            self.fail("negative length %d for %s" % (n, what))
        if self.pos + n > len(self.data):
            self.refill(n)
            if n > len(self.data):
                self.fail("snapshot truncated reading %s" % what)
        p = self.pos
        self.pos = p + n
        return p

    def int(self, what):
        p = self.take(4, what)  # first: it may replace self.data
        return _I.unpack_from(self.data, p)[0]

    def long(self, what):
        p = self.take(8, what)
        return _Q.unpack_from(self.data, p)[0]

    def buffer(self, what):
        n = self.int(what)
        if n == -1:
            return None
        if n < -1:
            self.fail("negative length %d for %s" % (n, what), self.base + self.pos - 4)
        p = self.take(n, what)
        return self.data[p:p + n]

    def string(self, what):
        b = self.buffer(what)
        if b is None:
            return None
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            self.fail("invalid UTF-8 in %s" % what)

    def checksum_here(self) -> int:
        self.adler = zlib.adler32(memoryview(self.data)[self.checked:self.pos], self.adler)
        self.checked = self.pos
        return self.adler

    def seal(self, what):
        """Check a seal: the checksum of everything before it, then "/"."""
        at = self.base + self.pos
        expected = self.checksum_here()
        stored = self.long("checksum")
        self.string("seal path")
        if stored != expected:
            raise DiskFormatError(self.path, at,
                                  "snapshot checksum mismatch after %s (stored %#x, computed %#x)"
                                  % (what, stored & 0xFFFFFFFFFFFFFFFF, expected))

    def at_end(self) -> bool:
        if self.pos < len(self.data):
            return False
        self.refill(1)
        return self.pos >= len(self.data)


def read_snapshot_ex(path: str, disk=None) -> SimpleNamespace:
    """Read a snapshot completely and verify every seal.  Returns a namespace:
    tree, sessions (id -> timeout ms), zxid (from the name; -1 if it has none),
    dbid, version, digest (zxid, version, value) or None, last_processed_zxid
    (ZooKeeper 3.9's section) or None."""
    path = os.fspath(path)
    disk = disk or FILE_DISK
    name = os.path.basename(path)
    if name.endswith(".snappy"):
        raise DiskFormatError(path, None, "snappy-compressed snapshots are not supported")
    # Loading makes a million objects that all live on: CPython's cycle
    # collector would walk the growing tree again and again and find nothing.
    # (PyPy's gc.disable() stops its only collector, garbage and all: not there.)
    gc_was_enabled = gc.isenabled() and _CPYTHON
    if gc_was_enabled:
        gc.disable()
    try:
        if name.endswith(".gz"):
            raw = disk.open_read(path)
            try:
                with raw, gzip.GzipFile(fileobj=raw, mode="rb") as f:
                    return _read(_Stream(f, path), name)
            except (OSError, EOFError, zlib.error) as e:
                raise DiskFormatError(path, None, "bad gzip stream: %s" % e) from None
        with disk.open_read(path) as f:
            return _read(_Stream(f, path), name)
    finally:
        if gc_was_enabled:
            gc.enable()


def _read(r: _Stream, name: str) -> SimpleNamespace:
    magic = r.int("file header")
    version = r.int("file header")
    dbid = r.long("file header")
    if magic != SNAP_MAGIC:
        r.fail("bad snapshot magic %#x (want %#x 'ZKSN')" % (magic & 0xFFFFFFFF, SNAP_MAGIC), 0)

    sessions = {}
    count = r.int("session count")
    if count < 0:
        r.fail("negative session count %d" % count, r.base + r.pos - 4)
    for _ in range(count):
        p = r.take(12, "session")
        sid, timeout = _SESSION.unpack_from(r.data, p)
        sessions[sid] = timeout

    acls = {OPEN_ACL_ID: OPEN_ACL_UNSAFE}
    count = r.int("ACL cache size")
    if count < 0:
        r.fail("negative ACL cache size %d" % count, r.base + r.pos - 4)
    for _ in range(count):
        ident = r.long("ACL id")
        n = r.int("ACL list length")
        if n < 0:
            r.fail("missing ACL list for ACL id %d" % ident, r.base + r.pos - 4)
        entries = []
        for _ in range(n):
            perms = r.int("ACL perms")
            scheme = r.string("ACL scheme")
            aid = r.string("ACL id")
            entries.append((perms, scheme, aid))
        acls[ident] = tuple(entries)

    zxid = zxid_from_name(name, SNAP_PREFIX)
    tree = DataTree(OPEN_ACL_UNSAFE)
    tree.nodes = {}
    tree.ephemerals = {}
    tree.containers = set()
    tree.ttls = set()
    tree.last_zxid = max(zxid, 0)
    root = _read_nodes(r, tree, acls)
    tree.nodes[""] = root
    tree.nodes["/"] = root
    r.seal("the tree")

    # Optional sections (ZooKeeper 3.6+ digest, 3.9 last processed zxid),
    # each followed by its own seal.  Their sizes tell them apart.
    digest = None
    last_processed = None
    r.refill(64)
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
    if not r.at_end():
        r.fail("%d unexpected bytes after the snapshot" % (len(r.data) - r.pos))
    return SimpleNamespace(tree=tree, sessions=sessions, zxid=zxid, dbid=dbid, version=version,
                           digest=digest, last_processed_zxid=last_processed)


def _read_nodes(r: _Stream, tree: DataTree, acls: dict) -> Node:
    """The node list, up to and including its closing "/"; returns the root.
    Whole nodes are parsed from the buffer by :func:`_parse_nodes`; at one
    that runs past it the buffer is refilled with at least that node, and
    one that cannot be read (truncated, bad lengths, bad UTF-8) is re-read
    field by field for a precise error."""
    root = None
    while True:
        if len(r.data) - r.pos < _NODE.size + 8 + 4096 and not r.eof:
            r.refill(_NODE.size + 8 + 4096)
        try:
            pos, root, closed = _parse_nodes(r.data, r.pos, tree, acls, root)
        except _BadNode as e:
            r.fail(e.args[0], r.base + e.args[1])
        r.pos = pos
        if closed:
            break
        need = _node_need(r.data, pos)
        if need is not None and need > len(r.data) - pos and not r.eof:
            r.refill(need)
            continue
        _read_node_slowly(r)     # raises the precise error
        r.fail("unreadable node")
    if root is None:
        r.fail("snapshot has no root node")
    return root


class _BadNode(Exception):
    """(message, offset in the buffer): a node the tree cannot take."""


def _node_need(data, pos):
    """Bytes from ``pos`` the node there takes, or None if its lengths are
    not all there yet or are not lengths at all."""
    end = len(data)
    if pos + 4 > end:
        return 4
    n = _I.unpack_from(data, pos)[0]
    if n < 0:
        return None
    if pos + 8 + n > end:
        return 8 + n
    d = _I.unpack_from(data, pos + 4 + n)[0]
    if d < -1:
        return None
    return 8 + n + max(d, 0) + _NODE.size


def _parse_nodes(data, pos, tree: DataTree, acls: dict, root):
    """Nodes from ``data[pos:]`` while whole ones are there, into ``tree``:
    ``(pos, root, closed)``, ``pos`` at the first node not parsed (or past
    the closing "/" when ``closed``).  ``root`` is the root read so far.

    The hot loop of a start-up: one unpack for the ACL id and the stat, plain
    attribute stores, and equal stat numbers share one int object (a node's
    czxid, mzxid and pzxid are usually one zxid)."""
    nodes = tree.nodes
    ephemerals = tree.ephemerals
    unpack_int = _I.unpack_from
    unpack_node = _NODE.unpack_from
    node_size = _NODE.size
    end = len(data)
    while True:
        at = pos
        try:
            n = unpack_int(data, pos)[0]
            e = pos + 4 + n
            if n < 0 or e > end:
                raise _Short
            node_path = data[pos + 4:e].decode("utf-8")
            if node_path == "/":
                return e, root, True
            n = unpack_int(data, e)[0]
            pos = e + 4
            if n == -1:
                node_data = None
            else:
                e = pos + n
                if n < 0 or e > end:
                    raise _Short
                node_data = data[pos:e]
                pos = e
            (ident, czxid, mzxid, ctime, mtime, version_, cversion, aversion, owner,
             pzxid) = unpack_node(data, pos)
            pos += node_size
        except (_Short, struct.error, UnicodeDecodeError):
            return at, root, False
        acl = acls.get(ident)
        if acl is None:
            raise _BadNode("node %r refers to ACL id %d, absent from the ACL cache"
                           % (node_path, ident), at)
        if mzxid == czxid:
            mzxid = czxid
        if pzxid == czxid:
            pzxid = czxid
        if mtime == ctime:
            mtime = ctime
        node = _new_node(Node)
        node.data = node_data
        node.acl = acl
        node.czxid = czxid
        node.mzxid = mzxid
        node.ctime = ctime
        node.mtime = mtime
        node.version = version_
        node.cversion = cversion
        node.aversion = aversion
        node.ephemeralOwner = owner
        node.pzxid = pzxid
        node.children = NO_CHILDREN
        i = node_path.rfind("/")
        if i == -1:
            # Only the root has no slash (its path is "").
            root = node
            nodes[node_path] = node
            continue
        parent = nodes.get(node_path[:i])
        if parent is None:
            raise _BadNode("node %r comes before its parent" % node_path, at)
        kids = parent.children
        if kids is NO_CHILDREN:
            parent.children = {node_path[i + 1:]: None}
        else:
            kids[node_path[i + 1:]] = None
        nodes[node_path] = node
        if owner:
            kind = ephemeral_kind(owner)
            if kind == "normal":
                ephemerals.setdefault(owner, {})[node_path] = None
            elif kind == "container":
                tree.containers.add(node_path)
            elif kind == "ttl":
                tree.ttls.add(node_path)


class _Short(Exception):
    """A node that runs past the bytes at hand (or is malformed)."""


def _read_node_slowly(r: _Stream):
    at = r.base + r.pos
    node_path = r.string("node path")
    if node_path is None:
        r.fail("null node path", at)
    if node_path == "/":
        return node_path, None, (None,) * 10
    node_data = r.buffer("node data")
    p = r.take(_NODE.size, "node stat")
    return node_path, node_data, _NODE.unpack_from(r.data, p)


def read_snapshot(path: str, disk=None) -> Tuple[DataTree, Dict[int, int], int]:
    """``(tree, sessions, zxid)``: the tree (ephemerals, containers and TTL
    indexes rebuilt from ephemeralOwner), session id -> timeout ms, and the zxid
    from the file name.  Raises :class:`DiskFormatError` on a bad magic, a
    structural error or a checksum mismatch."""
    s = read_snapshot_ex(path, disk)
    return s.tree, s.sessions, s.zxid


def looks_complete(path: str, disk=None) -> bool:
    """ZooKeeper's cheap SnapStream.isValidSnapshot: a snapshot name, at least
    10 bytes, ending with the seal's "/" string (gz: the gzip magic)."""
    disk = disk or FILE_DISK
    name = os.path.basename(path)
    if zxid_from_name(name, SNAP_PREFIX) == -1:
        return False
    try:
        if name.endswith(".gz"):
            return disk.read(path, 0, 2) == b"\x1f\x8b"
        size = disk.size(path)
        if size < 10:
            return False
        return disk.read(path, size - 5, 5) == _SEAL_TAIL
    except OSError:
        return False
