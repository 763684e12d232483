"""Twisted at the edge: sockets, frames, timers and the commit loop.

Theory of operation
-------------------
:class:`ZooKeeperServer` owns the sans-IO :class:`~zkwire.server.core.frontend.ServerCore`
and everything with side effects around it: the reactor, the clock, the
listening port and the replicator's flushes.  One :class:`ClientProtocol` per TCP
connection splits bytes into frames, decodes them and hands them to the core.

After each batch of input the server (1) writes every outbox the core filled,
one ``transport.write`` per connection, and (2) if writes were proposed,
schedules one flush for the end of this reactor turn, so all the writes that
arrived together are made durable together (group commit).  A tick timer asks
the core to expire sessions.

Bad input never escapes a connection: a frame that cannot be one (bad length,
above jute.maxbuffer, shorter than a request header, a bad ConnectRequest, auth
or SASL packet) closes that connection with one log line naming the peer and
the reason.  A request whose record does not parse goes to the core, which
answers MARSHALLINGERROR and keeps the connection, as ZooKeeper does; it is
logged (at most one line per LIMIT_WARNING_INTERVAL_S).
"""
from __future__ import annotations

import logging
import os
import sys
import time

from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from zkwire.protocol import (
    FrameDecoder,
    Malformed,
    ProtocolError,
    decode_connect,
    decode_request,
    encode_connect,
    encode_event,
    encode_reply,
)
from ..core.frontend import CoreConfig, ServerCore
from ..core.driver import StandaloneDriver
from .fourlw import FOUR_LETTER_WORDS, FourLetterWords
from ..core.replicator import StandaloneReplicator
from ..storage.store import MemoryLog

log = logging.getLogger("zkwire.server")

#: A log whose recent fsyncs average less than this (ms) is synced on the
#: event loop: a fast disk's 0.2 ms costs less than handing the sync to a
#: thread and waiting for the GIL to come back.  Slower disks sync in the
#: reactor's thread pool while the next batch gathers.
INLINE_FSYNC_MAX_MS = 1.0

#: Nodes serialized per reactor turn by a background snapshot (~1 us each).
SNAPSHOT_SLICE_NODES = 5000

#: Chunks of a long four-letter-word listing written per reactor turn.
FOURLW_CHUNKS_PER_TURN = 4

#: At most one warning per this many seconds for each kind of limit that bites.
LIMIT_WARNING_INTERVAL_S = 10.0


def _write_now(transport, data: bytes) -> None:
    """``transport.write(data)``, but sent at once when nothing is queued ahead.

    Twisted's TCP transport only queues a write and asks epoll to say when the
    socket is writable: two epoll_ctl calls and one more reactor turn before
    the reply leaves, for every batch of replies.  The socket is nearly always
    writable, so try it first; whatever it does not take goes through
    Twisted's buffer as usual.  Any transport without these (Twisted-private)
    attributes simply gets ``write``.

    The socket must be the transport's own attribute: a wrapping transport
    (Twisted's TLS protocol is a ProtocolWrapper, which forwards unknown
    attributes to the TCP transport beneath) would otherwise have its
    plaintext sent straight to the socket, around the encryption."""
    sock = getattr(transport, "__dict__", {}).get("socket")
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


@implementer(IHandshakeListener)
class ClientProtocol(Protocol):
    """One client connection.  It is also the transport's streaming producer:
    the transport calls :meth:`pauseProducing` when the peer stops taking the
    bytes we send, and :meth:`resumeProducing` once they have gone out."""

    def __init__(self, server: "ZooKeeperServer", tls=None):
        self.server = server
        #: The secure port's ServerTls, or None on the plaintext port.
        self.tls = tls
        self.tls_done = False
        self._first_bytes = None
        self.conn = None
        self.decoder = FrameDecoder(server.max_buffer)
        self.handshake_done = False
        self.closing = False
        #: Why we are not reading from this peer: "requests" (too many in
        #: flight), "global" (globalOutstandingLimit), "output" (it does not
        #: read its replies).  Reading resumes when the set is empty.
        self.pause_reasons = set()
        self.output_blocked = False
        self.peer = "?"
        self.peer_ip = "?"
        self._idle_call = None
        self._abort_call = None
        self._fourlw = None

    # --- Twisted callbacks ----------------------------------------------------------
    def connectionMade(self):
        peer = self.transport.getPeer()
        host = getattr(peer, "host", "?")
        port = getattr(peer, "port", 0)
        self.peer = "%s:%s" % (host, port)
        self.peer_ip = host
        srv = self.server
        refusal = srv.admit(self)
        if refusal is not None:
            srv.warn_limited("cnxns", "%s: refusing connection from %s", refusal, host)
            self.closing = True
            self.transport.abortConnection()
            return
        self.transport.registerProducer(self, True)
        self.conn = srv.core.open_conn(self.peer, host, srv.now_ms())
        srv.protocols[self.conn.cid] = self
        if srv.sessionless_timeout_ms > 0:
            # ZooKeeper closes a connection that sends no ConnectRequest within
            # zookeeper.nio.sessionlessCnxnTimeout, so idle sockets cannot
            # hold an IP's maxClientCnxns slots for ever.
            self._idle_call = srv.reactor.callLater(srv.sessionless_timeout_ms / 1000.0,
                                                    self._no_handshake)

    def handshakeCompleted(self):
        """Twisted's IHandshakeListener: the TLS handshake is done (before
        any application data is delivered): the verified client
        certificate's identities join the connection's, as
        ZooKeeper's CertificateVerifier adds them."""
        self.tls_done = True
        if self.conn is None or self.closing:
            return
        try:
            ids = self.tls.identities(self.transport)
        except Exception as e:  # a certificate we cannot read: this peer's problem
            self.bad_input("cannot read the client certificate: %s" % e)
            return
        if ids:
            log.info("TLS client %s authenticated as x509 %r%s", self.peer, ids[-1][1],
                     " (super user)" if len(ids) > 1 else "")
        self.server.core.tls_identity(self.conn, ids)

    def dataReceived(self, data):
        if self.closing:
            return
        srv = self.server
        if self._first_bytes is None:
            self._first_bytes = data[:3]
        if not self.handshake_done:
            if self.decoder.buffered() < 4 and len(data) >= 1:
                head = bytes(self.decoder._buf) + data
                word = head[:4]
                if len(word) == 4 and word in FOUR_LETTER_WORDS:
                    srv.core.metrics.counters["bytes_received_count"] += 4
                    self._four_letter_word(word.decode("ascii"), head[4:12])
                    return
        try:
            frames = self.decoder.feed(data)
        except ProtocolError as e:
            if (not self.handshake_done and self.tls is None
                    and self._first_bytes[:1] == b"\x16" and self._first_bytes[1:2] == b"\x03"):
                # What ZooKeeper does too (a frame length above jute.maxbuffer),
                # said plainly.
                log.warning("closing connection from %s: a TLS handshake on the plaintext "
                            "client port (%s)", self.peer, e)
                self.closing = True
                self._cancel_idle()
                self.transport.loseConnection()
                return
            self.bad_input(str(e))
            return
        now = srv.now_ms()
        core = srv.core
        conn = self.conn
        budget = srv.config.max_output_bytes_per_conn
        counters = core.metrics.counters
        for f in frames:
            if self.closing or conn.closing or srv.fatal_error is not None:
                break
            counters["bytes_received_count"] += 4 + len(f)
            # Decoding touches no state: a failure there is the peer's input
            # (or our codec's bug) and costs this one connection at most.
            try:
                if not self.handshake_done:
                    req, ro = decode_connect(f)
                else:
                    xid, op, req = decode_request(f)
            except ProtocolError as e:
                self.bad_input(str(e))
                break
            except Exception:
                log.exception("cannot decode a frame from %s; closing it", self.peer)
                self.bad_input("undecodable frame")
                break
            # The core changes state: an exception there is our bug, and the
            # core may be half-changed, so the server stops (see fail()).
            try:
                if not self.handshake_done:
                    self.handshake_done = True
                    self._cancel_idle()
                    core.connect(conn, req, ro, now)
                    continue
                if type(req) is Malformed:
                    srv.warn_limited("malformed", "%s sent a request that does not parse "
                                     "(%s): answering MARSHALLINGERROR", self.peer, req.reason)
                core.request(conn, xid, op, req, now)
            except Exception:
                srv.fail("internal error handling a request from %s" % self.peer)
                return
            if conn.out_bytes >= budget:
                # Send what this batch has built so far before building more:
                # the peer may not be reading (then the transport pauses us).
                srv.flush_conn(conn)
        if self.conn is not None:
            self.throttle()
        srv.after_input()

    def connectionLost(self, reason=None):
        srv = self.server
        if self.tls is not None and not self.tls_done:
            # (``closing`` may be set already: the transport stops its
            # producer before it reports the loss.)
            why = _tls_failure(reason)
            if why is not None:
                srv.warn_limited("tls", "closing connection from %s: TLS handshake failed: %s",
                                 self.peer, why)
        self._cancel_idle()
        if self._abort_call is not None and self._abort_call.active():
            self._abort_call.cancel()
        self._abort_call = None
        self._fourlw = None
        if self.conn is not None:
            conn, self.conn = self.conn, None
            srv.protocols.pop(conn.cid, None)
            srv.paused_globally.pop(conn.cid, None)
            srv.release(self)
            try:
                srv.core.conn_lost(conn)
            except Exception:
                srv.fail("internal error dropping the connection from %s" % self.peer)
        self.closing = True

    # --- IPushProducer: the transport tells us whether the peer keeps up ------------
    def pauseProducing(self):
        if self.output_blocked:
            return
        self.output_blocked = True
        if self.closing:
            return  # only a four-letter word still writes; it checks output_blocked
        if self.conn is not None:
            self.conn.hold = True
        self._pause("output")
        self.server.warn_limited("output", "%s is not reading its replies: not reading its "
                                 "requests until it does", self.peer)

    def resumeProducing(self):
        if not self.output_blocked:
            return
        self.output_blocked = False
        if self._fourlw is not None:
            self._four_letter_step()
            return
        if self.conn is not None and not self.closing:
            self.conn.hold = False
            srv = self.server
            try:
                srv.flush_conn(self.conn)
            except Exception:
                srv.fail("internal error answering %s" % self.peer)
                return
            srv.after_input()
        self._unpause("output")

    def stopProducing(self):
        self.closing = True

    # --- helpers -------------------------------------------------------------------------
    def _pause(self, reason: str) -> None:
        if not self.pause_reasons and not self.closing:
            self.transport.pauseProducing()
        self.pause_reasons.add(reason)

    def _unpause(self, reason: str) -> None:
        if reason not in self.pause_reasons:
            return
        self.pause_reasons.discard(reason)
        if not self.pause_reasons and not self.closing:
            self.transport.resumeProducing()

    def throttle(self) -> None:
        """Stop reading from a client with too many requests in flight (they
        wait behind a write, or for it to read its replies); resume once half
        of them are answered."""
        conn = self.conn
        if conn is None or self.closing:
            return
        limit = self.server.config.max_outstanding_per_conn
        n = len(conn.queue) + len(conn.early)
        if n >= limit and "requests" not in self.pause_reasons:
            self.server.warn_limited(
                "requests", "%s has %d requests outstanding (limit %d): not reading from it "
                "until half are answered", self.peer, n, limit)
            self._pause("requests")
        elif n <= limit // 2 and "requests" in self.pause_reasons:
            self._unpause("requests")

    def _cancel_idle(self) -> None:
        if self._idle_call is not None and self._idle_call.active():
            self._idle_call.cancel()
        self._idle_call = None

    def _no_handshake(self) -> None:
        self._idle_call = None
        if not self.handshake_done and not self.closing:
            self.bad_input("no ConnectRequest within %d ms (zookeeper.nio.sessionlessCnxnTimeout)"
                           % self.server.sessionless_timeout_ms)

    def bad_input(self, reason: str) -> None:
        log.warning("closing connection from %s: %s", self.peer, reason)
        self.closing = True
        self._cancel_idle()
        self.transport.abortConnection()

    def close_gracefully(self) -> None:
        """Send what is queued, then close; abort if the peer does not read it
        within the grace period (a peer that never reads must not hold the
        socket and its buffers)."""
        self.closing = True
        self._cancel_idle()
        self.transport.unregisterProducer()
        self.transport.loseConnection()
        if self._abort_call is None:
            self._abort_call = self.server.reactor.callLater(
                self.server.close_grace_ms / 1000.0, self._abort_after_grace)

    def _abort_after_grace(self) -> None:
        self._abort_call = None   # connectionLost cancels this: the peer is still there
        log.info("connection from %s did not take its last replies within %d ms; aborting it",
                 self.peer, self.server.close_grace_ms)
        self.transport.abortConnection()

    def _four_letter_word(self, word: str, extra: bytes = b"") -> None:
        self.closing = True
        self._cancel_idle()
        out = self.server.fourlw.run(word, self, extra)
        if isinstance(out, str):
            self.transport.write(out.encode("utf-8"))
            self.close_gracefully()
            return
        # A long listing (wchp, wchc, dump over many watches or sessions) comes
        # in chunks, a few per reactor turn, so other clients are served meanwhile.
        self._fourlw = iter(out)
        self._four_letter_step()

    def _four_letter_step(self) -> None:
        it = self._fourlw
        if it is None:
            return
        for _ in range(FOURLW_CHUNKS_PER_TURN):
            if self.output_blocked:
                return  # resumeProducing continues
            chunk = next(it, None)
            if chunk is None:
                self._fourlw = None
                self.close_gracefully()
                return
            self.transport.write(chunk.encode("utf-8"))
        self.server.reactor.callLater(0, self._four_letter_step)

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
            self.close_gracefully()


def _tls_failure(reason):
    """-> why a TLS connection ended before its handshake did, in a few
    words (OpenSSL's reason), or None for a plain disconnect."""
    value = getattr(reason, "value", None)
    try:
        from OpenSSL.SSL import Error
    except ImportError:
        return None
    if not isinstance(value, Error):
        return None   # a plain disconnect, or our own timeout (logged there)
    errs = value.args[0] if value.args else []
    if isinstance(errs, list) and errs and isinstance(errs[0], tuple) and len(errs[0]) == 3:
        return "; ".join(e[2] for e in errs)
    return str(value)


class ServerFactory(Factory):
    def __init__(self, server, tls=None):
        self.server = server
        self.tls = tls

    def buildProtocol(self, addr):
        return ClientProtocol(self.server, self.tls)


class ZooKeeperServer:
    """A standalone server: core + replicator + reactor.  ``start()`` listens.

    Limits (each logs a warning when it bites, at most one per
    LIMIT_WARNING_INTERVAL_S for each kind): ``max_client_cnxns`` per IP and
    ``max_cnxns`` in all (0: none), ``global_outstanding_limit`` requests
    waiting in all sessions' queues before the connections that add to them
    stop being read, ``sessionless_timeout_ms`` for a connection to send its
    ConnectRequest, ``close_grace_ms`` for a closed connection to take its
    last bytes before it is aborted.

    ``fail(reason)`` is how our own bugs end: the server stops serving and
    calls ``on_fatal(reason)`` (``zkwire serve`` stops the reactor and exits
    non-zero); ``fatal_error`` keeps the reason."""

    def __init__(self, reactor, config: CoreConfig, host="127.0.0.1", port=2181,
                 max_buffer=0xFFFFF, max_client_cnxns=60, log_store=None,
                 four_letter_whitelist=("srvr",), settings=None, datadir=None,
                 purge_interval_h=0, max_cnxns=0, global_outstanding_limit=1000,
                 sessionless_timeout_ms=10000, close_grace_ms=2000, backlog=128,
                 on_fatal=None, tls=None, secure_host=None, secure_port=None):
        self.reactor = reactor
        self.config = config
        self.host = host
        #: The plaintext client port (None: a secure port only).
        self.port = port
        #: The secure client port: a server.edge.tls.ServerTls and where.
        self.tls = tls
        self.secure_host = secure_host if secure_host is not None else host
        self.secure_port = secure_port
        self.secure_listening = None
        self.max_buffer = max_buffer
        self.max_client_cnxns = max_client_cnxns
        self.max_cnxns = max_cnxns
        self.global_outstanding_limit = global_outstanding_limit
        self.sessionless_timeout_ms = sessionless_timeout_ms
        self.close_grace_ms = close_grace_ms
        self.backlog = backlog
        self.on_fatal = on_fatal
        #: Connections not read because of globalOutstandingLimit: cid -> protocol.
        self.paused_globally = {}
        self._warned_at = {}
        self._suppressed = {}
        self.datadir = datadir
        self.purge_interval_h = purge_interval_h
        tree = sessions = None
        if datadir is not None:
            tree, sessions = datadir.recover()
            log_store = datadir.log
        self.replicator = StandaloneReplicator(log_store if log_store is not None else MemoryLog())
        self.core = ServerCore(config, self.replicator, self.now_ms(), tree=tree)
        self.driver = StandaloneDriver(self.core, self.replicator)
        for sid, timeout_ms in (sessions or {}).items():
            # Restored sessions get a full timeout from now, as in ZooKeeper:
            # those whose clients do not come back expire through the normal path.
            self.core.sessions.add(sid, timeout_ms, self.now_ms())
        self._snapshot = None
        #: (zxid, time in s) of the last snapshot written, for last_snapshot.
        self.last_snapshot = None
        self._purge_call = None
        self.protocols = {}
        self.per_ip = {}
        self.settings = settings or {}
        self.fourlw = FourLetterWords(self, four_letter_whitelist)
        self.listening = None
        self._flush_call = None
        #: Recent fsync times (ms): fast ones run on the loop (see flush).
        self.fsync_avg_ms = 0.0
        self.on_commit = self._after_commit if datadir is not None else None
        self.fatal_error = None
        #: Where ``Ready.send`` goes: the ensemble edge sets it.
        self.on_send = self._no_peers
        self._tick_call = None
        self.started_ms = self.now_ms()

    def _no_peers(self, sends) -> None:
        raise AssertionError("a standalone server has no peers to send %d packets to" % len(sends))

    def now_ms(self) -> int:
        return int(self.reactor.seconds() * 1000)

    # --- lifecycle -------------------------------------------------------------------------
    def start(self):
        """Listen now and start the timers; -> the listening port.

        Binding happens here, synchronously, so a port in use raises
        (``twisted.internet.error.CannotListenError``) to the caller instead
        of surfacing later from inside the reactor.  Plain ``listenTCP``, not
        an endpoint: ``twisted.internet.endpoints`` imports Twisted's TLS
        support, which fails in environments with pyOpenSSL but without
        service_identity, and a plaintext port needs none of it."""
        if self.port is not None:
            self.listening = self.reactor.listenTCP(self.port, ServerFactory(self),
                                                    backlog=self.backlog, interface=self.host)
            self.port = self.listening.getHost().port
        if self.tls is not None:
            try:
                self.secure_listening = self.reactor.listenTCP(
                    self.secure_port, self.tls.factory(ServerFactory(self, self.tls)),
                    backlog=self.backlog, interface=self.secure_host)
            except Exception:
                if self.listening is not None:
                    self.listening.stopListening()
                    self.listening = None
                raise
            self.secure_port = self.secure_listening.getHost().port
        self._schedule_tick()
        if self.datadir is not None and self.purge_interval_h > 0:
            from twisted.internet.task import LoopingCall

            self._purge_call = LoopingCall(self._purge)
            self._purge_call.clock = self.reactor
            self._purge_call.start(self.purge_interval_h * 3600.0, now=False)
        return self.listening

    def _stop_timers(self):
        if self._tick_call is not None and self._tick_call.active():
            self._tick_call.cancel()
        self._tick_call = None
        if self._purge_call is not None and self._purge_call.running:
            self._purge_call.stop()

    def stop(self):
        self._stop_timers()
        if self.fatal_error is None:
            self.flush()
        for proto in list(self.protocols.values()):
            proto.closing = True
            proto.transport.loseConnection()
        ds = []
        for attr in ("listening", "secure_listening"):
            port = getattr(self, attr)
            if port is not None:
                ds.append(port.stopListening())
                setattr(self, attr, None)
        if not ds:
            return None
        if len(ds) == 1:
            return ds[0]
        from twisted.internet.defer import gatherResults

        return gatherResults([d for d in ds if d is not None]).addCallback(lambda _: None)

    def fail(self, reason: str) -> None:
        """Our own bug, or a log that cannot be written: stop serving at once.

        The core may be half-changed (or disagree with the log), so nothing
        more may be answered from it: the listener closes, every connection
        is aborted, and ``on_fatal`` is told.  Called from an ``except``
        block, the traceback is logged with the reason."""
        if self.fatal_error is not None:
            return
        self.fatal_error = reason
        log.critical("%s; stopping the server", reason, exc_info=sys.exc_info()[0] is not None)
        self._stop_timers()
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        for proto in list(self.protocols.values()):
            proto.closing = True
            proto.transport.abortConnection()
        for attr in ("listening", "secure_listening"):
            port = getattr(self, attr)
            if port is not None:
                port.stopListening()
                setattr(self, attr, None)
        if self.on_fatal is not None:
            self.on_fatal(reason)

    def warn_limited(self, kind: str, fmt: str, *args) -> None:
        """A limit bit: one warning per LIMIT_WARNING_INTERVAL_S for each kind."""
        now = self.reactor.seconds()
        last = self._warned_at.get(kind)
        if last is not None and now - last < LIMIT_WARNING_INTERVAL_S:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        self._warned_at[kind] = now
        more = self._suppressed.pop(kind, 0)
        if more:
            fmt += " (and %d more like this)"
            args += (more,)
        log.warning(fmt, *args)

    # --- connection accounting ---------------------------------------------------------
    def admit(self, proto):
        """-> None to accept ``proto``'s connection, else why it is refused."""
        if self.max_cnxns and len(self.protocols) >= self.max_cnxns:
            return "too many connections, max allowed is %d (maxCnxns)" % self.max_cnxns
        n = self.per_ip.get(proto.peer_ip, 0)
        if self.max_client_cnxns and n >= self.max_client_cnxns:
            return ("too many connections from %s, max is %d (maxClientCnxns)"
                    % (proto.peer_ip, self.max_client_cnxns))
        self.per_ip[proto.peer_ip] = n + 1
        proto.counted = True
        return None

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
        """Write ``conn``'s outbox, then let the core answer the reads that
        waited for that, as long as the peer keeps taking bytes (while it
        does not, the transport has paused us and ``conn.hold`` is set)."""
        proto = self.protocols.get(conn.cid)
        core = self.core
        now = None
        while True:
            items = conn.outbox
            conn.outbox = []
            conn.out_bytes = 0
            if proto is not None and items:
                proto.write_outbox(items)
            if conn.hold or conn.closed or not conn.queue:
                break
            if now is None:
                now = self.now_ms()
            core.resume(conn, now)
            if not conn.outbox:
                break  # the head of the queue waits for a commit
        if proto is not None:
            proto.throttle()

    def write_out(self) -> None:
        """Write what the driver has for the connections now; proposals stay
        queued for the next ``flush`` (one reactor turn's writes, one sync)."""
        self._emit(self.driver.ready(persist=False))

    def _emit(self, rd) -> None:
        if rd.send:
            # Packets for other ensemble members (never standalone).
            self.on_send(rd.send)
        for conn in rd.conns:
            self.flush_conn(conn)
        self._global_throttle()
        if rd.committed and self.on_commit is not None:
            self.on_commit(rd.committed)

    def after_input(self) -> None:
        self.write_out()
        driver = self.driver
        if ((driver.has_pending() or driver.wants_turn()) and self._flush_call is None
                and self.fatal_error is None):
            self._flush_call = self.reactor.callLater(0, self.flush)

    def _global_throttle(self) -> None:
        """globalOutstandingLimit: past that many txns proposed and not yet
        committed, connections with requests waiting stop being read; all
        resume once half are committed.  Reads parked because their own peer
        does not take its replies do not count: they are that connection's
        problem, bounded by max_outstanding_per_conn, and must not stall
        everyone else."""
        limit = self.global_outstanding_limit
        if limit <= 0:
            return
        in_process = self.core.in_process
        paused = self.paused_globally
        if in_process > limit:
            for proto in self.protocols.values():
                conn = proto.conn
                if conn is not None and conn.queue and not conn.hold and conn.cid not in paused:
                    paused[conn.cid] = proto
                    proto._pause("global")
            self.warn_limited("global", "%d requests in process, over globalOutstandingLimit=%d: "
                              "not reading from %d connections until half are done",
                              in_process, limit, len(paused))
        elif paused and in_process <= limit // 2:
            for proto in paused.values():
                proto._unpause("global")
            paused.clear()

    def flush(self) -> None:
        """Carry out the driver's ``Ready`` until it asks for nothing more.

        A batch is written to the log on the event loop (encoding it and
        handing the bytes to the OS is cheap); only the fsync of a ``blocking``
        log (a file log) runs in the reactor's thread pool, one batch at a
        time, while the proposals that arrive meanwhile form the next batch.
        An in-memory log is synced at once."""
        self._flush_call = None
        driver = self.driver
        if driver.busy() or self.fatal_error is not None:
            return
        blocking = getattr(self.replicator.log, "blocking", False)
        while self.fatal_error is None:
            rd = driver.ready()
            self._emit(rd)
            batch = rd.persist
            if not batch:
                if driver.wants_turn() and self._flush_call is None:
                    # More of a SNAP to capture: after the reactor's other work.
                    self._flush_call = self.reactor.callLater(0, self.flush)
                return
            try:
                handle = self.replicator.write(batch)
                if blocking and self.fsync_avg_ms >= INLINE_FSYNC_MAX_MS:
                    from twisted.internet.threads import deferToThreadPool

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
        # ZooKeeper's fsynctime: whole milliseconds per log fsync.
        self.core.metrics.summaries["fsynctime"].add(int(ms))

    def _commit(self, batch) -> None:
        if self.fatal_error is not None:
            return
        try:
            self.driver.persisted(batch[-1][0].zxid, self.now_ms())
        except Exception:
            # The batch is in the log but only partly in the tree: answering
            # anyone from here on could contradict what a restart replays.
            self.fail("internal error applying committed txns %#x-%#x"
                      % (batch[0][0].zxid, batch[-1][0].zxid))

    def _persisted(self, ms, batch) -> None:
        self._note_fsync(ms)
        self._commit(batch)
        self.flush()

    def _persist_failed(self, failure) -> None:
        # The log can no longer promise durability: stop rather than acknowledge
        # writes that a crash would lose (ZooKeeper exits in this case too).
        self.fail("cannot write the transaction log: %s" % failure.getErrorMessage())

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
        self._snapshot_started_ms = self.now_ms()
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
            # ZooKeeper's snapshottime: taking the snapshot, start to written.
            self.core.metrics.summaries["snapshottime"].add(self.now_ms() - self._snapshot_started_ms)
            # lsnp / last_snapshot: the zxid in its name, when it was written (s).
            try:
                self.last_snapshot = (int(os.path.basename(path).split(".", 1)[1], 16),
                                      self.now_ms() // 1000)
            except (IndexError, ValueError):
                pass
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
        # The container reaper may want a turn sooner (checkIntervalMs).
        wanted = getattr(self.core.proposer, "next_tick_ms", None)
        wanted = wanted() if wanted is not None else None
        if wanted is not None:
            delay_ms = max(0, min(delay_ms, wanted - now))
        self._tick_call = self.reactor.callLater(delay_ms / 1000.0, self._tick)

    def _tick(self):
        self._tick_call = None
        try:
            self.driver.tick(self.now_ms())
        except Exception:
            self.fail("internal error expiring sessions")
            return
        self.after_input()
        if self.fatal_error is None:
            self._schedule_tick()
