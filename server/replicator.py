"""The replicator: the one step that differs between standalone and ensemble.

Theory of operation
-------------------
``propose(hdr, txn)`` queues a txn that prep has made.  ``flush()`` makes every
queued txn durable with one ``sync`` (group commit) and returns the batch, which
is now committed: the caller applies it to the tree in order.

Standalone, "durable" means appended to the transaction log and synced.  In an
ensemble this class is replaced by a ZAB peer with the same two calls: propose
sends to the followers, and a batch comes back once a quorum has logged it.

Contract for the caller: apply only what ``flush`` returned, in that order, and
reply to clients only after applying (that is what makes an acknowledged write
survive a crash).
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

    def flush(self) -> list:
        batch = self.pending[: self.max_batch]
        del self.pending[: len(batch)]
        for hdr, txn in batch:
            self.log.append(hdr, txn)
        if batch:
            self.log.sync()
        return batch
