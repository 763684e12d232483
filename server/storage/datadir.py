"""A server's dataDir/dataLogDir: recovery at start, the log, snapshot policy.

Theory of operation
-------------------
:class:`DataDir` ties the storage modules together for a running server and
decides *when*; the Twisted edge decides *on which thread*.

* ``recover(now_ms)`` loads the newest valid snapshot and replays the log
  (server/storage/recovery.py), and returns the tree and the sessions; like ZooKeeper
  it then writes a snapshot of what it loaded, so the next start replays
  little and ZooKeeper itself can start on the directory -- unless the newest
  snapshot already is that state (nothing replayed, nothing skipped).
* ``log`` is the :class:`~zkwire.server.storage.txnlog.FileTxnLog` the replicator
  appends to.  It is ``blocking``: the edge persists batches in a worker thread.
* ``committed(n)`` counts txns and says when a snapshot is due: after a random
  count in [snapCount/2+1, snapCount], as ZooKeeper spreads its snapshots.
  One that comes due while the last is still being taken is skipped
  (``skip_snapshot``), as ZooKeeper skips it.
* ``begin_snapshot(tree, sessions)`` rolls the log (only between persists) and
  returns a :class:`~zkwire.server.storage.snapshot.SnapshotCapture` to be stepped on
  the event loop and saved in a thread.

Every byte goes through ``storage``, a :class:`~zkwire.server.storage.store.Storage`
on ``disk`` (the real file system unless a test passes a MemoryDisk).
"""
from __future__ import annotations

import logging
import random

from .snapshot import SnapshotCapture
from .store import Storage

log = logging.getLogger("zkwire.server.storage.datadir")


class DataDir:
    def __init__(self, data_dir, data_log_dir=None, force_sync=True, prealloc_bytes=64 << 20,
                 snap_count=100000, retain_count=3, rng=None, disk=None):
        self.storage = Storage(data_dir, data_log_dir, disk=disk, force_sync=force_sync,
                               prealloc_bytes=prealloc_bytes)
        self.data_dir = self.storage.data_dir
        self.data_log_dir = self.storage.data_log_dir
        self.snap_count = max(2, snap_count)
        self.retain_count = max(3, retain_count)
        self.rng = rng or random.Random()
        self.log = self.storage.log
        self._since_snapshot = 0
        self._next_snapshot_at = self._pick_threshold()
        self.snapshots_taken = 0
        self.snapshots_skipped = 0
        self.report = None

    def _pick_threshold(self) -> int:
        return self.rng.randint(self.snap_count // 2 + 1, self.snap_count)

    def recover(self):
        """-> (tree, {session id: timeout ms}); raises DiskFormatError on corruption."""
        tree, sessions, last_zxid, report = self.storage.recover()
        self.report = report
        log.info("loaded dataDir %s: %s", self.data_dir, report.summary())
        for path, why in report.skipped_snapshots:
            log.warning("snapshot %s is unusable (%s); fell back to an older one", path, why)
        if (report.snapshot is not None and report.txns_replayed == 0
                and not report.skipped_snapshots and not report.orphan_sessions_killed):
            # The newest snapshot already is the loaded state: writing it again
            # (as ZooKeeper does at every start) would only cost time.
            return tree, sessions
        path = self.storage.save_snapshot(tree, sessions, last_zxid)
        log.info("snapshot of the loaded state: %s", path)
        return tree, sessions

    def committed(self, n: int) -> bool:
        self._since_snapshot += n
        return self._since_snapshot >= self._next_snapshot_at

    def skip_snapshot(self) -> None:
        """A snapshot came due while one is still being taken: roll the log and
        start counting again (ZooKeeper: "Too busy to snap, skipping")."""
        self._since_snapshot = 0
        self._next_snapshot_at = self._pick_threshold()
        self.log.roll()
        self.snapshots_skipped += 1

    def begin_snapshot(self, tree, sessions) -> SnapshotCapture:
        self._since_snapshot = 0
        self._next_snapshot_at = self._pick_threshold()
        self.log.roll()
        return self.storage.begin_capture(tree, sessions)

    def save(self, capture: SnapshotCapture) -> str:
        path = self.storage.save_capture(capture)
        self.snapshots_taken += 1
        return path

    def purge(self) -> list:
        return self.storage.purge(self.retain_count)

    def close(self) -> None:
        self.log.close()
