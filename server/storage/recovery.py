"""Start-up recovery from a dataDir (ours or Apache ZooKeeper's), and purging.

Theory of operation
-------------------
As ZooKeeper's FileTxnSnapLog.restore: load the newest snapshot that reads back
whole (checksums included; a damaged one is skipped and reported, the next
older one is tried), then replay the txn log from the snapshot's zxid + 1 with
``DataTree.apply``.  The snapshot may be fuzzy (taken while txns were still
being applied), so replay meets txns the tree already reflects; apply treats
them as ZooKeeper does (NODEEXISTS/NONODE are recorded and ignored, and a
repeated create still moves the parent's cversion/pzxid forward).
createSession and closeSession txns also update the session table
(session id -> timeout ms), exactly what the snapshot stores.

Where ZooKeeper refuses to start, recovery is more forgiving in one case only:
logs without any snapshot file replay onto an empty tree (ZooKeeper demands
``zookeeper.snapshot.trust.empty``).  Snapshot files that all fail to read
raise :class:`DiskFormatError`, as ZooKeeper does, since older history may have
been purged.  A torn log tail ends the replay and is reported; the first append
of :class:`FileTxnLog` cuts it off.

Like ZooKeeperServer.loadData, sessions that own ephemeral nodes but are not
in the session table (possible with fuzzy snapshots) are killed on the tree
at the last zxid, without a txn (``kill_orphans``).

Both read through a :class:`~zkwire.server.storage.disk.Disk` (``disk``; the real
file system by default), so recovery after a simulated crash of a
:class:`~zkwire.server.storage.disk.MemoryDisk` runs exactly this code.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from zkwire.consts import OpCode
from ..core.acl import OPEN_ACL_UNSAFE
from .disk import FILE_DISK
from .snapshot import list_snapshots, looks_complete, read_snapshot_ex
from ..core.tree import DataTree
from .txnlog import (
    DiskFormatError,
    LogReader,
    TornTail,
    list_log_files,
    logs_for_zxid,
)


@dataclass
class RecoveryReport:
    snapshot: Optional[str] = None          # the snapshot loaded
    snapshot_zxid: int = -1
    skipped_snapshots: List[Tuple[str, str]] = field(default_factory=list)  # (path, why)
    log_files: List[str] = field(default_factory=list)
    txns_replayed: int = 0
    first_replayed_zxid: int = -1
    last_zxid: int = 0
    torn_tail: Optional[TornTail] = None    # in the newest log file
    skipped_tails: List[TornTail] = field(default_factory=list)  # in older files
    orphan_sessions_killed: List[int] = field(default_factory=list)
    #: Missing zxids within an epoch, as (last zxid seen, next zxid found):
    #: logs purged or lost between the snapshot and the log, or inside the log.
    gaps: List[Tuple[int, int]] = field(default_factory=list)
    fresh: bool = False                     # nothing on disk: a new tree

    def summary(self) -> str:
        parts = []
        if self.fresh:
            parts.append("empty dataDir, fresh tree")
        elif self.snapshot:
            parts.append("snapshot %s (zxid %#x)" % (os.path.basename(self.snapshot),
                                                    self.snapshot_zxid))
        else:
            parts.append("no snapshot, replayed the log onto an empty tree")
        for path, why in self.skipped_snapshots:
            parts.append("skipped %s: %s" % (os.path.basename(path), why))
        parts.append("%d txns replayed, last zxid %#x" % (self.txns_replayed, self.last_zxid))
        if self.torn_tail:
            parts.append("torn log tail in %s at byte %d (%s)" % (
                os.path.basename(self.torn_tail.path), self.torn_tail.offset,
                self.torn_tail.reason))
        for a, b in self.gaps:
            parts.append("GAP in the log: %#x is followed by %#x" % (a, b))
        if self.orphan_sessions_killed:
            parts.append("killed %d orphan sessions" % len(self.orphan_sessions_killed))
        return "; ".join(parts)


def apply_session_txn(sessions: dict, hdr, txn) -> None:
    """What FileTxnSnapLog.processTransaction does to the session table."""
    if hdr.type == OpCode.createSession:
        sessions[hdr.clientId] = txn.timeOut
    elif hdr.type == OpCode.closeSession:
        sessions.pop(hdr.clientId, None)


def recover(data_dir: str, data_log_dir: Optional[str] = None, kill_orphans: bool = True,
            disk=None, max_zxid: Optional[int] = None):
    """``(tree, sessions, last_zxid, report)`` from ``data_dir`` (snapshots) and
    ``data_log_dir`` (txn logs; default ``data_dir``), both the directories that
    hold ``version-2``.  ``max_zxid``: ignore snapshots of a later zxid (after
    a TRUNC, a snapshot taken before the log was cut would bring the cut txns
    back)."""
    data_log_dir = data_dir if data_log_dir is None else data_log_dir
    disk = disk or FILE_DISK
    report = RecoveryReport()
    tree = None
    sessions = {}
    snaps = list_snapshots(data_dir, disk)
    if max_zxid is not None:
        snaps = [(z, p) for z, p in snaps if z <= max_zxid]
    for zxid, path in snaps:
        try:
            s = read_snapshot_ex(path, disk)
        except (DiskFormatError, OSError) as e:
            report.skipped_snapshots.append((path, str(e)))
            continue
        tree, sessions = s.tree, s.sessions
        report.snapshot = path
        report.snapshot_zxid = zxid
        break
    logs = list_log_files(data_log_dir, disk)
    if tree is None:
        if snaps:
            raise DiskFormatError(snaps[0][1], None, "no readable snapshot among %d: %s" % (
                len(snaps), "; ".join(why for _, why in report.skipped_snapshots)))
        tree = DataTree(OPEN_ACL_UNSAFE)
        report.fresh = not logs
        start = 0
    else:
        start = report.snapshot_zxid + 1
    if logs:
        reader = LogReader(data_log_dir, start, disk=disk)
        prev = report.snapshot_zxid if report.snapshot else -1
        for hdr, txn in reader:
            if report.first_replayed_zxid == -1:
                report.first_replayed_zxid = hdr.zxid
            z = hdr.zxid
            # zxid = epoch << 32 | counter; the counter restarts with each epoch.
            if prev >= 0 and z != prev + 1 and (z >> 32) == (prev >> 32):
                report.gaps.append((prev, z))
            prev = z
            apply_session_txn(sessions, hdr, txn)
            tree.apply(hdr, txn)
        report.txns_replayed = reader.count
        report.log_files = reader.files
        report.torn_tail = reader.torn_tail
        report.skipped_tails = reader.skipped_tails
    last_zxid = max(tree.last_zxid, report.snapshot_zxid, 0)
    tree.last_zxid = last_zxid
    if kill_orphans:
        for sid in [s for s in tree.ephemerals if s not in sessions]:
            tree.kill_session(sid, last_zxid, None, [])
            report.orphan_sessions_killed.append(sid)
    report.last_zxid = last_zxid
    return tree, sessions, last_zxid, report


def purge(data_dir: str, data_log_dir: Optional[str] = None, retain_count: int = 3,
          disk=None) -> List[str]:
    """ZooKeeper's PurgeTxnLog: keep the newest ``retain_count`` (>= 3) complete
    snapshots and the logs needed to replay from the oldest kept one; delete
    older snapshots and logs.  Returns the deleted paths.  (Like ZooKeeper it
    does not sync the directories: a purge undone by a crash is harmless.)"""
    if retain_count < 3:
        raise ValueError("retain_count should be greater than or equal to 3")
    data_log_dir = data_dir if data_log_dir is None else data_log_dir
    disk = disk or FILE_DISK
    kept = [(z, p) for z, p in list_snapshots(data_dir, disk)
            if looks_complete(p, disk)][:retain_count]
    if not kept:
        return []
    least = kept[-1][0]
    logs = list_log_files(data_log_dir, disk)
    needed = {p for _, p in logs_for_zxid(logs, least)}
    doomed = [p for z, p in logs if p not in needed and z < least]
    doomed += [p for z, p in list_snapshots(data_dir, disk) if z < least]
    removed = []
    for path in doomed:
        try:
            disk.remove(path)
            removed.append(path)
        except OSError:
            pass
    return removed
