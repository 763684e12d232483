"""ZooKeeper's transaction log (on-disk format version 2): a sans-IO codec for
one entry, and a file-backed log that ZooKeeper 3.4-3.9 can read and write too.

Theory of operation
-------------------
An *entry* is what ZooKeeper calls a txn: a TxnHeader (clientId, cxid, zxid,
time, type), then the txn record that the header's type selects (CreateTxn for
create/create2, SetDataTxn for setData and reconfig, MultiTxn whose Txn items
carry each sub-record as bytes, ...), then, from ZooKeeper 3.6 on and only when
digests are enabled, a TxnDigest (version, treeDigest).  A reader therefore
accepts an entry with or without the digest; we write none (ZooKeeper skips the
digest check for entries without one).  Two historical shapes are read too: a
create written before parentCVersion existed (CreateTxnV0, replayed with
parentCVersion -1 as ZooKeeper does) and a closeSession with no record at all
(before 3.6, or with ``zookeeper.closeSessionTxn.enabled=false``).

In memory a txn has the shape Prep makes, so ``DataTree.apply`` takes decoded
entries as they are: ``hdr`` is a SimpleNamespace(clientId, cxid, zxid, time,
type) and the txn a SimpleNamespace with the record's field names, ACLs as a
tuple of ``(perms, scheme, id)`` triples, a multi as a list of ``(type, txn)``
pairs and a record-less closeSession as ``None``.

A *log file* is ``<dataLogDir>/version-2/log.<zxid of its first entry, hex>``:
a FileHeader (magic "ZKLG", version 2, dbid 0), then per entry the Adler32 of the
entry bytes as a long, the length as an int, the bytes, and the byte 0x42 'B'.
ZooKeeper grows the file with zeros in ``preAllocSize`` steps (64 MB) ahead of
the writes, so a reader meets zeros after the last entry: an entry whose length
is 0 ends the file, and so does anything that cannot be a whole entry (a short
length, a record cut short, a missing 'B').  That is how a write torn by a crash
looks, and like ZooKeeper we stop there.  A checksum mismatch is different: if
anything but zeros follows it, the log is corrupt in the middle, and reading
raises :class:`DiskFormatError` naming the file and the byte offset.  Only a
mismatch in the very last entry, followed by nothing but zeros, is a torn write.

:class:`FileTxnLog` appends the way ZooKeeper does: the first append after
opening or after :meth:`FileTxnLog.roll` starts a new file named after that
entry's zxid, preallocated like ZooKeeper's; :meth:`FileTxnLog.sync` writes the
batch and fsyncs once (or split it: ``flush()`` in the loop, the returned
handle's ``fsync()`` in a worker thread).  Before its first file it cuts a torn
tail off the newest existing file, so every later reader, ours or ZooKeeper's,
finds a clean end of file.  ZooKeeper never does that: it leaves the torn tail
and starts a new file, so our reader also accepts torn ends in older files.
:func:`truncate_log` (and :meth:`FileTxnLog.truncate_to`) drops every entry
after a zxid, for a follower told to TRUNC by its leader.

Every byte goes through a :class:`~zkwire.server.storage.disk.Disk` (the ``disk``
argument; the real file system unless told otherwise), so the same code runs
on :class:`~zkwire.server.storage.disk.MemoryDisk` in tests and the simulator.
"""
from __future__ import annotations

import errno
import logging
import os
import re
import struct
import zlib
from types import SimpleNamespace as Rec
from typing import Iterator, List, NamedTuple, Optional, Tuple

from zkwire.consts import OpCode
from zkwire.jute import JuteError

from ..core.acl import OPEN_ACL_UNSAFE
from .disk import FILE_DISK

log = logging.getLogger("zkwire.server.storage.txnlog")

TXNLOG_MAGIC = 0x5A4B4C47  # "ZKLG"
SNAP_MAGIC = 0x5A4B534E    # "ZKSN"
FORMAT_VERSION = 2
VERSION_DIR = "version-2"
LOG_PREFIX = "log"
SNAP_PREFIX = "snapshot"
END_OF_RECORD = 0x42  # 'B'
FILE_HEADER_SIZE = 16
DEFAULT_PREALLOC = 64 << 20

_ENTRY_HEAD = struct.Struct(">qi")  # checksum (long), length (int)
_HEADER = struct.Struct(">iiq")     # FileHeader: magic, version, dbid

#: Flush buffered entries to the file once this many bytes wait (sync still decides fsync).
_FLUSH_AT = 1 << 20
#: How far past a suspicious end we look for data.  Entries are contiguous, so
#: a real log has no run of zeros this long before more data; the limit keeps a
#: copied, no longer sparse, 64 MB preallocated file from being read whole.
_ZERO_WINDOW = 1 << 20


class DiskFormatError(Exception):
    """A log or snapshot file that is not what ZooKeeper's format promises
    (bad magic, checksum mismatch in the middle of a log, undecodable entry,
    snapshot checksum or structure error).  ``path`` and ``offset`` say where."""

    def __init__(self, path, offset, message):
        where = "%s at byte offset %d" % (path, offset) if offset is not None else str(path)
        super().__init__("%s: %s" % (where, message))
        self.path = path
        self.offset = offset
        self.reason = message


class TornTail(NamedTuple):
    """Where a log file stops short of a whole entry (a write cut by a crash)."""

    path: str
    offset: int   # the file's valid data ends here
    reason: str


# --- names ---------------------------------------------------------------------------
def zxid_from_name(name: str, prefix: str) -> int:
    """ZooKeeper's Util.getZxidFromName: ``prefix.<hex>[.anything]`` -> zxid, else -1."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] == prefix and _HEX.fullmatch(parts[1]):
        value = int(parts[1], 16)
        if -(1 << 63) <= value < (1 << 63):  # Long.parseLong's range
            return value
    return -1


_HEX = re.compile(r"[+-]?[0-9a-fA-F]+")


def log_name(zxid: int) -> str:
    """``log.<zxid in lowercase hex>`` (Java's Long.toHexString)."""
    return "%s.%x" % (LOG_PREFIX, zxid & 0xFFFFFFFFFFFFFFFF)


def version_dir(base_dir: str) -> str:
    """``<base_dir>/version-2``; a path that already ends in version-2 is kept."""
    base_dir = os.fspath(base_dir)
    if os.path.basename(os.path.normpath(base_dir)) == VERSION_DIR:
        return base_dir
    return os.path.join(base_dir, VERSION_DIR)


def list_files(directory: str, prefix: str, disk=None) -> List[Tuple[int, str]]:
    """``(zxid, path)`` of the files named ``prefix.<hex>...``, oldest first."""
    names = (disk or FILE_DISK).listdir(directory)
    out = []
    for name in names:
        z = zxid_from_name(name, prefix)
        if z != -1:
            out.append((z, os.path.join(directory, name)))
    out.sort()
    return out


def list_log_files(log_dir: str, disk=None) -> List[Tuple[int, str]]:
    return list_files(version_dir(log_dir), LOG_PREFIX, disk)


def logs_for_zxid(files: List[Tuple[int, str]], zxid: int) -> List[Tuple[int, str]]:
    """The files that can hold ``zxid`` and everything after it: the newest file
    named at or below ``zxid`` and all newer ones (FileTxnLog.getLogFiles)."""
    start = 0
    for i, (fz, _) in enumerate(files):
        if fz <= zxid:
            start = i
        else:
            break
    return files[start:]


# --- the entry codec ----------------------------------------------------------------
# Hand-written with struct rather than through the jute Records: replay decodes
# every entry of the log, and this is several times faster.  The unit tests check
# it byte for byte against the Records of zkwire.records (TxnHeader, CreateTxn...).
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_TXN_HEADER = struct.Struct(">qiqqi")   # clientId, cxid, zxid, time, type
_DIGEST = struct.Struct(">iq")          # TxnDigest: version, treeDigest
_NULL = b"\xff\xff\xff\xff"
_rd_i32 = _I32.unpack_from
_rd_i64 = _I64.unpack_from


def _w_str(s) -> bytes:
    if s is None:
        return _NULL
    raw = s.encode("utf-8")
    return _I32.pack(len(raw)) + raw


def _w_buf(b) -> bytes:
    if b is None:
        return _NULL
    return _I32.pack(len(b)) + bytes(b)


def _w_acl(acl) -> bytes:
    # Creates carry one of a few ACLs: keep their encodings.
    raw = _ACL_BYTES.get(acl) if type(acl) is tuple else None
    if raw is not None:
        return raw
    if acl is None:
        return _NULL
    out = [_I32.pack(len(acl))]
    for perms, scheme, ident in acl:
        out.append(_I32.pack(perms))
        out.append(_w_str(scheme))
        out.append(_w_str(ident))
    raw = b"".join(out)
    if type(acl) is tuple:
        if len(_ACL_BYTES) >= 1024:
            _ACL_BYTES.clear()
        _ACL_BYTES[acl] = raw
    return raw


_ACL_BYTES = {}


def _need(data, end, what):
    if end > len(data):
        raise JuteError("truncated %s" % what)


def _r_i32(data, o, what="int"):
    _need(data, o + 4, what)
    return _rd_i32(data, o)[0], o + 4


def _r_i64(data, o, what="long"):
    _need(data, o + 8, what)
    return _rd_i64(data, o)[0], o + 8


def _r_buf(data, o, what="buffer"):
    n, o = _r_i32(data, o, what)
    if n == -1:
        return None, o
    if n < 0:
        raise JuteError("negative %s length %d" % (what, n))
    _need(data, o + n, what)
    return bytes(data[o:o + n]), o + n


def _r_str(data, o, what="string"):
    raw, o = _r_buf(data, o, what)
    if raw is None:
        return None, o
    try:
        return raw.decode("utf-8"), o
    except UnicodeDecodeError:
        raise JuteError("invalid UTF-8 in %s" % what) from None


def _r_bool(data, o):
    _need(data, o + 1, "boolean")
    return data[o] != 0, o + 1


def _r_acl(data, o):
    n, o = _r_i32(data, o, "ACL vector")
    if n == -1:
        # A null ACL is what ZooKeeper's ACL cache keeps as id -1, OPEN_ACL_UNSAFE.
        return OPEN_ACL_UNSAFE, o
    if n < 0:
        raise JuteError("negative ACL vector length %d" % n)
    out = []
    for _ in range(n):
        perms, o = _r_i32(data, o, "ACL perms")
        scheme, o = _r_str(data, o, "ACL scheme")
        ident, o = _r_str(data, o, "ACL id")
        out.append((perms, scheme, ident))
    return tuple(out), o


_CREATE_TYPES = (OpCode.create, OpCode.create2)
_DELETE_TYPES = (OpCode.delete, OpCode.deleteContainer)
_SETDATA_TYPES = (OpCode.setData, OpCode.reconfig)


def encode_txn(type_: int, txn) -> bytes:
    """The txn record for a header of ``type_`` (no header, no digest)."""
    if type_ in _CREATE_TYPES:     # CreateTxn
        return b"".join((_w_str(txn.path), _w_buf(txn.data), _w_acl(txn.acl),
                         b"\x01" if txn.ephemeral else b"\x00", _I32.pack(txn.parentCVersion)))
    if type_ == OpCode.createContainer:   # CreateContainerTxn
        return b"".join((_w_str(txn.path), _w_buf(txn.data), _w_acl(txn.acl),
                         _I32.pack(txn.parentCVersion)))
    if type_ == OpCode.createTTL:  # CreateTTLTxn
        return b"".join((_w_str(txn.path), _w_buf(txn.data), _w_acl(txn.acl),
                         _I32.pack(txn.parentCVersion), _I64.pack(txn.ttl)))
    if type_ in _DELETE_TYPES:     # DeleteTxn
        return _w_str(txn.path)
    if type_ in _SETDATA_TYPES:    # SetDataTxn
        return _w_str(txn.path) + _w_buf(txn.data) + _I32.pack(txn.version)
    if type_ == OpCode.setACL:     # SetACLTxn
        return _w_str(txn.path) + _w_acl(txn.acl) + _I32.pack(txn.version)
    if type_ == OpCode.check:      # CheckVersionTxn
        return _w_str(txn.path) + _I32.pack(txn.version)
    if type_ == OpCode.createSession:     # CreateSessionTxn
        return _I32.pack(txn.timeOut)
    if type_ == OpCode.closeSession:      # CloseSessionTxn, or nothing (pre-3.6)
        if txn is None:
            return b""
        paths = txn.paths2Delete
        if paths is None:
            return _NULL
        return _I32.pack(len(paths)) + b"".join(_w_str(p) for p in paths)
    if type_ == OpCode.error:      # ErrorTxn
        return _I32.pack(txn.err)
    if type_ == OpCode.multi:      # MultiTxn of Txn(type, data)
        out = [_I32.pack(len(txn))]
        for sub_type, sub in txn:
            out.append(_I32.pack(sub_type))
            out.append(_w_buf(encode_txn(sub_type, sub)))
        return b"".join(out)
    raise ValueError("no txn record for type %r" % (type_,))


def _decode_create(data, o, type_):
    path, o = _r_str(data, o, "path")
    payload, o = _r_buf(data, o, "data")
    acl, o = _r_acl(data, o)
    ephemeral, o = _r_bool(data, o)
    try:
        parent_cversion, o = _r_i32(data, o, "parentCVersion")
    except JuteError:
        if type_ != OpCode.create or o != len(data):
            raise
        # CreateTxnV0, logged before parentCVersion existed: -1 makes apply
        # derive it, as ZooKeeper's SerializeUtils does.
        parent_cversion = -1
    return Rec(path=path, data=payload, acl=acl, ephemeral=ephemeral,
               parentCVersion=parent_cversion), o


def decode_txn(type_: int, data: bytes, offset: int = 0):
    """Parse the txn record for ``type_`` at ``offset``: ``(txn, end_offset)``.
    Raises :class:`JuteError` on malformed bytes, ValueError on an unknown type."""
    o = offset
    if type_ in _CREATE_TYPES:
        return _decode_create(data, o, type_)
    if type_ == OpCode.createContainer or type_ == OpCode.createTTL:
        path, o = _r_str(data, o, "path")
        payload, o = _r_buf(data, o, "data")
        acl, o = _r_acl(data, o)
        parent_cversion, o = _r_i32(data, o, "parentCVersion")
        if type_ == OpCode.createContainer:
            return Rec(path=path, data=payload, acl=acl, parentCVersion=parent_cversion), o
        ttl, o = _r_i64(data, o, "ttl")
        return Rec(path=path, data=payload, acl=acl, parentCVersion=parent_cversion,
                   ttl=ttl), o
    if type_ in _DELETE_TYPES:
        path, o = _r_str(data, o, "path")
        return Rec(path=path), o
    if type_ in _SETDATA_TYPES:
        path, o = _r_str(data, o, "path")
        payload, o = _r_buf(data, o, "data")
        version, o = _r_i32(data, o, "version")
        return Rec(path=path, data=payload, version=version), o
    if type_ == OpCode.setACL:
        path, o = _r_str(data, o, "path")
        acl, o = _r_acl(data, o)
        version, o = _r_i32(data, o, "version")
        return Rec(path=path, acl=acl, version=version), o
    if type_ == OpCode.check:
        path, o = _r_str(data, o, "path")
        version, o = _r_i32(data, o, "version")
        return Rec(path=path, version=version), o
    if type_ == OpCode.createSession:
        timeout, o = _r_i32(data, o, "timeOut")
        return Rec(timeOut=timeout), o
    if type_ == OpCode.closeSession:
        n, o = _r_i32(data, o, "paths2Delete")
        if n == -1:
            return Rec(paths2Delete=None), o
        if n < 0:
            raise JuteError("negative paths2Delete length %d" % n)
        paths = []
        for _ in range(n):
            p, o = _r_str(data, o, "path")
            paths.append(p)
        return Rec(paths2Delete=paths), o
    if type_ == OpCode.error:
        err, o = _r_i32(data, o, "err")
        return Rec(err=err), o
    if type_ == OpCode.multi:
        n, o = _r_i32(data, o, "txns")
        subs = []
        for _ in range(max(n, 0)):
            sub_type, o = _r_i32(data, o, "Txn type")
            raw, o = _r_buf(data, o, "Txn data")
            # Like ZooKeeper, bytes after a sub-record are ignored.
            sub, _ = decode_txn(sub_type, raw or b"", 0)
            subs.append((sub_type, sub))
        return subs, o
    raise ValueError("unsupported txn type %r" % (type_,))


_DIGEST_SIZE = 12


def encode_entry(hdr, txn, digest=None) -> bytes:
    """TxnHeader + txn record (+ TxnDigest when ``digest`` is given: an object
    with ``version`` and ``treeDigest``, or such a pair)."""
    out = _TXN_HEADER.pack(hdr.clientId, hdr.cxid, hdr.zxid, hdr.time, hdr.type)
    out += encode_txn(hdr.type, txn)
    if digest is not None:
        if isinstance(digest, tuple):
            out += _DIGEST.pack(*digest)
        else:
            out += _DIGEST.pack(digest.version, digest.treeDigest)
    return out


def _decode_digest(data, offset):
    rest = len(data) - offset
    if rest == 0:
        return None
    if rest < _DIGEST_SIZE:
        raise JuteError("%d stray bytes after the txn" % rest)
    version, tree_digest = _DIGEST.unpack_from(data, offset)
    # Anything after the digest is ignored, as ZooKeeper does.
    return Rec(version=version, treeDigest=tree_digest)


def decode_entry(data: bytes):
    """``(hdr, txn, digest or None)`` from one entry's bytes.
    Raises :class:`JuteError` (a ValueError) if the bytes are not an entry."""
    if len(data) < _TXN_HEADER.size:
        raise JuteError("truncated TxnHeader (%d bytes)" % len(data))
    client_id, cxid, zxid, time_, type_ = _TXN_HEADER.unpack_from(data, 0)
    hdr = Rec(clientId=client_id, cxid=cxid, zxid=zxid, time=time_, type=type_)
    off = _TXN_HEADER.size
    if type_ == OpCode.closeSession:
        rest = len(data) - off
        if rest == 0:
            return hdr, None, None
        try:
            txn, end = decode_txn(type_, data, off)
            if len(data) - end in (0, _DIGEST_SIZE):
                return hdr, txn, _decode_digest(data, end)
        except JuteError:
            pass
        if rest == _DIGEST_SIZE:  # no record, only the digest
            return hdr, None, _decode_digest(data, off)
        raise JuteError("bad closeSession txn (%d bytes)" % rest)
    txn, end = decode_txn(type_, data, off)
    return hdr, txn, _decode_digest(data, end)


def append_frame(buf: bytearray, entry: bytes) -> None:
    """Append one entry as it sits in a log file: checksum, length, bytes, 'B'."""
    buf += _ENTRY_HEAD.pack(zlib.adler32(entry), len(entry))
    buf += entry
    buf += b"B"


def frame_entry(entry: bytes) -> bytes:
    buf = bytearray()
    append_frame(buf, entry)
    return bytes(buf)


def file_header(magic: int, dbid: int) -> bytes:
    return _HEADER.pack(magic, FORMAT_VERSION, dbid)


def padded_size(position: int, file_size: int, prealloc: int) -> int:
    """FilePadding.calculateFileSizeWithPadding: grow the file by ``prealloc``
    once the write position comes within 4 KB of its end."""
    if prealloc > 0 and position + 4096 >= file_size:
        if position > file_size:
            file_size = position + prealloc
            file_size -= file_size % prealloc
        else:
            file_size += prealloc
    return file_size


# --- reading ------------------------------------------------------------------------
class LogFileScan:
    """Walk one log file's framed entries: yields ``(offset, entry_bytes)``.
    After iteration: ``end`` (where valid data ends), ``torn`` (TornTail or None),
    ``header`` (magic, version, dbid) or None for an empty/short file."""

    def __init__(self, path: str, disk=None):
        self.path = path
        self.disk = disk or FILE_DISK
        self.end = 0
        self.torn = None
        self.header = None

    def __iter__(self):
        path = self.path
        disk = self.disk
        size = disk.size(path)
        with disk.open_read(path) as f:
            head = f.read(FILE_HEADER_SIZE)
            if len(head) < FILE_HEADER_SIZE:
                # Created but the header never reached the disk (ZooKeeper 3.9
                # deletes such a file when it is the last one).
                self.torn = TornTail(path, 0, "no complete file header (%d bytes)" % len(head))
                return
            self.header = _HEADER.unpack(head)
            if self.header[0] != TXNLOG_MAGIC:
                raise DiskFormatError(path, 0, "bad txn log magic %#x (want %#x 'ZKLG')"
                                      % (self.header[0] & 0xFFFFFFFF, TXNLOG_MAGIC))
            pos = FILE_HEADER_SIZE
            self.end = pos
            while True:
                head = f.read(12)
                if len(head) < 12:
                    if head and head.count(0) != len(head):
                        self.torn = TornTail(path, pos, "partial entry header")
                    return
                crc, n = _ENTRY_HEAD.unpack(head)
                if n == 0:
                    # Preallocated zeros: the end of the log (unless data follows).
                    if crc != 0 or not disk.all_zero(path, pos + 12, pos + 12 + _ZERO_WINDOW):
                        self.torn = TornTail(path, pos, "empty entry followed by data")
                    return
                if n < 0 or pos + 12 + n + 1 > size:
                    self.torn = TornTail(path, pos, "entry of %d bytes cut short" % n)
                    return
                entry = f.read(n)
                eor = f.read(1)
                if len(entry) != n or len(eor) != 1:
                    self.torn = TornTail(path, pos, "entry of %d bytes cut short" % n)
                    return
                if eor[0] != END_OF_RECORD:
                    self.torn = TornTail(path, pos, "entry without its end-of-record byte")
                    return
                if zlib.adler32(entry) != crc:
                    nxt = pos + 12 + n + 1
                    if disk.all_zero(path, nxt, nxt + _ZERO_WINDOW):
                        self.torn = TornTail(path, pos, "checksum mismatch in the last entry")
                        return
                    raise DiskFormatError(
                        path, pos, "txn log entry checksum mismatch (stored %#x, computed %#x) "
                        "with more data after it: the log is corrupt"
                        % (crc & 0xFFFFFFFFFFFFFFFF, zlib.adler32(entry)))
                yield pos, entry
                pos += 12 + n + 1
                self.end = pos


class LogReader:
    """Iterate the entries of a log directory from ``from_zxid`` on, across files
    in zxid order, the way ZooKeeper's FileTxnIterator does.

    Yields ``(hdr, txn)`` (or ``(hdr, txn, digest)`` with ``with_digest``).  After
    the iteration ends: ``torn_tail`` is the torn end of the newest file (or
    None), ``skipped_tails`` the torn ends found in older files (left there by a
    crash before ZooKeeper or we started a new file), ``files`` the files read,
    ``last_zxid`` the zxid of the last entry yielded (-1 if none).
    """

    def __init__(self, log_dir: str, from_zxid: int = 0, with_digest: bool = False, disk=None):
        self.dir = version_dir(log_dir)
        self.disk = disk or FILE_DISK
        self.from_zxid = from_zxid
        self.with_digest = with_digest
        self.torn_tail = None
        self.skipped_tails = []
        self.files = []
        self.last_zxid = -1
        self.count = 0

    def __iter__(self):
        all_files = list_files(self.dir, LOG_PREFIX, self.disk)
        if not all_files:
            return
        newest = all_files[-1][1]
        for _, path in logs_for_zxid(all_files, self.from_zxid):
            self.files.append(path)
            scan = LogFileScan(path, self.disk)
            for offset, entry in scan:
                try:
                    hdr, txn, digest = decode_entry(entry)
                except (JuteError, ValueError) as e:
                    raise DiskFormatError(path, offset, "cannot decode txn: %s" % e) from None
                if hdr.zxid < self.from_zxid:
                    continue
                self.last_zxid = hdr.zxid
                self.count += 1
                yield (hdr, txn, digest) if self.with_digest else (hdr, txn)
            if scan.torn is not None:
                if path == newest:
                    self.torn_tail = scan.torn
                else:
                    self.skipped_tails.append(scan.torn)


def read_log(log_dir: str, from_zxid: int = 0, disk=None) -> LogReader:
    """``for hdr, txn in read_log(dir, zxid)``; see :class:`LogReader`."""
    return LogReader(log_dir, from_zxid, disk=disk)


def last_logged_zxid(log_dir: str, disk=None) -> int:
    """The zxid of the last whole entry in the log directory, -1 if none."""
    files = list_log_files(log_dir, disk)
    if not files:
        return -1
    reader = LogReader(log_dir, files[-1][0], disk=disk)
    for _ in reader:
        pass
    if reader.last_zxid == -1 and len(files) > 1:
        reader = LogReader(log_dir, 0, disk=disk)
        for _ in reader:
            pass
    return reader.last_zxid


def _cut(disk, path: str, size: int) -> None:
    """Cut the file ``path`` to ``size`` bytes, durably."""
    f = disk.open_file(path)
    try:
        f.set_size(size)
        f.sync()
    finally:
        f.close()


def repair_tail(log_dir: str, disk=None) -> Optional[TornTail]:
    """Cut a torn tail off the newest log file (a file with no whole header is
    removed), so appends and every reader find a clean end.  Returns what was
    cut, or None.  Corruption in the middle raises :class:`DiskFormatError`."""
    disk = disk or FILE_DISK
    files = list_log_files(log_dir, disk)
    if not files:
        return None
    path = files[-1][1]
    scan = LogFileScan(path, disk)
    for _ in scan:
        pass
    torn = scan.torn
    if torn is None:
        return None
    if scan.header is None:
        disk.remove(path)
    else:
        _cut(disk, path, scan.end)
    disk.sync_dir(os.path.dirname(path))
    log.warning("txn log %s: cut a torn tail at byte %d (%s)", path, torn.offset, torn.reason)
    return torn


class Truncation(NamedTuple):
    """What :func:`truncate_log` did."""

    zxid: int                  # entries after this zxid were dropped
    last_zxid: int             # the last entry kept, -1 if none
    dropped: int               # entries dropped
    cut: Optional[Tuple[str, int]]   # (file, new length) if a file was cut
    removed: List[str]         # later log files removed whole


def truncate_log(log_dir: str, zxid: int, disk=None) -> Truncation:
    """Drop every logged txn after ``zxid``, as ZooKeeper does for a TRUNC
    from the leader (FileTxnLog.truncate): the log files named after a later
    zxid are removed, and the newest file named at or before ``zxid`` is cut at
    the first entry after it (a torn tail is cut too).

    The files are removed newest first and the cut comes last, each step
    durable before the next, so a crash at any point leaves a prefix of the
    old log and truncating again finishes the job.  Raises FileNotFoundError
    when there is no log file at all (ZooKeeper: "No log files found to
    truncate!", and its follower exits) and :class:`DiskFormatError` on a
    corrupt file.

    One difference: ZooKeeper cuts after the first entry whose zxid is >=
    ``zxid``, so when ``zxid`` itself is not in the log it keeps one entry
    after it.  We keep exactly the entries <= ``zxid``.  Snapshots are not
    touched (ZooKeeper leaves them too): see Storage.truncate_to."""
    disk = disk or FILE_DISK
    files = list_log_files(log_dir, disk)
    if not files:
        raise FileNotFoundError(errno.ENOENT, "no txn log files to truncate", version_dir(log_dir))
    keep = [(z, p) for z, p in files if z <= zxid]
    later = [p for z, p in files if z > zxid]
    dropped = 0
    for path in later:
        try:
            for _ in LogFileScan(path, disk):
                dropped += 1
        except DiskFormatError:
            pass  # going anyway: the count is for the log line only
    cut = None
    last_kept = -1
    cut_at = None
    if keep:
        path = keep[-1][1]
        scan = LogFileScan(path, disk)
        for offset, entry in scan:
            z = _TXN_HEADER.unpack_from(entry, 0)[2] if len(entry) >= _TXN_HEADER.size else None
            if z is None:
                raise DiskFormatError(path, offset, "cannot decode txn: truncated TxnHeader")
            if z > zxid:
                if cut_at is None:
                    cut_at = offset
                dropped += 1
            elif cut_at is None:
                last_kept = z
        if cut_at is None and scan.torn is not None and scan.header is not None:
            cut_at = scan.end
        if cut_at is not None:
            cut = (path, cut_at)
        if last_kept == -1 and len(keep) > 1:
            last_kept = _last_zxid_in(keep[:-1], disk)
    for path in reversed(later):
        disk.remove(path)
        disk.sync_dir(os.path.dirname(path))
    if cut is not None:
        _cut(disk, cut[0], cut[1])
    if later or cut is not None:
        log.warning("txn log %s: truncated to zxid %#x (%d entries dropped, %d files removed)",
                    version_dir(log_dir), zxid, dropped, len(later))
    return Truncation(zxid, last_kept, dropped, cut, later)


def _last_zxid_in(files: List[Tuple[int, str]], disk=None) -> int:
    """The zxid of the last whole entry in ``files`` (oldest first), -1 if none."""
    for _, path in reversed(files):
        last = -1
        for _, entry in LogFileScan(path, disk):
            if len(entry) >= _TXN_HEADER.size:
                last = _TXN_HEADER.unpack_from(entry, 0)[2]
        if last != -1:
            return last
    return -1


# --- writing ------------------------------------------------------------------------
class _OpenLog:
    __slots__ = ("path", "file", "pos", "size", "pending", "first_zxid", "dirty")

    def __init__(self, path, file, first_zxid):
        self.path = path
        self.file = file      # the Disk's handle
        self.pos = 0          # bytes handed to the OS
        self.size = 0         # the file's (preallocated) length
        self.pending = bytearray()
        self.first_zxid = first_zxid
        self.dirty = False    # written since the last flush() handed it to a SyncHandle


class SyncHandle:
    """The fsync half of a sync, detached from the log: :meth:`FileTxnLog.flush`
    returns one holding duplicates of the file handles it wrote to, so
    :meth:`fsync` may run in a worker thread while the log goes on appending.
    A failed sync raises (OSError) and the handle is spent: the entries may
    not be durable, and the caller must not acknowledge them."""

    def __init__(self, log, files, dir_path):
        self._log = log
        self._files = files
        self._dir = dir_path

    def fsync(self) -> None:
        """Make everything the flush wrote durable (idempotent)."""
        files, self._files = self._files, []
        try:
            for f in files:
                f.sync()
                self._log.fsyncs += 1
            if self._dir is not None:
                self._log.disk.sync_dir(self._dir)
                self._dir = None
        finally:
            for f in files:
                f.close()


class FileTxnLog:
    """A ZooKeeper-compatible, append-only txn log in ``<log_dir>/version-2``.

    ``append`` only buffers; ``sync`` writes the batch and fsyncs it once (no
    fsync with ``force_sync=False``, ZooKeeper's ``forceSync=no``); an entry is
    durable once the ``sync`` after it returns.  To keep the fsync off the event
    loop, split it: ``handle = log.flush()`` (cheap, in the loop) then
    ``handle.fsync()`` in a worker thread, while the loop appends the next batch.
    Everything but ``SyncHandle.fsync`` belongs to one thread.

    With ``portable_check`` (the default) a top-level check txn is written as
    an error txn with err 0: the same no-op for the tree, but one that ZooKeeper
    can load (it fails to start on a log holding a type-13 txn, even its own).
    """

    def __init__(self, log_dir: str, prealloc_bytes: int = DEFAULT_PREALLOC,
                 force_sync: bool = True, dbid: int = 0, portable_check: bool = True,
                 disk=None):
        self.dir = version_dir(log_dir)
        self.disk = disk or FILE_DISK
        self.portable_check = portable_check
        self.prealloc = prealloc_bytes
        self.force_sync = force_sync
        self.dbid = dbid
        self.current: Optional[_OpenLog] = None
        self._rolled: List[_OpenLog] = []   # ended by roll(), awaiting their last flush
        self._dir_dirty = False
        self._repaired = False
        #: What the first append cut off the newest existing file, if anything.
        self.repaired_tail: Optional[TornTail] = None
        #: After a finished :meth:`iterate_from`: the torn end it met, if any.
        self.last_torn_tail: Optional[TornTail] = None
        self.last_zxid = -1
        self.unsynced = 0
        self.fsyncs = 0
        self.closed = False

    # --- writing -------------------------------------------------------------
    @property
    def current_path(self) -> Optional[str]:
        return self.current.path if self.current is not None else None

    def _open_new(self, zxid: int) -> _OpenLog:
        disk = self.disk
        disk.makedirs(self.dir)
        if not self._repaired:
            self.repaired_tail = repair_tail(self.dir, disk)
            self._repaired = True
        path = os.path.join(self.dir, log_name(zxid))
        if disk.exists(path) and disk.size(path) > FILE_HEADER_SIZE:
            if any(True for _ in LogFileScan(path, disk)):
                raise ValueError("txn log %s already holds entries: zxid %#x was logged before"
                                 % (path, zxid))
        handle = disk.open_file(path, truncate=True)
        f = _OpenLog(path, handle, zxid)
        try:
            handle.write_at(0, file_header(TXNLOG_MAGIC, self.dbid))
        except BaseException:
            handle.close()
            raise
        f.pos = f.size = FILE_HEADER_SIZE
        f.dirty = True
        self._dir_dirty = True
        log.info("creating new txn log file %s", path)
        return f

    def append(self, hdr, txn, digest=None) -> None:
        """Buffer one entry (header and txn as Prep makes them)."""
        if self.closed:
            raise ValueError("append to a closed FileTxnLog")
        if hdr.zxid <= self.last_zxid:
            log.warning("txn log: zxid %#x is <= %#x (type %d)", hdr.zxid, self.last_zxid, hdr.type)
        else:
            self.last_zxid = hdr.zxid
        if hdr.type == OpCode.check and self.portable_check:
            # ZooKeeper logs a successful stand-alone check as type 13, then
            # cannot load its own log (SerializeUtils.deserializeTxn has no case
            # for it).  An error txn with err 0 is what it replays as a no-op.
            hdr = Rec(clientId=hdr.clientId, cxid=hdr.cxid, zxid=hdr.zxid, time=hdr.time,
                      type=OpCode.error)
            txn = Rec(err=0)
        f = self.current
        if f is None:
            f = self.current = self._open_new(hdr.zxid)
        entry = encode_entry(hdr, txn, digest)
        pending = f.pending
        position = f.pos + len(pending)
        if position + 4096 >= f.size:
            new_size = padded_size(position, f.size, self.prealloc)
            if new_size != f.size:
                f.file.set_size(new_size)  # zeros, like ZooKeeper's one byte at the new end
                f.size = new_size
        append_frame(pending, entry)
        end = position + len(entry) + _ENTRY_HEAD.size + 1
        if end > f.size:
            f.size = end
        self.unsynced += 1
        if len(pending) >= _FLUSH_AT:
            self._write(f)

    @staticmethod
    def _write(f: _OpenLog) -> None:
        if f.pending:
            f.file.write_at(f.pos, f.pending)
            f.pos += len(f.pending)
            f.pending = bytearray()
            f.dirty = True

    def flush(self) -> SyncHandle:
        """Hand every buffered entry to the OS; return the handle whose
        ``fsync`` makes them durable (it does nothing with ``force_sync=False``)."""
        files = []
        while self._rolled:
            f = self._rolled[0]
            self._write(f)
            if self.force_sync and f.dirty:
                files.append(f.file.dup())
            f.file.close()
            del self._rolled[0]
        f = self.current
        if f is not None:
            self._write(f)
            if self.force_sync and f.dirty:
                files.append(f.file.dup())
            f.dirty = False
        handle = SyncHandle(self, files, self.dir if (self._dir_dirty and self.force_sync) else None)
        self._dir_dirty = False
        self.unsynced = 0
        return handle

    def sync(self) -> None:
        """Write the buffered batch and make it durable: one fsync of the
        current file (plus one per file rolled since the last sync)."""
        self.flush().fsync()

    def roll(self) -> None:
        """End the current file; the next append starts ``log.<its zxid>``.
        Entries buffered for the old file become durable at the next sync."""
        f = self.current
        if f is not None:
            self._rolled.append(f)
            self.current = None

    def close(self) -> None:
        if self.closed:
            return
        self.roll()
        self.sync()
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- reading -------------------------------------------------------------
    def iterate_from(self, zxid: int) -> Iterator[tuple]:
        """``(hdr, txn)`` of every entry with a zxid >= ``zxid``, oldest first
        (buffered entries included).  Sets ``last_torn_tail`` when done."""
        for f in self._rolled + ([self.current] if self.current is not None else []):
            self._write(f)
        reader = LogReader(self.dir, zxid, disk=self.disk)
        yield from reader
        self.last_torn_tail = reader.torn_tail

    # --- truncation ----------------------------------------------------------
    def truncate_to(self, zxid: int) -> Truncation:
        """Drop every entry after ``zxid`` (see :func:`truncate_log`), the
        buffered ones included; the next append starts a new file.  Like
        ZooKeeper's FileTxnSnapLog.truncateLog, the open files are closed
        first (what was buffered is written and synced, then cut)."""
        if self.current is not None:
            self.roll()
        self.sync()
        result = truncate_log(self.dir, zxid, self.disk)
        self.last_zxid = result.last_zxid
        self._repaired = True  # truncate_log cut any torn tail of the file it kept
        return result
