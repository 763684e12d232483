"""The in-process server for programs that do not run Twisted: :class:`TestServer`.

Theory of operation
-------------------
Every :class:`TestServer` of a process runs on one reactor in one daemon
thread, started by the first of them.  It is a reactor of its own, not
Twisted's global one (``twisted.internet.reactor``): a process may run a
Twisted program or twisted.trial tests on the global reactor beside its test
servers, and the thread never takes signal handlers.  Its thread pool (used
for slow fsyncs and snapshots) has daemon threads too, so a process with test
servers still running exits when its main thread does.

Each method hands its call to the reactor thread and waits for the result
(that of the Deferred, if the call returns one); an exception there is
raised here.  The server itself is a :class:`~zkwire.testing.service.TestService`.
"""
from __future__ import annotations

import contextlib
import functools
import threading

from .service import NoSuchSession, ServerStopped, TestService  # noqa: F401

# Imported here, not at the first start, so that starting a server costs no import.
try:
    from twisted.internet.epollreactor import EPollReactor as _Reactor
except ImportError:  # not Linux
    try:
        from twisted.internet.pollreactor import PollReactor as _Reactor
    except ImportError:
        from twisted.internet.selectreactor import SelectReactor as _Reactor
from twisted.internet.defer import maybeDeferred
from twisted.python.failure import Failure

#: How long a call waits for the reactor thread before it raises TimeoutError.
CALL_TIMEOUT_S = 60.0

_lock = threading.Lock()
_shared = None


class ReactorThread:
    """A private reactor running in a daemon thread."""

    def __init__(self):
        # An instance, not installed as Twisted's global reactor.
        self.reactor = _Reactor()
        pool = self.reactor.getThreadPool()
        pool.threadFactory = functools.partial(threading.Thread, daemon=True)
        running = threading.Event()
        self.reactor.callWhenRunning(running.set)
        self.thread = threading.Thread(target=self.reactor.run, name="zkwire-testing-reactor",
                                       kwargs={"installSignalHandlers": False}, daemon=True)
        self.thread.start()
        running.wait()

    def call(self, fn, *args, timeout_s=CALL_TIMEOUT_S, **kwargs):
        """``fn(*args, **kwargs)`` on the reactor thread; its result (a
        Deferred's, once it fires), or its exception raised here."""
        if threading.current_thread() is self.thread:
            raise RuntimeError("a TestServer call on its own reactor thread would wait for "
                               "itself; on the reactor, use the TestService (server.service)")
        done = threading.Event()
        box = []

        def run():
            def finish(result):
                box.append(result)
                done.set()

            maybeDeferred(fn, *args, **kwargs).addBoth(finish)

        self.reactor.callFromThread(run)
        if not done.wait(timeout_s):
            raise TimeoutError("the zkwire test reactor did not answer within %.0f s" % timeout_s)
        result = box[0]
        if isinstance(result, Failure):
            result.raiseException()
        return result


def shared_reactor_thread() -> ReactorThread:
    global _shared
    with _lock:
        if _shared is None:
            _shared = ReactorThread()
        return _shared


class TestServer:
    """A zkwire server in this process, on a free loopback port.

    ``TestServer()`` starts it (``start=False`` does not); ``with
    TestServer() as zk:`` stops it at the end.  Options are
    :class:`~zkwire.testing.service.TestService`'s: ``port``, ``host``,
    ``data_dir``, ``config`` (zoo.cfg keys and -D properties, e.g.
    ``{"tickTime": 500}``), ``load`` (seed data).  Every method may be called
    from any thread but the server's own; see the TestService for what each
    does."""

    __test__ = False     # not a pytest test class, whatever its name says

    def __init__(self, port=0, *, host="127.0.0.1", data_dir=None, config=None, load=None,
                 start=True):
        self._thread = shared_reactor_thread()
        self.reactor = self._thread.reactor
        self.service = TestService(self.reactor, port=port, host=host, data_dir=data_dir,
                                   config=config, load=load)
        #: A fault may be on: set by the methods that set one, cleared by
        #: clear_faults (which then has nothing to do: a per-test fixture calls it).
        self._faulted = False
        if start:
            self.start()

    def _call(self, fn, *args, **kwargs):
        return self._thread.call(fn, *args, **kwargs)

    def __repr__(self):
        return "<TestServer %s%s>" % (self.hosts, "" if self.running else " (stopped)")

    def __enter__(self):
        if self.service.server is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- where it is ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.service.port

    @property
    def hosts(self) -> str:
        """The connect string, ``"127.0.0.1:<port>"``."""
        return self.service.hosts

    @property
    def running(self) -> bool:
        return self.service.serving

    @property
    def stopped_reason(self):
        """Why the server stopped itself (a disk fault), or None."""
        return self.service.stopped_reason

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> int:
        """Listen and load the seed; -> the port."""
        return self._call(self.service.start)

    def stop(self) -> None:
        self._call(self.service.stop)

    close = stop

    def restart(self) -> int:
        """Stop, then start on the same port with the same data: sessions
        come back, clients reconnect and resume them."""
        return self._call(self.service.restart)

    # --- faults ------------------------------------------------------------------------------------
    @property
    def faults(self) -> "Faults":
        return Faults(self)

    def expire_session(self, session) -> None:
        """Expire a session now (an id, a hex string or a kazoo client); returns
        once its closeSession is applied: its ephemerals are gone, its watchers
        told, its client's connection closed."""
        self._call(self.service.expire_session, session)

    def drop_connections(self, session=None) -> int:
        return self._call(self.service.drop_connections, session)

    def pause(self) -> None:
        self._faulted = True
        self._call(self.service.pause)

    def resume(self) -> None:
        self._call(self.service.resume)

    def delay(self, ms: float) -> None:
        self._faulted = True
        self._call(self.service.delay, ms)

    def fail_disk(self, err=None) -> None:
        self._faulted = True
        if err is None:
            self._call(self.service.fail_disk)
        else:
            self._call(self.service.fail_disk, err)

    def heal_disk(self) -> None:
        self._call(self.service.heal_disk)

    def clear_faults(self) -> None:
        """Resume, no delay, disk healed, and running (restarted if it had stopped)."""
        if not self._faulted and self.running:
            return
        self._call(self.service.clear_faults)
        self._faulted = False

    def sessions(self) -> list:
        return self._call(self.service.sessions)

    # --- data ------------------------------------------------------------------------------------
    def load(self, nodes) -> int:
        """Create the nodes of a seed that do not exist; -> how many were created."""
        return self._call(self.service.load, nodes)

    def export(self, root: str = "/") -> dict:
        return self._call(self.service.export, root)

    def ensure_path(self, path: str) -> None:
        self._call(self.service.ensure_path, path)

    def delete_path(self, path: str) -> None:
        self._call(self.service.delete_path, path)


class Faults:
    """The fault-injection methods of one server (what the ``zk_faults``
    fixture hands a test)."""

    _METHODS = ("expire_session", "drop_connections", "pause", "resume", "delay",
                "fail_disk", "heal_disk", "sessions", "clear_faults", "restart")

    def __init__(self, server: TestServer):
        self.server = server

    def __getattr__(self, name):
        if name in self._METHODS:
            return getattr(self.server, name)
        raise AttributeError(name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._METHODS))


@contextlib.contextmanager
def serve(**options):
    """``with serve() as zk:`` -- a started :class:`TestServer`, stopped at the end."""
    server = TestServer(**options)
    try:
        yield server
    finally:
        server.stop()
