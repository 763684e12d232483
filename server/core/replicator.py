"""The replicator: the one step that differs between standalone and ensemble.

Theory of operation
-------------------
``propose(hdr, txn)`` queues a txn that prep has made.  ``take_batch()`` hands
over everything queued so far.  Making a batch durable has two halves:
``write(batch)`` appends it to the log and hands the bytes to the OS (cheap,
on the event loop), and returns a handle whose ``fsync()`` makes them durable
with one sync for the whole batch (group commit).  ``fsync()`` is the only
blocking call and the only one that may run off the event loop; while it runs,
new proposals gather into the next batch.  ``persist(batch)`` does both halves
in one call, for callers that may block (tests, simulators).

Standalone, "durable" means appended to the transaction log and synced.  In an
ensemble this class is replaced by a ZAB peer with the same calls: propose
sends to the followers, and a batch is committed once a quorum has logged it.

Contract for the caller: apply only batches whose ``fsync`` returned, in the
order they were taken, and reply to clients only after applying (that is what
makes an acknowledged write survive a crash).
"""
from __future__ import annotations


class StandaloneReplicator:
    def __init__(self, log, max_batch: int = 10000):
        self.log = log
        self.max_batch = max_batch
        self.pending = []

    def propose(self, hdr, txn) -> None:
        self.pending.append((hdr, txn))

    def has_pending(self) -> bool:
        return bool(self.pending)

    def take_batch(self) -> list:
        if len(self.pending) <= self.max_batch:
            batch, self.pending = self.pending, []
            return batch
        batch = self.pending[: self.max_batch]
        del self.pending[: len(batch)]
        return batch

    def write(self, batch):
        """Append ``batch`` to the log; -> the handle whose ``fsync()`` makes it durable."""
        log = self.log
        append = log.append
        for hdr, txn in batch:
            append(hdr, txn)
        return log.flush()

    def persist(self, batch) -> None:
        self.write(batch).fsync()

    def flush(self) -> list:
        """take_batch + persist, for callers that may block (tests, simulators)."""
        batch = self.take_batch()
        if batch:
            self.persist(batch)
        return batch
