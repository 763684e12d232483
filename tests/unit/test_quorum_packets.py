"""The quorum wire vocabulary (zkwire.server.quorum.packets) against real traffic.

tests/golden/quorum/*.json hold the election-port and quorum-port streams of a
3-server Apache ZooKeeper 3.8.0 ensemble and an observer, captured on loopback
by tests/golden/quorum_capture.py (its docstring gives the format and the
scenarios).  Every handshake, notification and QuorumPacket of every stream
must decode, every payload must decode by its packet type, and everything must
encode back to exactly the captured bytes; the snapshot body that follows a
SNAP must read with the snapshot file reader of zkwire.server.storage.snapshot.  The
facts about the order of packets that tests/golden/quorum/README.md records
are checked here against the same files.  Then the edge cases: truncation,
bad lengths, oversize frames, and the 28/40/44-byte notification forms.
"""
from __future__ import annotations

import json
import os
import random
import struct
import zlib

import pytest

from zkwire import protocol
from zkwire import records as r
from zkwire.consts import OpCode
from zkwire.jute import JuteError
from zkwire.server.storage import snapshot, txnlog
from zkwire.server.quorum import packets as P

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "golden", "quorum")
SCENARIOS = ("election_sync", "writes", "diff", "snap", "trunc", "observer", "reelection")


def load(name):
    with open(os.path.join(GOLDEN, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


DOCS = {name: load(name) for name in SCENARIOS}


def directions(kind):
    """(scenario, stream, direction name, bytes) of every stream direction of ``kind``."""
    out = []
    for name in SCENARIOS:
        for st in DOCS[name]["streams"]:
            if st["kind"] != kind:
                continue
            for d in ("from_dialer", "from_listener"):
                if st[d]["bytes"]:
                    out.append((name, st, d, bytes.fromhex(st[d]["hex"])))
    return out


ELECTION = directions("election")
QUORUM = directions("quorum")


def _ids(cases):
    return ["%s-%d-%s" % (name, st["stream"], d) for name, st, d, _ in cases]


def learner_streams(name):
    """Quorum streams that start in this scenario's window (a learner connecting)."""
    return [st for st in DOCS[name]["streams"] if st["kind"] == "quorum" and st["from_start"]]


def items_of(st, d):
    data = bytes.fromhex(st[d]["hex"])
    return P.QuorumStreamDecoder(from_leader=(d == "from_listener")).feed(data)


def packets_of(st, d):
    return [i for i in items_of(st, d) if not isinstance(i, P.SnapshotChunk)]


def test_every_scenario_was_captured():
    for name in SCENARIOS:
        doc = DOCS[name]
        assert doc["zookeeper"] == "3.8.0"
        assert doc["streams"], name
    assert ELECTION and QUORUM


# --- election port -----------------------------------------------------------------------

@pytest.mark.parametrize("name,st,d,data", ELECTION, ids=_ids(ELECTION))
def test_election_stream_roundtrip(name, st, d, data):
    part = st[d]
    expect_handshake = d == "from_dialer" and part["offset"] == 0
    items = P.ElectionStreamDecoder(expect_handshake).feed(data)
    assert len(items) == part["messages"]
    rebuilt = []
    for i, item in enumerate(items):
        if isinstance(item, P.Handshake):
            assert i == 0 and expect_handshake
            assert item.protocol_version == P.PROTOCOL_VERSION_V1
            assert item.sid == st["dialer_sid"]
            assert item.addresses() == [("127.0.0.1", DOCS[name]["servers"][str(item.sid)]
                                         ["election_port"])]
            rebuilt.append(item.encode())
        else:
            n = P.decode_notification(item)
            assert n.form == 44 and n.version == P.NOTIFICATION_VERSION and n.trailing == b""
            assert n.state in P.PEER_STATE_NAMES
            assert n.encode() == item
            rebuilt.append(P.frame_election(n.encode()))
    assert b"".join(rebuilt) == data

    # Fed in small pieces, the decoder finds the same items.
    dec = P.ElectionStreamDecoder(expect_handshake)
    pieces = []
    for i in range(0, len(data), 7):
        pieces.extend(dec.feed(data[i:i + 7]))
    assert pieces == items and dec.buffered() == 0


def test_notification_config_is_the_quorum_config():
    """The config text of a notification is the ensemble's server lines and
    "version=0" (a static config), the same text NEWLEADER carries."""
    doc = DOCS["election_sync"]
    lines = []
    for sid, s in sorted(doc["servers"].items()):
        lines.append("server.%s=127.0.0.1:%d:%d:%s" % (sid, s["quorum_port"], s["election_port"],
                                                      s["role"]))
    expected = ("\n".join(lines) + "\nversion=0").encode()
    configs = set()
    for name, st, d, data in ELECTION:
        if name != "election_sync":
            continue
        dec = P.ElectionStreamDecoder(d == "from_dialer" and st[d]["offset"] == 0)
        for item in dec.feed(data):
            if not isinstance(item, P.Handshake):
                configs.add(P.decode_notification(item).config)
    assert configs == {expected}
    newleader = [p for st in learner_streams("election_sync")
                 for p in packets_of(st, "from_listener") if p.type == P.NEWLEADER]
    assert newleader and all(p.data == expected for p in newleader)


def test_observer_votes_for_nobody():
    """A starting observer's notifications propose Long.MIN_VALUE as leader,
    zxid and peer epoch, in state LOOKING; the participants answer with their
    current vote and state (observer.json)."""
    minimum = -(1 << 63)
    seen = []
    for st in DOCS["observer"]["streams"]:
        if st["kind"] != "election" or st["dialer_sid"] != 4 or not st["from_start"]:
            continue
        items = P.ElectionStreamDecoder(True).feed(bytes.fromhex(st["from_dialer"]["hex"]))
        assert items[0].sid == 4
        first = P.decode_notification(items[1])
        assert (first.state, first.leader, first.zxid, first.peer_epoch) == (
            P.LOOKING, minimum, minimum, minimum)
        replies = P.ElectionStreamDecoder(False).feed(bytes.fromhex(st["from_listener"]["hex"]))
        states = {P.decode_notification(x).state for x in replies}
        assert states <= {P.FOLLOWING, P.LEADING}
        seen.append(st["listener_sid"])
    assert sorted(seen) == [1, 2, 3]


def test_lower_sid_dials_are_closed_after_the_handshake():
    """A connection dialed by a smaller sid carries only the handshake and is
    closed by the listener, which dials back (election_sync.json)."""
    count = 0
    for st in DOCS["election_sync"]["streams"]:
        if st["kind"] == "election" and st["from_start"] and st["dialer_sid"] < st["listener_sid"]:
            assert st["from_dialer"]["messages"] == 1 and st["from_listener"]["messages"] == 0
            assert st["closed"]
            count += 1
    assert count >= 3


# --- quorum port -------------------------------------------------------------------------

def _decode_payload(pkt, from_leader):
    """``pkt.data`` decoded by packet type (the raw data for types without a layout)."""
    t, data = pkt.type, pkt.data
    if t in (P.FOLLOWERINFO, P.OBSERVERINFO):
        return P.decode_learner_info(data)
    if t == P.LEADERINFO:
        return P.decode_leader_info(data)
    if t == P.ACKEPOCH:
        return P.decode_ack_epoch(data)
    if t == P.REQUEST:
        return P.decode_request(data)
    if t == P.PING and not from_leader:
        return P.decode_touches(data)
    if t == P.REVALIDATE:
        return (P.decode_revalidate_reply if from_leader else P.decode_revalidate_request)(data)
    if t in (P.PROPOSAL, P.INFORM):
        return P.decode_txn(data)
    return data


def _encode_payload(pkt, from_leader, value):
    t = pkt.type
    if t in (P.FOLLOWERINFO, P.OBSERVERINFO):
        return P.encode_learner_info(value.serverid, value.configVersion, value.protocolVersion)
    if t == P.LEADERINFO:
        return P.encode_leader_info(value)
    if t == P.ACKEPOCH:
        return P.encode_ack_epoch(value)
    if t == P.REQUEST:
        return value.encode()
    if t == P.PING and not from_leader:
        return P.encode_touches(value)
    if t == P.REVALIDATE:
        return (P.encode_revalidate_reply if from_leader else P.encode_revalidate_request)(*value)
    if t in (P.PROPOSAL, P.INFORM):
        return P.encode_txn(*value)
    return value


def _check_payload(name, st, d, pkt):
    """Decode ``pkt.data`` by packet type, check it, and encode it back."""
    t, data = pkt.type, pkt.data
    from_leader = d == "from_listener"
    value = _decode_payload(pkt, from_leader)
    assert _encode_payload(pkt, from_leader, value) == data
    if t in (P.FOLLOWERINFO, P.OBSERVERINFO):
        assert not from_leader
        assert value == r.LearnerInfo.parse(data)
        assert value.serverid == st["dialer_sid"]
        assert value.protocolVersion == P.ZAB_PROTOCOL_VERSION
    elif t == P.LEADERINFO:
        assert from_leader and value == P.ZAB_PROTOCOL_VERSION
    elif t == P.REQUEST:
        assert not from_leader
        if value.type == OpCode.createSession:
            assert len(value.request) == 4    # the session timeout
        elif value.type == OpCode.closeSession:
            assert value.request == b""
        else:
            # The client's request record, as the client sent it after its header.
            _, op, rec = protocol.decode_request(struct.pack(">ii", value.cxid, value.type)
                                                 + value.request)
            assert op == value.type and rec is not None
            assert not isinstance(rec, protocol.Malformed)
    elif t == P.PING:
        # The leader's PING has null data; the learner's reply empty bytes
        # (not null) when it has no session to report.
        assert (data is None) == from_leader
    elif t in (P.PROPOSAL, P.INFORM):
        assert from_leader and value[0].zxid == pkt.zxid
    elif t == P.NEWLEADER:
        assert from_leader and data.endswith(b"version=0")
    elif t not in (P.ACKEPOCH, P.REVALIDATE):
        assert t in (P.ACK, P.COMMIT, P.UPTODATE, P.DIFF, P.TRUNC, P.SNAP, P.SYNC), t
        assert data is None
    assert pkt.authinfo is None or t == P.REQUEST


@pytest.mark.parametrize("name,st,d,data", QUORUM, ids=_ids(QUORUM))
def test_quorum_stream_roundtrip(name, st, d, data):
    from_leader = d == "from_listener"
    items = P.QuorumStreamDecoder(from_leader).feed(data)
    rebuilt = []
    messages = 0
    in_snapshot = False
    for item in items:
        if isinstance(item, P.SnapshotChunk):
            assert in_snapshot
            rebuilt.append(item.data)
            if item.last:
                rebuilt.append(P.encode_snapshot_signature())
                in_snapshot = False
            continue
        assert not in_snapshot
        messages += 1
        rebuilt.append(r.QuorumPacket.build(item))
        assert P.encode_packet(item.type, item.zxid, item.data,
                               None if item.authinfo is None
                               else [(a.scheme, a.id) for a in item.authinfo]) == rebuilt[-1]
        assert P.decode_packet(rebuilt[-1]) == item
        assert item.type in P.PACKET_TYPE_NAMES
        _check_payload(name, st, d, item)
        in_snapshot = item.type == P.SNAP and from_leader
    assert not in_snapshot
    assert messages == st[d]["messages"]
    assert b"".join(rebuilt) == data

    # Fed in pieces of every size up to a few bytes, the same items come out,
    # the snapshot body only split differently.
    for step in (1, 5, 64):
        dec = P.QuorumStreamDecoder(from_leader)
        got = []
        for i in range(0, len(data), step):
            got.extend(dec.feed(data[i:i + step]))
        assert dec.buffered() == 0 and not dec.in_snapshot
        assert _merge_chunks(got) == _merge_chunks(items)


def _merge_chunks(items):
    out = []
    body = []
    for item in items:
        if isinstance(item, P.SnapshotChunk):
            body.append(item.data)
            if item.last:
                out.append(("snapshot", b"".join(body)))
                body = []
        else:
            out.append(item)
    assert not body
    return out


def test_request_authinfo_is_the_client_ip():
    """Forwarded requests carry the session's auth ids (here ip 127.0.0.1),
    except createSession, which carries none (writes.json)."""
    seen = set()
    for st in DOCS["writes"]["streams"]:
        for p in packets_of(st, "from_dialer"):
            if p.type != P.REQUEST:
                continue
            req = P.decode_request(p.data)
            assert p.zxid == -1
            if req.type == OpCode.createSession:
                assert not p.authinfo
            else:
                assert [(a.scheme, a.id) for a in p.authinfo] == [("ip", "127.0.0.1")]
            seen.add(req.type)
    assert {OpCode.createSession, OpCode.create, OpCode.setData, OpCode.sync, OpCode.multi,
            OpCode.delete, OpCode.closeSession} <= seen


def _snapshot_bodies():
    out = []
    for name in SCENARIOS:
        for st in DOCS[name]["streams"]:
            if st["kind"] != "quorum":
                continue
            items = items_of(st, "from_listener")
            for i, item in enumerate(items):
                if not isinstance(item, P.SnapshotChunk) and item.type == P.SNAP:
                    body = []
                    for chunk in items[i + 1:]:
                        body.append(chunk.data)
                        if chunk.last:
                            break
                    out.append((name, item.zxid, b"".join(body)))
    return out


def test_snapshot_body_reads_with_the_snapshot_file_reader(tmp_path):
    """The body after SNAP is a snapshot file's content without the file
    header and the checksum seal (and with no digest section): wrapped in both,
    zkwire.server.storage.snapshot reads it as ZooKeeper's snapshot."""
    bodies = _snapshot_bodies()
    assert {name for name, _, _ in bodies} >= {"snap", "observer"}
    for name, zxid, body in bodies:
        data = txnlog.file_header(txnlog.SNAP_MAGIC, -1) + body
        data += struct.pack(">q", zlib.adler32(data)) + b"\x00\x00\x00\x01/"
        path = tmp_path / snapshot.snapshot_name(zxid)
        path.write_bytes(data)
        snap = snapshot.read_snapshot_ex(str(path))
        assert snap.digest is None and snap.last_processed_zxid is None
        nodes = set(snap.tree.nodes)
        assert {"/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/a", "/b", "/m1",
                "/diff-0", "/diff-1", "/diff-2"} <= nodes
        # Ephemerals went with their closed sessions; children deleted stay deleted.
        assert not nodes & {"/eph", "/b-eph", "/a/child"}
        assert snap.tree.nodes["/a"].data == b"alpha3"
        if name == "observer":
            assert "/trunc-a" not in nodes      # TRUNC discarded it on the follower only
        assert snap.sessions == {}


def _tree_view(tree):
    return {p: (n.data, n.acl, n.stat(), sorted(n.children)) for p, n in tree.nodes.items()}


def test_snapshot_body_reads_piece_by_piece_as_it_arrives(tmp_path):
    """The learner reads a SNAP body as it arrives (SnapshotBodyReader), never
    joined into one buffer: the captured Java bodies, fed whole, in the
    decoder's pieces, one byte at a time and in random pieces, make the tree
    the snapshot file reader makes of the same bytes."""
    import random

    rnd = random.Random(7)
    for name, zxid, body in _snapshot_bodies():
        data = txnlog.file_header(txnlog.SNAP_MAGIC, -1) + body
        data += struct.pack(">q", zlib.adler32(data)) + b"\x00\x00\x00\x01/"
        path = tmp_path / snapshot.snapshot_name(zxid)
        path.write_bytes(data)
        want = snapshot.read_snapshot_ex(str(path))
        cuts = [[len(body)], [1] * len(body),
                [rnd.randint(1, 40) for _ in range(len(body))]]
        for sizes in cuts:
            reader = snapshot.SnapshotBodyReader(zxid)
            at = 0
            for n in sizes:
                reader.feed(body[at:at + n])
                at += n
                if at >= len(body):
                    break
            got = reader.finish()
            assert got.tree.last_zxid == zxid and got.sessions == want.sessions
            assert _tree_view(got.tree) == _tree_view(want.tree), name


def test_a_bad_snapshot_body_is_refused_with_its_offset():
    tree_body = snapshot.snapshot_body(_small_tree(), {0x55: 4000})
    reader = snapshot.SnapshotBodyReader(7)
    reader.feed(tree_body[:-3])
    with pytest.raises(txnlog.DiskFormatError, match="ends before its closing"):
        reader.finish()
    reader = snapshot.SnapshotBodyReader(7)
    with pytest.raises(txnlog.DiskFormatError, match="after the closing"):
        reader.feed(tree_body + b"\x00")
    # A node whose parent never came: the 4-byte session count is 1, one
    # session, no ACLs, then "/a/b" straight after the root.
    bad = bytearray(tree_body)
    i = bad.index(b"/a")
    bad[i:i + 2] = b"/x"
    reader = snapshot.SnapshotBodyReader(7)
    with pytest.raises(txnlog.DiskFormatError, match="comes before its parent"):
        reader.feed(bytes(bad))


def _small_tree():
    from zkwire.server.core.acl import OPEN_ACL_UNSAFE
    from zkwire.server.core.tree import DataTree, Node, NO_CHILDREN

    t = DataTree(OPEN_ACL_UNSAFE)
    for path in ("/a", "/a/b"):
        n = object.__new__(Node)
        n.data, n.acl = b"v", OPEN_ACL_UNSAFE
        n.czxid = n.mzxid = n.pzxid = 3
        n.ctime = n.mtime = 1
        n.version = n.cversion = n.aversion = n.ephemeralOwner = 0
        n.children = NO_CHILDREN
        t.nodes[path] = n
        parent = t.nodes[path[:path.rfind("/")] or ""]
        if parent.children is NO_CHILDREN:
            parent.children = {}
        parent.children[path.rsplit("/", 1)[1]] = None
    return t


def _types(pkts):
    return [P.packet_name(p.type) for p in pkts]


@pytest.mark.parametrize("name,mode", [("election_sync", "DIFF"), ("diff", "DIFF"),
                                       ("snap", "SNAP"), ("trunc", "TRUNC"),
                                       ("observer", "SNAP"), ("reelection", "DIFF")])
def test_sync_order(name, mode):
    """The packets of a learner's sync, as README.md describes them."""
    streams = learner_streams(name)
    assert streams
    for st in streams:
        learner = packets_of(st, "from_dialer")
        leader = packets_of(st, "from_listener")
        info = "OBSERVERINFO" if st["dialer_sid"] == 4 else "FOLLOWERINFO"
        assert _types(learner[:2]) == [info, "ACKEPOCH"]
        assert learner[0].zxid & 0xFFFFFFFF == 0
        epoch = leader[0].zxid
        assert _types(leader[:2]) == ["LEADERINFO", mode]
        rest = [p for p in leader[2:] if p.type != P.PING]
        i = _types(rest).index("NEWLEADER")
        between = _types(rest[:i])
        if mode == "DIFF":
            assert between == ["PROPOSAL", "COMMIT"] * (len(between) // 2)
        else:
            assert between == []
        assert rest[i].zxid == epoch and rest[i + 1].type == P.UPTODATE
        assert rest[i + 1].zxid == -1
        # The learner acks NEWLEADER and then UPTODATE, both with the new epoch's
        # zxid; in between and after come the ACKs of the proposals of a DIFF.
        acks = [p.zxid for p in learner[2:] if p.type == P.ACK]
        assert acks.count(epoch) == 2
        assert acks[0] == epoch
        proposed = [p.zxid for p in rest[:i] if p.type == P.PROPOSAL]
        if info == "FOLLOWERINFO":
            assert [z for z in acks if z != epoch][:len(proposed)] == proposed
        else:
            assert acks[:2] == [epoch, epoch]   # an observer acks no proposals


def test_trunc_goes_to_the_leaders_last_committed_zxid():
    """trunc.json: the restarted server's ACKEPOCH names its last logged zxid
    (the standalone txns), TRUNC names the leader's last committed one."""
    (st,) = learner_streams("trunc")
    learner = packets_of(st, "from_dialer")
    leader = packets_of(st, "from_listener")
    assert learner[1].type == P.ACKEPOCH and leader[1].type == P.TRUNC
    assert learner[1].zxid > leader[1].zxid
    assert learner[1].zxid >> 32 == leader[1].zxid >> 32


def test_proposals_carry_a_txn_digest():
    """3.8.0 appends a TxnDigest (version 2) to every PROPOSAL and INFORM."""
    count = 0
    for _, st, d, data in QUORUM:
        if d != "from_listener":
            continue
        for item in P.QuorumStreamDecoder(True).feed(data):
            if not isinstance(item, P.SnapshotChunk) and item.type in (P.PROPOSAL, P.INFORM):
                _, _, digest = P.decode_txn(item.data)
                assert digest is not None and digest.version == 2
                count += 1
    assert count > 10


# --- edge cases: election port ------------------------------------------------------------

def test_handshake_forms():
    v1 = P.Handshake(3, "127.0.0.1:3888")
    raw = v1.encode()
    assert raw == struct.pack(">qqi", -65536, 3, 14) + b"127.0.0.1:3888"
    assert P.decode_handshake(raw) == (v1, len(raw))
    old = P.decode_handshake(struct.pack(">q", 7) + b"rest")
    assert old == (P.Handshake(7, "", None), 8)
    assert old[0].encode() == struct.pack(">q", 7)
    v2 = P.Handshake(5, "[::1]:3888|10.0.0.1:3889", P.PROTOCOL_VERSION_V2)
    assert P.decode_handshake(v2.encode())[0].addresses() == [("::1", 3888), ("10.0.0.1", 3889)]
    # Incomplete: says how many bytes it wants.
    assert P.decode_handshake(raw[:5]) == (None, 8)
    assert P.decode_handshake(raw[:19]) == (None, 20)
    assert P.decode_handshake(raw[:-1]) == (None, len(raw))


@pytest.mark.parametrize("raw", [
    struct.pack(">q", -1),                                      # unknown protocol version
    struct.pack(">qqi", -65536, 1, 0),                          # empty address
    struct.pack(">qqi", -65536, 1, -5),
    struct.pack(">qqi", -65536, 1, 2049),                       # above QuorumCnxManager.maxBuffer
    struct.pack(">qqi", -65536, 1, 9) + b"127.0.0.1",           # no port
    struct.pack(">qqi", -65536, 1, 11) + b"127.0.0.1:x",
    struct.pack(">qqi", -65536, 1, 15) + b"127.0.0.1:99999",
    struct.pack(">qqi", -65536, 1, 3) + b"\xff:1",
])
def test_bad_handshakes_raise_our_error(raw):
    with pytest.raises(P.PacketError):
        P.decode_handshake(raw)
    with pytest.raises(P.PacketError):
        P.ElectionStreamDecoder(True).feed(raw)


def test_election_frame_limits():
    dec = P.ElectionStreamDecoder(False)
    # Refused as soon as the length arrives, before any body is buffered.
    with pytest.raises(P.PacketError):
        dec.feed(struct.pack(">i", P.MAX_ELECTION_FRAME_BYTES + 1))
    for bad in (0, -1):
        with pytest.raises(P.PacketError):
            P.ElectionStreamDecoder(False).feed(struct.pack(">i", bad))
    big = b"x" * P.MAX_ELECTION_FRAME_BYTES
    assert P.ElectionStreamDecoder(False).feed(P.frame_election(big)) == [big]
    with pytest.raises(ValueError):
        P.frame_election(big + b"x")
    dec = P.ElectionStreamDecoder(False)
    assert dec.feed(struct.pack(">i", 10) + b"abc") == []
    assert dec.buffered() == 7
    assert dec.feed(b"defghij" + struct.pack(">i", 1)) == [b"abcdefghij"]


def test_notification_28_byte_form():
    raw = struct.pack(">iqqq", P.LOOKING, 2, 0x300000005, 7)
    n = P.decode_notification(raw)
    assert (n.state, n.leader, n.zxid, n.election_epoch) == (P.LOOKING, 2, 0x300000005, 7)
    assert n.peer_epoch == 3 and n.config is None and n.form == 28   # epoch of the zxid
    assert n.encode() == raw


def test_notification_40_byte_form():
    raw = struct.pack(">iqqqqi", P.FOLLOWING, 2, 0x300000005, 7, 3, 1)
    n = P.decode_notification(raw)
    assert (n.peer_epoch, n.config, n.form) == (3, None, 40)
    assert n.encode() == raw


def test_notification_44_byte_form():
    config = b"server.1=127.0.0.1:2888:3888:participant\nversion=0"
    n = P.Notification(P.LEADING, 1, 0x100000002, 4, 1, config)
    raw = n.encode()
    assert raw == struct.pack(">iqqqqii", 2, 1, 0x100000002, 4, 1, 2, len(config)) + config
    assert P.decode_notification(raw) == n
    empty = struct.pack(">iqqqqii", 0, 1, 0, 1, 0, 2, 0)
    assert P.decode_notification(empty).config == b""
    # Bytes after the config are ignored by ZooKeeper's receiver; we keep them.
    longer = raw + b"zz"
    assert P.decode_notification(longer).trailing == b"zz"
    assert P.decode_notification(longer).encode() == longer
    # Version 1 at 44+ bytes: no config is read.
    v1 = struct.pack(">iqqqqi", 0, 1, 0, 1, 0, 1) + b"\x00" * 8
    n1 = P.decode_notification(v1)
    assert n1.config is None and n1.encode() == v1


@pytest.mark.parametrize("raw", [
    b"",
    b"\x00" * 27,
    b"\x00" * 29,
    b"\x00" * 39,
    struct.pack(">iqqqqi", 0, 1, 0, 1, 0, 2) + b"\x00",          # 41 bytes, version 2
    struct.pack(">iqqqqii", 0, 1, 0, 1, 0, 2, 1),                 # config cut short
    struct.pack(">iqqqqii", 0, 1, 0, 1, 0, 2, -1),
    struct.pack(">iqqqqii", 0, 1, 0, 1, 0, 2, 1 << 30),
])
def test_bad_notifications_raise_our_error(raw):
    with pytest.raises(P.PacketError):
        P.decode_notification(raw)


# --- edge cases: quorum port -------------------------------------------------------------

def _golden_packet_bytes():
    """A few real packets: a PROPOSAL, a REQUEST with authinfo, a FOLLOWERINFO."""
    (st,) = [s for s in DOCS["writes"]["streams"] if s["dialer_sid"] == 1]
    wanted = {}
    for d in ("from_dialer", "from_listener"):
        for p in packets_of(st, d):
            wanted.setdefault(p.type, r.QuorumPacket.build(p))
    (st,) = learner_streams("diff")
    wanted[P.FOLLOWERINFO] = r.QuorumPacket.build(packets_of(st, "from_dialer")[0])
    return [wanted[t] for t in (P.PROPOSAL, P.REQUEST, P.FOLLOWERINFO)]


@pytest.mark.parametrize("raw", _golden_packet_bytes())
def test_truncated_packets_raise_our_error(raw):
    for cut in range(len(raw)):
        with pytest.raises(P.PacketError):
            P.decode_packet(raw[:cut])
        # A stream decoder just waits for the rest.
        dec = P.QuorumStreamDecoder(False)
        assert dec.feed(raw[:cut]) == []
        assert dec.buffered() == cut
        assert dec.feed(raw[cut:]) == [P.decode_packet(raw)]
    with pytest.raises(P.PacketError):
        P.decode_packet(raw + b"\x00")      # one packet means exactly one


def test_packet_errors_are_jute_errors():
    assert issubclass(P.PacketError, JuteError)


def test_oversize_packet_field_is_refused_at_its_length():
    dec = P.QuorumStreamDecoder(False, max_field_bytes=1000)
    with pytest.raises(P.PacketError):
        dec.feed(struct.pack(">iqi", P.PROPOSAL, 1, 1001))
    dec = P.QuorumStreamDecoder(False)
    with pytest.raises(P.PacketError):
        dec.feed(struct.pack(">iqi", P.PROPOSAL, 1, -2))
    head = struct.pack(">iqi", P.REQUEST, -1, -1) + struct.pack(">ii", 1, 5000)
    with pytest.raises(P.PacketError):
        P.QuorumStreamDecoder(False, max_field_bytes=1000).feed(head)   # authinfo scheme length


def test_a_large_packet_fed_in_pieces_is_scanned_a_few_times(monkeypatch):
    """Linear, not quadratic: an unfinished packet is not re-read until the
    bytes it announced have arrived."""
    data = b"d" * 200000
    raw = P.encode_packet(P.PROPOSAL, 5, data, [("ip", "127.0.0.1")])
    calls = []
    real = P._scan_packet

    def counting(*args):
        calls.append(1)
        return real(*args)
    monkeypatch.setattr(P, "_scan_packet", counting)
    dec = P.QuorumStreamDecoder(False)
    out = []
    for i in range(0, len(raw), 100):
        out.extend(dec.feed(raw[i:i + 100]))
    assert [p.data for p in out] == [data]
    assert len(calls) <= 4


def _snap_stream():
    (st,) = learner_streams("snap")
    return bytes.fromhex(st["from_listener"]["hex"])


def test_snapshot_is_handed_out_in_pieces_with_bounded_buffer():
    data = _snap_stream()
    dec = P.QuorumStreamDecoder(True)
    chunks = []
    biggest = 0
    for i in range(0, len(data), 50):
        for item in dec.feed(data[i:i + 50]):
            if isinstance(item, P.SnapshotChunk):
                chunks.append(item)
        biggest = max(biggest, dec.buffered())
    assert len(chunks) > 10 and chunks[-1].last and not any(c.last for c in chunks[:-1])
    # What waits is at most one unfinished snapshot node (path, data, acl id and
    # stat); the largest node here is /zookeeper/config.
    (st,) = learner_streams("snap")
    config = [p.data for p in packets_of(st, "from_listener") if p.type == P.NEWLEADER][0]
    largest_node = 4 + len("/zookeeper/config") + 4 + len(config) + 68
    assert largest_node - 50 <= biggest < largest_node


def test_snapshot_without_signature_raises_our_error():
    data = _snap_stream()
    at = data.index(b"BenWasHere")
    bad = data[:at] + b"BenWasHerf" + data[at + 10:]
    with pytest.raises(P.PacketError):
        P.QuorumStreamDecoder(True).feed(bad)
    # The learner's direction never expects a snapshot after a SNAP-typed packet.
    snap = P.encode_packet(P.SNAP, 1)
    assert P.QuorumStreamDecoder(False).feed(snap) == [P.decode_packet(snap)]


def test_snapshot_with_null_node_path_raises_our_error():
    body = struct.pack(">i", 0) + struct.pack(">i", 0) + struct.pack(">i", -1)
    with pytest.raises(P.PacketError):
        P.QuorumStreamDecoder(True).feed(P.encode_packet(P.SNAP, 1) + body)


def test_learner_info_is_read_as_far_as_it_goes():
    full = P.encode_learner_info(3, 0x100000000)
    assert len(full) == 20
    li = P.decode_learner_info(full)
    assert (li.serverid, li.protocolVersion, li.configVersion) == (3, 0x10000, 0x100000000)
    li = P.decode_learner_info(full[:12])
    assert (li.serverid, li.protocolVersion, li.configVersion) == (3, 0x10000, None)
    li = P.decode_learner_info(full[:8])
    assert (li.serverid, li.protocolVersion) == (3, None)
    assert P.decode_learner_info(None).serverid is None
    assert P.decode_learner_info(full + b"more").configVersion == 0x100000000


@pytest.mark.parametrize("call,data", [
    (P.decode_leader_info, b"\x00\x01"),
    (P.decode_leader_info, None),
    (P.decode_ack_epoch, b""),
    (P.decode_request, b"\x00" * 15),
    (P.decode_request, None),
    (P.decode_touches, b"\x00" * 13),
    (P.decode_revalidate_request, b"\x00" * 11),
    (P.decode_revalidate_reply, b"\x00" * 8),
    (P.decode_txn, b"\x00" * 27),
    (P.decode_txn, None),
    (P.decode_suggested_leader, b"\x00" * 7),
])
def test_short_payloads_raise_our_error(call, data):
    with pytest.raises(P.PacketError):
        call(data)


def test_payload_helpers_roundtrip():
    assert P.decode_touches(None) == [] and P.decode_touches(b"") == []
    touches = [(0x100000000000001, 5000), (2, 30000)]
    assert P.decode_touches(P.encode_touches(touches)) == touches
    assert P.decode_revalidate_reply(P.encode_revalidate_reply(7, False)) == (7, False)
    assert P.decode_suggested_leader(P.encode_suggested_leader(3, b"txn")) == (3, b"txn")
    assert P.decode_ack_epoch(P.encode_ack_epoch(-1)) == -1
    req = P.RequestPayload(0x10, 3, OpCode.create, b"body")
    assert P.decode_request(req.encode()) == req
    assert P.packet_name(P.INFORMANDACTIVATE) == "INFORMANDACTIVATE"
    assert P.packet_name(99) == "UNKNOWN(99)"
    assert sorted(P.PACKET_TYPE_NAMES) == list(range(1, 20))


def test_records_agree_with_construct():
    for raw in _golden_packet_bytes():
        ours = P.decode_packet(raw)
        theirs = r.QuorumPacket.struct.parse(raw)
        assert (ours.type, ours.zxid, ours.data) == (theirs.type, theirs.zxid, theirs.data)
        assert r.QuorumPacket.struct.build(ours) == raw
    li = P.encode_learner_info(2, 0)
    assert r.LearnerInfo.struct.build(r.LearnerInfo.parse(li)) == li


def test_mangled_streams_raise_only_our_error():
    """Random damage to real streams: the decoders and the payload readers
    raise PacketError and nothing else (never struct.error)."""
    rng = random.Random(1234)
    samples = [c for c in QUORUM if c[3]]
    for _ in range(400):
        name, st, d, data = rng.choice(samples)
        b = bytearray(data[:rng.randint(1, min(len(data), 600))])
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        try:
            for item in P.QuorumStreamDecoder(d == "from_listener").feed(bytes(b)):
                if isinstance(item, P.SnapshotChunk):
                    continue
                try:
                    _decode_payload(item, d == "from_listener")
                except P.PacketError:
                    pass
        except P.PacketError:
            pass
    elections = [c for c in ELECTION if c[3]]
    for _ in range(300):
        name, st, d, data = rng.choice(elections)
        b = bytearray(data[:rng.randint(1, min(len(data), 400))])
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        try:
            dec = P.ElectionStreamDecoder(d == "from_dialer" and st[d]["offset"] == 0)
            for item in dec.feed(bytes(b)):
                if not isinstance(item, P.Handshake):
                    P.decode_notification(item)
        except P.PacketError:
            pass
