"""Fast Leader Election, sans-IO: ZooKeeper's electionAlg=3 as a state machine.

Theory of operation
-------------------
Each server proposes a vote (leader sid, that leader's last zxid, its peer
epoch) and tells every participant, itself included.  A vote beats another
when its peer epoch is higher, then its zxid, then its sid
(:func:`better`).  A LOOKING server adopts any better vote it hears within its
election round (``logical_clock``) and tells everyone again; a notification
from a later round resets the tally and moves the server to that round; an
earlier round is answered with our vote and otherwise ignored.  Once a quorum
of participants names the same vote, the server waits ``finalize_wait_ms`` for
anything better: a better notification reopens the round, worse ones are
dropped (as ZooKeeper drops them); silence decides it.  A server that joins an
ensemble that already has a leader decides from FOLLOWING/LEADING
notifications: a quorum naming the same leader, and that leader itself saying
LEADING (``check_leader``).

A server that is not LOOKING still answers: a LOOKING sender gets the vote
this server's last election ended with, in its current state; a sender that is
not a participant (an observer) always gets our current vote.  An observer
runs the same machine with the "no vote" id (Long.MIN_VALUE), which never
beats anything, so it can only learn the leader from the others.

No sockets, no clock: ``start(now_ms)`` opens a round, ``receive(sid, n,
now_ms)`` takes a decoded :class:`~.packets.Notification` from peer ``sid``,
``tick(now_ms)`` lets time pass (``deadline_ms`` says when it matters).  What
to send is appended to ``outbox`` as ``(to_sid, Notification)``; messages to
ourselves are delivered internally, as ZooKeeper's connection manager loops
them back.  ``decided`` is the end vote once the round is over, and ``state``
our new state (LEADING, FOLLOWING or OBSERVING).  Timeouts follow ZooKeeper:
a silent round re-sends its notifications after 200 ms, doubling up to 60 s.
"""
from __future__ import annotations

from .membership import MembershipError, parse_config_text
from .packets import FOLLOWING, LEADING, LOOKING, OBSERVING, Notification

#: Long.MIN_VALUE: an observer's vote, and its zxid and epoch in it.
NO_VOTE = -(1 << 63)

FINALIZE_WAIT_MS = 200
MIN_NOTIFICATION_INTERVAL_MS = 200
MAX_NOTIFICATION_INTERVAL_MS = 60000


class Vote:
    __slots__ = ("leader", "zxid", "election_epoch", "peer_epoch", "state", "version")

    def __init__(self, leader, zxid, election_epoch, peer_epoch, state=LOOKING, version=0):
        self.leader = leader
        self.zxid = zxid
        self.election_epoch = election_epoch
        self.peer_epoch = peer_epoch
        self.state = state
        self.version = version

    def same(self, other: "Vote") -> bool:
        """ZooKeeper's Vote.equals: a LOOKING vote must match in full; votes
        of servers out of election match on the leader (and the peer epoch,
        unless exactly one of them is of an old message format)."""
        if self.state == LOOKING or other.state == LOOKING:
            return (self.leader == other.leader and self.zxid == other.zxid
                    and self.election_epoch == other.election_epoch
                    and self.peer_epoch == other.peer_epoch)
        if (self.version > 0) != (other.version > 0):
            return self.leader == other.leader
        return self.leader == other.leader and self.peer_epoch == other.peer_epoch

    def __repr__(self):
        return "Vote(leader=%d, zxid=%#x, election_epoch=%#x, peer_epoch=%#x, state=%d)" % (
            self.leader, self.zxid, self.election_epoch, self.peer_epoch, self.state)


def better(new_leader, new_zxid, new_epoch, cur_leader, cur_zxid, cur_epoch, voters) -> bool:
    """ZooKeeper's totalOrderPredicate (majority quorums: every participant
    weighs 1, anyone else 0 and never wins)."""
    if new_leader not in voters:
        return False
    return (new_epoch > cur_epoch
            or (new_epoch == cur_epoch
                and (new_zxid > cur_zxid or (new_zxid == cur_zxid and new_leader > cur_leader))))


class Election:
    def __init__(self, myid: int, membership, last_zxid: int, current_epoch: int,
                 config: bytes = b""):
        self.myid = myid
        self.membership = membership
        self.voters = membership.voters
        self.participant = myid in self.voters
        #: The learner type (QuorumPeer.getLearnerType): an observer of the
        #: config observes; anyone else follows, a server outside the config
        #: as a non-voting participant.
        self.observer = myid in membership.observers
        self.last_zxid = last_zxid
        self.current_epoch = current_epoch
        self.config = config
        #: reconfigEnabled: a LOOKING server takes a newer config from any
        #: notification (FastLeaderElection's WorkerReceiver), reported here
        #: for the peer to put in force and restart the election.
        self.reconfig_enabled = False
        self.newer_config = None
        self.logical_clock = 0
        self.state = LOOKING
        #: The vote the last round ended with (what we answer with when not LOOKING).
        self.current = Vote(self._init_id(), self._init_zxid(), 0, self._init_epoch())
        self.proposal = self.current
        self.decided = None
        self.outbox = []
        self.deadline_ms = None
        self._looking = False
        self._recv = {}          # sid -> Vote, this round
        self._out_of_election = {}
        self._interval_ms = MIN_NOTIFICATION_INTERVAL_MS
        self._finalizing = False

    def _newer_config(self, text: bytes):
        try:
            ms = parse_config_text(bytes(text).decode("utf-8", "replace"))
        except MembershipError:
            return None
        if ms.version <= self.membership.version or not ms.members:
            return None
        return ms

    def reconfigure(self, membership, config: bytes) -> None:
        """A new config is in force: who votes from now on, and the config
        string (with its version) our notifications carry."""
        self.membership = membership
        self.voters = membership.voters
        self.participant = self.myid in self.voters
        self.observer = self.myid in membership.observers
        self.config = config

    # --- our own vote ----------------------------------------------------------
    def _init_id(self):
        return self.myid if self.participant else NO_VOTE

    def _init_zxid(self):
        return self.last_zxid if self.participant else NO_VOTE

    def _init_epoch(self):
        return self.current_epoch if self.participant else NO_VOTE

    def _propose(self, leader, zxid, epoch):
        self.proposal = Vote(leader, zxid, self.logical_clock, epoch)

    def _notification(self, vote: Vote, election_epoch: int, state: int) -> Notification:
        return Notification(state, vote.leader, vote.zxid, election_epoch, vote.peer_epoch,
                            config=self.config)

    def _send_notifications(self) -> None:
        p = self.proposal
        n = Notification(LOOKING, p.leader, p.zxid, self.logical_clock, p.peer_epoch,
                         config=self.config)
        loopback = False
        for sid in sorted(self.voters):
            if sid == self.myid:
                loopback = True
            else:
                self.outbox.append((sid, n))
        if loopback:
            self._take(self.myid, n, None)

    # --- inputs ------------------------------------------------------------------
    def start(self, now_ms: int, last_zxid: int = None, current_epoch: int = None) -> None:
        """Open a new round (at start, or when the leader is lost)."""
        if last_zxid is not None:
            self.last_zxid = last_zxid
        if current_epoch is not None:
            self.current_epoch = current_epoch
        self.state = LOOKING
        self.decided = None
        self._looking = True
        self._recv = {}
        self._out_of_election = {}
        self._finalizing = False
        self._interval_ms = MIN_NOTIFICATION_INTERVAL_MS
        self.logical_clock += 1
        self._propose(self._init_id(), self._init_zxid(), self._init_epoch())
        self._now = now_ms
        self.deadline_ms = now_ms + self._interval_ms
        self._send_notifications()

    def receive(self, sid: int, n: Notification, now_ms: int) -> None:
        """A notification from peer ``sid`` (ZooKeeper's WorkerReceiver)."""
        self._now = now_ms
        if n.state not in (LOOKING, FOLLOWING, LEADING, OBSERVING):
            return
        if self.reconfig_enabled and self._looking and n.config:
            newer = self._newer_config(n.config)
            if newer is not None:
                self.newer_config = newer
                return           # the peer restarts the election under it
        if sid not in self.voters:
            # Not a participant: it only gets to hear our current vote.
            self.outbox.append((sid, self._notification(self.current, self.logical_clock,
                                                        self.state)))
            return
        if self._looking:
            if n.state == LOOKING and n.election_epoch < self.logical_clock:
                self.outbox.append((sid, self._notification(self.proposal, self.logical_clock,
                                                            LOOKING)))
            self._take(sid, n, now_ms)
        elif n.state == LOOKING:
            c = self.current
            self.outbox.append((sid, self._notification(c, c.election_epoch, self.state)))

    def adopt(self, leader: int, zxid: int, current_epoch: int, now_ms: int) -> None:
        """End in the role a committed reconfig named (QuorumPeer.updateVote
        and updateServerState): ``leader`` leads, no round is run."""
        self._now = now_ms
        self.last_zxid = zxid
        self.current_epoch = current_epoch
        self._recv = {}
        self._out_of_election = {}
        self._decide(leader, zxid, self.logical_clock, current_epoch)

    def tick(self, now_ms: int) -> None:
        self._now = now_ms
        if not self._looking or self.deadline_ms is None or now_ms < self.deadline_ms:
            return
        if self._finalizing:
            self._decide(self.proposal.leader, self.proposal.zxid, self.logical_clock,
                         self.proposal.peer_epoch)
            return
        # A silent round: tell everyone again, and wait longer next time.
        self._send_notifications()
        if self._looking:
            self._interval_ms = min(self._interval_ms * 2, MAX_NOTIFICATION_INTERVAL_MS)
            self.deadline_ms = now_ms + self._interval_ms

    # --- lookForLeader's loop body -----------------------------------------------------
    def _take(self, sid: int, n: Notification, now_ms) -> None:
        if not self._looking:
            return
        now = self._now if now_ms is None else now_ms
        if self._finalizing:
            p = self.proposal
            if not better(n.leader, n.zxid, n.peer_epoch, p.leader, p.zxid, p.peer_epoch,
                          self.voters):
                return                      # dropped while we wait, as in ZooKeeper
            self._finalizing = False
        if n.leader not in self.voters:
            return                          # ZooKeeper's validVoter(n.leader)
        self.deadline_ms = now + self._interval_ms
        if n.state == LOOKING:
            self._looking_notification(sid, n, now)
        elif n.state in (FOLLOWING, LEADING):
            self._settled_notification(sid, n)

    def _looking_notification(self, sid, n, now):
        if self._init_zxid() == -1 or n.zxid == -1:
            return
        p = self.proposal
        if n.election_epoch > self.logical_clock:
            self.logical_clock = n.election_epoch
            self._recv = {}
            if better(n.leader, n.zxid, n.peer_epoch, self._init_id(), self._init_zxid(),
                      self._init_epoch(), self.voters):
                self._propose(n.leader, n.zxid, n.peer_epoch)
            else:
                self._propose(self._init_id(), self._init_zxid(), self._init_epoch())
            self._send_notifications()
            if not self._looking:
                return
        elif n.election_epoch < self.logical_clock:
            return
        elif better(n.leader, n.zxid, n.peer_epoch, p.leader, p.zxid, p.peer_epoch, self.voters):
            self._propose(n.leader, n.zxid, n.peer_epoch)
            self._send_notifications()
            if not self._looking:
                return
        self._recv[sid] = Vote(n.leader, n.zxid, n.election_epoch, n.peer_epoch)
        p = self.proposal
        mine = Vote(p.leader, p.zxid, self.logical_clock, p.peer_epoch)
        if self._has_quorum(self._recv, mine) and not self._finalizing:
            self._finalizing = True
            self.deadline_ms = now + FINALIZE_WAIT_MS

    def _settled_notification(self, sid, n):
        vote = Vote(n.leader, n.zxid, n.election_epoch, n.peer_epoch, n.state, n.version)
        if n.election_epoch == self.logical_clock:
            self._recv[sid] = vote
            if self._has_quorum(self._recv, vote) and self._check_leader(
                    self._recv, n.leader, n.election_epoch):
                self._decide(n.leader, n.zxid, n.election_epoch, n.peer_epoch)
                return
        self._out_of_election[sid] = vote
        if self._has_quorum(self._out_of_election, vote) and self._check_leader(
                self._out_of_election, n.leader, n.election_epoch):
            self.logical_clock = n.election_epoch
            self._decide(n.leader, n.zxid, n.election_epoch, n.peer_epoch)

    def _has_quorum(self, votes, vote) -> bool:
        return self.membership.is_quorum(sid for sid, v in votes.items() if v.same(vote))

    def _check_leader(self, votes, leader, election_epoch) -> bool:
        if leader != self.myid:
            v = votes.get(leader)
            return v is not None and v.state == LEADING
        return self.logical_clock == election_epoch

    def _decide(self, leader, zxid, election_epoch, peer_epoch):
        if leader == self.myid:
            self.state = LEADING
        else:
            self.state = OBSERVING if self.observer else FOLLOWING
        self.current = Vote(leader, zxid, election_epoch, peer_epoch, self.state)
        self.decided = self.current
        self._looking = False
        self._finalizing = False
        self.deadline_ms = None
