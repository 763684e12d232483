"""The replicator: the one step that differs between standalone and ensemble.

Theory of operation
-------------------
``propose(hdr, txn)`` queues a txn that prep has made.  ``take_batch()`` hands
over everything queued so far; ``persist(batch)`` makes that batch durable with
one ``sync`` (group commit), and the batch is then committed: the caller applies
it to the tree, in order.  ``persist`` is the only blocking call and the only
one that may run off the event loop; while it runs, new proposals gather into
the next batch.

Standalone, "durable" means appended to the transaction log and synced.  In an
ensemble this class is replaced by a ZAB peer with the same calls: propose
sends to the followers, and a batch is committed once a quorum has logged it.

Contract for the caller: apply only batches whose ``persist`` returned, in the
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
        batch = self.pending[: self.max_batch]
        del self.pending[: len(batch)]
        return batch

    def persist(self, batch) -> None:
        log = self.log
        for hdr, txn in batch:
            log.append(hdr, txn)
        if batch:
            log.sync()

    def flush(self) -> list:
        """take_batch + persist, for callers that may block (tests, simulators)."""
        batch = self.take_batch()
        self.persist(batch)
        return batch
