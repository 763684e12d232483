"""The QuorumPeer: election, then a role, then election again, under the
driver contract the edge relies on."""
from __future__ import annotations

from zkwire.server.quorum.packets import (
    DIFF, FOLLOWERINFO, LEADERINFO, LOOKING, NEWLEADER, UPTODATE, Notification,
    QuorumStreamDecoder, decode_packet, encode_leader_info, encode_packet,
)
from zkwire.server.quorum.peer import QuorumPeer

from .zab_harness import Node, connect_req, membership


def packet(ptype, zxid, data=None):
    return decode_packet(encode_packet(ptype, zxid, data))


def following_peer():
    """Server 1 of 3, elected to follow 3, synced and serving."""
    node = Node(1)
    now = 1000
    peer = QuorumPeer(node.core, node.storage, 1, membership(3), now, tick_ms=100)
    peer.start(now)
    for sid in (2, 3):
        peer.election_message(sid, Notification(LOOKING, 3, 0, 1, 0), now)
    now += 300                                   # past the 200 ms finalize wait
    peer.tick(now)
    rd = peer.ready()
    dials = [s for s in rd.send if s[0] == "dial"]
    assert dials == [("dial", 3, "127.0.0.1", 2003)]
    peer.leader_connected(now)
    decoder = QuorumStreamDecoder(from_leader=False)
    sent = [p for s in peer.ready().send if s[0] == "leader" for p in decoder.feed(s[1])]
    assert [p.type for p in sent] == [FOLLOWERINFO]
    for pkt in (packet(LEADERINFO, 1 << 32, encode_leader_info()), packet(DIFF, 0),
                packet(NEWLEADER, 1 << 32, b"config"), packet(UPTODATE, -1)):
        peer.leader_packet(pkt, now)
        peer.ready()
    assert peer.mode == "follower" and node.core.serving
    return node, peer, now


def test_clients_are_closed_when_the_leader_is_lost():
    # Found by the failover benchmark: the role's own last ready() took the
    # list of closed connections, so the edge never closed them and clients
    # hung until their heartbeat timed out.
    node, peer, now = following_peer()
    conn = node.core.open_conn("127.0.0.1:5000", "127.0.0.1", now)
    node.core.connect(conn, connect_req(3000), False, now)
    peer.ready()
    peer.leader_connection_lost(now)
    rd = peer.ready()
    assert conn in rd.conns and conn.outbox[-1][0] == "close"
    assert ("hangup",) in rd.send
    assert peer.mode is None and not node.core.serving
    assert peer.role is None and peer.elections == 2   # looking again


def test_new_clients_are_refused_while_looking():
    node, peer, now = following_peer()
    peer.leader_connection_lost(now)
    peer.ready()
    conn = node.core.open_conn("127.0.0.1:5001", "127.0.0.1", now)
    node.core.connect(conn, connect_req(3000), False, now)
    assert conn.outbox == [("close", "not serving: this ensemble member has no leader")]
