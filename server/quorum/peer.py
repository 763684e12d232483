"""One ensemble member, sans-IO: election, then leader or learner, then again.

Theory of operation
-------------------
:class:`QuorumPeer` is the server step of an ensemble member (ZooKeeper's
QuorumPeer.run loop), with the driver contract of ``server/core/driver.py``
so the Twisted edge drives it exactly as it drives a standalone server.  It
owns one front end (``core``) for its whole life and one role at a time:

* LOOKING: the :class:`~.election.Election` runs; clients are refused.
* LEADING: a :class:`~.leader.Leader`; FOLLOWING / OBSERVING: a
  :class:`~.learner.Learner` talking to the elected leader.

When the role ends (``lost``), the peer waits for its log batch in flight to
be persisted, reloads its state from storage (the log holds txns the tree
may not: proposals never committed, which the next leader decides about), and
starts a new election.

``ready().send`` holds tagged tuples for the edge:

* ``("elect", sid, notification)``: an election message;
* ``("learner", lid, bytes_or_None)``: to a learner's connection (None: close it);
* ``("leader", bytes)``: to our leader;
* ``("dial", sid, host, port)``: connect to the leader's quorum port, then
  report ``leader_connected()`` or ``leader_connection_lost()``;
* ``("hangup",)``: close the connection to the leader.
"""
from __future__ import annotations

import logging

from ..core.driver import Ready
from .election import Election
from .epochs import load_epochs
from .leader import Leader, load_history
from .learner import Learner
from .packets import FOLLOWING, LEADING, LOOKING, OBSERVING

log = logging.getLogger("zkwire.peer")


class QuorumPeer:
    def __init__(self, core, storage, myid: int, membership, now_ms: int, tick_ms: int = 2000,
                 init_limit: int = 10, sync_limit: int = 5, config_text: str = None,
                 read_only_enabled: bool = False, snap_slice_nodes: int = None,
                 standalone_enabled: bool = True):
        #: Nodes a leader's SNAP capture copies per turn (None: the leader's default).
        self.snap_slice_nodes = snap_slice_nodes
        self.core = core
        self.storage = storage
        self.myid = myid
        self.membership = membership
        #: The newest config seen (a reconfig proposed, not yet committed).
        self.last_seen = membership
        self.reconfig_enabled = core.config.reconfig_enabled
        self.standalone_enabled = standalone_enabled
        self.tick_ms = tick_ms
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.config_text = (config_text if config_text is not None
                            else membership.config_text()).encode()
        self.observer = myid in membership.observers
        #: readonlymode.enabled: serve read-only clients while looking, once
        #: ZooKeeper's grace period (max(2 s, tickTime)) has passed.
        self.read_only_enabled = read_only_enabled
        self.looking_since_ms = now_ms
        self.role = None
        self.state = LOOKING
        self.leader_sid = None
        self.elections = 0
        self._send = []
        self._conns = []                 # connections with output, taken by a role's ready()
        self._batch_role = None
        self._reload_pending = False
        #: The leader a committed reconfig named, while the role it ended winds down.
        self._designated = None
        self.current_epoch, self.accepted_epoch = load_epochs(storage, core.tree.last_zxid)
        self.election = Election(myid, membership, core.tree.last_zxid, self.current_epoch,
                                 self.config_text)
        self.election.reconfig_enabled = self.reconfig_enabled
        core.serving = False

    # --- the driver contract -----------------------------------------------------------
    def start(self, now_ms: int) -> None:
        self._start_election(now_ms)

    def ready(self, persist: bool = True) -> Ready:
        if self.role is not None:
            self._config_events(None)     # a leader's reconfig proposed by a client
        sends = self._drain_election()
        role = self.role
        conns, self._conns = self._conns, []
        if role is None:
            sends.extend(self._send)
            self._send = []
            return Ready([], sends, [], conns + self.core.take_dirty())
        can_persist = persist and self._batch_role is None and not self._reload_pending
        rd = role.ready(can_persist)
        if rd.persist:
            self._batch_role = role
        if isinstance(role, Leader):
            sends.extend(("learner", lid, data) for lid, data in rd.send)
        else:
            sends.extend(("leader", data) for data in rd.send)
        sends.extend(self._send)
        self._send = []
        rd.send = sends
        if conns:
            rd.conns = conns + rd.conns
        return rd

    def busy(self) -> bool:
        return self._batch_role is not None

    def has_pending(self) -> bool:
        return self.role is not None and self.role.has_pending()

    def wants_turn(self) -> bool:
        """``ready`` has more to give on the next turn without any input (a
        leader capturing a SNAP in slices)."""
        return self.role is not None and self.role.wants_turn()

    def persisted(self, zxid: int, now_ms: int) -> None:
        role, self._batch_role = self._batch_role, None
        if role is None:
            raise AssertionError("persisted(%#x) with no batch out" % zxid)
        role.persisted(zxid, now_ms)
        self._check_role(now_ms)

    def tick(self, now_ms: int) -> None:
        if self.role is None:
            self.election.tick(now_ms)
            self._after_election(now_ms)
            if (self.role is None and self.read_only_enabled and not self.core.read_only
                    and now_ms - self.looking_since_ms >= max(2000, self.tick_ms)):
                log.info("no quorum for %d ms: serving read-only clients",
                         now_ms - self.looking_since_ms)
                self.core.read_only = True
            return
        self.role.tick(now_ms)
        self._check_role(now_ms)

    # --- election ------------------------------------------------------------------------
    def election_message(self, sid: int, notification, now_ms: int) -> None:
        self.election.receive(sid, notification, now_ms)
        newer, self.election.newer_config = self.election.newer_config, None
        if newer is not None and self.role is None:
            # FastLeaderElection: processReconfig, then a new election under
            # the config a peer told us about (its version is higher).
            log.info("server %d has configuration version %#x (ours %#x): restarting the "
                     "election under it", sid, newer.version, self.membership.version)
            self._activate(newer, None, now_ms)
            self._start_election(now_ms)
            return
        if self.role is None:
            self._after_election(now_ms)

    def _drain_election(self) -> list:
        out = [("elect", sid, n) for sid, n in self.election.outbox]
        self.election.outbox = []
        return out

    def _start_election(self, now_ms) -> None:
        self.looking_since_ms = now_ms
        self.state = LOOKING
        self.leader_sid = None
        self.elections += 1
        self.core.metrics.counters["looking_count"] += 1
        self.election.start(now_ms, self.core.tree.last_zxid, self.current_epoch)
        self._after_election(now_ms)

    def _after_election(self, now_ms) -> None:
        vote = self.election.decided
        if vote is None or self.role is not None:
            return
        state = self.election.state
        self.core.leave_read_only()
        self.leader_sid = vote.leader
        log.info("election decided: %s, leader %d (zxid %#x, epoch %d)",
                 {LEADING: "LEADING", FOLLOWING: "FOLLOWING", OBSERVING: "OBSERVING"}[state],
                 vote.leader, vote.zxid, vote.peer_epoch)
        tree = self.core.tree
        if state in (LEADING, FOLLOWING):
            # Leader.lead and Follower.followLeader record how long the
            # election took (an observer's does not).
            self.core.metrics.summaries["election_time"].add(now_ms - self.looking_since_ms)
        if state == LEADING:
            self.state = LEADING
            self.role = Leader(self.core, self.storage, self.myid, self.membership,
                               self.accepted_epoch, self.current_epoch, now_ms,
                               tick_ms=self.tick_ms, init_limit=self.init_limit,
                               sync_limit=self.sync_limit, config_text=self.config_text,
                               history=self._history(), snap_slice_nodes=self.snap_slice_nodes,
                               standalone_enabled=self.standalone_enabled)
            self._config_events(now_ms)
            return
        self.state = state
        self.role = Learner(self.core, self.storage, self.myid, self.observer,
                            self.accepted_epoch, self.current_epoch, tree.last_zxid, now_ms,
                            tick_ms=self.tick_ms, init_limit=self.init_limit,
                            sync_limit=self.sync_limit, config_version=self.membership.version,
                            config_text=self.config_text, reconfig_enabled=self.reconfig_enabled)
        m = self.membership.members[vote.leader]
        self._send.append(("dial", vote.leader, m.host, m.quorum_port))

    def _history(self) -> list:
        return load_history(self.storage, self.core.tree.last_zxid)

    # --- roles ---------------------------------------------------------------------------
    def leader_connected(self, now_ms: int) -> None:
        if isinstance(self.role, Learner):
            self.role.start(now_ms)

    def leader_connection_lost(self, now_ms: int, reason: str = "connection to the leader lost") -> None:
        if isinstance(self.role, Learner):
            self.role.connection_lost(reason)
            self._check_role(now_ms)

    def leader_packet(self, pkt, now_ms: int) -> None:
        if isinstance(self.role, Learner):
            self.role.receive(pkt, now_ms)
            self._check_role(now_ms)

    def learner_connected(self, lid, now_ms: int, addr=None) -> bool:
        """A connection on the quorum port; False: not leading, close it."""
        if not isinstance(self.role, Leader) or self.role.lost:
            return False
        self.role.learner_connected(lid, now_ms, addr)
        return True

    def learner_packet(self, lid, pkt, now_ms: int) -> None:
        if isinstance(self.role, Leader):
            self.role.receive(lid, pkt, now_ms)
            self._check_role(now_ms)

    def learner_lost(self, lid, now_ms: int) -> None:
        if isinstance(self.role, Leader):
            self.role.learner_lost(lid)

    # --- reconfig ------------------------------------------------------------------------
    def _config_events(self, now_ms) -> None:
        """Act on the configs the role saw (QuorumPeer's setLastSeenQuorumVerifier
        and processReconfig); ``("config", "next"|"committed", Membership)``
        tells the edge to write the dynamic config file."""
        role = self.role
        if isinstance(role, Leader):
            events = [("activate", ms, d) for ms, d in role.activated]
            role.activated = []
            if role.last_seen.version > self.last_seen.version:
                events.insert(0, ("next", role.last_seen))
        else:
            events, role.config_events = role.config_events, []
        for ev in events:
            if ev[0] == "next":
                if ev[1].version > self.last_seen.version:
                    self.last_seen = ev[1]
                    self._send.append(("config", "next", ev[1]))
            else:
                self._activate(ev[1], ev[2], now_ms)

    def _activate(self, ms, designated, now_ms) -> None:
        prev = self.membership
        if ms.version <= prev.version:
            return
        self.membership = ms
        if ms.version > self.last_seen.version:
            self.last_seen = ms
        self.config_text = ms.config_text().encode()
        self.election.reconfigure(ms, self.config_text)
        self._send.append(("config", "committed", ms))
        was_observer = self.observer
        self.observer = self.myid in ms.observers
        role = self.role
        if isinstance(role, Leader):
            return         # the leader hands off by itself (Leader._commit_reconfig)
        if not isinstance(role, Learner):
            return
        role.reconfigured(ms, self.config_text)
        if designated is None and now_ms is not None:
            # UPTODATE: the config NEWLEADER carried, in force without a txn.
            self.core.tree.set_config(self.config_text, ms.version, now_ms)
        role_change = was_observer != self.observer
        if designated is not None:
            leader_change = designated != self.leader_sid
        else:
            old, new = prev.voters.get(self.leader_sid), ms.voters.get(self.leader_sid)
            leader_change = (old is None or new is None
                             or (old.host, old.quorum_port) != (new.host, new.quorum_port))
        if role_change or leader_change:
            if designated is not None:
                self._designated = designated
            role._lose("changes proposed in reconfig")

    def _check_role(self, now_ms) -> None:
        if self.role is not None:
            self._config_events(now_ms)
        role = self.role
        if role is None or not role.lost:
            if role is not None and self.state != LOOKING:
                self._note_epoch(role)
            return
        if not self._reload_pending:
            log.warning("role ended: %s", role.lost)
            self._reload_pending = True
            # Drain the role's last output (closing connections, ...).
            rd = role.ready(False)
            self._conns.extend(rd.conns)       # the clients it just closed
            if isinstance(role, Leader):
                self._send.extend(("learner", lid, data) for lid, data in rd.send)
            else:
                self._send.append(("hangup",))
        if self._batch_role is not None:
            return           # the batch in flight lands first
        self._reload_pending = False
        if isinstance(role, Leader) and role.handoff_to is not None:
            self._designated = role.handoff_to
        self.role = None
        tree, sessions, last, _ = self.storage.recover()
        self.core.replace_state(tree, sessions, now_ms)
        self.current_epoch, self.accepted_epoch = load_epochs(self.storage, last)
        designated, self._designated = self._designated, None
        if designated is not None and (designated == self.myid
                                       or designated in self.membership.voters):
            # QuorumPeer.updateServerState after a reconfig named the
            # leader: straight to that role, no election.
            self.looking_since_ms = now_ms
            self.elections += 1
            self.election.adopt(designated, last, self.current_epoch, now_ms)
            self._after_election(now_ms)
            return
        self._start_election(now_ms)

    def _note_epoch(self, role) -> None:
        # Once a role has moved to a new epoch, our vote says so to LOOKING
        # peers (ZOOKEEPER-1732), and the epochs we would start over from.
        epoch = role.current_epoch
        if epoch != self.current_epoch:
            self.current_epoch = epoch
            self.election.current.peer_epoch = epoch
        self.accepted_epoch = max(self.accepted_epoch, role.accepted_epoch)

    # --- observability -------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """``srvr``'s Mode: leader, follower, observer, read-only; or None
        while looking."""
        if self.role is None and self.core.read_only:
            return "read-only"
        if self.role is None or not self.core.serving:
            return None
        return {LEADING: "leader", FOLLOWING: "follower", OBSERVING: "observer"}[self.state]
