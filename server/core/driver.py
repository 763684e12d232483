"""The server step: one sans-IO object that decides, under a written contract
for whoever does the I/O.

Theory of operation
-------------------
The core (``ServerCore``) takes requests and produces replies and txns; what
happens to a txn between being proposed and being applied -- append it to the
log, sync it, count it committed -- is decided here and only here.  The
Twisted edge, the unit tests' harness, and (later) an ensemble peer and the
simulator all drive this one object, so there is no second copy of the loop.

Inputs:

* the core's own inputs (``connect``, ``request``, ``conn_lost``), which the
  edge hands to ``driver.core`` directly;
* ``tick(now_ms)``: time passed; sessions past their deadline are expired;
* ``persisted(zxid, now_ms)``: every txn up to ``zxid`` that ``ready()`` handed
  out is durable.

Output: ``ready()`` returns a :class:`Ready` -- data, never a callback:

* ``persist``: txns to append to the log and sync, in order (at most one
  batch is out at a time; the next one gathers meanwhile: group commit);
* ``send``: packets for other servers (always empty standalone);
* ``committed``: txns applied to the tree since the last ``ready()``, in order
  (the edge counts them towards the next snapshot);
* ``conns``: connections whose outbox holds replies, events or a close.

The contract for the caller, as in etcd's raft ``Ready``: persist
``persist`` before reporting ``persisted`` (and, in an ensemble, before
sending an ACK); never apply or answer anything yourself -- the driver applies
a txn only once it is committed; write each of ``conns``' outbox in the order
given.  Standalone, committed means durable in the one log.

An exception from ``persisted`` or ``tick`` is our own bug: the tree may be
half-changed, and the caller must stop serving (``ZooKeeperServer.fail``).
"""
from __future__ import annotations


class Ready:
    __slots__ = ("persist", "send", "committed", "conns")

    def __init__(self, persist, send, committed, conns):
        self.persist = persist
        self.send = send
        self.committed = committed
        self.conns = conns

    def __bool__(self) -> bool:
        return bool(self.persist or self.send or self.committed or self.conns)

    def __repr__(self):
        return "Ready(persist=%d, send=%d, committed=%d, conns=%d)" % (
            len(self.persist), len(self.send), len(self.committed), len(self.conns))


class StandaloneDriver:
    """The degenerate ensemble of one: a txn is committed once it is in the log."""

    def __init__(self, core, replicator):
        self.core = core
        self.replicator = replicator
        self._unsynced = None        # the batch handed out by ready(), not yet persisted
        self._committed = []

    def ready(self, persist: bool = True) -> Ready:
        """What to do now.  ``persist=False`` leaves proposals queued (the
        edge answers reads at once but lets one reactor turn's writes gather
        into one batch before it syncs)."""
        batch = []
        if persist and self._unsynced is None and self.replicator.has_pending():
            batch = self._unsynced = self.replicator.take_batch()
        committed, self._committed = self._committed, []
        return Ready(batch, [], committed, self.core.take_dirty())

    def busy(self) -> bool:
        """A batch is out for persisting."""
        return self._unsynced is not None

    def wants_turn(self) -> bool:
        """``ready`` has more to give on the next turn without any input."""
        return False

    def has_pending(self) -> bool:
        """Proposals wait for the next ``ready()``."""
        return self.replicator.has_pending()

    def persisted(self, zxid: int, now_ms: int) -> None:
        batch = self._unsynced
        if batch is None or batch[-1][0].zxid != zxid:
            raise AssertionError("persisted(%#x) does not match the batch handed out (%s)"
                                 % (zxid, "none" if batch is None
                                    else "%#x" % batch[-1][0].zxid))
        self._unsynced = None
        self.core.commit(batch, now_ms)
        self._committed.extend(batch)

    def tick(self, now_ms: int) -> None:
        self.core.tick(now_ms)
