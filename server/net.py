"""Twisted at the edge: sockets, frames, timers and the commit loop.

Theory of operation
-------------------
:class:`ZooKeeperServer` owns the sans-IO :class:`~zkwire.server.core.ServerCore`
and everything with side effects around it: the reactor, the clock, the
listening port and the replicator's flushes.  One :class:`ClientProtocol` per TCP
connection splits bytes into frames, decodes them and hands them to the core.

After each batch of input the server (1) writes every outbox the core filled,
one ``transport.write`` per connection, and (2) if writes were proposed,
schedules one flush for the end of this reactor turn, so all the writes that
arrived together are made durable together (group commit).  A tick timer asks
the core to expire sessions.

Bad input never escapes a connection: a malformed or oversized frame closes that
connection with one log line naming the peer and the reason.
"""
from __future__ import annotations

import logging
import time

from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure

from zkwire.consts import Err, OpCode
from zkwire.protocol import (
    FrameDecoder,
    ProtocolError,
    decode_connect,
    decode_request,
    encode_connect,
    encode_event,
    encode_reply,
)
from .core import CoreConfig, ServerCore
from .fourlw import FOUR_LETTER_WORDS, FourLetterWords
from .replicator import StandaloneReplicator
from .storage import MemoryLog

log = logging.getLogger("zkwire.server")

#: A log whose recent fsyncs average less than this (ms) is synced on the
#: event loop: a fast disk's 0.2 ms costs less than handing the sync to a
#: thread and waiting for the GIL to come back.  Slower disks sync in the
#: reactor's thread pool while the next batch gathers.
INLINE_FSYNC_MAX_MS = 1.0

#: Nodes serialized per reactor turn by a background snapshot (~1 us each).
SNAPSHOT_SLICE_NODES = 5000

KNOWN_OPS = frozenset(v for k, v in vars(OpCode).items() if not k.startswith("_"))


def _write_now(transport, data: bytes) -> None:
    """``transport.write(data)``, but sent at once when nothing is queued ahead.

    Twisted's TCP transport only queues a write and asks epoll to say when the
    socket is writable: two epoll_ctl calls and one more reactor turn before
    the reply leaves, for every batch of replies.  The socket is nearly always
    writable, so try it first; whatever it does not take goes through
    Twisted's buffer as usual.  Any transport without these (Twisted-private)
    attributes simply gets ``write``."""
    sock = getattr(transport, "socket", None)
    if (sock is not None and getattr(transport, "connected", False)
            and not getattr(transport, "disconnecting", True)
            and not getattr(transport, "_tempDataBuffer", True)
            and len(getattr(transport, "dataBuffer", b"x")) == getattr(transport, "offset", -1)):
        try:
            sent = sock.send(data)
        except OSError:  # EAGAIN, or a dead socket: Twisted's own path finds out
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


def _timed_fsync(handle) -> float:
    """``handle.fsync()``; -> how long it took, in ms."""
    t0 = time.perf_counter()
    handle.fsync()
    return (time.perf_counter() - t0) * 1000.0


class ClientProtocol(Protocol):
    def __init__(self, server: "ZooKeeperServer"):
        self.server = server
        self.conn = None
        self.decoder = FrameDecoder(server.max_buffer)
        self.handshake_done = False
        self.closing = False
        self.paused = False

    # --- Twisted callbacks ----------------------------------------------------------
    def connectionMade(self):
        peer = self.transport.getPeer()
        host = getattr(peer, "host", "?")
        port = getattr(peer, "port", 0)
        self.peer = "%s:%s" % (host, port)
        self.peer_ip = host
        srv = self.server
        if not srv.admit(self):
            log.warning("Too many connections from %s - max is %d", host, srv.max_client_cnxns)
            self.closing = True
            self.transport.abortConnection()
            return
        self.conn = srv.core.open_conn(self.peer, host, srv.now_ms())
        srv.protocols[self.conn.cid] = self

    def dataReceived(self, data):
        if self.closing:
            return
        srv = self.server
        try:
            if not self.handshake_done:
                if self.decoder.buffered() < 4 and len(data) >= 1:
                    word = (bytes(self.decoder._buf) + data)[:4]
                    if len(word) == 4 and word in FOUR_LETTER_WORDS:
                        self._four_letter_word(word.decode("ascii"))
                        return
            frames = self.decoder.feed(data)
            now = srv.now_ms()
            core = srv.core
            for f in frames:
                if self.closing:
                    break
                if not self.handshake_done:
                    req, ro = decode_connect(f)
                    self.handshake_done = True
                    core.connect(self.conn, req, ro, now)
                    continue
                xid, op, req = decode_request(f)
                if req is None and op not in (OpCode.ping, OpCode.closeSession, OpCode.whoAmI):
                    if op not in KNOWN_OPS or op in (OpCode.notification, OpCode.error):
                        # ZooKeeper's UnimplementedRequestProcessor: answer, then close.
                        self.conn.outbox.append(("reply", xid, -1, Err.UNIMPLEMENTED, op, None))
                        self.conn.outbox.append(("close", "unknown opcode %d" % op))
                        srv.flush_conn(self.conn)
                        return
                core.request(self.conn, xid, op, req, now)
        except ProtocolError as e:
            self.bad_input(str(e))
        except Exception:  # our bug: drop this connection, keep serving the rest
            log.exception("internal error on connection from %s; closing it", self.peer)
            self.bad_input("internal error")
        finally:
            if self.conn is not None:
                self.throttle()
            srv.after_input()

    def connectionLost(self, reason=None):
        srv = self.server
        if self.conn is not None:
            srv.core.conn_lost(self.conn)
            srv.protocols.pop(self.conn.cid, None)
            srv.release(self)
            self.conn = None
        self.closing = True

    # --- helpers -------------------------------------------------------------------------
    def throttle(self) -> None:
        """Stop reading from a client with too many requests in flight (they
        wait behind a write); resume once half of them are answered."""
        conn = self.conn
        if conn is None or self.closing:
            return
        limit = self.server.config.max_outstanding_per_conn
        n = len(conn.queue)
        if not self.paused and n >= limit:
            self.paused = True
            self.transport.pauseProducing()
        elif self.paused and n <= limit // 2:
            self.paused = False
            self.transport.resumeProducing()

    def bad_input(self, reason: str) -> None:
        log.warning("closing connection from %s: %s", self.peer, reason)
        self.closing = True
        self.transport.abortConnection()

    def _four_letter_word(self, word: str) -> None:
        self.closing = True
        out = self.server.fourlw.run(word, self)
        self.transport.write(out.encode("utf-8"))
        self.transport.loseConnection()

    def write_outbox(self, items) -> None:
        if self.closing:
            return
        chunks = []
        close_reason = None
        ro = self.conn.read_only_field if self.conn is not None else True
        for item in items:
            kind = item[0]
            if kind == "reply":
                chunks.append(encode_reply(item[1], item[2], item[3], item[4], item[5]))
            elif kind == "event":
                chunks.append(encode_event(item[1], item[2], item[3], item[4]))
            elif kind == "connect":
                chunks.append(encode_connect(item[1], item[2], item[3], item[4], ro))
            elif kind == "close":
                close_reason = item[1]
                break
        if chunks:
            _write_now(self.transport, b"".join(chunks))
        if close_reason is not None:
            log.info("closing connection from %s: %s", self.peer, close_reason)
            self.closing = True
            self.transport.loseConnection()


class ServerFactory(Factory):
    def __init__(self, server):
        self.server = server

    def buildProtocol(self, addr):
        return ClientProtocol(self.server)


class ZooKeeperServer:
    """A standalone server: core + replicator + reactor.  ``start()`` listens."""

    def __init__(self, reactor, config: CoreConfig, host="127.0.0.1", port=2181,
                 max_buffer=0xFFFFF, max_client_cnxns=60, log_store=None,
                 four_letter_whitelist=("srvr",), settings=None, datadir=None,
                 purge_interval_h=0):
        self.reactor = reactor
        self.config = config
        self.host = host
        self.port = port
        self.max_buffer = max_buffer
        self.max_client_cnxns = max_client_cnxns
        self.datadir = datadir
        self.purge_interval_h = purge_interval_h
        tree = sessions = None
        if datadir is not None:
            tree, sessions = datadir.recover()
            log_store = datadir.log
        self.replicator = StandaloneReplicator(log_store if log_store is not None else MemoryLog())
        self.core = ServerCore(config, self.replicator, self.now_ms(), tree=tree)
        for sid, timeout_ms in (sessions or {}).items():
            # Restored sessions get a full timeout from now, as in ZooKeeper:
            # those whose clients do not come back expire through the normal path.
            self.core.sessions.add(sid, timeout_ms, self.now_ms())
        self._snapshot = None
        self._purge_call = None
        self.protocols = {}
        self.per_ip = {}
        self.settings = settings or {}
        self.fourlw = FourLetterWords(self, four_letter_whitelist)
        self.listening = None
        self._flush_call = None
        self._persisting = False
        #: Recent fsync times (ms): fast ones run on the loop (see flush).
        self.fsync_avg_ms = 0.0
        self.on_commit = self._after_commit if datadir is not None else None
        self.fatal_error = None
        self._tick_call = None
        self.started_ms = self.now_ms()

    def now_ms(self) -> int:
        return int(self.reactor.seconds() * 1000)

    # --- lifecycle -------------------------------------------------------------------------
    def start(self):
        from twisted.internet.endpoints import TCP4ServerEndpoint, TCP6ServerEndpoint

        ep_cls = TCP6ServerEndpoint if ":" in self.host else TCP4ServerEndpoint
        ep = ep_cls(self.reactor, self.port, interface=self.host, backlog=128)
        d = ep.listen(ServerFactory(self))

        def listening(port):
            self.listening = port
            self.port = port.getHost().port
            return port

        d.addCallback(listening)
        self._schedule_tick()
        if self.datadir is not None and self.purge_interval_h > 0:
            from twisted.internet.task import LoopingCall

            self._purge_call = LoopingCall(self._purge)
            self._purge_call.clock = self.reactor
            self._purge_call.start(self.purge_interval_h * 3600.0, now=False)
        return d

    def stop(self):
        if self._tick_call is not None and self._tick_call.active():
            self._tick_call.cancel()
        self._tick_call = None
        if self._purge_call is not None and self._purge_call.running:
            self._purge_call.stop()
        self.flush()
        for proto in list(self.protocols.values()):
            proto.closing = True
            proto.transport.loseConnection()
        if self.listening is not None:
            d = self.listening.stopListening()
            self.listening = None
            return d
        return None

    # --- connection accounting ---------------------------------------------------------
    def admit(self, proto) -> bool:
        n = self.per_ip.get(proto.peer_ip, 0)
        if self.max_client_cnxns and n >= self.max_client_cnxns:
            return False
        self.per_ip[proto.peer_ip] = n + 1
        proto.counted = True
        return True

    def release(self, proto) -> None:
        if getattr(proto, "counted", False):
            proto.counted = False
            n = self.per_ip.get(proto.peer_ip, 1) - 1
            if n <= 0:
                self.per_ip.pop(proto.peer_ip, None)
            else:
                self.per_ip[proto.peer_ip] = n

    # --- the output side -------------------------------------------------------------------
    def flush_conn(self, conn) -> None:
        proto = self.protocols.get(conn.cid)
        items = conn.outbox
        conn.outbox = []
        if proto is not None:
            proto.write_outbox(items)
            proto.throttle()

    def write_out(self) -> None:
        for conn in self.core.take_dirty():
            self.flush_conn(conn)

    def after_input(self) -> None:
        self.write_out()
        if self.replicator.has_pending() and self._flush_call is None:
            self._flush_call = self.reactor.callLater(0, self.flush)

    def flush(self) -> None:
        """Make queued txns durable (one sync per batch), then commit and answer.

        The batch is written to the log on the event loop (encoding it and
        handing the bytes to the OS is cheap); only the fsync of a ``blocking``
        log (a file log) runs in the reactor's thread pool, one batch at a
        time, while the proposals that arrive meanwhile form the next batch.
        An in-memory log is committed at once."""
        self._flush_call = None
        if self._persisting:
            return
        replicator = self.replicator
        blocking = getattr(replicator.log, "blocking", False)
        while replicator.has_pending():
            batch = replicator.take_batch()
            try:
                handle = replicator.write(batch)
                if blocking and self.fsync_avg_ms >= INLINE_FSYNC_MAX_MS:
                    from twisted.internet.threads import deferToThreadPool

                    self._persisting = True
                    d = deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                          _timed_fsync, handle)
                    d.addCallbacks(self._persisted, self._persist_failed, callbackArgs=(batch,))
                    return
                self._note_fsync(_timed_fsync(handle))
            except Exception:
                self._persist_failed(Failure())
                return
            self._commit(batch)

    def _note_fsync(self, ms: float) -> None:
        # A moving average: one slow sync moves it a quarter of the way.
        self.fsync_avg_ms += (ms - self.fsync_avg_ms) * 0.25

    def _commit(self, batch) -> None:
        self.core.commit(batch, self.now_ms())
        self.write_out()
        if self.on_commit is not None:
            self.on_commit(batch)

    def _persisted(self, ms, batch) -> None:
        self._persisting = False
        self._note_fsync(ms)
        self._commit(batch)
        if self.replicator.has_pending():
            self.flush()

    def _persist_failed(self, failure) -> None:
        # The log can no longer promise durability: stop rather than acknowledge
        # writes that a crash would lose (ZooKeeper exits in this case too).
        self._persisting = False
        log.critical("cannot write the transaction log: %s; stopping", failure.getErrorMessage())
        self.fatal_error = failure.getErrorMessage()
        if self.reactor.running:
            self.reactor.stop()

    # --- snapshots and retention --------------------------------------------------------------
    def _after_commit(self, batch) -> None:
        if not self.datadir.committed(len(batch)):
            return
        if self._snapshot is not None:
            # As ZooKeeper's SyncRequestProcessor: the log rolls, the count
            # starts over, and this snapshot is skipped rather than queued
            # behind the running one.
            self.datadir.skip_snapshot()
            log.warning("Too busy to snap, skipping")
            return
        sessions = {sid: s.timeout_ms for sid, s in self.core.sessions.sessions.items()}
        self._snapshot = self.datadir.begin_snapshot(self.core.tree, sessions)
        self.reactor.callLater(0, self._snapshot_step)

    def _snapshot_step(self) -> None:
        # Copy the tree in slices between client requests (a fuzzy snapshot, as
        # ZooKeeper takes it); write the copy out in a worker thread.
        capture = self._snapshot
        if not capture.step(SNAPSHOT_SLICE_NODES):
            self.reactor.callLater(0, self._snapshot_step)
            return
        from twisted.internet.threads import deferToThreadPool

        d = deferToThreadPool(self.reactor, self.reactor.getThreadPool(), self.datadir.save, capture)

        def saved(path):
            self._snapshot = None
            log.info("snapshot written: %s", path)

        def failed(f):
            self._snapshot = None
            log.error("snapshot failed: %s", f.getErrorMessage())

        d.addCallbacks(saved, failed)

    def _purge(self):
        from twisted.internet.threads import deferToThreadPool

        d = deferToThreadPool(self.reactor, self.reactor.getThreadPool(), self.datadir.purge)
        d.addCallbacks(lambda removed: log.info("autopurge removed %d files", len(removed)),
                       lambda f: log.error("autopurge failed: %s", f.getErrorMessage()))

    # --- time --------------------------------------------------------------------------------
    def _schedule_tick(self):
        # Tick on exact multiples of tickTime (session deadlines are rounded to
        # them), so a late reactor turn does not push every later expiry back.
        t = self.config.tick_ms
        now = self.now_ms()
        delay_ms = (now // t + 1) * t - now
        self._tick_call = self.reactor.callLater(delay_ms / 1000.0, self._tick)

    def _tick(self):
        try:
            self.core.tick(self.now_ms())
            self.after_input()
        finally:
            self._schedule_tick()
