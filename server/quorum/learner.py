"""A learner (follower or observer) of a ZooKeeper leader, sans-IO.

Theory of operation
-------------------
After an election names another server the leader, this server becomes its
learner.  :class:`Learner` is the server step for that role, with the same
Ready contract as the standalone driver (``server/core/driver.py``): inputs
are ``receive(packet, now_ms)`` (a decoded QuorumPacket or a
:class:`~.packets.SnapshotChunk`, in stream order), ``persisted(zxid,
now_ms)`` and ``tick(now_ms)``; ``ready()`` returns what to do: txns to
persist, packets to send to the leader (already encoded), txns committed, and
client connections with output.

The conversation, in ZooKeeper's order (tests/golden/quorum/README.md shows
it on the wire between Debian's 3.8.0 servers):

1. *Discovery.*  ``start()`` sends FOLLOWERINFO (OBSERVERINFO) with our
   accepted epoch.  LEADERINFO proposes a new epoch; we accept it (the
   acceptedEpoch file is written first) and answer ACKEPOCH with our last
   logged zxid and our current epoch (-1 if we had accepted it already).  A
   proposed epoch older than the one we accepted ends the conversation.
2. *Sync.*  DIFF (nothing to undo), TRUNC (cut our log back to the leader's
   zxid, then reload) or SNAP (replace our state by the leader's), then the
   missing txns as PROPOSAL/COMMIT pairs (INFORM for an observer), then
   NEWLEADER.
3. *NEWLEADER*, in an order that never loses a txn the leader counts on
   (ZOOKEEPER-4643, -4646, -4685 are what happens otherwise): after SNAP or
   TRUNC a snapshot of the synced state is written; every txn received during
   the sync is persisted (``ready().persist``); only when ``persisted`` says
   it is durable do we write currentEpoch, then ACK NEWLEADER, then ACK each
   proposal that was not yet committed.  Debian's 3.8.0 writes currentEpoch
   and acks before its txns are durable; a leader has to live with that, a
   learner must not copy it.
4. *Broadcast.*  UPTODATE: we ACK it and serve clients.  PROPOSAL: persist,
   then ACK.  COMMIT: apply (the proposals commit in the order they were
   proposed; a COMMIT for anything but the oldest one is a broken leader).
   INFORM (observers): persist and apply.  PING: answer with the sessions our
   clients hold.  SYNC: answer the oldest forwarded sync.

Reconfig: a reconfig PROPOSAL's config is reported as seen
(``config_events``); COMMITANDACTIVATE (INFORMANDACTIVATE for an observer)
commits it and, once applied, reports it in force with the designated leader;
NEWLEADER's config is in force at UPTODATE.  The peer decides whether the
role ends (QuorumPeer.processReconfig).

Writes of our clients go to the leader: :class:`Forwarder` takes the
proposer's place in the front end and turns each into a REQUEST packet; the
reply leaves when the txn with the same (session id, cxid) commits.

Errors: a packet the leader should not have sent, or silence longer than
``init_limit`` (during sync) or ``sync_limit`` ticks, ends the conversation:
``lost`` is set to the reason, client connections are closed, and the caller
goes back to election.  Those are remote errors.  A broken invariant of ours
raises ``AssertionError`` and stops the server.
"""
from __future__ import annotations

import logging
from collections import deque

from zkwire.consts import OpCode
from zkwire.protocol import encode_request

from ..core.driver import Ready
from ..storage.snapshot import SnapshotBodyReader
from ..storage.store import ACCEPTED_EPOCH, CURRENT_EPOCH
from .epochs import epoch_of, make_zxid
from .membership import MembershipError, parse_config_text
from .packets import (
    ACK, ACKEPOCH, COMMIT, COMMITANDACTIVATE, DIFF, FOLLOWERINFO, INFORM, INFORMANDACTIVATE,
    LEADERINFO, NEWLEADER, OBSERVERINFO, PING, PROPOSAL, REQUEST, REVALIDATE, SNAP, SYNC,
    TRUNC, UPTODATE, PacketError, RequestPayload, SnapshotChunk, decode_revalidate_reply,
    decode_suggested_leader, decode_txn, encode_ack_epoch, encode_learner_info, encode_packet,
    encode_revalidate_request, encode_touches, packet_name,
)

log = logging.getLogger("zkwire.learner")

#: Bytes of snapshot body read before the SNAP is refused (bounded memory
#: against a hostile or broken leader; ZooKeeper itself has no such limit).
MAX_SNAPSHOT_BYTES = 8 << 30

DISCOVERY, SYNC_WAIT, SYNCING, NEWLEADER_PERSIST, BROADCAST, LOST = (
    "discovery", "sync", "syncing", "newleader", "broadcast", "lost")


class LeaderLost(Exception):
    """The conversation with the leader is over (the leader's fault, or the network's)."""


class Forwarder:
    """What a learner's front end has in the proposer's place: each write
    becomes a REQUEST packet to the leader.  It never preps; the leader does."""

    def __init__(self, learner: "Learner"):
        self.learner = learner

    def _forward(self, session_id, cxid, op, raw, ids):
        self.learner.send(REQUEST, -1, RequestPayload(session_id, cxid, op, raw).encode(), ids)

    def create_session(self, session_id: int, timeout_ms: int, now_ms: int) -> None:
        # The record is the timeout alone, and no authinfo (as 3.8.0 sends it).
        self._forward(session_id, 0, OpCode.createSession, timeout_ms.to_bytes(4, "big", signed=True),
                      None)

    def write(self, session_id, cxid, op, request, ids, now_ms) -> None:
        # The leader decodes the record again; re-encoding a decoded record
        # gives the client's bytes up to anything it appended, which ZooKeeper
        # ignores anyway.
        self._forward(session_id, cxid, op, encode_request(cxid, op, request)[12:], ids)

    def reject(self, session_id, cxid, err, now_ms) -> None:
        # A record that did not parse here does not parse at the leader either:
        # an empty one gets the leader's error txn (MARSHALLINGERROR).
        self._forward(session_id, cxid, OpCode.create, b"", None)

    def close_session(self, session_id, cxid, now_ms) -> None:
        self.learner.core.sessions.mark_closing(session_id)
        self._forward(session_id, cxid, OpCode.closeSession, b"", None)

    def sync_barrier(self):
        return None    # a learner's syncs go through the leader (frontend.request)

    def sync(self, session_id, cxid, request, now_ms) -> None:
        self._forward(session_id, cxid, OpCode.sync, encode_request(cxid, OpCode.sync, request)[12:],
                      None)

    def revalidate(self, session_id, timeout_ms, now_ms) -> None:
        self.learner.send(REVALIDATE, -1, encode_revalidate_request(session_id, timeout_ms))

    def committed(self, hdr) -> None:
        pass

    def tick(self, now_ms) -> None:
        pass   # the leader alone expires sessions


class Learner:
    def __init__(self, core, storage, myid: int, observer: bool, accepted_epoch: int,
                 current_epoch: int, last_logged_zxid: int, now_ms: int, tick_ms: int = 2000,
                 init_limit: int = 10, sync_limit: int = 5, config_version: int = 0,
                 config_text: bytes = b"", reconfig_enabled: bool = False):
        self.core = core
        self.storage = storage
        self.myid = myid
        self.observer = observer
        self.accepted_epoch = accepted_epoch
        self.current_epoch = current_epoch
        self.last_logged_zxid = last_logged_zxid
        self.tick_ms = tick_ms
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.config_version = config_version
        self.config_text = config_text
        self.phase = DISCOVERY
        self.lost = None               # the reason, once the conversation is over
        self.new_epoch = None
        self.sync_mode = None          # DIFF, TRUNC or SNAP
        self.serving = False
        self.leader_config = None      # NEWLEADER's config text
        self.reconfig_enabled = reconfig_enabled
        #: Configs to act on, for the peer: ("next", Membership) for a
        #: reconfig proposed, ("activate", Membership, designated leader sid
        #: or None) for one in force (QuorumPeer.processReconfig).
        self.config_events = []
        self._newleader_config = None  # NEWLEADER's config, activated at UPTODATE
        self._activate_at = {}         # zxid -> (Membership, designated): once applied
        self._send = []
        self._committed = []
        # Txns received, not yet handed out to persist: (hdr, txn, digest, ack).
        self._to_log = deque()
        self._unsynced = None          # the batch handed out, not yet persisted
        # Proposals received and not yet committed (zxid order): zxid -> (hdr, txn).
        self._proposed = {}
        # During sync (DIFF): zxids the leader committed, applied at NEWLEADER.
        self._sync_committed = []
        self._snap_reader = None       # a SnapshotBodyReader while a SNAP body arrives
        self._snap_bytes = 0
        self._snap_zxid = None
        self._newleader_zxid = None
        # Committed txns waiting for our own log to hold them: the tree never
        # holds a txn the log does not (a snapshot of it would be fuzzy past
        # what recovery can replay).
        self._apply_wait = deque()
        self._uptodate_seen = False
        self._last_queued = 0
        self._heard_ms = now_ms
        core.serving = False
        core.via_leader = True
        core.proposer = Forwarder(self)
        core.sessions.touched = set()

    # --- output ----------------------------------------------------------------------
    def send(self, ptype, zxid, data=None, authinfo=None) -> None:
        if self.phase != LOST:
            self._send.append(encode_packet(ptype, zxid, data, authinfo))

    def ready(self, persist: bool = True) -> Ready:
        batch = []
        # Nothing is logged before NEWLEADER: after a SNAP the snapshot must
        # be on disk before any txn that follows it.
        if (persist and self._unsynced is None and self._to_log
                and self.phase in (NEWLEADER_PERSIST, BROADCAST)):
            batch = self._unsynced = list(self._to_log)
            self._to_log.clear()
        sends, self._send = self._send, []
        committed, self._committed = self._committed, []
        return Ready([(h, t) for h, t, _, _ in batch], sends, committed, self.core.take_dirty())

    def busy(self) -> bool:
        return self._unsynced is not None

    def has_pending(self) -> bool:
        return bool(self._to_log)

    def wants_turn(self) -> bool:
        return False

    # --- inputs ----------------------------------------------------------------------
    def start(self, now_ms: int) -> None:
        self._heard_ms = now_ms
        ptype = OBSERVERINFO if self.observer else FOLLOWERINFO
        self.send(ptype, make_zxid(self.accepted_epoch, 0),
                  encode_learner_info(self.myid, self.config_version))

    def tick(self, now_ms: int) -> None:
        if self.phase == LOST:
            return
        limit = self.sync_limit if self.phase == BROADCAST else self.init_limit
        if now_ms - self._heard_ms > limit * self.tick_ms:
            self._lose("nothing from the leader for %d ms" % (now_ms - self._heard_ms))

    def receive(self, pkt, now_ms: int) -> None:
        if self.phase == LOST:
            return
        self._heard_ms = now_ms
        try:
            if type(pkt) is SnapshotChunk:
                self._snapshot_chunk(pkt, now_ms)
                return
            handler = _HANDLERS.get(pkt.type)
            if handler is None:
                raise LeaderLost("unexpected %s" % packet_name(pkt.type))
            handler(self, pkt, now_ms)
        except (LeaderLost, PacketError) as e:
            self._lose("%s (%s zxid %#x in %s)" % (e, packet_name(getattr(pkt, "type", SNAP)),
                                                  getattr(pkt, "zxid", 0), self.phase))

    def connection_lost(self, reason: str = "connection to the leader lost") -> None:
        self._lose(reason)

    def reconfigured(self, membership, config_text: bytes) -> None:
        """The peer activated ``membership``: our own view from now on."""
        self.config_version = membership.version
        self.config_text = config_text

    def _lose(self, reason: str) -> None:
        if self.phase == LOST:
            return
        log.warning("leaving the leader: %s", reason)
        self.phase = LOST
        self.lost = reason
        self.serving = False
        self.core.serving = False
        self.core.close_clients("this server lost its leader")
        self._send = []

    def _expect(self, *phases):
        if self.phase not in phases:
            raise LeaderLost("out of order")

    # --- discovery --------------------------------------------------------------------
    def _leaderinfo(self, pkt, now_ms):
        self._expect(DISCOVERY)
        epoch = epoch_of(pkt.zxid)
        if epoch < self.accepted_epoch:
            raise LeaderLost("the leader proposes epoch %d, we accepted %d"
                             % (epoch, self.accepted_epoch))
        self.new_epoch = epoch
        if epoch > self.accepted_epoch:
            self.storage.write_epoch(ACCEPTED_EPOCH, epoch)
            self.accepted_epoch = epoch
            ack = self.current_epoch
        else:
            ack = -1
        self.send(ACKEPOCH, self.last_logged_zxid, encode_ack_epoch(ack))
        self.phase = SYNC_WAIT

    # --- sync ------------------------------------------------------------------------
    def _diff(self, pkt, now_ms):
        self._expect(SYNC_WAIT)
        self.sync_mode = DIFF
        self._init_config(now_ms)
        self.phase = SYNCING

    def _trunc(self, pkt, now_ms):
        self._expect(SYNC_WAIT)
        self.sync_mode = TRUNC
        zxid = pkt.zxid
        self.storage.truncate_to(zxid)
        # A snapshot taken past the cut (the one written at start-up holds
        # every logged txn) would win the next recovery: it goes too.
        for path in self.storage.remove_snapshots_after(zxid):
            log.info("TRUNC to %#x: removed %s", zxid, path)
        tree, sessions, last, _ = self.storage.recover(max_zxid=zxid)
        if last != zxid:
            raise LeaderLost("TRUNC to %#x, but our log then ends at %#x" % (zxid, last))
        self.core.replace_state(tree, sessions, now_ms)
        self.last_logged_zxid = zxid
        self._init_config(now_ms)
        self.phase = SYNCING

    def _snap(self, pkt, now_ms):
        self._expect(SYNC_WAIT)
        self.sync_mode = SNAP
        self._snap_zxid = pkt.zxid
        self._snap_reader = SnapshotBodyReader(pkt.zxid)
        self._snap_bytes = 0
        self.phase = SYNCING

    def _snapshot_chunk(self, chunk, now_ms):
        if self.phase != SYNCING or self.sync_mode != SNAP or self._snap_reader is None:
            raise LeaderLost("snapshot data outside a SNAP")
        self._snap_bytes += len(chunk.data)
        if self._snap_bytes > MAX_SNAPSHOT_BYTES:
            raise LeaderLost("snapshot larger than %d bytes" % MAX_SNAPSHOT_BYTES)
        # Each piece goes into the new tree as it comes: the body is never
        # held whole (the "parse it incrementally").
        reader = self._snap_reader
        try:
            reader.feed(chunk.data)
            if not chunk.last:
                return
            self._snap_reader = None
            ns = reader.finish()
        except Exception as e:   # DiskFormatError and friends: the leader's bytes
            raise LeaderLost("unreadable snapshot: %s" % e) from None
        # Whatever our log holds after the snapshot's zxid is a history the
        # leader did not keep: replayed over the snapshot it would corrupt it.
        if self.storage.last_logged_zxid() > self._snap_zxid:
            self.storage.truncate_to(self._snap_zxid)
        self.storage.remove_snapshots_after(self._snap_zxid)
        self.core.replace_state(ns.tree, ns.sessions, now_ms)
        self._init_config(now_ms)

    def _init_config(self, now_ms):
        # After every sync mode, as ZooKeeper's learner does: our own view of
        # the configuration, whatever the leader's state said.
        self.core.tree.set_config(self.config_text, self.config_version, now_ms)

    def _txn(self, pkt):
        hdr, txn, digest = decode_txn(pkt.data)
        if hdr.zxid != pkt.zxid:
            raise LeaderLost("packet zxid %#x carries txn %#x" % (pkt.zxid, hdr.zxid))
        if self._last_queued and hdr.zxid <= self._last_queued:
            # Learner.enforceContinuousProposal: the leader must not go back.
            raise LeaderLost("txn %#x after %#x" % (hdr.zxid, self._last_queued))
        self._last_queued = hdr.zxid
        return hdr, txn, digest

    def _observer_ignores(self, pkt) -> bool:
        """A Java leader syncs an observer with the txns it committed and has
        not applied yet as PROPOSAL + COMMIT pairs, as for a follower
        (Leader.startForwarding); Learner.syncWithLeader takes them until
        UPTODATE, and Observer.processPacket ignores them after it."""
        if not self.observer:
            return False
        if self._uptodate_seen:
            log.warning("ignoring %s %#x: we observe", packet_name(pkt.type), pkt.zxid)
            return True
        return False

    def _proposal(self, pkt, now_ms):
        if self._observer_ignores(pkt):
            return
        self._expect(SYNCING, NEWLEADER_PERSIST, BROADCAST)
        if self.phase == BROADCAST:
            # Follower.processPacket counts the broadcast ones, not the sync's.
            self.core.metrics.counters["learner_proposal_received_count"] += 1
        hdr, txn, digest = self._txn(pkt)
        self._proposed[hdr.zxid] = (hdr, txn)
        if hdr.type == OpCode.reconfig and self.reconfig_enabled:
            # Follower.processPacket: the proposed config is the last seen one.
            self.config_events.append(("next", self._config_of(txn)))
        # During sync this waits for NEWLEADER (see ``ready``), then is acked.
        self._to_log.append((hdr, txn, digest, True))

    def _config_of(self, txn):
        try:
            return parse_config_text(bytes(txn.data or b"").decode("utf-8", "replace"))
        except MembershipError as e:
            raise LeaderLost("a reconfig txn with a config we cannot read: %s" % e) from None

    def _commit_and_activate(self, pkt, now_ms):
        """COMMIT of a reconfig, with the designated leader's sid as data."""
        if self.observer:
            raise LeaderLost("COMMITANDACTIVATE sent to an observer")
        designated, _ = decode_suggested_leader(pkt.data)
        first = next(iter(self._proposed), None)
        if first is None or first != pkt.zxid:
            raise LeaderLost("COMMITANDACTIVATE %#x, but the oldest proposal is %s"
                             % (pkt.zxid, None if first is None else "%#x" % first))
        hdr, txn = self._proposed[first]
        if hdr.type != OpCode.reconfig:
            raise LeaderLost("COMMITANDACTIVATE of a txn that is no reconfig")
        self._will_activate(hdr, txn, designated)
        self._commit(pkt, now_ms)

    def _inform_and_activate(self, pkt, now_ms):
        """INFORM of a reconfig: the designated leader's sid, then the txn."""
        if not self.observer:
            raise LeaderLost("INFORMANDACTIVATE sent to a follower")
        designated, rest = decode_suggested_leader(pkt.data)
        hdr, txn, _ = decode_txn(rest)
        if hdr.type != OpCode.reconfig:
            raise LeaderLost("INFORMANDACTIVATE of a txn that is no reconfig")
        self._will_activate(hdr, txn, designated)
        pkt = _Repacked(pkt.zxid, rest)
        self._inform(pkt, now_ms)

    def _will_activate(self, hdr, txn, designated):
        if self.reconfig_enabled:
            self._activate_at[hdr.zxid] = (self._config_of(txn), designated)

    def _commit(self, pkt, now_ms):
        self._expect(SYNCING, NEWLEADER_PERSIST, BROADCAST)
        if self._observer_ignores(pkt):
            return
        zxid = pkt.zxid
        if self.phase == BROADCAST:
            self.core.metrics.counters["learner_commit_received_count"] += 1
        if not self._proposed:
            raise LeaderLost("COMMIT %#x with no proposal outstanding" % zxid)
        first = next(iter(self._proposed))
        if first != zxid:
            raise LeaderLost("COMMIT %#x, but the oldest proposal is %#x" % (zxid, first))
        hdr, txn = self._proposed.pop(zxid)
        if self.phase == SYNCING and self.sync_mode != DIFF:
            # After SNAP or TRUNC the snapshot written at NEWLEADER holds it;
            # applied now, logged with the rest at NEWLEADER.
            self._replay(hdr, txn, now_ms)
            self._mark_no_ack(zxid)
            return
        if self.phase == SYNCING:
            self._sync_committed.append((hdr, txn))
            self._mark_no_ack(zxid)
            return
        self._apply_when_logged(hdr, txn, now_ms)

    def _mark_no_ack(self, zxid):
        # A txn committed during sync needs no ACK (the leader counted a quorum).
        for i, (h, t, d, ack) in enumerate(self._to_log):
            if h.zxid == zxid:
                self._to_log[i] = (h, t, d, False)
                return

    def _inform(self, pkt, now_ms):
        if not self.observer:
            raise LeaderLost("INFORM sent to a follower")
        self._expect(SYNCING, NEWLEADER_PERSIST, BROADCAST)
        if self.phase == BROADCAST:
            # Observer.processPacket counts an INFORM as a commit received.
            self.core.metrics.counters["learner_commit_received_count"] += 1
        hdr, txn, digest = self._txn(pkt)
        self._to_log.append((hdr, txn, digest, False))
        if self.phase == SYNCING and self.sync_mode == DIFF:
            self._sync_committed.append((hdr, txn))
        elif self.phase == SYNCING:
            self._replay(hdr, txn, now_ms)
        else:
            self._apply_when_logged(hdr, txn, now_ms)

    def _replay(self, hdr, txn, now_ms):
        """A txn committed during a SNAP or TRUNC sync, applied at once.
        After a SNAP it may show in the snapshot already: a leader's capture
        is fuzzy (ZooKeeper's and ours), and the txns applied while it ran
        follow it.  So it is applied as a log replay over a fuzzy snapshot
        is: a txn that no longer fits is recorded, as ZooKeeper's processTxn
        does, not raised."""
        tree = self.core.tree
        tree.strict = self.sync_mode != SNAP
        try:
            self._apply(hdr, txn, now_ms, report=False)
        finally:
            tree.strict = True

    def _apply(self, hdr, txn, now_ms, report=True):
        self.core.commit([(hdr, txn)], now_ms)
        if self._activate_at:
            act = self._activate_at.pop(hdr.zxid, None)
            if act is not None:
                # processReconfig: the config is in force once its txn is
                # applied; /zookeeper/config already shows it (the txn's data).
                self.config_events.append(("activate", act[0], act[1]))
        if report:
            # The edge counts these towards its next snapshot.  Not those
            # applied during a SNAP/TRUNC sync: the NEWLEADER snapshot holds
            # them, and a background one begun before it would be fuzzy
            # over txns not yet logged.
            self._committed.append((hdr, txn))

    def _apply_when_logged(self, hdr, txn, now_ms):
        if not self._apply_wait and hdr.zxid <= self.last_logged_zxid:
            self._apply(hdr, txn, now_ms)
        else:
            self._apply_wait.append((hdr, txn))

    def _apply_logged(self, now_ms):
        wait = self._apply_wait
        while wait and wait[0][0].zxid <= self.last_logged_zxid:
            hdr, txn = wait.popleft()
            self._apply(hdr, txn, now_ms)

    def _newleader(self, pkt, now_ms):
        self._expect(SYNCING)
        if self.sync_mode == SNAP and self._snap_reader is not None:
            raise LeaderLost("NEWLEADER before the snapshot ended")
        if epoch_of(pkt.zxid) != self.new_epoch:
            raise LeaderLost("NEWLEADER for epoch %d, LEADERINFO said %d"
                             % (epoch_of(pkt.zxid), self.new_epoch))
        self.leader_config = pkt.data
        if self.reconfig_enabled and pkt.data is not None and len(pkt.data) > 1:
            # Learner.syncWithLeader: the leader's last seen config, in force
            # at UPTODATE.
            try:
                self._newleader_config = parse_config_text(
                    bytes(pkt.data).decode("utf-8", "replace"))
            except MembershipError as e:
                log.warning("NEWLEADER with a config we cannot read (%s): ignored", e)
            else:
                self.config_events.append(("next", self._newleader_config))
        log.info("synced by %s to zxid %#x (epoch %d)", packet_name(self.sync_mode),
                 self.core.tree.last_zxid if self.sync_mode != DIFF or not self._sync_committed
                 else self._sync_committed[-1][0].zxid, self.new_epoch)
        # A DIFF's txns are applied once logged, with the NEWLEADER batch.
        self._apply_wait.extend(self._sync_committed)
        self._sync_committed = []
        if self.sync_mode in (SNAP, TRUNC):
            # Durable before any ACK: a restart must come back to this state.
            tree = self.core.tree
            sessions = {sid: s.timeout_ms for sid, s in self.core.sessions.sessions.items()}
            self.storage.save_snapshot(tree, sessions, tree.last_zxid)
        self._newleader_zxid = pkt.zxid
        if self.new_epoch > self.current_epoch:
            # The txns about to be logged may belong to the new epoch, and
            # currentEpoch is written only once they are durable: mark the
            # update, so a crash in between leaves a dataDir that loads
            # (ZooKeeper's loadDataBase takes currentEpoch.tmp then).
            self.storage.begin_epoch_update(CURRENT_EPOCH, self.new_epoch)
        self.phase = NEWLEADER_PERSIST
        if not self._to_log and self._unsynced is None:
            self._acknowledge_newleader()

    def _acknowledge_newleader(self):
        self.storage.write_epoch(CURRENT_EPOCH, self.new_epoch)
        self.current_epoch = self.new_epoch
        self.send(ACK, self._newleader_zxid)
        self.phase = BROADCAST

    def _uptodate(self, pkt, now_ms):
        # The leader sends it only after our NEWLEADER ACK.
        if self.phase != BROADCAST or self._uptodate_seen:
            raise LeaderLost("out of order")
        self._uptodate_seen = True
        if self._newleader_config is not None:
            self.config_events.append(("activate", self._newleader_config, None))
            self._newleader_config = None
        self._start_serving()

    def _start_serving(self):
        self.send(ACK, make_zxid(self.new_epoch, 0))
        self.serving = True
        self.core.serving = True
        log.info("serving as %s in epoch %d", "observer" if self.observer else "follower",
                 self.new_epoch)

    def persisted(self, zxid: int, now_ms: int) -> None:
        batch = self._unsynced
        if batch is None or batch[-1][0].zxid != zxid:
            raise AssertionError("persisted(%#x) does not match the batch handed out" % zxid)
        self._unsynced = None
        self.last_logged_zxid = zxid
        if self.phase == LOST:
            return
        self._apply_logged(now_ms)
        if self.phase == NEWLEADER_PERSIST and not self._to_log:
            self._acknowledge_newleader()
        if self.observer or self.phase != BROADCAST:
            return
        # After the NEWLEADER ACK, never before it.  A proposal that committed
        # meanwhile is acked all the same; the leader ignores those.
        for hdr, _, _, ack in batch:
            if ack:
                self.send(ACK, hdr.zxid)

    # --- broadcast --------------------------------------------------------------------
    def _ping(self, pkt, now_ms):
        # The sessions our clients used since the last PING, as ZooKeeper's
        # LearnerSessionTracker reports them: a client that stays connected
        # but sends nothing (not even its pings) must expire.
        table = self.core.sessions
        touched, table.touched = table.touched or set(), set()
        touches = [(sid, table.sessions[sid].timeout_ms) for sid in sorted(touched)
                   if sid in table.sessions]
        self.send(PING, pkt.zxid, encode_touches(touches))

    def _sync(self, pkt, now_ms):
        self._expect(BROADCAST)
        self.core.synced(now_ms)

    def _revalidate(self, pkt, now_ms):
        sid, valid = decode_revalidate_reply(pkt.data)
        self.core.revalidated(sid, valid, now_ms)


_HANDLERS = {
    LEADERINFO: Learner._leaderinfo,
    DIFF: Learner._diff,
    TRUNC: Learner._trunc,
    SNAP: Learner._snap,
    PROPOSAL: Learner._proposal,
    COMMIT: Learner._commit,
    INFORM: Learner._inform,
    NEWLEADER: Learner._newleader,
    COMMITANDACTIVATE: Learner._commit_and_activate,
    INFORMANDACTIVATE: Learner._inform_and_activate,
    UPTODATE: Learner._uptodate,
    PING: Learner._ping,
    SYNC: Learner._sync,
    REVALIDATE: Learner._revalidate,
}


class _Repacked:
    """An INFORMANDACTIVATE seen as the INFORM it wraps."""
    __slots__ = ("type", "zxid", "data")

    def __init__(self, zxid, data):
        self.type = INFORM
        self.zxid = zxid
        self.data = data
