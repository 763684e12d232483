"""Server-side faults, used as a test author uses them: through the fixtures.

Where a fault has a counterpart on a real ZooKeeper, the same scenario runs on
Apache ZooKeeper too and the client must see the same thing:

* ``expire_session`` against a ZooKeeper session that really times out (the
  client's pings stopped, as tests/integration/test_sessions.py does it);
* ``pause``/``resume`` against a ZooKeeper process stopped with SIGSTOP and
  continued with SIGCONT (it reads, writes and accepts nothing meanwhile; the
  kernel keeps its sockets open).
"""
from __future__ import annotations

import errno
import os
import queue
import signal
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss, NoNodeError, SessionExpiredError
from kazoo.protocol.states import EventType, KazooState

from .conftest import FAST_RETRY, WAIT_S, States


def watch(client, path, method="exists"):
    """A one-shot watch: (threading.Event, list of the events received)."""
    fired = threading.Event()
    events = []

    def on_event(event):
        events.append(event)
        fired.set()

    getattr(client, method)(path, watch=on_event)
    return fired, events


# --------------------------------------------------------------------- expiry


@pytest.fixture(params=["zkwire", "zookeeper"])
def expiry_target(request, zk_make_client, zk_faults):
    """(make a client, expire its session) on zkwire or on Apache ZooKeeper."""
    if request.param == "zkwire":
        def expire(client):
            zk_faults.expire_session(client)

        yield zk_make_client, expire
        return
    zk = request.getfixturevalue("apache_zookeeper")
    made = []

    def make(**options):
        c = KazooClient(hosts=zk.hosts, **options)
        c.start()
        made.append(c)
        return c

    def expire(client):
        # The real timeout path: the client goes silent until the server gives up.
        client._connection._send_ping = lambda connect_timeout: None

    yield make, expire
    for c in made:
        c._connection.__dict__.pop("_send_ping", None)
        c.stop()
        c.close()


def test_expiry_looks_like_zookeepers(expiry_target):
    make, expire = expiry_target
    owner = make(timeout=4.0, connection_retry=FAST_RETRY)
    other = make()
    path = "/expiry-%d" % os.getpid()
    other.ensure_path(path)
    owner.create(path + "/eph", b"", ephemeral=True)
    sid = owner.client_id[0]
    gone, events = watch(other, path + "/eph")
    children, child_events = watch(other, path, "get_children")
    states = States(owner)

    expire(owner)

    assert gone.wait(WAIT_S) and children.wait(WAIT_S)
    assert [e.type for e in events] == [EventType.DELETED]
    assert [e.type for e in child_events] == [EventType.CHILD]
    assert other.exists(path + "/eph") is None
    # The server closed the owner's connection; on reconnecting it was told
    # its session had expired, and kazoo started a new one.
    seen = states.wait_for([KazooState.SUSPENDED, KazooState.LOST, KazooState.CONNECTED])
    assert seen[:3] == [KazooState.SUSPENDED, KazooState.LOST, KazooState.CONNECTED]
    assert owner.client_id[0] != sid
    other.delete(path, recursive=True)


def test_expire_session_returns_once_the_ephemerals_are_gone(zk_client, zk_faults, zk_server):
    zk_client.create("/a", b"")
    zk_client.create("/a/eph", b"", ephemeral=True)
    sid = zk_client.client_id[0]
    assert [s["ephemerals"] for s in zk_faults.sessions() if s["session_id"] == sid] == [
        [zk_client.chroot + "/a/eph"]]
    zk_faults.expire_session(sid)          # an id works as well as a client
    assert zk_client.chroot + "/a/eph" not in zk_server.export()
    assert sid not in [s["session_id"] for s in zk_faults.sessions()]


def test_expire_unknown_session_raises(zk_faults):
    from zkwire.testing import NoSuchSession

    with pytest.raises(NoSuchSession):
        zk_faults.expire_session(0x1234)


def test_sessions_lists_each_session_with_its_ephemerals(zk_make_client, zk_faults):
    a = zk_make_client()
    b = zk_make_client()
    a.create("/x", b"", ephemeral=True)
    a.create("/y", b"", ephemeral=True)
    mine = {s["session_id"]: s for s in zk_faults.sessions()
            if s["session_id"] in (a.client_id[0], b.client_id[0])}
    assert sorted(mine[a.client_id[0]]["ephemerals"]) == [a.chroot + "/x", a.chroot + "/y"]
    assert mine[b.client_id[0]]["ephemerals"] == []
    assert all(s["connected"] for s in mine.values())
    assert mine[a.client_id[0]]["session_hex"] == "0x%x" % a.client_id[0]


# --------------------------------------------------------------- lost connections


def until(q, wanted, timeout=WAIT_S):
    """Take values from queue ``q`` until one equals ``wanted``; -> all taken."""
    taken = []
    deadline = time.monotonic() + timeout
    while not taken or taken[-1] != wanted:
        taken.append(q.get(timeout=max(0.0, deadline - time.monotonic())))
    return taken


def test_watches_are_set_again_after_drop_connections(zk_make_client, zk_faults):
    client = zk_make_client(connection_retry=FAST_RETRY)
    writer = zk_make_client()
    client.create("/watched", b"1")
    plain_fired, plain_events = watch(client, "/watched", "get")
    data, children = queue.Queue(), queue.Queue()
    client.DataWatch("/watched", lambda value, stat: data.put(value))
    client.ChildrenWatch("/", lambda names: children.put(sorted(names)))
    assert until(data, b"1") and until(children, ["watched"])
    sid = client.client_id[0]
    states = States(client)

    assert zk_faults.drop_connections(client) == 1

    seen = states.wait_for([KazooState.SUSPENDED, KazooState.CONNECTED])
    assert seen[:2] == [KazooState.SUSPENDED, KazooState.CONNECTED]
    assert client.client_id[0] == sid            # the same session, resumed
    # kazoo tells a plain watch that the connection went (an event of type
    # NONE) and forgets it; its DataWatch and ChildrenWatch recipes set their
    # watches again on the new connection, and see what changes after.
    assert plain_fired.wait(WAIT_S)
    assert [e.type for e in plain_events] == [EventType.NONE]
    writer.set("/watched", b"2")
    writer.create("/new", b"")
    assert until(data, b"2")[-1] == b"2"
    assert until(children, ["new", "watched"])[-1] == ["new", "watched"]


def test_drop_connections_without_a_session_cuts_every_client(zk_make_client, zk_faults):
    clients = [zk_make_client(connection_retry=FAST_RETRY) for _ in range(2)]
    states = [States(c) for c in clients]
    assert zk_faults.drop_connections() >= 2
    for s in states:
        assert s.wait_for([KazooState.SUSPENDED, KazooState.CONNECTED])[:2] == [
            KazooState.SUSPENDED, KazooState.CONNECTED]


# -------------------------------------------------------------------------- pause


@pytest.fixture(params=["zkwire", "zookeeper"])
def pause_target(request, zk_server, zk_faults):
    """(hosts, pause, resume) on zkwire or on a SIGSTOPped Apache ZooKeeper."""
    if request.param == "zkwire":
        yield zk_server.hosts, zk_faults.pause, zk_faults.resume
        return
    zk = request.getfixturevalue("apache_zookeeper")
    pid = zk.proc.pid
    stopped = []

    def pause():
        os.kill(pid, signal.SIGSTOP)
        stopped.append(True)

    def resume():
        os.kill(pid, signal.SIGCONT)
        stopped.clear()

    yield zk.hosts, pause, resume
    if stopped:
        resume()


def test_client_times_out_under_pause_and_resumes_its_session(pause_target):
    hosts, pause, resume = pause_target
    client = KazooClient(hosts=hosts, timeout=4.0, connection_retry=FAST_RETRY)
    client.start()
    try:
        path = "/paused-%d" % os.getpid()
        client.create(path, b"", ephemeral=True)
        sid = client.client_id[0]
        states = States(client)
        pause()
        try:
            # No answer to its pings: after 2/3 of the 4 s timeout kazoo gives
            # the connection up.
            assert KazooState.SUSPENDED in states.wait_for([KazooState.SUSPENDED])
            assert KazooState.SUSPENDED in states.seen
        finally:
            resume()
        seen = states.wait_for([KazooState.SUSPENDED, KazooState.CONNECTED])
        assert seen[:2] == [KazooState.SUSPENDED, KazooState.CONNECTED]
        assert client.client_id[0] == sid         # back within the session timeout
        assert client.exists(path) is not None
    finally:
        client.stop()
        client.close()


# -------------------------------------------------------------------------- delay


def test_delay_holds_every_reply_back(zk_client, zk_faults):
    zk_client.create("/d", b"x")
    zk_faults.delay(300)
    t0 = time.monotonic()
    assert zk_client.get("/d")[0] == b"x"
    assert time.monotonic() - t0 >= 0.3
    zk_faults.delay(0)
    assert zk_client.get("/d")[0] == b"x"


# ---------------------------------------------------------------------- the disk


def test_fail_disk_acknowledges_nothing_and_restart_keeps_what_was(zk_client, zk_faults,
                                                                    zk_server):
    zk_client.create("/kept", b"acknowledged")
    zk_faults.fail_disk()
    assert zk_client.get("/kept")[0] == b"acknowledged"     # reads still answer
    with pytest.raises(ConnectionLoss):
        zk_client.create("/lost", b"never acknowledged")
    # As ZooKeeper when its log cannot be written: the server stopped.
    assert not zk_server.running
    assert "transaction log" in zk_server.stopped_reason
    zk_faults.heal_disk()
    zk_faults.restart()
    assert zk_client.retry(zk_client.get, "/kept")[0] == b"acknowledged"
    with pytest.raises(NoNodeError):
        zk_client.get("/lost")


def test_fail_disk_with_enospc(zk_client, zk_faults, zk_server):
    zk_faults.fail_disk(errno.ENOSPC)
    with pytest.raises((ConnectionLoss, SessionExpiredError)):
        zk_client.set("/", b"x")
    assert os.strerror(errno.ENOSPC) in zk_server.stopped_reason
    # zk_faults puts it right after the test (healed and restarted).
