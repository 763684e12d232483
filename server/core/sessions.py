"""The session table: ids, passwords, timeouts and expiry.

Theory of operation
-------------------
A session is created by a createSession txn and removed by a closeSession txn;
between the two its deadline is pushed forward by every packet the client sends
(``touch``).  Like ZooKeeper's SessionTrackerImpl, deadlines are rounded *up* to
the next multiple of tickTime, so expiry is checked once per tick in buckets.

The table never reads a clock: ``touch`` and ``expired`` take ``now_ms``.  It
decides *which* sessions are dead; the caller turns each into a closeSession txn
through the normal write path, so replicas agree on it.

Session ids and passwords are made the way ZooKeeper makes them, so a session
survives a move of the dataDir between zkwire and ZooKeeper: the id is
``(server_id << 56) | ((start_ms << 24) >> 8)`` incremented per session, and the
password is 16 bytes of ``java.util.Random(id ^ 0xB3415C00).nextBytes``.
"""
from __future__ import annotations

SUPER_SECRET = 0xB3415C00
_MASK48 = (1 << 48) - 1
_MASK64 = (1 << 64) - 1


def _signed64(v: int) -> int:
    v &= _MASK64
    return v - (1 << 64) if v >= 1 << 63 else v


def java_random_bytes(seed: int, n: int) -> bytes:
    """``new java.util.Random(seed).nextBytes(new byte[n])``, bit for bit."""
    state = (seed ^ 0x5DEECE66D) & _MASK48
    out = bytearray()
    while len(out) < n:
        state = (state * 0x5DEECE66D + 0xB) & _MASK48
        rnd = state >> 16  # next(32), as an unsigned 32-bit value
        for _ in range(min(4, n - len(out))):
            out.append(rnd & 0xFF)
            rnd >>= 8
    return bytes(out)


def session_password(session_id: int) -> bytes:
    return java_random_bytes(session_id ^ SUPER_SECRET, 16)


def initial_session_id(server_id: int, now_ms: int) -> int:
    """ZooKeeper's SessionTrackerImpl.initializeNextSessionId."""
    nxt = ((now_ms << 24) & _MASK64) >> 8
    nxt |= (server_id << 56) & _MASK64
    if nxt == 1 << 63:  # Long.MIN_VALUE is the container owner marker
        nxt += 1
    return _signed64(nxt)


class Session:
    __slots__ = ("session_id", "timeout_ms", "expire_at_ms", "closing")

    def __init__(self, session_id, timeout_ms):
        self.session_id = session_id
        self.timeout_ms = timeout_ms
        self.expire_at_ms = 0
        self.closing = False


class SessionTable:
    def __init__(self, tick_ms: int, server_id: int = 0, start_ms: int = 0):
        self.tick_ms = tick_ms
        self.sessions = {}
        #: On a learner: the sessions touched since the leader last asked (a
        #: set, reported in the next PING); None elsewhere.
        self.touched = None
        self._next_id = initial_session_id(server_id, start_ms)

    def next_session_id(self) -> int:
        sid = self._next_id
        self._next_id = _signed64(self._next_id + 1)
        return sid

    def _deadline(self, now_ms, timeout_ms):
        t = self.tick_ms
        return ((now_ms + timeout_ms) // t + 1) * t

    # --- committed changes (driven by createSession/closeSession txns) -------
    def add(self, session_id, timeout_ms, now_ms) -> Session:
        s = self.sessions.get(session_id)
        if s is None:
            s = Session(session_id, timeout_ms)
            self.sessions[session_id] = s
        s.timeout_ms = timeout_ms
        s.expire_at_ms = self._deadline(now_ms, timeout_ms)
        return s

    def remove(self, session_id) -> None:
        self.sessions.pop(session_id, None)

    # --- liveness -----------------------------------------------------------
    def touch(self, session_id, now_ms, timeout_ms=None) -> bool:
        s = self.sessions.get(session_id)
        if s is None or s.closing:
            return False
        if timeout_ms is not None:
            s.timeout_ms = timeout_ms
        if self.touched is not None:
            self.touched.add(session_id)
        deadline = self._deadline(now_ms, s.timeout_ms)
        if deadline > s.expire_at_ms:
            s.expire_at_ms = deadline
        return True

    def is_live(self, session_id) -> bool:
        s = self.sessions.get(session_id)
        return s is not None and not s.closing

    def mark_closing(self, session_id) -> None:
        s = self.sessions.get(session_id)
        if s is not None:
            s.closing = True

    def expired(self, now_ms) -> list:
        """Sessions whose deadline has passed and that are not already closing,
        oldest deadline first (ties by id, so the order is deterministic)."""
        dead = [s for s in self.sessions.values() if not s.closing and s.expire_at_ms <= now_ms]
        dead.sort(key=lambda s: (s.expire_at_ms, s.session_id))
        return dead
