"""Unit, protocol and fuzz tests of zkwire's own internals (no sockets, no server).

Shared helpers live here so every test module can ``from . import ...`` them:

* ``value_strategy(construct)``: a hypothesis strategy producing values that the
  jute construct (a primitive, a Vector or a Record's struct) can build;
* ``CoreHarness``: drives the sans-IO :class:`zkwire.server.core.frontend.ServerCore`
  with a :class:`StandaloneReplicator` over a :class:`MemoryLog` and a fake
  clock, the way the Twisted edge does, and collects outbox tuples.
"""
from __future__ import annotations

from types import SimpleNamespace

from hypothesis import strategies as st

from zkwire import records as r
from zkwire.consts import OpCode, Perms
from zkwire.jute import Bool
from zkwire.jute.core import _BufferConstruct, _UStringConstruct, _VectorConstruct

INT32 = st.integers(-(2 ** 31), 2 ** 31 - 1)
INT64 = st.integers(-(2 ** 63), 2 ** 63 - 1)
# Text that survives UTF-8 (no lone surrogates).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def value_strategy(con):
    """A strategy for values ``con`` can build (``con`` a jute construct)."""
    from construct import FormatField, Renamed, Struct

    if isinstance(con, Renamed):
        return value_strategy(con.subcon)
    if isinstance(con, _BufferConstruct):
        return st.none() | st.binary(max_size=24)
    if isinstance(con, _UStringConstruct):
        return st.none() | TEXT
    if isinstance(con, _VectorConstruct):
        return st.none() | st.lists(value_strategy(con.subcon), max_size=4)
    if is_bool(con):
        return st.booleans()
    if isinstance(con, FormatField):
        if con.fmtstr in (">i", ">l"):
            return INT32
        if con.fmtstr == ">q":
            return INT64
        raise AssertionError("unexpected format %r" % con.fmtstr)
    if isinstance(con, Struct):
        return st.fixed_dictionaries({sc.name: value_strategy(sc.subcon) for sc in con.subcons})
    raise AssertionError("no strategy for %r" % (con,))


def is_bool(con) -> bool:
    """The jute boolean construct (construct's Flag in older zkwire versions)."""
    from construct import Flag

    return con is Bool or con is Flag or type(con) is type(Bool)


def record_strategy(record):
    return value_strategy(record.struct)


# --- the sans-IO core driver ---------------------------------------------------------------

OPEN_ACL = [dict(perms=Perms.ALL, id=dict(scheme="world", id="anyone"))]


def acl(perms, scheme, id_):
    return r.ACL.make(perms, r.Id.make(scheme, id_))


def create_req(path, data=b"", flags=0, acl_list=None):
    return r.CreateRequest.parse(r.CreateRequest.build(dict(
        path=path, data=data, acl=OPEN_ACL if acl_list is None else acl_list, flags=flags)))


def connect_req(timeout=3000, sid=0, passwd=b"", last_zxid=0, protocol=0):
    return SimpleNamespace(protocolVersion=protocol, lastZxidSeen=last_zxid, timeOut=timeout,
                           sessionId=sid, passwd=passwd)


class CoreHarness:
    """A ServerCore under the same driver the server runs (server/core/driver.py);
    the harness does the I/O half of the contract: persist what ``ready()``
    hands out (to a MemoryLog that keeps it) and report it persisted."""

    def __init__(self, tick_ms=500, now=0, **config):
        from zkwire.server.core.frontend import CoreConfig, ServerCore
        from zkwire.server.core.driver import StandaloneDriver
        from zkwire.server.core.replicator import StandaloneReplicator
        from zkwire.server.storage.store import MemoryLog

        self.log = MemoryLog(keep=True)
        self.rep = StandaloneReplicator(self.log)
        self.now = now
        self.core = ServerCore(CoreConfig(tick_ms=tick_ms, **config), self.rep, now)
        self.driver = StandaloneDriver(self.core, self.rep)
        self._port = 40000

    # --- connections -------------------------------------------------------------
    def open(self, ip="127.0.0.1"):
        self._port += 1
        return self.core.open_conn("%s:%d" % (ip, self._port), ip, self.now)

    def connect(self, timeout=3000, sid=0, passwd=b"", last_zxid=0, ip="127.0.0.1", flush=True,
                read_only_field=False):
        conn = self.open(ip)
        self.core.connect(conn, connect_req(timeout, sid, passwd, last_zxid), read_only_field,
                          self.now)
        if flush:
            self.flush()
        return conn

    def session(self, timeout=3000):
        """A connected, established session with its outbox emptied."""
        conn = self.connect(timeout)
        out = self.take(conn)
        assert out and out[0][0] == "connect", out
        return conn

    # --- the edge's loop ----------------------------------------------------------
    def flush(self, now=None):
        if now is not None:
            self.now = now
        while True:
            batch = self.driver.ready().persist
            if not batch:
                return
            self.rep.persist(batch)
            self.driver.persisted(batch[-1][0].zxid, self.now)

    def req(self, conn, xid, op, request=None, flush=True):
        self.core.request(conn, xid, op, request, self.now)
        if flush:
            self.flush()

    def tick(self, now):
        self.now = now
        self.driver.tick(now)
        self.flush()

    @staticmethod
    def take(conn):
        out = conn.outbox
        conn.outbox = []
        return out

    def call(self, conn, xid, op, request=None):
        """Send one request, flush, return everything the connection got."""
        self.req(conn, xid, op, request)
        return self.take(conn)

    # --- conveniences ----------------------------------------------------------
    def create(self, conn, path, data=b"", flags=0, xid=1000):
        out = self.call(conn, xid, OpCode.create, create_req(path, data, flags))
        reply = replies(out)[-1]
        assert reply[3] == 0, reply
        return reply[5].path


def replies(out):
    return [o for o in out if o[0] == "reply"]


def events(out):
    return [(o[2], o[4]) for o in out if o[0] == "event"]


def kinds(out):
    return [o[0] for o in out]
