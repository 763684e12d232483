"""An ensemble member on Twisted: the client port, the election port and the
quorum port around one sans-IO :class:`~zkwire.server.quorum.peer.QuorumPeer`.

Theory of operation
-------------------
:class:`EnsembleMember` takes a :class:`~.net.ZooKeeperServer` (the client
port, the log and snapshots, the flush loop) and puts a QuorumPeer in its
driver's place, so every client request, fsync and commit takes the path it
takes standalone.  What the peer sends comes out of the server's flush as
``Ready.send`` and lands in :meth:`EnsembleMember.send`, which hands each item
to its connection:

* election messages to the :class:`~.election_net.ElectionNetwork`;
* packets for learners to their connections on our quorum port (a learner
  connection is accepted only while we lead);
* packets for our leader to the connection we dialed when the election told
  us to follow (``("dial", ...)``).  A Java leader listens only once it has
  decided, so a learner retries: every 100 ms (3.8.0 logs
  ``leaderConnectDelayDuringRetryMs: 100``) for initLimit ticks, then it
  looks for a leader again.  A learner may also dial us before our
  own election has decided: its connection waits until we lead (or is
  closed once we follow another server, or after initLimit ticks).

Input from any of them goes to the peer and then through
``server.after_input()``, like client input.  A timer ticks the peer every
``tick_interval_ms`` (at most half a tick): the election's retries, the
leader's PINGs and every liveness limit are counted there.  Bytes that do not
decode close that one connection with a log line; the peer then treats it as
lost (a learner goes back to election, a leader drops that learner).
"""
from __future__ import annotations

import logging

from twisted.internet.protocol import ClientFactory, Factory, Protocol

from ..quorum.leader import Leader
from ..quorum.packets import (FOLLOWING, LEADING, LOOKING, OBSERVING, PacketError,
                              QuorumStreamDecoder)
from ..quorum.peer import QuorumPeer

log = logging.getLogger("zkwire.ensemble")

#: A learner retries the leader's quorum port this often, for initLimit
#: ticks (ZooKeeper: leaderConnectDelayDuringRetryMs, 100 ms).
LEADER_RETRY_S = 0.1
#: Bytes a learner connection may send before we lead (its LearnerInfo).
MAX_EARLY_BYTES = 64 * 1024
#: Bytes queued for a learner that does not read them before it is dropped
#: (a SNAP of a big tree is the largest legitimate burst).  A learner that
#: reads nothing also stops answering PINGs and is dropped after syncLimit.
MAX_LEARNER_BACKLOG_BYTES = 1 << 30


def _nodelay(transport) -> None:
    try:
        transport.setTcpNoDelay(True)
    except Exception:   # not a TCP transport (tests)
        pass


class LearnerConnection(Protocol):
    """A learner's connection to our quorum port (we are, or were, leading)."""

    def __init__(self, member):
        self.member = member
        self.lid = None
        self.decoder = QuorumStreamDecoder(from_leader=False)

    def connectionMade(self):
        _nodelay(self.transport)
        m = self.member
        self.lid = m.new_lid()
        peer = self.transport.getPeer()
        self.addr = "%s:%s" % (getattr(peer, "host", "?"), getattr(peer, "port", "?"))
        self.early = []
        self.early_bytes = 0
        self.adopted = False
        self.paused = False
        self.backlog = 0             # bytes written while the transport said "pause"
        self.transport.registerProducer(self, True)
        self.since_ms = m.now_ms()
        # A learner may decide faster than we do: it dials while we still
        # wait out our own election.  Its connection waits here until we lead.
        m.waiting_learners[self.lid] = self
        m.adopt_learners()

    def adopt(self) -> bool:
        """We lead now: hand the connection to the peer.  False: not leading."""
        m = self.member
        if not m.peer.learner_connected(self.lid, m.now_ms(), self.addr):
            return False
        self.adopted = True
        m.learners[self.lid] = self
        early, self.early = self.early, []
        for data in early:
            self.dataReceived(data)
        return True

    # IPushProducer: the transport says when the learner stops taking bytes.
    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False
        self.backlog = 0

    def stopProducing(self):
        pass

    def write(self, data: bytes) -> None:
        if self.paused:
            self.backlog += len(data)
            if self.backlog > MAX_LEARNER_BACKLOG_BYTES:
                log.warning("learner %s does not read: %d bytes queued; dropping it",
                            self.addr, self.backlog)
                self.transport.abortConnection()
                return
        self.transport.write(data)

    def refuse(self, why: str) -> None:
        log.info("quorum connection from %s closed: %s", self.addr, why)
        self.lid = None
        self.transport.loseConnection()

    def dataReceived(self, data):
        if self.lid is None:
            return
        if not self.adopted:
            self.early_bytes += len(data)
            if self.early_bytes > MAX_EARLY_BYTES:
                self.member.waiting_learners.pop(self.lid, None)
                self.refuse("%d bytes before we lead" % self.early_bytes)
                return
            self.early.append(data)
            return
        m = self.member
        try:
            packets = self.decoder.feed(data)
        except PacketError as e:
            log.warning("learner %s sent bad bytes (%s): closing its connection", self.lid, e)
            self.transport.abortConnection()
            return
        now = m.now_ms()
        try:
            for pkt in packets:
                m.peer.learner_packet(self.lid, pkt, now)
        except Exception:
            m.server.fail("internal error handling a learner's packet")
            return
        m.server.after_input()

    def connectionLost(self, reason=None):
        if self.lid is None:
            return
        m = self.member
        lid, self.lid = self.lid, None
        m.waiting_learners.pop(lid, None)
        if not self.adopted:
            return
        m.learners.pop(lid, None)
        m.peer.learner_lost(lid, m.now_ms())
        m.server.after_input()


class LeaderConnection(Protocol):
    """Our connection to the leader's quorum port."""

    def __init__(self, member, sid):
        self.member = member
        self.sid = sid
        self.decoder = QuorumStreamDecoder(from_leader=True)
        self.gone = False

    def connectionMade(self):
        _nodelay(self.transport)
        m = self.member
        if m.leader_conn_wanted != self.sid:
            self.gone = True
            self.transport.loseConnection()
            return
        if self.sid in m.blocked:
            # A test partition came while we dialed: the connection is lost at once.
            m.leader_conn = self
            self.transport.abortConnection()
            return
        m.leader_conn = self
        m.peer.leader_connected(m.now_ms())
        m.server.after_input()

    def dataReceived(self, data):
        if self.gone:
            return
        m = self.member
        try:
            packets = self.decoder.feed(data)
        except PacketError as e:
            log.warning("the leader sent bad bytes (%s): closing the connection", e)
            self.close()
            return
        now = m.now_ms()
        try:
            for pkt in packets:
                m.peer.leader_packet(pkt, now)
        except Exception:
            m.server.fail("internal error handling the leader's packet")
            return
        m.server.after_input()

    def close(self):
        if not self.gone:
            self.transport.abortConnection()

    def connectionLost(self, reason=None):
        if self.gone:
            return
        self.gone = True
        m = self.member
        if m.leader_conn is self:
            m.leader_conn = None
            m.peer.leader_connection_lost(m.now_ms())
            m.server.after_input()


class _LeaderFactory(ClientFactory):
    def __init__(self, member, sid, host, port, first_ms):
        self.member = member
        self.sid = sid
        self.host = host
        self.port = port
        self.first_ms = first_ms     # when we first tried this leader

    def buildProtocol(self, addr):
        return LeaderConnection(self.member, self.sid)

    def clientConnectionFailed(self, connector, reason):
        self.member.leader_dial_failed(self, reason.getErrorMessage())


class EnsembleMember:
    def __init__(self, reactor, server, storage, myid, membership, tick_ms=2000, init_limit=10,
                 sync_limit=5, quorum_host=None, election_network=None, tick_interval_ms=None,
                 read_only_enabled=False, standalone_enabled=True, dynamic_files=None):
        self.reactor = reactor
        self.server = server
        self.myid = myid
        self.membership = membership
        self.peer = QuorumPeer(server.core, storage, myid, membership, server.now_ms(),
                               tick_ms=tick_ms, init_limit=init_limit, sync_limit=sync_limit,
                               read_only_enabled=read_only_enabled,
                               standalone_enabled=standalone_enabled)
        #: reconfigEnabled: where configs in force and proposed are written (dynconfig).
        self.dynamic_files = dynamic_files
        server.driver = self.peer
        server.on_send = self.send
        server.ensemble = self          # what the four-letter words report
        me = membership.members[myid]
        self.quorum_host = quorum_host if quorum_host is not None else me.host
        self.quorum_port_number = me.quorum_port
        if election_network is None:
            from .election_net import ElectionNetwork

            election_network = ElectionNetwork(reactor, myid, membership, self.election_message)
        self.election_net = election_network
        self.tick_interval_ms = tick_interval_ms or max(10, min(100, tick_ms // 2))
        self.learners = {}
        self.waiting_learners = {}   # lid -> LearnerConnection accepted before we lead
        self.leader_conn = None
        self.leader_conn_wanted = None
        self._next_lid = 1
        self._tick = None
        self._quorum_listener = None
        self._dial_call = None
        self.stopped = False
        #: A test partition (zkwire.testing.Ensemble): peer sids we have no
        #: election or quorum connection with; set through :meth:`block`.
        self.blocked = set()

    def now_ms(self) -> int:
        return self.server.now_ms()

    def mode(self):
        return self.peer.mode

    # --- what srvr / conf / mntr report ---------------------------------------------------
    def zxid(self) -> int:
        """srvr's Zxid: a leader's last proposed (from epoch << 32 on), else the last applied."""
        role = self.peer.role
        last = self.server.core.tree.last_zxid
        if isinstance(role, Leader) and role.phase == "broadcast":
            return max(last, role.proposer.prep.last_zxid)
        return last

    def peer_state(self) -> str:
        """mntr's zk_peer_state: ZooKeeper's peer state and zab state, lower case."""
        role = self.peer.role
        state = {LEADING: "leading", FOLLOWING: "following", OBSERVING: "observing"}.get(
            self.peer.state, "looking")
        phase = getattr(role, "phase", None)
        zab = {"discovery": "discovery", "epoch-acks": "discovery", "sync": "synchronization",
               "syncing": "synchronization", "newleader": "synchronization",
               "newleader-acks": "synchronization", "broadcast": "broadcast"}.get(phase, "election")
        return "%s - %s" % (state, zab)

    def conf_lines(self) -> list:
        me = self.membership.members[self.myid]
        return ["serverId=%d" % self.myid, "initLimit=%d" % self.peer.init_limit,
                "syncLimit=%d" % self.peer.sync_limit, "electionAlg=3",
                "electionPort=%d" % me.election_port, "quorumPort=%d" % me.quorum_port,
                "peerType=%d" % (1 if self.peer.observer else 0),
                "membership: ", self.membership.config_text()]

    def _leader(self):
        role = self.peer.role
        return role if isinstance(role, Leader) else None

    def proposal_sizes(self):
        role = self._leader()
        return (-1, -1, -1) if role is None else role.proposal_sizes

    def learner_counts(self) -> dict:
        role = self._leader()
        return role.learner_counts() if role is not None else dict(
            learners=0, synced_followers=0, synced_non_voting=0, synced_observers=0)

    def pending_syncs(self) -> int:
        role = self._leader()
        return 0 if role is None else sum(len(v) for v in role._pending_syncs.values())

    def leader_uptime_ms(self) -> int:
        role = self._leader()
        return 0 if role is None or role.established_ms is None else (
            self.now_ms() - role.established_ms)

    def quorum_size(self) -> int:
        return len(self.membership.voters) // 2 + 1

    def new_lid(self) -> int:
        lid = self._next_lid
        self._next_lid += 1
        return lid

    # --- lifecycle ----------------------------------------------------------------------
    def start(self):
        from twisted.internet.task import LoopingCall

        port = self.server.start()
        f = Factory.forProtocol(lambda: LearnerConnection(self))
        self._quorum_listener = self.reactor.listenTCP(self.quorum_port_number, f,
                                                       interface=self.quorum_host)
        self.election_net.start()
        self.peer.start(self.now_ms())
        self._tick = LoopingCall(self._on_tick)
        self._tick.clock = self.reactor
        self._tick.start(self.tick_interval_ms / 1000.0, now=False)
        self.server.after_input()
        return port

    def stop(self):
        self.stopped = True
        if self._tick is not None and self._tick.running:
            self._tick.stop()
        if self._dial_call is not None and self._dial_call.active():
            self._dial_call.cancel()
        self.leader_conn_wanted = None
        if self.leader_conn is not None:
            c, self.leader_conn = self.leader_conn, None
            c.gone = True
            c.transport.abortConnection()
        for conn in list(self.learners.values()) + list(self.waiting_learners.values()):
            conn.lid = None
            conn.transport.abortConnection()
        self.learners.clear()
        self.waiting_learners.clear()
        self.election_net.stop()
        if self._quorum_listener is not None:
            self._quorum_listener.stopListening()
        return self.server.stop()

    def block(self, sids) -> None:
        """A test partition: cut the election and quorum connections with
        ``sids`` and refuse new ones until ``block(())``.  The peer sees what
        it sees when the network fails: a lost leader, lost learners, silent
        election peers.  For zkwire.testing.Ensemble; not a ZooKeeper feature."""
        self.blocked = set(sids)
        self.election_net.block(self.blocked)
        conn = self.leader_conn
        if conn is not None and conn.sid in self.blocked:
            conn.transport.abortConnection()     # connectionLost tells the peer
        role = self._leader()
        if role is not None:
            for lid, conn in list(self.learners.items()):
                ln = role.learners.get(lid)
                if ln is not None and ln.sid in self.blocked:
                    conn.transport.abortConnection()

    def _on_tick(self):
        if self.server.fatal_error is not None:
            return
        try:
            self.peer.tick(self.now_ms())
        except Exception:
            self.server.fail("internal error in the quorum peer's tick")
            return
        self.adopt_learners()
        self.server.after_input()

    def adopt_learners(self) -> None:
        """Connections on our quorum port that came before we led: take
        them once we lead, close them once we follow someone else or they
        have waited initLimit ticks."""
        if not self.waiting_learners:
            return
        state = self.peer.state
        limit_ms = self.peer.tick_ms * self.peer.init_limit
        now = self.now_ms()
        for lid, conn in list(self.waiting_learners.items()):
            if state == LEADING and self.peer.role is not None:
                del self.waiting_learners[lid]
                if not conn.adopt():
                    conn.refuse("not leading")
            elif state != LOOKING:
                del self.waiting_learners[lid]
                conn.refuse("we follow another leader")
            elif now - conn.since_ms > limit_ms:
                del self.waiting_learners[lid]
                conn.refuse("we did not become leader within initLimit")
        self.server.after_input()

    # --- input --------------------------------------------------------------------------
    def election_message(self, sid, notification):
        try:
            self.peer.election_message(sid, notification, self.now_ms())
        except Exception:
            self.server.fail("internal error handling an election message")
            return
        self.adopt_learners()
        self.server.after_input()

    # --- output -------------------------------------------------------------------------
    def send(self, items) -> None:
        # A learner's packets of one turn go out in one write (a leader sends
        # three or four packets per txn to each: the per-write cost of the
        # transport was a tenth of its time under load).
        out = {}
        for item in items:
            kind = item[0]
            if kind == "elect":
                self.election_net.send(item[1], item[2])
            elif kind == "learner":
                conn = self.learners.get(item[1])
                if conn is None:
                    continue
                if item[2] is None:
                    pending = out.pop(conn, None)
                    if pending:
                        conn.write(b"".join(pending))
                    self.learners.pop(item[1], None)
                    conn.lid = None
                    conn.transport.loseConnection()
                else:
                    out.setdefault(conn, []).append(item[2])
            elif kind == "leader":
                if self.leader_conn is not None:
                    self.leader_conn.transport.write(item[1])
            elif kind == "dial":
                self._dial(item[1], item[2], item[3])
            elif kind == "config":
                self._config(item[1], item[2])
            elif kind == "hangup":
                self.leader_conn_wanted = None
                if self._dial_call is not None and self._dial_call.active():
                    self._dial_call.cancel()
                if self.leader_conn is not None:
                    c, self.leader_conn = self.leader_conn, None
                    c.gone = True
                    c.transport.loseConnection()
            else:
                raise AssertionError("unknown send item %r" % (item,))
        for conn, pending in out.items():
            if conn.lid is not None:
                conn.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def _config(self, kind, ms) -> None:
        """A reconfig: ``committed`` (in force) or ``next`` (proposed)."""
        if kind == "committed":
            self.membership = ms
            self.election_net.membership = ms
        if self.dynamic_files is not None:
            if kind == "committed":
                self.dynamic_files.committed(ms)
            else:
                self.dynamic_files.proposed(ms)

    def _dial(self, sid, host, port, first_ms=None):
        if self.stopped:
            return
        self._dial_call = None
        if first_ms is None:
            first_ms = self.now_ms()
        self.leader_conn_wanted = sid
        factory = _LeaderFactory(self, sid, host, port, first_ms)
        if sid in self.blocked:
            # A test partition: the dial fails as an unreachable host's would.
            self._dial_call = self.reactor.callLater(LEADER_RETRY_S, self.leader_dial_failed,
                                                     factory, "partitioned from server %d" % sid)
            return
        timeout_s = max(1.0, self.peer.tick_ms * self.peer.init_limit / 1000.0)
        self.reactor.connectTCP(host, port, factory, timeout=timeout_s)

    def leader_dial_failed(self, factory, why):
        if self.stopped or self.leader_conn_wanted != factory.sid:
            return
        if self.now_ms() - factory.first_ms < self.peer.tick_ms * self.peer.init_limit:
            # The leader may not listen yet (a Java leader binds its quorum
            # port once it has decided).
            self._dial_call = self.reactor.callLater(LEADER_RETRY_S, self._dial, factory.sid,
                                                     factory.host, factory.port,
                                                     factory.first_ms)
            return
        self.leader_conn_wanted = None
        self.peer.leader_connection_lost(self.now_ms(), "cannot reach leader %d: %s"
                                         % (factory.sid, why))
        self.server.after_input()
