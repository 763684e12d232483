"""Dynamic reconfiguration in the sans-IO quorum code, against Apache
ZooKeeper's own traffic.

tests/golden/quorum/reconfig.json was recorded by
tests/golden/reconfig_capture.py: a 3.8.0 ensemble (reconfigEnabled, leader
3) adds and removes an observer (server 4, running outside the config, so
following as a non-voting participant until it joins), then removes
follower 1 and adds it back.  What its streams show, and these tests hold
zkwire's leader and learners to:

* the reconfig is a PROPOSAL like any other: a txn of type reconfig (16)
  whose SetDataTxn has path /zookeeper/config, version -1 and, as data, the
  new config text (``version=`` the txn's own zxid in hex);
* it commits with COMMITANDACTIVATE (type 9) to every follower, non-voting
  ones included: the packet zxid, and as data the 8-byte sid of the
  designated leader (the leader itself while it stays a voter);
* an observer gets INFORMANDACTIVATE (type 19): the same 8 bytes, then the
  PROPOSAL's data byte for byte;
* a follower ACKs a reconfig proposal as any other.
"""
from __future__ import annotations

import json
import os
import re

import pytest

from zkwire import records as r
from zkwire.consts import Err, OpCode
from zkwire.server.quorum import packets as P
from zkwire.server.quorum.epochs import make_zxid
from zkwire.server.quorum.membership import (
    Member, Membership, MembershipError, java_long_order, parse_config_text,
)

from .zab_harness import Ensemble

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "golden", "quorum", "reconfig.json")

with open(GOLDEN, encoding="utf-8") as f:
    DOC = json.load(f)


def _notes_configs():
    """(zxid, config text) of each reconfig, as the client got them (notes)."""
    out = []
    for note in DOC["notes"]:
        m = re.search(r"-> zxid (0x[0-9a-f]+), config '(.*)'$", note)
        if m:
            out.append((int(m.group(1), 16), m.group(2).replace("\\n", "\n")))
    return out


def _leader_packets():
    """(learner sid, packet) of everything the leader (3) sent on quorum streams."""
    out = []
    for st in DOC["streams"]:
        if st["kind"] != "quorum" or not st["from_listener"]["bytes"]:
            continue
        data = bytes.fromhex(st["from_listener"]["hex"])
        for item in P.QuorumStreamDecoder(from_leader=True).feed(data):
            if not isinstance(item, P.SnapshotChunk):
                out.append((st["dialer_sid"], item))
    return out


CONFIGS = _notes_configs()
SENT = _leader_packets()


def test_the_capture_holds_four_reconfigs():
    assert len(CONFIGS) == 4
    for zxid, text in CONFIGS:
        assert text.endswith("\nversion=%x" % zxid)


def test_a_reconfig_proposal_is_a_setdata_txn_of_the_new_config():
    proposals = {}
    for sid, pkt in SENT:
        if pkt.type == P.PROPOSAL:
            hdr, txn, _ = P.decode_txn(pkt.data)
            if hdr.type == OpCode.reconfig:
                proposals[hdr.zxid] = (txn, pkt.data)
                assert txn.path == "/zookeeper/config" and txn.version == -1
    for zxid, text in CONFIGS:
        assert proposals[zxid][0].data == text.encode()
        # Our parser reads it, and writes it back the same.
        assert parse_config_text(text).config_text() == text


def test_commit_and_inform_and_activate_carry_the_designated_leader():
    proposal_data = {}
    for sid, pkt in SENT:
        if pkt.type == P.PROPOSAL:
            proposal_data[pkt.zxid] = pkt.data
    activations = [(sid, pkt) for sid, pkt in SENT
                   if pkt.type in (P.COMMITANDACTIVATE, P.INFORMANDACTIVATE)]
    zxids = {z for z, _ in CONFIGS}
    assert {pkt.zxid for _, pkt in activations} == zxids
    for sid, pkt in activations:
        designated, rest = P.decode_suggested_leader(pkt.data)
        assert designated == 3                 # the leader stays a voter throughout
        if pkt.type == P.COMMITANDACTIVATE:
            assert rest == b""
            ours = P.encode_packet(P.COMMITANDACTIVATE, pkt.zxid, P.encode_suggested_leader(3))
        else:
            assert sid == 4 and rest == proposal_data.get(pkt.zxid, rest)
            hdr, _, _ = P.decode_txn(rest)
            assert hdr.type == OpCode.reconfig and hdr.zxid == pkt.zxid
            ours = P.encode_packet(P.INFORMANDACTIVATE, pkt.zxid,
                                   P.encode_suggested_leader(3, rest))
        assert ours == P.encode_packet(pkt.type, pkt.zxid, pkt.data)
    # Server 4 observed the second reconfig (its removal): INFORMANDACTIVATE.
    removal = CONFIGS[1][0]
    assert [(s, p.type) for s, p in activations if p.zxid == removal and s == 4] == [
        (4, P.INFORMANDACTIVATE)]


# --- zkwire's leader and learners ------------------------------------------------------

def reconfig_req(joining=None, leaving=None, new_members=None, from_config=-1):
    return r.ReconfigRequest.make(joining, leaving, new_members, from_config)


def reconfig(e, sid, conn, xid, **kw):
    e.request(sid, conn, xid, OpCode.reconfig, reconfig_req(**kw))
    out = [o for o in conn.outbox if o[0] == "reply" and o[1] == xid]
    return out[-1] if out else None


def config_node(e, sid):
    node = e.nodes[sid].core.tree.nodes["/zookeeper/config"]
    return node.data.decode(), node.version, node.mzxid


def test_the_first_epoch_gives_the_initial_config_its_zxid_as_version():
    e = Ensemble(3, observers=1, leader=3, reconfig_enabled=True)
    text, version, mzxid = config_node(e, 3)
    assert text.endswith("\nversion=100000000") and (version, mzxid) == (-1, make_zxid(1, 0))
    for sid in (1, 2, 4):
        events = e.nodes[sid].role.config_events
        assert [(k, ev.version) for k, ev, *_ in events][-1] == ("activate", make_zxid(1, 0))


def test_a_reconfig_commits_with_commitandactivate_and_informandactivate():
    e = Ensemble(3, observers=1, leader=3, reconfig_enabled=True)
    c = e.client(3)
    e.trace.clear()
    reply = reconfig(e, 3, c, 1, leaving="1")
    xid, zxid, err, op, body = reply[1:6]
    assert err == 0 and op == OpCode.reconfig
    data, stat = body
    assert data.decode().endswith("\nversion=%x" % zxid)
    assert "server.1=" not in data.decode()
    names = [(f, d, P.packet_name(t)) for f, d, t, z in e.trace if t != P.PING]
    assert (3, 1, "COMMITANDACTIVATE") in names and (3, 2, "COMMITANDACTIVATE") in names
    assert (3, 4, "INFORMANDACTIVATE") in names
    assert not [n for n in names if n[2] in ("COMMIT", "INFORM")]
    for sid in (1, 2, 4):
        assert config_node(e, sid)[0] == data.decode()
        kinds = [ev[0] for ev in e.nodes[sid].role.config_events]
        assert kinds[-1] == "activate" and e.nodes[sid].role.config_events[-1][2] == 3
    assert e.leader.membership.version == zxid and set(e.leader.voters) == {2, 3}


def test_a_reconfig_needs_a_quorum_of_the_old_and_of_the_new_config():
    e = Ensemble(3, leader=3, reconfig_enabled=True)
    c = e.client(3)
    e.slow_disks.add(2)                   # 2's log never reports: it cannot ack
    e.request(3, c, 1, OpCode.reconfig, reconfig_req(leaving="1"))
    # Acked by 3 and 1: a quorum of {1, 2, 3}, not of the new {2, 3}.
    assert not [o for o in c.outbox if o[0] == "reply" and o[1] == 1]
    assert e.leader.outstanding and e.leader.last_seen.version > e.leader.membership.version
    # A write proposed meanwhile needs the same two quorums, and waits too.
    from . import create_req
    e.request(3, c, 2, OpCode.create, create_req("/x"))
    assert not [o for o in c.outbox if o[0] == "reply"]
    e.slow_disks.discard(2)
    e.finish_persist(2)
    assert [o[3] for o in c.outbox if o[0] == "reply"] == [0, 0]
    assert set(e.leader.voters) == {2, 3}


@pytest.mark.parametrize("kw, err", [
    # Observed on 3.8.0 (tests/integration/test_reconfig.py runs them on a Java ensemble).
    (dict(leaving="4", from_config=12345), Err.BADVERSION),
    (dict(joining="server.8=127.0.0.1:1:2;3", leaving="2,3"), Err.NEWCONFIGNOQUORUM),
    (dict(leaving="x"), Err.MARSHALLINGERROR),
    (dict(new_members="server.9=127.0.0.1:1:2;3"), Err.BADARGUMENTS),
    (dict(leaving="1,2,3"), Err.BADARGUMENTS),
    (dict(joining="some thing"), Err.BADARGUMENTS),   # kazoo's test_bad_input
])
def test_bad_reconfigs_get_zookeepers_errors(kw, err):
    e = Ensemble(3, leader=3, reconfig_enabled=True)
    c = e.client(3)
    reply = reconfig(e, 3, c, 1, **kw)
    assert reply[3] == err
    assert e.leader.membership.version == make_zxid(1, 0)


def test_a_server_outside_the_config_follows_without_a_vote():
    e = Ensemble(3, leader=3, reconfig_enabled=True)
    # The leader's config shrinks to {2, 3}; 1 stays connected and synced.
    c = e.client(3)
    assert reconfig(e, 3, c, 1, leaving="1")[3] == 0
    e.disconnect(1)
    e.join(1)
    e.run()
    assert e.nodes[1].role.phase == "broadcast"
    assert e.leader.learner_counts()["synced_non_voting"] == 1


def test_config_text_parses_and_orders_as_java_hashmap():
    ms = parse_config_text("server.17=h:1:2;3\nserver.1=h:4:5:observer;6\nversion=1f")
    assert ms.version == 0x1F and set(ms.voters) == {17} and set(ms.observers) == {1}
    # Long 17 falls in bucket 1 of a 16-slot table, with 1: insertion order there.
    assert java_long_order([100, 3, 17, 1]) == [1, 17, 3, 100]
    with pytest.raises(MembershipError):
        parse_config_text("server.1=h:1:2\nclientPort=5")
    with pytest.raises(MembershipError):
        parse_config_text("version=zz")


def test_a_looking_peer_takes_a_newer_config_from_a_notification():
    """Observed on 3.8.0 (2026-12-03): server 1 of a jjj ensemble restarted
    with a dynamic config of version 100000000 while the others hold
    100000002 logs, on the first notification from them, "1 Received
    version: 100000002 my version: 100000000" and "restarting leader
    election"; its next notifications carry config version 100000002 and its
    zoo.cfg points at zoo.cfg.dynamic.100000002 (FastLeaderElection's
    WorkerReceiver; it is still LOOKING, before any leader syncs it)."""
    from zkwire.server.quorum.packets import FOLLOWING, LOOKING, Notification
    from zkwire.server.quorum.peer import QuorumPeer
    from .zab_harness import Node, membership

    node = Node(1, reconfig_enabled=True)
    old = membership(3).with_version(0x100000000)
    peer = QuorumPeer(node.core, node.storage, 1, old, 0, tick_ms=100)
    peer.start(0)
    peer.ready()
    newer = Membership(dict(old.members), 0x100000002)
    text = newer.config_text().encode()
    peer.election_message(2, Notification(FOLLOWING, 3, 0x100000003, 1, 2, config=text), 10)
    assert peer.membership.version == 0x100000002 and peer.elections == 2
    sends = peer.ready().send
    configs = [(s[1], s[2].version, s[2].same_members(newer)) for s in sends if s[0] == "config"]
    assert configs == [("committed", 0x100000002, True)]
    sent = [n for kind, *rest in sends if kind == "elect" for n in rest[1:]]
    assert sent and all(n.state == LOOKING and n.config == text for n in sent)
    # An older or equal version changes nothing.
    peer.election_message(3, Notification(FOLLOWING, 3, 0x100000003, 1, 2,
                                          config=old.config_text().encode()), 20)
    assert peer.membership.version == 0x100000002 and peer.elections == 2
