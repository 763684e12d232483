"""Storage behind a small interface, so tests and a simulator can swap it.

A txn log has ``append(hdr, txn)``, ``flush()`` (hand what was appended to the
OS; returns a handle whose ``fsync()`` makes it durable, and which may run in
another thread) and ``sync()`` (both at once).  A log whose ``blocking``
attribute is true is synced off the event loop.  :class:`MemoryLog` keeps
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
