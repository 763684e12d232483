"""Watch semantics, pinned down against Apache ZooKeeper with unmodified kazoo.

Two levels are observed:

* what kazoo hands to the watcher functions (``WatchedEvent`` objects), and
* the raw notifications on the wire (``WireEvents``): every notification the server
  sends is recorded, as ``(type, state, path)`` integers/strings straight from the
  packet, before kazoo dispatches it.  This shows exactly how many notifications the
  server sent, which kazoo's own de-duplication would otherwise hide.

"Nothing fired" is checked without sleeping: a server delivers notifications and
replies on one connection in order, and a change made by another client has already
queued its notifications when that client's request returns.  So after a change, one
round trip of the watching client (``barrier``) guarantees that every notification
caused by the change has been read.
"""
from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
from kazoo.exceptions import NoNodeError
from kazoo.handlers.threading import AsyncResult
from kazoo.protocol.connection import _CONNECTION_DROP
from kazoo.protocol.serialization import GetData, SetData, Watch, write_string
from kazoo.protocol.states import EventType, KazooState, KeeperState, WatchedEvent
from servers import free_port, wait_until

WAIT = 5.0

# Wire values (ZooKeeper's Watcher.Event.EventType / KeeperState).
CREATED, DELETED, CHANGED, CHILD = 1, 2, 3, 4
SYNC_CONNECTED = 3


# --------------------------------------------------------------------- helpers


class WireEvents:
    """Records every watch notification a client reads off its socket.

    Kazoo reads notifications in its connection thread through
    ``ConnectionHandler._read_watch_event``; wrapping it on the instance records the
    decoded packet and then lets kazoo handle it as usual.
    """

    def __init__(self, client, order: list | None = None):
        self.events: list = []
        self.order = order
        self._cond = threading.Condition()
        conn = client._connection
        original = conn._read_watch_event

        def recording(buffer, offset):
            watch, _ = Watch.deserialize(buffer, offset)
            with self._cond:
                self.events.append((watch.type, watch.state, watch.path))
                if self.order is not None:
                    self.order.append(("event", watch.type, watch.path))
                self._cond.notify_all()
            return original(buffer, offset)

        conn._read_watch_event = recording

    def wait_for(self, n: int, timeout: float = WAIT) -> list:
        with self._cond:
            self._cond.wait_for(lambda: len(self.events) >= n, timeout)
            return list(self.events)

    def clear(self) -> None:
        with self._cond:
            self.events.clear()


class Calls:
    """A watcher function that records the events it is called with."""

    def __init__(self):
        self.events: list = []
        self._cond = threading.Condition()

    def __call__(self, event):
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, n: int = 1, timeout: float = WAIT) -> list:
        with self._cond:
            self._cond.wait_for(lambda: len(self.events) >= n, timeout)
            return list(self.events)


def recording_result(client, order: list) -> AsyncResult:
    """An async result that notes, in the connection thread, when its reply arrived."""

    class _Result(AsyncResult):
        def set(self, value=None):
            order.append(("reply",))
            super().set(value)

        def set_exception(self, exception):
            order.append(("reply",))
            super().set_exception(exception)

    return _Result(client.handler)


def barrier(client) -> None:
    """One round trip: every notification queued for ``client`` before it has been read."""
    client.exists("/")


class SetWatchesRequest:
    """ZooKeeper's SetWatches request (opcode 101), which kazoo 2.11 never sends itself.

    Body: relativeZxid (long), then three vectors of paths: data watches, exist
    watches, child watches.  The reply has an empty body.
    """

    type = 101
    watcher = None

    def __init__(self, relative_zxid: int, data=(), exist=(), child=()):
        self.relative_zxid = relative_zxid
        self.lists = (list(data), list(exist), list(child))

    def serialize(self) -> bytearray:
        b = bytearray(struct.pack("!q", self.relative_zxid))
        for paths in self.lists:
            b.extend(struct.pack("!i", len(paths)))
            for p in paths:
                b.extend(write_string(p))
        return b

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


def drop_connection(client) -> None:
    """Make kazoo drop its TCP connection (kazoo's own test hook); it reconnects at once."""
    result = client.handler.async_result()
    client._call(_CONNECTION_DROP, result)
    with pytest.raises(Exception):
        result.get(timeout=WAIT)


# ------------------------------------------------------------ data watches


def test_get_watch_fires_changed_on_set_by_other_client(zk, make_client):
    other = make_client()
    zk.create("/w", b"v1")
    wire = WireEvents(zk)
    calls = Calls()
    data, _ = zk.get("/w", watch=calls)
    assert data == b"v1"

    other.set("/w", b"v2")

    assert calls.wait_for(1) == [WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, "/w")]
    assert wire.wait_for(1) == [(CHANGED, SYNC_CONNECTED, "/w")]
    assert zk.get("/w")[0] == b"v2"


def test_get_watch_fires_deleted_on_delete(zk, make_client):
    other = make_client()
    zk.create("/w", b"v1")
    wire = WireEvents(zk)
    calls = Calls()
    zk.get("/w", watch=calls)

    other.delete("/w")

    assert calls.wait_for(1) == [WatchedEvent(EventType.DELETED, KeeperState.CONNECTED, "/w")]
    barrier(zk)
    assert wire.events == [(DELETED, SYNC_CONNECTED, "/w")]


def test_exists_watch_on_missing_node_fires_created(zk, make_client):
    other = make_client()
    wire = WireEvents(zk)
    calls = Calls()
    assert zk.exists("/missing", watch=calls) is None

    other.create("/missing", b"x")

    assert calls.wait_for(1) == [
        WatchedEvent(EventType.CREATED, KeeperState.CONNECTED, "/missing")
    ]
    barrier(zk)
    assert wire.events == [(CREATED, SYNC_CONNECTED, "/missing")]


@pytest.mark.parametrize(
    "change, expected",
    [("set", (CHANGED, EventType.CHANGED)), ("delete", (DELETED, EventType.DELETED))],
)
def test_exists_watch_on_existing_node(zk, make_client, change, expected):
    other = make_client()
    zk.create("/e", b"x")
    wire = WireEvents(zk)
    calls = Calls()
    assert zk.exists("/e", watch=calls) is not None

    if change == "set":
        other.set("/e", b"y")
    else:
        other.delete("/e")

    assert calls.wait_for(1) == [WatchedEvent(expected[1], KeeperState.CONNECTED, "/e")]
    barrier(zk)
    assert wire.events == [(expected[0], SYNC_CONNECTED, "/e")]


def test_exists_watch_on_missing_node_sees_only_the_create(zk, make_client):
    """An exists watch left on a missing node is one-shot too: create fires, delete not."""
    other = make_client()
    wire = WireEvents(zk)
    zk.exists("/flip", watch=Calls())
    other.create("/flip")
    other.delete("/flip")
    barrier(zk)
    assert wire.events == [(CREATED, SYNC_CONNECTED, "/flip")]


def test_get_on_missing_node_leaves_no_watch(zk, make_client):
    """getData / getChildren failing with NoNode register nothing on the server."""
    other = make_client()
    wire = WireEvents(zk)
    calls = Calls()
    with pytest.raises(NoNodeError):
        zk.get("/nope", watch=calls)
    with pytest.raises(NoNodeError):
        zk.get_children("/nope", watch=calls)

    other.create("/nope")
    other.create("/nope/child")
    other.set("/nope", b"x")
    other.delete("/nope", recursive=True)
    barrier(zk)
    assert wire.events == []
    assert calls.events == []


# --------------------------------------------------------- children watches


def test_children_watch_fires_child_on_create_and_delete(zk, make_client):
    other = make_client()
    zk.create("/p")
    wire = WireEvents(zk)

    created = Calls()
    assert zk.get_children("/p", watch=created) == []
    other.create("/p/a")
    assert created.wait_for(1) == [WatchedEvent(EventType.CHILD, KeeperState.CONNECTED, "/p")]

    deleted = Calls()
    assert zk.get_children("/p", watch=deleted) == ["a"]
    other.delete("/p/a")
    assert deleted.wait_for(1) == [WatchedEvent(EventType.CHILD, KeeperState.CONNECTED, "/p")]

    barrier(zk)
    assert wire.events == [(CHILD, SYNC_CONNECTED, "/p"), (CHILD, SYNC_CONNECTED, "/p")]


def test_children_watch_fires_deleted_when_node_itself_is_deleted(zk, make_client):
    other = make_client()
    zk.create("/p")
    wire = WireEvents(zk)
    calls = Calls()
    zk.get_children("/p", watch=calls)

    other.delete("/p")

    assert calls.wait_for(1) == [WatchedEvent(EventType.DELETED, KeeperState.CONNECTED, "/p")]
    barrier(zk)
    assert wire.events == [(DELETED, SYNC_CONNECTED, "/p")]


def test_delete_node_with_data_exists_and_child_watches(zk, make_client):
    """One NodeDeleted notification for the node (however many watch kinds were set on
    it), then NodeChildrenChanged for the parent's child watch; kazoo hands the single
    DELETED event to every watcher function of the node."""
    other = make_client()
    zk.create("/parent")
    zk.create("/parent/n", b"d")
    wire = WireEvents(zk)
    on_get, on_exists, on_children, on_parent = Calls(), Calls(), Calls(), Calls()
    zk.get("/parent/n", watch=on_get)
    zk.exists("/parent/n", watch=on_exists)
    zk.get_children("/parent/n", watch=on_children)
    zk.get_children("/parent", watch=on_parent)

    other.delete("/parent/n")

    barrier(zk)
    assert wire.events == [
        (DELETED, SYNC_CONNECTED, "/parent/n"),
        (CHILD, SYNC_CONNECTED, "/parent"),
    ]
    deleted = WatchedEvent(EventType.DELETED, KeeperState.CONNECTED, "/parent/n")
    assert on_get.wait_for(1) == [deleted]
    assert on_exists.wait_for(1) == [deleted]
    assert on_children.wait_for(1) == [deleted]
    assert on_parent.wait_for(1) == [
        WatchedEvent(EventType.CHILD, KeeperState.CONNECTED, "/parent")
    ]


def test_recursive_delete_consumes_child_watch_with_child_event(zk, make_client):
    """Deleting /n/c then /n: /n's child watch fires CHILD on the first delete (and is
    gone), so the delete of /n itself only reaches /n's data watch."""
    other = make_client()
    zk.create("/n", b"x")
    zk.create("/n/c")
    wire = WireEvents(zk)
    on_data, on_children, on_child_node = Calls(), Calls(), Calls()
    zk.get("/n", watch=on_data)
    zk.get_children("/n", watch=on_children)
    zk.get("/n/c", watch=on_child_node)

    other.delete("/n/c")
    other.delete("/n")

    barrier(zk)
    assert wire.events == [
        (DELETED, SYNC_CONNECTED, "/n/c"),
        (CHILD, SYNC_CONNECTED, "/n"),
        (DELETED, SYNC_CONNECTED, "/n"),
    ]
    assert [e.type for e in on_children.wait_for(1)] == [EventType.CHILD]
    assert [e.type for e in on_data.wait_for(1)] == [EventType.DELETED]
    assert [e.type for e in on_child_node.wait_for(1)] == [EventType.DELETED]


def test_watch_kinds_do_not_cross(zk, make_client):
    """A data watch ignores child changes; a child watch ignores data changes."""
    other = make_client()
    zk.create("/d")
    zk.create("/c")
    wire = WireEvents(zk)
    zk.get("/d", watch=Calls())
    zk.get_children("/c", watch=Calls())

    other.create("/d/kid")  # changes /d's cversion, not its data
    other.set("/d/kid", b"x")
    other.set("/c", b"data")  # changes /c's data, not its children
    barrier(zk)
    assert wire.events == []

    other.set("/d", b"now")
    other.create("/c/kid")
    barrier(zk)
    assert wire.events == [(CHANGED, SYNC_CONNECTED, "/d"), (CHILD, SYNC_CONNECTED, "/c")]


# ----------------------------------------------------------------- one-shot


def test_watch_is_one_shot(zk, make_client):
    other = make_client()
    zk.create("/once", b"0")
    zk.create("/kids")
    wire = WireEvents(zk)
    data_calls, child_calls = Calls(), Calls()
    zk.get("/once", watch=data_calls)
    zk.get_children("/kids", watch=child_calls)

    other.set("/once", b"1")
    other.set("/once", b"2")
    other.create("/kids/a")
    other.create("/kids/b")
    barrier(zk)

    assert wire.events == [(CHANGED, SYNC_CONNECTED, "/once"), (CHILD, SYNC_CONNECTED, "/kids")]
    assert len(data_calls.wait_for(1)) == 1
    assert len(child_calls.wait_for(1)) == 1
    # Re-registering arms it again.
    zk.get("/once", watch=data_calls)
    other.set("/once", b"3")
    assert len(data_calls.wait_for(2)) == 2


# ------------------------------------------------------------------ ordering


def test_own_set_notification_arrives_before_the_reply(zk):
    """The client's own setData: its watch notification is on the wire before the reply."""
    zk.create("/own", b"a")
    order: list = []
    WireEvents(zk, order)
    zk.get("/own", watch=Calls())

    result = recording_result(zk, order)
    zk._call(SetData("/own", b"b", -1), result)
    result.get(timeout=WAIT)

    assert order == [("event", CHANGED, "/own"), ("reply",)]


def test_notification_arrives_before_the_new_data_is_seen(zk, make_client):
    """Client B changes the node; client A's next read returns the new data, and A has
    already received the notification before that read's reply."""
    other = make_client()
    zk.create("/seen", b"old")
    order: list = []
    WireEvents(zk, order)
    zk.get("/seen", watch=Calls())

    other.set("/seen", b"new")
    result = recording_result(zk, order)
    zk._call(GetData("/seen", None), result)
    data, _stat = result.get(timeout=WAIT)

    assert data == b"new"
    assert order == [("event", CHANGED, "/seen"), ("reply",)]


def test_notification_order_for_a_sequence_of_changes(zk, make_client):
    """Notifications arrive in the order of the changes that triggered them."""
    other = make_client()
    for p in ("/s1", "/s2", "/s3"):
        zk.create(p)
    wire = WireEvents(zk)
    for p in ("/s1", "/s2", "/s3"):
        zk.get(p, watch=Calls())
    other.set("/s3", b"x")
    other.delete("/s1")
    other.set("/s2", b"y")
    barrier(zk)
    assert wire.events == [
        (CHANGED, SYNC_CONNECTED, "/s3"),
        (DELETED, SYNC_CONNECTED, "/s1"),
        (CHANGED, SYNC_CONNECTED, "/s2"),
    ]


# -------------------------------------------------------- several watchers


def test_same_function_twice_fires_once_and_distinct_functions_each_fire(zk, make_client):
    """The server keeps one watch per (path, kind) per connection and sends one
    notification; kazoo calls each distinct watcher function once."""
    other = make_client()
    zk.create("/multi")
    wire = WireEvents(zk)
    f, g = Calls(), Calls()
    zk.get("/multi", watch=f)
    zk.get("/multi", watch=f)
    zk.exists("/multi", watch=f)
    zk.get("/multi", watch=g)

    other.set("/multi", b"x")
    barrier(zk)

    assert wire.events == [(CHANGED, SYNC_CONNECTED, "/multi")]
    assert len(g.wait_for(1)) == 1
    assert len(f.wait_for(1)) == 1
    barrier(zk)
    assert len(f.events) == 1


def test_each_client_gets_its_own_notification(zk, make_client):
    b, c = make_client(), make_client()
    zk.create("/shared")
    wire_b, wire_c = WireEvents(b), WireEvents(c)
    calls_b, calls_c = Calls(), Calls()
    b.get("/shared", watch=calls_b)
    c.exists("/shared", watch=calls_c)

    zk.set("/shared", b"x")

    assert calls_b.wait_for(1) == [
        WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, "/shared")
    ]
    assert calls_c.wait_for(1) == [
        WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, "/shared")
    ]
    barrier(b)
    barrier(c)
    assert wire_b.events == wire_c.events == [(CHANGED, SYNC_CONNECTED, "/shared")]


def test_watch_from_transaction_changes(zk, make_client):
    """Changes made inside a multi() fire the same notifications as single ops."""
    other = make_client()
    zk.create("/tx")
    zk.create("/tx/old", b"0")
    wire = WireEvents(zk)
    zk.get_children("/tx", watch=Calls())
    zk.get("/tx/old", watch=Calls())
    zk.exists("/tx/new", watch=Calls())

    t = other.transaction()
    t.set_data("/tx/old", b"1")
    t.create("/tx/new")
    results = t.commit()
    assert results[0].version == 1
    assert results[1] == "/tx/new"

    barrier(zk)
    # In the order of the ops inside the transaction.
    assert wire.events == [
        (CHANGED, SYNC_CONNECTED, "/tx/old"),
        (CREATED, SYNC_CONNECTED, "/tx/new"),
        (CHILD, SYNC_CONNECTED, "/tx"),
    ]


# -------------------------------------------------------------------- chroot


def test_chroot_client_sees_chroot_relative_paths(zk, server, make_client):
    zk.create("/app/sub", makepath=True)
    rooted = make_client(hosts=server.hosts + "/app")
    wire = WireEvents(rooted)
    data_calls, child_calls = Calls(), Calls()
    rooted.get("/sub", watch=data_calls)
    rooted.get_children("/", watch=child_calls)

    zk.set("/app/sub", b"x")
    zk.create("/app/other")

    assert data_calls.wait_for(1) == [
        WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, "/sub")
    ]
    assert child_calls.wait_for(1) == [
        WatchedEvent(EventType.CHILD, KeeperState.CONNECTED, "/")
    ]
    barrier(rooted)
    # The server itself sends full paths; kazoo strips the chroot.
    assert wire.events == [(CHANGED, SYNC_CONNECTED, "/app/sub"), (CHILD, SYNC_CONNECTED, "/app")]


# ----------------------------------------------------------------- reconnect


def test_connection_drop_clears_watches_kazoo_does_not_resend_them(zk, make_client):
    """kazoo 2.11 never sends SetWatches.  On a connection drop it calls every pending
    watcher with a NONE event (state CONNECTING) and forgets them; the server drops the
    connection's watches too, so a change after the reconnect sends nothing."""
    other = make_client()
    zk.create("/rw", b"0")
    wire = WireEvents(zk)
    states: list = []
    zk.add_listener(states.append)
    sid = zk.client_id[0]
    calls = Calls()
    zk.get("/rw", watch=calls)

    drop_connection(zk)
    assert wait_until(lambda: len(states) >= 2)
    assert zk.client_id[0] == sid
    assert states[:2] == [KazooState.SUSPENDED, KazooState.CONNECTED]
    assert calls.wait_for(1) == [WatchedEvent(EventType.NONE, KeeperState.CONNECTING, None)]

    other.set("/rw", b"1")
    barrier(zk)
    assert wire.events == []
    assert len(calls.events) == 1


def test_set_watches_fires_for_changes_after_relative_zxid(zk, make_client):
    """SetWatches(relativeZxid, data, exist, child): for every path the server either
    fires at once (node changed/created/deleted since relativeZxid) or registers the
    watch.  The immediate notifications precede the SetWatches reply."""
    other = make_client()
    for p in ("/a", "/b", "/c", "/f", "/g", "/f/x"):
        other.create(p)
    relative = other.exists("/f/x").mzxid
    other.set("/b", b"1")  # data changed
    other.delete("/c")  # data watch on deleted node
    other.create("/d")  # exist watch on node now present
    other.create("/f/y")  # children changed
    # unchanged: /a (data), /e (exist, still missing), /g (child)

    order: list = []
    wire = WireEvents(zk, order)
    result = recording_result(zk, order)
    zk._call(
        SetWatchesRequest(
            relative,
            data=["/a", "/b", "/c"],
            exist=["/d", "/e"],
            child=["/f", "/g", "/zz"],
        ),
        result,
    )
    assert result.get(timeout=WAIT) is True

    assert order[-1] == ("reply",)
    assert sorted(wire.events) == sorted(
        [
            (CHANGED, SYNC_CONNECTED, "/b"),
            (DELETED, SYNC_CONNECTED, "/c"),
            (CREATED, SYNC_CONNECTED, "/d"),
            (CHILD, SYNC_CONNECTED, "/f"),
            (DELETED, SYNC_CONNECTED, "/zz"),  # child watch on a missing node
        ]
    )

    # The rest were registered as ordinary one-shot watches.
    wire.clear()
    other.set("/a", b"1")
    other.create("/e")
    other.create("/g/k")
    other.set("/b", b"2")  # already fired: nothing more
    other.create("/c")
    other.create("/f/z")
    barrier(zk)
    assert wire.events == [
        (CHANGED, SYNC_CONNECTED, "/a"),
        (CREATED, SYNC_CONNECTED, "/e"),
        (CHILD, SYNC_CONNECTED, "/g"),
    ]


def test_set_watches_after_reconnect_reports_change_made_while_disconnected(
    zk, server, make_client
):
    """What a SetWatches-sending client (the Java client) relies on: watch /w, get
    disconnected, another client changes /w, reconnect to the same session and send
    SetWatches with the last zxid seen -> NodeDataChanged arrives at once."""
    other = make_client()
    watcher = make_client(connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.1})
    other.create("/w", b"0")
    data, stat = watcher.get("/w", watch=Calls())
    last_zxid = watcher.last_zxid
    assert last_zxid >= stat.mzxid
    sid = watcher.client_id[0]

    real_hosts = watcher.hosts
    watcher.hosts = [("127.0.0.1", free_port())]
    drop_connection(watcher)
    other.set("/w", b"changed while away")
    watcher.hosts = real_hosts
    assert wait_until(lambda: watcher.connected)
    assert watcher.client_id[0] == sid

    wire = WireEvents(watcher)
    result = watcher.handler.async_result()
    watcher._call(SetWatchesRequest(last_zxid, data=["/w"]), result)
    result.get(timeout=WAIT)
    assert wire.events == [(CHANGED, SYNC_CONNECTED, "/w")]


# ------------------------------------------------------------------ recipes


def test_data_watch_recipe(zk, make_client):
    other = make_client()
    seen: list = []
    cond = threading.Condition()

    def on_data(data, stat):
        with cond:
            seen.append((data, stat.version if stat else None))
            cond.notify_all()

    def wait_len(n):
        with cond:
            cond.wait_for(lambda: len(seen) >= n, WAIT)
            return list(seen)

    zk.DataWatch("/dw", on_data)
    assert wait_len(1) == [(None, None)]  # node missing: called once with None
    other.create("/dw", b"one")
    assert wait_len(2)[1] == (b"one", 0)
    other.set("/dw", b"two")
    assert wait_len(3)[2] == (b"two", 1)
    other.delete("/dw")
    assert wait_len(4)[3] == (None, None)


def test_data_watch_recipe_refreshes_after_reconnect(zk, make_client):
    """kazoo's DataWatch re-reads the node after a reconnect, so a change made while
    the client was disconnected is still reported (the recipe, not SetWatches)."""
    other = make_client()
    watcher = make_client(connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.1})
    other.create("/dwr", b"before")
    seen: list = []
    cond = threading.Condition()

    def on_data(data, stat):
        with cond:
            seen.append(data)
            cond.notify_all()

    watcher.DataWatch("/dwr", on_data)
    with cond:
        cond.wait_for(lambda: seen, WAIT)
    real_hosts = watcher.hosts
    watcher.hosts = [("127.0.0.1", free_port())]
    drop_connection(watcher)
    other.set("/dwr", b"during")
    watcher.hosts = real_hosts
    with cond:
        cond.wait_for(lambda: b"during" in seen, WAIT)
    assert seen == [b"before", b"during"]


def test_children_watch_recipe(zk, make_client):
    other = make_client()
    zk.create("/cw")
    seen: list = []
    cond = threading.Condition()

    def on_children(children):
        with cond:
            seen.append(sorted(children))
            cond.notify_all()

    def wait_len(n):
        with cond:
            cond.wait_for(lambda: len(seen) >= n, WAIT)
            return list(seen)

    zk.ChildrenWatch("/cw", on_children)
    assert wait_len(1) == [[]]
    other.create("/cw/a")
    assert wait_len(2)[1] == ["a"]
    other.create("/cw/b")
    assert wait_len(3)[2] == ["a", "b"]
    other.delete("/cw/a")
    assert wait_len(4)[3] == ["b"]
    other.set("/cw", b"data change")  # not a children change
    other.set("/cw/b", b"grandchild data")
    other.create("/cw/c")
    assert wait_len(5)[4] == ["b", "c"]
