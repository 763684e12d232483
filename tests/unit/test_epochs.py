"""zkwire.server.quorum.epochs: the load rules of ZooKeeper's
QuorumPeer.loadDataBase (branch-3.9) for currentEpoch / acceptedEpoch, on a
MemoryDisk (the file format itself is tests/unit/test_storage.py's)."""
from __future__ import annotations

import pytest

from zkwire.server.quorum.epochs import EpochError, epoch_of, load_epochs, make_zxid
from zkwire.server.storage.disk import MemoryDisk
from zkwire.server.storage.store import ACCEPTED_EPOCH, CURRENT_EPOCH, TMP_SUFFIX, Storage


@pytest.fixture
def st():
    return Storage("/data", disk=MemoryDisk())


def test_zxid_layout():
    z = make_zxid(3, 0x1A)
    assert z == 0x30000001A and epoch_of(z) == 3
    assert make_zxid(2, 1 << 32) == 0x200000000       # the counter is 32 bits


def test_missing_files_take_the_epoch_of_the_last_zxid_and_are_written(st):
    assert load_epochs(st, make_zxid(4, 9)) == (4, 4)
    assert (st.read_epoch(CURRENT_EPOCH), st.read_epoch(ACCEPTED_EPOCH)) == (4, 4)
    assert st.disk.read("/data/version-2/currentEpoch") == b"4"


def test_epochs_on_disk_win_when_consistent(st):
    st.write_epoch(CURRENT_EPOCH, 5)
    st.write_epoch(ACCEPTED_EPOCH, 6)        # accepted a new leader, not yet synced
    assert load_epochs(st, make_zxid(5, 1)) == (5, 6)


def test_a_log_newer_than_current_epoch_needs_the_tmp_file(st):
    st.write_epoch(CURRENT_EPOCH, 1)
    st.write_epoch(ACCEPTED_EPOCH, 2)
    with pytest.raises(EpochError):
        load_epochs(st, make_zxid(2, 3))
    st.write_epoch(CURRENT_EPOCH + TMP_SUFFIX, 2)   # a write that did not finish
    assert load_epochs(st, make_zxid(2, 3)) == (2, 2)
    assert st.read_epoch(CURRENT_EPOCH) == 2


def test_accepted_older_than_current_refuses(st):
    st.write_epoch(CURRENT_EPOCH, 3)
    st.write_epoch(ACCEPTED_EPOCH, 2)
    with pytest.raises(EpochError):
        load_epochs(st, make_zxid(3, 1))


def test_a_failed_epoch_write_keeps_the_mark_of_the_unfinished_update(st):
    """Was a bug the simulator found (zkwire sim --seed 400062 --faults all):
    a learner marks the currentEpoch update it has begun (currentEpoch.tmp,
    the file ZooKeeper's load rule reads); on the next start, writing
    currentEpoch hit a full disk, and the failed write removed its
    temporary -- the mark itself -- so every later start refused the
    dataDir (EpochError).  The mark now outlives a failed write."""
    import errno

    st.write_epoch(CURRENT_EPOCH, 2)
    st.write_epoch(ACCEPTED_EPOCH, 3)
    st.begin_epoch_update(CURRENT_EPOCH, 3)
    st.disk.fail("write", errno.ENOSPC)
    with pytest.raises(OSError):
        load_epochs(st, make_zxid(3, 6))     # the log reached epoch 3 meanwhile
    assert st.read_epoch(CURRENT_EPOCH + TMP_SUFFIX) == 3
    assert load_epochs(st, make_zxid(3, 6)) == (3, 3)
    assert st.read_epoch(CURRENT_EPOCH) == 3
    assert st.read_epoch(CURRENT_EPOCH + TMP_SUFFIX) is None   # consumed once written
