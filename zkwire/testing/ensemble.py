"""An in-process replicated ensemble for tests: :class:`Ensemble`.

Theory of operation
-------------------
``Ensemble(3)`` runs three ensemble members (``server.edge.ensemble.
EnsembleMember``: a client port, an election port and a quorum port around
one QuorumPeer) in this process, on the private reactor thread every
:class:`~zkwire.testing.TestServer` uses, all on loopback.  Each member keeps
its dataDir, in Apache ZooKeeper's format, on its own in-memory disk
(:class:`~zkwire.server.storage.disk.MemoryDisk`) for the ensemble's life.

* ``kill(sid)`` is a crash: the member stops at once (its client, election
  and quorum connections and its ports close), then its disk loses every
  write that was not fsynced (``MemoryDisk.crash()``), as after a power cut.
  Nothing acknowledged is lost: a member acknowledges a proposal only once it
  is durable.
* ``restart(sid)`` builds a new member on the same disk and ports; it
  recovers its tree from its snapshot and log, as any restart does, and
  rejoins: it elects or finds the leader and syncs from it (DIFF, TRUNC or
  SNAP).
* ``partition(*groups)`` cuts every election and quorum connection between
  members of different groups and refuses new ones (the members' ``block``
  hook) until ``heal()``.  Members not named form one more group.  Clients
  are not affected: a client connected to a member that loses its quorum
  sees that member stop serving and moves on to another.
* ``leader`` is the sid of the *serving* leader: a member in mode "leader"
  with a quorum of voters (itself included) following it.  An isolated old
  leader that has not noticed yet does not count.  Like every wait here it
  polls the members' state on the reactor thread every 10 ms (no event
  announces a role change) and gives up after ``timeout_s``.

Every method may be called from any thread but the reactor's.
"""
from __future__ import annotations

from twisted.internet import defer, task

from zkwire.cli import build_server
from zkwire.server.quorum.membership import build as build_membership
from zkwire.server.storage.disk import MemoryDisk
from .server import shared_reactor_thread
from .service import MEMORY_DATA_DIR, settings_for

#: What an ensemble for tests changes from ZooKeeper's defaults, besides
#: TestService's: a short tick (fast elections and failure detection) and a
#: long maxSessionTimeout, so kazoo's 10 s sessions survive a failover
#: (ZooKeeper's default, 20 ticks, would be 2 s here).
DEFAULT_TICK_MS = 100
DEFAULT_MAX_SESSION_TIMEOUT_MS = 60000

#: How often a wait looks at the members again.
POLL_S = 0.01


def _free_ports(n: int) -> list:
    """``n`` distinct free loopback ports (held open together, then released)."""
    import socket

    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Member:
    """One member of an :class:`Ensemble`: its sid, ports, disk and (while
    running) its ``EnsembleMember`` (``.member``)."""

    def __init__(self, ensemble, sid, observer, quorum_port, election_port, client_port):
        self.ensemble = ensemble
        self.sid = sid
        self.observer = observer
        self.quorum_port = quorum_port
        self.election_port = election_port
        self.port = client_port
        self.disk = MemoryDisk()
        self.member = None           # the EnsembleMember while it runs

    def __repr__(self):
        state = self.mode() or ("looking" if self.running else "stopped")
        return "<Member %d %s %s>" % (self.sid, self.hosts, state)

    @property
    def hosts(self) -> str:
        """This member's client address, ``"127.0.0.1:<port>"``."""
        return "127.0.0.1:%d" % self.port

    @property
    def running(self) -> bool:
        m = self.member
        return m is not None and m.server.fatal_error is None

    def mode(self):
        """"leader", "follower", "observer", or None (looking, or stopped)."""
        m = self.member
        if m is None or m.server.fatal_error is not None:
            return None
        return m.mode()

    @property
    def serving(self) -> bool:
        return self.mode() is not None

    @property
    def server(self):
        """The member's ZooKeeperServer (None while stopped)."""
        return None if self.member is None else self.member.server


class Ensemble:
    """``n`` voting members and ``observers`` observers in this process.

    ``Ensemble(3)`` starts them and waits until a leader serves with every
    member (``start=False`` does neither); ``with Ensemble(3) as ens:`` stops
    them at the end.  ``tick_ms``, ``init_limit`` and ``sync_limit`` are
    zoo.cfg's tickTime, initLimit and syncLimit; ``config`` adds zoo.cfg keys
    and -D properties for every member.  See the module docstring."""

    __test__ = False

    def __init__(self, n: int = 3, observers: int = 0, *, tick_ms: int = DEFAULT_TICK_MS,
                 init_limit: int = 10, sync_limit: int = 5, config=None,
                 timeout_s: float = 30.0, start: bool = True):
        if n < 2:
            raise ValueError("an ensemble needs at least two voting members (one is standalone:"
                             " use TestServer)")
        self._thread = shared_reactor_thread()
        self.reactor = self._thread.reactor
        self.tick_ms = tick_ms
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.timeout_s = timeout_s
        self._config = {"maxSessionTimeout": DEFAULT_MAX_SESSION_TIMEOUT_MS}
        self._config.update(config or {})
        self._config.update({"tickTime": tick_ms, "initLimit": init_limit,
                             "syncLimit": sync_limit})
        total = n + observers
        ports = _free_ports(3 * total)
        self._members = {}
        lines = {}
        for i in range(total):
            sid = i + 1
            qp, ep, cp = ports[3 * i:3 * i + 3]
            observer = sid > n
            self._members[sid] = Member(self, sid, observer, qp, ep, cp)
            lines[sid] = "127.0.0.1:%d:%d%s" % (qp, ep, ":observer" if observer else "")
        self.membership, _ = build_membership(lines)
        self._group_of = {}          # sid -> partition group index; empty: no partition
        if start:
            self.start()

    def __repr__(self):
        return "<Ensemble %s>" % ", ".join(repr(m) for m in self._members.values())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _call(self, fn, *args, **kwargs):
        return self._thread.call(fn, *args, **kwargs)

    # --- where it is ------------------------------------------------------------------------
    @property
    def members(self) -> list:
        """Every :class:`Member`, by sid."""
        return [self._members[sid] for sid in sorted(self._members)]

    def member(self, sid: int) -> Member:
        return self._members[sid]

    @property
    def hosts(self) -> str:
        """Every member's client address, comma-separated (a kazoo ``hosts``)."""
        return ",".join(m.hosts for m in self.members)

    def voters(self) -> list:
        return [m.sid for m in self.members if not m.observer]

    @property
    def leader(self) -> int:
        """The sid of the serving leader, once there is one (see the module docstring)."""
        return self._call(self._wait, self._serving_leader, "a serving leader")

    def wait_serving(self, timeout_s: float = None) -> int:
        """Wait until a leader serves and every running member that can reach
        it (not partitioned away) serves too; -> the leader's sid."""
        return self._call(self._wait, self._all_serving, "every reachable member serving",
                          timeout_s)

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> int:
        """Start every member that is not running and wait until they serve;
        -> the leader's sid."""
        for m in self.members:
            if m.member is None:
                self._call(self._start_member, m)
        return self.wait_serving()

    def kill(self, sid: int) -> None:
        """Crash a member: it stops at once and loses its unsynced writes."""
        self._call(self._stop_member, self._members[sid], True)

    def restart(self, sid: int, wait: bool = True) -> None:
        """Start a killed (or stopped) member again on its disk and ports; with
        ``wait``, return once it serves (has rejoined and synced)."""
        m = self._members[sid]
        if m.member is not None:
            self._call(self._stop_member, m, False)
        self._call(self._start_member, m)
        if wait:
            self._call(self._wait, lambda: m.serving, "member %d serving" % sid)

    def stop(self) -> None:
        """Stop every member (as a clean shutdown: nothing is lost)."""
        for m in self.members:
            if m.member is not None:
                self._call(self._stop_member, m, False)

    close = stop

    # --- partitions --------------------------------------------------------------------------------
    def partition(self, *groups) -> None:
        """Split the members into ``groups`` (iterables of sids, or a sid)
        that cannot talk to each other; members not named form one more
        group.  Replaces any partition before it."""
        group_of = {}
        for i, group in enumerate(groups):
            for sid in ([group] if isinstance(group, int) else group):
                if sid not in self._members:
                    raise KeyError("no member %r" % (sid,))
                if sid in group_of:
                    raise ValueError("member %d is in two groups" % sid)
                group_of[sid] = i
        for sid in self._members:
            group_of.setdefault(sid, len(groups))
        self._group_of = group_of
        self._call(self._apply_partition)

    def heal(self) -> None:
        """End the partition: every member may connect to every other again."""
        self._group_of = {}
        self._call(self._apply_partition)

    def reachable(self, a: int, b: int) -> bool:
        """Whether members ``a`` and ``b`` are on the same side of the partition."""
        return not self._group_of or self._group_of[a] == self._group_of[b]

    def _blocked_for(self, sid: int) -> set:
        return {o for o in self._members if not self.reachable(sid, o)}

    # --- on the reactor thread ---------------------------------------------------------------------
    def _apply_partition(self) -> None:
        for m in self._members.values():
            if m.member is not None:
                m.member.block(self._blocked_for(m.sid))

    def _start_member(self, m: Member) -> None:
        from zkwire.server.edge.ensemble import EnsembleMember

        settings = settings_for(self._config, "127.0.0.1", m.port, None)
        settings.data_dir = settings.data_log_dir = MEMORY_DATA_DIR
        server = build_server(settings, self.reactor, disk=m.disk)
        member = EnsembleMember(self.reactor, server, server.datadir.storage, m.sid,
                                self.membership, tick_ms=self.tick_ms,
                                init_limit=self.init_limit, sync_limit=self.sync_limit)
        member.block(self._blocked_for(m.sid))
        try:
            member.start()
        except Exception:
            member.stop()
            server.datadir.close()
            raise
        m.member = member

    @defer.inlineCallbacks
    def _stop_member(self, m: Member, crash: bool):
        member, m.member = m.member, None
        if member is None:
            return
        srv = member.server
        if crash:
            # A crash answers nothing more: cut the clients first.
            for proto in list(srv.protocols.values()):
                proto.closing = True
                proto.transport.abortConnection()
        d = member.stop()
        if d is not None:
            yield d
        # Let the closed listeners and connections finish closing (one turn
        # each), so a restart can listen on the same ports.
        yield task.deferLater(self.reactor, 0, lambda: None)
        yield task.deferLater(self.reactor, 0, lambda: None)
        if crash:
            m.disk.crash()
        elif srv.fatal_error is None:
            yield self._poll(lambda: not srv.driver.busy() or srv.fatal_error is not None,
                             "member %d's writes to land" % m.sid)
            try:
                srv.datadir.close()
            except OSError:
                pass

    def _serving_leader(self):
        voters = set(self.voters())
        quorum = len(voters) // 2 + 1
        for m in self._members.values():
            if m.mode() != "leader":
                continue
            backing = 1 + sum(1 for o in self._members.values()
                              if o.sid != m.sid and o.sid in voters and o.mode() == "follower"
                              and o.member.peer.leader_sid == m.sid
                              and self.reachable(m.sid, o.sid))
            if backing >= quorum:
                return m.sid
        return None

    def _all_serving(self):
        leader = self._serving_leader()
        if leader is None:
            return None
        for m in self._members.values():
            if m.member is not None and self.reachable(leader, m.sid) and not m.serving:
                return None
        return leader

    def _poll(self, predicate, what, timeout_s=None):
        """Deferred firing with ``predicate()``'s first true value."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        deadline = self.reactor.seconds() + timeout_s
        d = defer.Deferred()

        def check():
            value = predicate()
            if value:
                d.callback(value)
            elif self.reactor.seconds() > deadline:
                d.errback(TimeoutError("no %s within %.1f s: %r" % (what, timeout_s, self)))
            else:
                self.reactor.callLater(POLL_S, check)

        check()
        return d

    def _wait(self, predicate, what, timeout_s=None):
        return self._poll(predicate, what, timeout_s)
