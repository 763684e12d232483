"""The front end: sessions, the per-session FIFO, reads, watches, and the commit path.

Theory of operation
-------------------
This module is sans-IO.  It never touches a socket, a file or a clock.  The
network edge hands it decoded requests with the current time (``now_ms``); the
core appends what must go out to each connection's ``outbox`` and lists the
connections it touched in ``dirty``.  A write holds its place in the session's
FIFO and goes to the proposer (``proposer.Proposer``: prep, zxid, replicator;
on a follower, a forwarder to the leader); the driver persists the txns and
hands them back with ``commit(batch, now_ms)``, where each one is matched to
the request waiting for it by (session id, cxid).

The request path is one-way::

    request(conn, xid, op, req, now)
      read   -> answered now from the tree, unless this session has a write in
                flight: then it waits in the session's queue behind that write
      write  -> prep (validated against pending changes) -> txn -> propose;
                the session's queue holds its place
    commit(batch)
      tree.apply(txn) -> watch events go out at once -> the origin's reply is
      filled in -> each touched queue is drained in order

So replies leave in request order, a read never overtakes the same session's
write, and a watch event always leaves before any reply that could show the
change.

Bad requests are answered as Apache ZooKeeper answers them
(tests/ZOOKEEPER_FACTS.md §13, §14).  A request whose record did not parse
(:class:`~zkwire.protocol.Malformed`) gets MARSHALLINGERROR in its place in the
FIFO: a read (and reconfig, which ZooKeeper decodes before it takes a zxid) is
answered with the last zxid; a write becomes an error txn that spends a zxid.
An unknown opcode is answered UNIMPLEMENTED (zxid -1) at once and the
connection closes.  A SASL packet is answered at once, out of turn, zxid 0:
without SASL configured, OK with no token; with it, by the connection's
DIGEST-MD5 exchange (core/sasl.py), and a failure gets AUTHFAILED
(SESSIONCLOSEDREQUIRESASLAUTH when sasl is an enforced scheme) with a null
token and the connection closes -- unless allowSaslFailedClients, which
answers OK with no token and keeps it.  With ``enforce_auth_schemes`` set, a
connection with no identity in one of those schemes gets
SESSIONCLOSEDREQUIRESASLAUTH (zxid 0) for anything but an auth or SASL packet,
and is closed; its session lives on.  Once the core
has decided to close a connection it reads nothing more from it.

Output is bounded per connection: ``conn.out_bytes`` estimates what the outbox
holds since the edge last took it.  Past ``max_output_bytes_per_conn`` (or
while the edge says the socket is backed up: ``conn.hold``) reads are queued
instead of answered, so one callback never builds more than about that many
bytes of replies; the edge writes the outbox out and calls ``resume(conn)``.
``outstanding`` counts the requests waiting in all queues, for the edge's
globalOutstandingLimit.  Outbox entries are plain tuples; the codec turns them into frames:

    ("connect", timeout_ms, session_id, passwd, read_only)
    ("reply", xid, zxid, err, op, body)
    ("event", zxid, event_type, state, path)
    ("close", reason)
"""
from __future__ import annotations

from collections import deque

from zkwire.consts import AddWatchMode, Err, EventType, KeeperState, OpCode, Perms, WatcherType, Xid
from zkwire.protocol import Malformed
from .acl import NoAuth, OPEN_ACL_UNSAFE, AuthPolicy, sasl_provider
from .metrics import Metrics
from .prep import KeeperError
from .proposer import Proposer
from .sasl import DigestMD5Server, SaslFailure
from .sessions import SessionTable, session_password
from .tree import DataTree
from .watches import PERSISTENT, PERSISTENT_RECURSIVE, STANDARD, WatchTable

WRITE_OPS = frozenset((
    OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL,
    OpCode.delete, OpCode.setData, OpCode.setACL, OpCode.check, OpCode.multi,
    OpCode.reconfig,
))

#: What ZooKeeper's ReadOnlyRequestProcessor answers NOTREADONLY.
READ_ONLY_REFUSED = WRITE_OPS | frozenset((OpCode.sync, OpCode.deleteContainer))

#: Opcodes ZooKeeper does not know (it answers UNIMPLEMENTED and closes).
_NOT_REQUESTS = (OpCode.notification, OpCode.error)
KNOWN_OPS = frozenset(v for k, v in vars(OpCode).items()
                      if not k.startswith("_") and v not in _NOT_REQUESTS)

EXPIRED_PASSWD = b"\0" * 16


class CoreConfig:
    def __init__(self, tick_ms=2000, min_session_timeout_ms=None, max_session_timeout_ms=None,
                 server_id=1, extended_types=False, super_digest=None, skip_acl=False,
                 max_outstanding_per_conn=1000, max_output_bytes_per_conn=1 << 20,
                 reconfig_enabled=False, enforce_auth_schemes=(),
                 container_check_interval_ms=60000, container_max_per_minute=10000,
                 container_max_never_used_ms=0, enforce_quota=False,
                 sasl=None, sasl_scheme=False, let_any_sasl_user=None, sasl_super_users=(),
                 allow_sasl_failed=False, x509=False, x509_super_user=None):
        self.tick_ms = tick_ms
        self.min_session_timeout_ms = min_session_timeout_ms or 2 * tick_ms
        self.max_session_timeout_ms = max_session_timeout_ms or 20 * tick_ms
        self.server_id = server_id
        self.extended_types = extended_types
        self.super_digest = super_digest
        self.skip_acl = skip_acl
        self.max_outstanding_per_conn = max_outstanding_per_conn
        #: Replies built for one connection before its reads wait for the
        #: edge to write them out (see the module docstring).
        self.max_output_bytes_per_conn = max_output_bytes_per_conn
        #: reconfigEnabled: a standalone server then answers reconfig
        #: UNIMPLEMENTED instead of RECONFIGDISABLED.
        self.reconfig_enabled = reconfig_enabled
        #: zookeeper.enforce.auth.schemes when zookeeper.enforce.auth.enabled
        #: is true, else empty: no enforcement.
        self.enforce_auth_schemes = tuple(enforce_auth_schemes)
        #: The container/TTL reaper's settings (ZooKeeper's -D properties
        #: znode.container.checkIntervalMs, .maxPerMinute, .maxNeverUsedIntervalMs).
        self.container_check_interval_ms = container_check_interval_ms
        self.container_max_per_minute = container_max_per_minute
        self.container_max_never_used_ms = container_max_never_used_ms
        #: zookeeper.enforceQuota: hard quota limits refuse writes (QUOTAEXCEEDED).
        self.enforce_quota = enforce_quota
        #: sasl.SaslSettings (a JAAS server section was found), else None:
        #: SASL packets get OK with no token.
        self.sasl = sasl
        #: SASLAuthenticationProvider configured: ``sasl`` is an ACL scheme.
        self.sasl_scheme = sasl_scheme
        #: zookeeper.letAnySaslUserDoX.
        self.let_any_sasl_user = let_any_sasl_user
        #: zookeeper.superUser[.*]: SASL ids that also get ("super", "").
        self.sasl_super_users = frozenset(sasl_super_users)
        #: zookeeper.allowSaslFailedClients.
        self.allow_sasl_failed = allow_sasl_failed
        #: The x509 auth scheme is registered (a secure client port), and
        #: zookeeper.X509AuthenticationProvider.superUser.
        self.x509 = x509
        self.x509_super_user = x509_super_user

    def proposer(self, tree, auth, sessions, replicator, now_ms, metrics=None):
        """The leader-only half, as this configuration wants it (standalone:
        the server itself; in an ensemble: each new leader)."""
        from .reaper import Reaper

        reaper = Reaper(tree, now_ms, self.container_check_interval_ms,
                        self.container_max_per_minute, self.container_max_never_used_ms)
        p = Proposer(tree, auth, sessions, replicator, self.extended_types,
                     self.reconfig_enabled, reaper)
        p.prep.enforce_quota = self.enforce_quota
        p.prep.metrics = metrics
        return p


class Conn:
    """A client connection as the core sees it (the edge keeps the transport)."""

    __slots__ = ("cid", "peer", "peer_ip", "session_id", "timeout_ms", "ids", "queue", "sasl",
                 "outbox", "closed", "closing", "established", "early", "dirty", "read_only_field",
                 "out_bytes", "hold",
                 "received", "sent", "last_zxid", "last_op", "last_cxid", "last_latency_ms", "created_ms",
                 "last_response_ms", "min_latency_ms", "max_latency_ms", "total_latency_ms",
                 "latency_count")

    def __init__(self, cid, peer, peer_ip, now_ms):
        self.cid = cid
        self.peer = peer
        self.peer_ip = peer_ip
        self.session_id = 0
        self.timeout_ms = 0
        self.ids = [("ip", peer_ip)]
        self.sasl = None             # its sasl.DigestMD5Server, once it sends a SASL packet
        self.queue = deque()
        self.outbox = []
        self.closed = False
        self.closing = False         # the core has decided to close it: read no more
        self.established = False
        self.early = []
        self.dirty = False
        self.read_only_field = True
        self.out_bytes = 0           # estimated bytes in outbox (see the module docstring)
        self.hold = False            # the edge cannot send to this peer right now
        self.received = 0
        self.sent = 0
        self.last_zxid = -1
        self.last_op = None          # opcode of the last answered request
        self.last_cxid = -1
        self.created_ms = now_ms
        self.last_response_ms = 0
        self.last_latency_ms = 0
        self.min_latency_ms = None
        self.max_latency_ms = 0
        self.total_latency_ms = 0
        self.latency_count = 0

    def __repr__(self):
        return "<Conn %d %s sid=%#x>" % (self.cid, self.peer, self.session_id & (2**64 - 1))


class _Pending:
    """A place in a session's FIFO: a read to run, or (``txn``) a write or
    connect awaiting the commit of its txn."""

    __slots__ = ("xid", "op", "req", "reply", "start_ms", "txn")

    def __init__(self, xid, op, req, start_ms, txn=False):
        self.xid = xid
        self.op = op
        self.req = req
        self.reply = None
        self.start_ms = start_ms
        self.txn = txn


#: The reply a sync gets once the leader's SYNC packet arrives.
_SYNCED = object()


class _Refused(KeeperError):
    """An error reply that still carries a body."""

    def __init__(self, code: int, body):
        super().__init__(code)
        self.body = body


def _account(o, latency) -> None:
    """Latency figures of a connection or the server (cons/stat/mntr)."""
    if latency > o.max_latency_ms:
        o.max_latency_ms = latency
    low = o.min_latency_ms
    if low is None or latency < low:
        o.min_latency_ms = latency
    o.total_latency_ms += latency
    o.latency_count += 1


_LIST_REPLIES = frozenset((OpCode.getChildren, OpCode.getEphemerals))


def _reply_size(op, body) -> int:
    """Roughly the bytes a reply takes on the wire (for the output bound)."""
    if op == OpCode.getData:
        data = body[0]
        return 96 + (len(data) if data else 0)
    if op in _LIST_REPLIES:
        return 96 + sum(len(c) + 4 for c in body)
    if op == OpCode.getChildren2:
        return 96 + sum(len(c) + 4 for c in body[0])
    if op == OpCode.multiRead:
        return 16 + sum(16 if b is None else _reply_size(o, b) for o, _, b in body)
    return 96


class ServerStats:
    def __init__(self):
        self.packets_received = 0
        self.packets_sent = 0
        self.min_latency_ms = None
        self.max_latency_ms = 0
        self.total_latency_ms = 0
        self.latency_count = 0

    def reset(self):
        self.__init__()

    def avg_latency_ms(self) -> float:
        # ZooKeeper rounds the average to 4 decimals (BigDecimal HALF_UP).
        n = self.latency_count
        return round(self.total_latency_ms / n, 4) if n else 0.0


class ServerCore:
    def __init__(self, config: CoreConfig, replicator, now_ms: int, tree: DataTree | None = None):
        self.config = config
        self.tree = tree if tree is not None else DataTree(OPEN_ACL_UNSAFE)
        # From here on every txn was prepped against this tree: one that does
        # not fit is our bug, and must stop the server, not become a reply.
        self.tree.strict = True
        self.auth = AuthPolicy(config.super_digest, config.skip_acl,
                               sasl_provider(config.let_any_sasl_user)
                               if config.sasl_scheme else None,
                               config.x509, config.x509_super_user)
        self._enforce_schemes = frozenset(config.enforce_auth_schemes)
        self.sessions = SessionTable(config.tick_ms, config.server_id, now_ms)
        # Standalone, this server is its own leader: the proposer runs here.
        self.proposer = config.proposer(self.tree, self.auth, self.sessions, replicator, now_ms)
        self.watches = WatchTable()
        self.conns = {}
        self.session_conn = {}
        #: session id -> deque of (conn, _Pending): its writes not yet committed,
        #: in the order proposed (a session's txns commit in that order).
        self.waiting = {}
        self.in_process = 0           # writes proposed and not yet committed
        self.outstanding = 0          # requests waiting in all connections' queues
        self._out_budget = config.max_output_bytes_per_conn
        self.dirty = []
        self.stats = ServerStats()
        #: ZooKeeper's metric registry (mntr, the AdminServer, Prometheus).
        self.metrics = Metrics()
        self.proposer.prep.metrics = self.metrics
        self.tree.metrics = self.metrics
        self._next_cid = 1
        #: False while an ensemble member has no established leader: client
        #: connections are refused, as ZooKeeper refuses them while its
        #: server is not running.  Standalone, always True.
        self.serving = True
        #: readonlymode.enabled on a member cut off from its quorum: clients
        #: that allow it (ConnectRequest.readOnly) are served reads, their
        #: writes answered NOTREADONLY, their new sessions local to us.
        self.read_only = False
        self._local_sessions = set()
        #: On a learner, sync and session re-attachment go through the leader:
        #: a SYNC packet answers the oldest sync waiting ((conn, _Pending) in
        #: order), a REVALIDATE reply a session's reconnect (session id ->
        #: (conn, timeout_ms)).
        self.via_leader = False
        self.pending_syncs = deque()
        #: (zxid, conn, _Pending): syncs on a leader waiting until it has
        #: applied everything committed when they came (see request()).
        self.local_syncs = deque()
        self.pending_revalidations = {}

    # --- connections -----------------------------------------------------------
    def open_conn(self, peer: str, peer_ip: str, now_ms: int) -> Conn:
        conn = Conn(self._next_cid, peer, peer_ip, now_ms)
        self._next_cid += 1
        self.conns[conn.cid] = conn
        return conn

    def conn_lost(self, conn: Conn) -> None:
        """The transport is gone.  The session lives on until it expires."""
        if conn.closed:
            return
        conn.closed = True
        self.conns.pop(conn.cid, None)
        self.watches.remove_watcher(conn)
        if conn.session_id and self.session_conn.get(conn.session_id) is conn:
            del self.session_conn[conn.session_id]
        self.outstanding -= len(conn.queue)
        conn.queue.clear()
        conn.early.clear()

    def _emit(self, conn: Conn, item) -> None:
        if conn.closed:
            return
        if item[0] != "close":
            # Like ZooKeeper, every frame counts as a packet sent: replies,
            # notifications and the ConnectResponse.
            conn.sent += 1
            self.stats.packets_sent += 1
            if item[0] == "event":
                conn.out_bytes += 32 + len(item[4])
        conn.outbox.append(item)
        if not conn.dirty:
            conn.dirty = True
            self.dirty.append(conn)

    def take_dirty(self) -> list:
        d = self.dirty
        self.dirty = []
        for c in d:
            c.dirty = False
        return d

    def _close_conn(self, conn: Conn, reason: str) -> None:
        conn.closing = True
        self._emit(conn, ("close", reason))

    def _enqueue(self, conn: Conn, p) -> None:
        conn.queue.append(p)
        self.outstanding += 1

    def _must_wait(self, conn: Conn) -> bool:
        """A read must queue: behind a write, or until the peer takes its replies."""
        return bool(conn.queue) or conn.hold or conn.out_bytes >= self._out_budget

    def resume(self, conn: Conn, now_ms: int) -> None:
        """The edge wrote ``conn``'s outbox out: answer what waited for that."""
        conn.out_bytes = 0
        if conn.queue and not conn.closed:
            self._drain(conn, now_ms)

    # --- the handshake -----------------------------------------------------------
    def connect(self, conn: Conn, req, read_only_field: bool, now_ms: int) -> None:
        conn.read_only_field = read_only_field
        self.metrics.counters["connection_request_count"] += 1
        self.stats.packets_received += 1
        conn.received += 1
        if not self.serving and not (self.read_only and getattr(req, "readOnly", False)):
            self._close_conn(conn, "not serving: this ensemble member has no leader")
            return
        if req.lastZxidSeen > self.tree.last_zxid:
            # The client has seen a newer state than ours: it must try another server.
            self._close_conn(conn, "client has seen zxid %#x, our last zxid is %#x"
                             % (req.lastZxidSeen, self.tree.last_zxid))
            return
        cfg = self.config
        timeout = min(max(req.timeOut, cfg.min_session_timeout_ms), cfg.max_session_timeout_ms)
        conn.timeout_ms = timeout
        if not self.serving:
            self._connect_read_only(conn, req, timeout, now_ms)
            return
        if req.sessionId == 0:
            sid = self.sessions.next_session_id()
            conn.session_id = sid
            self._hold(conn, 0, OpCode.createSession, None, now_ms)
            self.proposer.create_session(sid, timeout, now_ms)
            return
        sid = req.sessionId
        # Like ZooKeeper, any reconnect attempt closes the session's current
        # connection first, even one whose password turns out to be wrong.
        old = self.session_conn.pop(sid, None)
        if old is not None and old is not conn:
            self._close_conn(old, "session %#x reconnected elsewhere" % (sid & (2**64 - 1)))
            self.watches.remove_watcher(old)
            old.session_id = 0
        if self.via_leader and req.passwd == session_password(sid):
            # The leader owns sessions: it says whether this one lives, and
            # from then on knows it is attached here (ZooKeeper's learner
            # revalidates; without it a Java leader answers SESSIONMOVED).
            old_wait = self.pending_revalidations.pop(sid, None)
            if old_wait is not None and old_wait[0] is not conn:
                self._close_conn(old_wait[0], "session %#x reconnected elsewhere"
                                 % (sid & (2**64 - 1)))
            self.pending_revalidations[sid] = (conn, timeout)
            self.proposer.revalidate(sid, timeout, now_ms)
            return
        if (req.passwd == session_password(sid) and self.sessions.touch(sid, now_ms, timeout)):
            conn.session_id = sid
            self.session_conn[sid] = conn
            conn.established = True
            self._emit(conn, ("connect", timeout, sid, session_password(sid), False))
        else:
            self._emit(conn, ("connect", 0, 0, EXPIRED_PASSWD, False))
            self._close_conn(conn, "invalid session %#x, probably expired" % (sid & (2**64 - 1)))

    def _connect_read_only(self, conn, req, timeout, now_ms) -> None:
        """ZooKeeper's ReadOnlyZooKeeperServer: a new session is local to
        this member (no txn: there is no leader to order one); a known
        session with its password is taken as it is.  The reply says
        readOnly."""
        sid = req.sessionId
        if sid == 0:
            sid = self.sessions.next_session_id()
            self.sessions.add(sid, timeout, now_ms)
            self._local_sessions.add(sid)
        elif req.passwd != session_password(sid) or not self.sessions.touch(sid, now_ms, timeout):
            self._emit(conn, ("connect", 0, 0, EXPIRED_PASSWD, True))
            self._close_conn(conn, "invalid session %#x, probably expired" % (sid & (2**64 - 1)))
            return
        old = self.session_conn.pop(sid, None)
        if old is not None and old is not conn:
            self._close_conn(old, "session %#x reconnected elsewhere" % (sid & (2**64 - 1)))
        conn.session_id = sid
        self.session_conn[sid] = conn
        conn.established = True
        self._emit(conn, ("connect", timeout, sid, session_password(sid), True))

    def leave_read_only(self) -> None:
        """The quorum is back (or we have a role): read-only clients go, and
        the sessions made here for them with them."""
        if not self.read_only:
            return
        self.read_only = False
        self.close_clients("leaving read-only mode")
        for sid in self._local_sessions:
            self.sessions.remove(sid)
        self._local_sessions.clear()

    # --- requests ----------------------------------------------------------------
    def request(self, conn: Conn, xid: int, op: int, req, now_ms: int) -> None:
        """One decoded request from an established connection (``req`` may
        be a :class:`~zkwire.protocol.Malformed`)."""
        if conn.closing:
            return  # ZooKeeper reads nothing after it has decided to close
        if not conn.established:
            # Pipelined behind the handshake: held until the session exists.
            conn.early.append((xid, op, req, now_ms))
            return
        self.stats.packets_received += 1
        conn.received += 1
        if op == OpCode.sasl:
            self._sasl(conn, xid, req)
            return
        if self._enforce_schemes and op != OpCode.auth and not self._authenticated(conn):
            # zookeeper.enforce.auth: checked before the request is looked at,
            # so it is the answer to any opcode and to a malformed body too.
            self._emit(conn, ("reply", xid, 0, Err.SESSIONCLOSEDREQUIRESASLAUTH, op, None))
            self._close_conn(conn, "not authenticated with %s (zookeeper.enforce.auth.schemes)"
                             % ",".join(sorted(self._enforce_schemes)))
            return
        sid = conn.session_id
        if not self.sessions.touch(sid, now_ms):
            # Expired or closing: ZooKeeper drops the connection.
            self._close_conn(conn, "session %#x is not live" % (sid & (2**64 - 1)))
            return
        if op == OpCode.ping:
            if self._must_wait(conn):
                self._enqueue(conn, _Pending(xid, op, req, now_ms))
            else:
                self._finish(conn, Xid.PING, self.tree.last_zxid, 0, op, None, now_ms, now_ms)
            return
        if op == OpCode.auth:
            self._auth(conn, xid, req)
            return
        if op not in KNOWN_OPS:
            # ZooKeeper's UnimplementedRequestProcessor: answered at once, out
            # of turn, with zxid -1; then the connection closes.
            self._emit(conn, ("reply", xid, -1, Err.UNIMPLEMENTED, op, None))
            self._close_conn(conn, "unknown opcode %d" % op)
            return
        malformed = type(req) is Malformed
        if not self.serving and self.read_only:
            if op == OpCode.closeSession:
                self._local_sessions.discard(sid)
                self.sessions.remove(sid)
                self.session_conn.pop(sid, None)
                self._emit(conn, ("reply", xid, self.tree.last_zxid, 0, op, None))
                self._close_conn(conn, "client closed its session")
                return
            # Every write, and sync, gets NOTREADONLY in its place in the FIFO.
            self._read_or_queue(conn, xid, op, req, now_ms)
            return
        if op in WRITE_OPS or op == OpCode.createSession:
            if malformed and op == OpCode.reconfig:
                # reconfig is decoded before it gets a zxid: answered like a read.
                self._read_or_queue(conn, xid, op, req, now_ms)
                return
            self._hold(conn, xid, op, req, now_ms)
            if malformed:
                # A write that does not decode still spends a zxid: ZooKeeper
                # logs an error txn for it.
                self.proposer.reject(sid, xid, Err.MARSHALLINGERROR, now_ms)
            else:
                self.proposer.write(sid, xid, op, req, conn.ids, now_ms)
            return
        if op == OpCode.deleteContainer:
            # Server-internal; ZooKeeper takes the whole frame, header and all,
            # as the path, which never validates: BADARGUMENTS, a zxid spent.
            self._hold(conn, xid, op, req, now_ms)
            self.proposer.reject(sid, xid, Err.BADARGUMENTS, now_ms)
            return
        if op == OpCode.closeSession:
            self._hold(conn, xid, op, req, now_ms)
            self.proposer.close_session(sid, xid, now_ms)
            return
        if op == OpCode.sync and self.via_leader and type(req) is not Malformed:
            # A learner's sync is answered once the leader's SYNC comes back:
            # everything the leader had committed before it is applied here.
            p = _Pending(xid, op, req, now_ms, txn=True)
            self._enqueue(conn, p)
            self.pending_syncs.append((conn, p))
            self.proposer.sync(sid, xid, req, now_ms)
            return
        if op == OpCode.sync and type(req) is not Malformed:
            # The leader may have committed txns it has not applied yet (it
            # applies once its own log has them; a follower may have
            # answered its client already): a sync here waits for them.
            barrier = self.proposer.sync_barrier()
            if barrier is not None and barrier > self.tree.last_zxid:
                p = _Pending(xid, op, req, now_ms, txn=True)
                self._enqueue(conn, p)
                self.local_syncs.append((barrier, conn, p))
                return
        self._read_or_queue(conn, xid, op, req, now_ms)

    def revalidated(self, session_id: int, valid: bool, now_ms: int) -> None:
        """The leader's answer about a session a client re-attached here."""
        waiting = self.pending_revalidations.pop(session_id, None)
        if waiting is None:
            return
        conn, timeout = waiting
        if conn.closed or conn.closing:
            return
        if valid:
            self.sessions.add(session_id, timeout, now_ms)
            conn.session_id = session_id
            self.session_conn[session_id] = conn
            conn.established = True
            self._emit(conn, ("connect", timeout, session_id, session_password(session_id),
                              False))
            early, conn.early = conn.early, []
            for xid, op_, req, t in early:
                self.request(conn, xid, op_, req, t)
        else:
            self._emit(conn, ("connect", 0, 0, EXPIRED_PASSWD, False))
            self._close_conn(conn, "invalid session %#x, probably expired"
                             % (session_id & (2**64 - 1)))

    def synced(self, now_ms: int) -> None:
        """The leader answered the oldest sync forwarded (a SYNC packet)."""
        if not self.pending_syncs:
            return  # its connection went away meanwhile
        conn, p = self.pending_syncs.popleft()
        p.reply = _SYNCED
        if not conn.closed:
            self._drain(conn, now_ms)

    def _release_local_syncs(self, now_ms: int) -> None:
        q = self.local_syncs
        last = self.tree.last_zxid
        while q and q[0][0] <= last:
            _, conn, p = q.popleft()
            p.reply = _SYNCED
            if not conn.closed:
                self._drain(conn, now_ms)

    def _read_or_queue(self, conn, xid, op, req, now_ms):
        if self._must_wait(conn):
            self._enqueue(conn, _Pending(xid, op, req, now_ms))
        else:
            self._read(conn, xid, op, req, now_ms, now_ms)

    def _hold(self, conn, xid, op, req, now_ms):
        """Hold ``conn``'s place in its FIFO for the reply to a write, until
        the txn with this (session id, cxid) commits."""
        p = _Pending(xid, op, req, now_ms, txn=True)
        self._enqueue(conn, p)
        w = self.waiting.get(conn.session_id)
        if w is None:
            w = self.waiting[conn.session_id] = deque()
        w.append((conn, p))
        self.in_process += 1

    def _origin(self, hdr):
        """The request a committed txn answers: the oldest write its session
        is waiting for, if the txn is that write's (same cxid; an expiry's
        closeSession answers no request)."""
        w = self.waiting.get(hdr.clientId)
        if not w:
            return None
        conn, p = w[0]
        if p.xid != hdr.cxid or (hdr.type == OpCode.closeSession) != (p.op == OpCode.closeSession):
            return None
        w.popleft()
        if not w:
            del self.waiting[hdr.clientId]
        self.in_process -= 1
        return conn, p

    def _authenticated(self, conn) -> bool:
        schemes = self._enforce_schemes
        return any(scheme in schemes for scheme, _ in conn.ids)

    def _sasl(self, conn, xid, req):
        # Answered at once with zxid 0, as ZooKeeper's processSasl does
        # (tests/ZOOKEEPER_FACTS.md §13, §15).  A null client token makes
        # ZooKeeper drop the connection.
        if type(req) is Malformed or req.token is None:
            self._close_conn(conn, "SASL packet with a null token")
            return
        cfg = self.config
        if cfg.sasl is None:
            # No JAAS server section: OK with a null token.
            self._emit(conn, ("reply", xid, 0, 0, OpCode.sasl, (None,)))
            return
        mech = conn.sasl
        if mech is None:
            mech = conn.sasl = DigestMD5Server(cfg.sasl)
        try:
            answer = mech.evaluate(req.token)
        except SaslFailure as e:
            required = "sasl" in self._enforce_schemes
            if cfg.allow_sasl_failed and not required:
                self._emit(conn, ("reply", xid, 0, 0, OpCode.sasl, (None,)))
                return
            err = Err.SESSIONCLOSEDREQUIRESASLAUTH if required else Err.AUTHFAILED
            self._emit(conn, ("reply", xid, 0, err, OpCode.sasl, (None,)))
            self._close_conn(conn, "SASL authentication failed: %s" % e)
            return
        if mech.complete:
            ident = ("sasl", mech.authorization_id)
            if ident not in conn.ids:
                conn.ids.append(ident)
            if mech.authorization_id in cfg.sasl_super_users and ("super", "") not in conn.ids:
                conn.ids.append(("super", ""))
        self._emit(conn, ("reply", xid, 0, 0, OpCode.sasl, (answer,)))

    def tls_identity(self, conn: Conn, ids) -> None:
        """The edge verified ``conn``'s client certificate: its x509 (and
        maybe super) identities, before any request of it is read."""
        for i in ids:
            if i not in conn.ids:
                conn.ids.append(i)

    def _auth(self, conn, xid, req):
        if req.scheme == "x509" and "x509" in self.auth.providers:
            # ZooKeeper's X509AuthenticationProvider authenticates from the
            # connection's certificate, whatever the packet carries.
            ids = [i for i in conn.ids if i[0] in ("x509", "super") and i[1] != ""] or None
        else:
            ids = self.auth.authenticate(req.scheme, req.auth, conn.peer_ip)
        if ids is None:
            # ZooKeeper answers AUTHFAILED (zxid 0) and closes the connection.
            self._emit(conn, ("reply", xid, 0, Err.AUTHFAILED, OpCode.auth, None))
            self._close_conn(conn, "authentication failed for scheme %r" % (req.scheme,))
            return
        for i in ids:
            if i not in conn.ids:
                conn.ids.append(i)
        # The reply carries the request's xid (clients send -4; ZooKeeper
        # echoes whatever came).
        self._emit(conn, ("reply", xid, 0, 0, OpCode.auth, None))


    # --- reads -----------------------------------------------------------------
    def _read(self, conn, xid, op, req, start_ms, now_ms):
        tree = self.tree
        zxid = tree.last_zxid
        try:
            body = self._read_body(conn, op, req)
            err = 0
        except _Refused as e:
            body = e.body
            err = e.code
        except KeeperError as e:
            body = None
            err = e.code
        self._finish(conn, xid, zxid, err, op, body, start_ms, now_ms)

    def _finish(self, conn, xid, zxid, err, op, body, start_ms, now_ms, last_op=None):
        """Send a reply and account for it (the cons/stat/mntr figures)."""
        conn.last_zxid = zxid
        conn.last_op = op if last_op is None else last_op
        conn.last_cxid = xid
        latency = now_ms - start_ms
        conn.last_latency_ms = latency
        conn.last_response_ms = now_ms
        _account(conn, latency)
        _account(self.stats, latency)
        # ZooKeeper: a request with a txn is an update, any other (pings
        # included) a read.
        self.metrics.summaries["updatelatency" if op in WRITE_OPS else "readlatency"].add(latency)
        conn.out_bytes += 96 if body is None else _reply_size(op, body)
        self._emit(conn, ("reply", xid, zxid, err, op, body))

    def _check(self, node, perm, conn):
        try:
            self.auth.check(node.acl, perm, conn.ids)
        except NoAuth:
            raise KeeperError(Err.NOAUTH) from None

    def _node(self, path):
        node = self.tree.nodes.get(path)
        if node is None:
            raise KeeperError(Err.NONODE)
        return node

    def _read_body(self, conn, op, req):
        if op in READ_ONLY_REFUSED and not self.serving and self.read_only:
            raise KeeperError(Err.NOTREADONLY)
        if type(req) is Malformed:
            raise KeeperError(Err.MARSHALLINGERROR)
        if getattr(req, "path", "") is None:
            raise KeeperError(Err.MARSHALLINGERROR)  # a null path, as ZooKeeper answers it
        if op == OpCode.getData:
            node = self._node(req.path)
            self._check(node, Perms.READ, conn)
            if req.watch:
                self.watches.data.add(req.path, conn)
            self.metrics.read_ns(req.path, len(node.data) if node.data else 0)
            return (node.data, node.stat())
        if op == OpCode.exists:
            path = req.path
            if "\0" in path:
                raise KeeperError(Err.BADARGUMENTS)
            node = self.tree.nodes.get(path)
            if node is not None:
                self._check(node, Perms.READ, conn)
            if req.watch:
                self.watches.data.add(path, conn)
            if node is None:
                raise KeeperError(Err.NONODE)
            self.metrics.read_ns(path, 0)
            return node.stat()
        if op in (OpCode.getChildren, OpCode.getChildren2):
            node = self._node(req.path)
            self._check(node, Perms.READ, conn)
            if req.watch:
                self.watches.child.add(req.path, conn)
            self.metrics.read_ns(req.path, sum(map(len, node.children)))
            if op == OpCode.getChildren:
                return list(node.children)
            return (list(node.children), node.stat())
        if op == OpCode.sync:
            return req.path
        if op == OpCode.getACL:
            node = self._node(req.path)
            self._check(node, Perms.READ | Perms.ADMIN, conn)
            acl = node.acl
            try:
                self.auth.check(acl, Perms.ADMIN, conn.ids)
            except NoAuth:
                # ZooKeeper 3.9 hides digest hashes from readers without ADMIN.
                acl = tuple((p, s, i.split(":", 1)[0] + ":x" if s == "digest" else i)
                            for p, s, i in acl)
            return (acl, node.stat())
        if op in (OpCode.setWatches, OpCode.setWatches2):
            self._set_watches(conn, req)
            return None
        if op == OpCode.getAllChildrenNumber:
            node = self._node(req.path)
            self._check(node, Perms.READ, conn)
            return self.tree.all_children_number(req.path)
        if op == OpCode.getEphemerals:
            prefix = req.prefixPath
            paths = self.tree.session_ephemerals(conn.session_id)
            if prefix and prefix.strip() and prefix.strip() != "/":
                paths = [p for p in paths if p.startswith(prefix)]
            return paths
        if op == OpCode.whoAmI:
            # ZooKeeper shows a digest identity by its user name only, and a
            # sasl one without SASLAuthenticationProvider as "" (no provider
            # to name it: tests/ZOOKEEPER_FACTS.md §15 sasl-without-the-provider).
            from .javaorder import auth_ids_order

            hide_sasl = not self.config.sasl_scheme
            return [(s, i.split(":", 1)[0] if s == "digest" else
                     "" if s == "sasl" and hide_sasl else i)
                    for s, i in auth_ids_order(conn.ids)]
        if op == OpCode.multiRead:
            if any(sub_op not in (OpCode.getData, OpCode.getChildren) for sub_op, _ in req):
                # ZooKeeper: no writes in multiRead, and the reply carries
                # an empty result list.
                raise _Refused(Err.MARSHALLINGERROR, [])
            results = []
            for sub_op, sub_req in req:
                try:
                    results.append((sub_op, 0, self._read_body(conn, sub_op, sub_req)))
                except KeeperError as e:
                    results.append((OpCode.error, e.code, None))
            return results
        if op in (OpCode.checkWatches, OpCode.removeWatches):
            return self._check_remove_watches(conn, op, req)
        if op == OpCode.addWatch:
            # ZooKeeper checks neither the node nor its ACL here: events are
            # filtered by ACL when they are delivered.
            if req.mode not in (AddWatchMode.PERSISTENT, AddWatchMode.PERSISTENT_RECURSIVE):
                raise KeeperError(Err.MARSHALLINGERROR)  # Java: IllegalArgumentException
            self.watches.add_persistent(req.path, conn,
                                        req.mode == AddWatchMode.PERSISTENT_RECURSIVE)
            return 0
        raise KeeperError(Err.UNIMPLEMENTED)

    def _check_remove_watches(self, conn, op, req):
        """checkWatches / removeWatches, by ZooKeeper 3.9's DataTree: Data and
        Children mean the one-shot watches only, Persistent the persistent
        one in both tables, PersistentRecursive the recursive one, Any every
        mode in both tables."""
        path, wtype = req.path, req.type
        data, child = self.watches.data, self.watches.child
        if wtype == WatcherType.Children:
            tables = ((child, STANDARD),)
        elif wtype == WatcherType.Data:
            tables = ((data, STANDARD),)
        elif wtype == WatcherType.Persistent:
            tables = ((child, PERSISTENT), (data, PERSISTENT))
        elif wtype == WatcherType.PersistentRecursive:
            tables = ((data, PERSISTENT_RECURSIVE),)
        elif wtype == WatcherType.Any:
            tables = ((child, None), (data, None))
        else:
            raise KeeperError(Err.MARSHALLINGERROR)  # Java: "Invalid integer value ..."
        found = [(t, mode) for t, mode in tables if t.contains(path, conn, mode)]
        if not found:
            raise KeeperError(Err.NOWATCHER)
        if op == OpCode.removeWatches:
            for t, mode in found:
                t.remove(path, conn, mode)
        return None

    def _set_watches(self, conn, req):
        rel = req.relativeZxid
        nodes = self.tree.nodes
        zxid = -1
        ev = []
        for path in req.dataWatches or ():
            node = nodes.get(path)
            if node is None:
                ev.append((EventType.NodeDeleted, path))
            elif node.mzxid > rel:
                ev.append((EventType.NodeDataChanged, path))
            else:
                self.watches.data.add(path, conn)
        for path in req.existWatches or ():
            if path in nodes:
                ev.append((EventType.NodeCreated, path))
            else:
                self.watches.data.add(path, conn)
        for path in req.childWatches or ():
            node = nodes.get(path)
            if node is None:
                ev.append((EventType.NodeDeleted, path))
            elif node.pzxid > rel:
                ev.append((EventType.NodeChildrenChanged, path))
            else:
                self.watches.child.add(path, conn)
        # setWatches2 (3.6+): persistent watches come back as they were, with
        # no event for what they missed (ZooKeeper's DataTree.setWatches).
        for path in getattr(req, "persistentWatches", None) or ():
            self.watches.add_persistent(path, conn, False)
        for path in getattr(req, "persistentRecursiveWatches", None) or ():
            self.watches.add_persistent(path, conn, True)
        for etype, path in ev:
            self._emit(conn, ("event", zxid, etype, KeeperState.SyncConnected, path))

    # --- commits ---------------------------------------------------------------------
    def commit(self, batch, now_ms: int) -> None:
        """Apply committed txns in order and answer their origins."""
        apply = self.tree.apply
        committed = self.proposer.committed
        watches = self.watches
        watched = watches.watched
        origin_of = self._origin
        for hdr, txn in batch:
            rc = apply(hdr, txn)
            committed(hdr)
            t = hdr.type
            if t == OpCode.createSession:
                self.sessions.add(hdr.clientId, txn.timeOut, now_ms)
            elif t == OpCode.closeSession:
                self.sessions.remove(hdr.clientId)
            for etype, path in rc.triggers:
                if watched(path):
                    fired = watches.trigger(etype, path)
                    if fired:
                        self._notify(fired, hdr.zxid, etype, path)
            if self.local_syncs:
                self._release_local_syncs(now_ms)
            origin = origin_of(hdr)
            if origin is not None:
                # Answer now, before the next txn is applied: reads queued behind
                # this write must see the tree exactly as it stands after it.
                conn, p = origin
                p.reply = rc
                self._drain(conn, now_ms)
            elif t == OpCode.closeSession:
                # An expiry decided by our clock: drop the session's connection.
                conn = self.session_conn.pop(hdr.clientId, None)
                if conn is not None:
                    self._close_conn(conn, "session %#x expired" % (hdr.clientId & (2**64 - 1)))

    def _notify(self, watchers, zxid, etype, path) -> None:
        """Send one event to the watchers it fired, except those who may not
        READ the node: ZooKeeper 3.9.2 checks every delivery against the
        node's ACL (CVE-2024-23944; a recursive watch would otherwise show
        the names of nodes its owner cannot read).  A deleted node's ACL is
        the one it had."""
        tree = self.tree
        node = tree.nodes.get(path)
        acl = node.acl if node is not None else tree.gone_acls.get(path)
        check = self.auth.check
        for w in watchers:
            if acl:
                try:
                    check(acl, Perms.READ, w.ids)
                except NoAuth:
                    continue
            self._emit(w, ("event", zxid, etype, KeeperState.SyncConnected, path))

    def _drain(self, conn, now_ms):
        q = conn.queue
        budget = self._out_budget
        while q:
            if conn.hold or conn.out_bytes >= budget:
                return  # the rest waits until the edge has written this out
            p = q[0]
            op = p.op
            if op == OpCode.createSession and not conn.established:
                if p.reply is None:
                    return
                q.popleft()
                self.outstanding -= 1
                sid = conn.session_id
                conn.established = True
                self.session_conn[sid] = conn
                conn.last_op = OpCode.createSession
                self.metrics.summaries["updatelatency"].add(now_ms - p.start_ms)
                conn.last_cxid = 0
                conn.last_zxid = self.tree.last_zxid
                self._emit(conn, ("connect", conn.timeout_ms, sid, session_password(sid), False))
                early, conn.early = conn.early, []
                for xid, op_, req, t in early:
                    self.request(conn, xid, op_, req, t)
                continue
            if p.txn:
                rc = p.reply
                if rc is None:
                    return
                q.popleft()
                self.outstanding -= 1
                if rc is _SYNCED:
                    self._finish(conn, p.xid, self.tree.last_zxid, 0, op, p.req.path,
                                 p.start_ms, now_ms)
                    continue
                body = None
                err = rc.err
                if rc.type == OpCode.error:
                    pass  # failed in prep: the header carries the error, no body
                elif op == OpCode.multi:
                    body, err = rc, 0  # per-op errors travel in the body
                elif op == OpCode.reconfig and not err:
                    # GetDataResponse: the config now in force, and the
                    # Stat the txn left on /zookeeper/config.
                    body = (self.tree.nodes[DataTree.CONFIG].data, rc.stat)
                elif not err:
                    body = rc
                # A write that failed in prep is an error txn: ZooKeeper
                # reports its last operation as "NA".
                self._finish(conn, p.xid, self.tree.last_zxid, err, op, body, p.start_ms, now_ms,
                             last_op=OpCode.error if rc.type == OpCode.error else None)
                if op == OpCode.closeSession:
                    self._close_conn(conn, "client closed its session")
                    self.session_conn.pop(conn.session_id, None)
                continue
            q.popleft()
            self.outstanding -= 1
            if op == OpCode.ping:
                self._finish(conn, Xid.PING, self.tree.last_zxid, 0, op, None, p.start_ms, now_ms)
            else:
                self._read(conn, p.xid, op, p.req, p.start_ms, now_ms)

    # --- ensemble membership -------------------------------------------------------------
    def close_clients(self, reason: str) -> None:
        """Close every client connection (the server stops serving: its
        leader is gone, or it is about to load another state).  Sessions
        live on in the ensemble; clients reconnect somewhere."""
        for conn in list(self.conns.values()):
            if not conn.closing:
                self._close_conn(conn, reason)
        self.waiting.clear()
        self.pending_syncs.clear()
        self.local_syncs.clear()
        self.pending_revalidations.clear()
        self.in_process = 0

    def replace_state(self, tree: DataTree, sessions: dict, now_ms: int) -> None:
        """Start over from another state (a learner's SNAP, or its dataDir
        after a TRUNC).  Only while not serving: no client may see the swap."""
        if self.serving or self.waiting:
            raise AssertionError("replace_state while serving clients")
        tree.strict = True
        tree.metrics = self.metrics
        self.tree = tree
        self.sessions.sessions.clear()
        for sid, timeout_ms in sessions.items():
            self.sessions.add(sid, timeout_ms, now_ms)
        self.watches = WatchTable()

    # --- time -------------------------------------------------------------------------
    def tick(self, now_ms: int) -> None:
        """Time passed: the proposer expires sessions past their deadline."""
        self.proposer.tick(now_ms)
