"""A zkwire server for tests, on a reactor: start, stop, restart, faults, seed data.

Theory of operation
-------------------
:class:`TestService` is a ``twisted.application.service.Service`` that keeps
one standalone server (``server.edge.net.ZooKeeperServer``) going across
restarts.  Everything it does goes through the engine's own paths:

* **storage**: the server always has a dataDir, in Apache ZooKeeper's format,
  on a :class:`~zkwire.testing.faults.SwitchDisk` -- over the real file system
  when given a ``data_dir``, else over an in-memory
  :class:`~zkwire.server.storage.disk.MemoryDisk`.  ``restart()`` builds a
  new server on the same disk, which recovers the tree and the sessions as
  any restart does, and listens on the same port; clients reconnect and
  resume their sessions.
* **expire_session**: the session's deadline is moved to now and the tick
  that expires sessions runs, so the proposer proposes the closeSession txn
  exactly as on a timeout: ephemerals are deleted, watches fire, and the
  client's connection is closed; when it reconnects it is told its session
  expired.
* **seed data and helpers** (``load``, ``ensure_path``, ``delete_path``):
  ordinary create/delete txns, proposed for session 0 (no client's session:
  its writes answer no request) with the super identity, logged and applied
  like any write.
* **the network faults** (pause, resume, delay, drop) are
  :class:`~zkwire.testing.faults.Network`'s, in front of the server.
* **fail_disk**: the disk starts failing writes.  The next write the server
  logs fails, and the server does what ZooKeeper does when its log cannot be
  written: it stops (its connections are cut and its port closes) without
  acknowledging that write, and ``stopped_reason`` says why.  Nothing that
  was not durable was acknowledged, so ``heal_disk()`` then ``restart()``
  brings back every acknowledged write (and maybe the ones in flight, whose
  clients saw only a lost connection).

Every method belongs to the reactor's thread.  The ones that wait for the
server (``start``, ``stop``, ``restart``, ``expire_session``, ``load``,
``ensure_path``, ``delete_path``) return Deferreds; the others return at once.
:class:`zkwire.testing.TestServer` drives one from any other thread.
"""
from __future__ import annotations

import errno
import logging
from types import SimpleNamespace as Rec

from twisted.application.service import Service
from twisted.internet import defer

from twisted.internet.error import CannotListenError
from twisted.python.failure import Failure

from zkwire.cli import build_server
from zkwire.consts import OpCode, Perms
from zkwire.server.edge.config import load as load_settings
from zkwire.server.storage.disk import FILE_DISK, MemoryDisk
from . import seed as seedmod
from .faults import Network, SwitchDisk, install

log = logging.getLogger("zkwire.testing")

#: What a test server changes from ZooKeeper's defaults: every four-letter
#: word answers (as kazoo's test harness configures ZooKeeper), and no limit
#: on connections per address (a test suite opens many from 127.0.0.1).
TEST_DEFAULTS = {"4lw.commands.whitelist": "*", "maxClientCnxns": "0"}

#: Where the dataDir lives on a server's in-memory disk.
MEMORY_DATA_DIR = "/zkwire-memory"

#: The writes of ``load``, ``ensure_path`` and ``delete_path``: session 0 is
#: no client's; the super identity passes every ACL check.
ADMIN_SESSION = 0
ADMIN_IDS = [("super", "")]
OPEN_ACL = [Rec(perms=Perms.ALL, id=Rec(scheme="world", id="anyone"))]


class ServerStopped(RuntimeError):
    """The server is not running (stopped, or stopped itself on a fault)."""


class NoSuchSession(KeyError):
    """No live session has this id."""

    def __str__(self):
        return "no live session %s" % session_hex(self.args[0])


def session_hex(session_id: int) -> str:
    """A session id as ZooKeeper prints it: unsigned hex."""
    return "0x%x" % (session_id & (2**64 - 1))


def parse_session_id(value) -> int:
    """A session id from an int, a kazoo client (its ``client_id``) or hex text."""
    if isinstance(value, bool):
        raise TypeError("a session id, not %r" % (value,))
    if isinstance(value, int):
        sid = value
    elif isinstance(value, str):
        sid = int(value, 16)
    elif hasattr(value, "client_id"):
        cid = value.client_id
        if not cid:
            raise ValueError("%r has no session (not connected)" % (value,))
        sid = cid[0]
    else:
        raise TypeError("a session id, a hex string or a kazoo client, not %r" % (value,))
    sid &= 2**64 - 1
    return sid - 2**64 if sid >= 2**63 else sid


def settings_for(config=None, host="127.0.0.1", port=0, data_dir=None):
    """zoo.cfg settings for a test server.  ``config`` holds zoo.cfg keys or
    ZooKeeper system properties (``{"tickTime": 500, "jute.maxbuffer": ...}``)
    over :data:`TEST_DEFAULTS`."""
    props = dict(TEST_DEFAULTS)
    for key, value in (config or {}).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        props[key] = str(value)
    settings = load_settings(None, props, {"client_port": port, "client_port_address": host,
                                           "data_dir": data_dir})
    for w in settings.warnings:
        log.warning(w)
    return settings


class TestService(Service):
    """A zkwire server on ``reactor`` (see the module docstring).

    Options: ``port`` (0: a free one, kept across restarts), ``host``
    (default 127.0.0.1), ``data_dir`` (default: an in-memory disk),
    ``config`` (zoo.cfg keys and -D properties), ``load`` (a seed: a mapping
    or a JSON file's path; see :mod:`zkwire.testing.seed`), or ``settings``
    (parsed zoo.cfg settings, as ``zkwire serve`` has them) instead of the
    four before ``load``."""

    __test__ = False     # not a pytest test class, whatever its name says

    def __init__(self, reactor=None, *, port=0, host="127.0.0.1", data_dir=None, config=None,
                 load=None, settings=None):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        if settings is None:
            settings = settings_for(config, host, port, data_dir)
        self.settings = settings
        self.in_memory = not settings.data_dir
        if not self.in_memory:
            self.disk = SwitchDisk(FILE_DISK)
        else:
            self.disk = SwitchDisk(MemoryDisk())
            settings.data_dir = settings.data_log_dir = MEMORY_DATA_DIR
        self.port = settings.client_port
        self.network = Network(reactor)
        self.network.on_lost = self._check_waiters
        self.server = None           # the ZooKeeperServer while there is one
        self.stopped_reason = None   # why the server stopped itself
        #: Called with the reason when the server stops itself (a log write
        #: failed, or a bug of ours).
        self.on_fatal = None
        self._seed = None if load is None else seedmod.nodes_of(load)
        self._seeded = False
        self._waiters = []           # [predicate, Deferred, fails when the server stops]
        self._cxid = 0
        self.ready = None

    def __repr__(self):
        state = "serving" if self.serving else ("stopped: %s" % self.stopped_reason
                                                if self.stopped_reason else "stopped")
        return "<TestService %s %s>" % (self.hosts, state)

    # --- where it is ---------------------------------------------------------------------
    @property
    def host(self) -> str:
        host = self.settings.client_port_address or "127.0.0.1"
        return "127.0.0.1" if host in ("0.0.0.0", "") else ("[%s]" % host if ":" in host else host)

    @property
    def hosts(self) -> str:
        """The connect string: ``"127.0.0.1:<port>"``."""
        return "%s:%d" % (self.host, self.port)

    @property
    def serving(self) -> bool:
        return self.server is not None and self.server.fatal_error is None

    # --- lifecycle -----------------------------------------------------------------------------
    def startService(self):
        Service.startService(self)
        self.ready = self.start()

    def stopService(self):
        Service.stopService(self)
        return self.stop()

    def start(self):
        """Listen now (a port in use raises here), load the seed on the first
        start; -> Deferred that fires with the port once clients see the seed."""
        if self.server is not None:
            if self.server.fatal_error is None:
                return defer.succeed(self.port)
            raise ServerStopped("stopped: %s; call restart()" % self.server.fatal_error)
        srv = build_server(self.settings, self.reactor, disk=self.disk)
        srv.on_fatal = self._fatal
        inner_commit = srv.on_commit

        def on_commit(batch):
            if inner_commit is not None:
                inner_commit(batch)
            self._check_waiters()

        srv.on_commit = on_commit
        try:
            srv.start()
        except CannotListenError:
            srv.datadir.close()
            raise
        install(srv, self.network)
        self.server = srv
        self.port = self.settings.client_port = srv.port
        self.stopped_reason = None
        log.info("zkwire test server on %s", self.hosts)
        if self._seed is None or self._seeded:
            return defer.succeed(self.port)
        # No client may see a partly loaded tree: accept nobody until it is in.
        srv.listening.stopReading()
        d = self.load(self._seed)

        def loaded(result):
            # Accept clients again, loaded or not (a seed that failed is logged).
            if self.server is srv and srv.listening is not None and not self.network.paused:
                srv.listening.startReading()
            if isinstance(result, Failure):
                return result
            self._seeded = True
            return self.port

        return d.addBoth(loaded)

    def stop(self):
        """Close every connection and the port, after the writes in flight are
        durable; -> Deferred fired once all is closed.  Network faults are
        cleared (a restarted server starts with none); a failing disk stays
        failing until ``heal_disk``."""
        srv = self.server
        if srv is None:
            return defer.succeed(None)
        self.server = None
        self.network.release()
        port_closed = srv.stop() if srv.fatal_error is None else None
        waits = [self._wait(lambda: not srv.driver.busy() or srv.fatal_error is not None),
                 self._wait(lambda: not self.network.gates)]
        if port_closed is not None:
            waits.append(port_closed)
        d = defer.gatherResults(waits, consumeErrors=True)

        def closed(result):
            if srv.fatal_error is None:     # else its files were abandoned (see _fatal)
                try:
                    srv.datadir.close()
                except OSError as e:
                    log.warning("closing the log of the stopped server: %s", e)
            return None

        return d.addBoth(closed)

    def restart(self):
        """Stop, then start a new server on the same disk and port; -> Deferred(port)."""
        return self.stop().addCallback(lambda _: self.start())

    def _fatal(self, reason: str) -> None:
        # ZooKeeper's process exits here: what it had not written yet is lost
        # with it.  Its files are closed as an exit closes them, so a later
        # restart cannot write the failed batch after all.
        self.disk.abandon()
        self.stopped_reason = reason
        log.error("zkwire test server on %s stopped: %s", self.hosts, reason)
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if w[2]:
                w[1].errback(ServerStopped("stopped: %s" % reason))
            else:
                self._waiters.append(w)
        self._check_waiters()
        if self.on_fatal is not None:
            self.on_fatal(reason)

    # --- waiting on the server -------------------------------------------------------------
    def _wait(self, predicate, fails_when_stopped=False):
        if predicate():
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiters.append([predicate, d, fails_when_stopped])
        return d

    def _check_waiters(self) -> None:
        if not self._waiters:
            return
        keep = []
        done = []
        for w in self._waiters:
            (done if w[0]() else keep).append(w)
        self._waiters = keep
        for w in done:
            w[1].callback(None)

    def _serving_server(self):
        srv = self.server
        if srv is None:
            raise ServerStopped("the server is not running")
        if srv.fatal_error is not None:
            raise ServerStopped("stopped: %s" % srv.fatal_error)
        return srv

    # --- faults ------------------------------------------------------------------------------------
    def expire_session(self, session) -> defer.Deferred:
        """Expire a session now, as its timeout would; -> Deferred fired once
        the closeSession txn is applied (its ephemerals are gone).  ``session``:
        an id, a hex string or a kazoo client."""
        try:
            srv = self._serving_server()
            sid = parse_session_id(session)
        except Exception:
            return defer.fail()
        core = srv.core
        s = core.sessions.sessions.get(sid)
        if s is None:
            return defer.fail(NoSuchSession(sid))
        if not s.closing:
            now = srv.now_ms()
            s.expire_at_ms = min(s.expire_at_ms, now)
            try:
                srv.driver.tick(now)
            except Exception:
                srv.fail("internal error expiring sessions")
                return defer.fail(ServerStopped("stopped: %s" % srv.fatal_error))
            srv.after_input()
        return self._wait(lambda: sid not in core.sessions.sessions, True)

    def drop_connections(self, session=None) -> int:
        """Cut client connections at once (all, or one session's), as a
        network failure does; sessions live on.  -> how many were cut."""
        sid = None if session is None else parse_session_id(session)
        return self.network.drop(sid)

    def pause(self) -> None:
        """Stop answering: nothing is read, written or accepted; every
        connection stays open.  The clock runs: a session not heard from
        for its timeout expires (at ``resume`` its client learns it)."""
        self.network.pause()

    def resume(self) -> None:
        self.network.resume()

    def delay(self, ms: float) -> None:
        """Hold every reply and notification back by ``ms`` (0: none)."""
        self.network.delay(ms)

    def fail_disk(self, err: int = errno.EIO) -> None:
        """Make the disk fail every write with ``err`` (see the module docstring)."""
        self.disk.fail(err)

    def heal_disk(self) -> None:
        self.disk.heal()

    def clear_faults(self):
        """No faults, and serving: resume, no delay, disk healed, restarted
        if it had stopped.  -> Deferred(port)."""
        self.network.clear()
        self.disk.heal()
        if self.serving:
            return defer.succeed(self.port)
        return self.restart()

    def sessions(self) -> list:
        """The live sessions, oldest id first: ``session_id`` (int),
        ``session_hex``, ``timeout_ms``, ``connected``, ``ephemerals``."""
        srv = self.server
        if srv is None:
            return []
        core = srv.core
        out = []
        for sid in sorted(core.sessions.sessions, key=lambda s: s & (2**64 - 1)):
            s = core.sessions.sessions[sid]
            if s.closing:
                continue
            conn = core.session_conn.get(sid)
            out.append({
                "session_id": sid,
                "session_hex": session_hex(sid),
                "timeout_ms": s.timeout_ms,
                "connected": conn is not None and not conn.closed,
                "ephemerals": core.tree.session_ephemerals(sid),
            })
        return out

    # --- data ---------------------------------------------------------------------------------------
    def load(self, nodes) -> defer.Deferred:
        """Create the nodes of a seed (a mapping, or a JSON file's path; see
        :mod:`zkwire.testing.seed`) that do not exist yet; -> Deferred(how many)."""
        try:
            srv = self._serving_server()
            wanted = seedmod.nodes_of(nodes)
        except Exception:
            return defer.fail()
        tree = srv.core.tree
        missing = [(p, data) for p, data in wanted if p not in tree.nodes]
        d = self._admin_writes([(OpCode.create, Rec(path=p, data=data, acl=OPEN_ACL, flags=0))
                                for p, data in missing])

        def check(_):
            failed = [p for p, _ in missing if p not in tree.nodes]
            if failed:
                raise seedmod.SeedError("could not create %s (is a parent ephemeral?)"
                                        % ", ".join(failed[:5]))
            return len(missing)

        return d.addCallback(check)

    def export(self, root: str = "/") -> dict:
        """The tree (or the subtree at ``root``) in the seed format."""
        return seedmod.export_tree(self._serving_server().core.tree, root)

    def ensure_path(self, path: str) -> defer.Deferred:
        """Create ``path`` and its parents, empty, where missing."""
        return self.load({path: ""}) if path != "/" else defer.succeed(0)

    def delete_path(self, path: str) -> defer.Deferred:
        """Delete ``path`` and everything under it (ephemerals included)."""
        try:
            srv = self._serving_server()
        except Exception:
            return defer.fail()
        tree = srv.core.tree
        if path == "/" or path == seedmod.RESERVED or path.startswith(seedmod.RESERVED + "/"):
            return defer.fail(ValueError("%s cannot be deleted" % path))
        if path not in tree.nodes:
            return defer.succeed(0)
        prefix = path + "/"
        doomed = [p for p in tree.nodes if p == path or p.startswith(prefix)]
        doomed.sort(key=lambda p: p.count("/"), reverse=True)
        d = self._admin_writes([(OpCode.delete, Rec(path=p, version=-1)) for p in doomed])

        def check(_):
            if path in tree.nodes:
                raise RuntimeError("%s was not deleted: a client created under it meanwhile"
                                   % path)
            return len(doomed)

        return d.addCallback(check)

    def _admin_writes(self, writes) -> defer.Deferred:
        srv = self._serving_server()
        if not writes:
            return defer.succeed(None)
        core = srv.core
        now = srv.now_ms()
        try:
            for op, req in writes:
                self._cxid += 1
                core.proposer.write(ADMIN_SESSION, self._cxid, op, req, ADMIN_IDS, now)
        except Exception:
            srv.fail("internal error proposing a write of the test server")
            return defer.fail(ServerStopped("stopped: %s" % srv.fatal_error))
        target = core.proposer.prep.last_zxid
        srv.after_input()
        return self._wait(lambda: core.tree.last_zxid >= target, True)
