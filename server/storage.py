"""Storage behind a small interface, so tests and a simulator can swap it.

A txn log has ``append(hdr, txn)`` and ``sync()``.  :class:`MemoryLog` keeps
nothing on disk; it is what a server without a dataDir (and the in-process test
stand-in) uses.
"""
from __future__ import annotations


class MemoryLog:
    def __init__(self, keep: bool = False):
        self.keep = keep
        self.entries = []
        self.syncs = 0

    def append(self, hdr, txn) -> None:
        if self.keep:
            self.entries.append((hdr, txn))

    def sync(self) -> None:
        self.syncs += 1
