"""The election port over Twisted: ZooKeeper's QuorumCnxManager, driving the
sans-IO Fast Leader Election of :mod:`zkwire.server.quorum.election`.

Theory of operation
-------------------
:class:`ElectionNetwork` keeps at most one TCP connection per peer sid and
moves :class:`~zkwire.server.quorum.packets.Notification` s over them, with
the rules of Apache ZooKeeper's QuorumCnxManager (3.8/3.9, which agree here):

* **Who keeps a connection.**  The dialer opens with a handshake (protocol
  version V1, its sid, its election ``host:port``); the listener says nothing
  back.  A connection survives only if the dialer has the larger sid.  So a
  listener that hears a smaller sid closes that connection, closes any
  connection it already had to that sid (it may be stale: the peer would not
  dial if it still had one) and dials back; a dialer that reaches a larger
  sid writes its handshake and closes at once, and waits to be dialed back.
  A handshake naming our own sid is refused.  A sid outside the membership
  (a learner the config does not list) is kept like any other when it is
  larger than ours, and dialed back at the address its handshake names when
  it is smaller; the observer "no id" sid gets an arbitrary negative one, as
  in ZooKeeper.  A newer connection from a sid replaces the older one.
* **What is sent.**  Each peer has a send queue of one message
  (QuorumCnxManager.SEND_CAPACITY = 1: a newer notification replaces the one
  still waiting), and the last message sent to it is remembered.  A message
  goes out at once on a connection that is writable; otherwise it waits in
  that one slot and, if there is no connection, the peer is dialed (one dial
  per peer at a time, with a connect timeout).  When a connection to a peer
  is established, the waiting message is sent, or, if none waits, the last
  one is sent again: the peer may have lost it with the previous connection,
  and Fast Leader Election takes duplicates.  A connection that fails or
  drops is not redialed by itself: the next :meth:`ElectionNetwork.send` to
  that peer dials (the election re-sends on its own timeout), so a dead peer
  costs no busy loop.
* **What is received.**  Frames are an int32 length (1..``max_frame_bytes``)
  and a payload, split by :class:`~zkwire.server.quorum.packets.ElectionStreamDecoder`.
  A bad handshake or a bad frame length closes that connection with one log
  line naming the peer and the reason.  A frame whose notification does not
  decode is dropped with a log line and the connection stays, as
  FastLeaderElection's receiver skips "a partial / malformed response".
  Every good notification goes to ``on_message(sid, notification)``.
* **Bounds.**  At most ``max_pending_handshakes`` accepted connections may
  wait for their handshake, each at most ``handshake_timeout_ms``; at most
  one connection per sid is kept, and at most ``max_nonmember_peers`` sids
  outside the membership are tracked at a time; one queued message per peer;
  writes stop (and the one slot holds the newest message) while a peer does
  not read.

:class:`ElectionRunner` drives one :class:`~zkwire.server.quorum.election.Election`
with a network: it feeds every received notification and every deadline to
the election, sends what the election put in its outbox, and fires a
Deferred with ``(state, vote)`` when a round is decided.  It keeps answering
after the decision (the election answers LOOKING peers), and
:meth:`ElectionRunner.start` opens a new round when the leader is lost.

Nothing here reads the clock but through the injected reactor
(``int(reactor.seconds() * 1000)`` is "now"), and :meth:`ElectionNetwork.stop`
closes the listener and every connection and cancels every timer.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, Optional, Set, Tuple

from twisted.internet import defer
from twisted.internet.protocol import ClientFactory, Factory, Protocol

from ..quorum.packets import (
    MAX_ELECTION_FRAME_BYTES,
    OBSERVER_ID,
    PROTOCOL_VERSION_V1,
    ElectionStreamDecoder,
    Handshake,
    PacketError,
    decode_notification,
    frame_election,
)

log = logging.getLogger("zkwire.server.election")

#: QuorumCnxManager.SEND_CAPACITY: messages waiting per peer (a newer one replaces it).
SEND_CAPACITY = 1
#: QuorumCnxManager's cnxTO (zookeeper.cnxTimeout): how long a dial may take.
CONNECT_TIMEOUT_MS = 5000
#: How long an accepted connection may take to send its handshake.  ZooKeeper
#: reads it under the socket timeout (tickTime * initLimit) with one handshake
#: read at a time for the whole listener; we allow several, each bounded.
HANDSHAKE_TIMEOUT_MS = 5000
#: Accepted connections that may wait for their handshake at the same time.
MAX_PENDING_HANDSHAKES = 16
#: Sids outside the membership tracked at once (connections, dials, queues).
MAX_NONMEMBER_PEERS = 32
#: At most one warning per this many seconds for each kind of limit that bites.
LIMIT_WARNING_INTERVAL_S = 10.0


def _format_address(host: str, port: int) -> str:
    """As ZooKeeper's NetUtils.formatInetAddr: an IPv6 literal in brackets."""
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def _is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "0:0:0:0:0:0:0:0", "")


class _Connection(Protocol):
    """One election-port TCP connection, dialed (``dial_sid`` set) or accepted.

    It is the transport's streaming producer: while the peer does not take
    our bytes, :meth:`pauseProducing` holds further messages in the peer's one
    send slot instead of Twisted's unbounded write buffer."""

    def __init__(self, net: "ElectionNetwork", dial_sid: Optional[int] = None):
        self.net = net
        self.dial_sid = dial_sid
        #: The peer's sid: the one we dialed, or the one its handshake names.
        self.sid = dial_sid
        self.decoder = ElectionStreamDecoder(expect_handshake=dial_sid is None,
                                             max_frame_bytes=net.max_frame_bytes)
        self.active = False       # the one kept connection of ``sid``
        self.closing = False
        self.paused = False
        self.peer = "?"
        self.handshake_timer = None
        self.lost = defer.Deferred()
        self._bad_logged_at = None

    def describe(self) -> str:
        who = "server %d" % self.sid if self.sid is not None else "an unidentified peer"
        return "%s at %s" % (who, self.peer)

    # --- Twisted callbacks ---------------------------------------------------------------
    def connectionMade(self):
        peer = self.transport.getPeer()
        self.peer = "%s:%s" % (getattr(peer, "host", "?"), getattr(peer, "port", "?"))
        set_no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            set_no_delay(True)    # as QuorumCnxManager.setSockOpts
        if self.dial_sid is None:
            self.net._accepted(self)
        else:
            self.net._dialed(self)

    def dataReceived(self, data):
        if self.closing:
            return
        try:
            items = self.decoder.feed(data)
        except PacketError as e:
            self.net._close(self, str(e), bad_input=True)
            return
        for item in items:
            if self.closing:
                return
            if isinstance(item, Handshake):
                self.net._handshake(self, item)
            else:
                self.net._frame(self, item)

    def connectionLost(self, reason=None):
        self.closing = True
        self.net._lost(self)
        d, self.lost = self.lost, None
        if d is not None:
            d.callback(None)

    # --- IPushProducer -------------------------------------------------------------------
    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False
        if self.active and not self.closing:
            self.net._flush(self)

    def stopProducing(self):
        self.paused = True

    # --- helpers -------------------------------------------------------------------------
    def write_message(self, payload: bytes) -> None:
        self.transport.write(frame_election(payload))

    def close(self, abort: bool = False) -> None:
        if self.handshake_timer is not None and self.handshake_timer.active():
            self.handshake_timer.cancel()
        self.handshake_timer = None
        if self.closing and not abort:
            return
        self.closing = True
        if abort:
            self.transport.abortConnection()
        else:
            self.transport.loseConnection()


class _ListenFactory(Factory):
    def __init__(self, net: "ElectionNetwork"):
        self.net = net

    def buildProtocol(self, addr):
        return _Connection(self.net)


class _DialFactory(ClientFactory):
    def __init__(self, net: "ElectionNetwork", sid: int, address: Tuple[str, int]):
        self.net = net
        self.sid = sid
        self.address = address

    def buildProtocol(self, addr):
        return _Connection(self.net, self.sid)

    def clientConnectionFailed(self, connector, reason):
        self.net._dial_failed(self.sid, connector, self.address, reason)

    def clientConnectionLost(self, connector, reason):
        pass


class ElectionNetwork:
    """The election-port connection manager of server ``myid``.

    ``on_message(sid, notification)`` receives every notification a peer
    sends (:class:`ElectionRunner` installs its own when it is given this
    network).  ``host_for_listen`` overrides the host of our own election
    address for :meth:`start` (ZooKeeper's quorumListenOnAllIPs is
    ``"0.0.0.0"``)."""

    def __init__(self, reactor, myid: int, membership,
                 on_message: Optional[Callable[[int, object], None]] = None,
                 host_for_listen: Optional[str] = None,
                 max_frame_bytes: int = MAX_ELECTION_FRAME_BYTES,
                 connect_timeout_ms: int = CONNECT_TIMEOUT_MS,
                 handshake_timeout_ms: int = HANDSHAKE_TIMEOUT_MS,
                 max_pending_handshakes: int = MAX_PENDING_HANDSHAKES,
                 max_nonmember_peers: int = MAX_NONMEMBER_PEERS):
        if myid not in membership.members:
            raise ValueError("server %d is not in the membership" % myid)
        if not 0 < max_frame_bytes <= MAX_ELECTION_FRAME_BYTES:
            raise ValueError("max_frame_bytes must be in 1..%d" % MAX_ELECTION_FRAME_BYTES)
        self.reactor = reactor
        self.myid = myid
        self.membership = membership
        self.on_message = on_message
        me = membership.members[myid]
        self.address = (me.host, me.election_port)
        self.host_for_listen = host_for_listen if host_for_listen is not None else me.host
        self.max_frame_bytes = max_frame_bytes
        self.connect_timeout_ms = connect_timeout_ms
        self.handshake_timeout_ms = handshake_timeout_ms
        self.max_pending_handshakes = max_pending_handshakes
        self.max_nonmember_peers = max_nonmember_peers
        self.handshake = Handshake(myid, _format_address(*self.address),
                                   PROTOCOL_VERSION_V1).encode()
        self.port = None
        self.stopped = False
        self._conns: Dict[int, _Connection] = {}      # sid -> the kept connection
        self._dialing: Dict[int, object] = {}         # sid -> connector in progress
        self._queued: Dict[int, bytes] = {}           # sid -> the one waiting payload
        self._last: Dict[int, bytes] = {}             # sid -> last payload sent
        self._learned: Dict[int, Tuple[str, int]] = {}  # non-member sid -> handshake address
        self._pending: Set[_Connection] = set()       # accepted, before the handshake
        self._all: Set[_Connection] = set()           # every open connection
        self._loopback: Set[object] = set()           # delayed calls delivering to ourselves
        self._unreachable: Set[int] = set()           # sids whose last dial failed (logged once)
        self._observer_counter = -1
        self._warned_at: Dict[str, float] = {}
        #: A test partition (zkwire.testing.Ensemble): sids we neither dial,
        #: accept nor send to; set through :meth:`block`.
        self.blocked: Set[int] = set()

    # --- public ------------------------------------------------------------------------------
    def start(self):
        """Listen on our election address; returns the listening port."""
        if self.port is not None:
            raise RuntimeError("the election network is already listening")
        self.stopped = False
        self.port = self.reactor.listenTCP(self.address[1], _ListenFactory(self),
                                           interface=self.host_for_listen)
        log.info("server %d: listening for election connections on %s", self.myid,
                 _format_address(self.host_for_listen, self.address[1]))
        return self.port

    def stop(self) -> defer.Deferred:
        """Close the listener and every connection, stop every dial and cancel
        every timer.  The Deferred fires once all of them are gone."""
        self.stopped = True
        waits = []
        if self.port is not None:
            d = self.port.stopListening()
            if d is not None:
                waits.append(d)
            self.port = None
        for connector in list(self._dialing.values()):
            try:
                connector.stopConnecting()
            except Exception:   # already connected or failed: its connection is in _all
                pass
        self._dialing.clear()
        for call in list(self._loopback):
            if call.active():
                call.cancel()
        self._loopback.clear()
        for conn in list(self._all):
            if conn.lost is not None:
                waits.append(conn.lost)
            conn.close(abort=True)
        self._conns.clear()
        self._pending.clear()
        self._queued.clear()
        return defer.gatherResults(waits, consumeErrors=True).addCallback(lambda _: None)

    def send(self, sid: int, notification) -> None:
        """Send ``notification`` to server ``sid`` (QuorumCnxManager.toSend)."""
        if self.stopped:
            return
        payload = notification.encode()
        if not 0 < len(payload) <= MAX_ELECTION_FRAME_BYTES:
            raise ValueError("a notification of %d bytes does not fit a frame" % len(payload))
        if sid == self.myid:
            # ZooKeeper loops a message to ourselves back into the receive queue.
            call = self.reactor.callLater(0, self._deliver_loopback, payload)
            self._loopback.add(call)
            return
        if sid in self.blocked:
            return
        if sid not in self.membership.members and sid not in self._conns \
                and sid not in self._learned:
            log.debug("server %d: no connection to, and no address of, server %d; "
                      "dropping a notification", self.myid, sid)
            return
        conn = self._conns.get(sid)
        if conn is not None and not conn.paused and not conn.closing:
            self._queued.pop(sid, None)
            self._write(conn, payload)
            return
        self._queued[sid] = payload   # SEND_CAPACITY = 1: the newest replaces the oldest
        if conn is None:
            self._connect_one(sid)

    def block(self, sids) -> None:
        """A test partition: from now on, no connection with any of ``sids``
        (those we have are aborted, dials stopped, new ones refused on both
        sides of the handshake) and messages to them are dropped, until
        ``block(())``.  For zkwire.testing.Ensemble; not a ZooKeeper feature."""
        self.blocked = set(sids)
        for sid in [s for s in self._dialing if s in self.blocked]:
            connector = self._dialing.pop(sid)
            try:
                connector.stopConnecting()
            except Exception:   # already connected: its connection is in _all
                pass
        for sid in self.blocked:
            self._queued.pop(sid, None)
        for conn in list(self._all):
            if conn.sid is not None and conn.sid in self.blocked:
                self._close(conn, "partitioned", abort=True)

    def connected(self, sid: int) -> bool:
        """Whether a connection to ``sid`` is kept (QuorumCnxManager.connectedToPeer)."""
        return sid in self._conns

    def connected_sids(self):
        return sorted(self._conns)

    def queued(self, sid: int) -> Optional[bytes]:
        """The payload waiting for ``sid``, if any."""
        return self._queued.get(sid)

    def last_sent(self, sid: int) -> Optional[bytes]:
        return self._last.get(sid)

    def pending_handshakes(self) -> int:
        return len(self._pending)

    # --- sending -----------------------------------------------------------------------------
    def _write(self, conn: _Connection, payload: bytes) -> None:
        self._last[conn.sid] = payload
        conn.write_message(payload)

    def _flush(self, conn: _Connection) -> None:
        payload = self._queued.pop(conn.sid, None)
        if payload is not None:
            self._write(conn, payload)

    def _deliver_loopback(self, payload: bytes) -> None:
        self._loopback = {c for c in self._loopback if c.active()}
        if self.on_message is not None and not self.stopped:
            self.on_message(self.myid, decode_notification(payload))

    def _connect_one(self, sid: int, address: Optional[Tuple[str, int]] = None) -> None:
        """Dial ``sid`` unless we have a connection to it or a dial in progress."""
        if self.stopped or sid in self._conns or sid in self._dialing or sid in self.blocked:
            return
        member = self.membership.members.get(sid)
        if member is not None:
            address = (member.host, member.election_port)
        elif address is None:
            address = self._learned.get(sid)
        if address is None:
            self._warn_limited("address", "server %d: no election address for server %d "
                               "(not in the membership, and its handshake named none)",
                               self.myid, sid)
            return
        log.debug("server %d: dialing server %d at %s", self.myid, sid, _format_address(*address))
        connector = self.reactor.connectTCP(address[0], address[1],
                                            _DialFactory(self, sid, address),
                                            timeout=self.connect_timeout_ms / 1000.0)
        self._dialing[sid] = connector

    def _dial_failed(self, sid, connector, address, reason) -> None:
        if self._dialing.get(sid) is connector:
            del self._dialing[sid]
        if self.stopped:
            return
        if sid not in self._unreachable:
            self._unreachable.add(sid)
            log.info("server %d: cannot open an election connection to server %d at %s (%s); "
                     "trying again on the next notification", self.myid, sid,
                     _format_address(*address), reason.getErrorMessage())
        self._forget_if_idle(sid)

    # --- connection life -------------------------------------------------------------------------
    def _accepted(self, conn: _Connection) -> None:
        self._all.add(conn)
        if self.stopped:
            conn.close(abort=True)
            return
        if len(self._pending) >= self.max_pending_handshakes:
            self._warn_limited("pending", "server %d: refusing an election connection from %s: "
                               "%d connections already wait for their handshake", self.myid,
                               conn.peer, len(self._pending))
            conn.close(abort=True)
            return
        self._pending.add(conn)
        conn.handshake_timer = self.reactor.callLater(self.handshake_timeout_ms / 1000.0,
                                                      self._handshake_timed_out, conn)

    def _handshake_timed_out(self, conn: _Connection) -> None:
        conn.handshake_timer = None
        self._close(conn, "no handshake within %d ms" % self.handshake_timeout_ms,
                    bad_input=True, abort=True)

    def _dialed(self, conn: _Connection) -> None:
        """Our dial reached ``conn.sid`` (QuorumCnxManager.startConnection)."""
        sid = conn.sid
        self._all.add(conn)
        self._dialing.pop(sid, None)
        self._unreachable.discard(sid)
        if self.stopped or sid in self.blocked:
            conn.close(abort=True)
            return
        conn.transport.write(self.handshake)
        if sid > self.myid:
            # We lost the challenge: the larger sid dials back.
            log.debug("server %d: server %d has the larger sid; closing our dial", self.myid, sid)
            conn.close()
            return
        self._activate(conn)

    def _handshake(self, conn: _Connection, hs: Handshake) -> None:
        """An accepted connection told us who it is (QuorumCnxManager.handleConnection)."""
        self._pending.discard(conn)
        if conn.handshake_timer is not None and conn.handshake_timer.active():
            conn.handshake_timer.cancel()
        conn.handshake_timer = None
        sid = hs.sid
        if sid == OBSERVER_ID:
            sid = self._observer_counter
            self._observer_counter -= 1
            log.info("server %d: observer without an id at %s is server %d here",
                     self.myid, conn.peer, sid)
        conn.sid = sid
        if sid == self.myid:
            self._close(conn, "its handshake names our own sid %d" % sid, bad_input=True)
            return
        if sid in self.blocked:
            conn.close(abort=True)
            return
        member = sid in self.membership.members
        if not member and not self._admit_nonmember(sid):
            self._warn_limited("nonmember", "server %d: refusing an election connection from "
                               "server %d at %s: %d servers outside the membership are tracked "
                               "already", self.myid, sid, conn.peer, self.max_nonmember_peers)
            conn.close(abort=True)
            return
        if sid < self.myid:
            # We have the larger sid: the connection to keep is one we dial.  A
            # connection we still have to it is stale (it would not dial us
            # otherwise): close it first.
            old = self._conns.pop(sid, None)
            if old is not None:
                log.debug("server %d: server %d dialed again; closing our old connection",
                          self.myid, sid)
                old.close()
            conn.close()
            address = None
            if not member:
                for host, port in hs.addresses():
                    if not _is_wildcard(host):
                        address = (host, port)
                        break
                if address is not None:
                    self._learned[sid] = address
            self._connect_one(sid, address)
            return
        self._activate(conn)

    def _admit_nonmember(self, sid: int) -> bool:
        if sid in self._conns or sid in self._learned or sid in self._dialing:
            return True
        tracked = {s for s in self._conns if s not in self.membership.members}
        tracked.update(self._learned)
        tracked.update(s for s in self._dialing if s not in self.membership.members)
        return len(tracked) < self.max_nonmember_peers

    def _activate(self, conn: _Connection) -> None:
        """Keep ``conn`` as the connection of its sid, replacing an older one,
        and send what waits (or the last message again, as SendWorker.run)."""
        sid = conn.sid
        old = self._conns.get(sid)
        if old is not None and old is not conn:
            log.debug("server %d: a newer connection from server %d replaces the older one",
                      self.myid, sid)
            old.active = False
            old.close()
        self._conns[sid] = conn
        conn.active = True
        conn.transport.registerProducer(conn, True)
        log.debug("server %d: election connection with server %d at %s", self.myid, sid,
                  conn.peer)
        if sid in self._queued:
            self._flush(conn)
        elif sid in self._last:
            self._write(conn, self._last[sid])

    def _frame(self, conn: _Connection, payload: bytes) -> None:
        if not conn.active:
            return          # a connection we are closing: its bytes do not count
        try:
            n = decode_notification(payload)
        except PacketError as e:
            # FastLeaderElection skips a malformed message and keeps reading.
            now = self.reactor.seconds()
            if conn._bad_logged_at is None or now - conn._bad_logged_at >= LIMIT_WARNING_INTERVAL_S:
                conn._bad_logged_at = now
                log.warning("server %d: dropping a malformed notification from %s: %s",
                            self.myid, conn.describe(), e)
            return
        if self.on_message is not None:
            self.on_message(conn.sid, n)

    def _close(self, conn: _Connection, reason: str, bad_input: bool = False,
               abort: bool = False) -> None:
        self._pending.discard(conn)
        if bad_input:
            log.warning("server %d: closing election connection from %s: %s", self.myid,
                        conn.describe(), reason)
        if conn.active and self._conns.get(conn.sid) is conn:
            del self._conns[conn.sid]
        conn.active = False
        conn.close(abort=abort)

    def _lost(self, conn: _Connection) -> None:
        self._all.discard(conn)
        self._pending.discard(conn)
        if conn.handshake_timer is not None and conn.handshake_timer.active():
            conn.handshake_timer.cancel()
        conn.handshake_timer = None
        sid = conn.sid
        if conn.active and self._conns.get(sid) is conn:
            del self._conns[sid]
            if not self.stopped:
                log.info("server %d: election connection with server %d closed", self.myid, sid)
        conn.active = False
        if sid is not None:
            self._forget_if_idle(sid)

    def _forget_if_idle(self, sid: int) -> None:
        """A sid outside the membership leaves no state once it has neither a
        connection nor a dial (ZooKeeper keeps its queues for ever)."""
        if sid in self.membership.members or sid in self._conns or sid in self._dialing:
            return
        self._learned.pop(sid, None)
        self._queued.pop(sid, None)
        self._last.pop(sid, None)
        self._unreachable.discard(sid)

    def _warn_limited(self, kind: str, fmt: str, *args) -> None:
        now = self.reactor.seconds()
        last = self._warned_at.get(kind)
        if last is not None and now - last < LIMIT_WARNING_INTERVAL_S:
            return
        self._warned_at[kind] = now
        log.warning(fmt, *args)


class ElectionRunner:
    """Drives ``election`` over ``network`` (and installs itself as the
    network's ``on_message``).

    :meth:`start` opens a round and returns a Deferred that fires with
    ``(state, vote)`` (``election.state``, ``election.decided``) once the
    round is decided.  After that the runner keeps feeding notifications to
    the election, which answers LOOKING peers; call :meth:`start` again to
    look for a new leader.  ``on_decided(state, vote)``, if given, is called
    at every decision too."""

    def __init__(self, reactor, election, network: ElectionNetwork,
                 on_decided: Optional[Callable[[int, object], None]] = None):
        self.reactor = reactor
        self.election = election
        self.network = network
        self.on_decided = on_decided
        network.on_message = self.receive
        self._timer = None
        self._timer_at = None
        self._deferred: Optional[defer.Deferred] = None
        self._looking = False
        self.rounds = 0

    def now_ms(self) -> int:
        return int(self.reactor.seconds() * 1000)

    def start(self, last_zxid: Optional[int] = None,
              current_epoch: Optional[int] = None) -> defer.Deferred:
        """Open a new election round (at start, or when the leader is lost)."""
        if self._deferred is None:
            self._deferred = defer.Deferred()
        d = self._deferred
        self._looking = True
        self.rounds += 1
        self.election.start(self.now_ms(), last_zxid, current_epoch)
        self._step()
        return d

    def stop(self) -> None:
        """Cancel the election's timer (the network is stopped on its own).
        A round still open never fires its Deferred."""
        self._cancel_timer()
        self._looking = False
        self._deferred = None

    @property
    def decided(self):
        return self.election.decided

    @property
    def state(self) -> int:
        return self.election.state

    def receive(self, sid: int, notification) -> None:
        self.election.receive(sid, notification, self.now_ms())
        self._step()

    def _tick(self) -> None:
        self._timer = None
        self._timer_at = None
        self.election.tick(self.now_ms())
        self._step()

    def _step(self) -> None:
        e = self.election
        out = list(e.outbox)
        del e.outbox[:]
        for sid, n in out:
            self.network.send(sid, n)
        self._schedule(e.deadline_ms)
        if self._looking and e.decided is not None:
            self._looking = False
            d, self._deferred = self._deferred, None
            result = (e.state, e.decided)
            if self.on_decided is not None:
                self.on_decided(*result)
            if d is not None:
                d.callback(result)

    def _schedule(self, deadline_ms: Optional[int]) -> None:
        if deadline_ms == self._timer_at and self._timer is not None:
            return
        self._cancel_timer()
        if deadline_ms is None:
            return
        delay_ms = max(0, deadline_ms - self.now_ms())
        self._timer_at = deadline_ms
        self._timer = self.reactor.callLater(delay_ms / 1000.0, self._tick)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._timer_at = None
