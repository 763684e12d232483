"""A deterministic simulator of a zkwire ensemble (issue 11, the simulator half).

Theory of operation
-------------------
The ensemble's cores are sans-IO: they take inputs with the time as an
argument and return what to do as data.  The simulator is the I/O half for all
of them at once, in one process, driven by one ``random.Random(seed)``:

* :mod:`.world` -- simulated time (an event queue), a network of FIFO byte
  streams (one per quorum connection direction, per election link direction,
  per client connection direction; delays and reordering across streams,
  never within one), partitions, connection resets, process crashes and
  restarts on :class:`~zkwire.server.storage.disk.MemoryDisk`, slow fsyncs,
  disk errors, pauses and clock jumps.  Each peer is the real
  :class:`~zkwire.server.quorum.peer.QuorumPeer` over the real
  :class:`~zkwire.server.core.frontend.ServerCore` and
  :class:`~zkwire.server.storage.datadir.DataDir`; the world does what the
  Twisted edge (``server/edge/ensemble.py``, ``server/edge/net.py``) does
  with their ``Ready``.
* :mod:`.clients` -- simulated client sessions doing random operations on a
  small key space, reconnecting elsewhere as kazoo would.
* :mod:`.invariants` -- cheap checks after every step (one event): one
  established leader per epoch, agreement and total order of committed txns
  against a reference history, identical trees at the same zxid, no lost
  acknowledged write, replies in order, watch events before the replies that
  show the change, reads that match the history at their zxid.
* :mod:`.linear` -- once a run is over, the clients' history of reads,
  writes, creates and sequential creates on the registers: updates
  linearizable, reads in ZooKeeper's order (FIFO per session, never going
  back, never from the future, possibly stale).
* :mod:`.faults` -- what goes wrong, and when (``--faults``).
* :mod:`.scenarios` -- scripted runs that drive the world to one situation
  (the bugs the simulator found are kept as scenarios).
* :mod:`.runner` -- ``zkwire sim``: many seeds, or one replayed with its trace.

The same seed gives the same run: everything random comes from the seed, and
nothing reads a clock (the trace hash is the same on CPython and PyPy, and
whatever ``PYTHONHASHSEED`` is).

Not modelled yet: partitions between clients and servers (clients only lose
a server when it dies, closes them or a connection is reset), observers
changing roles (``--reconfig`` only removes and adds back the last
participant; each node keeps its last config in force across crashes, as
its dynamic config file), the election port's own
connection handshake (notifications travel on per-pair streams; a peer that
comes back gets its peers' last notifications, as QuorumCnxManager re-sends
them), a purge of old snapshots and logs, the Twisted edge's flow control
(``hold``, globalOutstandingLimit), multi-op reads, ACLs and auth, TTL and
container nodes, exists and getChildren in the history checker (getData is
the read it checks), and shrinking a failing run.
"""
from __future__ import annotations

from .runner import run_seed, SimResult  # noqa: F401
from .world import DEFAULT_FAULTS, FAULTS, SimConfig, World  # noqa: F401
