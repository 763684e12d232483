"""Packet-level conversations with the sans-IO leader and learners
(ZooKeeper's Zab1_0Test is the model), over the in-memory wiring of
zab_harness: every byte goes through the real stream decoders.

The expected packet orders are those of Debian's ZooKeeper 3.8.0 on the
wire (tests/golden/quorum/README.md, checked against the captures by
test_quorum_packets.py); where 3.9 changed a learner's behaviour it is said
at the test.
"""
from __future__ import annotations

import pytest

from zkwire import records as r
from zkwire.consts import OpCode
from zkwire.server.quorum import learner as learner_mod
from zkwire.server.quorum.epochs import make_zxid
from zkwire.server.quorum.leader import Leader
from zkwire.server.quorum.learner import BROADCAST, LOST, Learner
from zkwire.server.quorum.packets import (
    ACK, ACKEPOCH, COMMIT, DIFF, FOLLOWERINFO, INFORM, LEADERINFO, NEWLEADER, PING, PROPOSAL,
    QuorumStreamDecoder, SNAP, TRUNC, UPTODATE, decode_packet, encode_ack_epoch,
    encode_learner_info, encode_packet, encode_txn,
)
from zkwire.server.storage.store import ACCEPTED_EPOCH, CURRENT_EPOCH

from . import create_req
from .zab_harness import Ensemble, Node, membership


def types(e, frm=None, to=None, drop_pings=True):
    return [n for n in e.names(frm, to) if not (drop_pings and n == "PING")]


def write(e, sid, conn, xid, path, data=b""):
    e.request(sid, conn, xid, OpCode.create, create_req(path, data))
    reply = [o for o in conn.outbox if o[0] == "reply" and o[1] == xid]
    assert reply, conn.outbox
    return reply[-1]


def trees_equal(e, sids):
    def dump(t):
        return {p: (n.data, n.stat()) for p, n in t.nodes.items() if p != "/zookeeper/config"}

    first = dump(e.nodes[sids[0]].core.tree)
    for s in sids[1:]:
        assert dump(e.nodes[s].core.tree) == first, s


# --- establishing an epoch ------------------------------------------------------------------

def test_first_epoch_follows_zookeepers_packet_order():
    e = Ensemble(3, leader=3)
    e.run()
    for sid in (1, 2):
        assert types(e, sid, 3) == ["FOLLOWERINFO", "ACKEPOCH", "ACK", "ACK"]
        assert types(e, 3, sid) == ["LEADERINFO", "DIFF", "NEWLEADER", "UPTODATE"]
    epoch_zxid = make_zxid(1, 0)
    acks = [z for f, d, t, z in e.trace if t == ACK]
    assert acks == [epoch_zxid] * 4            # NEWLEADER, then UPTODATE, both at epoch << 32
    assert e.leader.phase == "broadcast"
    for sid in (1, 2, 3):
        st = e.nodes[sid].storage
        assert st.read_epoch(ACCEPTED_EPOCH) == 1 and st.read_epoch(CURRENT_EPOCH) == 1
        assert e.nodes[sid].core.serving


def test_the_leader_waits_for_a_quorum_before_it_serves():
    e = Ensemble(3)
    e.elect(3, learners=[1])                   # 2 of 3 with the leader: a quorum
    e.run()
    assert e.leader.phase == "broadcast"
    e2 = Ensemble(5)
    e2.elect(5, learners=[1])                  # 2 of 5: not one
    e2.run()
    assert e2.leader.phase == "discovery" and not e2.nodes[5].core.serving
    e2.tick(10 * e2.tick_ms + 100)             # initLimit passes
    assert e2.leader.lost and "initLimit" in e2.leader.lost


def test_a_write_is_proposed_acked_committed_and_answered():
    e = Ensemble(3, leader=3)
    c = e.client(1)
    e.trace.clear()
    reply = write(e, 1, c, 1, "/a", b"x")
    assert reply[3] == 0 and reply[2] == make_zxid(1, 2)   # createSession was 1
    assert types(e, 1, 3) == ["REQUEST", "ACK"]
    assert types(e, 3, 1) == ["PROPOSAL", "COMMIT"]
    trees_equal(e, [1, 2, 3])


def test_an_observer_gets_inform_and_acks_nothing_but_the_sync():
    e = Ensemble(3, observers=1, leader=3)
    e.run()
    assert types(e, 4, 3) == ["OBSERVERINFO", "ACKEPOCH", "ACK", "ACK"]
    c = e.client(4)
    e.trace.clear()
    write(e, 4, c, 1, "/o")
    assert types(e, 3, 4) == ["INFORM"]
    assert types(e, 4, 3) == ["REQUEST"]
    trees_equal(e, [1, 2, 3, 4])


def test_sync_on_a_follower_is_answered_after_the_leaders_sync():


    e = Ensemble(3, leader=3)
    c = e.client(1)
    e.trace.clear()
    e.request(1, c, 5, OpCode.sync, r.SyncRequest.make("/"))
    assert types(e, 1, 3) == ["REQUEST"] and types(e, 3, 1) == ["SYNC"]
    assert [o[:5] for o in c.outbox if o[0] == "reply"][-1][:4] == ("reply", 5, 1 << 32 | 1, 0)


# --- sync modes --------------------------------------------------------------------------------

def test_a_follower_behind_gets_a_diff_of_proposal_commit_pairs():
    e = Ensemble(3, leader=3)
    c = e.client(2)
    e.disconnect(1)
    for i in range(3):
        write(e, 2, c, i + 1, "/d%d" % i)
    e.trace.clear()
    e.join(1)
    e.run()
    assert types(e, 3, 1) == ["LEADERINFO", "DIFF"] + ["PROPOSAL", "COMMIT"] * 3 + [
        "NEWLEADER", "UPTODATE"]
    assert e.nodes[1].role.sync_mode == DIFF
    trees_equal(e, [1, 2, 3])


def test_a_follower_ahead_of_the_leader_is_truncated():
    e = Ensemble(3, leader=3)
    c = e.client(2)
    write(e, 2, c, 1, "/kept")
    e.disconnect(1)
    # Server 1 logs a txn the ensemble never committed (as a leader that
    # crashed before its proposal reached a quorum would have).
    node = e.nodes[1]
    from zkwire.server.core.prep import Prep
    p = Prep(node.core.tree, node.core.auth)
    hdr, txn = p.prep(0x55, 1, OpCode.create, create_req("/ghost"), (), e.now)
    node.persist([(hdr, txn)])
    assert node.storage.last_logged_zxid() == hdr.zxid
    e.trace.clear()
    e.join(1)
    e.run()
    assert types(e, 3, 1)[:2] == ["LEADERINFO", "TRUNC"]
    assert node.role.sync_mode == TRUNC
    assert "/ghost" not in node.core.tree.nodes and "/kept" in node.core.tree.nodes
    assert node.storage.last_logged_zxid() < hdr.zxid
    trees_equal(e, [1, 2, 3])


def test_an_empty_follower_is_sent_a_snapshot():
    e = Ensemble(3, leader=3)
    c = e.client(2)
    for i in range(5):
        write(e, 2, c, i + 1, "/s%d" % i, b"v")
    e.disconnect(1)
    fresh = Node(1, e.tick_ms)
    e.nodes[1] = fresh
    e.trace.clear()
    e.join(1)
    e.run()
    assert types(e, 3, 1)[:2] == ["LEADERINFO", "SNAP"]
    assert "chunk" in types(e, 3, 1)
    assert fresh.role.sync_mode == SNAP and fresh.role.phase == BROADCAST
    trees_equal(e, [1, 2, 3])
    # The snapshot is on disk before anything is acked: a restart comes back to it.
    snaps = fresh.storage.list_snapshots()
    assert snaps and snaps[0][0] == e.nodes[3].core.tree.last_zxid
    tree, sessions, last, _ = fresh.storage.recover()
    assert last == e.nodes[3].core.tree.last_zxid and "/s4" in tree.nodes


def test_a_learner_joining_an_established_epoch_gets_a_snap_at_epoch_zxid():
    """Observed on Debian's 3.8.0 (test_srvr_conf_and_mntr_report_the_role_as_zookeeper_does
    records it): once a quorum acked NEWLEADER the leader's last processed
    zxid is epoch << 32, so a learner that connects afterwards from zxid 0
    with nothing written yet is sent a SNAP at 0x100000000, and reports it."""
    e = Ensemble(3, leader=3)
    e.disconnect(1)
    e.nodes[1] = fresh = Node(1, e.tick_ms)
    assert e.nodes[3].core.tree.last_zxid == make_zxid(1, 0)
    e.trace.clear()
    e.join(1)
    e.run()
    assert types(e, 3, 1)[:2] == ["LEADERINFO", "SNAP"]
    assert [z for f, d, t, z in e.trace if t == SNAP] == [make_zxid(1, 0)]
    assert fresh.core.tree.last_zxid == make_zxid(1, 0) and fresh.role.phase == BROADCAST
    trees_equal(e, [1, 2, 3])


def test_a_learner_at_an_epoch_zxid_is_sent_a_diff_never_a_trunc():
    """ZooKeeper's syncFollower: epoch << 32 is no txn, so a learner that
    comes back from it (synced by SNAP at the start of the epoch) is sent the
    txns after it, where any other zxid missing from the history is cut
    back by TRUNC first."""
    e = Ensemble(3, leader=3)
    c = e.client(2)
    for i in range(2):
        write(e, 2, c, i + 1, "/one%d" % i)
    e.elect(3)                                  # epoch 2; its history holds epoch 1's txns
    e.run()
    e.disconnect(1)
    e.nodes[1] = fresh = Node(1, e.tick_ms)
    e.join(1)
    e.run()
    assert fresh.core.tree.last_zxid == make_zxid(2, 0)
    e.disconnect(1)
    c = e.client(2)
    for i in range(2):
        write(e, 2, c, i + 1, "/two%d" % i)
    e.trace.clear()
    e.join(1)
    e.run()
    sent = types(e, 3, 1)
    assert sent[:2] == ["LEADERINFO", "DIFF"] and "TRUNC" not in sent
    assert sent.count("COMMIT") == 3            # createSession and the two creates
    trees_equal(e, [1, 2, 3])


def test_a_snapshot_is_captured_in_slices_while_writes_commit():
    """The leader captures a SNAP a slice per turn (never the whole tree in
    one go); txns committed meanwhile may show in the capture (it is fuzzy,
    as ZooKeeper's is) and follow it before NEWLEADER, where the learner
    applies them as replays.  Its tree ends equal to the others'."""
    e = Ensemble(3, leader=3)
    c = e.client(2)
    for i in range(6):
        write(e, 2, c, i + 1, "/s%d" % i, b"v")
    e.disconnect(1)
    e.nodes[1] = fresh = Node(1, e.tick_ms)
    leader = e.leader
    leader.snap_slice_nodes = 1


    applied_while_capturing = []
    original = leader._apply

    def spy(hdr, txn, now_ms):
        if leader.wants_turn():
            applied_while_capturing.append(hdr.zxid)
        original(hdr, txn, now_ms)

    leader._apply = spy
    e.trace.clear()
    e.join(1)
    for _ in range(10):
        e.step()
        if leader.wants_turn():
            break
    assert leader.wants_turn()                  # the capture is under way
    for i in range(3):
        # Deletes and creates among the nodes still to be copied.
        e.nodes[2].core.request(c, 20 + i, OpCode.delete, r.DeleteRequest.make("/s%d" % (5 - i), -1), e.now)
        e.step()
    e.nodes[2].core.request(c, 30, OpCode.create, create_req("/late", b"x"), e.now)
    e.run()
    assert applied_while_capturing
    sent = types(e, 3, 1)
    assert sent[:2] == ["LEADERINFO", "SNAP"]
    i = sent.index("NEWLEADER")
    assert "COMMIT" in sent[:i] and sent[i + 1:][:1] == ["UPTODATE"]
    assert fresh.role.sync_mode == SNAP and fresh.role.phase == BROADCAST
    assert "/late" in fresh.core.tree.nodes and "/s5" not in fresh.core.tree.nodes
    trees_equal(e, [1, 2, 3])


# --- the NEWLEADER order (ZOOKEEPER-4643, -4646, -4685) ----------------------------------------

def test_newleader_is_acked_only_once_the_synced_txns_are_durable():
    """A learner that acks NEWLEADER (or writes currentEpoch) before the txns
    of its sync are on disk can lose committed txns in a crash; 3.8.0 does
    exactly that (ZOOKEEPER-4646, and -4785: its fix still let the log
    thread write them after the ACK).  zkwire persists, then writes
    currentEpoch, then acks.  The scenarios zk-3911, zk-4643 and zk-4646 of
    the simulator play the crashes themselves."""
    e = Ensemble(3, leader=3)
    c = e.client(2)
    e.disconnect(1)
    write(e, 2, c, 1, "/x")
    e.slow_disks.add(1)
    e.trace.clear()
    e.join(1)
    e.run()
    node = e.nodes[1]
    assert types(e, 3, 1)[-1] == "NEWLEADER"
    assert types(e, 1, 3) == ["FOLLOWERINFO", "ACKEPOCH"]     # no ACK yet
    assert node.unreported, "the synced txns were handed out to persist"
    assert not node.core.serving
    e.slow_disks.discard(1)
    e.finish_persist(1)
    assert types(e, 1, 3)[2:] == ["ACK", "ACK"]               # NEWLEADER, UPTODATE
    assert node.role.phase == BROADCAST and node.core.serving


def test_current_epoch_is_written_after_the_txns_and_before_the_ack():
    order = []
    e = Ensemble(3, leader=3)
    c = e.client(2)
    e.disconnect(1)
    write(e, 2, c, 1, "/y")
    e.leader.learner_lost(1)
    node = e.nodes[1]
    # A second epoch: everyone rejoins a new leader 3.
    e.elect(3)
    e.run()
    c = e.client(2)                                # the old connection died with the epoch
    e.disconnect(1)
    write(e, 2, c, 2, "/z")
    e.trace.clear()
    e.join(1)                                      # a fresh Storage on the same disk
    storage = node.storage
    real_write_epoch, real_flush = storage.write_epoch, storage.flush

    def write_epoch(name, value):
        order.append(("epoch", name, value))
        real_write_epoch(name, value)

    def flush():
        order.append(("log",))
        return real_flush()

    storage.write_epoch, storage.flush = write_epoch, flush
    e.run()
    sent = types(e, 1, 3)
    assert sent[-2:] == ["ACK", "ACK"]
    assert order.index(("log",)) < order.index(("epoch", CURRENT_EPOCH, 2))


def test_a_commit_between_the_newleader_ack_and_uptodate_is_applied_once():
    """ZOOKEEPER-4394: a Java leader can COMMIT a proposal of the sync after
    the learner acked NEWLEADER and before UPTODATE (its UPTODATE waits for
    the leader's start-up); a 3.7 learner crashed on it (NPE), and its fix
    applied such txns out of order.  Here the COMMIT comes in that gap: the
    learner applies the txn once, in order, and serves the leader's tree."""
    e = Ensemble(3, leader=3)
    c = e.client(2)
    write(e, 2, c, 1, "/a")
    e.disconnect(1)
    e.slow_disks.add(3)                  # the leader's own log holds /b back
    e.request(2, c, 2, OpCode.create, create_req("/b", b"pending"))
    e.trace.clear()
    e.join(1)
    role = e.nodes[1].role
    held = []
    real_receive = role.receive

    def receive(item, now):
        if getattr(item, "type", None) == UPTODATE and not held:
            held.append(item)
        else:
            real_receive(item, now)

    role.receive = receive
    e.run()
    assert held and role.phase == BROADCAST and not e.nodes[1].core.serving
    e.slow_disks.discard(3)
    e.finish_persist(3)                  # /b commits: COMMIT reaches 1 before UPTODATE
    sent = types(e, 3, 1)
    assert sent[sent.index("NEWLEADER") - 1] == "PROPOSAL", sent     # /b, in the sync
    assert sent[-2:] == ["UPTODATE", "COMMIT"], sent                 # UPTODATE held back
    assert "/b" in e.nodes[1].core.tree.nodes
    real_receive(held[0], e.now)
    e.run()
    assert e.nodes[1].core.serving
    trees_equal(e, [1, 2, 3])


def test_a_session_closed_while_a_follower_was_away_leaves_no_ephemeral_on_it():
    """ZOOKEEPER-5010: a follower synced by DIFF kept ephemerals of a session
    that had ended (Java now purges them after the DIFF).  The closeSession
    txn is in the DIFF: applying it removes them, here and everywhere."""
    e = Ensemble(3, leader=3)
    c = e.client(2)
    e.request(2, c, 1, OpCode.create, create_req("/eph", b"", flags=1))
    assert "/eph" in e.nodes[1].core.tree.nodes
    e.disconnect(1)
    e.request(2, c, 2, OpCode.closeSession, None)
    assert "/eph" not in e.nodes[3].core.tree.nodes
    e.trace.clear()
    e.join(1)
    e.run()
    assert e.nodes[1].role.sync_mode == DIFF
    assert "/eph" not in e.nodes[1].core.tree.nodes
    trees_equal(e, [1, 2, 3])


# --- acks the leader must tolerate ---------------------------------------------------------------

def test_the_leader_ignores_acks_of_committed_or_unknown_zxids():
    e = Ensemble(3, leader=3)
    c = e.client(1)
    write(e, 1, c, 1, "/a")
    leader = e.leader
    committed = leader.last_committed
    for z in (committed, committed + 100, make_zxid(1, 0)):
        leader.receive(1, decode_packet(encode_packet(ACK, z)), e.now)
    e.run()
    assert leader.phase == "broadcast" and 1 in leader._by_sid


def test_proposal_acks_before_the_newleader_ack_do_not_count():
    e = Ensemble(3)
    e.elect(3, learners=[])
    leader = e.leader
    leader.learner_connected("raw", e.now)
    raw = QuorumStreamDecoder(from_leader=True)

    def packets():
        rd = leader.ready()
        return [p for lid, data in rd.send if lid == "raw" for p in raw.feed(data)]

    leader.receive("raw", decode_packet(encode_packet(
        FOLLOWERINFO, 0, encode_learner_info(1, 0))), e.now)
    assert [p.type for p in packets()] == [LEADERINFO]
    leader.receive("raw", decode_packet(encode_packet(ACKEPOCH, 0, encode_ack_epoch(0))), e.now)
    assert [p.type for p in packets()] == [DIFF, NEWLEADER]
    leader.receive("raw", decode_packet(encode_packet(ACK, make_zxid(1, 1))), e.now)  # early
    assert leader.phase == "newleader-acks"
    leader.receive("raw", decode_packet(encode_packet(ACK, make_zxid(1, 0))), e.now)
    assert leader.phase == "broadcast"
    assert [p.type for p in packets()] == [UPTODATE]


def test_a_sync_proposal_acked_before_newleader_counts_once_newleader_is_acked():
    # ZOOKEEPER-4685: a 3.8.0 learner logs the proposals of its sync and acks
    # each once logged, on another thread than its NEWLEADER ACK.  Here that
    # learner's ACK is the only one the proposal can get (the other follower
    # is gone): dropped, the proposal would never commit.
    from . import connect_req

    e = Ensemble(3)
    e.elect(3, learners=[2])
    e.run()
    leader, node = e.leader, e.nodes[3]
    assert leader.phase == "broadcast"
    leader.learner_connected("raw", e.now)
    raw = QuorumStreamDecoder(from_leader=True)

    def packets():
        """What the leader sends the raw learner (no snapshot chunks), its
        own log persisted on the way."""
        out = []
        while True:
            rd = leader.ready()
            if rd.persist:
                node.persist(rd.persist)
                leader.persisted(rd.persist[-1][0].zxid, e.now)
            out += [p for lid, data in rd.send if lid == "raw" and data for p in raw.feed(data)]
            if not rd.persist and not rd.send and not leader.wants_turn():
                return [p for p in out if hasattr(p, "type")]

    leader.receive("raw", decode_packet(encode_packet(
        FOLLOWERINFO, 0, encode_learner_info(1, 0))), e.now)
    assert [p.type for p in packets()] == [LEADERINFO]
    leader.receive("raw", decode_packet(encode_packet(ACKEPOCH, 0, encode_ack_epoch(0))), e.now)
    got = packets()
    assert [p.type for p in got][-1] == NEWLEADER
    e.links.pop(2)
    leader.learner_lost(2)
    # A client's session: a proposal while the learner has yet to ack NEWLEADER.
    core = node.core
    conn = core.open_conn("127.0.0.1:50001", "127.0.0.1", e.now)
    core.connect(conn, connect_req(3000), False, e.now)
    proposals = [p for p in packets() if p.type == PROPOSAL]
    assert len(proposals) == 1
    z = proposals[0].zxid
    leader.receive("raw", decode_packet(encode_packet(ACK, z)), e.now)          # early
    assert [o for o in conn.outbox if o[0] == "connect"] == []
    leader.receive("raw", decode_packet(encode_packet(ACK, make_zxid(leader.epoch, 0))), e.now)
    sent = [p.type for p in packets()]
    assert sent == [UPTODATE, COMMIT], sent
    assert [o[0] for o in conn.outbox][:1] == ["connect"]


# --- giving up ----------------------------------------------------------------------------------

def test_a_learner_refuses_an_epoch_older_than_it_accepted():
    e = Ensemble(3)
    e.nodes[1].storage.write_epoch(ACCEPTED_EPOCH, 5)
    e.nodes[1].storage.write_epoch(CURRENT_EPOCH, 5)
    e.elect(3, learners=[2])
    e.run()
    e.join(1)
    e.run()
    assert e.nodes[1].role.phase == LOST and "epoch" in e.nodes[1].role.lost


def test_a_leader_behind_a_follower_gives_up():
    e = Ensemble(3)
    for sid in (1, 2):
        e.nodes[sid].storage.write_epoch(ACCEPTED_EPOCH, 3)
        e.nodes[sid].storage.write_epoch(CURRENT_EPOCH, 3)
    e.elect(3)
    e.run()
    assert e.leader.lost and "ahead" in e.leader.lost


def test_the_leader_steps_down_without_a_quorum_and_a_learner_without_a_leader():
    e = Ensemble(3, leader=3)
    e.run()
    # Follower 1 keeps talking; follower 2's link goes silent both ways.
    del e.links[2]
    e.tick(4 * e.tick_ms)
    assert e.leader.phase == "broadcast"           # 1 and 3 are a quorum
    del e.links[1]
    e.tick(6 * e.tick_ms)                          # past syncLimit (5 ticks)
    assert e.leader.lost and not e.nodes[3].core.serving
    for sid in (1, 2):
        assert e.nodes[sid].role.phase == LOST and not e.nodes[sid].core.serving


def test_a_commit_out_of_order_ends_the_conversation():
    e = Ensemble(3, leader=3)
    c = e.client(1)
    write(e, 1, c, 1, "/a")
    learner = e.nodes[1].role
    learner.receive(decode_packet(encode_packet(COMMIT, make_zxid(1, 99))), e.now)
    assert learner.phase == LOST and "COMMIT" in learner.lost


def test_a_leader_once_synced_by_snap_never_diffs_across_the_hole(monkeypatch):
    """ZOOKEEPER-4925's shape: server 2 is synced by SNAP, so its log holds
    old txns, then nothing up to the snapshot, then new txns.  Leading later,
    it must not DIFF a stale server from that log: the txns in the hole
    would be lost.  (Its history starts after its newest snapshot.)"""
    from zkwire.server.quorum import leader as leader_mod

    monkeypatch.setattr(leader_mod, "HISTORY_TXNS", 3)   # a short memory forces SNAPs
    e = Ensemble(5, leader=5)
    c = e.client(3)
    write(e, 3, c, 1, "/old")
    e.disconnect(1)
    e.disconnect(2)                       # 1 and 2 stop at the same zxid
    for i in range(6):
        write(e, 3, c, 10 + i, "/gap%d" % i)
    e.join(2)
    e.run()
    assert e.nodes[2].role.sync_mode == SNAP
    write(e, 3, c, 20, "/new")
    trees_equal(e, [2, 3, 4, 5])
    # Server 2 leads the next epoch; server 1, stale since "/old", joins it.
    e.elect(2, learners=[3, 4])
    e.run()
    e.join(1)
    e.run()
    assert e.nodes[1].role.sync_mode == SNAP
    assert "/gap3" in e.nodes[1].core.tree.nodes
    trees_equal(e, [1, 2, 3, 4])


def test_a_silent_client_on_a_follower_expires_and_a_pinging_one_does_not():
    """Found by the interop suite's ensemble mode (a client that froze kept
    its session for ever): a learner reports in its PING replies only the
    sessions its clients used since the last PING, as ZooKeeper's
    LearnerSessionTracker does, not every connected one."""
    from zkwire.consts import Xid

    e = Ensemble(3, leader=3)
    silent = e.client(1)
    alive = e.client(1)
    timeout = silent.timeout_ms
    for _ in range(2 * timeout // 250):
        e.request(1, alive, Xid.PING, OpCode.ping, None)
        e.tick(250)
    leader_sessions = e.nodes[3].core.sessions.sessions
    assert silent.session_id not in leader_sessions
    assert alive.session_id in leader_sessions
    assert silent.outbox[-1][0] == "close" and not alive.closing


def test_a_sync_on_the_leader_waits_for_commits_its_own_log_holds_back():
    """A leader applies a committed txn once its own log has it, while the
    followers that acked it apply it at COMMIT and answer their clients.  A
    client of the leader that syncs after such a reply must then see the
    txn: its sync waits until the leader has applied it.  (Found by
    tests/integration/test_ensemble.py under load: a sync and a read on the
    leader showed 14 of 15 acknowledged creates.)"""
    e = Ensemble(3, leader=3)
    writer, reader = e.client(2), e.client(3)
    e.slow_disks.add(3)                  # the leader's own fsync is slow
    e.request(2, writer, 1, OpCode.create, create_req("/late", b"x"))
    assert "/late" in e.nodes[2].core.tree.nodes      # committed by 1 and 2, applied there
    assert "/late" not in e.nodes[3].core.tree.nodes
    reader.outbox.clear()
    e.request(3, reader, 7, OpCode.sync, r.SyncRequest.make("/"))
    assert not [x for x in reader.outbox if x[0] == "reply"], "sync answered before the apply"
    e.request(3, reader, 8, OpCode.exists, r.ExistsRequest.make("/late", False))
    assert not [x for x in reader.outbox if x[0] == "reply"], "a read overtook the sync"
    e.slow_disks.discard(3)
    e.finish_persist(3)
    replies = [x for x in reader.outbox if x[0] == "reply"]
    assert [x[1] for x in replies] == [7, 8], replies
    assert replies[1][3] == 0                          # /late exists for the reader
