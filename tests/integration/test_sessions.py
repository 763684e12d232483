"""Session semantics, pinned down against Apache ZooKeeper with unmodified kazoo.

The servers run with tickTime=500, so the negotiable session timeout is
[2*tickTime, 20*tickTime] = [1000 ms, 10000 ms].

kazoo never stores the negotiated timeout (``_session_timeout`` keeps the requested
value), so tests that need the server's ConnectResponse wrap the client's
``ConnectionHandler._invoke`` (used only for the handshake) and record every
ConnectResponse kazoo receives: ``time_out`` (ms), ``session_id``, ``passwd``.

Ways of losing the server used here (kazoo itself is never modified):

* expiry: stop kazoo from pinging (``_connection._send_ping`` replaced on the instance
  by a no-op) - the connection stays open and silent, the server expires the session
  after the negotiated timeout and closes the socket;
* detach: point the client's host list at a closed port and drop the connection; the
  client keeps trying the dead port, so the server sees nothing more from it while the
  session id/password can be used elsewhere.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoChildrenForEphemeralsError, NoNodeError
from kazoo.protocol.connection import _CONNECTION_DROP
from kazoo.protocol.serialization import Connect
from kazoo.protocol.states import EventType, KazooState
from servers import free_port, wait_until

WAIT = 5.0
FAST_RETRY = {"max_tries": -1, "delay": 0.05, "max_delay": 0.1}


# --------------------------------------------------------------------- helpers


@pytest.fixture
def handshake_client(server):
    """Like ``make_client`` but also returns the list of ConnectResponses received."""
    made = []

    def make(**kwargs):
        kwargs.setdefault("hosts", server.hosts)
        kwargs.setdefault("timeout", 10.0)
        client = KazooClient(**kwargs)
        responses: list = []
        conn = client._connection
        original = conn._invoke

        def invoke(timeout, request, xid=None):
            result = original(timeout, request, xid)
            if isinstance(request, Connect):
                responses.append(result[0])
            return result

        conn._invoke = invoke
        made.append(client)
        client.start(timeout=15)
        return client, responses

    yield make
    for client in made:
        try:
            client.stop()
            client.close()
        except Exception:
            pass


class States:
    """Records KazooState changes of a client."""

    def __init__(self, client):
        self.seen: list = []
        self._cond = threading.Condition()
        client.add_listener(self._on_state)

    def _on_state(self, state):
        with self._cond:
            self.seen.append(state)
            self._cond.notify_all()

    def wait_for(self, states: list, timeout: float = WAIT) -> list:
        """Wait until ``states`` appear, in that order, as a subsequence."""

        def found():
            it = iter(self.seen)
            return all(any(s == want for s in it) for want in states)

        with self._cond:
            self._cond.wait_for(found, timeout)
            return list(self.seen)


def watch_event(client, path: str, method: str = "exists"):
    """Set a one-shot watch; returns (threading.Event, list of received events)."""
    fired = threading.Event()
    events: list = []

    def on_event(event):
        events.append((event, time.monotonic()))
        fired.set()

    getattr(client, method)(path, watch=on_event)
    return fired, events


def drop_connection(client) -> None:
    result = client.handler.async_result()
    client._call(_CONNECTION_DROP, result)
    with pytest.raises(Exception):
        result.get(timeout=WAIT)


def detach(client):
    """Cut the client off from the server without closing its session.

    Returns the real host list so the caller can reattach it.
    """
    real_hosts = client.hosts
    client.hosts = [("127.0.0.1", free_port())]
    drop_connection(client)
    return real_hosts


def assert_expired_response(response) -> None:
    """How the server refuses a session: timeout 0, session id 0, zero password."""
    assert response.time_out == 0
    assert response.session_id == 0
    assert response.passwd == b"\x00" * 16


# ------------------------------------------------------------ negotiation


@pytest.mark.parametrize(
    "requested_s, negotiated_ms",
    [
        (0.1, 1000),  # below min -> 2 * tickTime
        (1.0, 1000),
        (1.7, 1700),  # inside the range: kept as asked, not rounded to ticks
        (5.0, 5000),
        (10.0, 10000),
        (1000.0, 10000),  # above max -> 20 * tickTime
    ],
)
def test_negotiated_session_timeout_is_clamped(handshake_client, requested_s, negotiated_ms):
    client, responses = handshake_client(timeout=requested_s)
    assert len(responses) == 1
    assert responses[0].time_out == negotiated_ms
    assert responses[0].session_id == client.client_id[0]


def test_client_id_is_64_bit_id_and_16_byte_password(make_client):
    a, b = make_client(), make_client()
    for client in (a, b):
        sid, passwd = client.client_id
        assert isinstance(sid, int)
        assert 0 < sid < 2**63  # a positive signed 64-bit long
        assert isinstance(passwd, bytes) and len(passwd) == 16
        assert passwd != b"\x00" * 16
    assert a.client_id[0] != b.client_id[0]
    assert a.client_id[1] != b.client_id[1]


def test_ephemeral_owner_is_the_session_id(zk):
    zk.create("/persistent")
    zk.create("/eph", ephemeral=True)
    assert zk.exists("/persistent").ephemeralOwner == 0
    assert zk.exists("/eph").ephemeralOwner == zk.client_id[0]
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create("/eph/child")


# -------------------------------------------------------------- close


def test_close_deletes_ephemerals_before_stop_returns(zk, make_client):
    owner = make_client()
    owner.create("/keep", b"p")
    owner.create("/e1", ephemeral=True)
    seq = owner.create("/e2-", ephemeral=True, sequence=True)
    gone, gone_events = watch_event(zk, "/e1")
    kids, kids_events = watch_event(zk, "/", method="get_children")

    owner.stop()

    # No waiting: the session is gone when stop() has returned.
    assert zk.exists("/e1") is None
    assert zk.exists(seq) is None
    assert zk.exists("/keep") is not None
    assert sorted(zk.get_children("/")) == ["keep", "zookeeper"]
    assert gone.wait(WAIT) and kids.wait(WAIT)
    assert gone_events[0][0].type == EventType.DELETED
    assert gone_events[0][0].path == "/e1"
    assert [e.type for e, _ in kids_events] == [EventType.CHILD]


def test_closed_session_cannot_be_resumed(make_client, handshake_client):
    owner = make_client()
    sid, passwd = owner.client_id
    owner.stop()

    client, responses = handshake_client(client_id=(sid, passwd))
    assert_expired_response(responses[0])
    # kazoo then forgets the id and gets a brand new session.
    assert len(responses) == 2
    assert responses[1].session_id not in (0, sid)
    assert client.client_id[0] == responses[1].session_id


# ----------------------------------------------------------- reconnect


def test_connection_drop_keeps_the_session(handshake_client, zk):
    client, responses = handshake_client(timeout=5.0)
    sid, passwd = client.client_id
    client.create("/eph", b"x", ephemeral=True)
    states = States(client)

    drop_connection(client)
    states.wait_for([KazooState.SUSPENDED, KazooState.CONNECTED])

    assert client.client_id == (sid, passwd)
    assert len(responses) == 2
    assert (responses[1].session_id, responses[1].passwd, responses[1].time_out) == (
        sid,
        passwd,
        5000,
    )
    assert zk.exists("/eph").ephemeralOwner == sid


def test_resume_session_with_id_and_password(make_client, handshake_client, zk):
    owner = make_client(timeout=10.0, connection_retry=FAST_RETRY)
    sid, passwd = owner.client_id
    owner.create("/eph", b"mine", ephemeral=True)
    detach(owner)

    client, responses = handshake_client(client_id=(sid, passwd), timeout=10.0)
    assert len(responses) == 1
    assert responses[0].session_id == sid
    assert responses[0].passwd == passwd
    assert responses[0].time_out == 10000
    assert client.client_id == (sid, passwd)

    # Same session: its ephemerals are still there and owned by it.
    assert client.get("/eph")[0] == b"mine"
    assert client.exists("/eph").ephemeralOwner == sid
    client.create("/eph2", ephemeral=True)
    assert zk.exists("/eph2").ephemeralOwner == sid

    client.stop()
    assert zk.exists("/eph") is None
    assert zk.exists("/eph2") is None


def test_resume_renegotiates_the_timeout(make_client, handshake_client):
    owner = make_client(timeout=10.0, connection_retry=FAST_RETRY)
    sid, passwd = owner.client_id
    detach(owner)
    client, responses = handshake_client(client_id=(sid, passwd), timeout=3.0)
    assert responses[0].session_id == sid
    assert responses[0].time_out == 3000


def test_wrong_password_is_rejected_and_session_survives(make_client, handshake_client, zk):
    owner = make_client(timeout=10.0, connection_retry=FAST_RETRY)
    sid, passwd = owner.client_id
    owner.create("/eph", ephemeral=True)
    bad = bytes(b ^ 0xFF for b in passwd)

    client, responses = handshake_client(client_id=(sid, bad))

    assert_expired_response(responses[0])
    assert len(responses) == 2  # kazoo falls back to a new session
    assert client.client_id[0] not in (0, sid)
    # The real session is untouched: still alive, ephemeral still there.
    assert wait_until(lambda: owner.connected)
    assert owner.client_id == (sid, passwd)
    assert zk.exists("/eph").ephemeralOwner == sid


def test_connect_for_a_live_session_closes_its_current_connection(
    make_client, handshake_client
):
    """ZooKeeper closes the existing connection of a session as soon as a
    ConnectRequest for that session id arrives - before checking the password.
    The owner sees a disconnect and reconnects to the same session."""
    owner = make_client(timeout=10.0, connection_retry=FAST_RETRY)
    sid, passwd = owner.client_id
    states = States(owner)

    handshake_client(client_id=(sid, b"\x01" * 16))

    seen = states.wait_for([KazooState.SUSPENDED, KazooState.CONNECTED])
    assert seen[:2] == [KazooState.SUSPENDED, KazooState.CONNECTED]
    assert owner.client_id == (sid, passwd)


# -------------------------------------------------------------- expiry


def test_session_expiry_deletes_ephemerals(handshake_client, zk):
    client, responses = handshake_client(timeout=1.0)
    assert responses[0].time_out == 1000
    sid = client.client_id[0]
    client.create("/eph", ephemeral=True)
    client.create("/keep")
    gone, gone_events = watch_event(zk, "/eph")
    states = States(client)

    silenced_at = time.monotonic()
    client._connection._send_ping = lambda connect_timeout: None
    try:
        assert gone.wait(WAIT), "session never expired"
    finally:
        del client._connection._send_ping  # back to kazoo's own method
    elapsed = gone_events[0][1] - silenced_at

    # The last ping went out at most ~1/3 of the timeout before we silenced the
    # client; expiry is rounded up to the next tick: ~0.7 .. 1.5 s after silencing
    # on an idle machine.  Only the lower bound is a rule (a loaded machine can
    # only make it later; WAIT bounds the rest).
    assert elapsed >= 0.5, elapsed
    assert gone_events[0][0].type == EventType.DELETED
    assert zk.exists("/eph") is None
    assert zk.exists("/keep") is not None

    # The server closed the connection; kazoo reconnects with the old id, is told the
    # session expired (LOST) and starts a new session.
    seen = states.wait_for([KazooState.SUSPENDED, KazooState.LOST, KazooState.CONNECTED])
    assert seen[:3] == [KazooState.SUSPENDED, KazooState.LOST, KazooState.CONNECTED]
    assert_expired_response(responses[1])
    assert client.client_id[0] == responses[2].session_id != sid


def test_expired_session_id_is_rejected(make_client, handshake_client, zk):
    owner = make_client(timeout=1.0, connection_retry=FAST_RETRY)
    sid, passwd = owner.client_id
    owner.create("/eph", ephemeral=True)
    gone, _ = watch_event(zk, "/eph")
    states = States(owner)
    real_hosts = detach(owner)

    assert gone.wait(WAIT), "session never expired"
    client, responses = handshake_client(client_id=(sid, passwd))
    assert_expired_response(responses[0])
    assert client.client_id[0] not in (0, sid)

    # The detached owner, once it can reach the server again, learns the same.
    owner.hosts = real_hosts
    seen = states.wait_for([KazooState.LOST, KazooState.CONNECTED])
    assert KazooState.LOST in seen
    assert wait_until(lambda: owner.connected)
    assert owner.client_id[0] != sid
    with pytest.raises(NoNodeError):
        owner.get("/eph")
