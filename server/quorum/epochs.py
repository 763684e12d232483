"""A peer's epochs: ``currentEpoch`` and ``acceptedEpoch``, loaded as ZooKeeper loads them.

Theory of operation
-------------------
A zxid is the epoch in its high 32 bits and a counter in its low 32.  A
participant keeps two epochs on disk (``version-2/currentEpoch`` and
``acceptedEpoch``, decimal text; server/storage/store.py reads and writes
them): the epoch it last accepted from a prospective leader (after
LEADERINFO) and the epoch it last synced with (at NEWLEADER).  At start,
ZooKeeper's QuorumPeer.loadDataBase (branch-3.9) applies these rules, and so
do we, so a Java server's dataDir is reused as it is:

* a missing currentEpoch is created with the epoch of the last zxid in the
  log (a dataDir from before epochs were kept, or a standalone one);
* if the last zxid's epoch is newer than currentEpoch, a ``currentEpoch.tmp``
  left by a write that did not finish is taken (and made currentEpoch);
  without one the dataDir is inconsistent and the peer must not start;
* a missing acceptedEpoch is created the same way; an acceptedEpoch older
  than currentEpoch means the dataDir is inconsistent.
"""
from __future__ import annotations

from ..storage.store import ACCEPTED_EPOCH, CURRENT_EPOCH, TMP_SUFFIX


class EpochError(Exception):
    """The epoch files disagree with the log: the peer must not start on them."""


def epoch_of(zxid: int) -> int:
    return zxid >> 32


def counter_of(zxid: int) -> int:
    return zxid & 0xFFFFFFFF


def make_zxid(epoch: int, counter: int) -> int:
    return (epoch << 32) | (counter & 0xFFFFFFFF)


def load_epochs(storage, last_zxid: int):
    """-> (current_epoch, accepted_epoch) for a peer whose log ends at
    ``last_zxid``; writes the files ZooKeeper would write on the way."""
    log_epoch = epoch_of(last_zxid)
    current = storage.read_epoch(CURRENT_EPOCH)
    if current is None:
        current = log_epoch
        storage.write_epoch(CURRENT_EPOCH, current)
    if log_epoch > current:
        pending = storage.read_epoch(CURRENT_EPOCH + TMP_SUFFIX)
        if pending is None:
            raise EpochError("the current epoch, %d, is older than the last zxid, %#x"
                             % (current, last_zxid))
        current = pending
        storage.write_epoch(CURRENT_EPOCH, current)
    accepted = storage.read_epoch(ACCEPTED_EPOCH)
    if accepted is None:
        accepted = log_epoch
        storage.write_epoch(ACCEPTED_EPOCH, accepted)
    if accepted < current:
        raise EpochError("the accepted epoch, %d, is less than the current epoch, %d"
                         % (accepted, current))
    return current, accepted
