"""The simulated world: time, network, disks and processes around real peers.

Theory of operation
-------------------
Time is an event queue of ``(t_us, seq, callback, args)``: popping one event
and running it is one *step*; invariants are checked after each.  ``seq``
breaks ties in the order events were scheduled, so one seed gives one run.
Peers see milliseconds (``t_us // 1000`` plus the peer's clock offset, which
only ever jumps forward, as a monotonic clock may after a suspend).

The network is made of :class:`Stream` s, one per direction of a connection:
what is written to a stream arrives in order, each item after a random delay
but never before the item written before it, so a TCP stream is never
reordered while two streams are, freely.  A cut path (a partition; one-way
cuts are asymmetric partitions) holds a stream's items, as TCP retransmits,
and lets them through in order once the path heals; an endpoint that is
gone answers data with a reset, as a kernel does, unless its machine is off.

* Quorum connections (:class:`QuorumLink`): a learner dials the leader's
  quorum port on ``("dial", ...)``; the accepting side follows
  ``server/edge/ensemble.py``: a connection that comes before the peer leads
  waits (its bytes buffered) until the peer leads, follows someone else, or
  initLimit passes; a refused or unreachable dial is retried every 100 ms for
  initLimit ticks, then reported lost.  Bytes go through the real
  :class:`~zkwire.server.quorum.packets.QuorumStreamDecoder`, sometimes split
  in two pieces.
* Election links: one stream per ordered pair of peers, each notification
  encoded and decoded by the real codec.  What is sent over a cut path or to
  a peer that is down is dropped; the last one dropped is delivered when the
  path heals or the peer comes back (QuorumCnxManager re-sends its last
  message on a new connection).
* Client connections: see :mod:`.clients`; clients are never partitioned
  from a live server in this version.

A peer (:class:`Node`) is the server of ``zkwire serve`` with server.N lines:
a :class:`~zkwire.server.storage.datadir.DataDir` on the node's
:class:`~zkwire.server.storage.disk.MemoryDisk`, a front end, a
:class:`~zkwire.server.quorum.peer.QuorumPeer`, and the edge's loop
(``after_input`` / ``flush`` / fsync / ``persisted`` / snapshot policy) done
by the world exactly as ``server/edge/net.py`` does it.  An ``OSError`` out
of the server (an injected disk fault) stops that process, as the edge's
``fail`` does; any other exception out of the server is a bug, reported as a
violation.  A crash (``kill -9``) keeps the page cache; a power cut
(``disk.crash(rng)``) keeps only what was synced, maybe a torn last write.
A stopped peer restarts later from its disk: recovery, a new front end and a
new QuorumPeer, exactly as a process start.
"""
from __future__ import annotations

import heapq
import hashlib
import random
import traceback
from collections import deque

from zkwire.server.core.frontend import CoreConfig, ServerCore
from zkwire.server.quorum.membership import Member, Membership, OBSERVER, PARTICIPANT
from zkwire.server.quorum.packets import (
    INFORM, LEADING, LOOKING, PROPOSAL, PacketError, QuorumStreamDecoder, decode_notification,
    packet_name,
)
from zkwire.server.quorum.peer import QuorumPeer
from zkwire.server.storage.datadir import DataDir
from zkwire.server.storage.disk import MemoryDisk
from zkwire.server.storage.txnlog import DiskFormatError

#: Every fault the world knows; ``--faults`` picks among them.
FAULTS = ("reset", "partition", "crash", "power", "fsync", "disk", "pause", "clock", "corrupt")
#: What a run injects unless told otherwise: all but media corruption (a
#: flipped byte in a synced log is a failure Zab does not promise to survive).
DEFAULT_FAULTS = tuple(f for f in FAULTS if f != "corrupt")

DATA_DIR = "/data"
_TXN_PACKETS = (PROPOSAL, INFORM)


class SimConfig:
    def __init__(self, members=3, observers=0, steps=5000, faults=DEFAULT_FAULTS, clients=3,
                 tick_ms=100, init_limit=10, sync_limit=5, snap_count=40,
                 fault_interval_ms=1000, stop_on_violation=True, snap_slice_nodes=2,
                 recursive_watches=False, reconfig=False):
        self.members = members
        #: Clients also hold a persistent recursive watch on "/" (addWatch,
        #: restored by SetWatches2 on reconnect), and the checker holds its
        #: events to the chosen history.  Off by default: it changes what
        #: every seed's clients do.
        self.recursive_watches = recursive_watches
        #: reconfigEnabled (ACL checks off): clients now and then remove or
        #: add back the last participant with a reconfig; each node keeps
        #: the config it last put in force across crashes, as the dynamic
        #: config file does.
        self.reconfig = reconfig
        #: A leader's SNAP capture copies this many nodes per turn: small, so
        #: the simulated trees (tens of nodes) are captured over several
        #: turns, with txns applied in between (a fuzzy snapshot).
        self.snap_slice_nodes = snap_slice_nodes
        self.observers = observers
        self.steps = steps
        self.faults = tuple(faults)
        unknown = [f for f in self.faults if f not in FAULTS]
        if unknown:
            raise ValueError("unknown faults: %s (known: %s)" % (", ".join(unknown),
                                                                  ", ".join(FAULTS)))
        self.clients = clients
        self.tick_ms = tick_ms
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.snap_count = snap_count
        self.fault_interval_ms = fault_interval_ms
        self.stop_on_violation = stop_on_violation


def membership(voters: int, observers: int = 0) -> Membership:
    members = {}
    for sid in range(1, voters + observers + 1):
        role = PARTICIPANT if sid <= voters else OBSERVER
        members[sid] = Member(sid, "10.0.0.%d" % sid, 2888, 3888, role, "0.0.0.0", 2181)
    return Membership(members)


class SimCore(ServerCore):
    """The front end, with one hook for the checker: each txn it applies (one
    at a time, so the checker sees the state each one applies to)."""

    sim_node = None

    def commit(self, batch, now_ms: int) -> None:
        node = self.sim_node
        for item in batch:
            prev = self.tree.last_zxid
            ServerCore.commit(self, [item], now_ms)
            if node is not None:
                node.world.checker.on_apply(node, prev, item[0], item[1])


# --- the network ---------------------------------------------------------------------------

class Stream:
    """One direction of a connection: FIFO, held while its path is cut."""

    __slots__ = ("world", "src", "dst", "deliver", "last_us", "held", "name")

    def __init__(self, world, src, dst, deliver, name):
        self.world = world
        self.src = src          # node sid, or None for a client (never cut)
        self.dst = dst
        self.deliver = deliver  # callback(item)
        self.last_us = 0
        self.held = []
        self.name = name

    def send(self, item) -> None:
        w = self.world
        if self.held or w.cut(self.src, self.dst):
            if not self.held:
                w.held_streams.append(self)
            self.held.append(item)
            return
        self._schedule(item)

    def _schedule(self, item) -> None:
        w = self.world
        t = max(w.t_us + w.delay_us(), self.last_us)
        self.last_us = t
        w.schedule_at(t, self.deliver, item)

    def release(self) -> bool:
        """The path healed: what was held goes, in order.  False: still cut."""
        if self.world.cut(self.src, self.dst):
            return False
        held, self.held = self.held, []
        for item in held:
            self._schedule(item)
        return True


class QuorumLink:
    """A learner's connection to a leader's quorum port.

    ``up`` carries the learner's bytes to the leader, ``down`` the leader's to
    the learner.  Control items on a stream: ``("syn-ack",)`` (first on
    ``down``: the learner's connect completed), ``("fin",)`` and
    ``("rst",)``."""

    def __init__(self, world, learner, leader):
        self.world = world
        self.id = world.new_id()
        self.learner = learner
        self.leader = leader
        self.learner_inc = learner.inc
        self.leader_inc = None
        self.learner_open = True      # the learner side's socket
        self.learner_connected = False
        self.leader_open = False      # the leader side's socket (once accepted)
        self.lid = None
        self.adopted = False
        self.early = []
        self.since_ms = 0
        self.up = Stream(world, learner.sid, leader.sid, self._at_leader,
                         "q%d:%d>%d" % (self.id, learner.sid, leader.sid))
        self.down = Stream(world, leader.sid, learner.sid, self._at_learner,
                           "q%d:%d>%d" % (self.id, leader.sid, learner.sid))
        self.dec_at_leader = QuorumStreamDecoder(from_leader=False)
        self.dec_at_learner = QuorumStreamDecoder(from_leader=True)

    def __repr__(self):
        return "<link %d %d->%d>" % (self.id, self.learner.sid, self.leader.sid)

    def _learner_live(self) -> bool:
        return self.learner.alive and self.learner.inc == self.learner_inc

    def _leader_live(self) -> bool:
        return self.leader.alive and self.leader.inc == self.leader_inc

    # --- the learner's end ------------------------------------------------------------
    def _at_learner(self, item) -> None:
        node = self.learner
        if not self.learner_open or not self._learner_live():
            self._bounce(node, self.up, item)
            return
        node.run(self._learner_input, item)

    def _learner_input(self, item) -> None:
        node = self.learner
        w = self.world
        if type(item) is tuple:
            kind = item[0]
            if kind == "syn-ack":
                if node.leader_link is not self:
                    self.close_learner_side(rst=True)
                    return
                self.learner_connected = True
                w.trace(node.sid, "connected", self.id, self.leader.sid)
                node.peer.leader_connected(node.now_ms())
                return
            self.learner_open = False
            w.trace(node.sid, "leader-conn-" + kind, self.id)
            if node.leader_link is self:
                if not self.learner_connected:
                    node.dial_failed_now("refused")
                    return
                node.leader_link = None
                node.dial_target = None
                node.peer.leader_connection_lost(node.now_ms())
            return
        try:
            packets = self.dec_at_learner.feed(item)
        except PacketError as e:
            w.checker.violation("node %d cannot decode its leader's bytes: %s" % (node.sid, e))
            self.close_learner_side(rst=True)
            return
        now = node.now_ms()
        for pkt in packets:
            w.trace_packet(self.leader.sid, node.sid, pkt)
            if getattr(pkt, "type", None) in _TXN_PACKETS:
                w.checker.on_proposal(node, pkt)
            node.peer.leader_packet(pkt, now)

    def close_learner_side(self, rst=False) -> None:
        if not self.learner_open:
            return
        self.learner_open = False
        self.up.send(("rst",) if rst else ("fin",))

    # --- the leader's end -------------------------------------------------------------
    def accept(self) -> None:
        """The learner's SYN reached the leader's quorum port."""
        node = self.leader
        self.leader_inc = node.inc
        self.leader_open = True
        self.since_ms = node.now_ms()
        self.lid = node.new_lid()
        node.waiting_learners[self.lid] = self
        self.down.send(("syn-ack",))
        node.adopt_learners()

    def _at_leader(self, item) -> None:
        node = self.leader
        if type(item) is tuple and item[0] == "syn":
            if node.alive:
                node.run(self.accept)
            elif node.machine_up:
                self.down.send(("rst",))
            return
        if not self.leader_open or not self._leader_live():
            self._bounce(node, self.down, item)
            return
        node.run(self._leader_input, item)

    def _leader_input(self, item) -> None:
        node = self.leader
        w = self.world
        if type(item) is tuple:
            self.leader_open = False
            w.trace(node.sid, "learner-conn-" + item[0], self.id, self.lid)
            node.waiting_learners.pop(self.lid, None)
            if self.adopted and node.learners.pop(self.lid, None) is not None:
                node.peer.learner_lost(self.lid, node.now_ms())
            return
        if not self.adopted:
            self.early.append(item)
            return
        self._leader_bytes(item)

    def _leader_bytes(self, data) -> None:
        node = self.leader
        w = self.world
        try:
            packets = self.dec_at_leader.feed(data)
        except PacketError as e:
            w.checker.violation("node %d cannot decode learner %d's bytes: %s"
                                % (node.sid, self.learner.sid, e))
            self.close_leader_side(rst=True)
            return
        now = node.now_ms()
        for pkt in packets:
            w.trace_packet(self.learner.sid, node.sid, pkt)
            node.peer.learner_packet(self.lid, pkt, now)

    def adopt(self) -> bool:
        node = self.leader
        if not node.peer.learner_connected(self.lid, node.now_ms(),
                                           "10.0.0.%d:%d" % (self.learner.sid, self.id)):
            return False
        self.adopted = True
        node.learners[self.lid] = self
        early, self.early = self.early, []
        for data in early:
            self._leader_bytes(data)
        return True

    def close_leader_side(self, rst=False) -> None:
        if not self.leader_open:
            return
        self.leader_open = False
        node = self.leader
        node.waiting_learners.pop(self.lid, None)
        node.learners.pop(self.lid, None)
        self.down.send(("rst",) if rst else ("fin",))

    # --- either end -------------------------------------------------------------------
    def _bounce(self, node, back, item) -> None:
        """Data for a socket that is gone: the kernel answers with a reset
        (a machine that is off answers nothing)."""
        if type(item) is tuple or not node.machine_up:
            return
        back.send(("rst",))

    def process_died(self, node) -> None:
        """``node``'s process is gone: its kernel closes its end (no reset
        from a machine that lost power)."""
        if node is self.learner and self.learner_open and self.learner_inc == node.inc:
            self.learner_open = False
            if node.machine_up:
                self.up.send(("rst",))
        if node is self.leader and self.leader_open and self.leader_inc == node.inc:
            self.leader_open = False
            if node.machine_up:
                self.down.send(("rst",))

    def reset(self) -> None:
        """A middlebox reset: both ends hear of it."""
        if self.learner_open:
            self.world.schedule(self.world.delay_us(), self._at_learner, ("rst",))
        if self.leader_open:
            self.world.schedule(self.world.delay_us(), self._at_leader, ("rst",))


# --- the peers -----------------------------------------------------------------------------

class Node:
    """One ensemble member: a process (``alive``) on a machine with a disk."""

    def __init__(self, world, sid):
        self.world = world
        self.sid = sid
        self.disk = MemoryDisk()
        #: The config this node last put in force (its dynamic config file).
        self.config = None
        self.inc = 0
        self.alive = False
        self.machine_up = True
        self.failed = False          # stopped by a bug: stays down
        self.clock_ms = 0            # offset of this machine's clock
        self.paused_until_us = 0
        self.deferred = []
        self.slow_fsync_until_us = 0
        self.fsync_delay_us = None        # scenarios: every fsync takes exactly this long
        self.peer = None
        self.core = None
        self.datadir = None
        self.storage = None
        self.last_report = None
        self.corrupted = False
        self._reset_process_state()

    def _reset_process_state(self):
        self.learners = {}           # lid -> QuorumLink (handed to the peer)
        self.waiting_learners = {}   # lid -> QuorumLink (accepted before we lead)
        self.leader_link = None
        self.dial_target = None
        self.dial_first_ms = 0
        self.dial_token = 0
        self.next_lid = 1
        self.flush_scheduled = False
        self.fsync_in_flight = None
        self.capture = None
        self.client_conns = {}       # core conn cid -> clients.ClientLink

    def __repr__(self):
        return "<node %d inc %d%s>" % (self.sid, self.inc, "" if self.alive else " down")

    def now_ms(self) -> int:
        return self.world.t_us // 1000 + self.clock_ms

    def new_lid(self) -> int:
        lid = self.next_lid
        self.next_lid += 1
        return lid

    @property
    def paused(self) -> bool:
        return self.paused_until_us > self.world.t_us

    # --- running code of this process ----------------------------------------------
    def run(self, fn, *args, after=True) -> None:
        """Run ``fn`` as this process (deferred while it is paused), then do
        the edge's ``after_input``.  OSError (an injected disk fault) stops
        the process; anything else is a bug in the server."""
        if not self.alive:
            return
        if self.paused:
            self.deferred.append((self.inc, fn, args, after))
            return
        self._call(fn, *args, after=after)

    def _call(self, fn, *args, after=True) -> None:
        w = self.world
        prev, w.current = w.current, self.sid
        try:
            fn(*args)
            if after:
                self.after_input()
        except OSError as e:
            self.world.trace(self.sid, "disk-error", str(e))
            self.stop("disk error: %s" % e)
        except DiskFormatError as e:
            if not self.corrupted:
                w.checker.violation("exception in node %d: %s: %s\n%s" % (
                    self.sid, type(e).__name__, e, traceback.format_exc()))
            # A corrupted disk: the server refuses it, as ZooKeeper does.
            self.failed = True
            self.stop("unreadable dataDir: %s" % e, restart=False)
        except Exception as e:
            w.checker.violation("exception in node %d: %s: %s\n%s" % (
                self.sid, type(e).__name__, e, traceback.format_exc()))
            self.failed = True
            self.stop("internal error", restart=False)
        finally:
            w.current = prev

    def resume(self) -> None:
        deferred, self.deferred = self.deferred, []
        self.world.trace(self.sid, "resume", len(deferred))
        for inc, fn, args, after in deferred:
            if inc != self.inc or not self.alive:
                continue
            self._call(fn, *args, after=after)
        if self.alive:
            self._call(self._tick_now)

    # --- process life ----------------------------------------------------------------
    def boot(self) -> None:
        w = self.world
        cfg = w.config
        self.inc += 1
        self._reset_process_state()
        self.machine_up = True
        now = self.now_ms()
        try:
            self.datadir = DataDir(DATA_DIR, disk=self.disk, prealloc_bytes=4096,
                                   snap_count=cfg.snap_count,
                                   rng=random.Random(w.rng.getrandbits(64)))
            storage = self.storage = self.datadir.storage
            real_recover = storage.recover

            def recover(*a, **kw):
                result = real_recover(*a, **kw)
                self.last_report = result[3]
                return result

            storage.recover = recover
            tree, sessions = self.datadir.recover()
        except OSError as e:
            w.trace(self.sid, "boot-failed", str(e))
            w.schedule(w.rng.randint(200, 1000) * 1000, self.restart)
            return
        except DiskFormatError as e:
            if self.corrupted:
                # A corrupted log may leave the server unable to start, as it
                # leaves ZooKeeper: this member stays down.
                w.trace(self.sid, "unrecoverable", str(e))
                self.failed = True
                return
            w.checker.violation("node %d cannot recover its dataDir after a crash: %s"
                                % (self.sid, e))
            self.failed = True
            return
        except Exception as e:
            w.checker.violation("exception recovering node %d: %s: %s\n%s" % (
                self.sid, type(e).__name__, e, traceback.format_exc()))
            self.failed = True
            return
        core = self.core = SimCore(CoreConfig(tick_ms=cfg.tick_ms, server_id=self.sid,
                                              reconfig_enabled=cfg.reconfig,
                                              skip_acl=cfg.reconfig), None,
                                   now, tree=tree)
        core.sim_node = self
        for sid, timeout_ms in sessions.items():
            core.sessions.add(sid, timeout_ms, now)
        self.alive = True
        w.trace(self.sid, "boot", self.inc, "%#x" % tree.last_zxid)
        try:
            self.peer = _new_peer(core, storage, self.sid, self.config or w.membership, now, cfg)
        except Exception as e:
            w.checker.violation("exception starting node %d: %s: %s\n%s" % (
                self.sid, type(e).__name__, e, traceback.format_exc()))
            self.failed = True
            self.alive = False
            return
        w.checker.on_boot(self)
        w.election_peer_started(self.sid)
        self._call(self.peer.start, now)
        self._schedule_tick()

    def restart(self) -> None:
        if self.alive or self.failed:
            return
        self.boot()

    def stop(self, why: str, power: bool = False, restart: bool = True, torn: bool = True) -> None:
        """The process ends (``power``: the machine loses power, and the disk
        what it had not synced; ``torn``: maybe keeping part of it, as a
        disk may)."""
        if not self.alive:
            return
        w = self.world
        w.trace(self.sid, "stop", why, "power" if power else "process")
        self.alive = False
        self.deferred = []
        self.paused_until_us = 0
        if power:
            self.machine_up = False
        for link in list(self.learners.values()) + list(self.waiting_learners.values()):
            link.process_died(self)
        if self.leader_link is not None:
            self.leader_link.process_died(self)
        for cl in list(self.client_conns.values()):
            cl.server_died(self)
        self._reset_process_state()
        if power:
            self.disk.crash(w.rng if torn else None)
            # What its kernel had not sent yet is gone with it.
            for stream in w.held_streams:
                if stream.src == self.sid:
                    stream.held = []
        w.checker.on_stop(self)
        w.election_peer_stopped(self.sid)
        self.peer = None
        if restart and not self.failed:
            w.schedule(w.rng.randint(100, 3000) * 1000, self.restart)

    # --- time ----------------------------------------------------------------------
    def _schedule_tick(self) -> None:
        w = self.world
        interval_ms = max(10, min(100, w.config.tick_ms // 2))
        w.schedule(interval_ms * 1000 + w.rng.randint(0, 999), self._tick_event, self.inc)

    def _tick_event(self, inc) -> None:
        if inc != self.inc or not self.alive:
            return
        self._schedule_tick()
        if self.paused:
            return      # the pause ends with one tick (resume)
        self._call(self._tick_now)

    def _tick_now(self) -> None:
        now = self.now_ms()
        self.peer.tick(now)
        self.adopt_learners()

    # --- the edge: output of the peer ------------------------------------------------
    def after_input(self) -> None:
        """``ZooKeeperServer.after_input``: write what is ready now; the
        persist batch waits for the flush a moment later (group commit)."""
        if not self.alive:
            return
        self.world.checker.on_input(self)
        self._emit(self.peer.ready(persist=False))
        if self.alive and not self.flush_scheduled and (self.peer.has_pending()
                                                         or self.peer.wants_turn()):
            self.flush_scheduled = True
            self.world.schedule(0, self._flush_event, self.inc)

    def _flush_event(self, inc) -> None:
        if inc != self.inc:
            return
        self.flush_scheduled = False
        self.run(self.flush, after=False)

    def flush(self) -> None:
        """``ZooKeeperServer.flush``: one batch at a time to the log; its
        fsync completes later (an event), then ``persisted``."""
        peer = self.peer
        if peer is None or peer.busy() or self.fsync_in_flight is not None:
            return
        rd = peer.ready()
        self._emit(rd)
        batch = rd.persist
        if not batch or not self.alive:
            if self.alive and peer.wants_turn() and not self.flush_scheduled:
                # The next slice of a SNAP capture after the reactor's other
                # work: some of it, so txns commit while the capture runs.
                self.flush_scheduled = True
                self.world.schedule(self.world.rng.randint(200, 5000), self._flush_event,
                                    self.inc)
            return
        storage = self.storage
        for hdr, txn in batch:
            storage.append(hdr, txn)
        handle = storage.flush()
        w = self.world
        self.fsync_in_flight = batch
        if self.fsync_delay_us is not None:
            delay = self.fsync_delay_us
        elif self.slow_fsync_until_us > w.t_us:
            delay = w.rng.randint(20, 900) * 1000
        else:
            delay = w.rng.randint(100, 3000)
        w.schedule(delay, self._fsync_done, self.inc, handle, batch)

    def _fsync_done(self, inc, handle, batch) -> None:
        if inc != self.inc or not self.alive:
            return
        self.run(self._persisted, handle, batch)

    def _persisted(self, handle, batch) -> None:
        handle.fsync()
        self.fsync_in_flight = None
        last = batch[-1][0].zxid
        self.world.trace(self.sid, "persisted", "%#x" % last)
        self.peer.persisted(last, self.now_ms())
        self.flush()

    def _emit(self, rd) -> None:
        w = self.world
        w.checker.on_ready(self, rd)
        for item in rd.send:
            self._send(item)
            if not self.alive:
                return
        for conn in rd.conns:
            self._flush_conn(conn)
        if rd.committed:
            self._after_commit(len(rd.committed))

    def _flush_conn(self, conn) -> None:
        """``ZooKeeperServer.flush_conn``: write the outbox, then let the core
        answer what waited for that."""
        cl = self.client_conns.get(conn.cid)
        core = self.core
        while True:
            items = conn.outbox
            conn.outbox = []
            conn.out_bytes = 0
            if items:
                if cl is not None:
                    cl.server_output(items)
                elif not conn.closed and any(i[0] == "close" for i in items):
                    core.conn_lost(conn)
            if conn.hold or conn.closed or not conn.queue:
                return
            core.resume(conn, self.now_ms())
            if not conn.outbox:
                return

    def _send(self, item) -> None:
        w = self.world
        kind = item[0]
        if kind == "elect":
            w.send_election(self, item[1], item[2])
        elif kind == "learner":
            link = self.learners.get(item[1])
            if link is None:
                return
            if item[2] is None:
                w.trace(self.sid, "close-learner", link.id, item[1])
                link.close_leader_side()
            else:
                w.send_bytes(link.down, item[2])
        elif kind == "leader":
            link = self.leader_link
            if link is not None and link.learner_connected and link.learner_open:
                w.send_bytes(link.up, item[1])
        elif kind == "dial":
            self.dial_target = item[1]
            self.dial_first_ms = self.now_ms()
            self._dial()
        elif kind == "config":
            # The edge writes the dynamic config file atomically: durable here.
            if item[1] == "committed":
                self.config = item[2]
                w.trace(self.sid, "config", "%#x" % item[2].version)
        elif kind == "hangup":
            self.dial_target = None
            self.dial_token += 1
            link, self.leader_link = self.leader_link, None
            if link is not None:
                w.trace(self.sid, "hangup", link.id)
                link.close_learner_side()
        else:
            raise AssertionError("unknown send item %r" % (item,))

    # --- dialing the leader (server/edge/ensemble.py) -----------------------------------
    def _dial(self) -> None:
        w = self.world
        target = w.nodes[self.dial_target]
        self.dial_token += 1
        link = QuorumLink(w, self, target)
        self.leader_link = link
        w.trace(self.sid, "dial", link.id, target.sid)
        link.up.send(("syn",))
        timeout_ms = max(1000, w.config.tick_ms * w.config.init_limit)
        w.schedule(timeout_ms * 1000, self._dial_timeout, self.inc, self.dial_token, link)

    def _dial_timeout(self, inc, token, link) -> None:
        if inc != self.inc or token != self.dial_token or link.learner_connected:
            return
        self.run(self._dial_timeout_now, link)

    def _dial_timeout_now(self, link) -> None:
        if self.leader_link is not link or link.learner_connected:
            return
        link.learner_open = False
        self.dial_failed_now("timed out")

    def dial_failed_now(self, why) -> None:
        """A connect failed: retry every 100 ms for initLimit ticks, then
        tell the peer (``EnsembleMember.leader_dial_failed``)."""
        self.leader_link = None
        if self.dial_target is None:
            return
        w = self.world
        w.trace(self.sid, "dial-failed", self.dial_target, why)
        if self.now_ms() - self.dial_first_ms < w.config.tick_ms * w.config.init_limit:
            self.dial_token += 1
            w.schedule(100 * 1000, self._redial, self.inc, self.dial_token)
            return
        sid, self.dial_target = self.dial_target, None
        self.peer.leader_connection_lost(self.now_ms(), "cannot reach leader %d: %s"
                                         % (sid, why))

    def _redial(self, inc, token) -> None:
        if inc != self.inc or not self.alive or token != self.dial_token:
            return
        self.run(self._redial_now)

    def _redial_now(self) -> None:
        if self.dial_target is not None and self.leader_link is None:
            self._dial()

    def adopt_learners(self) -> None:
        """``EnsembleMember.adopt_learners``."""
        if not self.waiting_learners or self.peer is None:
            return
        peer = self.peer
        state = peer.state
        limit_ms = peer.tick_ms * peer.init_limit
        now = self.now_ms()
        for lid, link in list(self.waiting_learners.items()):
            if state == LEADING and peer.role is not None:
                del self.waiting_learners[lid]
                if not link.adopt():
                    self.world.trace(self.sid, "refuse-learner", link.id, "not leading")
                    link.close_leader_side()
            elif state != LOOKING:
                del self.waiting_learners[lid]
                self.world.trace(self.sid, "refuse-learner", link.id, "following")
                link.close_leader_side()
            elif now - link.since_ms > limit_ms:
                del self.waiting_learners[lid]
                self.world.trace(self.sid, "refuse-learner", link.id, "initLimit")
                link.close_leader_side()

    # --- snapshots (ZooKeeperServer._after_commit) ------------------------------------
    def _after_commit(self, n) -> None:
        dd = self.datadir
        if not dd.committed(n):
            return
        if self.capture is not None:
            dd.skip_snapshot()
            return
        sessions = {sid: s.timeout_ms for sid, s in self.core.sessions.sessions.items()}
        self.capture = dd.begin_snapshot(self.core.tree, sessions)
        self.world.trace(self.sid, "snapshot-begin", "%#x" % self.core.tree.last_zxid)
        self.world.schedule(self.world.delay_us(), self._snapshot_step, self.inc, self.capture)

    def _snapshot_step(self, inc, capture) -> None:
        if inc != self.inc or self.capture is not capture:
            return
        self.run(self._snapshot_step_now, capture)

    def _snapshot_step_now(self, capture) -> None:
        # A node at a time with events in between: a fuzzy snapshot, as the
        # edge takes it (slices between client requests), slow as a big
        # tree's would be.
        try:
            done = capture.done or capture.step(1)
            if not done:
                self.world.schedule(self.world.rng.randint(500, 4000), self._snapshot_step,
                                    self.inc, capture)
                return
            # The edge saves in a worker thread; failures are logged, not fatal.
            path = self.datadir.save(capture)
            self.world.trace(self.sid, "snapshot-saved", path.rsplit("/", 1)[-1])
        except OSError as e:
            self.world.trace(self.sid, "snapshot-failed", str(e))
        self.capture = None


def _new_peer(core, storage, sid, membership, now, cfg):
    return QuorumPeer(core, storage, sid, membership, now, tick_ms=cfg.tick_ms,
                      init_limit=cfg.init_limit, sync_limit=cfg.sync_limit,
                      snap_slice_nodes=cfg.snap_slice_nodes)


# --- the world -----------------------------------------------------------------------------

class World:
    def __init__(self, seed: int, config: SimConfig = None, checker=None, trace_size: int = 400):
        from .clients import SimClient
        from .invariants import Checker

        self.seed = seed
        self.config = config or SimConfig()
        self.rng = random.Random(seed)
        self.t_us = 0
        self.step = 0
        self._queue = []
        self._seq = 0
        self._ids = 0
        self.membership = membership(self.config.members, self.config.observers)
        self.checker = checker if checker is not None else Checker(self)
        self.checker.world = self
        self.cuts = set()                 # (from sid, to sid) pairs that are cut
        self.held_streams = []
        self.election_last = {}           # (from, to) -> [last_us]
        self.election_dropped = {}        # (from, to) -> notification bytes
        self.election_sent = {}           # (from, to) -> the last notification sent
        self.faults_injected = 0
        self.fault_counts = {}
        self._hash = hashlib.blake2b(digest_size=16)
        self.recent = deque(maxlen=trace_size)
        self.capture_log = None           # a list to copy every trace line into (replay)
        self.current = None               # the node whose code runs (for log lines)
        self.watchers = []                # callables(world) run after every step (scenarios)
        self.history = []                 # the clients' operations, for .linear
        self._processes = 0
        self.nodes = {sid: Node(self, sid) for sid in self.membership.members}
        self.clients = [SimClient(self, i + 1) for i in range(self.config.clients)]

    # --- ids, time, events --------------------------------------------------------------
    def new_id(self) -> int:
        self._ids += 1
        return self._ids

    def schedule(self, delay_us: int, fn, *args) -> None:
        self.schedule_at(self.t_us + delay_us, fn, *args)

    def schedule_at(self, t_us: int, fn, *args) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (t_us, self._seq, fn, args))

    def delay_us(self) -> int:
        r = self.rng.random()
        if r < 0.03:
            return self.rng.randint(5000, 60000)     # a slow moment of the network
        return self.rng.randint(50, 2500)

    def trace(self, who, what, *detail) -> None:
        entry = (self.t_us, who, what) + detail
        line = repr(entry)
        self._hash.update(line.encode())
        self.recent.append((self.step, entry))
        if self.capture_log is not None:
            self.capture_log.append((self.step, entry))

    def trace_packet(self, frm, to, pkt) -> None:
        t = getattr(pkt, "type", None)
        if t is None:
            self.trace(to, "recv", frm, "snapshot-chunk")
        else:
            self.trace(to, "recv", frm, packet_name(t), "%#x" % pkt.zxid)

    def new_process(self) -> int:
        self._processes += 1
        return self._processes

    def trace_hash(self) -> str:
        return self._hash.hexdigest()

    # --- the network --------------------------------------------------------------------
    def cut(self, src, dst) -> bool:
        return src is not None and dst is not None and (src, dst) in self.cuts

    def send_bytes(self, stream, data: bytes) -> None:
        # Sometimes in two pieces: the decoders must not care where TCP splits.
        if len(data) > 1 and self.rng.random() < 0.15:
            at = self.rng.randint(1, len(data) - 1)
            stream.send(data[:at])
            stream.send(data[at:])
        else:
            stream.send(data)

    def send_election(self, node, to_sid, n) -> None:
        payload = n.encode()
        key = (node.sid, to_sid)
        target = self.nodes.get(to_sid)
        if target is None:
            return
        self.election_sent[key] = payload
        if self.cut(node.sid, to_sid) or not target.alive:
            self.election_dropped[key] = payload
            return
        self.election_dropped.pop(key, None)
        self._deliver_election(key, payload)

    def _deliver_election(self, key, payload) -> None:
        last = self.election_last.get(key, 0)
        t = max(self.t_us + self.delay_us(), last)
        self.election_last[key] = t
        target = self.nodes[key[1]]
        self.schedule_at(t, self._election_arrives, key, payload, target.inc)

    def _election_arrives(self, key, payload, inc) -> None:
        target = self.nodes[key[1]]
        if not target.alive or target.inc != inc:
            self.election_dropped[key] = payload
            return
        target.run(self._election_input, target, key[0], payload)

    def _election_input(self, target, frm, payload) -> None:
        n = decode_notification(payload)
        self.trace(target.sid, "elect", frm, n.state, n.leader, "%#x" % n.zxid,
                   n.election_epoch, n.peer_epoch)
        target.peer.election_message(frm, n, target.now_ms())
        target.adopt_learners()

    def redeliver_elections(self) -> None:
        """Links that can carry again get their last dropped message (a new
        connection starts with it, as in QuorumCnxManager)."""
        for key in sorted(self.election_dropped):
            a, b = key
            if self.cut(a, b) or not self.nodes[b].alive or not self.nodes[a].alive:
                continue
            payload = self.election_dropped.pop(key)
            self._deliver_election(key, payload)

    def election_peer_stopped(self, sid) -> None:
        """Its process is gone, and with it what it had queued to send."""
        for key in [k for k in self.election_dropped if k[0] == sid]:
            del self.election_dropped[key]
        for key in [k for k in self.election_sent if k[0] == sid]:
            del self.election_sent[key]

    def election_peer_started(self, sid) -> None:
        """A new process connects to every peer; each sends it its last
        notification again on the new connection (QuorumCnxManager)."""
        for key in sorted(self.election_sent):
            a, b = key
            if b != sid or self.cut(a, b) or not self.nodes[a].alive:
                continue
            self.election_dropped.pop(key, None)
            self._deliver_election(key, self.election_sent[key])

    def heal_streams(self) -> None:
        still = []
        for s in self.held_streams:
            if s.held and not s.release():
                still.append(s)
        self.held_streams = still
        self.redeliver_elections()

    # --- running ------------------------------------------------------------------------
    def start(self) -> None:
        for node in self.nodes.values():
            self.schedule(self.rng.randint(0, 50000), node.boot)
        for c in self.clients:
            self.schedule(self.rng.randint(100000, 600000), c.act)
        if self.config.faults:
            from .faults import FaultInjector

            self.faults = FaultInjector(self)
            self.schedule(self.faults.next_delay_us(), self.faults.inject)

    def run(self, steps: int = None) -> None:
        steps = self.config.steps if steps is None else steps
        checker = self.checker
        stop = self.config.stop_on_violation
        queue = self._queue
        while self.step < steps and queue:
            t, _, fn, args = heapq.heappop(queue)
            self.t_us = t
            fn(*args)
            checker.after_step()
            for watcher in self.watchers:
                watcher(self)
            self.step += 1
            if stop and checker.violations:
                return

    @property
    def now_ms(self) -> int:
        return self.t_us // 1000
