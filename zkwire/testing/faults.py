"""Faults a test can inject into a running server, from the server's side.

Theory of operation
-------------------
Two seams, both outside the server's own code, so that a server under a fault
runs exactly the code it runs in production:

* **the network**: every client connection is accepted through a
  :class:`Gate`, which Twisted sees as the connection's protocol and zkwire's
  ``ClientProtocol`` sees as its transport (the way Twisted's own
  ``policies.ProtocolWrapper`` interposes).  Open, it passes everything
  straight through.  It can stop reading (``pause``: the socket stays open,
  the kernel buffers what the client sends), hold back what the server
  writes until ``resume``, hold each write back by a delay (``delay``), or
  cut the connection (``drop``).  :func:`install` puts the gates in front of
  a listening ``ZooKeeperServer`` by wrapping the factory of its port.
* **the disk**: :class:`SwitchDisk` wraps the
  :class:`~zkwire.server.storage.disk.Disk` under a dataDir.  While broken,
  every call that would change the disk (open a file, write, resize, sync,
  create, rename, remove, make a directory) raises ``OSError`` with the
  chosen errno; reads still work, as on a disk whose writes fail.
  ``abandon()`` is what the death of the server's process does to its open
  files: they are closed, and nothing buffered in them is written after.

Everything here belongs to the reactor thread.
"""
from __future__ import annotations

import errno as _errno
import os
import weakref
from collections import deque

from twisted.internet.protocol import Factory, Protocol

from zkwire.server.edge.net import _write_now
from zkwire.server.storage.disk import Disk

#: Marks "close the connection" in a gate's queue of held writes.
_CLOSE = object()


class Network:
    """The gates of one server's client connections and the faults on them."""

    def __init__(self, reactor):
        self.reactor = reactor
        self.gates = set()
        self.paused = False
        self.delay_s = 0.0
        self.port = None
        #: Called (no arguments) whenever a connection is gone.
        self.on_lost = None

    # --- the faults -------------------------------------------------------------------
    def pause(self) -> None:
        """Read nothing, write nothing, accept nothing; keep every socket open."""
        if self.paused:
            return
        self.paused = True
        if self.port is not None and self.port.connected:
            # New connections wait in the kernel's listen backlog, as they do
            # for a server that is not scheduled (a SIGSTOPped ZooKeeper).
            self.port.stopReading()
        for g in list(self.gates):
            g.update_reading()

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused = False
        if self.port is not None and self.port.connected:
            self.port.startReading()
        for g in list(self.gates):
            g.update_reading()
            g.pump()

    def delay(self, ms: float) -> None:
        """Hold every write to a client back by ``ms`` (0: no delay), order kept."""
        if ms < 0:
            raise ValueError("delay must be >= 0 ms, got %r" % (ms,))
        self.delay_s = ms / 1000.0
        for g in list(self.gates):
            g.pump()

    def drop(self, session_id=None) -> int:
        """Cut connections (all, or those of one session) as a network
        failure would: at once, nothing held back is sent.  -> how many."""
        n = 0
        for g in list(self.gates):
            if session_id is None or g.session_id() == session_id:
                g.drop()
                n += 1
        return n

    def clear(self) -> None:
        """No faults: resume, no delay (what is held back leaves when due)."""
        self.delay(0)
        self.resume()

    def release(self) -> None:
        """No faults, and everything held back is sent now (the server is
        about to close its connections)."""
        self.paused = False
        self.delay_s = 0.0
        for g in list(self.gates):
            g.update_reading()
            g.pump(everything=True)


class Gate(Protocol):
    """One connection: Twisted's protocol, zkwire's ``ClientProtocol``'s transport."""

    def __init__(self, network: Network, inner):
        self.network = network
        self.inner = inner
        self.held = deque()          # (due, bytes or _CLOSE), in order
        self._timer = None
        self._inner_paused = False   # the inner protocol asked us not to read
        self._reading_paused = False
        self.disconnecting = False

    def session_id(self):
        conn = getattr(self.inner, "conn", None)
        return conn.session_id if conn is not None else None

    # --- as Twisted's protocol ------------------------------------------------------------
    def makeConnection(self, transport):
        Protocol.makeConnection(self, transport)
        self.network.gates.add(self)
        self.inner.makeConnection(self)
        self.update_reading()

    def dataReceived(self, data):
        self.inner.dataReceived(data)

    def connectionLost(self, reason=None):
        self.network.gates.discard(self)
        self._cancel_timer()
        self.held.clear()
        try:
            self.inner.connectionLost(reason)
        finally:
            if self.network.on_lost is not None:
                self.network.on_lost()

    # --- as the inner protocol's transport ---------------------------------------------
    # No ``socket`` attribute: net._write_now then calls write() below.
    def write(self, data) -> None:
        net = self.network
        if not self.held and not net.paused and not net.delay_s:
            _write_now(self.transport, data)
            return
        self.held.append((net.reactor.seconds() + net.delay_s, data))
        self.pump()

    def writeSequence(self, seq) -> None:
        self.write(b"".join(seq))

    def loseConnection(self) -> None:
        self.disconnecting = True
        if not self.held and not self.network.paused:
            self.transport.loseConnection()
            return
        self.held.append((self.network.reactor.seconds() + self.network.delay_s, _CLOSE))
        self.pump()

    def abortConnection(self) -> None:
        self.drop()

    def drop(self) -> None:
        self.held.clear()
        self._cancel_timer()
        self.disconnecting = True
        self.transport.abortConnection()

    def getPeer(self):
        return self.transport.getPeer()

    def getHost(self):
        return self.transport.getHost()

    def registerProducer(self, producer, streaming):
        self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self):
        self.transport.unregisterProducer()

    def pauseProducing(self):
        self._inner_paused = True
        self.update_reading()

    def resumeProducing(self):
        self._inner_paused = False
        self.update_reading()

    def stopProducing(self):
        self.transport.stopProducing()

    # --- the machinery --------------------------------------------------------------------
    def update_reading(self) -> None:
        want_paused = self._inner_paused or self.network.paused
        if want_paused == self._reading_paused or self.transport is None:
            return
        self._reading_paused = want_paused
        if want_paused:
            self.transport.pauseProducing()
        else:
            self.transport.resumeProducing()

    def pump(self, everything: bool = False) -> None:
        """Send what is due (or ``everything``), unless paused; wake up again
        for the rest."""
        self._cancel_timer()
        if self.network.paused:
            return
        now = float("inf") if everything else self.network.reactor.seconds()
        out = []
        while self.held and self.held[0][0] <= now:
            _, item = self.held.popleft()
            if item is _CLOSE:
                if out:
                    self.transport.write(b"".join(out))
                self.held.clear()
                self.transport.loseConnection()
                return
            out.append(item)
        if out:
            self.transport.write(b"".join(out))
        if self.held:
            self._timer = self.network.reactor.callLater(
                max(0.0, self.held[0][0] - self.network.reactor.seconds()), self.pump)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


class GateFactory(Factory):
    """Wraps the listening port's factory: each connection gets a :class:`Gate`."""

    def __init__(self, network: Network, inner: Factory):
        self.network = network
        self.inner = inner

    def doStart(self):
        self.inner.doStart()

    def doStop(self):
        self.inner.doStop()

    def buildProtocol(self, addr):
        p = self.inner.buildProtocol(addr)
        return None if p is None else Gate(self.network, p)


def install(server, network: Network) -> None:
    """Accept ``server``'s connections through ``network``'s gates.  Call it
    right after ``server.start()``, on the reactor thread, before the reactor
    has accepted anything.  (``factory`` is the attribute through which
    Twisted's ``tcp.Port`` builds a protocol for each accepted socket.)"""
    port = server.listening
    port.factory = GateFactory(network, port.factory)
    network.port = port
    if network.paused:
        port.stopReading()


# --- the disk ------------------------------------------------------------------------------
class SwitchDisk(Disk):
    """A :class:`Disk` whose writes can be made to fail (see the module docstring)."""

    def __init__(self, inner: Disk):
        self.inner = inner
        self.broken = None           # an errno while broken
        self._handles = weakref.WeakSet()

    def fail(self, err: int = _errno.EIO) -> None:
        self.broken = err

    def heal(self) -> None:
        self.broken = None

    def abandon(self) -> None:
        """Close every file open for writing; later writes through them fail."""
        for h in list(self._handles):
            h.kill()

    def check(self, what: str, path) -> None:
        err = self.broken
        if err is not None:
            raise OSError(err, "%s (injected: fail_disk)" % os.strerror(err), "%s %s" % (what, path))

    # --- reads: passed through --------------------------------------------------------------
    def abspath(self, path):
        return self.inner.abspath(path)

    def listdir(self, path):
        return self.inner.listdir(path)

    def exists(self, path):
        return self.inner.exists(path)

    def size(self, path):
        return self.inner.size(path)

    def read(self, path, offset=0, length=None):
        return self.inner.read(path, offset, length)

    def open_read(self, path):
        return self.inner.open_read(path)

    def all_zero(self, path, start, end=None):
        return self.inner.all_zero(path, start, end)

    # --- writes: checked ----------------------------------------------------------------------
    def open_file(self, path, truncate=False):
        self.check("open", path)
        return self._track(_SwitchFile(self, self.inner.open_file(path, truncate), path))

    def _track(self, handle):
        self._handles.add(handle)
        return handle

    def create_atomic(self, path, tmp_path=None, fsync=True):
        self.check("create", path)
        return _SwitchAtomic(self, self.inner.create_atomic(path, tmp_path, fsync), path)

    def remove(self, path):
        self.check("remove", path)
        self.inner.remove(path)

    def makedirs(self, path):
        self.check("mkdir", path)
        self.inner.makedirs(path)

    def sync_dir(self, path):
        self.check("fsync", path)
        self.inner.sync_dir(path)

    def temp_file(self, directory):
        self.check("create", directory)
        return self.inner.temp_file(directory)


class _SwitchFile:
    __slots__ = ("disk", "f", "path", "dead", "__weakref__")

    def __init__(self, disk, f, path):
        self.disk = disk
        self.f = f
        self.path = path
        self.dead = False

    def _check(self, what):
        if self.dead:
            raise OSError(_errno.EBADF, "the server that opened this file has stopped", self.path)
        self.disk.check(what, self.path)

    def kill(self):
        if not self.dead:
            self.dead = True
            self.f.close()

    def write_at(self, offset, data):
        self._check("write")
        self.f.write_at(offset, data)

    def set_size(self, size):
        self._check("truncate")
        self.f.set_size(size)

    def size(self):
        if self.dead:
            raise OSError(_errno.EBADF, "the server that opened this file has stopped", self.path)
        return self.f.size()

    def sync(self):
        self._check("fsync")
        self.f.sync()

    def dup(self):
        self._check("open")
        return self.disk._track(_SwitchFile(self.disk, self.f.dup(), self.path))

    def close(self):
        if not self.dead:
            self.dead = True
            self.f.close()


class _SwitchAtomic:
    def __init__(self, disk, w, path):
        self.disk = disk
        self.w = w
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def write(self, data):
        try:
            self.disk.check("write", self.path)
        except OSError:
            self.w.abort()
            raise
        self.w.write(data)

    def commit(self):
        try:
            self.disk.check("fsync", self.path)
        except OSError:
            self.w.abort()
            raise
        self.w.commit()

    def abort(self):
        self.w.abort()
