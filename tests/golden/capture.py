"""Record golden ZooKeeper wire vectors with a small TCP proxy, and check them.

The proxy listens on 127.0.0.1, forwards each connection to a real Apache
ZooKeeper and records every length-prefixed frame in both directions: a frame
is a 4-byte big-endian length followed by that many payload bytes, and the
recorded ``hex`` is the payload only (without the length prefix).

Vector files (``kazoo.json``, ``java.json`` next to this script) are JSON
objects::

    {"description": "...",
     "frames": [{"dir": "c2s" | "s2c",
                 "kind": "connect_request" | "connect_response" | "request"
                         | "response" | "notification",
                 "opcode": int | null,   # request type; for a response the
                                         # type of the request with the same
                                         # xid, else by special xid (ping -2 ->
                                         # 11, auth -4 -> 100, setWatches -8 ->
                                         # 101); null for
                                         # connect frames and notifications
                 "xid": int | null,      # null for connect frames
                 "hex": "...",
                 "conn": int,            # 1, 2...: TCP connection through the proxy
                 "step": "..."}, ...]}   # what the driver was doing (informative)

Frames of one connection are in wire order per direction; a request is always
recorded before its response.

Regenerate (needs Apache ZooKeeper from the Debian package, kazoo, javac/java),
from the repository root::

    python tests/golden/capture.py --record kazoo java   # rewrites both files
    python tests/golden/capture.py --check                # decode every frame
    python tests/golden/capture.py --check --verbose tests/golden/kazoo.json

``--check`` runs a throwaway ``struct``-based decoder over every frame: it
must consume each payload exactly (the optional trailing readOnly byte of the
connect frames aside) and the kinds/opcodes/xids must agree with the headers.
Session ids, passwords, zxids and times differ on every recording.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)

JAVA_CLASSPATH = ":".join(
    [
        "/usr/share/java/zookeeper.jar",
        "/usr/share/java/zookeeper-jute.jar",
        "/usr/share/java/slf4j-api.jar",
        "/usr/share/java/slf4j-nop.jar",
    ]
)

PING_XID, AUTH_XID, SET_WATCHES_XID, WATCH_XID = -2, -4, -8, -1
SPECIAL_XID_OPCODES = {PING_XID: 11, AUTH_XID: 100, SET_WATCHES_XID: 101}

OPCODE_NAMES = {
    0: "notification", 1: "create", 2: "delete", 3: "exists", 4: "getData",
    5: "setData", 6: "getACL", 7: "setACL", 8: "getChildren", 9: "sync",
    11: "ping", 12: "getChildren2", 13: "check", 14: "multi", 15: "create2",
    16: "reconfig", 17: "checkWatches", 18: "removeWatches",
    19: "createContainer", 20: "deleteContainer", 21: "createTTL",
    22: "multiRead", 100: "auth", 101: "setWatches", 102: "sasl",
    103: "getEphemerals", 104: "getAllChildrenNumber", 105: "setWatches2",
    106: "addWatch", 107: "whoAmI", -10: "createSession", -11: "closeSession",
    -1: "error",
}


# --------------------------------------------------------------------------
# The recording proxy
# --------------------------------------------------------------------------

class _ConnState:
    def __init__(self, conn_id: int):
        self.conn_id = conn_id
        self.seen_first = {"c2s": False, "s2c": False}
        self.pending: dict = {}  # xid -> opcode of requests awaiting a reply


class RecordingProxy:
    """TCP proxy 127.0.0.1:<port> -> upstream, recording whole frames."""

    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.frames: list = []
        self.step = "connect"
        self._cond = threading.Condition()
        self._sockets: list = []
        self._conn_count = 0
        self._closed = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._cond:
                self._conn_count += 1
                state = _ConnState(self._conn_count)
                self._sockets.extend([client, upstream])
            for src, dst, direction in ((client, upstream, "c2s"), (upstream, client, "s2c")):
                threading.Thread(target=self._pump, args=(src, dst, direction, state),
                                 daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str,
              state: _ConnState) -> None:
        buf = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                buf += data
                while len(buf) >= 4:
                    (length,) = struct.unpack(">i", buf[:4])
                    if len(buf) < 4 + length:
                        break
                    frame, buf = buf[: 4 + length], buf[4 + length:]
                    # Record before forwarding: a request is on file before the
                    # server can possibly answer it.
                    self._record(direction, state, frame[4:])
                    dst.sendall(frame)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _record(self, direction: str, state: _ConnState, payload: bytes) -> None:
        with self._cond:
            xid = opcode = None
            if not state.seen_first[direction]:
                state.seen_first[direction] = True
                kind = "connect_request" if direction == "c2s" else "connect_response"
            elif direction == "c2s":
                kind = "request"
                xid, opcode = struct.unpack_from(">ii", payload, 0)
                state.pending[xid] = opcode
            else:
                (xid,) = struct.unpack_from(">i", payload, 0)
                if xid == WATCH_XID:
                    kind = "notification"
                else:
                    kind = "response"
                    opcode = state.pending.pop(xid, SPECIAL_XID_OPCODES.get(xid))
            step = self.step
            if xid == PING_XID:
                step = "ping"
            self.frames.append({"dir": direction, "kind": kind, "opcode": opcode, "xid": xid,
                                "hex": payload.hex(), "conn": state.conn_id, "step": step})
            self._cond.notify_all()

    def set_step(self, step: str) -> None:
        with self._cond:
            self.step = step

    def wait_for(self, predicate, timeout: float = 10.0) -> dict:
        """Wait until a recorded frame satisfies ``predicate``; return it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for f in self.frames:
                    if predicate(f):
                        return f
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("frame not seen")
                self._cond.wait(remaining)

    def drop_connections(self) -> None:
        """Cut every proxied connection (the client sees a dropped socket)."""
        with self._cond:
            socks, self._sockets = self._sockets, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._listener.close()
        self.drop_connections()


# --------------------------------------------------------------------------
# Throwaway decoder used by --check (struct only)
# --------------------------------------------------------------------------

class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError(f"short read at {self.pos} ({fmt})")
        vals = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return vals[0]

    def int(self) -> int:
        return self._take(">i")

    def long(self) -> int:
        return self._take(">q")

    def bool(self) -> bool:
        b = self._take(">B")
        if b not in (0, 1):
            raise ValueError(f"bad bool {b}")
        return bool(b)

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        if self.pos + n > len(self.data):
            raise ValueError("short buffer")
        b = self.data[self.pos: self.pos + n]
        self.pos += n
        return b

    def ustring(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def vector(self, item):
        n = self.int()
        if n < 0:
            return None
        return [item() for _ in range(n)]

    def stat(self) -> dict:
        names = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
                 "ephemeralOwner", "dataLength", "numChildren", "pzxid")
        fmts = (">q", ">q", ">q", ">q", ">i", ">i", ">i", ">q", ">i", ">i", ">q")
        return {n: self._take(f) for n, f in zip(names, fmts)}

    def acl(self) -> dict:
        return {"perms": self.int(), "scheme": self.ustring(), "id": self.ustring()}

    def remaining(self) -> int:
        return len(self.data) - self.pos


def _create_req(r: Reader, ttl: bool = False) -> dict:
    d = {"path": r.ustring(), "data": r.buffer(), "acl": r.vector(r.acl), "flags": r.int()}
    if ttl:
        d["ttl"] = r.long()
    return d


def decode_request_body(opcode: int, r: Reader):
    if opcode in (1, 15, 19):
        return _create_req(r)
    if opcode == 21:
        return _create_req(r, ttl=True)
    if opcode == 2:
        return {"path": r.ustring(), "version": r.int()}
    if opcode in (3, 4, 8, 12):
        return {"path": r.ustring(), "watch": r.bool()}
    if opcode == 5:
        return {"path": r.ustring(), "data": r.buffer(), "version": r.int()}
    if opcode in (6, 9, 20, 104):
        return {"path": r.ustring()}
    if opcode == 7:
        return {"path": r.ustring(), "acl": r.vector(r.acl), "version": r.int()}
    if opcode in (11, -11, 107):
        return {}
    if opcode == 13:
        return {"path": r.ustring(), "version": r.int()}
    if opcode in (14, 22):
        ops = []
        while True:
            typ, done, err = r.int(), r.bool(), r.int()
            if done:
                if (typ, err) != (-1, -1):
                    raise ValueError(f"bad multi terminator {typ} {err}")
                return {"ops": ops}
            ops.append({"type": typ, "op": decode_request_body(typ, r)})
    if opcode == 100:
        return {"type": r.int(), "scheme": r.ustring(), "auth": r.buffer()}
    if opcode in (101, 105):
        d = {"relativeZxid": r.long(), "data": r.vector(r.ustring),
             "exist": r.vector(r.ustring), "child": r.vector(r.ustring)}
        if opcode == 105:
            d["persistent"] = r.vector(r.ustring)
            d["persistentRecursive"] = r.vector(r.ustring)
        return d
    if opcode == 102:
        return {"token": r.buffer()}
    if opcode == 103:
        return {"prefixPath": r.ustring()}
    if opcode == 106:
        return {"path": r.ustring(), "mode": r.int()}
    if opcode in (17, 18):
        return {"path": r.ustring(), "type": r.int()}
    raise ValueError(f"no request decoder for opcode {opcode}")


def decode_response_body(opcode: int, r: Reader):
    if opcode in (1, 9):
        return {"path": r.ustring()}
    if opcode in (15, 19, 21):
        return {"path": r.ustring(), "stat": r.stat()}
    if opcode in (2, 11, 13, 17, 18, 20, 100, 101, 105, 106, -11):
        return {}
    if opcode in (3, 5, 7):
        return {"stat": r.stat()}
    if opcode in (4, 16):
        return {"data": r.buffer(), "stat": r.stat()}
    if opcode == 6:
        return {"acl": r.vector(r.acl), "stat": r.stat()}
    if opcode in (8, 103):
        return {"children": r.vector(r.ustring)}
    if opcode == 12:
        return {"children": r.vector(r.ustring), "stat": r.stat()}
    if opcode == 104:
        return {"total": r.int()}
    if opcode == 102:
        return {"token": r.buffer()}
    if opcode == 107:
        return {"clients": r.vector(lambda: (r.ustring(), r.ustring()))}
    if opcode in (14, 22):
        results = []
        while True:
            typ, done, err = r.int(), r.bool(), r.int()
            if done:
                if (typ, err) != (-1, -1):
                    raise ValueError(f"bad multi terminator {typ} {err}")
                return {"results": results}
            if typ == -1:
                results.append({"type": -1, "err": r.int(), "hdr_err": err})
            else:
                results.append({"type": typ, "result": decode_response_body(typ, r)})
    raise ValueError(f"no response decoder for opcode {opcode}")


def decode_frame(frame: dict) -> dict:
    """Decode one recorded frame; raise ValueError if it does not parse exactly."""
    r = Reader(bytes.fromhex(frame["hex"]))
    kind = frame["kind"]
    out: dict = {}
    if kind == "connect_request":
        out = {"protocolVersion": r.int(), "lastZxidSeen": r.long(), "timeOut": r.int(),
               "sessionId": r.long(), "passwd": r.buffer()}
        if r.remaining():
            out["readOnly"] = r.bool()
        expect_xid = expect_op = None
    elif kind == "connect_response":
        out = {"protocolVersion": r.int(), "timeOut": r.int(), "sessionId": r.long(),
               "passwd": r.buffer()}
        if r.remaining():
            out["readOnly"] = r.bool()
        expect_xid = expect_op = None
    elif kind == "request":
        expect_xid, expect_op = r.int(), r.int()
        out = {"xid": expect_xid, "type": expect_op,
               "body": decode_request_body(expect_op, r)}
    elif kind in ("response", "notification"):
        xid, zxid, err = r.int(), r.long(), r.int()
        out = {"xid": xid, "zxid": zxid, "err": err}
        expect_xid = xid
        if kind == "notification":
            if xid != WATCH_XID:
                raise ValueError("notification without xid -1")
            out["event"] = {"type": r.int(), "state": r.int(), "path": r.ustring()}
            expect_op = None
        else:
            if xid == WATCH_XID:
                raise ValueError("response with xid -1")
            expect_op = frame["opcode"]
            if expect_op is None:
                raise ValueError("response without an opcode")
            if xid in SPECIAL_XID_OPCODES and SPECIAL_XID_OPCODES[xid] != expect_op:
                raise ValueError(f"special xid {xid} with opcode {expect_op}")
            # A failed request's reply is the bare header (multi aside: a failed
            # multi still carries its per-op results).
            if err == 0 or expect_op == 14:
                out["body"] = decode_response_body(expect_op, r)
    else:
        raise ValueError(f"unknown kind {kind}")
    if r.remaining():
        raise ValueError(f"{r.remaining()} trailing bytes")
    if frame.get("xid") != expect_xid:
        raise ValueError(f"xid field {frame.get('xid')} != {expect_xid}")
    if frame.get("opcode") != expect_op:
        raise ValueError(f"opcode field {frame.get('opcode')} != {expect_op}")
    want_dir = "c2s" if kind in ("connect_request", "request") else "s2c"
    if frame["dir"] != want_dir:
        raise ValueError(f"{kind} travelling {frame['dir']}")
    return out


def _short(value):
    if isinstance(value, bytes):
        return value.hex() if len(value) > 12 else repr(value)
    if isinstance(value, dict):
        if "czxid" in value:  # a stat: the deterministic part only
            return "stat(v=%d,cv=%d,av=%d,eph=%s,len=%d,n=%d)" % (
                value["version"], value["cversion"], value["aversion"],
                "y" if value["ephemeralOwner"] else "n", value["dataLength"],
                value["numChildren"])
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def check_file(path: str, verbose: bool = False) -> int:
    with open(path) as f:
        doc = json.load(f)
    assert isinstance(doc.get("description"), str) and doc["description"], "description"
    frames = doc["frames"]
    conns: dict = {}
    errors = 0
    for i, frame in enumerate(frames):
        seen = conns.setdefault(frame["conn"], {"c2s": 0, "s2c": 0})
        first = seen[frame["dir"]] == 0
        seen[frame["dir"]] += 1
        try:
            if first != frame["kind"].startswith("connect_"):
                raise ValueError("connect frame is not the first of its direction")
            decoded = decode_frame(frame)
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            errors += 1
            print(f"{path}: frame {i} ({frame.get('kind')}): {exc}")
            continue
        if verbose:
            name = OPCODE_NAMES.get(frame["opcode"], frame["opcode"])
            print(f"{i:3d} c{frame['conn']} {frame['dir']} {frame['kind']:<16} {name!s:<13}"
                  f" [{frame.get('step')}] {_short(decoded)}")
    size = os.path.getsize(path)
    print(f"{path}: {len(frames)} frames, {size} bytes, {errors} errors")
    if size >= 100_000:
        print(f"{path}: too big")
        errors += 1
    return errors


# --------------------------------------------------------------------------
# Traffic drivers
# --------------------------------------------------------------------------

def _start_zookeeper():
    sys.path.insert(0, TESTS)
    from servers import ServerProcess  # noqa: E402

    srv = ServerProcess("zookeeper").start()
    # "ruok" answers imok before the server serves sessions (a connection made
    # then is dropped without a ConnectResponse); "srvr" tells the difference.
    deadline = time.monotonic() + 30
    while not srv.four_letter("srvr").startswith("Zookeeper version"):
        if time.monotonic() > deadline:
            srv.cleanup()
            raise RuntimeError("ZooKeeper is not serving requests")
        time.sleep(0.05)
    return srv


def _zk_version() -> str:
    import zipfile

    with zipfile.ZipFile("/usr/share/java/zookeeper.jar") as jar:
        props = jar.read("META-INF/maven/org.apache.zookeeper/zookeeper/pom.properties")
    for line in props.decode().splitlines():
        if line.startswith("version="):
            return line.split("=", 1)[1].strip()
    return "?"


def _write(path: str, description: str, frames: list) -> None:
    with open(path, "w") as f:
        json.dump({"description": description, "frames": frames}, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(frames)} frames")


def record_kazoo(out_path: str) -> None:
    import kazoo
    from kazoo.client import KazooClient
    from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError
    from kazoo.protocol.states import KazooState
    from kazoo.security import make_digest_acl

    srv = _start_zookeeper()
    proxy = RecordingProxy("127.0.0.1", srv.port)
    zk = KazooClient(hosts=proxy.hosts, timeout=2.0)
    try:
        step = proxy.set_step
        step("connect")
        zk.start(timeout=15)
        step("add_auth digest user:pass")
        zk.add_auth("digest", "user:pass")

        step("create persistent /g")
        zk.create("/g", b"root")
        step("create ephemeral /g/eph")
        zk.create("/g/eph", b"e", ephemeral=True)
        step("create sequential /g/seq-")
        zk.create("/g/seq-", b"", sequence=True)
        step("create ephemeral sequential /g/es-")
        zk.create("/g/es-", b"x", ephemeral=True, sequence=True)
        step("create with digest ACL /g/acl")
        zk.create("/g/acl", b"secret", acl=[make_digest_acl("user", "pass", all=True)])
        step("create2 include_data /g/c2")
        zk.create("/g/c2", b"data2", include_data=True)

        created = threading.Event()
        step("exists present with watch /g")
        zk.exists("/g", watch=lambda ev: None)
        step("exists absent with watch /g/new")
        zk.exists("/g/new", watch=lambda ev: created.set())

        changed = threading.Event()
        step("get with watch /g")
        zk.get("/g", watch=lambda ev: changed.set())
        step("set /g (fires data watch)")
        zk.set("/g", b"root2")
        if not changed.wait(10):
            raise RuntimeError("no NodeDataChanged")

        kids = threading.Event()
        step("get_children with watch /g")
        zk.get_children("/g", watch=lambda ev: kids.set())
        step("get_children include_data with watch /g")
        zk.get_children("/g", watch=lambda ev: None, include_data=True)
        step("create /g/new (fires exists + child watches)")
        zk.create("/g/new", b"")
        if not (created.wait(10) and kids.wait(10)):
            raise RuntimeError("no NodeCreated / NodeChildrenChanged")

        step("get_acls /g/acl")
        acls, _ = zk.get_acls("/g/acl")
        step("set_acls /g/acl")
        zk.set_acls("/g/acl", acls, version=0)
        step("sync /g")
        zk.sync("/g")

        step("transaction ok")
        t = zk.transaction()
        t.create("/g/tx", b"t")
        t.set_data("/g/c2", b"d3")
        t.check("/g", 1)
        t.delete("/g/new")
        t.commit()
        step("transaction failing (bad check)")
        t = zk.transaction()
        t.create("/g/tx2", b"t")
        t.check("/g", 99)
        t.delete("/g/tx")
        t.commit()

        step("delete /g/tx")
        zk.delete("/g/tx")
        step("delete with version /g/c2")
        zk.delete("/g/c2", version=1)

        for label, call, exc in (
            ("error NoNode get /g/missing", lambda: zk.get("/g/missing"), NoNodeError),
            ("exists absent, no watch /g/missing",
             lambda: zk.exists("/g/missing"), None),
            ("error NodeExists create /g", lambda: zk.create("/g"), NodeExistsError),
            ("error BadVersion set /g", lambda: zk.set("/g", b"", version=99), BadVersionError),
            ("error NotEmpty delete /g", lambda: zk.delete("/g"), NotEmptyError),
            ("error NoNode delete /g/missing", lambda: zk.delete("/g/missing"), NoNodeError),
        ):
            step(label)
            try:
                call()
            except Exception as e:  # noqa: BLE001
                if exc is None or not isinstance(e, exc):
                    raise
            else:
                if exc is not None:
                    raise RuntimeError(f"{label}: no error")

        step("idle, waiting for a ping")
        proxy.wait_for(lambda f: f["kind"] == "response" and f["xid"] == PING_XID, 10)

        # Reconnect: leave watches behind, cut the TCP connection, let kazoo
        # reconnect with the same session (it re-sends its auth data).
        step("watches before reconnect")
        after = threading.Event()
        zk.get("/g", watch=lambda ev: after.set())
        zk.get_children("/g", watch=lambda ev: None)
        zk.exists("/g/later", watch=lambda ev: None)
        states: list = []
        reconnected = threading.Event()

        def listener(state):
            states.append(state)
            if state == KazooState.CONNECTED and KazooState.SUSPENDED in states:
                reconnected.set()

        zk.add_listener(listener)
        step("reconnect")
        proxy.drop_connections()
        if not reconnected.wait(15):
            raise RuntimeError("kazoo did not reconnect")
        # kazoo reports CONNECTED before it re-sends its auth data.
        proxy.wait_for(lambda f: f["conn"] > 1 and f["kind"] == "response"
                       and f["xid"] == AUTH_XID, 10)
        step("set /g after reconnect")
        zk.set("/g", b"root3")
        step("get /g after reconnect")
        zk.get("/g")
        after.wait(1.0)  # a data watch re-registered by SetWatches would fire here
        step("close")
        zk.stop()
        zk.close()
        proxy.wait_for(lambda f: f["kind"] == "response" and f["opcode"] == -11, 10)
        saw_set_watches = any(f["opcode"] in (101, 105) for f in proxy.frames)
    finally:
        proxy.close()
        srv.cleanup()

    desc = (
        f"kazoo {kazoo.__version__} <-> Apache ZooKeeper {_zk_version()} (tickTime=500), "
        "captured by tests/golden/capture.py --record kazoo. conn 1: connect, add_auth, "
        "creates, create2, exists/get/get_children watches and their notifications, ACLs, "
        "sync, multi (ok and failing), deletes, errors, ping. Then the proxy drops the TCP "
        "connection; conn 2: kazoo reconnects with the same session id/passwd and re-sends "
        "auth, sets data and closes the session. "
        + ("kazoo sent SetWatches on reconnect." if saw_set_watches else
           "kazoo 2.11 sends NO SetWatches on reconnect (watches set before the drop are "
           "lost server-side: the set on conn 2 produces no notification); see java.json "
           "for SetWatches.")
    )
    _write(out_path, desc, proxy.frames)


def record_java(out_path: str) -> None:
    srv = _start_zookeeper()
    proxy = RecordingProxy("127.0.0.1", srv.port)
    build = tempfile.mkdtemp(prefix="golden-java-")
    try:
        subprocess.run(["javac", "-cp", JAVA_CLASSPATH, "-d", build,
                        os.path.join(HERE, "GoldenJava.java")], check=True)
        proc = subprocess.Popen(
            ["java", "-cp", build + ":" + JAVA_CLASSPATH, "GoldenJava", proxy.hosts],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdin is not None and proc.stdout is not None
        transcript = []
        for line in proc.stdout:
            line = line.rstrip("\n")
            transcript.append(line)
            print("java:", line)
            if line.startswith("STEP "):
                proxy.set_step(line[5:])
                proc.stdin.write("ok\n")
                proc.stdin.flush()
            elif line == "WAIT PING":
                proxy.wait_for(lambda f: f["kind"] == "response" and f["xid"] == PING_XID, 20)
                proc.stdin.write("go\n")
                proc.stdin.flush()
            elif line == "WAIT DROP":
                proxy.set_step("reconnect")
                proxy.drop_connections()
                proc.stdin.write("go\n")
                proc.stdin.flush()
        if proc.wait(60) != 0:
            raise RuntimeError(f"GoldenJava failed: {transcript}")
        proxy.wait_for(lambda f: f["kind"] == "response" and f["opcode"] == -11, 10)
    finally:
        proxy.close()
        srv.cleanup()
        shutil.rmtree(build, ignore_errors=True)
    desc = (
        f"Apache ZooKeeper Java client {_zk_version()} <-> Apache ZooKeeper {_zk_version()} "
        "(tickTime=500), captured by tests/golden/capture.py --record java running "
        "tests/golden/GoldenJava.java. conn 1: connect, create, create2 (create with Stat), "
        "getData with watch + setData -> NodeDataChanged, getChildren2 with watch, exists, "
        "delete, multi, ping; then watches are left and the proxy drops the TCP connection; "
        "conn 2: reconnect with the same session, SetWatches (opcode 101; the 3.8.0 client "
        "gives it the next ordinary xid, not -8, and the server echoes that xid), the "
        "restored data watch fires, close."
    )
    _write(out_path, desc, proxy.frames)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--record", nargs="+", choices=["kazoo", "java"],
                    help="capture traffic against Apache ZooKeeper and rewrite the vectors")
    ap.add_argument("--check", action="store_true", help="decode and validate vector files")
    ap.add_argument("--verbose", "-v", action="store_true", help="print decoded frames")
    ap.add_argument("files", nargs="*", help="vector files for --check (default: both)")
    args = ap.parse_args(argv)
    if not args.record and not args.check:
        ap.error("give --record and/or --check")
    for which in args.record or []:
        path = os.path.join(HERE, f"{which}.json")
        (record_kazoo if which == "kazoo" else record_java)(path)
    errors = 0
    if args.check:
        files = args.files or [os.path.join(HERE, "kazoo.json"), os.path.join(HERE, "java.json")]
        for path in files:
            errors += check_file(path, verbose=args.verbose)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
