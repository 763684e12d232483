"""server/edge/net.py's edge logic without sockets: _write_now (replies go straight
to the socket only when nothing is queued ahead of them, so bytes never leave
out of order) and when background snapshots start or are skipped."""
from __future__ import annotations

from zkwire.server.edge.net import _write_now


class FakeSocket:
    def __init__(self, takes):
        self.takes = takes     # how many bytes each send accepts (None: all)
        self.sent = b""

    def send(self, data):
        n = len(data) if self.takes is None else min(self.takes, len(data))
        if n == 0:
            raise BlockingIOError()
        self.sent += bytes(data[:n])
        return n


class FakeTransport:
    """The attributes of twisted.internet.tcp.Connection that _write_now reads."""

    def __init__(self, takes=None):
        self.socket = FakeSocket(takes)
        self.connected = True
        self.disconnecting = False
        self._tempDataBuffer = []
        self.dataBuffer = b""
        self.offset = 0
        self.written = []

    def write(self, data):
        self.written.append(bytes(data))
        self._tempDataBuffer.append(bytes(data))


def test_sent_at_once_when_nothing_is_queued():
    t = FakeTransport()
    _write_now(t, b"reply")
    assert t.socket.sent == b"reply" and t.written == []


def test_what_the_socket_does_not_take_is_queued():
    t = FakeTransport(takes=2)
    _write_now(t, b"reply")
    assert t.socket.sent == b"re" and t.written == [b"ply"]
    # Now something is queued: the next reply must wait behind it.
    _write_now(t, b"next")
    assert t.socket.sent == b"re" and t.written == [b"ply", b"next"]


def test_a_full_socket_queues_everything():
    t = FakeTransport(takes=0)
    _write_now(t, b"reply")
    assert t.socket.sent == b"" and t.written == [b"reply"]


def test_unsent_buffer_means_queue():
    t = FakeTransport()
    t.dataBuffer, t.offset = b"earlier", 3   # 4 bytes of it not yet sent
    _write_now(t, b"reply")
    assert t.socket.sent == b"" and t.written == [b"reply"]


def test_closing_or_unknown_transports_just_write():
    t = FakeTransport()
    t.disconnecting = True
    _write_now(t, b"x")
    assert t.written == [b"x"] and t.socket.sent == b""

    class Plain:
        def __init__(self):
            self.written = []

        def write(self, data):
            self.written.append(data)

    p = Plain()
    _write_now(p, b"y")
    assert p.written == [b"y"]


def test_a_snapshot_due_while_one_runs_is_skipped_not_queued():
    """As ZooKeeper's SyncRequestProcessor ("Too busy to snap, skipping")."""
    from twisted.internet.testing import MemoryReactorClock

    from zkwire.server.core.frontend import CoreConfig
    from zkwire.server.edge.net import ZooKeeperServer

    class StubDataDir:
        begun = skipped = 0

        def committed(self, n):
            return True

        def begin_snapshot(self, tree, sessions):
            self.begun += 1
            return object()

        def skip_snapshot(self):
            self.skipped += 1

    srv = ZooKeeperServer(MemoryReactorClock(), CoreConfig())
    srv.datadir = StubDataDir()
    srv._after_commit([None])
    assert (srv.datadir.begun, srv.datadir.skipped) == (1, 0)
    srv._after_commit([None])
    srv._after_commit([None])
    assert (srv.datadir.begun, srv.datadir.skipped) == (1, 2)
    srv._snapshot = None          # the running one finished
    srv._after_commit([None])
    assert srv.datadir.begun == 2
