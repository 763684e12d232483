"""Storage behind a small interface, so tests and a simulator can swap it.

Theory of operation
-------------------
A txn log, as the replicator sees it, has ``append(hdr, txn)``, ``flush()``
(hand what was appended to the OS; returns a handle whose ``fsync()`` makes it
durable, and which may run in another thread) and ``sync()`` (both at once).
A log whose ``blocking`` attribute is true is synced off the event loop.

:class:`Storage` is everything one server keeps in its dataDir (snapshots, the
epoch files) and dataLogDir (the txn log), in Apache ZooKeeper's own layout,
on one :class:`~zkwire.server.storage.disk.Disk`: the real file system by default, or
a :class:`~zkwire.server.storage.disk.MemoryDisk` that a test crashes, tears or fails
with EIO.  It is such a log itself (``append``/``flush``/``sync``, blocking),
and besides:

* ``truncate_to(zxid)``: drop every logged txn after ``zxid`` (a follower's
  TRUNC); see :func:`~zkwire.server.storage.txnlog.truncate_log`;
* ``save_snapshot`` / ``list_snapshots`` / ``read_snapshot``, and
  ``begin_capture`` / ``save_capture`` for a snapshot taken in slices;
* ``read_epoch`` / ``write_epoch``: ``version-2/currentEpoch`` and
  ``version-2/acceptedEpoch`` of the dataDir, as QuorumPeer keeps them;
* ``recover()`` (server/storage/recovery.py) and ``purge(retain_count)``.

The policy -- when to snapshot, when to purge -- is not here but in
server/storage/datadir.py.

The epoch files hold the epoch as ASCII decimal with no newline (Java's
``Long.toString``), written to ``<name>.tmp``, synced and renamed over
``<name>`` (ZooKeeper's AtomicFileWritingIdiom; we also sync the directory).
Reading follows QuorumPeer.readLongFromFile: the first line (up to ``\\n`` or
``\\r``) parsed as a long; a missing file is ``None``, so the caller can fall
back to the epoch of the last zxid as ZooKeeper does; anything else that is
not a long raises :class:`~zkwire.server.storage.txnlog.DiskFormatError`.

:class:`MemoryLog` keeps nothing on disk; it is what a server without a
dataDir (and the in-process test stand-in) uses.
"""
from __future__ import annotations

import os
import re
from typing import List, Optional

from .disk import FILE_DISK
from .recovery import purge, recover
from .snapshot import (
    SnapshotCapture,
    list_snapshots,
    read_snapshot_ex,
    save_snapshot,
    spool_in,
)
from .txnlog import (
    DEFAULT_PREALLOC,
    DiskFormatError,
    FileTxnLog,
    LogReader,
    Truncation,
    last_logged_zxid,
    version_dir,
)

CURRENT_EPOCH = "currentEpoch"
ACCEPTED_EPOCH = "acceptedEpoch"
#: What ZooKeeper's AtomicFileOutputStream appends to the name while writing.
TMP_SUFFIX = ".tmp"

_LONG = re.compile(r"[+-]?[0-9]+")


def epoch_path(data_dir: str, name: str) -> str:
    return os.path.join(version_dir(data_dir), name)


def read_epoch(data_dir: str, name: str, disk=None) -> Optional[int]:
    """The long in ``<data_dir>/version-2/<name>``, or None if there is no such
    file.  Like Java's readLine + Long.parseLong (ASCII digits only)."""
    path = epoch_path(data_dir, name)
    try:
        raw = (disk or FILE_DISK).read(path)
    except FileNotFoundError:
        return None
    if not raw:
        raise DiskFormatError(path, None, "found null (an empty file), want a decimal epoch")
    line = re.split(rb"[\r\n]", raw, 1)[0]
    text = line.decode("utf-8", "replace")
    if _LONG.fullmatch(text):
        value = int(text)
        if -(1 << 63) <= value < (1 << 63):
            return value
    raise DiskFormatError(path, None, "found %r, want a decimal epoch" % text)


def write_epoch(data_dir: str, name: str, value: int, disk=None) -> None:
    """Write ``value`` to ``<data_dir>/version-2/<name>`` atomically, durably."""
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError("epoch %d does not fit in a long" % value)
    disk = disk or FILE_DISK
    path = epoch_path(data_dir, name)
    disk.makedirs(os.path.dirname(path))
    data = str(int(value)).encode("ascii")
    marker = path + TMP_SUFFIX
    if disk.exists(marker):
        # A mark of Storage.begin_epoch_update: it must outlive a write that
        # fails (a full disk), or the dataDir would no longer load.  So the
        # value goes in through another temporary, and the mark goes after.
        disk.write_atomic(path, data, marker + TMP_SUFFIX)
        disk.remove(marker)
        disk.sync_dir(os.path.dirname(path))
        return
    disk.write_atomic(path, data, marker)


class Storage:
    """A server's dataDir and dataLogDir on one :class:`Disk` (see the module
    docstring).  Everything but ``SyncHandle.fsync`` and ``save_capture``
    (which may run in worker threads) belongs to one thread."""

    blocking = True

    def __init__(self, data_dir: str, data_log_dir: Optional[str] = None, disk=None,
                 force_sync: bool = True, prealloc_bytes: int = DEFAULT_PREALLOC,
                 portable_check: bool = True):
        self.disk = disk or FILE_DISK
        self.data_dir = self.disk.abspath(data_dir)
        self.data_log_dir = self.disk.abspath(data_log_dir or data_dir)
        self.log = FileTxnLog(self.data_log_dir, prealloc_bytes=prealloc_bytes,
                              force_sync=force_sync, portable_check=portable_check,
                              disk=self.disk)
        self.log.blocking = True

    # --- the txn log ------------------------------------------------------------------
    def append(self, hdr, txn, digest=None) -> None:
        self.log.append(hdr, txn, digest)

    def flush(self):
        """-> the SyncHandle whose ``fsync()`` makes the appended txns durable."""
        return self.log.flush()

    def sync(self) -> None:
        self.log.sync()

    def roll(self) -> None:
        self.log.roll()

    def read_log(self, from_zxid: int = 0, with_digest: bool = False) -> LogReader:
        return LogReader(self.data_log_dir, from_zxid, with_digest, disk=self.disk)

    def last_logged_zxid(self) -> int:
        return last_logged_zxid(self.data_log_dir, self.disk)

    def truncate_to(self, zxid: int) -> Truncation:
        """Drop every logged txn after ``zxid``.  Snapshots of a later zxid are
        left alone, as ZooKeeper leaves them; a caller that must not load them
        finds them with ``list_snapshots()``."""
        return self.log.truncate_to(zxid)

    # --- snapshots --------------------------------------------------------------------
    def list_snapshots(self) -> list:
        """``(zxid, path)``, newest first."""
        return list_snapshots(self.data_dir, self.disk)

    def read_snapshot(self, path: str):
        """The namespace of :func:`~zkwire.server.storage.snapshot.read_snapshot_ex`."""
        return read_snapshot_ex(path, self.disk)

    def save_snapshot(self, tree, sessions, zxid: int, fsync: bool = True) -> str:
        return save_snapshot(self.data_dir, tree, sessions, zxid, fsync=fsync, disk=self.disk)

    def begin_capture(self, tree, sessions) -> SnapshotCapture:
        """A snapshot of ``tree`` to be stepped on the loop, then ``save_capture``d."""
        return SnapshotCapture(tree, sessions, tree.last_zxid,
                               spool=spool_in(version_dir(self.data_dir), self.disk),
                               disk=self.disk)

    def save_capture(self, capture: SnapshotCapture) -> str:
        """Write a finished capture (any thread) and drop its spool."""
        try:
            return capture.save(self.data_dir)
        finally:
            capture.close()

    # --- epochs -----------------------------------------------------------------------
    def read_epoch(self, name: str) -> Optional[int]:
        """``CURRENT_EPOCH`` or ``ACCEPTED_EPOCH`` (or either + ``TMP_SUFFIX``,
        which ZooKeeper consults when currentEpoch lags the log); None if absent."""
        return read_epoch(self.data_dir, name, self.disk)

    def write_epoch(self, name: str, value: int) -> None:
        write_epoch(self.data_dir, name, value, self.disk)

    def begin_epoch_update(self, name: str, value: int) -> None:
        """Durably leave ``<name>.tmp`` holding ``value``: the mark ZooKeeper's
        loadDataBase reads when the log has reached an epoch the file has
        not (a crash between logging a new epoch's txns and writing
        ``name``).  The next ``write_epoch(name, ...)`` consumes it."""
        path = epoch_path(self.data_dir, name) + TMP_SUFFIX
        self.disk.makedirs(os.path.dirname(path))
        self.disk.write_atomic(path, str(int(value)).encode("ascii"), path + TMP_SUFFIX)

    def remove_snapshots_after(self, zxid: int) -> List[str]:
        """Delete the snapshots of a later zxid than ``zxid`` (after a TRUNC
        or SNAP: they hold txns the ensemble did not keep, and recovery
        would load the newest of them).  -> the paths removed."""
        removed = []
        for z, path in self.list_snapshots():
            if z > zxid:
                self.disk.remove(path)
                removed.append(path)
        if removed:
            self.disk.sync_dir(os.path.dirname(removed[0]))
        return removed

    # --- the whole dataDir ------------------------------------------------------------
    def recover(self, kill_orphans: bool = True, max_zxid: Optional[int] = None):
        """``(tree, sessions, last_zxid, report)``; see server/storage/recovery.py."""
        return recover(self.data_dir, self.data_log_dir, kill_orphans, disk=self.disk,
                       max_zxid=max_zxid)

    def purge(self, retain_count: int = 3) -> List[str]:
        return purge(self.data_dir, self.data_log_dir, retain_count, disk=self.disk)

    def close(self) -> None:
        self.log.close()


class MemoryLog:
    def __init__(self, keep: bool = False):
        self.keep = keep
        self.entries = []
        self.syncs = 0

    def append(self, hdr, txn) -> None:
        if self.keep:
            self.entries.append((hdr, txn))

    def flush(self) -> "_Synced":
        return _Synced(self)

    def sync(self) -> None:
        self.syncs += 1


class _Synced:
    """MemoryLog's sync handle: nothing to wait for."""

    __slots__ = ("log",)

    def __init__(self, log):
        self.log = log

    def fsync(self) -> None:
        self.log.syncs += 1
