"""The leader of a ZooKeeper ensemble, sans-IO.

Theory of operation
-------------------
:class:`Leader` is the server step of the elected leader, with the Ready
contract of the standalone driver (``server/core/driver.py``).  Learners are
connections, named by an id the caller picks (``learner_connected(lid)``);
their packets come in through ``receive(lid, packet, now_ms)``;
``ready().send`` holds ``(lid, bytes)`` to write to them, and ``(lid, None)``
for a connection to close.  ``ready().persist`` is the leader's own log, and
``persisted(zxid)`` its fsync.

Establishing the epoch (ZooKeeper's Leader.lead and LearnerHandler):

1. Each learner sends FOLLOWERINFO or OBSERVERINFO with its accepted epoch.
   Once a quorum of voters (this server included) has, the new epoch is one
   more than the highest of theirs; the acceptedEpoch file is written and
   every learner gets LEADERINFO.  A learner that comes later gets it at once.
2. ACKEPOCH carries the learner's last zxid and current epoch.  A voter that
   is ahead of us (a later current epoch, or the same one and a later zxid)
   means this server should not lead: we give up.  Once a quorum of voters
   has acked, currentEpoch is written.
3. Each learner that has acked its epoch is synced from our history: DIFF
   (the txns it lacks, as PROPOSAL+COMMIT pairs), TRUNC (it is ahead of us:
   cut back, maybe followed by txns), or SNAP (our whole state).  The
   proposals still outstanding follow, then NEWLEADER; from then on it gets
   every PROPOSAL and COMMIT (INFORM for an observer) as the others do.
4. Once a quorum of voters has acked NEWLEADER, we serve clients, and every
   learner that acked it gets UPTODATE (later ones as soon as they ack).

Broadcast: the Proposer (``server/core/proposer.py``) preps a write and calls
``propose(hdr, txn)``: the txn gets a PROPOSAL to every synced follower and a
place in our own log.  It commits once a quorum of voters has logged it (our
own log counts once ``persisted`` says so); txns commit in zxid order.  Then
the front end applies it, followers get COMMIT, observers INFORM.  ACKs for
zxids already committed are ignored.  Debian's 3.8.0 logs the proposals of
its sync after NEWLEADER and acks each once logged, on another thread than
its NEWLEADER ACK, so a proposal's ACK can come first (ZOOKEEPER-4685; a
Java leader then took it for the NEWLEADER ACK).  We keep such an ACK and
count it once the NEWLEADER ACK has come: dropping it could leave the
proposal without a quorum for good, and every later one behind it.

Reconfig (``reconfigEnabled``): prep asks :meth:`Leader.prep_reconfig` for
the new config text (PrepRequestProcessor's checks); the txn is a SetDataTxn
of /zookeeper/config.  From its proposal until it commits, every proposal
needs a quorum of the new config's voters as well as of the old one's.  On
commit the new config is in force here, followers get COMMITANDACTIVATE and
observers INFORMANDACTIVATE, both with the designated leader's sid; if that
is another server, nothing more commits here and the role ends once the txn
is applied.  Servers outside the config may follow (non-voting) or observe.

Liveness: a PING to every learner each tickTime/2; a learner silent for
syncLimit ticks (initLimit while it syncs) is dropped; if the voters heard
from within syncLimit ticks, us included, are no quorum, the leader steps
down (``lost``).  Learners' PING replies touch their clients' sessions; the
leader alone expires sessions (the Proposer's ``tick``).
"""
from __future__ import annotations

import logging
from collections import OrderedDict, deque

from zkwire.consts import Err, OpCode
from zkwire.protocol import Malformed, decode_request as decode_client_request, ProtocolError

from ..core.driver import Ready
from ..storage.snapshot import SnapshotCapture
from ..storage.store import ACCEPTED_EPOCH, CURRENT_EPOCH
from .epochs import epoch_of, make_zxid
from ..core.prep import KeeperError
from .membership import Membership, MembershipError, parse_config_text, parse_server
from .packets import (
    ACK, ACKEPOCH, COMMIT, COMMITANDACTIVATE, DIFF, FOLLOWERINFO, INFORM, INFORMANDACTIVATE,
    LEADERINFO, NEWLEADER, OBSERVERINFO,
    PING, PROPOSAL, REQUEST, REVALIDATE, SNAP, SYNC, TRUNC, UPTODATE, PacketError,
    decode_ack_epoch, decode_learner_info, decode_request, decode_touches,
    decode_revalidate_request, encode_leader_info, encode_packet, encode_revalidate_reply,
    encode_snapshot_signature, encode_suggested_leader, encode_txn, packet_name,
)

log = logging.getLogger("zkwire.leader")

#: Nodes a SNAP capture copies per ``ready`` (one slice of the event loop).
SNAP_SLICE_NODES = 20000
#: Bytes of snapshot body per write handed to the edge.
SNAP_WRITE_BYTES = 1 << 20
#: Packets held for a learner while its snapshot is captured, at most
#: (it is dropped past that: the ensemble writes faster than we capture).
MAX_SNAP_BACKLOG_BYTES = 256 << 20
#: Txns kept in memory to sync learners by DIFF (ZooKeeper: commitLogCount).
HISTORY_TXNS = 500

# Per-learner states.
INFO, EPOCH_SENT, EPOCH_ACKED, NEWLEADER_SENT, SYNCED, STREAMING = range(6)

# Leader phases.
DISCOVERY, WAIT_EPOCH_ACKS, WAIT_NEWLEADER_ACKS, BROADCAST, LOST = (
    "discovery", "epoch-acks", "newleader-acks", "broadcast", "lost")


def load_history(storage, last_zxid: int, limit: int = HISTORY_TXNS) -> list:
    """The txns a new leader can sync learners from by DIFF: the last
    ``limit`` of its log that lead, without a hole, up to ``last_zxid`` (its
    state).  Only what the state was rebuilt from counts: the log after the
    newest snapshot at or before ``last_zxid``.  Older entries may sit on the
    far side of a SNAP this server was synced by, with txns it never logged
    in between, and a DIFF across that hole would lose them
    (ZOOKEEPER-4925).  Inside one epoch zxids are consecutive, so a hole
    there also cuts the history; across epochs it cannot be seen, as in
    ZooKeeper."""
    base = 0
    for zxid, _ in storage.list_snapshots():
        if zxid <= last_zxid:
            base = zxid
            break
    tail = []
    prev = base
    for hdr, txn in storage.read_log(base + 1):
        z = hdr.zxid
        if z > last_zxid:
            break
        if prev and (z >> 32) == (prev >> 32) and z != prev + 1:
            tail = []                    # a hole: only what follows it is whole
        tail.append((hdr, txn))
        prev = z
        if len(tail) > 2 * limit:
            del tail[:limit]
    if not tail or tail[-1][0].zxid != last_zxid:
        return []                        # nothing that ends at our state: SNAP
    return tail[-limit:]


class LearnerGone(Exception):
    """One learner broke the protocol: drop its connection."""


class _Learner:
    __slots__ = ("lid", "sid", "observer", "state", "accepted_epoch", "peer_zxid",
                 "current_epoch", "heard_ms", "addr", "capture", "backlog", "backlog_bytes",
                 "early_acks")

    def __init__(self, lid, now_ms, addr=None):
        self.lid = lid
        self.sid = None
        self.observer = False
        self.state = INFO
        self.accepted_epoch = None
        self.peer_zxid = None
        self.current_epoch = None
        self.heard_ms = now_ms
        self.addr = addr
        # While a SNAP is captured for it (STREAMING): the capture, and the
        # packets that follow the snapshot, held back until it is sent.
        self.capture = None
        self.backlog = []
        self.backlog_bytes = 0
        # ACKs of outstanding proposals that came before the NEWLEADER ACK.
        self.early_acks = set()

    def __repr__(self):
        return "<learner %s sid=%s>" % (self.lid, self.sid)


class _Proposal:
    __slots__ = ("hdr", "txn", "data", "acks", "next_voters", "config")

    def __init__(self, hdr, txn, data, next_voters=None, config=None):
        self.hdr = hdr
        self.txn = txn
        self.data = data
        self.acks = set()
        #: While a reconfig is proposed and not committed, every proposal
        #: needs a quorum of the proposed config's voters too.
        self.next_voters = next_voters
        #: A reconfig's new Membership.
        self.config = config


class Leader:
    def __init__(self, core, storage, myid: int, membership, accepted_epoch: int,
                 current_epoch: int, now_ms: int, tick_ms: int = 2000, init_limit: int = 10,
                 sync_limit: int = 5, config_text: bytes = b"", history=(),
                 snap_slice_nodes: int = None, standalone_enabled: bool = True):
        self.core = core
        self.snap_slice_nodes = snap_slice_nodes or SNAP_SLICE_NODES
        self.storage = storage
        self.myid = myid
        self.membership = membership
        self.voters = membership.voters
        self._voter_ids = frozenset(membership.voters)
        #: The newest config proposed (ZooKeeper's lastSeenQuorumVerifier):
        #: the committed one unless a reconfig is under way.
        self.last_seen = membership
        self.reconfig_enabled = core.config.reconfig_enabled
        #: standaloneEnabled: a reconfig then leaves at least 2 voters.
        self.standalone_enabled = standalone_enabled
        #: (Membership, designated leader sid) of each config activated
        #: since the peer last looked (it writes the dynamic config file).
        self.activated = []
        #: False once a reconfig committed that designates another leader:
        #: nothing more commits here (ZooKeeper's allowedToCommit).
        self.allowed_to_commit = True
        self.accepted_epoch = accepted_epoch
        self.current_epoch = current_epoch
        self.tick_ms = tick_ms
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.config_text = config_text
        self.phase = DISCOVERY
        self.lost = None
        self.epoch = None
        self.started_ms = now_ms
        self.learners = {}               # lid -> _Learner
        self._by_sid = {}                # sid -> lid
        self._send = []
        self._committed = []
        self._to_log = []                # own txns not yet handed out
        self._unsynced = None
        self.outstanding = OrderedDict()  # zxid -> _Proposal, proposed, not committed
        self.last_proposed = core.tree.last_zxid
        self.last_committed = core.tree.last_zxid
        # (hdr, txn, encoded) of recent txns, for DIFFs.  At start: the tail
        # of our own log (what we hold, committed or not, becomes the new
        # epoch's history, as in ZooKeeper).
        self.history = deque(((h, t, encode_txn(h, t)) for h, t in history), maxlen=HISTORY_TXNS)
        self._pending_syncs = {}          # zxid -> [lid], answered once it commits
        # Committed txns not yet in our own log: applied once they are (the
        # tree never holds a txn our log does not; see learner.py).
        self._apply_wait = deque()
        self._logged_zxid = core.tree.last_zxid
        self._next_ping_ms = now_ms
        #: srvr's "Proposal sizes last/min/max" (bytes of PROPOSAL data; -1: none yet).
        self.proposal_sizes = (-1, -1, -1)
        self.established_ms = None
        self._epoch_acks = {myid}
        self._newleader_acks = {myid}
        core.tree.set_config(config_text, membership.version, now_ms)
        core.serving = False
        core.via_leader = False
        core.sessions.touched = None
        self.proposer = core.config.proposer(core.tree, core.auth, core.sessions, self, now_ms,
                                             core.metrics)
        self.proposer.prep.reconfigurer = self
        core.proposer = self.proposer
        self._info_sids = {myid: accepted_epoch}
        self._streaming = 0               # learners with a SNAP capture under way

    # --- output ----------------------------------------------------------------------
    def _to(self, lid, ptype, zxid, data=None) -> None:
        self._to_packet(lid, encode_packet(ptype, zxid, data))

    def _to_packet(self, lid, pkt: bytes) -> None:
        """``pkt``, encoded, to one learner (the same bytes may go to many)."""
        if self._streaming:
            ln = self.learners.get(lid)
            if ln is not None and ln.capture is not None:
                ln.backlog.append(pkt)
                ln.backlog_bytes += len(pkt)
                return
        self._send.append((lid, pkt))

    def ready(self, persist: bool = True) -> Ready:
        if self._streaming:
            self._stream_snapshots()
        batch = []
        if persist and self._unsynced is None and self._to_log and self.phase == BROADCAST:
            batch = self._unsynced = self._to_log
            self._to_log = []
        sends, self._send = self._send, []
        committed, self._committed = self._committed, []
        return Ready(batch, sends, committed, self.core.take_dirty())

    def busy(self) -> bool:
        return self._unsynced is not None

    def has_pending(self) -> bool:
        return bool(self._to_log)

    def wants_turn(self) -> bool:
        """A SNAP is being captured: call ``ready`` again on the next turn."""
        return self._streaming > 0

    # --- learners ------------------------------------------------------------------------
    def learner_connected(self, lid, now_ms: int, addr=None) -> None:
        if self.phase == LOST:
            self._send.append((lid, None))
            return
        self.learners[lid] = _Learner(lid, now_ms, addr)

    def learner_lost(self, lid) -> None:
        ln = self.learners.pop(lid, None)
        if ln is None:
            return
        if ln.capture is not None:
            ln.capture.close()
            ln.capture = None
            self._streaming -= 1
        if ln.sid is not None and self._by_sid.get(ln.sid) == lid:
            del self._by_sid[ln.sid]
        for waiting in self._pending_syncs.values():
            while lid in waiting:
                waiting.remove(lid)

    def _drop(self, ln, reason: str) -> None:
        log.warning("dropping learner %s (sid %s): %s", ln.addr or ln.lid, ln.sid, reason)
        self._send.append((ln.lid, None))
        self.learner_lost(ln.lid)

    def receive(self, lid, pkt, now_ms: int) -> None:
        ln = self.learners.get(lid)
        if ln is None or self.phase == LOST:
            return
        ln.heard_ms = now_ms
        try:
            handler = _HANDLERS.get(pkt.type)
            if handler is None:
                raise LearnerGone("unexpected %s" % packet_name(pkt.type))
            handler(self, ln, pkt, now_ms)
        except (LearnerGone, PacketError) as e:
            self._drop(ln, "%s (%s zxid %#x)" % (e, packet_name(pkt.type), pkt.zxid))

    def _quorum(self, sids) -> bool:
        # Membership.is_quorum's rule, on the hot path of every ACK.
        return len(self._voter_ids.intersection(sids)) * 2 > len(self._voter_ids)

    def _lose(self, reason: str, keep_sends: bool = False) -> None:
        if self.phase == LOST:
            return
        log.warning("no longer leading: %s", reason)
        self.phase = LOST
        self.lost = reason
        self.core.serving = False
        self.core.close_clients("this server stopped leading")
        # After a handoff what is queued (the COMMITANDACTIVATE) still goes out.
        self._send = (self._send if keep_sends else []) + [(lid, None) for lid in self.learners]
        for lid in list(self.learners):
            self.learner_lost(lid)

    # --- discovery ------------------------------------------------------------------------
    def _learnerinfo(self, ln, pkt, now_ms):
        if ln.state != INFO:
            raise LearnerGone("second learner info")
        info = decode_learner_info(pkt.data)
        sid = info.serverid
        if sid is None:
            raise LearnerGone("learner info without a server id")
        observer = pkt.type == OBSERVERINFO
        if sid == self.myid:
            raise LearnerGone("a learner with our own id %d" % sid)
        if sid not in self.membership.members and not self.reconfig_enabled:
            raise LearnerGone("server %d is not in the configuration" % sid)
        # With reconfigEnabled a server outside the configuration follows as
        # a non-voting participant (or observes), as in ZooKeeper: that is
        # how a new server gets synced before a reconfig adds it.
        old = self._by_sid.get(sid)
        if old is not None and old != ln.lid:
            self._drop(self.learners[old], "replaced by a new connection from the same server")
        self._by_sid[sid] = ln.lid
        ln.sid = sid
        ln.observer = observer or (sid not in self.voters and not self.reconfig_enabled)
        ln.accepted_epoch = epoch_of(pkt.zxid)
        ln.state = EPOCH_SENT
        if self.epoch is None:
            if not ln.observer:
                self._info_sids[sid] = ln.accepted_epoch
            if self._quorum(self._info_sids):
                self._choose_epoch()
        else:
            self._to(ln.lid, LEADERINFO, make_zxid(self.epoch, 0), encode_leader_info())

    def _choose_epoch(self):
        self.epoch = max(self._info_sids.values()) + 1
        if (self.reconfig_enabled and self.membership.version == 0
                and self.last_seen.version == 0):
            # ZOOKEEPER-1783, as Leader.lead: the initial config (version 0)
            # gets the new epoch's first zxid as its version once the epoch
            # is established; NEWLEADER already carries it.
            self.last_seen = self.membership.with_version(make_zxid(self.epoch, 0))
            self.config_text = self.last_seen.config_text().encode()
        self.storage.write_epoch(ACCEPTED_EPOCH, self.epoch)
        self.accepted_epoch = self.epoch
        self.phase = WAIT_EPOCH_ACKS
        for ln in self.learners.values():
            if ln.state == EPOCH_SENT:
                self._to(ln.lid, LEADERINFO, make_zxid(self.epoch, 0), encode_leader_info())

    def _ackepoch(self, ln, pkt, now_ms):
        if ln.state != EPOCH_SENT or self.epoch is None:
            raise LearnerGone("ACKEPOCH out of order")
        ln.current_epoch = decode_ack_epoch(pkt.data)
        ln.peer_zxid = pkt.zxid
        ln.state = EPOCH_ACKED
        if self.phase == WAIT_EPOCH_ACKS:
            if not ln.observer:
                ahead = (ln.current_epoch > self.current_epoch
                         or (ln.current_epoch == self.current_epoch
                             and ln.peer_zxid > self.core.tree.last_zxid))
                if ahead:
                    self._lose("server %d is ahead of us (epoch %d, zxid %#x)"
                               % (ln.sid, ln.current_epoch, ln.peer_zxid))
                    return
                self._epoch_acks.add(ln.sid)
            if self._quorum(self._epoch_acks):
                self.storage.write_epoch(CURRENT_EPOCH, self.epoch)
                self.current_epoch = self.epoch
                self.proposer.prep.last_zxid = make_zxid(self.epoch, 0)
                self.phase = WAIT_NEWLEADER_ACKS
                for other in list(self.learners.values()):
                    if other.state == EPOCH_ACKED:
                        self._sync(other)
        else:
            self._sync(ln)

    # --- sync -----------------------------------------------------------------------------
    def _sync(self, ln) -> None:
        peer = ln.peer_zxid
        last = self.last_committed
        hist = self.history
        txns = []
        # epoch << 32 (a learner synced by SNAP at the start of an epoch, or
        # restarted from a snapshot named so) is no txn of ours: as in
        # ZooKeeper's syncFollower, such a learner is never sent TRUNC.
        new_epoch_peer = peer > 0 and not peer & 0xFFFFFFFF
        snap_count = self.core.metrics.counters["snap_count"]
        if peer == last:
            self._to(ln.lid, DIFF, last)
        elif peer > last and new_epoch_peer:
            txns = self._snapshot_to(ln)
        elif peer > last:
            self._to(ln.lid, TRUNC, last)
        elif hist and hist[0][0].zxid <= peer:
            # Inside our history: the txns after it; if it is not one of
            # ours, cut the learner back to the last one before it first.
            prev = None
            start = len(hist)
            for i, (h, _, _) in enumerate(hist):
                if h.zxid > peer:
                    start = i
                    break
                prev = h.zxid
            if prev == peer or new_epoch_peer:
                self._to(ln.lid, DIFF, last)
            else:
                self._to(ln.lid, TRUNC, prev)
            txns = list(hist)[start:]
        elif hist and hist[0][0].zxid == peer + 1 and epoch_of(peer) == epoch_of(hist[0][0].zxid):
            self._to(ln.lid, DIFF, last)
            txns = list(hist)
        else:
            txns = self._snapshot_to(ln)
        if self.core.metrics.counters["snap_count"] == snap_count:
            # LearnerHandler: every sync that is not a SNAP (DIFF or TRUNC).
            self.core.metrics.counters["diff_count"] += 1
        for h, _, data in txns:
            if ln.observer:
                self._to(ln.lid, INFORM, h.zxid, data)
            else:
                self._to(ln.lid, PROPOSAL, h.zxid, data)
                self._to(ln.lid, COMMIT, h.zxid)
        if not ln.observer:
            for zxid, p in self.outstanding.items():
                self._to(ln.lid, PROPOSAL, zxid, p.data)
        if ln.capture is not None:
            ln.state = STREAMING       # NEWLEADER follows the snapshot
            return
        self._to(ln.lid, NEWLEADER, make_zxid(self.epoch, 0), self.config_text)
        ln.state = NEWLEADER_SENT

    def _snapshot_to(self, ln) -> list:
        """SNAP now; the snapshot is captured in slices over the next
        ``ready`` calls (:meth:`_stream_snapshots`), so a big tree does not
        stop the leader.  The capture is fuzzy, as ZooKeeper's is: txns
        applied while it runs may show in it, and follow it as PROPOSAL and
        COMMIT before NEWLEADER, where the learner applies them as replays."""
        tree = self.core.tree
        sessions = {sid: s.timeout_ms for sid, s in self.core.sessions.sessions.items()}
        self.core.metrics.counters["snap_count"] += 1
        self._to(ln.lid, SNAP, tree.last_zxid)
        ln.capture = SnapshotCapture(tree, sessions, tree.last_zxid)
        self._streaming += 1
        # Committed txns our own log (and so our tree) does not hold yet
        # follow the snapshot, or the learner would miss them.
        return [(h, t, encode_txn(h, t)) for h, t in self._apply_wait]

    def _stream_snapshots(self) -> None:
        for ln in [ln for ln in self.learners.values() if ln.capture is not None]:
            if ln.backlog_bytes > MAX_SNAP_BACKLOG_BYTES:
                self._drop(ln, "%d bytes of packets waiting behind its snapshot"
                           % ln.backlog_bytes)
                continue
            capture = ln.capture
            if not capture.step(self.snap_slice_nodes):
                continue
            ln.capture = None
            self._streaming -= 1
            send = self._send
            # Writes of about a MiB each (a small tree: one, as before).
            pieces, size = [], 0
            for piece in capture.body_pieces():
                pieces.append(piece)
                size += len(piece)
                if size >= SNAP_WRITE_BYTES:
                    send.append((ln.lid, b"".join(pieces)))
                    pieces, size = [], 0
            capture.close()
            pieces.append(encode_snapshot_signature())
            send.append((ln.lid, b"".join(pieces)))
            send.extend((ln.lid, pkt) for pkt in ln.backlog)
            ln.backlog = []
            ln.backlog_bytes = 0
            self._to(ln.lid, NEWLEADER, make_zxid(self.epoch, 0), self.config_text)
            ln.state = NEWLEADER_SENT

    def _ack(self, ln, pkt, now_ms):
        zxid = pkt.zxid
        if ln.state == NEWLEADER_SENT:
            if zxid != make_zxid(self.epoch, 0):
                # A proposal of its sync, logged before it acked NEWLEADER
                # (3.8.0, see above): counted once it has.  Bounded by the
                # outstanding proposals.
                if zxid in self.outstanding and not ln.observer:
                    ln.early_acks.add(zxid)
                return
            ln.state = SYNCED
            if self.phase == WAIT_NEWLEADER_ACKS:
                if not ln.observer:
                    self._newleader_acks.add(ln.sid)
                if self._quorum(self._newleader_acks):
                    self._establish(now_ms)
            elif self.phase == BROADCAST:
                self._to(ln.lid, UPTODATE, -1)
                early, ln.early_acks = ln.early_acks, set()
                for z in sorted(early):
                    p = self.outstanding.get(z)
                    if p is not None:
                        p.acks.add(ln.sid)
                if early:
                    self._try_commit(now_ms)
            return
        if ln.state != SYNCED or ln.observer:
            return
        p = self.outstanding.get(zxid)
        if p is None:
            return        # already committed, or the UPTODATE ack (epoch << 32)
        p.acks.add(ln.sid)
        self._try_commit(now_ms)

    def learner_counts(self) -> dict:
        """mntr's learner figures."""
        synced = [ln for ln in self.learners.values() if ln.state == SYNCED]
        return dict(learners=len(self.learners),
                    synced_followers=sum(1 for ln in synced if ln.sid in self.voters),
                    synced_non_voting=sum(1 for ln in synced if not ln.observer
                                          and ln.sid not in self.voters),
                    synced_observers=sum(1 for ln in synced if ln.observer))

    def _establish(self, now_ms) -> None:
        self.phase = BROADCAST
        self.established_ms = now_ms
        tree = self.core.tree
        sessions = {sid: s.timeout_ms for sid, s in self.core.sessions.sessions.items()}
        # As ZooKeeper's leader does at the start of its epoch.
        self.storage.save_snapshot(tree, sessions, tree.last_zxid)
        # Then, as ZooKeeper's Leader.startZkServer: our last processed zxid
        # becomes epoch << 32 (no txn has it).  A learner that syncs later
        # from an older zxid with nothing to DIFF gets a SNAP at that zxid,
        # and reports it in srvr, as a Java learner joining late does.
        #: The last txn of the history this epoch starts from (Zab's initial history).
        self.initial_zxid = tree.last_zxid
        start = make_zxid(self.epoch, 0)
        tree.last_zxid = max(tree.last_zxid, start)
        self.last_committed = max(self.last_committed, start)
        for sid, s in self.core.sessions.sessions.items():
            self.core.sessions.add(sid, s.timeout_ms, now_ms)
        if self.reconfig_enabled and self.last_seen.version > self.membership.version:
            self._activate(self.last_seen, self.myid, now_ms)
            # Outside any txn, as QuorumPeer.initConfigInZKDatabase.
            tree.set_config(self.config_text, self.membership.version, now_ms)
        self.core.serving = True
        for ln in self.learners.values():
            if ln.state == SYNCED:
                self._to(ln.lid, UPTODATE, -1)
        log.info("leading epoch %d with %s", self.epoch, sorted(self._newleader_acks))

    # --- broadcast ------------------------------------------------------------------------
    def propose(self, hdr, txn) -> None:
        """The Proposer's replicator call: a prepped txn to replicate."""
        if self.phase != BROADCAST:
            raise AssertionError("proposal %#x before the epoch is established" % hdr.zxid)
        data = encode_txn(hdr, txn)
        size = len(data)
        _, low, high = self.proposal_sizes
        self.proposal_sizes = (size, size if low < 0 else min(low, size), max(high, size))
        config = None
        if hdr.type == OpCode.reconfig:
            config = parse_config_text(txn.data.decode())
            self.last_seen = config
        next_voters = None
        if self.last_seen.version > self.membership.version:
            next_voters = frozenset(self.last_seen.voters)
        self.outstanding[hdr.zxid] = _Proposal(hdr, txn, data, next_voters, config)
        self.core.metrics.counters["proposal_count"] += 1
        self.last_proposed = hdr.zxid
        self._to_log.append((hdr, txn))
        pkt = None
        for ln in self.learners.values():
            if not ln.observer and ln.state in (NEWLEADER_SENT, SYNCED, STREAMING):
                if pkt is None:
                    pkt = encode_packet(PROPOSAL, hdr.zxid, data)
                self._to_packet(ln.lid, pkt)

    def persisted(self, zxid: int, now_ms: int) -> None:
        batch = self._unsynced
        if batch is None or batch[-1][0].zxid != zxid:
            raise AssertionError("persisted(%#x) does not match the batch handed out" % zxid)
        self._unsynced = None
        if self.phase == LOST:
            return
        self._logged_zxid = zxid
        for hdr, _ in batch:
            p = self.outstanding.get(hdr.zxid)
            if p is not None:
                p.acks.add(self.myid)
        self._try_commit(now_ms)
        wait = self._apply_wait
        while wait and wait[0][0].zxid <= zxid:
            hdr, txn = wait.popleft()
            self._apply(hdr, txn, now_ms)

    def _try_commit(self, now_ms) -> None:
        out = self.outstanding
        while out and self.allowed_to_commit:
            zxid, p = next(iter(out.items()))
            if not self._quorum(p.acks):
                return
            nv = p.next_voters
            if nv is not None and len(nv.intersection(p.acks)) * 2 <= len(nv):
                return
            del out[zxid]
            self.core.metrics.counters["commit_count"] += 1
            self.last_committed = zxid
            self.history.append((p.hdr, p.txn, p.data))
            if p.config is not None:
                self._commit_reconfig(zxid, p, now_ms)
                continue
            commit = inform = None
            for ln in self.learners.values():
                if ln.state not in (NEWLEADER_SENT, SYNCED, STREAMING):
                    continue
                if ln.observer:
                    if inform is None:
                        inform = encode_packet(INFORM, zxid, p.data)
                    self._to_packet(ln.lid, inform)
                else:
                    if commit is None:
                        commit = encode_packet(COMMIT, zxid)
                    self._to_packet(ln.lid, commit)
            if not self._apply_wait and zxid <= self._logged_zxid:
                self._apply(p.hdr, p.txn, now_ms)
            else:
                self._apply_wait.append((p.hdr, p.txn))
            for lid in self._pending_syncs.pop(zxid, ()):
                self._to(lid, SYNC, 0)

    def unapplied_commit_zxid(self):
        """Proposer.sync_barrier: the newest committed txn still waiting
        for our own log."""
        return self._apply_wait[-1][0].zxid if self._apply_wait else None

    def _apply(self, hdr, txn, now_ms) -> None:
        self.core.commit([(hdr, txn)], now_ms)
        self._committed.append((hdr, txn))
        if not self.allowed_to_commit and self._handoff_zxid == hdr.zxid:
            # The reconfig that named another leader is applied here too:
            # our learners follow that one now (they heard so in its
            # COMMITANDACTIVATE), and so does this server (the peer's handoff).
            self._lose("the new configuration is led by server %d" % self._handoff_to,
                       keep_sends=True)

    # --- reconfig --------------------------------------------------------------------------
    _handoff_zxid = None
    _handoff_to = None

    @property
    def handoff_to(self):
        """The leader a committed reconfig named in our place, or None."""
        return self._handoff_to

    def _designated_leader(self, p) -> int:
        """Leader.getDesignatedLeader: this server while it is a voter of the
        new config at the same quorum address; otherwise, of the new voters
        that acked the reconfig, the one that acked the most proposals after
        it (the most up to date)."""
        new = p.config
        me = new.voters.get(self.myid)
        old_me = self.membership.members.get(self.myid)
        if me is not None and old_me is not None and (me.host, me.quorum_port) == (
                old_me.host, old_me.quorum_port):
            return self.myid
        candidates = sorted(s for s in p.acks if s in new.voters and s != self.myid)
        best = candidates[0]
        for later in self.outstanding.values():
            keep = [s for s in candidates if s in later.acks]
            if not keep:
                break
            candidates = keep
            best = candidates[0]
            if len(candidates) == 1:
                break
        return best

    def _commit_reconfig(self, zxid, p, now_ms) -> None:
        """Leader.tryToCommit for a reconfig: activate the new config here,
        COMMITANDACTIVATE to followers and INFORMANDACTIVATE to observers,
        both carrying the designated leader's sid."""
        designated = self._designated_leader(p)
        self._activate(p.config, designated, now_ms)
        commit = encode_packet(COMMITANDACTIVATE, zxid, encode_suggested_leader(designated))
        inform = encode_packet(INFORMANDACTIVATE, zxid,
                               encode_suggested_leader(designated, p.data))
        for ln in self.learners.values():
            if ln.state in (NEWLEADER_SENT, SYNCED, STREAMING):
                self._to_packet(ln.lid, inform if ln.observer else commit)
        if designated != self.myid:
            log.info("reconfig %#x commits a configuration led by server %d: this leader "
                     "commits nothing more", zxid, designated)
            self.allowed_to_commit = False
            self._handoff_zxid = zxid
            self._handoff_to = designated
        if not self._apply_wait and zxid <= self._logged_zxid:
            self._apply(p.hdr, p.txn, now_ms)
        else:
            self._apply_wait.append((p.hdr, p.txn))
        for lid in self._pending_syncs.pop(zxid, ()):
            self._to(lid, SYNC, 0)

    def _activate(self, config, designated, now_ms) -> None:
        """The committed config is ``config`` from now on (QuorumPeer.processReconfig)."""
        log.info("configuration version %#x in force: %s", config.version,
                 ", ".join(config.members[s].config_line() for s in sorted(config.members)))
        self.membership = config
        if self.last_seen.version < config.version:
            self.last_seen = config
        self.voters = config.voters
        self._voter_ids = frozenset(config.voters)
        self.config_text = self.last_seen.config_text().encode()
        self.activated.append((config, designated))
        # Outstanding proposals made while the reconfig was pending keep the
        # quorum they were proposed under (old and new); later ones need the
        # new one alone.

    def prep_reconfig(self, req, zxid) -> bytes:
        """PrepRequestProcessor's reconfig checks, in its order; the new
        config text (version ``zxid``) or KeeperError."""
        if self.last_seen.version != self.membership.version:
            raise KeeperError(Err.RECONFIGINPROGRESS)
        if req.curConfigId != -1 and req.curConfigId != self.last_seen.version:
            raise KeeperError(Err.BADVERSION)
        if req.newMembers is not None:
            text = req.newMembers.replace(",", "\n")
            try:
                new = parse_config_text(text)
            except MembershipError:
                raise KeeperError(Err.BADARGUMENTS) from None
            members = new.members
        else:
            members = dict(self.last_seen.members)
            for leaving in _java_split(req.leavingServers):
                sid = _java_long(leaving)
                members.pop(sid, None)
            for joiner in _java_split(req.joiningServers):
                parts = [x.strip() for x in joiner.split("=") if x.strip()]
                if len(parts) != 2:
                    raise KeeperError(Err.BADARGUMENTS)
                sid = _java_long(parts[0][parts[0].rfind(".") + 1:])
                try:
                    m = parse_server(sid, parts[1])
                except MembershipError:
                    raise KeeperError(Err.BADARGUMENTS) from None
                if m.client_port is None:
                    raise KeeperError(Err.BADARGUMENTS)
                for other in members.values():
                    if other.sid != sid and _same_address(m, other):
                        raise KeeperError(Err.BADARGUMENTS)
                members.pop(sid, None)
                members[sid] = m
        new = Membership(members, zxid)
        if len(new.voters) < (2 if self.standalone_enabled else 1):
            raise KeeperError(Err.BADARGUMENTS)
        synced = {self.myid} if self.myid in new.voters else set()
        synced.update(ln.sid for ln in self.learners.values()
                      if ln.state == SYNCED and not ln.observer and ln.sid in new.voters)
        if not new.is_quorum(synced):
            raise KeeperError(Err.NEWCONFIGNOQUORUM)
        return new.config_text().encode()

    def _request(self, ln, pkt, now_ms):
        if ln.state != SYNCED or self.phase != BROADCAST:
            raise LearnerGone("REQUEST before it is synced")
        r = decode_request(pkt.data)
        ids = [(a.scheme, a.id) for a in (pkt.authinfo or ())]
        proposer = self.proposer
        sid, cxid, op = r.session_id, r.cxid, r.type
        if op == OpCode.sync:
            if self.outstanding:
                self._pending_syncs.setdefault(self.last_proposed, []).append(ln.lid)
            else:
                self._to(ln.lid, SYNC, 0)
            return
        if op == OpCode.createSession:
            if len(r.request) < 4:
                raise LearnerGone("createSession without a timeout")
            timeout = int.from_bytes(r.request[:4], "big", signed=True)
            proposer.create_session(sid, timeout, now_ms)
            return
        if op == OpCode.closeSession:
            proposer.close_session(sid, cxid, now_ms)
            return
        try:
            _, _, req = decode_client_request(cxid.to_bytes(4, "big", signed=True)
                                              + op.to_bytes(4, "big", signed=True) + r.request)
        except ProtocolError:
            req = Malformed("bad request")
        if type(req) is Malformed or req is None:
            proposer.reject(sid, cxid, Err.MARSHALLINGERROR, now_ms)
            return
        if not self.core.sessions.touch(sid, now_ms):
            # ZooKeeper's PrepRequestProcessor checks the session first: a
            # write of a session that expired or is closing becomes an error
            # txn (SESSIONEXPIRED), never a change (an ephemeral of a dead
            # session would outlive it).
            proposer.reject(sid, cxid, Err.SESSIONEXPIRED, now_ms)
            return
        proposer.write(sid, cxid, op, req, ids, now_ms)

    def _ping(self, ln, pkt, now_ms):
        sessions = self.core.sessions
        for sid, timeout in decode_touches(pkt.data):
            sessions.touch(sid, now_ms)

    def _revalidate(self, ln, pkt, now_ms):
        sid, timeout = decode_revalidate_request(pkt.data)
        valid = self.core.sessions.touch(sid, now_ms, timeout)
        self._to(ln.lid, REVALIDATE, -1, encode_revalidate_reply(sid, valid))

    # --- time -----------------------------------------------------------------------------
    def tick(self, now_ms: int) -> None:
        if self.phase == LOST:
            return
        if self.phase != BROADCAST:
            if now_ms - self.started_ms > self.init_limit * self.tick_ms:
                self._lose("no quorum of learners within initLimit (%s)" % self.phase)
            return
        sync_ms = self.sync_limit * self.tick_ms
        init_ms = self.init_limit * self.tick_ms
        alive = {self.myid}
        for ln in list(self.learners.values()):
            quiet = now_ms - ln.heard_ms
            if quiet > (sync_ms if ln.state == SYNCED else init_ms):
                self._drop(ln, "silent for %d ms" % quiet)
            elif ln.state == SYNCED and not ln.observer:
                alive.add(ln.sid)
        if not self._quorum(alive):
            self._lose("only %s of the voters are in touch" % sorted(alive))
            return
        if now_ms >= self._next_ping_ms:
            self._next_ping_ms = now_ms + self.tick_ms // 2
            for ln in self.learners.values():
                if ln.state in (NEWLEADER_SENT, SYNCED):
                    self._to(ln.lid, PING, self.last_proposed)
        self.proposer.tick(now_ms)


def _java_split(text) -> list:
    """ZooKeeper's StringUtils.split(text, ","): trimmed, empty pieces dropped."""
    if text is None:
        return []
    return [piece.strip() for piece in text.split(",") if piece.strip()]


def _java_long(text) -> int:
    """Long.parseLong: a request whose number does not parse gets
    MARSHALLINGERROR (a NumberFormatException is no ConfigException there)."""
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isdigit() or not digits.isascii():
        raise KeeperError(Err.MARSHALLINGERROR)
    return int(text)


def _same_address(a, b) -> bool:
    """QuorumServer.checkAddressDuplicate: a quorum or election address in use."""
    taken = {(b.host, b.quorum_port), (b.host, b.election_port)}
    return (a.host, a.quorum_port) in taken or (a.host, a.election_port) in taken


_HANDLERS = {
    FOLLOWERINFO: Leader._learnerinfo,
    OBSERVERINFO: Leader._learnerinfo,
    ACKEPOCH: Leader._ackepoch,
    ACK: Leader._ack,
    REQUEST: Leader._request,
    PING: Leader._ping,
    REVALIDATE: Leader._revalidate,
}
