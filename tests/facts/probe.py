"""Re-observe, on Apache ZooKeeper 3.8.0, every fact written down in tests/ZOOKEEPER_FACTS.md.

Run it from the repository root::

    .venv/bin/python tests/facts/probe.py              # every fact
    .venv/bin/python tests/facts/probe.py -k multi     # facts whose id contains "multi"
    .venv/bin/python tests/facts/probe.py --list       # fact ids, no server

It starts Apache ZooKeeper (Debian's ``zookeeper`` package) on free loopback ports
through ``tests/servers.py`` and talks to it with the independent raw client
``tests/integration/rawclient.py``; path validation is also asked of the ZooKeeper
jar's own ``PathUtils`` through a small Java program compiled on the fly.  It does not
import zkwire.  It prints one line per fact::

    §N fact-id: observed value

and exits 1 if any fact does not hold (those lines say ``DOES NOT HOLD``).  Every
server it starts is stopped, by its PID, before it exits.

Servers: ``fresh`` is looked at once, before anything else touches it (§0, session id
layout); ``main`` (tickTime 500, a super digest configured) serves the other facts,
each fact getting a wiped tree and closing every session it opened, so the zxid
arithmetic inside a fact is exact.  The others, each started the first time a fact asks
for it, differ in one setting (``SERVER_SYSPROPS`` / ``SERVER_CFG``): ``skipacl*`` (the
values of zookeeper.skipACL), ``sessionless-1500`` (zookeeper.nio.sessionlessCnxnTimeout),
``slow-reader`` and ``slow-reader-nocache`` (§12; logging through slf4j-simple, the second
with zookeeper.maxResponseCacheSize=0, which runs out of memory on purpose).  The §12
facts take about a minute, half of it waiting for the default 10 s handshake timeout.
"""
from __future__ import annotations

import argparse
import base64
import glob
import hashlib
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace as NS

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path[:0] = [TESTS, os.path.join(TESTS, "integration")]

from servers import ZK_CLASSPATH, ServerProcess, apache_zookeeper_available, wait_until  # noqa: E402

from rawclient import (  # noqa: E402
    AUTH, AUTH_FAILED, AUTH_XID, BAD_ARGUMENTS, BAD_VERSION, CHECK, CLOSE_SESSION, CREATE,
    CREATE2, CREATE_SESSION, DELETE, EXISTS, GET_ACL, GET_CHILDREN, GET_CHILDREN2, GET_DATA,
    INVALID_ACL, MARSHALLING_ERROR, MULTI, MULTI_END, MULTI_READ, NO_AUTH,
    NO_CHILDREN_FOR_EPHEMERALS, NO_NODE, NODE_CHILDREN_CHANGED, NODE_CREATED,
    NODE_DATA_CHANGED, NODE_DELETED, NODE_EXISTS, NOTIFICATION_XID, OK, OPEN_ACL, PERM_ALL,
    PERM_READ, PING, PING_XID, RUNTIME_INCONSISTENCY, SET_ACL, SET_DATA, SET_WATCHES,
    SET_WATCHES_XID, STAT_SIZE, SYNC, SYNC_CONNECTED, UNIMPLEMENTED, ConnectionClosed,
    FrameTimeout, RawConnection, Reader, auth_req, boolean, buffer, check_req, create_req,
    delete_req, four_letter, int32, int64, multi_header, multi_req, parse_connect_response,
    parse_frame, parse_multi_response, path_only_req, path_req, set_acl_req, set_data_req,
    set_watches_req, string, zero_connect_response,
)

# Opcodes rawclient does not name (org.apache.zookeeper.ZooDefs.OpCode).
GET_EPHEMERALS = 103
GET_ALL_CHILDREN_NUMBER = 104
WHO_AM_I = 107
NOT_EMPTY = -111

TICK_MS = 500
SUPER_USER_PASS = "super:pw"
SUPER_SECRET = 0xB3415C00          # ZooKeeperServer.superSecret
EVENT = {NODE_CREATED: "NodeCreated", NODE_DELETED: "NodeDeleted",
         NODE_DATA_CHANGED: "NodeDataChanged", NODE_CHILDREN_CHANGED: "NodeChildrenChanged"}
CREATED, DELETED, CHANGED, CHILDREN = (NODE_CREATED, NODE_DELETED, NODE_DATA_CHANGED,
                                       NODE_CHILDREN_CHANGED)


# ------------------------------------------------------------------ checking


class NotHeld(Exception):
    """The server did not behave as the fact says."""


def expect(cond, what: str) -> None:
    if not cond:
        raise NotHeld(what)


def eq(observed, expected, what: str = "") -> None:
    if observed != expected:
        raise NotHeld(f"{what}: observed {observed!r}, expected {expected!r}")


FACTS: list = []


def fact(section: int, fid: str, server: str = "main"):
    def deco(fn):
        FACTS.append(NS(section=section, id=fid, fn=fn, server=server))
        return fn
    return deco


# ------------------------------------------------------------------ independent helpers


def digest(user_pass: str) -> str:
    """DigestAuthenticationProvider.generateDigest: user ':' base64(sha1(user:pass))."""
    user = user_pass.split(":", 1)[0]
    return user + ":" + base64.b64encode(hashlib.sha1(user_pass.encode()).digest()).decode()


def java_random_bytes(seed: int, n: int) -> bytes:
    """java.util.Random(seed).nextBytes(new byte[n]), written from the JDK's documented
    48-bit linear congruential generator."""
    mask = (1 << 48) - 1
    s = (seed ^ 0x5DEECE66D) & mask
    out = bytearray()
    while len(out) < n:
        s = (s * 0x5DEECE66D + 0xB) & mask
        rnd = s >> 16                      # next(32)
        for _ in range(min(4, n - len(out))):
            out.append(rnd & 0xFF)
            rnd >>= 8
    return bytes(out)


def expected_passwd(sid: int) -> bytes:
    return java_random_bytes(sid ^ SUPER_SECRET, 16)


def stat_tuple(st) -> tuple:
    return (st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.cversion, st.aversion,
            st.ephemeralOwner, st.dataLength, st.numChildren, st.pzxid)


def ev_names(evs) -> list:
    return [(EVENT.get(t, t), p) for t, p in evs]


class Conn(RawConnection):
    """A RawConnection that may be bound to a chosen loopback source address."""

    def __init__(self, port: int, source: str | None = None, timeout: float = 5.0):
        if source is None:
            super().__init__(port, timeout=timeout)
            return
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.default_timeout = timeout
        self._buf = b""
        self._eof = False
        self._next_xid = 0
        self.session = None

    # -- small conveniences over rawclient ------------------------------------

    def err(self, op: int, body: bytes = b"") -> int:
        return self.call(op, body).err

    def create(self, path, data=b"", flags=0, acls=OPEN_ACL) -> str:
        f = self.call(CREATE, create_req(path, data, acls, flags))
        eq(f.err, OK, f"create {path!r} flags {flags}")
        return f.reader().string()

    def stat(self, path) -> object:
        f = self.call(EXISTS, path_req(path))
        eq(f.err, OK, f"exists {path!r}")
        return f.reader().stat()

    def zxid(self) -> int:
        return self.last_zxid()

    def events(self) -> list:
        """(type, path) of the notifications that arrive before a sync barrier's reply."""
        frames, _ = self.barrier()
        return [(f.event().type, f.event().path) for f in frames]

    def event_frames(self) -> list:
        frames, _ = self.barrier()
        return frames

    def auth(self, scheme: str, data) -> object:
        return self.call(AUTH, auth_req(scheme, data), xid=AUTH_XID)

    def nodelay(self) -> None:
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def close_instant(conn: RawConnection, timeout: float) -> float:
    """Wait for the server to close ``conn`` without sending a byte; return when."""
    deadline = time.monotonic() + timeout
    while True:
        expect(not conn._buf, f"expected a silent close, got bytes {conn._buf[:40].hex()}")
        try:
            conn._fill(deadline)
        except ConnectionClosed:
            return time.monotonic()
        except FrameTimeout:
            raise NotHeld(f"connection still open after {timeout}s") from None


def event_instant(conn: RawConnection, timeout: float):
    """Wait for one notification on ``conn``; return (instant, frame)."""
    f = conn.read_frame(timeout)
    expect(f.is_notification, f"expected a notification, got {f.summary()}")
    return time.monotonic(), f


# ------------------------------------------------------------------ servers and context


# The servers other than ``main``, by name, with the Java system properties they get
# (on top of tests/servers.py's zookeeper.extendedTypesEnabled=true).
SERVER_SYSPROPS = {
    "fresh": {},
    "skipacl": {"zookeeper.skipACL": "yes"},
    "skipacl-true": {"zookeeper.skipACL": "true"},
    "skipacl-YES": {"zookeeper.skipACL": "YES"},
    "skipacl-1": {"zookeeper.skipACL": "1"},
    "skipacl-cfg": {},
    "sessionless-1500": {"zookeeper.nio.sessionlessCnxnTimeout": "1500"},
    "slow-reader": {},
    "slow-reader-nocache": {"zookeeper.maxResponseCacheSize": "0"},
}
# zoo.cfg lines on top of tests/servers.py's DEFAULT_CFG (and tickTime, set below).
SERVER_CFG = {
    "skipacl-cfg": {"skipACL": "yes"},
}
# Debian's classpath has no SLF4J binding, so ZooKeeper logs nothing; these servers get
# slf4j-simple (log lines on stderr, into server.log) so that an OutOfMemoryError shows.
SLF4J_SIMPLE = "/usr/share/java/slf4j-simple.jar"
LOGGING_SERVERS = {"slow-reader", "slow-reader-nocache"}


class LoggingServerProcess(ServerProcess):
    def command(self) -> list:
        cmd = super().command()
        i = cmd.index("-cp")
        cmd[i + 1] += ":" + SLF4J_SIMPLE
        return cmd

    def full_log(self) -> str:
        try:
            with open(os.path.join(self.workdir, "server.log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


def running(srv: ServerProcess) -> bool:
    return srv.proc is not None and srv.proc.poll() is None


class Ctx:
    def __init__(self):
        self.servers: dict = {}
        self.conns: list = []          # (server, Conn) opened by the current fact
        self.sessions: dict = {}       # (port, sid) -> passwd, opened by the current fact
        self.fresh_data = None
        self.java_dir = None
        self.jaas_dir = None

    # -- servers
    def server(self, name: str) -> ServerProcess:
        if name not in self.servers:
            if name == "main":
                props = {"zookeeper.DigestAuthenticationProvider.superDigest":
                         digest(SUPER_USER_PASS)}
            elif name in SERVER_SYSPROPS:
                props = {k: (self.jaas_file() if v == JAAS else v)
                         for k, v in SERVER_SYSPROPS[name].items()}
            else:
                raise ValueError(name)
            kind = LoggingServerProcess if name in LOGGING_SERVERS else ServerProcess
            srv = kind("zookeeper", cfg=SERVER_CFG.get(name), sysprops=props)
            srv.cfg["tickTime"] = str(TICK_MS)
            t0 = time.monotonic()
            srv.start()
            srv.started_between_ms = (int(t0 * 1000), int(time.monotonic() * 1000))
            self.servers[name] = srv
        return self.servers[name]

    def jaas_file(self) -> str:
        """§15's JAAS file, written once (removed by stop_all)."""
        if self.jaas_dir is None:
            self.jaas_dir = tempfile.mkdtemp(prefix="probe-jaas-")
            with open(os.path.join(self.jaas_dir, "jaas.conf"), "w") as f:
                f.write(JAAS_TEXT)
        return os.path.join(self.jaas_dir, "jaas.conf")

    @property
    def main(self) -> ServerProcess:
        return self.server("main")

    def stop_all(self) -> None:
        for srv in self.servers.values():
            srv.cleanup()          # terminates its own Popen (by PID), removes the dataDir
        self.servers.clear()
        if self.java_dir:
            shutil.rmtree(self.java_dir, ignore_errors=True)
        if self.jaas_dir:
            shutil.rmtree(self.jaas_dir, ignore_errors=True)

    # -- connections
    def conn(self, handshake: bool = True, server: ServerProcess | None = None,
             source: str | None = None, **kw) -> Conn:
        srv = server or self.main
        c = Conn(srv.port, source)
        self.conns.append((srv, c))
        if handshake:
            r = c.handshake(**kw)
            expect(r.session_id != 0, f"handshake refused: {r.raw.hex()}")
            self.track(srv, r)
        return c

    def track(self, srv, resp) -> None:
        if resp.session_id:
            self.sessions[(srv.port, resp.session_id)] = resp.passwd

    def resume(self, c: Conn, server: ServerProcess | None = None, **kw) -> Conn:
        other = self.conn(handshake=False, server=server)
        r = other.handshake(session_id=c.session.session_id, passwd=c.session.passwd, **kw)
        eq(r.session_id, c.session.session_id, "resumed session id")
        return other

    def reset(self) -> None:
        """Close every session the fact opened and wipe the tree of every server it used."""
        used = {srv.port: srv for srv, _ in self.conns}
        for _, c in self.conns:
            c.close()
        for (port, sid), passwd in self.sessions.items():
            try:
                c = Conn(port)
                if c.handshake(session_id=sid, passwd=passwd).session_id == sid:
                    c.call(CLOSE_SESSION)
                c.close()
            except (ConnectionClosed, OSError, AssertionError, ValueError):
                pass
        self.conns, self.sessions = [], {}
        for srv in used.values():
            if srv is self.servers.get("fresh") or not running(srv):
                continue
            c = Conn(srv.port)
            c.handshake()
            if srv is self.servers.get("main"):
                eq(c.auth("digest", SUPER_USER_PASS).err, OK, "super addauth for the wipe")
            wipe(c, "/")
            c.call(CLOSE_SESSION)
            c.close()


KEEP = {"/zookeeper", "/zookeeper/quota", "/zookeeper/config"}


def wipe(c: Conn, path: str) -> None:
    f = c.call(GET_CHILDREN, path_req(path))
    if f.err != OK:
        return
    for child in f.reader().string_list():
        full = path.rstrip("/") + "/" + child
        wipe(c, full)
        if full not in KEEP:
            c.call(DELETE, delete_req(full))


# ================================================================== §0 the fresh tree


def fresh_info(ctx: Ctx) -> NS:
    """Everything §0 looks at, taken on a server nothing else has touched."""
    if ctx.fresh_data is not None:
        return ctx.fresh_data
    srv = ctx.server("fresh")
    d = NS(srvr=four_letter(srv.port, "srvr"), started=srv.started_between_ms)
    a = Conn(srv.port)
    d.first = a.handshake()
    d.zxid_after_first = a.zxid()
    b = Conn(srv.port)
    d.second = b.handshake()
    d.zxid_after_second = a.zxid()
    d.nodes = {}
    for p in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        f = a.call(GET_DATA, path_req(p))
        rd = f.reader()
        data, st = rd.buffer(), rd.stat()
        acl = a.call(GET_ACL, path_only_req(p)).reader().acl_list()
        kids = a.call(GET_CHILDREN, path_req(p)).reader().string_list()
        d.nodes[p] = NS(data=data, stat=st, acl=acl, children=kids)
    d.root_seq = a.create("/", flags=2)
    d.srvr_after_create = four_letter(srv.port, "srvr")
    a.call(DELETE, delete_req(d.root_seq))
    for c in (a, b):
        c.call(CLOSE_SESSION)
        c.close()
    ctx.fresh_data = d
    return d


def srvr_field(text: str, name: str) -> str:
    m = re.search(r"^%s: (.*)$" % re.escape(name), text, re.M)
    return m.group(1).strip() if m else None


@fact(0, "fresh-srvr", "fresh")
def _(ctx):
    d = fresh_info(ctx)
    zx, count = srvr_field(d.srvr, "Zxid"), srvr_field(d.srvr, "Node count")
    eq((zx, count), ("0x0", "5"), "srvr on a fresh server")
    count1 = srvr_field(d.srvr_after_create, "Node count")
    eq(count1, "6", "srvr after one create")
    return f"srvr: Zxid {zx}, Node count {count} (4 znodes; 6 after one create)"


@fact(0, "fresh-first-sessions-take-zxids", "fresh")
def _(ctx):
    d = fresh_info(ctx)
    eq((d.zxid_after_first, d.zxid_after_second), (1, 2), "last zxid after 1st/2nd session")
    return "last zxid 1 after the first session, 2 after the second"


@fact(0, "fresh-children", "fresh")
def _(ctx):
    n = fresh_info(ctx).nodes
    eq(n["/"].children, ["zookeeper"], "children of /")
    eq(sorted(n["/zookeeper"].children), ["config", "quota"], "children of /zookeeper")
    eq((n["/zookeeper/quota"].children, n["/zookeeper/config"].children), ([], []), "leaves")
    return f"/ -> {n['/'].children}, /zookeeper -> {n['/zookeeper'].children}"


@fact(0, "fresh-stats", "fresh")
def _(ctx):
    n = fresh_info(ctx).nodes
    want = {
        "/": (0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0),
        "/zookeeper": (0, 0, 0, 0, 0, -2, 0, 0, 0, 2, 0),
        "/zookeeper/quota": (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        "/zookeeper/config": (0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0),
    }
    for p, st in want.items():
        eq(stat_tuple(n[p].stat), st, f"stat of {p}")
    return "; ".join(f"{p} {stat_tuple(n[p].stat)}" for p in want)


@fact(0, "fresh-data-and-acls", "fresh")
def _(ctx):
    n = fresh_info(ctx).nodes
    for p in n:
        eq(n[p].data, b"", f"data of {p} (empty, not null)")
    eq([n[p].acl for p in ("/", "/zookeeper", "/zookeeper/quota")],
       [[(31, "world", "anyone")]] * 3, "ACLs")
    eq(n["/zookeeper/config"].acl, [(PERM_READ, "world", "anyone")], "ACL of /zookeeper/config")
    return "data b'' everywhere; ACL world:anyone 31, /zookeeper/config world:anyone 1 (READ)"


@fact(0, "fresh-root-sequential", "fresh")
def _(ctx):
    d = fresh_info(ctx)
    eq(d.root_seq, "/0000000000", "create '/' SEQUENTIAL on a fresh tree")
    return f"create '/' flags 2 -> {d.root_seq}"


# ================================================================== §1 zxids in replies


@fact(1, "reply-zxids")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    seq = [
        (1, CREATE, create_req("/q1"), 1, OK),
        (2, GET_DATA, path_req("/q1"), 1, OK),
        (3, EXISTS, path_req("/q1"), 1, OK),
        (4, EXISTS, path_req("/nonexist"), 1, NO_NODE),
        (5, GET_CHILDREN, path_req("/"), 1, OK),
        (6, SET_DATA, set_data_req("/q1", b"x"), 2, OK),
        (7, CREATE, create_req("/q1"), 3, NODE_EXISTS),
        (8, SET_DATA, set_data_req("/q1", b"", 99), 4, BAD_VERSION),
        (9, DELETE, delete_req("/nonexist"), 5, NO_NODE),
        (10, CREATE, create_req("/np/x"), 6, NO_NODE),
        (11, CREATE2, create_req("/q1b"), 7, OK),
        (13, MULTI, multi_req([(CREATE, create_req("/m1")), (CREATE, create_req("/q1"))]), 8, OK),
        (14, MULTI, multi_req([(CREATE, create_req("/m2"))]), 9, OK),
        (15, SYNC, path_only_req("/"), 9, OK),
        (16, DELETE, delete_req("/q1b"), 10, OK),
    ]
    got = []
    for xid, op, body, dz, e in seq:
        f = c.call(op, body, xid=xid)
        got.append((xid, f.zxid - z, f.err))
        eq((f.xid, f.zxid - z, f.err), (xid, dz, e), f"reply to xid {xid} (zxid relative to {z})")
    eq(c.err(EXISTS, path_req("/m1")), NO_NODE, "/m1 after the failed multi")
    eq(c.stat("/m2").czxid - z, 9, "czxid of /m2")
    return "(xid, zxid-z, err): " + " ".join(f"{x}:{d}:{e}" for x, d, e in got)


@fact(1, "ping-reply")
def _(ctx):
    c = ctx.conn()
    c.create("/a")
    z = c.zxid()
    f = c.call(PING, xid=PING_XID)
    eq((f.summary(), len(f.raw)), ((PING_XID, z, OK), 16), "ping reply")
    eq(c.zxid(), z, "zxid after ping")
    return f"RH({f.xid}, last zxid, 0), 16 bytes: {f.raw.hex()}"


@fact(1, "auth-reply")
def _(ctx):
    c = ctx.conn()
    c.create("/a")
    z = c.zxid()
    f = c.auth("digest", b"u:p")
    eq((f.summary(), f.raw), ((AUTH_XID, 0, OK), bytes.fromhex("fffffffc" + "00" * 12)),
       "addauth reply")
    eq(c.zxid(), z, "zxid after addauth")
    return f"RH(-4, 0, 0), header only: {f.raw.hex()} (zxid field 0 although last zxid is {z})"


@fact(1, "set-watches-reply")
def _(ctx):
    c = ctx.conn()
    c.create("/a")
    z = c.zxid()
    f = c.call(SET_WATCHES, set_watches_req(z), xid=SET_WATCHES_XID)
    eq((f.summary(), f.body), ((SET_WATCHES_XID, z, OK), b""), "setWatches reply")
    eq(c.zxid(), z, "zxid after setWatches")
    return f"RH(-8, last zxid, 0), no body; no zxid consumed"


@fact(1, "close-session-reply")
def _(ctx):
    c = ctx.conn()
    sid, pw = c.session.session_id, c.session.passwd
    c.create("/e", flags=1)
    other = ctx.conn()
    z = other.zxid()
    f = c.call(CLOSE_SESSION, xid=17)
    eq((f.summary(), f.body), ((17, z + 1, OK), b""), "closeSession reply")
    close_instant(c, 5)
    eq(other.zxid(), z + 1, "zxid after closeSession")
    eq(other.err(EXISTS, path_req("/e")), NO_NODE, "ephemeral after closeSession")
    again = ctx.conn(handshake=False)
    again.send_frame(again.connect_request(session_id=sid, passwd=pw, last_zxid=z + 1))
    eq(again.read_payload(), zero_connect_response(), "reconnect to the closed session")
    close_instant(again, 5)
    return "RH(xid, zxid of the closeSession txn, 0), no body, then EOF; ephemerals gone"


@fact(1, "sync-echoes-path")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    out = []
    for p in ("/", "a", "/nonexist"):
        f = c.call(SYNC, path_only_req(p))
        rd = f.reader()
        eq((f.zxid, f.err, rd.string()), (z, OK, p), f"sync {p!r}")
        expect(rd.at_end(), "sync body has only the path")
        out.append(p)
    eq(c.zxid(), z, "zxid after syncs")
    return f"sync {out} -> OK, body = the request's path, zxid = last zxid, none consumed"


@fact(1, "xids-echoed")
def _(ctx):
    c = ctx.conn()
    xids = [100, 5, 5, -7, 0]
    got = [c.call(EXISTS, path_req("/"), xid=x).xid for x in xids]
    eq(got, xids, "reply xids")
    return f"exists with xids {xids} -> replies carry {got}"


@fact(1, "notification-frame")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    a.create("/q1")
    b.call(GET_DATA, path_req("/q1", watch=True))
    w = a.call(SET_DATA, set_data_req("/q1", b"v"))
    f = b.read_frame()
    want = bytes.fromhex("ffffffff" "ffffffffffffffff" "00000000"
                         "00000003" "00000003" "00000003") + b"/q1"
    eq(f.raw, want, "notification payload")
    return f"{f.raw.hex()} (zxid field -1; the setData's zxid was {w.zxid:#x})"


@fact(1, "error-replies-header-only")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    a.create("/x")
    a.create("/sec", acls=[(PERM_ALL, "digest", digest("nobody:pw"))])
    cases = [(GET_DATA, path_req("/nope"), NO_NODE), (EXISTS, path_req("/nope"), NO_NODE),
             (GET_CHILDREN, path_req("/nope"), NO_NODE), (GET_ACL, path_only_req("/nope"), NO_NODE),
             (CREATE, create_req("/x"), NODE_EXISTS), (SET_DATA, set_data_req("/x", b"", 5), BAD_VERSION),
             (GET_DATA, path_req("/sec"), NO_AUTH), (GET_CHILDREN2, path_req("/sec"), NO_AUTH),
             (GET_ACL, path_only_req("/sec"), NO_AUTH), (SET_DATA, set_data_req("/sec", b""), NO_AUTH)]
    for op, body, e in cases:
        f = b.call(op, body)
        eq((f.err, len(f.raw)), (e, 16), f"error reply to op {op}")
    return f"{len(cases)} error replies (NONODE, NODEEXISTS, BADVERSION, NOAUTH) are 16-byte headers"


@fact(1, "reply-bodies")
def _(ctx):
    c = ctx.conn()
    c.create("/g", b"y")
    c.create("/g/a")

    def exact(f, *parts):
        rd = f.reader()
        vals = [getattr(rd, p)() for p in parts]
        expect(rd.at_end(), f"op body has trailing bytes: {f.body.hex()}")
        return vals

    data, st = exact(c.call(GET_DATA, path_req("/g")), "buffer", "stat")
    eq((data, st.dataLength), (b"y", 1), "getData body")
    exact(c.call(EXISTS, path_req("/g")), "stat")
    eq(exact(c.call(GET_CHILDREN, path_req("/g")), "string_list"), [["a"]], "getChildren")
    exact(c.call(GET_CHILDREN2, path_req("/g")), "string_list", "stat")
    acl, _ = exact(c.call(GET_ACL, path_only_req("/g")), "acl_list", "stat")
    eq(acl, OPEN_ACL, "getACL body")
    eq(exact(c.call(CREATE, create_req("/h")), "string"), ["/h"], "create body")
    p, st = exact(c.call(CREATE2, create_req("/i")), "string", "stat")
    eq(p, "/i", "create2 path")
    exact(c.call(SET_DATA, set_data_req("/h", b"zz")), "stat")
    exact(c.call(SET_ACL, set_acl_req("/h", OPEN_ACL)), "stat")
    eq(c.call(DELETE, delete_req("/h")).body, b"", "delete body")
    eq(exact(c.call(SYNC, path_only_req("/g")), "string"), ["/g"], "sync body")
    return ("getData buf+Stat; exists Stat; getChildren vector; getChildren2 vector+Stat; "
            "getACL acls+Stat; create path; create2 path+Stat; setData/setACL Stat; "
            "delete empty; sync path")


@fact(1, "extra-read-bodies")
def _(ctx):
    c = ctx.conn()
    sid = c.session.session_id
    c.create("/p")
    c.create("/p/q")
    c.create("/p/q/r")
    c.create("/e", flags=1)
    f = c.call(WHO_AM_I)
    rd = f.reader()
    n = rd.int32()
    infos = [(rd.string(), rd.string()) for _ in range(n)]
    expect(rd.at_end(), "whoAmI body")
    eq(infos, [("ip", "127.0.0.1")], "whoAmI of an unauthenticated loopback client")
    f = c.call(GET_EPHEMERALS, path_only_req("/"))
    rd = f.reader()
    eph = rd.string_list()
    expect(rd.at_end(), "getEphemerals body")
    eq(eph, ["/e"], "getEphemerals /")
    f = c.call(GET_ALL_CHILDREN_NUMBER, path_only_req("/p"))
    rd = f.reader()
    num = rd.int32()
    expect(rd.at_end(), "getAllChildrenNumber body")
    eq(num, 2, "getAllChildrenNumber /p")
    return (f"whoAmI -> vector<ClientInfo(scheme, user)> {infos}; getEphemerals / -> {eph}; "
            f"getAllChildrenNumber /p -> int {num} (session {sid:#x})")


# ================================================================== §2 handshake


@fact(2, "connect-response-layout")
def _(ctx):
    out = []
    for ro in (None, False, True):
        c = ctx.conn(handshake=False)
        r = c.handshake(timeout_ms=3000, read_only=ro)
        ctx.track(ctx.main, r)
        want_len = 36 if ro is None else 37
        eq(len(r.raw), want_len, f"ConnectResponse length, request readOnly={ro}")
        eq(r.raw[:8], int32(0) + int32(3000), "protocolVersion 0, timeOut")
        eq(r.raw[16:20], int32(16), "password length 16")
        if ro is not None:
            eq(r.raw[-1:], b"\x00", "readOnly byte of a standalone server")
        out.append(f"readOnly={ro}: {len(r.raw)} bytes")
    return "; ".join(out) + " (int32 0, int32 timeOut, int64 sid, int32 16 + 16 bytes [, bool])"


@fact(2, "connect-trailing-bytes")
def _(ctx):
    c = ctx.conn(handshake=False)
    c.send_frame(c.connect_request(read_only=False) + b"\x01\x02\x03\x04\x05")
    r = parse_connect_response(c.read_payload())
    ctx.track(ctx.main, r)
    c.session = r
    eq((len(r.raw), r.read_only), (37, False), "response to a request with 5 extra bytes")
    eq(c.err(EXISTS, path_req("/")), OK, "the session works")
    return "readOnly byte + 5 extra bytes -> normal 37-byte response, session usable"


@fact(2, "timeout-negotiation")
def _(ctx):
    got = {}
    for asked, want in [(100, 1000), (3000, 3000), (100000, 10000), (0, 1000), (-5, 1000),
                        (1000, 1000), (10000, 10000)]:
        c = ctx.conn(timeout_ms=asked)
        got[asked] = c.session.timeout
        eq(c.session.timeout, want, f"negotiated timeout for {asked}")
    return f"tickTime {TICK_MS}: " + ", ".join(f"{a}->{t}" for a, t in got.items())


@fact(2, "new-session-ignores-password-and-version")
def _(ctx):
    for pw in (b"", None, b"garbage"):
        c = ctx.conn(passwd=pw)
        eq(c.session.passwd, expected_passwd(c.session.session_id), f"passwd for request {pw!r}")
    for pv in (1, -1, 5):
        c = ctx.conn(protocol_version=pv)
        eq(c.session.protocol_version, 0, f"protocolVersion in the response to {pv}")
    return "passwd b''/null/b'garbage' and protocolVersion 1/-1/5 all get a new session"


@fact(2, "client-ahead-closed")
def _(ctx):
    a = ctx.conn()
    z = a.zxid()
    for last in (z + 1, z + 100):
        c = ctx.conn(handshake=False)
        c.send_frame(c.connect_request(last_zxid=last))
        close_instant(c, 5)
    eq(a.zxid(), z, "zxid after refused handshakes")
    ctx.conn(last_zxid=z)
    z2 = a.zxid()
    eq(z2, z + 1, "handshake with lastZxidSeen == server's zxid")
    c = ctx.conn(handshake=False)
    c.send_frame(c.connect_request(session_id=a.session.session_id, passwd=a.session.passwd,
                                   last_zxid=z2 + 50))
    close_instant(c, 5)
    eq(a.err(EXISTS, path_req("/")), OK, "the session's live connection still answers")
    return ("lastZxidSeen > server zxid: EOF, no bytes, no zxid; equal is accepted; a reconnect "
            "that is ahead does not disturb the session's live connection")


@fact(2, "reconnect-moves-session")
def _(ctx):
    old = ctx.conn(timeout_ms=3000)
    sid, pw = old.session.session_id, old.session.passwd
    old.create("/e", flags=1)
    new = ctx.resume(old, timeout_ms=5000, last_zxid=old.zxid())
    eq((new.session.timeout, new.session.passwd), (5000, pw), "reconnect response")
    close_instant(old, 5)
    eq(new.err(GET_DATA, path_req("/e")), OK, "ephemeral survives")
    return f"same sid {sid:#x} and passwd, new timeout 5000; old connection closed silently"


@fact(2, "wrong-password")
def _(ctx):
    first = ctx.conn()
    sid = first.session.session_id
    live = first
    for bad in (b"x" * 16, b"short", b"", None):
        c = ctx.conn(handshake=False)
        c.send_frame(c.connect_request(session_id=sid, passwd=bad, last_zxid=live.zxid()))
        eq(c.read_payload(), zero_connect_response(), f"response to passwd {bad!r}")
        close_instant(c, 5)
        close_instant(live, 5)
        live = ctx.resume(first)
    eq(live.err(EXISTS, path_req("/")), OK, "session after the bad attempts")
    return ("36-byte all-zero ConnectResponse (timeOut 0, sid 0, 16 zero bytes), then EOF; the "
            "session's live connection is closed too; the session survives")


@fact(2, "unknown-session")
def _(ctx):
    sid = 0x0100000771F80099
    c = ctx.conn(handshake=False)
    c.send_frame(c.connect_request(session_id=sid, passwd=expected_passwd(sid)))
    eq(c.read_payload(), zero_connect_response(), "response for an unknown session")
    close_instant(c, 5)
    return "all-zero ConnectResponse, then EOF"


@fact(2, "pipelined-behind-handshake")
def _(ctx):
    other = ctx.conn()
    z = other.zxid()
    c = ctx.conn(handshake=False)
    connect = c.connect_request()
    c.send_raw(struct.pack(">i", len(connect)) + connect
               + b"".join(struct.pack(">i", len(p)) + p for p in (
                   int32(1) + int32(CREATE) + create_req("/early"),
                   int32(2) + int32(EXISTS) + path_req("/early"))))
    r = parse_connect_response(c.read_payload())
    ctx.track(ctx.main, r)
    c.session = r
    got = [c.read_frame().summary() for _ in range(2)]
    eq(got, [(1, z + 2, OK), (2, z + 2, OK)], "replies behind the handshake")
    return f"connect+create+exists in one write: ConnectResponse, then {got} (z={z})"


@fact(2, "connect-split-into-bytes")
def _(ctx):
    c = ctx.conn(handshake=False)
    c.nodelay()
    payload = c.connect_request(timeout_ms=3000)
    for byte in struct.pack(">i", len(payload)) + payload:
        c.send_raw(bytes([byte]))
    r = parse_connect_response(c.read_payload())
    ctx.track(ctx.main, r)
    eq(r.timeout, 3000, "timeout")
    return "handshake sent one byte per write is answered normally"


@fact(2, "malformed-connect-closed")
def _(ctx):
    good = RawConnection.connect_request(None, timeout_ms=2000, read_only=False)
    payloads = [b"", b"\x00" * 3, b"\x00" * 27, good[:30], good[:24] + int32(-2),
                int32(1) + int32(EXISTS) + b"\x00\x00\x00\x01/\x00"]
    for payload in payloads:
        c = ctx.conn(handshake=False)
        c.send_frame(payload)
        close_instant(c, 5)
    return (f"{len(payloads)} connect frames (empty, 3, 27 bytes, cut inside the password, "
            f"password length -2, a request header) -> EOF, no bytes")


@fact(2, "session-password")
def _(ctx):
    seen = []
    for _ in range(3):
        c = ctx.conn()
        eq(c.session.passwd, expected_passwd(c.session.session_id), "passwd")
        seen.append(f"{c.session.session_id:#x}")
    again = ctx.resume(c)
    eq(again.session.passwd, c.session.passwd, "passwd on reconnect")
    pairs = [(0x010000032F1C0008, "3f7e0ae23bcac14e9e67abfb19d24a69"),
             (0x010000032F1C0010, "746497e23cb3d2d9a020fde942fe5d2f"),
             (0x0100000771F80000, "7a782e017f1914eae8c08b0460db531a"),
             (0x010000079DDF0000, "d3d6d670643b94e169eda9594db41459")]
    for sid, hexpw in pairs:
        eq(expected_passwd(sid).hex(), hexpw, f"formula for the recorded session {sid:#x}")
    return (f"passwd == java.util.Random(sid ^ 0xB3415C00).nextBytes(16) for {seen}, on "
            f"reconnect, and for the 4 recorded (sid, passwd) pairs")


@fact(2, "session-id-layout", "fresh")
def _(ctx):
    d = fresh_info(ctx)
    s1, s2 = d.first.session_id, d.second.session_id
    eq(s1 >> 56, 1, "top byte (standalone server id 1)")
    eq(s1 & 0xFFFF, 0, "low 16 bits of the first session")
    eq(s2, s1 + 1, "second session id")
    mid = (s1 >> 16) & ((1 << 40) - 1)
    lo, hi = (t & ((1 << 40) - 1) for t in d.started)
    expect(lo - 5 <= mid <= hi + 5,
           f"bits 16..55 ({mid}) are not the monotonic ms of the server start ({lo}..{hi})")
    return (f"first sid {s1:#018x}, second {s2:#018x}: 0x01 << 56 | (monotonic ms at start, "
            f"{mid}, within {lo}..{hi}) << 16, then +1 per session")


# ================================================================== §3 paths and argument checks


@fact(3, "read-empty-path")
def _(ctx):
    c = ctx.conn()
    eq(c.call(GET_DATA, path_req("")).body, c.call(GET_DATA, path_req("/")).body, "getData ''")
    eq(c.call(EXISTS, path_req("")).body, c.call(EXISTS, path_req("/")).body, "exists ''")
    return "getData '' and exists '' answer with the root's data and Stat"


@fact(3, "read-odd-paths")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    cases = [(GET_DATA, "a", NO_NODE), (EXISTS, "a", NO_NODE), (GET_CHILDREN, "a", NO_NODE),
             (GET_ACL, "a", NO_NODE), (GET_DATA, "/a/", NO_NODE), (EXISTS, "//a", NO_NODE),
             (GET_DATA, "/a\x00b", NO_NODE), (EXISTS, "/a\x00b", BAD_ARGUMENTS),
             (GET_DATA, None, MARSHALLING_ERROR), (EXISTS, None, MARSHALLING_ERROR)]
    got = []
    for op, p, e in cases:
        body = path_only_req(p) if op == GET_ACL else path_req(p)
        f = c.call(op, body)
        eq((f.zxid, f.err), (z, e), f"op {op} path {p!r}")
        eq(c.err(EXISTS, path_req("/")), OK, "connection still usable")
        got.append(f"{op}:{p!r}:{f.err}")
    eq(c.zxid(), z, "zxid after the reads")
    return " ".join(got) + "; no zxid consumed, connection kept"


@fact(3, "null-data")
def _(ctx):
    c = ctx.conn()
    c.create("/n", None)
    rd = c.call(GET_DATA, path_req("/n")).reader()
    raw_len = struct.unpack(">i", rd.data[:4])[0]
    data, st = rd.buffer(), rd.stat()
    eq((raw_len, data, st.dataLength), (-1, None, 0), "getData of a node created with null data")
    return "create with data length -1 -> getData buffer length -1 (null), dataLength 0"


@fact(3, "special-nodes")
def _(ctx):
    c = ctx.conn()
    eq(c.err(SET_DATA, set_data_req("/zookeeper/config", b"")), NO_AUTH, "setData config")
    for p in ("/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/"):
        eq(c.err(DELETE, delete_req(p)), BAD_ARGUMENTS, f"delete {p}")
    eq(c.err(CREATE, create_req("/zookeeper/x")), OK, "create /zookeeper/x")
    return "setData /zookeeper/config NOAUTH; delete /, /zookeeper{,/quota,/config} BADARGUMENTS; create /zookeeper/x OK"


CREATE_CHECKS = [
    ("", 0, BAD_ARGUMENTS), ("a", 0, BAD_ARGUMENTS), ("/a/", 0, NO_NODE),
    ("//a", 0, BAD_ARGUMENTS), ("/a//b", 0, NO_NODE), ("/a/./b", 0, NO_NODE),
    ("/a/../b", 0, NO_NODE), ("/a/.", 0, NO_NODE), ("/a\x00b", 0, BAD_ARGUMENTS),
    ("/.", 0, BAD_ARGUMENTS), ("/..", 0, BAD_ARGUMENTS), ("/a\x01b", 0, BAD_ARGUMENTS),
    ("/a\x7fb", 0, BAD_ARGUMENTS), ("/a\uf000b", 0, BAD_ARGUMENTS), ("/a.b", 0, OK),
    ("/...", 0, OK), ("/v/.x", 0, OK), ("/v/x.", 0, OK), ("/v/..x", 0, OK),
    ("/v//x", 0, NO_NODE), ("/v/./x", 0, NO_NODE), ("/v/.", 0, BAD_ARGUMENTS),
    ("/v/..", 0, BAD_ARGUMENTS), ("/v/", 0, BAD_ARGUMENTS), ("/v/x/", 0, NO_NODE),
    ("/", 0, NODE_EXISTS), ("/seq/", 0, BAD_ARGUMENTS), ("/v//", 2, NO_NODE),
    ("/zookeeper/x", 0, OK), ("/zookeeper/quota/x", 0, OK), ("/nx/a", 7, BAD_ARGUMENTS),
    ("/v/f", 7, BAD_ARGUMENTS), ("/v/f", 99, BAD_ARGUMENTS), ("/v/f", -1, BAD_ARGUMENTS),
    ("/v/f", 4, OK), ("/v/f", 5, BAD_ARGUMENTS), ("/v/f", 6, BAD_ARGUMENTS),
    ("/eph/c", 0, NO_CHILDREN_FOR_EPHEMERALS), ("/eph/c/d", 0, NO_NODE),
    ("/eph/.", 0, BAD_ARGUMENTS), ("/eph/", 2, NO_CHILDREN_FOR_EPHEMERALS),
]


@fact(3, "create-argument-checks")
def _(ctx):
    c = ctx.conn()
    for p, fl in (("/v", 0), ("/seq", 0), ("/eph", 1)):
        c.create(p, flags=fl)
    for path, flags, want in CREATE_CHECKS:
        z = c.zxid()
        f = c.call(CREATE, create_req(path, b"", OPEN_ACL, flags))
        eq(f.err, want, f"create {path!r} flags {flags}")
        eq(f.zxid, z + 1, f"zxid of create {path!r} flags {flags}")
        if f.err == OK:
            c.call(DELETE, delete_req(f.reader().string()))
    return f"{len(CREATE_CHECKS)} create cases as listed, each consuming one zxid"


@fact(3, "sequential-suffix-makes-paths-valid")
def _(ctx):
    c = ctx.conn()
    for p in ("/seq", "/sv1", "/sv2"):
        c.create(p)
    st = c.stat("/")
    counter = (st.cversion + st.numChildren) // 2
    got = [c.create("/", flags=2), c.create("/seq/", flags=2), c.create("/sv1/.", flags=2),
           c.create("/sv2/..", flags=3)]
    eq(got, ["/%010d" % counter, "/seq/0000000000", "/sv1/.0000000000", "/sv2/..0000000000"],
       "sequential creates")
    return f"{got} (root counter (cversion+numChildren)/2 = {counter})"


@fact(3, "null-path-create")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    f = c.call(CREATE, create_req(None))
    eq((f.zxid, f.err, f.body), (z + 1, MARSHALLING_ERROR, b""), "create with a null path")
    eq(c.zxid(), z + 1, "zxid after it")
    return "create with path length -1 -> MARSHALLINGERROR, one zxid consumed, connection kept"


@fact(3, "create-session-opcode-after-handshake")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    f = c.call(CREATE_SESSION, b"", xid=1)
    eq((f.summary(), f.body), ((1, z + 1, MARSHALLING_ERROR), b""), "op -10 after the handshake")
    eq(c.err(EXISTS, path_req("/")), OK, "connection kept")
    return "op -10 with no body -> MARSHALLINGERROR with a new zxid; connection kept"


@fact(3, "invalid-acls")
def _(ctx):
    c = ctx.conn()
    c.create("/v")
    bad = [[], None, [(31, "foo", "bar")], [(31, "world", "bob")], [(31, "ip", "notanip")],
           [(31, "auth", "")], [(31, "digest", "nocolon")],
           [(31, "world", "anyone"), (31, "world", "bob")]]
    for acls in bad:
        eq(c.err(CREATE, create_req("/v/acl", b"", acls)), INVALID_ACL, f"ACL {acls!r}")
    return f"{len(bad)} ACL lists -> INVALIDACL (empty, null, unknown scheme, world:bob, bad ip, auth without digest, digest without ':', one bad entry)"


@fact(3, "invalid-acl-precedence")
def _(ctx):
    c = ctx.conn()
    c.create("/v")
    got = {p: c.err(CREATE, create_req(p, b"", [])) for p in ("/nx/a", "/v", "/v/", "a")}
    eq(got, {"/nx/a": INVALID_ACL, "/v": INVALID_ACL, "/v/": INVALID_ACL, "a": BAD_ARGUMENTS},
       "empty ACL on bad creates")
    return f"empty ACL: {got} (after the leading-slash check, before NONODE/NODEEXISTS/path syntax)"


@fact(3, "valid-acls")
def _(ctx):
    c = ctx.conn()
    c.create("/v")
    for p, acls in (("/v/z", [(0, "world", "anyone")]), ("/v/i", [(31, "ip", "127.0.0.1")]),
                    ("/v/n", [(31, "ip", "10.0.0.0/8")]), ("/v/d", [(31, "digest", "user:abc")])):
        c.create(p, acls=acls)
    c.create("/v/dup", acls=OPEN_ACL * 2)
    acl = c.call(GET_ACL, path_only_req("/v/dup")).reader().acl_list()
    eq(acl, OPEN_ACL, "duplicate ACL entries")
    return "perms 0, ip, ip/8, digest user:abc accepted; a duplicated entry is stored once"


@fact(3, "create-needs-parent-create-permission")
def _(ctx):
    c = ctx.conn()
    c.create("/locked", acls=[(PERM_READ, "world", "anyone")])
    eq(c.err(CREATE, create_req("/locked/c")), NO_AUTH, "create under a READ-only parent")
    s = ctx.conn()
    eq(s.auth("digest", SUPER_USER_PASS).err, OK, "super addauth")
    eq(s.err(CREATE, create_req("/locked/c")), OK, "create as super")
    return "create under a READ-only parent: NOAUTH; as the super digest user: OK"


OTHER_WRITES = [
    (SET_DATA, set_data_req("a", b""), BAD_ARGUMENTS),
    (SET_DATA, set_data_req("/a/", b""), BAD_ARGUMENTS),
    (SET_DATA, set_data_req("/nx", b""), NO_NODE),
    (DELETE, delete_req(""), BAD_ARGUMENTS),
    (DELETE, delete_req("a"), BAD_ARGUMENTS),
    (DELETE, delete_req("/a/"), NO_NODE),
    (DELETE, delete_req("/v/"), NO_NODE),
    (DELETE, delete_req("/"), BAD_ARGUMENTS),
    (DELETE, delete_req("/zookeeper"), BAD_ARGUMENTS),
    (DELETE, delete_req("/zookeeper/quota"), BAD_ARGUMENTS),
    (DELETE, delete_req("/zookeeper/config"), BAD_ARGUMENTS),
    (SET_DATA, set_data_req("/zookeeper/config", b""), NO_AUTH),
    (SET_ACL, set_acl_req("/zookeeper/config", OPEN_ACL), NO_AUTH),
    (SET_DATA, set_data_req("/zookeeper", b""), OK),
    (SET_DATA, set_data_req("/", b""), OK),
    (SET_DATA, set_data_req("/v", b"", 1), BAD_VERSION),
    (SET_ACL, set_acl_req("/v", []), INVALID_ACL),
    (SET_ACL, set_acl_req("/v", OPEN_ACL, 0), OK),
    (SET_ACL, set_acl_req("/v", OPEN_ACL, 3), BAD_VERSION),
]
CHECKS = [("/v", 0, OK), ("/v", 5, BAD_VERSION), ("/nope", -1, NO_NODE)]


@fact(3, "other-write-checks")
def _(ctx):
    c = ctx.conn()
    c.create("/v")
    for op, body, want in OTHER_WRITES:
        eq(c.err(op, body), want, f"op {op} {body!r}")
    for path, version, want in CHECKS:
        f = c.call(MULTI, multi_req([(CHECK, check_req(path, version))]))
        [res] = parse_multi_response(f.body)
        eq(res.err, want, f"check {path} version {version} (inside a multi)")
    return f"{len(OTHER_WRITES)} setData/delete/setACL cases and {len(CHECKS)} checks as listed"


@fact(3, "set-data-root-bumps-version")
def _(ctx):
    c = ctx.conn()
    v = c.stat("/").version
    c.call(SET_DATA, set_data_req("/", b""))
    eq(c.stat("/").version, v + 1, "root version")
    return f"setData / : version {v} -> {v + 1}"


@fact(3, "delete-needs-parent-delete-permission")
def _(ctx):
    c = ctx.conn()
    c.create("/v")
    c.create("/v/secret", acls=[(31, "digest", digest("user:pass"))])
    eq(c.err(SET_DATA, set_data_req("/v/secret", b"")), NO_AUTH, "setData")
    eq(c.err(DELETE, delete_req("/v/secret")), OK, "delete")
    return "a node we may not write is deleted: only the parent's ACL is checked"


@fact(3, "set-acl-version")
def _(ctx):
    c = ctx.conn()
    c.create("/v")
    f = c.call(SET_ACL, set_acl_req("/v", [(1, "world", "anyone")]))
    st = f.reader().stat()
    eq((st.aversion, st.version), (1, 0), "Stat in the setACL reply")
    eq(c.call(GET_ACL, path_only_req("/v")).reader().acl_list(), [(1, "world", "anyone")], "ACL")
    return "setACL version -1 -> aversion 1, version unchanged, ACL replaced"


@fact(3, "ephemeral-owner")
def _(ctx):
    c = ctx.conn()
    c.create("/e", flags=1)
    c.create("/p")
    got = (c.stat("/e").ephemeralOwner, c.stat("/p").ephemeralOwner)
    eq(got, (c.session.session_id, 0), "ephemeralOwner")
    return f"ephemeral -> owner {got[0]:#x} (the session id), persistent -> 0"


VALID_PATHS = ["/", "/a", "/a.b", "/...", "/v/.x", "/v/x.", "/v/..x", "/zookeeper/x",
               "/a-b_c:d@e", "/\u00e9t\u00e9", "/a b", "/a\u00a0b", "/a\uffefb", "/0000000007",
               "/v/.0000000003", "/v/..0000000004", "/a/b/c/d/e"]
INVALID_PATHS = ["", "a", "a/b", "/a/", "//a", "/a//b", "/a/./b", "/a/../b", "/a/.", "/.",
                 "/..", "/a\x00b", "/a\x01b", "/a\x1fb", "/a\x7fb", "/a\x9fb", "/a\ud800b",
                 "/a\uf000b", "/a\uf8ffb", "/a\ufff0b", "/a\uffffb", "/\U0001f600", "/seq/",
                 "/v//", "./a"]


@fact(3, "path-validation-on-the-server")
def _(ctx):
    c = ctx.conn()
    for path, valid in [(p, True) for p in VALID_PATHS] + [(p, False) for p in INVALID_PATHS]:
        raw = path.encode("utf-8", "surrogatepass")
        e = c.err(SET_DATA, buffer(raw) + buffer(b"") + int32(-1))
        expect((e != BAD_ARGUMENTS) == valid,
               f"setData {path!r}: err {e}, expected {'valid' if valid else 'BADARGUMENTS'}")
    return (f"setData validates the path before looking it up: {len(VALID_PATHS)} valid paths "
            f"-> OK/NONODE, {len(INVALID_PATHS)} invalid -> BADARGUMENTS")


PATHCHECK_JAVA = r"""
import org.apache.zookeeper.common.PathUtils;

public class PathCheck {
    public static void main(String[] args) throws Exception {
        java.io.BufferedReader in = new java.io.BufferedReader(
            new java.io.InputStreamReader(System.in, "US-ASCII"));
        String line;
        while ((line = in.readLine()) != null) {
            String path = null;
            if (!line.equals("null")) {
                StringBuilder sb = new StringBuilder();
                for (int i = 0; i + 4 <= line.length(); i += 4) {
                    sb.append((char) Integer.parseInt(line.substring(i, i + 4), 16));
                }
                path = sb.toString();
            }
            String out;
            try {
                PathUtils.validatePath(path);
                out = "OK";
            } catch (IllegalArgumentException e) {
                out = "ERR " + e.getMessage();
            }
            StringBuilder esc = new StringBuilder();
            for (char c : out.toCharArray()) {
                if (c < 0x20 || c > 0x7e) esc.append(String.format("\\u%04x", (int) c));
                else esc.append(c);
            }
            System.out.println(esc);
        }
    }
}
"""


def java_path_check(ctx: Ctx, paths: list) -> list:
    if ctx.java_dir is None:
        ctx.java_dir = tempfile.mkdtemp(prefix="pathcheck-")
        src = os.path.join(ctx.java_dir, "PathCheck.java")
        with open(src, "w") as f:
            f.write(PATHCHECK_JAVA)
        subprocess.run(["javac", "-cp", "/usr/share/java/zookeeper.jar", "-d", ctx.java_dir, src],
                       check=True, capture_output=True)
    lines = []
    for p in paths:
        if p is None:
            lines.append("null")
        else:
            units = p.encode("utf-16-be", "surrogatepass")
            lines.append(units.hex())
    out = subprocess.run(["java", "-cp", ctx.java_dir + ":/usr/share/java/zookeeper.jar",
                          "PathCheck"], input="\n".join(lines) + "\n", capture_output=True,
                         text=True, check=True).stdout.splitlines()
    eq(len(out), len(paths), "PathCheck output lines")
    return out


@fact(3, "pathutils-messages")
def _(ctx):
    msgs = [None, "", "a", "/a/", "//a", "/a/..", "/a\x00", "/a\x01"]
    out = java_path_check(ctx, msgs + VALID_PATHS + INVALID_PATHS)
    got = dict(zip(map(repr, msgs), out[:len(msgs)]))
    want = {
        "None": "ERR Path cannot be null",
        "''": "ERR Path length must be > 0",
        "'a'": "ERR Path must start with / character",
        "'/a/'": "ERR Path must not end with / character",
        "'//a'": 'ERR Invalid path string "//a" caused by empty node name specified @1',
        "'/a/..'": 'ERR Invalid path string "/a/.." caused by relative paths not allowed @4',
        "'/a\\x00'": 'ERR Invalid path string "/a\\u0000" caused by null character not allowed @2',
        "'/a\\x01'": 'ERR Invalid path string "/a\\u0001" caused by invalid character @2',
    }
    eq(got, want, "PathUtils.validatePath messages")
    verdicts = out[len(msgs):]
    for p, v in zip(VALID_PATHS + INVALID_PATHS, verdicts):
        eq(v == "OK", p in VALID_PATHS, f"PathUtils verdict on {p!r}: {v}")
    return "; ".join(f"{k} -> {v[4:]}" for k, v in got.items())


# ================================================================== §4 sequential suffix and cversion


@fact(4, "cversion-and-suffix-trace")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    a.create("/t")
    z0 = a.stat("/t").czxid
    trace = []

    def step(expect_t, name=None, want_name=None):
        st = a.stat("/t")
        got = (st.cversion, st.numChildren, st.pzxid - z0)
        trace.append(got)
        eq(got, expect_t, f"(cversion, numChildren, pzxid-z0) after step {len(trace)}")

    step((0, 0, 0))
    eq(a.create("/t/s", flags=2), "/t/s0000000000", "1st sequential")
    step((1, 1, 1))
    a.call(DELETE, delete_req("/t/s0000000000"))
    step((2, 0, 2))
    eq(a.create("/t/s", flags=2), "/t/s0000000001", "2nd sequential")
    step((3, 1, 3))
    a.call(DELETE, delete_req("/t/s0000000001"))
    step((4, 0, 4))
    eq(b.create("/t/s", flags=2), "/t/s0000000002", "3rd sequential, other session")
    step((5, 1, 5))
    a.create("/t/p")
    step((6, 2, 6))
    a.call(DELETE, delete_req("/t/p"))
    step((7, 1, 7))
    a.create("/t/p")
    a.call(DELETE, delete_req("/t/p"))
    step((9, 1, 9))
    eq(a.err(DELETE, delete_req("/t/p")), NO_NODE, "failed delete")
    step((9, 1, 9))
    eq(a.create("/t/s", flags=2), "/t/s0000000005", "sequential after 6 creations")
    step((10, 2, 11))
    return "suffixes 0,1,2,5; (cversion, numChildren, pzxid-z0): " + " ".join(map(str, trace))


@fact(4, "sequential-trailing-slash-and-ephemeral")
def _(ctx):
    c = ctx.conn()
    c.create("/s")
    got = [c.create("/s/a", flags=2)]
    c.create("/s/b")
    got += [c.create("/s/a", flags=2), c.create("/s/e", flags=3), c.create("/s/", flags=2)]
    eq(got, ["/s/a0000000000", "/s/a0000000002", "/s/e0000000003", "/s/0000000004"], "names")
    eq(c.stat("/s/e0000000003").ephemeralOwner, c.session.session_id, "owner")
    return f"{got}"


@fact(4, "sequential-counts-pipelined-creations")
def _(ctx):
    c = ctx.conn()
    c.create("/s")
    reqs = [(CREATE, create_req("/s/q-", flags=2)), (CREATE, create_req("/s/plain")),
            (CREATE, create_req("/s/q-", flags=2)), (DELETE, delete_req("/s/plain")),
            (CREATE, create_req("/s/q-", flags=3))]
    xids = [c.send(op, body) for op, body in reqs]
    frames = [c.read_frame() for _ in xids]
    eq([f.xid for f in frames], xids, "reply order")
    names = [f.reader().string() for f, (op, _) in zip(frames, reqs) if op == CREATE]
    eq(names, ["/s/q-0000000000", "/s/plain", "/s/q-0000000002", "/s/q-0000000003"], "names")
    nxt = c.create("/s/q-", flags=2)
    eq(nxt, "/s/q-0000000004", "next")
    return f"pipelined: {names}, then {nxt} (creations count, deletes do not)"


@fact(4, "failed-creates-do-not-advance")
def _(ctx):
    c = ctx.conn()
    c.create("/s")
    c.create("/s/b")
    eq(c.err(CREATE, create_req("/s/b")), NODE_EXISTS, "dup")
    eq(c.err(CREATE, create_req("/s/x/y")), NO_NODE, "no parent")
    got = c.create("/s/a", flags=2)
    eq(got, "/s/a0000000001", "suffix")
    return f"after NODEEXISTS and NONODE creates: {got}"


@fact(4, "failed-multi-rolls-back-the-counter")
def _(ctx):
    c = ctx.conn()
    c.create("/s")
    xids = [c.send(CREATE, create_req("/s/x")),
            c.send(MULTI, multi_req([(CREATE, create_req("/s/a")),
                                     (CREATE, create_req("/s/a/b")),
                                     (CREATE, create_req("/nx/y"))])),
            c.send(CREATE, create_req("/s/q-", flags=2)),
            c.send(CREATE, create_req("/s/a")),
            c.send(CREATE, create_req("/s/a/b"))]
    frames = [c.read_frame() for _ in xids]
    res = [r.err for r in parse_multi_response(frames[1].body)]
    eq(res, [0, 0, NO_NODE], "multi results")
    eq(frames[2].reader().string(), "/s/q-0000000001", "sequential after the failed multi")
    eq([f.err for f in frames[3:]], [OK, OK], "creates of the multi's paths")
    kids = sorted(c.call(GET_CHILDREN, path_req("/s")).reader().string_list())
    eq(kids, ["a", "q-0000000001", "x"], "children")
    return f"pipelined create, failed multi, create seq -> q-0000000001; children {kids}"


@fact(4, "set-data-keeps-cversion")
def _(ctx):
    c = ctx.conn()
    c.create("/p")
    c.create("/p/c")
    before = c.stat("/p")
    c.call(SET_DATA, set_data_req("/p", b"x"))
    after = c.stat("/p")
    eq((after.cversion, after.pzxid), (before.cversion, before.pzxid), "cversion/pzxid")
    return f"setData on a parent: cversion stays {after.cversion}, pzxid stays"


# ================================================================== §5 watches


@fact(5, "data-watch-one-shot")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    b.create("/w")
    a.call(GET_DATA, path_req("/w", True))
    f = b.call(SET_DATA, set_data_req("/w", b"v"))
    eq(b.events(), [], "the writer gets no event")
    n = a.read_frame()
    eq((n.xid, n.err) + tuple(vars(n.event()).values()), (-1, 0, CHANGED, SYNC_CONNECTED, "/w"),
       "the event")
    b.call(SET_DATA, set_data_req("/w", b"w"))
    eq(a.events(), [], "second change")
    return "one NodeDataChanged (state SyncConnected) for the watcher, none for the writer, none for a second change"


@fact(5, "delete-fires-one-event-per-watcher")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    b.create("/w")
    a.call(GET_DATA, path_req("/w", True))
    a.call(GET_CHILDREN, path_req("/w", True))
    a.call(EXISTS, path_req("/w", True))
    b.call(DELETE, delete_req("/w"))
    got = a.events()
    eq(got, [(DELETED, "/w")], "events")
    return f"data+child+exists watches, delete -> {ev_names(got)}"


@fact(5, "child-watch-fires-on-delete")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    b.create("/w")
    a.call(GET_CHILDREN, path_req("/w", True))
    b.call(DELETE, delete_req("/w"))
    got = a.events()
    eq(got, [(DELETED, "/w")], "events")
    return f"child watch only, delete the node -> {ev_names(got)}"


@fact(5, "child-and-data-watches-are-separate")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    b.create("/w")
    a.call(GET_CHILDREN, path_req("/w", True))
    a.call(GET_DATA, path_req("/w", True))
    b.create("/w/c")
    e1 = a.events()
    a.call(GET_CHILDREN, path_req("/w", True))
    b.call(DELETE, delete_req("/w/c"))
    e2 = a.events()
    b.call(SET_DATA, set_data_req("/w", b""))
    e3 = a.events()
    eq((e1, e2, e3), ([(CHILDREN, "/w")], [(CHILDREN, "/w")], [(CHANGED, "/w")]), "events")
    return "child create -> ChildrenChanged only; child delete -> ChildrenChanged; the data watch then fires on setData"


@fact(5, "watches-on-missing-nodes")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    errs = [a.err(EXISTS, path_req("/w2", True)), a.err(GET_DATA, path_req("/w3", True)),
            a.err(GET_CHILDREN, path_req("/w4", True))]
    eq(errs, [NO_NODE] * 3, "replies")
    b.create("/w2")
    e1 = a.events()
    b.create("/w3")
    b.call(SET_DATA, set_data_req("/w3", b""))
    b.create("/w4")
    b.create("/w4/c")
    e2 = a.events()
    eq((e1, e2), ([(CREATED, "/w2")], []), "events")
    return "exists on a missing node registers (NodeCreated); getData/getChildren on a missing node do not"


@fact(5, "watches-are-a-set-per-connection")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    b.create("/w3")
    a.call(GET_DATA, path_req("/w3", True))
    a.call(GET_DATA, path_req("/w3", True))
    a.call(EXISTS, path_req("/w3", True))
    b.call(SET_DATA, set_data_req("/w3", b""))
    got = a.events()
    eq(got, [(CHANGED, "/w3")], "events")
    return "getData twice + exists, then setData -> one NodeDataChanged"


@fact(5, "child-delete-event-order")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    b.create("/w5")
    b.create("/w5/x")
    a.call(GET_CHILDREN, path_req("/w5", True))
    a.call(GET_DATA, path_req("/w5/x", True))
    b.call(DELETE, delete_req("/w5/x"))
    got = a.events()
    eq(got, [(DELETED, "/w5/x"), (CHILDREN, "/w5")], "events")
    return f"{ev_names(got)}"


@fact(5, "event-precedes-reply")
def _(ctx):
    c = ctx.conn()
    c.create("/w3")
    out = []

    def check(op, body, want):
        xid = c.send(op, body)
        frames = c.frames_until_reply(xid)
        got = [(f.event().type, f.event().path) for f in frames[:-1]]
        eq(got, want, f"events before the reply to op {op}")
        out.append(ev_names(got)[0][0])

    c.call(GET_DATA, path_req("/w3", True))
    check(SET_DATA, set_data_req("/w3", b""), [(CHANGED, "/w3")])
    c.call(GET_DATA, path_req("/w3", True))
    c.call(GET_CHILDREN, path_req("/w3", True))
    check(DELETE, delete_req("/w3"), [(DELETED, "/w3")])
    c.create("/w4")
    c.call(GET_CHILDREN, path_req("/w4", True))
    check(CREATE, create_req("/w4/d"), [(CHILDREN, "/w4")])
    c.call(EXISTS, path_req("/w5", True))
    check(CREATE, create_req("/w5"), [(CREATED, "/w5")])
    return f"own write's events arrive before its reply: {out}"


@fact(5, "multi-events-in-op-order")
def _(ctx):
    c = ctx.conn()
    c.create("/w5")
    c.call(GET_CHILDREN, path_req("/w5", True))
    c.call(GET_DATA, path_req("/w5", True))
    c.call(EXISTS, path_req("/w6", True))
    xid = c.send(MULTI, multi_req([(CREATE, create_req("/w5/x")), (SET_DATA, set_data_req("/w5", b"")),
                                   (CREATE, create_req("/w6"))]))
    frames = c.frames_until_reply(xid)
    got = [(f.event().type, f.event().path) for f in frames[:-1]]
    eq(got, [(CHILDREN, "/w5"), (CHANGED, "/w5"), (CREATED, "/w6")], "events")
    return f"{ev_names(got)}, then the multi reply"


@fact(5, "close-session-fires-watches")
def _(ctx):
    a, c = ctx.conn(), ctx.conn()
    c.create("/eph", flags=1)
    a.call(GET_DATA, path_req("/eph", True))
    a.call(GET_CHILDREN, path_req("/", True))
    z = a.zxid()
    f = c.call(CLOSE_SESSION, xid=3)
    eq(f.summary(), (3, z + 1, OK), "closeSession reply")
    close_instant(c, 5)
    got = a.events()
    eq(got, [(DELETED, "/eph"), (CHILDREN, "/")], "events")
    return f"closing session: reply then EOF; watcher: {ev_names(got)}"


@fact(5, "lost-connection-drops-watches")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    b.create("/w")
    a.call(GET_DATA, path_req("/w", True))
    expect("Total watches:1" in four_letter(ctx.main.port, "wchs"), "one watch registered")
    a.close()
    expect(wait_until(lambda: "Total watches:0" in four_letter(ctx.main.port, "wchs")),
           "watch still registered after the socket closed")
    b.call(SET_DATA, set_data_req("/w", b""))
    a2 = ctx.resume(a)
    eq(a2.events(), [], "events after resuming the session")
    return "socket closed -> wchs shows 0 watches; resumed session gets no event"


@fact(5, "set-watches-after-reconnect")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    for p in ("/d1", "/d2", "/d3", "/e7", "/p4"):
        b.create(p)
    rel = b.zxid()
    a.close()
    b.call(SET_DATA, set_data_req("/d1", b""))
    b.call(DELETE, delete_req("/d3"))
    b.create("/p4/c")
    b.create("/e5")
    b.call(DELETE, delete_req("/e7"))
    a2 = ctx.resume(a, last_zxid=rel)
    body = set_watches_req(rel, data=["/d1", "/d2", "/d3", "/nonexist"],
                           exist=["/e5", "/e6", "/d2", "/e7"],
                           child=["/p4", "/d3", "/nonexist2", "/d2"])
    a2.send(SET_WATCHES, body, xid=SET_WATCHES_XID)
    frames = a2.frames_until_reply(SET_WATCHES_XID)
    got = [(f.event().type, f.event().path) for f in frames[:-1]]
    eq(got, [(CHANGED, "/d1"), (DELETED, "/d3"), (DELETED, "/nonexist"), (CREATED, "/e5"),
             (CREATED, "/d2"), (CHILDREN, "/p4"), (DELETED, "/d3"), (DELETED, "/nonexist2")],
       "events fired by setWatches")
    eq({f.zxid for f in frames[:-1]}, {-1}, "zxid of those events")
    last = b.zxid()
    eq(frames[-1].summary(), (SET_WATCHES_XID, last, OK), "setWatches reply")
    later = []
    for do, want in [(lambda: b.call(SET_DATA, set_data_req("/d2", b"")), [(CHANGED, "/d2")]),
                     (lambda: b.create("/e6"), [(CREATED, "/e6")]),
                     (lambda: b.create("/e7"), [(CREATED, "/e7")]),
                     (lambda: b.create("/d2/c"), [(CHILDREN, "/d2")]),
                     (lambda: b.create("/nonexist"), [])]:
        do()
        e = a2.events()
        eq(e, want, "events for the watches setWatches registered")
        later += e
    return (f"{ev_names(got)} (zxid -1), reply (-8, last zxid, 0); then registered: "
            f"{ev_names(later)}; the data watch on /nonexist was not kept")


@fact(5, "set-watches-relative-zero")
def _(ctx):
    c = ctx.conn()
    c.create("/z0")
    c.send(SET_WATCHES, set_watches_req(0, ["/z0"], ["/z0"], ["/z0"]), xid=5)
    frames = c.frames_until_reply(5)
    got = [(f.event().type, f.event().path) for f in frames[:-1]]
    eq(got, [(CHANGED, "/z0"), (CREATED, "/z0"), (CHILDREN, "/z0")], "events")
    eq(frames[-1].xid, 5, "reply xid")
    return f"relativeZxid 0: {ev_names(got)}; xid 5 echoed"


# ================================================================== §6 multi


@fact(6, "multi-success")
def _(ctx):
    c = ctx.conn()
    c.create("/mm")
    z = c.zxid()
    ops = [(CREATE, create_req("/mm/a")), (CREATE, create_req("/mm/b")),
           (SET_DATA, set_data_req("/mm", b"y", 0)), (CHECK, check_req("/mm", 1)),
           (DELETE, delete_req("/mm/a")), (CREATE, create_req("/mm/s", flags=2))]
    f = c.call(MULTI, multi_req(ops), xid=2)
    eq(f.summary(), (2, z + 1, OK), "reply header")
    res = parse_multi_response(f.body)
    eq([(r.type, r.err) for r in res], [(1, 0), (1, 0), (5, 0), (13, 0), (2, 0), (1, 0)], "results")
    eq(res[5].path, "/mm/s0000000002", "sequential inside the multi")
    st = res[2].stat
    eq((st.czxid, st.mzxid, st.version, st.pzxid), (z, z + 1, 1, z + 1), "setData Stat")
    eq(c.zxid(), z + 1, "zxid after")
    # the exact bytes: MultiHeader(type, false, 0) + result body ... + MultiHeader(-1, true, -1)
    head = multi_header(1, False, 0) + string("/mm/a") + multi_header(1, False, 0) + string("/mm/b")
    at = len(head) + len(multi_header(5, False, 0))
    want = (head + multi_header(5, False, 0) + f.body[at:at + STAT_SIZE]
            + multi_header(13, False, 0) + multi_header(2, False, 0)
            + multi_header(1, False, 0) + string("/mm/s0000000002") + MULTI_END)
    eq(f.body, want, "multi response bytes")
    return "one zxid; results (1,0)(1,0)(5,0)(13,0)(2,0)(1,0); /mm/s0000000002; per-op header err 0"


@fact(6, "multi-failure")
def _(ctx):
    c = ctx.conn()
    c.create("/mm")
    z = c.zxid()
    ops = [(CREATE, create_req("/mm/c")), (SET_DATA, set_data_req("/mm", b"")),
           (CHECK, check_req("/mm", 99)), (DELETE, delete_req("/mm/b"))]
    f = c.call(MULTI, multi_req(ops), xid=3)
    eq(f.summary(), (3, z + 1, OK), "reply header")
    want = b"".join(multi_header(-1, False, e) + int32(e) for e in (0, 0, BAD_VERSION,
                                                                    RUNTIME_INCONSISTENCY))
    eq(f.body, want + MULTI_END, "response bytes")
    eq(c.err(EXISTS, path_req("/mm/c")), NO_NODE, "nothing applied")
    eq(c.stat("/mm").version, 0, "nothing applied")
    return f"RH err 0, zxid consumed; body {f.body.hex()}"


@fact(6, "failed-multi-log-entry")
def _(ctx):
    c = ctx.conn()
    c.create("/mm")
    f = c.call(MULTI, multi_req([(CREATE, create_req("/mm/c")), (SET_DATA, set_data_req("/mm", b"")),
                                 (CHECK, check_req("/mm", 99)), (DELETE, delete_req("/mm/b"))]))
    logs = sorted(glob.glob(os.path.join(ctx.main.cfg["dataDir"], "version-2", "log.*")))
    out = subprocess.run(["java", "-cp", ZK_CLASSPATH,
                          "org.apache.zookeeper.server.persistence.TxnLogToolkit", logs[-1]],
                         capture_output=True, check=True).stdout.decode("utf-8", "replace")
    line = [ln for ln in out.splitlines() if f" zxid {f.zxid:#x} " in ln]
    eq(len(line), 1, f"log lines for zxid {f.zxid:#x}")
    kinds = re.findall(r"(?:^|;)(\w+):", line[0].split(" multi ", 1)[1])
    eq(kinds, ["create", "setData", "error", "error"], "sub-txn types in the log (TxnLogToolkit)")
    return f"zxid {f.zxid:#x} logged as one multi txn of {kinds}"


@fact(6, "multi-failure-variants")
def _(ctx):
    c = ctx.conn()
    c.create("/mm")
    variants = [
        ([(CREATE, create_req("/nx/x")), (CREATE, create_req("/mm/d"))], [-101, -2]),
        ([(CREATE, create_req("a")), (CREATE, create_req("/mm/d"))], [-8, -2]),
        ([(CREATE, create_req("/mm/d")), (CREATE, create_req("/mm/e", b"", []))], [0, -114]),
        ([(CREATE, create_req("/mm/d")), (CREATE, create_req("/mm/d"))], [0, -110]),
    ]
    for ops, errs in variants:
        f = c.call(MULTI, multi_req(ops))
        eq(f.err, OK, "RH err")
        eq([r.err for r in parse_multi_response(f.body)], errs, "results")
        eq(c.err(EXISTS, path_req("/mm/d")), NO_NODE, "nothing applied")
    return "[-101,-2] [-8,-2] [0,-114] [0,-110]; nothing applied"


@fact(6, "empty-and-check-only-multi")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    f = c.call(MULTI, multi_req([]))
    eq((f.zxid, f.err, f.body), (z + 1, OK, MULTI_END), "empty multi")
    f = c.call(MULTI, multi_req([(CHECK, check_req("/", -1))]))
    eq((f.zxid, f.err), (z + 2, OK), "check-only multi")
    eq([(r.type, r.err) for r in parse_multi_response(f.body)], [(CHECK, 0)], "results")
    return "empty multi and a check-only multi each consume a zxid"


@fact(6, "multi-read")
def _(ctx):
    c = ctx.conn()
    c.create("/mm")
    c.create("/mm/b")
    z = c.zxid()
    ops = [(GET_CHILDREN, path_req("/mm")), (GET_DATA, path_req("/mm")), (GET_DATA, path_req("/nope")),
           (GET_CHILDREN, path_req("/nope")), (GET_DATA, path_req("/mm/b"))]
    f = c.call(MULTI_READ, multi_req(ops))
    eq((f.zxid, f.err), (z, OK), "reply header")
    res = parse_multi_response(f.body)
    eq([(r.type, r.err) for r in res], [(8, 0), (4, 0), (-1, -101), (-1, -101), (4, 0)], "results")
    eq((res[0].children, res[4].data), (["b"], b""), "bodies")
    f = c.call(MULTI_READ, multi_req([]))
    eq((f.zxid, f.err, f.body), (z, OK, MULTI_END), "empty multiRead")
    eq(c.zxid(), z, "no zxid consumed")
    return "results (8,0)(4,0)(-1,-101)(-1,-101)(4,0); no zxid consumed; empty -> end marker only"


@fact(6, "multi-end-header-err-ignored")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    f = c.call(MULTI, multi_header(-1, True, 0))
    eq((f.zxid, f.err, f.body), (z + 1, OK, MULTI_END), "multi ended by (-1, true, 0)")
    return "end header (-1, true, 0) accepted as the end: empty multi"


@fact(6, "wrong-kind-of-op-in-multi")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    f = c.call(MULTI, multi_req([(GET_DATA, path_req("/"))]), xid=1)
    eq((f.summary(), f.body), ((1, z + 1, MARSHALLING_ERROR), b""), "getData inside multi")
    f = c.call(MULTI_READ, multi_req([(CREATE, create_req("/x"))]), xid=2)
    eq(f.summary(), (2, z + 1, MARSHALLING_ERROR), "create inside multiRead")
    mr_body = f.body
    eq(c.err(EXISTS, path_req("/x")), NO_NODE, "connection kept, nothing created")
    eq(mr_body, MULTI_END, "body of the multiRead error reply")
    return (f"multi[getData] -> MARSHALLINGERROR, zxid consumed, no body; multiRead[create] -> "
            f"MARSHALLINGERROR, no zxid, body {mr_body.hex()} (an empty MultiResponse)")


@fact(6, "create2-inside-multi")
def _(ctx):
    c = ctx.conn()
    f = c.call(MULTI, multi_req([(CREATE2, create_req("/c2"))]))
    [r] = parse_multi_response(f.body)
    eq((r.type, r.path, r.stat), (CREATE, "/c2", None), "3.8.0 answers create2 in a multi as create")
    return "3.8.0: create2 inside a multi -> result type 1 (path only)"


# ================================================================== §7 node stats


@fact(7, "create-stat")
def _(ctx):
    c = ctx.conn()
    before = c.stat("/")
    t0 = int(time.time() * 1000)
    f = c.call(CREATE2, create_req("/q1", b"hello"))
    t1 = int(time.time() * 1000)
    rd = f.reader()
    eq(rd.string(), "/q1", "path")
    st = rd.stat()
    z = f.zxid
    eq((st.czxid, st.mzxid, st.pzxid), (z, z, z), "zxids")
    eq(st.ctime, st.mtime, "ctime == mtime")
    expect(t0 - 1000 <= st.ctime <= t1 + 1000, f"ctime {st.ctime} is not the wall clock")
    eq((st.version, st.cversion, st.aversion, st.ephemeralOwner, st.dataLength, st.numChildren),
       (0, 0, 0, 0, 5, 0), "counters")
    root = c.stat("/")
    eq((root.cversion - before.cversion, root.numChildren - before.numChildren, root.pzxid),
       (1, 1, z), "parent")
    return "czxid=mzxid=pzxid=zxid, ctime=mtime=server wall-clock ms, versions 0; parent cversion+1, numChildren+1, pzxid=zxid"


@fact(7, "set-data-and-set-acl-stat")
def _(ctx):
    c = ctx.conn()
    c.create("/d", b"a")
    s0 = c.stat("/d")
    f = c.call(SET_DATA, set_data_req("/d", b"bcd"))
    s1 = f.reader().stat()
    eq((s1.version, s1.mzxid, s1.czxid, s1.dataLength, s1.ctime), (1, f.zxid, s0.czxid, 3, s0.ctime),
       "after setData")
    expect(s1.mtime >= s0.mtime, "mtime moves forward")
    c.call(GET_DATA, path_req("/d", True))
    f = c.call(SET_ACL, set_acl_req("/d", [(PERM_ALL, "world", "anyone")]))
    s2 = f.reader().stat()
    eq((s2.aversion, s2.version, s2.mzxid, s2.mtime), (1, 1, s1.mzxid, s1.mtime), "after setACL")
    eq(c.events(), [], "setACL fires no watch")
    return "setData: version+1, mzxid/mtime new; setACL: aversion+1, nothing else, no watch event"


@fact(7, "delete-updates-parent")
def _(ctx):
    c = ctx.conn()
    c.create("/w")
    c.create("/w/x")
    f = c.call(DELETE, delete_req("/w/x"))
    st = c.stat("/w")
    eq((st.numChildren, st.cversion, st.pzxid), (0, 2, f.zxid), "parent after delete")
    return "parent after create+delete of a child: numChildren 0, cversion 2, pzxid = delete zxid"


@fact(7, "container-owner-shown-as-zero")
def _(ctx):
    c = ctx.conn()
    c.create("/c", flags=4)
    owner = c.stat("/c").ephemeralOwner
    eq(owner, 0, "ephemeralOwner of a container")
    return "container (flags 4) -> ephemeralOwner 0 in Stat"


# ================================================================== §8 auth


@fact(8, "digest-auth-and-auth-acl")
def _(ctx):
    a, other = ctx.conn(), ctx.conn()
    f = a.auth("digest", b"user:pass")
    eq((f.summary(), len(f.raw)), ((AUTH_XID, 0, OK), 16), "addauth reply")
    a.create("/sec", b"s", acls=[(31, "auth", "")])
    acl = a.call(GET_ACL, path_only_req("/sec")).reader().acl_list()
    eq(acl, [(31, "digest", digest("user:pass"))], "stored ACL")
    eq(acl[0][2], "user:smGaoVKd/cQkjm7b88GyorAUz20=", "the digest value")
    eq(a.err(GET_DATA, path_req("/sec")), OK, "owner reads")
    errs = [other.err(op, body) for op, body in [
        (GET_DATA, path_req("/sec")), (GET_CHILDREN, path_req("/sec")),
        (SET_DATA, set_data_req("/sec", b"")), (GET_ACL, path_only_req("/sec"))]]
    eq(errs, [NO_AUTH] * 4, "other session")
    ex = other.err(EXISTS, path_req("/sec"))
    eq(ex, OK, "3.8.0 exists needs no permission")
    eq(other.err(DELETE, delete_req("/sec")), OK, "other session deletes")
    return (f"auth ACL -> {acl}; others: getData/getChildren/setData/getACL NOAUTH, exists OK "
            f"(3.8.0), delete OK")


@fact(8, "digest-values")
def _(ctx):
    out = []
    for up in ("user2:pass2", "a:b:c", "nocolon"):
        a = ctx.conn()
        eq(a.auth("digest", up.encode()).err, OK, f"addauth {up}")
        a.create("/x", acls=[(31, "auth", "")])
        [(_, scheme, ident)] = a.call(GET_ACL, path_only_req("/x")).reader().acl_list()
        eq((scheme, ident), ("digest", digest(up)), f"identity for {up}")
        a.call(DELETE, delete_req("/x"))
        out.append(ident)
    eq(out[0], "user2:0RphDIvIZHLcNxLVT/hhi2uckEs=", "user2:pass2")
    return f"digest = user ':' base64(sha1(whole string)): {out}"


@fact(8, "several-addauths")
def _(ctx):
    a = ctx.conn()
    for d in (b"user:pass", b"user2:pass2", b"user:pass", b"nocolon"):
        f = a.auth("digest", d)
        eq(f.summary(), (AUTH_XID, 0, OK), f"addauth {d!r}")
    a.create("/x", acls=[(31, "auth", "whatever")])
    acl = a.call(GET_ACL, path_only_req("/x")).reader().acl_list()
    eq(sorted(acl), sorted({(31, "digest", digest(u)) for u in ("user:pass", "user2:pass2", "nocolon")}),
       "stored ACL")
    return (f"all four succeed; ACL (31, auth, 'whatever') -> {len(acl)} distinct digest "
            f"entries, no ip entry")


@fact(8, "failed-auth-closes")
def _(ctx):
    out = []
    for scheme in ("foo", "world", "sasl", "x509", "auth", ""):
        a = ctx.conn()
        f = a.auth(scheme, b"whatever")
        eq((f.summary(), len(f.raw)), ((AUTH_XID, 0, AUTH_FAILED), 16), f"reply to scheme {scheme}")
        close_instant(a, 5)
        ctx.resume(a)
        out.append(scheme)
    return f"schemes {out}: RH(-4, 0, -115) then EOF, no event frame; the session survives"


@fact(8, "ip-addauth")
def _(ctx):
    a = ctx.conn()
    f = a.auth("ip", b"127.0.0.1")
    eq(f.summary(), (AUTH_XID, 0, OK), "addauth ip")
    return "addauth ip 127.0.0.1 -> RH(-4, 0, 0)"


@fact(8, "ip-acls")
def _(ctx):
    a = ctx.conn()
    far = ctx.conn(source="127.0.0.2")
    got = {}
    for name, ident in (("self", "127.0.0.1"), ("net8", "127.0.0.0/8"), ("ten", "10.0.0.0/8"),
                        ("two", "127.0.0.2")):
        a.create("/" + name, acls=[(31, "ip", ident)])
        got[ident] = (a.err(GET_DATA, path_req("/" + name)), far.err(GET_DATA, path_req("/" + name)))
    eq(got, {"127.0.0.1": (OK, NO_AUTH), "127.0.0.0/8": (OK, OK), "10.0.0.0/8": (NO_AUTH, NO_AUTH),
             "127.0.0.2": (NO_AUTH, OK)}, "getData from 127.0.0.1 / 127.0.0.2")
    return f"(err from 127.0.0.1, err from 127.0.0.2): {got}"


@fact(8, "who-am-i")
def _(ctx):
    a = ctx.conn()
    a.auth("digest", b"user:pass")
    a.auth("digest", b"user2:pass2")
    rd = a.call(WHO_AM_I).reader()
    infos = sorted((rd.string(), rd.string()) for _ in range(rd.int32()))
    eq(infos, [("digest", "user"), ("digest", "user2"), ("ip", "127.0.0.1")], "whoAmI")
    return f"{infos}"


@fact(8, "super-digest")
def _(ctx):
    a, s = ctx.conn(), ctx.conn()
    a.create("/locked", acls=[(0, "world", "anyone")])
    e1 = s.err(GET_DATA, path_req("/locked"))
    eq(s.auth("digest", b"super:wrong").err, OK, "addauth with the wrong super password")
    e_wrong = s.err(GET_DATA, path_req("/locked"))
    s.auth("digest", SUPER_USER_PASS.encode())
    e2 = s.err(GET_DATA, path_req("/locked"))
    eq((e1, e_wrong, e2), (NO_AUTH, NO_AUTH, OK), "before / after a wrong / after the right super addauth")
    return ("node with perms 0: NOAUTH; addauth super:wrong succeeds but still NOAUTH; "
            "OK after addauth digest super:pw (superDigest set)")


@fact(8, "skip-acl", "skipacl")
def _(ctx):
    srv = ctx.server("skipacl")
    a = ctx.conn(server=srv)
    a.create("/locked", acls=[(0, "world", "anyone")])
    got = (a.err(GET_DATA, path_req("/locked")), a.err(SET_DATA, set_data_req("/locked", b"")))
    eq(got, (OK, OK), "reads and writes with zookeeper.skipACL=yes")
    return "zookeeper.skipACL=yes: a perms-0 node is read and written"


@fact(8, "skip-acl-only-for-exact-yes", "skipacl-*")
def _(ctx):
    got = {}
    for name, how in (("skipacl-cfg", "zoo.cfg skipACL=yes"),
                      ("skipacl-true", "-Dzookeeper.skipACL=true"),
                      ("skipacl-YES", "-Dzookeeper.skipACL=YES"),
                      ("skipacl-1", "-Dzookeeper.skipACL=1")):
        a = ctx.conn(server=ctx.server(name))
        a.create("/locked", acls=[(0, "world", "anyone")])
        got[how] = (a.err(GET_DATA, path_req("/locked")),
                    a.err(SET_DATA, set_data_req("/locked", b"")))
    eq(got, {"zoo.cfg skipACL=yes": (OK, OK), "-Dzookeeper.skipACL=true": (NO_AUTH, NO_AUTH),
             "-Dzookeeper.skipACL=YES": (NO_AUTH, NO_AUTH), "-Dzookeeper.skipACL=1": (NO_AUTH, NO_AUTH)},
       "(getData, setData) of a perms-0 node")
    return f"(getData, setData) of a perms-0 node: {got}"


# ================================================================== §9 sessions and expiry


def connect_watched(ctx, timeout_ms: int, path: str):
    """A session with an ephemeral at ``path``; returns (conn, instant of its last request)."""
    c = ctx.conn(timeout_ms=timeout_ms)
    eq(c.session.timeout, timeout_ms, "negotiated timeout")
    t_sent = time.monotonic()
    c.create(path, flags=1)
    return c, t_sent


@fact(9, "expiry-at-tick-boundaries")
def _(ctx):
    watcher = ctx.conn()
    sessions = []
    for i in range(4):
        c, t = connect_watched(ctx, 1000, f"/e{i}")
        watcher.call(EXISTS, path_req(f"/e{i}", True))
        sessions.append((c, t))
        # space the sessions out over one tick; the wait doubles as a check that nothing arrives
        expect(watcher.is_open_after(0.13), "watcher got something early")
    z = watcher.zxid()
    closes = [close_instant(c, 3) for c, _ in sessions]
    delays = [round((tc - t) * 1000) for (c, t), tc in zip(sessions, closes)]
    for d in delays:
        expect(1000 - 5 <= d <= 1500 + 150, f"expiry {d} ms after the last request, outside (1000, 1500]")
    base = closes[0]
    phase = [round(((tc - base) * 1000 + 250) % TICK_MS - 250) for tc in closes]
    for p in phase:
        expect(abs(p) <= 40, f"expiries not on a common {TICK_MS} ms grid: offsets {phase}")
    evs = []
    while len(evs) < 4:
        f = watcher.read_frame(3)
        evs.append((f.event().type, f.event().path, f.zxid))
    eq(sorted(evs), [(DELETED, f"/e{i}", -1) for i in range(4)], "watch events")
    eq(watcher.zxid(), z + 4, "one closeSession txn per expired session")
    c0 = sessions[0][0]
    again = ctx.conn(handshake=False)
    again.send_frame(again.connect_request(session_id=c0.session.session_id,
                                           passwd=c0.session.passwd, last_zxid=z + 4))
    eq(again.read_payload(), zero_connect_response(), "reconnect to an expired session")
    close_instant(again, 5)
    return (f"timeout 1000 ms: closed without a byte {delays} ms after the last request, all on "
            f"one {TICK_MS} ms grid (offsets {phase} ms); one zxid each; NodeDeleted; reconnect -> zeros")


@fact(9, "pings-keep-a-session-alive")
def _(ctx):
    c = ctx.conn(timeout_ms=1000)
    t_last = None
    for _ in range(8):
        expect(c.is_open_after(0.4), "session closed while pinging")
        t_last = time.monotonic()
        eq(c.call(PING, xid=PING_XID).err, OK, "ping")
    tc = close_instant(c, 3)
    d = round((tc - t_last) * 1000)
    expect(1000 - 5 <= d <= 1500 + 150, f"expired {d} ms after the last ping")
    return f"pings every 400 ms for 3.2 s keep a 1000 ms session; expired {d} ms after the last ping"


@fact(9, "closed-socket-keeps-the-session")
def _(ctx):
    watcher = ctx.conn()
    c, _ = connect_watched(ctx, 1000, "/e")
    watcher.call(EXISTS, path_req("/e", True))
    c.close()
    expect(watcher.is_open_after(0.6), "event within 600 ms of the socket closing")
    c2 = ctx.resume(c, timeout_ms=1000)
    eq(c2.err(EXISTS, path_req("/e")), OK, "ephemeral after resuming")
    t = time.monotonic()
    c2.close()
    te, f = event_instant(watcher, 3)
    d = round((te - t) * 1000)
    eq((f.event().type, f.event().path), (DELETED, "/e"), "event")
    expect(1000 - 5 <= d <= 1500 + 150, f"expired {d} ms after the socket closed")
    return f"socket closed: session resumable 600 ms later; expired {d} ms after the last close"


@fact(9, "close-session-deletes-pipelined-ephemerals")
def _(ctx):
    c, other = ctx.conn(), ctx.conn()
    c.create("/e1", flags=1)
    x1 = c.send(CREATE, create_req("/e2", flags=1))
    x2 = c.send(CLOSE_SESSION)
    eq([c.read_frame().xid for _ in range(2)], [x1, x2], "replies")
    close_instant(c, 5)
    got = [other.err(EXISTS, path_req(p)) for p in ("/e1", "/e2")]
    eq(got, [NO_NODE, NO_NODE], "ephemerals after closeSession")
    return "create ephemeral + closeSession in one write: both the earlier and the just-created ephemeral are gone"


@fact(9, "reconnect-with-shorter-timeout")
def _(ctx):
    watcher = ctx.conn()
    c, _ = connect_watched(ctx, 10000, "/e")
    watcher.call(EXISTS, path_req("/e", True))
    c2 = ctx.resume(c, timeout_ms=1000)
    eq(c2.session.timeout, 1000, "negotiated timeout on reconnect")
    t = time.monotonic()
    c2.close()
    te, f = event_instant(watcher, 12)
    d = round((te - t) * 1000)
    eq((f.event().type, f.event().path), (DELETED, "/e"), "event")
    expect(d <= 1500 + 150, f"expired {d} ms after the socket closed: the deadline did not move back")
    return (f"session created with 10000 ms, resumed with 1000 ms, socket closed: expired {d} ms "
            f"later (the reconnect moved the deadline earlier)")


# ================================================================== §10 ordering and pipelining


@fact(10, "read-waits-for-own-write")
def _(ctx):
    c = ctx.conn()
    xids = [c.send(CREATE, create_req("/p", b"")), c.send(GET_DATA, path_req("/p")),
            c.send(PING, xid=PING_XID)]
    frames = [c.read_frame() for _ in xids]
    eq([(f.xid, f.err) for f in frames], [(xids[0], OK), (xids[1], OK), (PING_XID, OK)], "replies")
    return "pipelined create, getData, ping: answered in order, the read sees the create"


@fact(10, "pipelined-zxids")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    reqs = [(CREATE, create_req("/p")), (GET_DATA, path_req("/p")), (DELETE, delete_req("/p")),
            (EXISTS, path_req("/p")), (CREATE, create_req("/p")), (CREATE, create_req("/p")),
            (SYNC, path_only_req("/")), (EXISTS, path_req("/p"))]
    c.send_raw(b"".join(struct.pack(">i", 8 + len(b)) + int32(i + 1) + int32(op) + b
                        for i, (op, b) in enumerate(reqs)))
    frames = [c.read_frame() for _ in reqs]
    got = [(f.xid, f.zxid - z, f.err) for f in frames]
    eq(got, [(1, 1, 0), (2, 1, 0), (3, 2, 0), (4, 2, -101), (5, 3, 0), (6, 4, -110), (7, 4, 0),
             (8, 4, 0)], "(xid, zxid-z, err)")
    eq(Reader(frames[1].body, 4).stat().czxid - z, 1, "czxid seen by read 2")
    eq(frames[7].reader().stat().czxid - z, 3, "czxid seen by read 8")
    return f"8 requests in one write: {got} (zxid relative to z)"


@fact(10, "concurrent-writes-carry-their-own-zxids")
def _(ctx):
    conns = [ctx.conn() for _ in range(3)]
    z = conns[0].zxid()
    for i, c in enumerate(conns):
        c.send(CREATE, create_req(f"/g{i}"), xid=1)
        c.send(GET_DATA, path_req(f"/g{i}"), xid=2)
    zx = []
    for i, c in enumerate(conns):
        w, r = c.read_frame(), c.read_frame()
        eq((w.xid, w.err, r.xid, r.err), (1, OK, 2, OK), "replies")
        st = Reader(r.body, 4).stat()
        eq(st.czxid, w.zxid, "write reply zxid == czxid of its node")
        expect(r.zxid >= w.zxid, "the read behind it sees it")
        zx.append(w.zxid - z)
    eq(sorted(zx), [1, 2, 3], "zxids")
    return f"3 sessions' creates: reply zxids {zx} relative to z, each the node's czxid"


@fact(10, "other-sessions-read-during-a-write")
def _(ctx):
    a, b = ctx.conn(), ctx.conn()
    seen = []
    for i in range(20):
        z = a.zxid()
        a.send(CREATE, create_req(f"/p{i}"))
        b.send(EXISTS, path_req(f"/p{i}"))
        rb, ra = b.read_frame(), a.read_frame()
        eq((ra.err, ra.zxid), (OK, z + 1), "write")
        expect((rb.err, rb.zxid) in ((NO_NODE, z), (OK, z + 1)),
               f"read saw neither the state before nor after: {rb.summary()}")
        seen.append("before" if rb.err == NO_NODE else "after")
    return (f"20 tries, exists from B sent right after A's create: B saw the state "
            f"before {seen.count('before')}x, after {seen.count('after')}x (never a mix)")


@fact(10, "pipelined-writes-see-earlier-pending-writes")
def _(ctx):
    c = ctx.conn()
    reqs = [(CREATE, create_req("/a"), OK), (CREATE, create_req("/a"), NODE_EXISTS),
            (SET_DATA, set_data_req("/a", b"1", 0), OK), (SET_DATA, set_data_req("/a", b"2", 0), BAD_VERSION),
            (SET_DATA, set_data_req("/a", b"3", 1), OK), (DELETE, delete_req("/a", 1), BAD_VERSION),
            (CREATE, create_req("/a/c"), OK), (DELETE, delete_req("/a"), NOT_EMPTY),
            (DELETE, delete_req("/a/c"), OK), (DELETE, delete_req("/a", 2), OK),
            (SET_DATA, set_data_req("/a", b""), NO_NODE), (CREATE, create_req("/a"), OK)]
    c.send_raw(b"".join(struct.pack(">i", 8 + len(b)) + int32(i + 1) + int32(op) + b
                        for i, (op, b, _) in enumerate(reqs)))
    got = [c.read_frame().err for _ in reqs]
    eq(got, [e for _, _, e in reqs], "errors of 12 pipelined writes")
    eq(c.stat("/a").version, 0, "version of the re-created node")
    return f"12 writes in one segment, each checked against the ones before it: {got}"


# ================================================================== §11 frame limits and odd frames


@fact(11, "frame-length-limits")
def _(ctx):
    out = []
    for length in (0x100000, 0x100064, 0x7FFFFFFF, 0, -1, -100, -(2 ** 31)):
        c = ctx.conn()
        c.send_raw(struct.pack(">i", length))
        close_instant(c, 5)
        out.append(length)
    d = ctx.conn(handshake=False)
    d.send_raw(struct.pack(">i", 0x100000))
    close_instant(d, 5)
    return f"after the handshake, lengths {[hex(x) for x in out]} -> EOF, no bytes; 0x100000 as the first frame too"


@fact(11, "max-size-frame-accepted")
def _(ctx):
    c = ctx.conn()
    c.create("/big")
    z = c.zxid()
    head = int32(2) + int32(SET_DATA) + string("/big")
    n = 0xFFFFF - len(head) - 4 - 4
    payload = head + int32(n) + b"\0" * n + int32(-1)
    eq(len(payload), 0xFFFFF, "payload size")
    c.send_frame(payload)
    f = c.read_frame(10)
    eq(f.summary(), (2, z + 1, OK), "reply")
    return f"a 0xfffff-byte setData frame ({n} data bytes) is served"


@fact(11, "max-size-zero-connect-frame")
def _(ctx):
    c = ctx.conn(handshake=False)
    c.send_frame(b"\0" * 0xFFFFF)
    r = parse_connect_response(c.read_payload(10))
    ctx.track(ctx.main, r)
    eq((len(r.raw), r.timeout, r.read_only), (37, 2 * TICK_MS, False), "response")
    expect(r.session_id != 0, "a session")
    return f"0xfffff zero bytes as ConnectRequest -> new session, timeout {r.timeout}, 37-byte response"


@fact(11, "garbage-before-handshake")
def _(ctx):
    c = ctx.conn(handshake=False)
    c.send_raw(b"abcdefgh")
    close_instant(c, 5)
    return "'abcdefgh' as the first bytes -> EOF, no bytes"


@fact(11, "four-letter-word-after-handshake")
def _(ctx):
    c = ctx.conn()
    c.send_raw(b"ruok")
    close_instant(c, 5)
    return "'ruok' after the handshake is a frame length -> EOF, no bytes"


@fact(11, "short-request-frames")
def _(ctx):
    for payload in (b"\x00\x01", b"\x00\x00\x00\x01"):
        c = ctx.conn()
        c.send_frame(payload)
        close_instant(c, 5)
    return "2- and 4-byte request frames (no full RequestHeader) -> EOF, no bytes"


@fact(11, "truncated-bodies")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    got = []
    for xid, op, body in [(1, EXISTS, b""), (2, GET_CHILDREN, string("/")),
                          (3, GET_DATA, b"\x00\x00\x00\x64/")]:
        c.send(op, body, xid=xid)
        f = c.read_frame()
        eq((f.summary(), f.body), ((xid, z, MARSHALLING_ERROR), b""), f"truncated op {op}")
        got.append(f.raw.hex())
    c.send(CREATE, b"\x00\x00\x00\x02/a", xid=4)
    f = c.read_frame()
    eq((f.summary(), f.body), ((4, z + 1, MARSHALLING_ERROR), b""), "truncated create")
    eq(c.err(EXISTS, path_req("/")), OK, "connection kept")
    return f"truncated reads -> RH(xid, last zxid, -5) e.g. {got[0]}; truncated create -> -5 with a new zxid; connection kept"


@fact(11, "trailing-bytes-ignored")
def _(ctx):
    c = ctx.conn()
    f = c.call(EXISTS, path_req("/") + b"garbage")
    eq((f.err, len(f.body)), (OK, STAT_SIZE), "exists with trailing bytes")
    return "exists + 7 garbage bytes -> a normal reply"


@fact(11, "unknown-opcode")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    f = c.call(99, b"body", xid=5)
    eq(f.raw, int32(5) + int64(-1) + int32(UNIMPLEMENTED), "reply")
    close_instant(c, 5)
    again = ctx.resume(c)
    eq(again.zxid(), z, "no zxid consumed")
    return f"op 99 -> {f.raw.hex()} (zxid -1, UNIMPLEMENTED), then EOF; session survives"


# ================================================================== §12 connections that misbehave


def close_instants(conns: list, timeout: float) -> list:
    """Wait until the server has closed every connection in ``conns`` without sending a
    byte; return the instant each one closed."""
    deadline = time.monotonic() + timeout
    when = [None] * len(conns)
    while None in when:
        left = deadline - time.monotonic()
        open_ = [c for c, w in zip(conns, when) if w is None]
        expect(left > 0, f"{len(open_)} connection(s) still open after {timeout}s")
        ready, _, _ = select.select([c.sock for c in open_], [], [], left)
        now = time.monotonic()
        for i, c in enumerate(conns):
            if when[i] is None and c.sock in ready:
                try:
                    data = c.sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                expect(not data, f"expected a silent close, got bytes {data[:40].hex()}")
                when[i] = now
    return when


def grid_offsets(instants: list, interval_ms: int) -> list:
    base = instants[0]
    return [round(((t - base) * 1000 + interval_ms / 2) % interval_ms - interval_ms / 2)
            for t in instants]


def partial_connect(c: Conn, n: int = 6) -> None:
    """Bytes of a ConnectRequest that never completes: its length prefix (44) and ``n``
    bytes of the payload."""
    c.send_raw(int32(44) + b"\0" * n)


@fact(12, "sessionless-connection-timeout-default")
def _(ctx):
    limit = 10000
    t0 = time.monotonic()
    idle, partial = ctx.conn(handshake=False), ctx.conn(handshake=False)
    partial_connect(partial)
    t_bytes = time.monotonic()
    ti, tp = close_instants([idle, partial], 2 * limit / 1000 + 5)
    d_idle, d_part = round((ti - t0) * 1000), round((tp - t_bytes) * 1000)
    for what, d in (("no bytes", d_idle), ("part of a ConnectRequest", d_part)):
        expect(limit - 5 <= d <= 2 * limit + 150,
               f"{what}: closed {d} ms after the last bytes, outside [{limit}, {2 * limit}]")
    expect(abs((tp - ti) * 1000) <= 40, "both closed at one instant")
    return (f"default zookeeper.nio.sessionlessCnxnTimeout ({limit} ms): a connection that sends "
            f"nothing is closed without a byte {d_idle} ms after it opened; one that sent 10 bytes "
            f"of a ConnectRequest {d_part} ms after them (same instant)")


@fact(12, "sessionless-connection-timeout-property", "sessionless-1500")
def _(ctx):
    limit = 1500
    srv = ctx.server("sessionless-1500")
    t0 = time.monotonic()
    idle = ctx.conn(handshake=False, server=srv)
    [ti] = close_instants([idle], 2 * limit / 1000 + 2)
    d_idle = round((ti - t0) * 1000)
    # part of a ConnectRequest, one more byte every second: each byte restarts the timer
    slow = ctx.conn(handshake=False, server=srv)
    slow.send_raw(int32(44))
    for _ in range(4):
        expect(slow.is_open_after(1.0), "closed while bytes kept arriving every second")
        slow.send_raw(b"\0")
    t_last = time.monotonic()
    [ts] = close_instants([slow], 2 * limit / 1000 + 2)
    d_slow, kept = round((ts - t_last) * 1000), round((t_last - t0 - (ti - t0)) * 1000)
    for what, d in (("no bytes", d_idle), ("after the last byte", d_slow)):
        expect(limit - 5 <= d <= 2 * limit + 150, f"{what}: closed after {d} ms, outside "
               f"[{limit}, {2 * limit}]")
    offsets = grid_offsets([ti, ts], limit)
    expect(max(map(abs, offsets)) <= 40, f"closes not on a common {limit} ms grid: {offsets}")
    # a completed handshake is not subject to it
    c = ctx.conn(server=srv, timeout_ms=10000)
    expect(c.is_open_after(2 * limit / 1000 + 0.5), "an established session's connection closed")
    return (f"-Dzookeeper.nio.sessionlessCnxnTimeout={limit}: no bytes -> closed {d_idle} ms "
            f"after opening; a ConnectRequest trickled one byte per second stayed open "
            f"4 s and was closed {d_slow} ms after its last byte; closes on one {limit} ms grid "
            f"(offsets {offsets}); a session with timeout 10000 ms stays open past {2 * limit + 500} ms")


BIG_VALUE = 512 << 10


def big_get_data_pipeline(c: Conn, count: int) -> float:
    """``count`` getData /big requests in one write, none of whose replies we read."""
    c.sock.settimeout(30)
    c.send_raw(b"".join(struct.pack(">i", 8 + len(path_req("/big"))) + int32(x) + int32(GET_DATA)
                        + path_req("/big") for x in range(1, count + 1)))
    return time.monotonic()


def small_rcvbuf(c: Conn) -> None:
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)


def rss_mb(pid: int) -> int | None:
    """The resident set of a process in MiB; None once it is exiting (no VmRSS line)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def cons_line(srv: ServerProcess, c: Conn) -> str | None:
    me = ":%d[" % c.sock.getsockname()[1]
    lines = [ln for ln in four_letter(srv.port, "cons").splitlines() if me in ln]
    return lines[0] if lines else None


@fact(12, "expired-session-of-a-non-reader-closed")
def _(ctx):
    a = ctx.conn()
    a.create("/big", b"x" * BIG_VALUE)
    hog = ctx.conn(timeout_ms=1000)
    small_rcvbuf(hog)
    hog.create("/e", flags=1)
    a.call(EXISTS, path_req("/e", True))
    t_last = big_get_data_pipeline(hog, 199)
    line = cons_line(ctx.main, hog)
    expect(line is not None and "recved=" in line, "the non-reader's connection in cons")
    te, f = event_instant(a, 5)
    eq((f.event().type, f.event().path), (DELETED, "/e"), "expiry of the non-reader's session")
    expect(wait_until(lambda: cons_line(ctx.main, hog) is None, 5), "connection still in cons")
    tg = time.monotonic()
    d_exp, d_gone = round((te - t_last) * 1000), round((tg - te) * 1000)
    expect(1000 - 5 <= d_exp <= 1500 + 150, f"expired {d_exp} ms after the last request")
    expect(d_gone <= 500, f"connection left cons {d_gone} ms after the expiry")
    return (f"199 pipelined getData of a 512 KiB node, replies never read, session timeout "
            f"1000 ms: expired {d_exp} ms after the last request, connection gone from cons "
            f"{d_gone} ms after the NodeDeleted event")


def slow_reader_run(ctx, name: str, seconds: float) -> NS:
    """4000 pipelined getData of one 512 KiB node on a connection that never reads, while
    another session does setData+getData in a loop; sample the server's resident set."""
    srv = ctx.server(name)
    a = ctx.conn(server=srv)
    a.create("/big", b"x" * BIG_VALUE)
    a.create("/mine", flags=1)
    base = rss_mb(srv.proc.pid)
    hog = ctx.conn(server=srv, timeout_ms=10000)
    small_rcvbuf(hog)
    t0 = big_get_data_pipeline(hog, 4000)
    r = NS(base=base, peak=base, worst_ms=0, rounds=0, failed=None, died_after=None)
    while time.monotonic() - t0 < seconds:
        rss = rss_mb(srv.proc.pid) if running(srv) else None
        if rss is None:
            r.died_after = round(time.monotonic() - t0, 1)
            break
        r.peak = max(r.peak, rss)
        if r.failed is None:
            t = time.monotonic()
            try:
                eq(a.err(SET_DATA, set_data_req("/mine", b"%d" % r.rounds)), OK, "setData")
                eq(a.call(GET_DATA, path_req("/mine")).reader().buffer(), b"%d" % r.rounds, "getData")
                r.rounds += 1
                r.worst_ms = max(r.worst_ms, round((time.monotonic() - t) * 1000))
            except (ConnectionClosed, FrameTimeout, OSError, NotHeld) as e:
                r.failed = f"{type(e).__name__} after {r.rounds} rounds"
        time.sleep(0.02)
    if r.died_after is None and not running(srv):
        r.died_after = round(time.monotonic() - t0, 1)
    if r.died_after is not None:
        srv.proc.wait(10)
        r.rc = srv.proc.returncode
    r.log = srv.full_log()
    return r


@fact(12, "slow-reader-default-settings", "slow-reader")
def _(ctx):
    r = slow_reader_run(ctx, "slow-reader", 6.0)
    eq((r.died_after, r.failed), (None, None), "server alive, other session served")
    expect("OutOfMemoryError" not in r.log, "OutOfMemoryError in the server log")
    expect(r.peak - r.base < 200, f"resident set grew from {r.base} to {r.peak} MB")
    return (f"default settings (-Xmx2g, getData response cache on): 4000 pipelined getData of "
            f"one 512 KiB node never read -> RSS {r.base} -> peak {r.peak} MB in 6 s, no "
            f"OutOfMemoryError; another session's {r.rounds} setData+getData all answered, "
            f"slowest {r.worst_ms} ms")


@fact(12, "slow-reader-out-of-memory", "slow-reader-nocache")
def _(ctx):
    r = slow_reader_run(ctx, "slow-reader-nocache", 60.0)
    expect(r.died_after is not None, f"server still running after 60 s (peak RSS {r.peak} MB)")
    oom = [ln.strip() for ln in r.log.splitlines() if "OutOfMemoryError" in ln]
    expect(oom, "no OutOfMemoryError in the server log")
    severe = re.findall(r"Severe unrecoverable error, from thread : (\S+)", r.log)
    expect(severe, "no 'Severe unrecoverable error' log line")
    return (f"-Dzookeeper.maxResponseCacheSize=0, -Xmx2g: the same 4000 getData -> RSS "
            f"{r.base} -> {r.peak} MB, '{oom[0]}' (critical thread {severe[0]}), the server "
            f"shut down and the JVM exited "
            f"(code {r.rc}) {r.died_after} s after the requests were sent; other session: "
            f"{r.failed or 'served until then'}")


# ================================================================== §13 bad requests: truncated, trailing, reconfig, SASL
# (this section and §14 are kept by the request-decoding work; ZOOKEEPER_FACTS.md §13, §14)

OP_CHECK_WATCHES, OP_REMOVE_WATCHES, OP_CREATE_CONTAINER, OP_DELETE_CONTAINER = 17, 18, 19, 20
OP_CREATE_TTL, OP_RECONFIG, OP_SASL, OP_SET_WATCHES2, OP_ADD_WATCH = 21, 16, 102, 105, 106
RECONFIG_DISABLED, SESSION_CLOSED_REQUIRE_SASL_AUTH = -123, -124

from rawclient import acl_list  # noqa: E402

SERVER_SYSPROPS.update({
    "reconfig-enabled": {},
    "enforce-digest": {"zookeeper.enforce.auth.enabled": "true",
                       "zookeeper.enforce.auth.schemes": "digest"},
    "enforce-ip": {"zookeeper.enforce.auth.enabled": "true", "zookeeper.enforce.auth.schemes": "ip"},
    "enforce-digest-ip": {"zookeeper.enforce.auth.enabled": "true",
                          "zookeeper.enforce.auth.schemes": "digest,ip"},
})
SERVER_CFG.update({"reconfig-enabled": {"reconfigEnabled": "true"}})


def logged_txns(srv: ServerProcess) -> dict:
    """zxid -> (cxid, txn type, ErrorTxn err or None) for every txn in ``srv``'s log, read
    with the documented log format (16-byte file header; per entry a long checksum, an
    int length, the entry, one 'B'; an entry starts with TxnHeader(clientId long, cxid
    int, zxid long, time long, type int))."""
    out = {}
    files = glob.glob(os.path.join(srv.cfg["dataDir"], "version-2", "log.*"))
    for path in sorted(files, key=lambda p: int(p.rsplit(".", 1)[1], 16)):
        with open(path, "rb") as f:
            data = f.read()
        pos = 16
        while pos + 12 <= len(data):
            _, n = struct.unpack_from(">qi", data, pos)
            if n <= 0 or pos + 12 + n > len(data):
                break
            entry = data[pos + 12:pos + 12 + n]
            _, cxid, zxid, _, typ = struct.unpack_from(">qiqqi", entry, 0)
            err = struct.unpack_from(">i", entry, 32)[0] if typ == -1 else None
            out[zxid] = (cxid, typ, err)
            pos += 12 + n + 1
    return out


def error_txn_at(srv: ServerProcess, zxid: int) -> tuple:
    """(cxid, err) of the error txn logged at ``zxid`` (the log is synced before a reply)."""
    got = wait_until(lambda: zxid in logged_txns(srv), 5.0)
    expect(got, f"no txn at zxid {zxid:#x} in the log")
    cxid, typ, err = logged_txns(srv)[zxid]
    eq(typ, -1, f"txn type at zxid {zxid:#x}")
    return cxid, err


# Ops with a record, and a valid body for each (on a tree holding /t).
BAD_REQ_READS = [
    ("exists", EXISTS, path_req("/t")), ("getData", GET_DATA, path_req("/t")),
    ("getACL", GET_ACL, path_only_req("/t")), ("getChildren", GET_CHILDREN, path_req("/t")),
    ("getChildren2", GET_CHILDREN2, path_req("/t")), ("sync", SYNC, path_only_req("/t")),
    ("getAllChildrenNumber", GET_ALL_CHILDREN_NUMBER, path_only_req("/t")),
    ("getEphemerals", GET_EPHEMERALS, path_only_req("/t")),
    ("checkWatches", OP_CHECK_WATCHES, string("/t") + int32(3)),
    ("removeWatches", OP_REMOVE_WATCHES, string("/t") + int32(3)),
    ("addWatch", OP_ADD_WATCH, string("/t") + int32(0)),
    ("multiRead", MULTI_READ, multi_req([(GET_DATA, path_req("/t"))])),
    ("setWatches", SET_WATCHES, set_watches_req(0, ["/t"], [], [])),
    ("setWatches2", OP_SET_WATCHES2, set_watches_req(0, ["/t"], [], []) + int32(0) + int32(0)),
]
BAD_REQ_WRITES = [
    ("create", CREATE, create_req("/n")), ("create2", CREATE2, create_req("/n")),
    ("createContainer", OP_CREATE_CONTAINER, create_req("/n", flags=4)),
    ("createTTL", OP_CREATE_TTL, create_req("/n", flags=5) + int64(1000)),
    ("delete", DELETE, delete_req("/n")), ("setData", SET_DATA, set_data_req("/t", b"x")),
    ("setACL", SET_ACL, set_acl_req("/t", OPEN_ACL)), ("check", CHECK, check_req("/t", -1)),
    ("multi", MULTI, multi_req([(CHECK, check_req("/t", -1))])),
]


def cuts(body: bytes) -> list:
    return [b"", body[:3], body[:-1]]


@fact(13, "truncated-read-bodies")
def _(ctx):
    c = ctx.conn()
    c.create("/t", b"d")
    z = c.zxid()
    n = 0
    for name, op, body in BAD_REQ_READS:
        xid = SET_WATCHES_XID if op == SET_WATCHES else 77
        for cut in cuts(body):
            c.send(op, cut, xid=xid)
            f = c.read_frame()
            eq((f.summary(), f.body), ((xid, z, MARSHALLING_ERROR), b""), f"{name} cut to {len(cut)} bytes")
            n += 1
    eq(c.zxid(), z, "no zxid spent")
    return (f"{n} truncated read bodies ({len(BAD_REQ_READS)} opcodes, each empty, 3 bytes, one byte "
            f"short) -> RH(xid, last zxid, -5), no body, connection kept, no zxid spent")


@fact(13, "truncated-write-bodies-log-error-txns")
def _(ctx):
    c = ctx.conn()
    c.create("/t", b"d")
    srv = ctx.main
    n = 0
    for name, op, body in BAD_REQ_WRITES + [
            ("multi with a create cut short", MULTI, multi_header(CREATE, False, -1) + create_req("/m")[:-2]),
            ("multi without its end header", MULTI, multi_header(CHECK, False, -1) + check_req("/t", -1))]:
        for cut in (cuts(body) if not name.startswith("multi ") else [body]):
            z = c.zxid()
            c.send(op, cut, xid=50 + n)
            f = c.read_frame()
            eq((f.summary(), f.body), ((50 + n, z + 1, MARSHALLING_ERROR), b""), f"{name} cut to {len(cut)}")
            eq(error_txn_at(srv, z + 1), (50 + n, MARSHALLING_ERROR), f"{name}: txn logged")
            n += 1
    eq(c.err(EXISTS, path_req("/n")), NO_NODE, "nothing created")
    return (f"{n} truncated writes (create, create2, createContainer, createTTL, delete, setData, "
            f"setACL, check, multi, multi with an op cut short or no end header) -> RH(xid, z+1, -5), "
            f"no body; the log holds an error txn (type -1, ErrorTxn err -5, the request's cxid) at z+1")


@fact(13, "truncated-reconfig-spends-no-zxid")
def _(ctx):
    out = []
    for srv in (ctx.main, ctx.server("reconfig-enabled")):
        c = ctx.conn(server=srv)
        z = c.zxid()
        for cut in (b"", string("") * 2, string("") * 3 + int64(-1)[:-1]):
            f = c.call(OP_RECONFIG, cut, xid=7)
            eq((f.summary(), f.body), ((7, z, MARSHALLING_ERROR), b""), "truncated reconfig")
        eq(c.zxid(), z, "no zxid spent")
        out.append(srv.cfg.get("reconfigEnabled", "false"))
    return f"reconfig cut short (reconfigEnabled {' and '.join(out)}) -> RH(xid, last zxid, -5), no zxid spent"


@fact(13, "trailing-bytes-ignored-per-opcode")
def _(ctx):
    c = ctx.conn()
    c.create("/t", b"d")
    z = c.zxid()
    for name, op, body in BAD_REQ_READS:
        if op in (SET_WATCHES, OP_SET_WATCHES2):
            body = set_watches_req(z, ["/t"], [], []) + (int32(0) * 2 if op == OP_SET_WATCHES2 else b"")
        xid = SET_WATCHES_XID if op == SET_WATCHES else 77
        plain = c.call(op, body, xid=xid)
        extra = c.call(op, body + b"garbage!", xid=xid)
        eq((extra.summary(), extra.body), (plain.summary(), plain.body), f"{name} + 8 bytes")
    out = []
    # (/t is watched now: the writes stay off it, so no notification comes first)
    for name, op, body in [("create", CREATE, create_req("/x")), ("setData", SET_DATA, set_data_req("/x", b"v")),
                           ("delete", DELETE, delete_req("/x")),
                           ("multi", MULTI, multi_req([(CREATE, create_req("/y"))])),
                           ("multi ended by (13, done, -1) + a check body", MULTI,
                            multi_header(CHECK, True, -1) + check_req("/t", -1))]:
        z = c.zxid()
        f = c.call(op, body + b"garbage!", xid=9)
        eq((f.xid, f.zxid, f.err), (9, z + 1, OK), f"{name} + 8 bytes")
        out.append(f"{name} -> OK {f.body.hex() or '(no body)'}")
    eq(c.err(EXISTS, path_req("/y")), OK, "multi applied")
    f = c.call(AUTH, auth_req("digest", b"u:p") + b"garbage!", xid=AUTH_XID)
    eq(f.summary(), (AUTH_XID, 0, OK), "auth + 8 bytes")
    f = c.call(PING, b"garbage!", xid=PING_XID)
    eq((f.xid, f.err), (PING_XID, OK), "ping + 8 bytes")
    f = c.call(WHO_AM_I, b"garbage!", xid=3)
    eq(f.err, OK, "whoAmI + 8 bytes")
    z = c.zxid()
    f = c.call(CLOSE_SESSION, b"garbage!", xid=4)
    eq(f.summary(), (4, z + 1, OK), "closeSession + 8 bytes")
    close_instant(c, 5)
    return (f"8 garbage bytes after every read's record: the same reply as without; writes: "
            f"{'; '.join(out)}; auth, ping, whoAmI, closeSession with 8 extra bytes: normal replies")


@fact(13, "multi-odd-op-lists")
def _(ctx):
    c = ctx.conn()
    c.create("/t", b"d")
    got = []
    for name, op, body, dz, want_body in [
            ("op 99 inside multi", MULTI, multi_header(99, False, -1) + path_req("/t") + MULTI_END, 1, b""),
            ("header (-1, false, -1) in multi", MULTI, multi_header(-1, False, -1), 1, b""),
            ("op 99 inside multiRead", MULTI_READ, multi_header(99, False, -1) + path_req("/t") + MULTI_END, 0, b""),
            ("an empty multi", MULTI, MULTI_END, 1, MULTI_END)]:
        z = c.zxid()
        f = c.call(op, body, xid=6)
        want = OK if want_body else MARSHALLING_ERROR
        eq((f.summary(), f.body), ((6, z + dz, want), want_body), name)
        eq(c.zxid(), z + dz, f"{name}: zxids spent")
        got.append(f"{name} -> ({'z+1' if dz else 'z'}, {want})")
    return "; ".join(got)


@fact(13, "bad-auth-and-sasl-packets-close")
def _(ctx):
    out = []
    watcher = ctx.conn()
    for i, (name, op, body, xid) in enumerate([
            ("auth cut to 2 bytes", AUTH, b"\0\0", AUTH_XID),
            ("auth without its buffer", AUTH, int32(0) + string("digest"), AUTH_XID),
            ("SASL packet cut to 2 bytes", OP_SASL, b"\0\0", 5),
            ("SASL packet with a null token", OP_SASL, buffer(None), 5)]):
        c = ctx.conn()
        c.send_raw(struct.pack(">i", 8 + len(body)) + int32(xid) + int32(op) + body
                   + struct.pack(">i", 8 + len(create_req(f"/after{i}"))) + int32(6) + int32(CREATE)
                   + create_req(f"/after{i}"))
        close_instant(c, 5)
        eq(watcher.err(EXISTS, path_req(f"/after{i}")), NO_NODE, f"{name}: the create after it")
        ctx.resume(c)
        out.append(name)
    c = ctx.conn()
    c.send_frame(b"\0\0\0\x01\0\0\0")
    close_instant(c, 5)
    return (f"{', '.join(out)} -> EOF, no bytes; a create pipelined behind it is not applied; "
            f"the session survives; a 7-byte request frame -> EOF too")


@fact(13, "sasl-without-sasl-configured")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    got = []
    for token in (b"tok", b""):
        f = c.call(OP_SASL, buffer(token), xid=5)
        eq(f.raw, int32(5) + int64(0) + int32(OK) + int32(-1), f"SASL token {token!r}")
        got.append(f.raw.hex())
    eq(c.zxid(), z, "no zxid spent")
    return (f"opcode 102 with a token -> {got[0]}: RH(xid, zxid 0, OK) + SetSASLResponse(null "
            f"token); the same for an empty token; connection kept, no zxid spent")


@fact(13, "reconfig-on-a-standalone-server")
def _(ctx):
    out = []
    bodies = [string("") * 3 + int64(-1), int32(-1) * 3 + int64(-1),
              string("server.2=127.0.0.1:1234:1235;1236") + int32(-1) * 2 + int64(-1)]
    for srv, want in ((ctx.main, RECONFIG_DISABLED), (ctx.server("reconfig-enabled"), UNIMPLEMENTED)):
        for auth in (False, True):
            c = ctx.conn(server=srv)
            if auth and srv is ctx.main:
                eq(c.auth("digest", SUPER_USER_PASS).err, OK, "super auth")
            for body in bodies:
                z = c.zxid()
                f = c.call(OP_RECONFIG, body, xid=7)
                eq((f.summary(), f.body), ((7, z + 1, want), b""), f"reconfig, expected {want}")
                eq(error_txn_at(srv, z + 1), (7, want), "error txn")
        out.append(f"reconfigEnabled={srv.cfg.get('reconfigEnabled', 'false')} -> {want}")
    return (f"standalone reconfig (empty, null and joining arguments; with and without super auth): "
            f"{'; '.join(out)}; RH(xid, z+1, err), no body, an error txn with that err at z+1")


@fact(13, "delete-container-from-a-client")
def _(ctx):
    c = ctx.conn()
    c.create("/t")
    for body in (string("/t"), b"", b"/t"):
        z = c.zxid()
        f = c.call(OP_DELETE_CONTAINER, body, xid=8)
        eq((f.summary(), f.body), ((8, z + 1, BAD_ARGUMENTS), b""), f"op 20 body {body!r}")
        eq(error_txn_at(ctx.main, z + 1), (8, BAD_ARGUMENTS), "error txn")
    eq(c.err(EXISTS, path_req("/t")), OK, "/t still there")
    return "op 20 (deleteContainer) with a jute path, an empty body or raw '/t' -> RH(xid, z+1, BADARGUMENTS), error txn"


@fact(13, "bad-lengths-and-counts")
def _(ctx):
    c = ctx.conn()
    c.create("/t")
    z = c.zxid()
    for body in (int32(-2) + b"/t\0", int32(-100) + b"/t\0"):
        eq(c.call(EXISTS, body, xid=2).summary(), (2, z, MARSHALLING_ERROR), "exists, string length < -1")
    eq(c.call(EXISTS, int32(-1) + b"\0", xid=2).summary(), (2, z, MARSHALLING_ERROR), "exists, null path")
    got = []
    for name, body, want in [
            ("data length -2", string("/v") + int32(-2) + acl_list(OPEN_ACL) + int32(0), MARSHALLING_ERROR),
            ("ACL count -2", string("/v") + buffer(b"") + int32(-2) + int32(0), INVALID_ACL),
            ("ACL count -1", string("/v") + buffer(b"") + int32(-1) + int32(0), INVALID_ACL),
            ("ACL count 1000000", string("/v") + buffer(b"") + int32(1000000) + int32(0), MARSHALLING_ERROR)]:
        z = c.zxid()
        f = c.call(CREATE, body, xid=3)
        eq(f.summary(), (3, z + 1, want), f"create, {name}")
        got.append(f"{name} -> {want}")
    z = c.zxid()
    f = c.call(SET_WATCHES, int64(z) + int32(-2) * 3, xid=SET_WATCHES_XID)
    eq(f.summary(), (SET_WATCHES_XID, z, OK), "setWatches with counts -2")
    return (f"exists with a path length -2 or -100 -> -5; create: {', '.join(got)} (zxid spent); "
            f"setWatches with three counts -2 -> OK")


@fact(13, "watch-flag-any-non-zero-byte")
def _(ctx):
    c, o = ctx.conn(), ctx.conn()
    c.create("/t")
    for b in (b"\x02", b"\xff"):
        eq(c.err(EXISTS, string("/t") + b), OK, "exists")
        o.call(SET_DATA, set_data_req("/t", b"v"))
        eq(c.events(), [(CHANGED, "/t")], f"watch byte {b.hex()}")
    return "exists with the watch byte 0x02 or 0xff sets a data watch (any non-zero byte is true)"


# sync echoes its path: what ZooKeeper made of "/" + these bytes, as the hex of the
# path after the "/" in the reply.
JAVA_UTF8_ECHO = [
    ("ff", "efbfbd"), ("c328", "efbfbd28"), ("eda080", "efbfbd"), ("f09080", "efbfbd"),
    ("e282", "efbfbd"), ("c0af", "efbfbdefbfbd"), ("f888808080", "efbfbd" * 5),
    ("f4908080", "efbfbd" * 4), ("61808062", "61efbfbdefbfbd62"), ("e228a1", "efbfbd28efbfbd"),
    ("eda0", "efbfbd"), ("eda041", "efbfbd41"), ("edbfbf", "efbfbd"), ("ed9fbf", "ed9fbf"),
    ("efbfbf", "efbfbf"), ("e08080", "efbfbd" * 3), ("e09fbf", "efbfbd" * 3),
    ("f0808080", "efbfbd" * 4), ("eda080edb080", "efbfbd" * 2), ("eda0c3a9", "efbfbdc3a9"),
    ("ed", "efbfbd"), ("ed41", "efbfbd41"), ("eda0808080", "efbfbd" * 3), ("f48f", "efbfbd"),
    ("c1bf", "efbfbd" * 2), ("c280", "c280"), ("e0a080", "e0a080"), ("f08f8080", "efbfbd" * 4),
    ("eda08041", "efbfbd41"), ("ede0", "efbfbd" * 2), ("edc0", "efbfbd" * 2), ("ff41", "efbfbd41"),
    ("eda0c0", "efbfbd" * 2),
]


@fact(13, "invalid-utf8-becomes-replacement-characters")
def _(ctx):
    c = ctx.conn()
    z = c.zxid()
    for raw, echoed in JAVA_UTF8_ECHO:
        f = c.call(SYNC, string(b"/" + bytes.fromhex(raw)), xid=3)
        eq((f.summary(), f.body[5:].hex()), ((3, z, OK), echoed), f"sync /{raw}")
    eq(c.err(EXISTS, string(b"/\xff") + b"\0"), NO_NODE, "exists /<ff>")
    f = c.call(CREATE, create_req(b"/\xffq\xc3"), xid=4)
    eq(f.summary(), (4, z + 1, BAD_ARGUMENTS), "create /<ff>q<c3>: U+FFFD is not a valid path character")
    return (f"{len(JAVA_UTF8_ECHO)} malformed byte sequences in a sync path are echoed with U+FFFD "
            f"(one per maximal invalid subsequence, except that ED A0..BF [80..BF] is a single one); "
            f"create /<ff>q<c3> -> BADARGUMENTS; connection kept")


@fact(13, "supplementary-characters-sent-as-surrogate-pairs")
def _(ctx):
    c = ctx.conn()
    f = c.call(SYNC, string("/\U0001F600"), xid=3)
    eq(f.body[4:].hex(), "2feda0bdedb880", "the echoed path")
    return ("sync '/' + U+1F600 (sent as f09f9880) is echoed as 2f eda0bd edb880: 3.8.0 encodes "
            "each UTF-16 surrogate as 3 bytes (CESU-8), not the 4-byte UTF-8 form")


@fact(13, "unknown-opcode-then-pipelined-create")
def _(ctx):
    c, o = ctx.conn(), ctx.conn()
    c.send_raw(struct.pack(">i", 8) + int32(1) + int32(99)
               + struct.pack(">i", 8 + len(create_req("/u"))) + int32(2) + int32(CREATE) + create_req("/u"))
    f = c.read_frame()
    eq(f.raw, int32(1) + int64(-1) + int32(UNIMPLEMENTED), "op 99 reply")
    close_instant(c, 5)
    eq(o.err(EXISTS, path_req("/u")), OK, "the create behind op 99")
    return ("op 99 and a create in one write -> the UNIMPLEMENTED reply, then EOF; the create "
            "is applied all the same (without a reply)")


# ================================================================== §14 zookeeper.enforce.auth


class OwnConns:
    """Connections to a server the fact runs on its own (ctx.reset would try to wipe an
    enforcing server without auth); ``close()`` ends every session they opened."""

    def __init__(self, srv: ServerProcess):
        self.srv = srv
        self.conns: list = []

    def conn(self, handshake: bool = True) -> Conn:
        c = Conn(self.srv.port)
        self.conns.append(c)
        if handshake:
            c.handshake()
        return c

    def resumable(self, c: Conn) -> bool:
        d = Conn(self.srv.port)
        try:
            return d.handshake(session_id=c.session.session_id,
                               passwd=c.session.passwd).session_id == c.session.session_id
        finally:
            d.close()

    def close(self) -> None:
        for c in self.conns:
            c.close()
            if c.session is None:
                continue
            try:
                d = Conn(self.srv.port)
                if d.handshake(session_id=c.session.session_id, passwd=c.session.passwd).session_id:
                    d.auth("digest", b"cleanup:pw")
                    d.call(CLOSE_SESSION)
                d.close()
            except (ConnectionClosed, OSError, AssertionError, ValueError):
                pass


ENFORCED_REQUESTS = [
    ("exists", EXISTS, path_req("/"), 1), ("getData", GET_DATA, path_req("/zookeeper"), 2),
    ("getChildren", GET_CHILDREN, path_req("/"), 3), ("getChildren2", GET_CHILDREN2, path_req("/"), 4),
    ("getACL", GET_ACL, path_only_req("/"), 5), ("sync", SYNC, path_only_req("/"), 6),
    ("create", CREATE, create_req("/a"), 7), ("setData", SET_DATA, set_data_req("/", b"x"), 8),
    ("delete", DELETE, delete_req("/nope"), 9), ("setACL", SET_ACL, set_acl_req("/nope", OPEN_ACL), 10),
    ("check", CHECK, check_req("/nope", -1), 11), ("multi", MULTI, multi_req([(CREATE, create_req("/m"))]), 12),
    ("multiRead", MULTI_READ, multi_req([(GET_DATA, path_req("/"))]), 13),
    ("setWatches", SET_WATCHES, set_watches_req(0, ["/"], [], []), SET_WATCHES_XID),
    ("ping", PING, b"", PING_XID), ("closeSession", CLOSE_SESSION, b"", 14), ("whoAmI", WHO_AM_I, b"", 15),
    ("getAllChildrenNumber", GET_ALL_CHILDREN_NUMBER, path_only_req("/"), 16),
    ("getEphemerals", GET_EPHEMERALS, path_only_req("/"), 17), ("addWatch", OP_ADD_WATCH, string("/") + int32(0), 18),
    ("removeWatches", OP_REMOVE_WATCHES, string("/") + int32(3), 19),
    ("reconfig", OP_RECONFIG, string("") * 3 + int64(-1), 21), ("opcode 99", 99, b"", 22),
    ("truncated exists", EXISTS, b"", 23), ("createSession opcode", CREATE_SESSION, b"", 24),
    ("deleteContainer", OP_DELETE_CONTAINER, string("/"), 25),
]


@fact(14, "enforce-auth-refuses-every-request", "enforce-digest")
def _(ctx):
    srv = ctx.server("enforce-digest")
    own = OwnConns(srv)
    try:
        probe = own.conn()
        eq(probe.auth("digest", b"u:p").err, OK, "auth")
        z = probe.zxid()
        for name, op, body, xid in ENFORCED_REQUESTS:
            c = own.conn()
            c.send(op, body, xid=xid)
            f = c.read_frame()
            eq((f.summary(), f.body), ((xid, 0, SESSION_CLOSED_REQUIRE_SASL_AUTH), b""), name)
            close_instant(c, 5)
            expect(own.resumable(c), f"{name}: the session survives")
        # Only the connections' own createSession txns were spent.
        eq(probe.zxid(), z + len(ENFORCED_REQUESTS), "zxids: one createSession per connection")
        eq(probe.err(EXISTS, path_req("/a")), NO_NODE, "nothing created")
    finally:
        own.close()
    return (f"schemes=digest, no addauth: each of {len(ENFORCED_REQUESTS)} requests (every read, "
            f"write, multi, multiRead, sync, setWatches, ping, closeSession, reconfig, opcode 99, a "
            f"truncated body, op -10, op 20) -> RH(xid, zxid 0, -124 SESSIONCLOSEDREQUIRESASLAUTH), "
            f"no body, then EOF; the session survives; nothing applied")


@fact(14, "enforce-auth-what-passes", "enforce-digest")
def _(ctx):
    srv = ctx.server("enforce-digest")
    own = OwnConns(srv)
    try:
        c = own.conn()
        f = c.call(OP_SASL, buffer(b"tok"), xid=20)
        eq(f.raw, int32(20) + int64(0) + int32(OK) + int32(-1), "SASL packet")
        eq(c.auth("digest", b"u:p").summary(), (AUTH_XID, 0, OK), "addauth digest")
        f = c.call(CREATE, create_req("/a"), xid=30)
        eq((f.err, f.reader().string()), (OK, "/a"), "create after addauth")
        eq(c.call(EXISTS, path_req("/a"), xid=31).err, OK, "exists after addauth")
        c.call(DELETE, delete_req("/a"))
        d = own.conn()
        eq(d.auth("digest", b"nocolon").summary(), (AUTH_XID, 0, OK), "digest without a colon")
        eq(d.err(EXISTS, path_req("/")), OK, "served after it")
        e = own.conn()
        eq(e.auth("ip", b"127.0.0.1").summary(), (AUTH_XID, 0, OK), "addauth ip")
        e.send(EXISTS, path_req("/"), xid=32)
        eq(e.read_frame().summary(), (32, 0, SESSION_CLOSED_REQUIRE_SASL_AUTH), "after addauth ip")
        close_instant(e, 5)
        g = own.conn()
        g.send(AUTH, auth_req("foo", b"x"), xid=AUTH_XID)
        eq(g.read_frame().summary(), (AUTH_XID, 0, AUTH_FAILED), "unknown scheme")
        close_instant(g, 5)
    finally:
        own.close()
    return ("schemes=digest: a SASL packet gets its usual OK (no token) and the connection stays; "
            "after addauth digest (even 'nocolon') every request is served; addauth ip is "
            "answered OK but does not count (-124, EOF); an unknown scheme -> AUTHFAILED, EOF")


@fact(14, "enforce-auth-pipelined", "enforce-digest")
def _(ctx):
    srv = ctx.server("enforce-digest")
    own = OwnConns(srv)
    try:
        watcher = own.conn()
        watcher.auth("digest", b"u:p")
        c = own.conn()
        c.send_raw(struct.pack(">i", 14) + int32(40) + int32(EXISTS) + path_req("/")
                   + struct.pack(">i", 8 + len(create_req("/p"))) + int32(41) + int32(CREATE) + create_req("/p"))
        eq(c.read_frame().summary(), (40, 0, SESSION_CLOSED_REQUIRE_SASL_AUTH), "first request")
        close_instant(c, 5)
        eq(watcher.err(EXISTS, path_req("/p")), NO_NODE, "the pipelined create")
        d = own.conn(handshake=False)
        d.send_raw(int32(len(d.connect_request())) + d.connect_request()
                   + struct.pack(">i", 14) + int32(50) + int32(EXISTS) + path_req("/"))
        d.session = parse_connect_response(d.read_payload())
        eq(d.read_frame().summary(), (50, 0, SESSION_CLOSED_REQUIRE_SASL_AUTH), "behind the handshake")
        close_instant(d, 5)
        e = own.conn()
        e.send_raw(struct.pack(">i", 8 + len(auth_req("digest", b"u:p"))) + int32(AUTH_XID) + int32(AUTH)
                   + auth_req("digest", b"u:p") + struct.pack(">i", 14) + int32(60) + int32(EXISTS)
                   + path_req("/"))
        eq([e.read_frame().summary()[::2] for _ in range(2)], [(AUTH_XID, OK), (60, OK)], "auth then exists")
    finally:
        own.close()
    return ("exists + create in one write -> -124 for the exists, EOF, the create not applied; "
            "a request pipelined behind the ConnectRequest -> ConnectResponse, -124, EOF; "
            "addauth + exists in one write -> both answered OK")


@fact(14, "enforce-auth-ip-scheme", "enforce-ip")
def _(ctx):
    out = []
    for name in ("enforce-ip", "enforce-digest-ip"):
        own = OwnConns(ctx.server(name))
        try:
            c = own.conn()
            for label, op, body, xid in ENFORCED_REQUESTS[:6] + [("ping", PING, b"", PING_XID)]:
                eq(c.call(op, body, xid=xid).err, OK, f"{name}: {label}")
        finally:
            own.close()
        out.append(SERVER_SYSPROPS[name]["zookeeper.enforce.auth.schemes"])
    return (f"schemes={' and schemes='.join(out)}: reads, sync and ping served without any addauth "
            f"(every connection holds an ip identity)")


@fact(14, "enforce-auth-scheme-names", "enforce-ip")
def _(ctx):
    started = {}
    for schemes in ("Digest", "foo", "digest,foo", " digest , ip "):
        srv = ServerProcess("zookeeper", sysprops={"zookeeper.enforce.auth.enabled": "true",
                                                    "zookeeper.enforce.auth.schemes": schemes})
        try:
            srv.start()
            c = Conn(srv.port)
            c.handshake()
            started[schemes] = c.call(EXISTS, path_req("/")).err
            c.call(CLOSE_SESSION)
            c.close()
        except RuntimeError:
            started[schemes] = "no start"
        finally:
            srv.cleanup()        # stops its own process, by PID
    eq(started, {"Digest": "no start", "foo": "no start", "digest,foo": "no start", " digest , ip ": OK},
       "start-up per schemes value")
    return ("schemes 'Digest', 'foo', 'digest,foo' -> the server does not start; ' digest , ip ' "
            "starts and serves an unauthenticated exists (trimmed names, ip counts)")


# ================================================================== §15 SASL (DIGEST-MD5)

# The JAAS file the SASL servers get (-Djava.security.auth.login.config), written into a
# temporary directory the first time a server needs it and removed by Ctx.stop_all.
JAAS = "<jaas file>"
JAAS_TEXT = """// what kazoo's harness writes, plus a user of our own
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_bob="bob_pw"
    user_jaasuser="jaas_password";
};
"""
SASL_PROVIDER = {"authProvider.1": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"}
SERVER_SYSPROPS.update({
    "sasl": {"java.security.auth.login.config": JAAS, "zookeeper.superUser": "jaasuser"},
    "sasl-no-provider": {"java.security.auth.login.config": JAAS},
    "sasl-required": {"java.security.auth.login.config": JAAS,
                      "zookeeper.sessionRequireClientSASLAuth": "true"},
    "sasl-allow-failed": {"java.security.auth.login.config": JAAS,
                          "zookeeper.allowSaslFailedClients": "true"},
})
SERVER_CFG.update({"sasl": SASL_PROVIDER, "sasl-required": SASL_PROVIDER,
                   "sasl-allow-failed": SASL_PROVIDER})
CHALLENGE = re.compile(rb'realm="zk-sasl-md5",nonce="[A-Za-z0-9+/]{40}",charset=utf-8,'
                       rb'algorithm=md5-sess\Z')


def sasl_client(user: str, password: str):
    """pure-sasl's DIGEST-MD5 client (what kazoo uses), set up as kazoo sets it up."""
    import puresasl.client

    return puresasl.client.SASLClient("zk-sasl-md5", service="zookeeper", mechanism="DIGEST-MD5",
                                      username=user, password=password)


def sasl_call(c: Conn, token: bytes, xid: int):
    f = c.call(OP_SASL, buffer(token), xid=xid)
    return f, (f.reader().buffer() if f.body else "no body")


def sasl_login(c: Conn, user: str, password: str):
    """Challenge, response: -> the second reply frame and the client."""
    cli = sasl_client(user, password)
    f, challenge = sasl_call(c, b"", 1)
    eq(f.summary(), (1, 0, OK), "challenge reply header")
    expect(CHALLENGE.match(challenge or b""), f"challenge {challenge!r}")
    f, _ = sasl_call(c, cli.process(challenge), 2)
    return f, cli


def who_am_i(c: Conn) -> list:
    r = c.call(WHO_AM_I).reader()
    n = r.int32()
    return [(r.string(), r.string()) for _ in range(n)]


@fact(15, "sasl-digest-md5-exchange", "sasl")
def _(ctx):
    srv = ctx.server("sasl")
    c = ctx.conn(server=srv)
    z = c.zxid()
    f, cli = sasl_login(c, "bob", "bob_pw")
    eq(f.summary(), (2, 0, OK), "response reply header")
    token = f.reader().buffer()
    expect(re.match(rb"rspauth=[0-9a-f]{32}\Z", token or b""), f"final token {token!r}")
    eq(cli.process(token), None, "pure-sasl accepts rspauth")
    expect(cli.complete, "pure-sasl complete")
    eq(sorted(who_am_i(c)), [("ip", "127.0.0.1"), ("sasl", "bob")], "whoAmI")
    eq(c.zxid(), z, "no zxid spent")
    d = ctx.conn(server=srv)
    f, nonempty = sasl_call(d, b"\x60\x82 a GSSAPI-like first token", 1)
    expect(f.err == OK and CHALLENGE.match(nonempty), f"non-empty first token -> {nonempty!r}")
    return ("'' -> RH(1, 0, OK) + realm=\"zk-sasl-md5\",nonce=\"<40 base64>\",charset=utf-8,"
            "algorithm=md5-sess; pure-sasl's response -> RH(2, 0, OK) + rspauth=<32 hex>, accepted "
            "by pure-sasl; whoAmI then (sasl, bob) and (ip, 127.0.0.1); no zxid spent; a non-empty "
            "first token gets the same challenge")


@fact(15, "sasl-failures-close", "sasl")
def _(ctx):
    srv = ctx.server("sasl")
    out = []
    null_failure = int32(0) + int64(0) + int32(AUTH_FAILED) + int32(-1)
    for label, user, pw in (("wrong password", "bob", "nope"), ("unknown user", "eve", "x")):
        c = ctx.conn(server=srv)
        f, _ = sasl_login(c, user, pw)
        eq(f.raw, int32(2) + null_failure[4:], label)
        c.expect_closed(5)
        expect(ctx.resume(c, server=srv) is not None, f"{label}: session survives")
        out.append(label)
    c = ctx.conn(server=srv)
    sasl_call(c, b"", 1)
    f, _ = sasl_call(c, b"garbage", 2)
    eq(f.raw, int32(2) + null_failure[4:], "a garbage response")
    c.expect_closed(5)
    c = ctx.conn(server=srv)
    eq(sasl_login(c, "bob", "bob_pw")[0].err, OK, "login")
    f, _ = sasl_call(c, b"", 3)
    eq(f.raw, int32(3) + null_failure[4:], "a token after success")
    c.expect_closed(5)
    c = ctx.conn(server=srv)
    eq(c.auth("sasl", b"bob:bob_pw").err, AUTH_FAILED, "addauth sasl")
    c.expect_closed(5)
    return (f"{', '.join(out)}, a garbage response, a third token after success -> "
            f"{(int32(2) + null_failure[4:]).hex()}: RH(xid, 0, -115 AUTHFAILED) + a null token, "
            f"then EOF; the session survives; addauth sasl -> AUTHFAILED, EOF")


@fact(15, "sasl-unknown-user-3.8-bug", "sasl")
def _(ctx):
    srv = ctx.server("sasl")
    eq(sasl_login(ctx.conn(server=srv), "bob", "bob_pw")[0].err, OK, "bob's login")
    c = ctx.conn(server=srv)
    f, _ = sasl_login(c, "eve", "bob_pw")
    eq(f.err, OK, "eve (not in the JAAS file) with bob's password")
    eq(sorted(who_am_i(c)), [("ip", "127.0.0.1"), ("sasl", "eve")], "eve's whoAmI")
    f, _ = sasl_login(ctx.conn(server=srv), "eve", "x")
    eq(f.err, AUTH_FAILED, "eve with another password")
    return ("after bob's login, user eve (not in the JAAS file) logs in with bob's password and "
            "gets sasl:eve (ZOOKEEPER-4839: one callback handler shared by all connections; "
            "fixed in 3.9); eve with any other password -> AUTHFAILED")


# pure-sasl's digest-response, edited (label, pattern, replacement); each must fail but
# the one marked: the JDK reads "nonce-count", never RFC 2831's "nc".
EDITED_RESPONSES = [
    ("no realm", rb'realm="zk-sasl-md5",', b"", AUTH_FAILED),
    ("another realm", rb'realm="zk-sasl-md5"', b'realm="other"', AUTH_FAILED),
    ("another digest-uri", rb'digest-uri="zookeeper/', b'digest-uri="imap/', AUTH_FAILED),
    ("no digest-uri", rb'digest-uri="[^"]*",?', b"", AUTH_FAILED),
    ("nc=00000002", rb"nc=00000001", b"nc=00000002", OK),
    ("nonce-count=00000002", rb"\Z", b",nonce-count=00000002", AUTH_FAILED),
    ("qop=auth-int", rb"qop=auth", b"qop=auth-int", AUTH_FAILED),
    ("another nonce", rb'(?<!c)nonce="[^"]*"', b'nonce="x"', AUTH_FAILED),
    ("no cnonce", rb'cnonce="[^"]*",?', b"", AUTH_FAILED),
    ("username twice", rb"\Z", b',username="bob"', AUTH_FAILED),
    ("charset=latin1", rb"\Z", b",charset=latin1", AUTH_FAILED),
    ("5000 more bytes", rb"\Z", b"," + b"x" * 5000, AUTH_FAILED),
]


@fact(15, "sasl-bad-responses", "sasl")
def _(ctx):
    srv = ctx.server("sasl")
    got = {}
    for label, pattern, replacement, err in EDITED_RESPONSES:
        c = ctx.conn(server=srv)
        cli = sasl_client("bob", "bob_pw")
        response = cli.process(sasl_call(c, b"", 1)[1])
        edited = re.sub(pattern, replacement, response, count=1)
        expect(edited != response, f"{label}: the edit changed nothing")
        got[label] = sasl_call(c, edited, 2)[0].err
    eq(got, {label: err for label, _, _, err in EDITED_RESPONSES}, "edited responses")
    return (f"pure-sasl's response edited: {', '.join(l for l, *_, e in EDITED_RESPONSES if e)} "
            f"-> AUTHFAILED; nc=00000002 (with the response computed for 1) -> OK")


@fact(15, "sasl-kerberos-style-user-names")
def _(ctx):
    jaas_dir = tempfile.mkdtemp(prefix="probe-jaas-")
    path = os.path.join(jaas_dir, "names.conf")
    with open(path, "w") as f:
        f.write('Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                '  "user_svc/host@"="p1"\n  "user_bob@EX.COM"="p2"\n  "user_a/b"="p3";\n};\n')
    out = {}
    try:
        for flag in ("false", "true"):
            srv = ServerProcess("zookeeper", cfg=SASL_PROVIDER, sysprops={
                "java.security.auth.login.config": path,
                "zookeeper.kerberos.removeHostFromPrincipal": flag,
                "zookeeper.kerberos.removeRealmFromPrincipal": flag})
            try:
                srv.start()
                for user, pw in (("svc/host@", "p1"), ("bob@EX.COM", "p2"), ("a/b", "p3")):
                    c = Conn(srv.port)
                    c.handshake()
                    eq(sasl_login(c, user, pw)[0].err, OK, f"{user} logs in")
                    out[(flag, user)] = [i for sc, i in who_am_i(c) if sc == "sasl"][0]
                    c.call(CLOSE_SESSION)
                    c.close()
            finally:
                srv.cleanup()      # stops its own process, by PID
    finally:
        shutil.rmtree(jaas_dir, ignore_errors=True)
    eq(out, {("false", "svc/host@"): "svc/host@", ("false", "bob@EX.COM"): "bob@EX.COM",
             ("false", "a/b"): "a/b", ("true", "svc/host@"): "svc", ("true", "bob@EX.COM"):
             "bob@EX.COM", ("true", "a/b"): "a/b"}, "sasl ids")
    return ("users 'svc/host@', 'bob@EX.COM', 'a/b' (quoted JAAS keys) log in as themselves; "
            "with kerberos.removeHostFromPrincipal and removeRealmFromPrincipal=true "
            "'svc/host@' becomes 'svc', the others stay")


@fact(15, "sasl-acls", "sasl")
def _(ctx):
    srv = ctx.server("sasl")
    a = ctx.conn(server=srv)
    eq(sasl_login(a, "bob", "bob_pw")[0].err, OK, "login")
    other = ctx.conn(server=srv)
    sasl_bob = [(PERM_ALL, "sasl", "bob")]
    eq(a.call(CREATE, create_req("/s", b"x", sasl_bob)).err, OK, "create with sasl:bob")
    eq(other.err(GET_DATA, path_req("/s")), NO_AUTH, "another client reads /s")
    eq(a.err(GET_DATA, path_req("/s")), OK, "bob reads /s")
    eq(a.call(CREATE, create_req("/a", b"", [(PERM_ALL, "auth", "")])).err, OK, "auth ACL")
    f = a.call(GET_ACL, path_req("/a"))
    acl = f.reader().acl_list()
    eq([tuple(x) for x in acl], [(PERM_ALL, "sasl", "bob")], "auth ACL expands to")
    valid = {}
    for ident in ("anything", "a/b", "svc/host@REALM", "x@", "a@b@c", "a/b/c@R", "@"):
        valid[ident] = a.call(CREATE, create_req("/v", b"", [(PERM_ALL, "sasl", ident)])).err
        if valid[ident] == OK:
            a.call(DELETE, delete_req("/v"))
    eq(valid, {"anything": OK, "a/b": OK, "svc/host@REALM": OK, "x@": OK, "a@b@c": INVALID_ACL,
               "a/b/c@R": INVALID_ACL, "@": OK}, "sasl ids")
    sup = ctx.conn(server=srv)
    eq(sasl_login(sup, "super", "super_secret")[0].err, OK, "login as super")
    eq(sup.err(GET_DATA, path_req("/s")), OK, "sasl:super reads /s")
    eq(sorted(who_am_i(sup)), [("ip", "127.0.0.1"), ("sasl", "super")], "super's whoAmI")
    su = ctx.conn(server=srv)
    eq(sasl_login(su, "jaasuser", "jaas_password")[0].err, OK, "login as jaasuser")
    eq(sorted(who_am_i(su)), [("ip", "127.0.0.1"), ("sasl", "jaasuser"), ("super", "")],
       "zookeeper.superUser's whoAmI")
    eq(su.err(GET_DATA, path_req("/s")), OK, "zookeeper.superUser reads /s")
    for c in (a, su):
        c.call(DELETE, delete_req("/s"))
    return ("with SASLAuthenticationProvider: sasl:bob ACL -> bob reads, others NOAUTH; an auth "
            "ACL expands to sasl:bob; ids 'a@b@c', 'a/b/c@R' -> INVALIDACL, 'anything', 'a/b', "
            "'svc/host@REALM', 'x@', '@' valid; the SASL user named super matches every sasl "
            "entry (whoAmI: sasl:super only); zookeeper.superUser=jaasuser adds (super, '')")


@fact(15, "sasl-without-the-provider", "sasl-no-provider")
def _(ctx):
    srv = ctx.server("sasl-no-provider")
    a = ctx.conn(server=srv)
    eq(sasl_login(a, "bob", "bob_pw")[0].err, OK, "login")
    eq(sorted(who_am_i(a)), [("ip", "127.0.0.1"), ("sasl", "")], "whoAmI")
    eq(a.call(CREATE, create_req("/s", b"", [(PERM_ALL, "sasl", "bob")])).err, INVALID_ACL,
       "create with sasl:bob")
    eq(a.call(CREATE, create_req("/a", b"", [(PERM_ALL, "auth", "")])).err, INVALID_ACL,
       "create with an auth ACL")
    return ("JAAS file but no SASLAuthenticationProvider: the login works, whoAmI shows the "
            "scheme sasl with an empty name, sasl:bob and auth ACLs are INVALIDACL")


@fact(15, "sasl-required", "sasl-required")
def _(ctx):
    srv = ctx.server("sasl-required")
    own = OwnConns(srv)
    try:
        c = own.conn()
        f = c.call(EXISTS, path_req("/"), xid=5)
        eq(f.raw, int32(5) + int64(0) + int32(SESSION_CLOSED_REQUIRE_SASL_AUTH), "exists unauthenticated")
        c.expect_closed(5)
        c = own.conn()
        eq(c.auth("digest", b"u:p").err, OK, "addauth digest")
        eq(c.err(EXISTS, path_req("/")), SESSION_CLOSED_REQUIRE_SASL_AUTH, "exists with digest")
        c.expect_closed(5)
        c = own.conn()
        f, _ = sasl_login(c, "bob", "nope")
        eq(f.raw, int32(2) + int64(0) + int32(SESSION_CLOSED_REQUIRE_SASL_AUTH) + int32(-1),
           "wrong password")
        c.expect_closed(5)
        c = own.conn()
        eq(sasl_login(c, "bob", "bob_pw")[0].err, OK, "login")
        eq(c.err(EXISTS, path_req("/")), OK, "exists after login")
        eq(c.call(CLOSE_SESSION).err, OK, "closeSession after login")
    finally:
        own.close()
    return ("sessionRequireClientSASLAuth=true: exists without SASL, or with only digest -> "
            "RH(xid, 0, -124), EOF; a wrong password -> RH(2, 0, -124) + null token, EOF; after "
            "a SASL login requests are served")


@fact(15, "sasl-allow-failed-clients", "sasl-allow-failed")
def _(ctx):
    srv = ctx.server("sasl-allow-failed")
    c = ctx.conn(server=srv)
    f, _ = sasl_login(c, "bob", "nope")
    eq(f.raw, int32(2) + int64(0) + int32(OK) + int32(-1), "wrong password")
    eq(sorted(who_am_i(c)), [("ip", "127.0.0.1")], "whoAmI")
    f, _ = sasl_call(c, b"", 3)
    eq(f.raw, int32(3) + int64(0) + int32(OK) + int32(-1), "another token")
    eq(c.err(EXISTS, path_req("/")), OK, "exists")
    return ("allowSaslFailedClients=true: a wrong password -> RH(2, 0, OK) + null token, the "
            "connection stays, no sasl id; later tokens the same")


@fact(15, "jaas-start-up")
def _(ctx):
    d = tempfile.mkdtemp(prefix="probe-jaas-")
    cases = {"missing file": None, "syntax error": "Server {\n  org.x.Y required\n  a=b\n};\n",
             "# comment": "# a comment\n" + JAAS_TEXT, "no Server section": "Other {\n  "
             "org.apache.zookeeper.server.auth.DigestLoginModule required;\n};\n",
             "unknown module": "Server {\n  org.example.NoSuch required;\n};\n",
             "comments": "// line\n/* block\n */ Server { /* here */\n"
             "  org.apache.zookeeper.server.auth.DigestLoginModule required // there\n"
             "  user_bob=\"bob_pw\";\n};\n",
             "serverconfig=Other, section Other": JAAS_TEXT.replace("Server {", "Other {"),
             "serverconfig=Other, no such section": JAAS_TEXT,
             "serverconfig=Other, no file": False}
    out = {}
    try:
        for label, text in cases.items():
            path = os.path.join(d, re.sub(r"\W+", "-", label) + ".conf")
            if text:
                with open(path, "w") as f:
                    f.write(text)
            props = {} if text is False else {"java.security.auth.login.config": path}
            if label.startswith("serverconfig=Other"):
                props["zookeeper.sasl.serverconfig"] = "Other"
            srv = ServerProcess("zookeeper", cfg=SASL_PROVIDER, sysprops=props)
            try:
                srv.start()
                c = Conn(srv.port)
                c.handshake()
                f, tok = sasl_call(c, b"", 1)
                out[label] = "starts, SASL %s" % ("off" if tok is None else "on")
                c.call(CLOSE_SESSION)
                c.close()
            except RuntimeError:
                out[label] = "no start"
            finally:
                srv.cleanup()      # stops its own process, by PID
        srv = ServerProcess("zookeeper", sysprops={"zookeeper.sessionRequireClientSASLAuth": "true"})
        try:
            srv.start()
            out["sessionRequireClientSASLAuth without the provider"] = "starts"
        except RuntimeError:
            out["sessionRequireClientSASLAuth without the provider"] = "no start"
        finally:
            srv.cleanup()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    eq(out, {"missing file": "no start", "syntax error": "no start", "# comment": "no start",
             "no Server section": "starts, SASL off", "unknown module": "no start",
             "comments": "starts, SASL on",
             "serverconfig=Other, section Other": "starts, SASL on",
             "serverconfig=Other, no such section": "starts, SASL off",
             "serverconfig=Other, no file": "starts, SASL off",
             "sessionRequireClientSASLAuth without the provider": "no start"}, "start-up")
    return ("JAAS file missing, with a syntax error (an option without ';'), with a '#' line, or "
            "naming a login module class that does not exist -> no start; without a Server "
            "section -> starts, a SASL packet gets OK with a null token; // and /* */ comments "
            "-> starts, SASL on; zookeeper.sasl.serverconfig=Other: section Other -> SASL on, no "
            "such section, or no JAAS file at all -> starts with SASL off; "
            "sessionRequireClientSASLAuth=true without SASLAuthenticationProvider -> no start")


# ------------------------------------------------------------------ runner


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", default="", help="run only facts whose id contains this")
    ap.add_argument("--list", action="store_true", help="list the fact ids")
    args = ap.parse_args(argv)
    facts = sorted((f for f in FACTS if args.k in f.id), key=lambda f: f.section)
    if args.list:
        for f in facts:
            print(f"§{f.section} {f.id}")
        return 0
    if not apache_zookeeper_available():
        print("Apache ZooKeeper (/usr/share/java/zookeeper.jar) or java is missing", file=sys.stderr)
        return 2
    ctx = Ctx()
    failed = 0
    t0 = time.monotonic()
    try:
        dpkg = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "zookeeper"],
                              capture_output=True, text=True).stdout.strip()
        print(f"# Apache ZooKeeper {dpkg or '(version unknown)'} (Debian package), tickTime {TICK_MS} ms")
        for f in facts:
            try:
                observed = f.fn(ctx)
                print(f"§{f.section} {f.id}: {observed}", flush=True)
            except NotHeld as e:
                failed += 1
                print(f"§{f.section} {f.id}: DOES NOT HOLD: {e}", flush=True)
            except Exception as e:  # the probe itself broke: also a failure
                failed += 1
                print(f"§{f.section} {f.id}: PROBE ERROR: {type(e).__name__}: {e}", flush=True)
            finally:
                try:
                    ctx.reset()
                except Exception as e:
                    failed += 1
                    print(f"§{f.section} {f.id}: PROBE ERROR while resetting: {e!r}", flush=True)
    finally:
        ctx.stop_all()
    print(f"# {len(facts) - failed}/{len(facts)} facts hold ({time.monotonic() - t0:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
