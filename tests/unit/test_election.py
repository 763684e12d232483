"""zkwire.server.quorum.election: Fast Leader Election as a sans-IO machine.

The rules come from ZooKeeper's FastLeaderElection (branch-3.9: lookForLeader,
totalOrderPredicate, checkLeader, WorkerReceiver); what 3.8.0 sends was
captured in tests/golden/quorum/ (README.md there): every server first votes
for itself in election epoch 1, adopts and re-announces a better vote, and a
server out of election answers a LOOKING one with the vote its own election
ended with.  These tests drive several machines over a simulated network
(delivery order chosen by a seeded random generator) and check what
ZooKeeper promises: everyone decides the same leader, the one with the
highest (peer epoch, zxid, sid), and a latecomer joins the established one.
"""
from __future__ import annotations

import random

import pytest

from zkwire.server.quorum import packets as P
from zkwire.server.quorum.election import NO_VOTE, Election, better
from zkwire.server.quorum.membership import build

from .test_quorum_packets import DOCS, ELECTION


def ensemble(n, observers=0):
    servers = {i: "127.0.0.1:%d:%d" % (2000 + i, 3000 + i) for i in range(1, n + 1)}
    for j in range(n + 1, n + observers + 1):
        servers[j] = "127.0.0.1:%d:%d:observer" % (2000 + j, 3000 + j)
    ms, _ = build(servers)
    return ms


class Net:
    """Messages in flight; FIFO per (from, to) pair like a TCP connection,
    any interleaving across pairs."""

    def __init__(self, nodes, seed):
        self.nodes = nodes
        self.rng = random.Random(seed)
        self.queues = {}
        self.now = 0
        self.sent = 0

    def collect(self):
        for sid, e in self.nodes.items():
            for to, n in e.outbox:
                # Every message crosses the wire as bytes.
                wire = P.decode_notification(n.encode())
                self.queues.setdefault((sid, to), []).append(wire)
                self.sent += 1
            e.outbox.clear()

    def run(self, steps=20000):
        self.collect()
        for _ in range(steps):
            live = [k for k, q in self.queues.items() if q and k[1] in self.nodes]
            if live:
                frm, to = self.rng.choice(live)
                n = self.queues[(frm, to)].pop(0)
                self.now += self.rng.randint(0, 30)
                self.nodes[to].receive(frm, n, self.now)
            else:
                deadlines = [e.deadline_ms for e in self.nodes.values() if e.deadline_ms]
                if not deadlines:
                    return
                self.now = max(self.now, min(deadlines))
                for e in self.nodes.values():
                    e.tick(self.now)
            self.collect()
            if all(e.decided for e in self.nodes.values()):
                return
        raise AssertionError("no decision after %d steps" % steps)


def start_all(ms, zxids, epochs=None, seed=0):
    nodes = {}
    for sid in ms.members:
        e = Election(sid, ms, zxids.get(sid, 0), (epochs or {}).get(sid, 0))
        nodes[sid] = e
    net = Net(nodes, seed)
    for e in nodes.values():
        e.start(0)
    return net


@pytest.mark.parametrize("seed", range(40))
def test_everyone_decides_the_most_up_to_date_server(seed):
    rng = random.Random(seed)
    ms = ensemble(rng.choice([3, 5]))
    zxids = {sid: rng.choice([0x100000005, 0x100000007, 0x200000001]) for sid in ms.voters}
    net = start_all(ms, zxids, seed=seed)
    net.run()
    # peer epochs are all 0 here: the zxid, then the sid, decides
    best = max(ms.voters, key=lambda s: (zxids[s], s))
    leaders = {e.decided.leader for e in net.nodes.values()}
    assert leaders == {best}
    assert net.nodes[best].state == P.LEADING
    assert all(e.state == P.FOLLOWING for s, e in net.nodes.items() if s != best)


def test_peer_epoch_beats_zxid():
    ms = ensemble(3)
    net = start_all(ms, {1: 0x100000009, 2: 0x100000001, 3: 0x100000001},
                    epochs={1: 1, 2: 2, 3: 1})
    net.run()
    assert {e.decided.leader for e in net.nodes.values()} == {2}


def test_an_observer_votes_for_nobody_and_learns_the_leader():
    ms = ensemble(3, observers=1)
    net = start_all(ms, {1: 5, 2: 5, 3: 5})
    obs = net.nodes[4]
    assert obs.proposal.leader == NO_VOTE
    net.run()
    assert obs.decided.leader == 3 and obs.state == P.OBSERVING
    assert {e.decided.leader for s, e in net.nodes.items()} == {3}


def test_a_latecomer_joins_the_established_leader():
    ms = ensemble(3)
    net = start_all(ms, {1: 7, 2: 7, 3: 7})
    del net.nodes[3]                      # server 3 is down during the election
    net.queues = {k: q for k, q in net.queues.items() if 3 not in k}
    net.run()
    assert {e.decided.leader for e in net.nodes.values()} == {2}
    # Server 3 comes back with the highest sid and the same zxid: it must
    # not take over, but follow server 2, which answers LEADING.
    late = Election(3, ms, 7, 0)
    net.nodes[3] = late
    late.start(net.now)
    net.run()
    assert late.decided.leader == 2 and late.state == P.FOLLOWING
    assert net.nodes[2].state == P.LEADING


def test_no_quorum_no_decision():
    ms = ensemble(3)
    alone = Election(1, ms, 0, 0)
    alone.start(0)
    sent = list(alone.outbox)
    assert sorted(to for to, _ in sent) == [2, 3]
    assert all((n.state, n.leader, n.election_epoch) == (P.LOOKING, 1, 1) for _, n in sent)
    alone.outbox.clear()
    # Silence: notifications go out again after 200 ms, then 400, 800 ...
    times = []
    now = 0
    for _ in range(5):
        now = alone.deadline_ms
        alone.tick(now)
        times.append(now)
        assert len(alone.outbox) == 2 and alone.decided is None
        alone.outbox.clear()
    assert [b - a for a, b in zip(times, times[1:])] == [400, 800, 1600, 3200]


def test_a_stale_round_is_answered_with_our_vote():
    ms = ensemble(3)
    e = Election(2, ms, 9, 0)
    e.start(0)
    e.start(10)                                    # round 2
    e.outbox.clear()
    e.receive(1, P.Notification(P.LOOKING, 1, 3, 1, 0), 20)
    [(to, n)] = e.outbox
    assert (to, n.state, n.leader, n.zxid, n.election_epoch) == (1, P.LOOKING, 2, 9, 2)


def test_total_order():
    voters = {1: None, 2: None, 3: None}
    assert better(1, 5, 2, 3, 9, 1, voters)        # peer epoch first
    assert better(1, 6, 1, 3, 5, 1, voters)        # then zxid
    assert better(3, 5, 1, 2, 5, 1, voters)        # then sid
    assert not better(2, 5, 1, 3, 5, 1, voters)
    assert not better(9, 99, 9, 1, 0, 0, voters)   # not a participant: weight 0


def test_our_notifications_are_what_zookeeper_3_8_sent_first():
    """Each server's first notification in the captured first election:
    LOOKING, a vote for itself, zxid 0, election epoch 1, peer epoch 0, and
    the config text of the ensemble -- byte for byte what our machine sends."""
    doc = DOCS["election_sync"]
    servers = {int(sid): "127.0.0.1:%d:%d:%s" % (s["quorum_port"], s["election_port"], s["role"])
               for sid, s in doc["servers"].items()}
    ms, _ = build(servers)
    config = ms.config_text().encode()
    firsts = {}
    for name, st, d, data in ELECTION:
        if name != "election_sync":
            continue
        sender = st["dialer_sid"] if d == "from_dialer" else st["listener_sid"]
        dec = P.ElectionStreamDecoder(d == "from_dialer" and st[d]["offset"] == 0)
        frames = [x for x in dec.feed(data) if not isinstance(x, P.Handshake)]
        if frames:
            t = st[d]["t_ms"][-len(frames)] if st[d]["t_ms"] else 0
            if sender not in firsts or t < firsts[sender][0]:
                firsts[sender] = (t, frames[0])
    assert sorted(firsts) == [1, 2, 3]
    for sid, (_, payload) in firsts.items():
        e = Election(sid, ms, 0, 0, config=config)
        e.start(0)
        ours = {n.encode() for _, n in e.outbox}
        assert ours == {payload}, sid
