"""zkwire.testing.Ensemble, used as a test author uses it: unmodified kazoo
clients against an in-process three-member ensemble, through a leader's
crash, a restart and a partition.

Every member's tree is read by a client connected to that member alone,
after a ``sync`` (ZooKeeper's way to read a follower that has caught up with
the leader), and compared with the leader's."""
from __future__ import annotations

import socket
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

from zkwire.testing import Ensemble


@pytest.fixture
def ens():
    with Ensemble(3) as e:
        yield e


@pytest.fixture
def clients():
    made = []

    def connect(hosts, **kwargs):
        c = KazooClient(hosts=hosts, **kwargs)
        c.start(timeout=15)
        made.append(c)
        return c

    yield connect
    for c in made:
        try:
            c.stop()
            c.close()
        except Exception:
            pass


def tree(client, path="/"):
    """Every node under ``path`` but /zookeeper: {path: (data, czxid, mzxid, version)}."""
    out = {}

    def walk(p):
        data, stat = client.get(p)
        out[p] = (data, stat.czxid, stat.mzxid, stat.version)
        for child in sorted(client.get_children(p)):
            q = (p.rstrip("/") + "/" + child)
            if q != "/zookeeper":
                walk(q)

    walk(path)
    return out


def member_tree(clients, member):
    """The tree as ``member`` alone serves it, once it has caught up."""
    c = clients(member.hosts)
    c.sync("/")
    return tree(c)


def four_letter(member, word=b"srvr", timeout_s=5.0):
    with socket.create_connection(("127.0.0.1", member.port), timeout=timeout_s) as s:
        s.sendall(word)
        chunks = []
        while True:
            b = s.recv(4096)
            if not b:
                return b"".join(chunks).decode()
            chunks.append(b)


def wait_for(predicate, timeout_s=15.0, what="condition"):
    """Poll a condition no event announces (a member's srvr), every 10 ms."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("%s not reached in %.0f s" % (what, timeout_s))
        time.sleep(0.01)


def not_serving(member):
    try:
        return "not currently serving" in four_letter(member)
    except OSError:
        return False


def test_writes_through_every_member_are_visible_on_every_member(clients):
    with Ensemble(3, observers=1) as ens:
        assert [m.observer for m in ens.members] == [False, False, False, True]
        assert ens.member(4).mode() == "observer"
        assert sorted(m.mode() for m in ens.members[:3]) == ["follower", "follower", "leader"]
        for m in ens.members:
            c = clients(m.hosts)
            c.create("/from-%d" % m.sid, b"written via %d" % m.sid)
        leader_view = member_tree(clients, ens.member(ens.leader))
        assert {"/from-%d" % m.sid for m in ens.members} <= set(leader_view)
        for m in ens.members:
            assert member_tree(clients, m) == leader_view, "member %d differs" % m.sid


def test_killing_the_leader_elects_another_and_the_session_survives(ens, clients):
    c = clients(ens.hosts)
    states = []
    c.add_listener(states.append)
    c.create("/owned", b"", ephemeral=True)
    c.create("/before", b"1")
    session = c.client_id[0]
    old = ens.leader

    ens.kill(old)
    assert not ens.member(old).running
    new = ens.leader
    assert new != old
    c.retry(c.create, "/after", b"2")
    assert c.client_id[0] == session
    assert KazooState.LOST not in states
    assert c.exists("/owned") is not None         # the session, and its ephemeral, live on
    survivors = [m for m in ens.members if m.sid != old]
    for m in survivors:
        assert {"/before", "/after", "/owned"} <= set(member_tree(clients, m))

    # The killed member comes back from its disk and catches up.
    ens.restart(old)
    assert ens.member(old).mode() == "follower"
    assert ens.wait_serving() == new
    c.retry(c.set, "/before", b"3")
    leader_view = member_tree(clients, ens.member(new))
    assert leader_view["/before"][0] == b"3"
    assert member_tree(clients, ens.member(old)) == leader_view


def test_kill_loses_no_acknowledged_write(ens, clients):
    # Writes acknowledged while a follower lived are on its disk: after a
    # crash (unsynced writes lost) and a restart it serves every one of them
    # even before any new write reaches it.
    c = clients(ens.hosts)
    for i in range(20):
        c.create("/n%02d" % i, b"%d" % i)
    follower = next(m.sid for m in ens.members if m.mode() == "follower")
    ens.kill(follower)
    assert ens.member(follower).disk.crashes == 1
    ens.restart(follower)
    view = member_tree(clients, ens.member(follower))
    assert {"/n%02d" % i for i in range(20)} <= set(view)
    assert view == member_tree(clients, ens.member(ens.leader))


def test_a_partitioned_leader_stops_serving_and_the_majority_goes_on(ens, clients):
    c = clients(ens.hosts)
    c.create("/before", b"")
    old = ens.leader
    old_member = ens.member(old)

    t0 = time.monotonic()
    ens.partition([old])
    wait_for(lambda: not_serving(old_member), what="the isolated leader to stop serving")
    stopped_after_s = time.monotonic() - t0
    # It steps down once it no longer hears a quorum: within syncLimit ticks
    # (here its followers' connections are cut, so it knows at once); the
    # slack is for a loaded machine.
    assert stopped_after_s < ens.sync_limit * ens.tick_ms / 1000.0 + 2.0
    assert old_member.mode() is None

    new = ens.leader
    assert new != old
    assert not ens.reachable(old, new)
    c.retry(c.create, "/during", b"partitioned")
    majority = [m for m in ens.members if m.sid != old]
    for m in majority:
        assert "/during" in member_tree(clients, m)
    # The old leader stays out while the partition lasts.
    assert not_serving(old_member)

    ens.heal()
    assert ens.wait_serving() == new
    assert old_member.mode() == "follower"
    c.retry(c.create, "/after", b"")
    leader_view = member_tree(clients, ens.member(new))
    assert {"/before", "/during", "/after"} <= set(leader_view)
    assert member_tree(clients, old_member) == leader_view


def test_partition_arguments_and_an_isolated_follower(ens, clients):
    leader = ens.leader
    follower = next(m.sid for m in ens.members if m.sid != leader)
    with pytest.raises(ValueError):
        ens.partition([1, 2], [2, 3])
    with pytest.raises(KeyError):
        ens.partition([9])
    ens.partition(follower)               # a bare sid is a group of one
    wait_for(lambda: not_serving(ens.member(follower)),
             what="the isolated follower to stop serving")
    assert ens.leader == leader           # two of three still make a quorum
    c = clients(",".join(m.hosts for m in ens.members if m.sid != follower))
    c.create("/while-away", b"")
    ens.heal()
    ens.wait_serving()
    assert "/while-away" in member_tree(clients, ens.member(follower))


def test_hosts_and_members(ens):
    assert ens.hosts == ",".join(m.hosts for m in ens.members)
    assert [m.sid for m in ens.members] == [1, 2, 3]
    assert ens.member(2).hosts == "127.0.0.1:%d" % ens.member(2).port
    assert threading.current_thread() is not ens._thread.thread
