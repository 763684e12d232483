"""server/storage/store.py: one Storage per dataDir, the same scenarios on the real
file system (FileDisk) and on MemoryDisk, whose crashes lose what was not synced.

What a crash may keep is POSIX's durability contract (see tests/unit/test_disk.py);
the formats are Apache ZooKeeper's (tests/unit/test_disk_formats.py).
"""
from __future__ import annotations

import errno
import random
import threading

import pytest

from zkwire.server.core.acl import OPEN_ACL_UNSAFE
from zkwire.server.storage.datadir import DataDir
from zkwire.server.storage.disk import FileDisk, MemoryDisk
from zkwire.server.storage.store import ACCEPTED_EPOCH, CURRENT_EPOCH, Storage
from zkwire.server.core.tree import DataTree
from zkwire.server.storage.txnlog import DiskFormatError, log_name

from .test_disk_formats import assert_same_tree, build_sample, logged


@pytest.fixture(params=["file", "memory"])
def disk_at(request, tmp_path):
    """(disk, a dataDir on it)."""
    if request.param == "file":
        return FileDisk(), str(tmp_path / "data")
    return MemoryDisk(), "/data"


def replayed(txns) -> DataTree:
    tree = DataTree(OPEN_ACL_UNSAFE)
    for hdr, txn in txns:
        tree.apply(hdr, txn)
    return tree


def zxids(storage, from_zxid=0):
    return [(h.zxid, h.type) for h, _ in storage.read_log(from_zxid)]


# --- durability: what a crash keeps ------------------------------------------------------
def test_a_crash_keeps_the_fsynced_batch_and_loses_the_rest():
    """The group-commit contract of server/core/replicator.py on a disk that loses
    unsynced writes: flush() on the loop, the handle's fsync() in a thread
    while the next batch is appended; only the synced batch survives."""
    b = build_sample()
    half = len(b.txns) // 2
    disk = MemoryDisk()
    st = Storage("/data", disk=disk)
    for hdr, txn in b.txns[:half]:
        st.append(hdr, txn)
    handle = st.flush()
    worker = threading.Thread(target=handle.fsync)
    worker.start()
    for hdr, txn in b.txns[half:]:
        st.append(hdr, txn)
    worker.join(10)
    assert not worker.is_alive()
    st.flush()                        # handed to the OS, never synced
    assert zxids(st) == logged(b.txns)
    disk.crash()
    st = Storage("/data", disk=disk)
    tree, sessions, last, report = st.recover()
    assert zxids(st) == logged(b.txns[:half]) and report.torn_tail is None
    assert last == b.txns[half - 1][0].zxid
    assert_same_tree(tree, replayed(b.txns[:half]))
    # And once synced, all of it survives.
    for hdr, txn in b.txns[half:]:
        st.append(hdr, txn)
    st.sync()
    disk.crash()
    tree, sessions, last, report = Storage("/data", disk=disk).recover()
    assert_same_tree(tree, b.tree) and sessions == b.sessions


def test_a_torn_last_write_is_repaired_like_on_a_real_disk():
    """A crash that keeps part of the last, unsynced write: recovery stops at
    the last whole entry and reports the torn tail, and the first append cuts
    it off, as tests/unit/test_disk_formats.py checks on files cut by hand."""
    b = build_sample()
    txns = b.txns[:8]
    torn = whole = 0
    for seed in range(120):
        disk = MemoryDisk()
        st = Storage("/data", disk=disk, prealloc_bytes=1 << 16)
        for hdr, txn in txns[:6]:
            st.append(hdr, txn)
        st.sync()
        for hdr, txn in txns[6:]:
            st.append(hdr, txn)
        st.flush()
        disk.crash(random.Random(seed))
        st = Storage("/data", disk=disk, prealloc_bytes=1 << 16)
        tree, _, last, report = st.recover()
        n = report.txns_replayed
        assert 6 <= n <= 8 and last == txns[n - 1][0].zxid, seed
        assert_same_tree(tree, replayed(txns[:n]))
        if report.torn_tail is not None:
            torn += 1
        if n == 8:
            whole += 1
        for hdr, txn in txns[n:]:
            st.append(hdr, txn)
        st.sync()
        assert (st.log.repaired_tail is None) == (report.torn_tail is None), seed
        if report.torn_tail is not None:
            assert st.log.repaired_tail.offset == report.torn_tail.offset
        reader = st.read_log()
        assert [(h.zxid, h.type) for h, _ in reader] == logged(txns)
        assert reader.torn_tail is None and reader.skipped_tails == []
    assert torn and whole   # both outcomes happened among the seeds


def test_eio_and_enospc_raise_so_the_server_can_stop():
    b = build_sample()
    disk = MemoryDisk()
    st = Storage("/data", disk=disk, prealloc_bytes=1 << 16)
    st.append(*b.txns[0])
    st.sync()
    disk.fail("write", errno.EIO)
    st.append(*b.txns[1])
    with pytest.raises(OSError) as e:
        st.flush()
    assert e.value.errno == errno.EIO
    disk.fail("fsync", errno.EIO)
    st2 = Storage("/data2", disk=disk, prealloc_bytes=1 << 16)
    st2.append(*b.txns[0])
    handle = st2.flush()
    with pytest.raises(OSError) as e:
        handle.fsync()
    assert e.value.errno == errno.EIO
    disk.fail("truncate", errno.ENOSPC)   # preallocating the new file
    st3 = Storage("/data3", disk=disk, prealloc_bytes=1 << 16)
    with pytest.raises(OSError) as e:
        st3.append(*b.txns[0])
    assert e.value.errno == errno.ENOSPC


def test_the_server_acknowledges_only_what_survives_and_stops_on_eio():
    """A ZooKeeperServer on a DataDir on MemoryDisk: the session it answered
    survives a crash; when an fsync fails it stops instead of answering."""
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import MemoryReactorClock, StringTransport

    from zkwire import protocol as p
    from zkwire import records as r
    from zkwire.server.core.frontend import CoreConfig
    from zkwire.server.edge.net import ClientProtocol, ZooKeeperServer

    disk = MemoryDisk()

    def connect(srv, clock, port):
        """A client's ConnectRequest; -> the frames the server sent back."""
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", port))
        proto = ClientProtocol(srv)
        proto.makeConnection(transport)
        proto.dataReceived(p.frame(r.ConnectRequest.build(dict(
            protocolVersion=0, lastZxidSeen=0, timeOut=30000, sessionId=0,
            passwd=b"\0" * 16))))
        clock.advance(0)  # the flush the server schedules: log, fsync, commit, reply
        return p.FrameDecoder(max_frame_bytes=1 << 20).feed(transport.value())

    def serve():
        clock = MemoryReactorClock()
        srv = ZooKeeperServer(clock, CoreConfig(tick_ms=500), host="127.0.0.1", port=0,
                              datadir=DataDir("/data", disk=disk, prealloc_bytes=1 << 16))
        srv.start()
        return clock, srv

    clock, srv = serve()
    [frame] = connect(srv, clock, 10000)
    sid = r.ConnectResponse.parse(frame).sessionId
    disk.crash()
    clock, srv = serve()
    assert sid in srv.core.sessions.sessions
    disk.fail("fsync", errno.EIO)
    assert connect(srv, clock, 10001) == []
    assert srv.fatal_error is not None and "Input/output error" in srv.fatal_error
    srv.stop()


# --- truncation (TRUNC) ------------------------------------------------------------------
def _three_files(disk, base):
    b = build_sample()
    st = Storage(base, disk=disk, prealloc_bytes=1 << 16)
    for i, (hdr, txn) in enumerate(b.txns):
        if i in (8, 16):
            st.roll()
        st.append(hdr, txn)
    st.sync()
    return b, st


def test_truncate_to_across_log_files(disk_at):
    disk, base = disk_at
    b, st = _three_files(disk, base)
    z = b.txns[11][0].zxid
    result = st.truncate_to(z)
    assert result.last_zxid == z and result.dropped == len(b.txns) - 12
    assert [n.rsplit("/", 1)[-1] for n in result.removed] == [log_name(b.txns[16][0].zxid)]
    assert result.cut[0].endswith(log_name(b.txns[8][0].zxid))
    assert zxids(st) == logged(b.txns[:12])
    tree, sessions, last, _ = Storage(base, disk=disk).recover()
    assert last == z
    assert_same_tree(tree, replayed(b.txns[:12]))
    # The log goes on after the cut, in a new file named after the next zxid.
    for hdr, txn in b.txns[12:]:
        st.append(hdr, txn)
    st.sync()
    assert st.log.current_path.endswith(log_name(b.txns[12][0].zxid))
    assert zxids(st) == logged(b.txns)
    # At a file boundary nothing is cut; past the end nothing changes at all.
    z = b.txns[7][0].zxid
    result = st.truncate_to(z)
    assert result.cut is None and len(result.removed) == 2 and zxids(st) == logged(b.txns[:8])
    result = st.truncate_to(z + 1000)
    assert (result.dropped, result.cut, result.removed, result.last_zxid) == (0, None, [], z)
    # Entries still buffered in the log are written, then dropped too.
    st.append(*b.txns[8])
    st.truncate_to(z)
    assert zxids(st) == logged(b.txns[:8])
    st.close()
    with pytest.raises(FileNotFoundError):
        Storage(base + "-empty", disk=disk).truncate_to(5)


def test_a_crash_in_the_middle_of_truncate_leaves_a_prefix():
    """Later files go first, newest first, and the cut comes last, each step
    synced: whatever step fails (or a crash stops), the log is a prefix of
    what it was, and truncating again finishes the job."""
    for fault in ("remove", "truncate", "fsync"):
        for count in (1, 2):
            disk = MemoryDisk()
            b, st = _three_files(disk, "/data")
            z = b.txns[11][0].zxid
            disk.fail(fault, count=count)
            try:
                st.truncate_to(z)
            except OSError:
                pass
            disk.crash()
            st = Storage("/data", disk=disk)
            got = zxids(st)
            assert got == logged(b.txns)[:len(got)] and len(got) >= 12, (fault, count)
            st.truncate_to(z)
            assert zxids(st) == logged(b.txns[:12])
            disk.crash()
            assert zxids(Storage("/data", disk=disk)) == logged(b.txns[:12])


# --- epoch files -------------------------------------------------------------------------
def test_epoch_files_round_trip_in_zookeepers_format(disk_at):
    """``version-2/currentEpoch`` and ``version-2/acceptedEpoch`` of the dataDir.

    Observed on Debian's Apache ZooKeeper 3.8.0 (/usr/share/java/zookeeper.jar):
    a 3-node ensemble on loopback (QuorumPeerMain, one zoo.cfg and myid per
    node, tests/servers.py's classpath), one kazoo create, then the ensemble
    stopped by PID, restarted, another create, stopped again.  In each node's
    ``<dataDir>/version-2`` both files were present next to log.* and
    snapshot.*: after the first run each held exactly the bytes ``31`` (hex,
    "1"), after the restart ``32`` ("2"): ASCII decimal, no newline, no
    ``.tmp`` file left behind.  Then each file was overwritten by hand with
    "2\\n" (currentEpoch) and "2\\r\\n" (acceptedEpoch) and the ensemble
    restarted: all three nodes started, formed a quorum, served a create and
    rewrote both files as ``33`` ("3"); so a trailing end of line is read as
    part of nothing, as QuorumPeer.readLongFromFile's readLine implies.
    """
    disk, base = disk_at
    st = Storage(base, disk=disk)
    assert st.read_epoch(CURRENT_EPOCH) is None and st.read_epoch(ACCEPTED_EPOCH) is None
    st.write_epoch(CURRENT_EPOCH, 1)
    st.write_epoch(ACCEPTED_EPOCH, 2)
    v2 = base + "/version-2"
    assert disk.read(v2 + "/currentEpoch") == b"1"
    assert disk.read(v2 + "/acceptedEpoch") == b"2"
    assert sorted(disk.listdir(v2)) == ["acceptedEpoch", "currentEpoch"]
    assert (st.read_epoch(CURRENT_EPOCH), st.read_epoch(ACCEPTED_EPOCH)) == (1, 2)
    st.write_epoch(CURRENT_EPOCH, 0x7FFFFFFF)
    assert disk.read(v2 + "/currentEpoch") == b"2147483647"
    st.write_epoch(CURRENT_EPOCH, -1)   # Long.toString
    assert disk.read(v2 + "/currentEpoch") == b"-1" and st.read_epoch(CURRENT_EPOCH) == -1
    for raw, want in ((b"2\n", 2), (b"2\r\n", 2), (b"3\rjunk", 3), (b"+4", 4)):
        disk.write_atomic(v2 + "/currentEpoch", raw)
        assert st.read_epoch(CURRENT_EPOCH) == want, raw
    for raw in (b"", b" 2", b"2 ", b"0x2", b"two", b"\n2", b"9223372036854775808"):
        disk.write_atomic(v2 + "/currentEpoch", raw)
        with pytest.raises(DiskFormatError):
            st.read_epoch(CURRENT_EPOCH)
    with pytest.raises(ValueError):
        st.write_epoch(CURRENT_EPOCH, 1 << 63)


def test_an_epoch_write_is_atomic_across_crashes():
    disk = MemoryDisk()
    st = Storage("/data", disk=disk)
    st.write_epoch(ACCEPTED_EPOCH, 5)
    disk.crash()
    assert st.read_epoch(ACCEPTED_EPOCH) == 5
    disk.fail("rename")
    with pytest.raises(OSError):
        st.write_epoch(ACCEPTED_EPOCH, 6)
    disk.crash(random.Random(1))
    assert st.read_epoch(ACCEPTED_EPOCH) == 5
    assert sorted(disk.listdir("/data/version-2")) == ["acceptedEpoch"]


# --- the same operations, the same result, on both disks -------------------------------
def _run(disk, base):
    """A server's life through DataDir: start on an empty dataDir, log, take
    a snapshot in slices while logging goes on, log more, stop; start again."""
    b = build_sample()
    dd = DataDir(base, disk=disk, prealloc_bytes=1 << 16, snap_count=10, rng=random.Random(3))
    dd.recover()
    half = len(b.txns) // 2
    for hdr, txn in b.txns[:half]:
        dd.log.append(hdr, txn)
    dd.log.sync()
    tree = replayed(b.txns[:half])
    capture = dd.begin_snapshot(tree, {k: v for k, v in b.sessions.items()})
    while not capture.step(3):
        pass
    for hdr, txn in b.txns[half:]:
        dd.log.append(hdr, txn)
    dd.save(capture)
    dd.log.sync()
    dd.close()
    dd = DataDir(base, disk=disk, prealloc_bytes=1 << 16)
    tree, sessions = dd.recover()
    files = {name: disk.read(dd.data_dir + "/version-2/" + name)
             for name in sorted(disk.listdir(dd.data_dir + "/version-2"))}
    return tree, sessions, dd.report, files


def test_recovery_on_memory_disk_matches_the_file_disk(tmp_path):
    tree_f, sessions_f, report_f, files_f = _run(FileDisk(), str(tmp_path / "data"))
    tree_m, sessions_m, report_m, files_m = _run(MemoryDisk(), "/data")
    assert_same_tree(tree_f, tree_m)
    assert_same_tree(tree_m, build_sample().tree)
    assert sessions_f == sessions_m
    assert (report_f.txns_replayed, report_f.last_zxid, report_f.snapshot_zxid) == \
        (report_m.txns_replayed, report_m.last_zxid, report_m.snapshot_zxid)
    # Byte for byte the same files: the memory disk holds ZooKeeper's format too.
    assert list(files_f) == list(files_m) and files_f == files_m
    assert any(n.startswith("snapshot.") for n in files_m) and any(
        n.startswith("log.") for n in files_m)


def test_purge_and_a_failed_snapshot_on_both_disks(disk_at):
    disk, base = disk_at
    b = build_sample()
    st = Storage(base, disk=disk, prealloc_bytes=1 << 16)
    step = len(b.txns) // 6
    for k in range(1, 6):
        for hdr, txn in b.txns[(k - 1) * step:k * step]:
            st.append(hdr, txn)
        st.sync()
        st.save_snapshot(replayed(b.txns[:k * step]), {}, b.txns[k * step - 1][0].zxid)
        st.roll()
    assert len(st.list_snapshots()) == 5
    removed = st.purge(3)
    names = sorted(p.rsplit("/", 1)[-1] for p in removed)
    assert names == sorted(["snapshot.%x" % b.txns[step - 1][0].zxid,
                            "snapshot.%x" % b.txns[2 * step - 1][0].zxid,
                            log_name(b.txns[0][0].zxid), log_name(b.txns[step][0].zxid)])
    tree, _, _, _ = st.recover(kill_orphans=False)  # the snapshots hold no sessions
    assert_same_tree(tree, replayed(b.txns[:5 * step]))
    before = sorted(disk.listdir(base + "/version-2"))
    if isinstance(disk, MemoryDisk):
        disk.fail("rename")
        with pytest.raises(OSError):
            st.save_snapshot(tree, {}, b.txns[-1][0].zxid)
        assert sorted(disk.listdir(base + "/version-2")) == before


def test_a_gzip_snapshot_reads_the_same_from_either_disk(tmp_path):
    """snapshot.compression.method=gz files (see test_disk_formats) stream
    through Disk.open_read like plain ones."""
    import gzip

    b = build_sample()
    mem = MemoryDisk()
    path = Storage("/data", disk=mem).save_snapshot(b.tree, b.sessions, b.tree.last_zxid)
    raw = gzip.compress(mem.read(path))
    mem.write_atomic(path + ".gz", raw)
    mem.remove(path)
    (tmp_path / "version-2").mkdir()
    (tmp_path / "version-2" / (path.rsplit("/", 1)[-1] + ".gz")).write_bytes(raw)
    for disk, base in ((mem, "/data"), (FileDisk(), str(tmp_path))):
        st = Storage(base, disk=disk)
        [(zxid, gz)] = st.list_snapshots()
        s = st.read_snapshot(gz)
        assert zxid == b.tree.last_zxid and s.sessions == b.sessions
        assert_same_tree(s.tree, b.tree)
