"""Raw wire-protocol actors (``r1``..``r9`` in scenarios).

A raw actor is one ZooKeeper session driven byte by byte by the runner itself,
whatever client runs the rest of the scenario.  It exists for what no client
library will do on purpose: stop pinging so the session expires on the server's
schedule, resume another actor's session, send a lone ``check`` or a malformed
frame, or show a reply header's zxid and a notification's zxid.

A reader thread files replies by xid and notifications in arrival order; a
pinger thread keeps the session alive until ``freeze``.
"""
from __future__ import annotations

import socket
import struct
import threading
import time

from zkwire import records as r
from zkwire.consts import OpCode
from zkwire.protocol import encode_request, frame
from zkwire.xcheck import decode_connect_response, decode_reply

from .script import CreateArgs, ScriptError, data_arg, parse_acl, version_arg

_LEN = struct.Struct(">i")
NO_REPLY_WAIT_S = 1.0


def _acl_records(acl):
    return [dict(perms=p, id=dict(scheme=s, id=i)) for p, s, i in acl]


class RawSession:
    def __init__(self, host: str, port: int, chroot: str):
        self.addr = (host, port)
        self.chroot = chroot
        self.sock = None
        self.session_id = 0
        self.passwd = b""
        self.timeout_ms = 0
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.replies = {}        # xid -> decoded payload bytes list
        self.events = []
        self.event_seen = 0
        self.closed = False
        self.xid = 0
        self.pending_ops = {}
        self.frozen = False
        self._stop = threading.Event()
        self.connect_frame = None

    # --- connection ------------------------------------------------------------------
    def connect(self, timeout_ms=10_000, session_id=0, passwd=b"\0" * 16):
        self.sock = socket.create_connection(self.addr, timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req = r.ConnectRequestRO.build(dict(protocolVersion=0, lastZxidSeen=0, timeOut=timeout_ms,
                                            sessionId=session_id, passwd=passwd, readOnly=False))
        self.sock.sendall(frame(req))
        payload = self._read_frame_blocking()
        if payload is None:
            self.closed = True
            return {"closed": True}
        resp = decode_connect_response(payload)
        self.session_id = resp.get("sessionId", 0)
        self.passwd = resp.get("passwd", b"")
        self.timeout_ms = resp.get("timeOut", 0)
        threading.Thread(target=self._reader, daemon=True).start()
        if self.timeout_ms > 0:
            threading.Thread(target=self._pinger, daemon=True).start()
        out = {"session": self.session_id, "timeout": self.timeout_ms,
               "passwd_len": len(self.passwd)}
        if "readOnly" in resp:
            out["readOnly"] = resp["readOnly"]
        return out

    def _read_exact(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def _read_frame_blocking(self):
        head = self._read_exact(4)
        if head is None:
            return None
        return self._read_exact(_LEN.unpack(head)[0])

    def _reader(self):
        try:
            self.sock.settimeout(None)
        except OSError:
            pass
        while True:
            payload = self._read_frame_blocking()
            with self.cond:
                if payload is None:
                    self.closed = True
                    self.cond.notify_all()
                    return
                xid = struct.unpack_from(">i", payload)[0]
                if xid == -1:
                    self.events.append(payload)
                elif xid != -2:
                    self.replies.setdefault(xid, []).append(payload)
                self.cond.notify_all()

    def _pinger(self):
        interval = max(self.timeout_ms / 3000.0, 0.1)
        while not self._stop.wait(interval):
            if self.frozen or self.closed:
                return
            try:
                self.sock.sendall(encode_request(-2, OpCode.ping))
            except OSError:
                return

    def close_socket(self):
        self._stop.set()
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass

    # --- requests ----------------------------------------------------------------------
    def call(self, op, request=None, raw_payload=None, wait_s=10.0):
        with self.lock:
            self.xid += 1
            xid = self.xid
        if raw_payload is not None:
            data = frame(struct.pack(">ii", xid, op) + raw_payload)
        else:
            data = encode_request(xid, op, request)
        try:
            self.sock.sendall(data)
        except OSError:
            return {"closed": True}
        deadline = time.monotonic() + wait_s
        with self.cond:
            while not self.replies.get(xid):
                if self.closed:
                    return {"closed": True}
                left = deadline - time.monotonic()
                if left <= 0:
                    return {"noreply": True}
                self.cond.wait(left)
            payload = self.replies[xid].pop(0)
        rep = decode_reply(op, payload)
        rep.pop("xid", None)
        return {"reply": rep}

    def p(self, path):
        if path.startswith("/") and self.chroot:
            return self.chroot + ("" if path == "/" else path)
        return path

    def barrier(self):
        return self.call(OpCode.exists, dict(path=self.p("/"), watch=False))

    def take_events(self):
        with self.lock:
            evs = self.events[self.event_seen:]
            self.event_seen = len(self.events)
        return [self._event(e) for e in evs]

    def _event(self, payload):
        rep = decode_reply(None, payload)
        ev = dict(rep.get("event", {}))
        ev["zxid"] = rep.get("zxid")
        path = ev.get("path")
        if self.chroot and isinstance(path, str) and path.startswith(self.chroot):
            ev["path"] = path[len(self.chroot):] or "/"
        return ev

    def wait_event(self, seconds):
        deadline = time.monotonic() + seconds
        with self.cond:
            while len(self.events) <= self.event_seen:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(left)
            payload = self.events[self.event_seen]
            self.event_seen += 1
        return self._event(payload)

    def wait_closed(self, seconds):
        deadline = time.monotonic() + seconds
        with self.cond:
            while not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


def _unchroot_result(res, chroot):
    if not chroot:
        return res

    def fix(v):
        if isinstance(v, str) and v.startswith(chroot):
            return v[len(chroot):] or "/"
        return v

    rep = res.get("reply")
    if isinstance(rep, dict):
        if "path" in rep:
            rep["path"] = fix(rep["path"])
        if isinstance(rep.get("ephemerals"), list):
            rep["ephemerals"] = [fix(x) for x in rep["ephemerals"]]
        for sub in rep.get("results", []) or []:
            if "path" in sub:
                sub["path"] = fix(sub["path"])
    return res


class RawActors:
    """All raw actors of one scenario run against one server."""

    def __init__(self, host, port, root):
        self.host, self.port, self.root = host, port, root
        self.sessions = {}
        self.session_ids = {}
        self.passwords = {}
        self.created = []        # (id, password) of every session opened

    def session(self, actor, auto=True):
        s = self.sessions.get(actor)
        if s is None and auto:
            s = RawSession(self.host, self.port, self.root)
            res = s.connect()
            self.sessions[actor] = s
            self.session_ids[actor] = s.session_id
            self.passwords[actor] = s.passwd
            self.created.append((s.session_id, s.passwd))
            if "closed" in res:
                raise ScriptError("%s could not connect" % actor)
        return s

    def reap(self, sessions):
        """Close every session in ``[(id, password)]`` that is still alive on
        the server (a client that failed auth, a connection the server
        dropped): so none expires later, in another scenario's zxids."""
        for sid, pw in sessions:
            s = RawSession(self.host, self.port, "")
            try:
                res = s.connect(timeout_ms=4000, session_id=sid, passwd=pw)
                if res.get("timeout", 0) > 0:
                    s.call(OpCode.closeSession, None, wait_s=5)
            except OSError:
                pass
            finally:
                s.close_socket()

    def close_all(self):
        for s in self.sessions.values():
            if not s.closed and not s.frozen and s.timeout_ms > 0:
                s.call(OpCode.closeSession, None, wait_s=5)
            s.close_socket()

    def step(self, step) -> dict:
        a, op, args = step.actor, step.op, step.args
        if op == "connect" or op == "resume":
            timeout = 10_000
            sid, pw = 0, b"\0" * 16
            chroot = self.root
            rest = list(args)
            if op == "resume":
                other = self.sessions[rest.pop(0)]
                sid, pw = other.session_id, other.passwd
            for w in rest:
                if w.startswith("timeout="):
                    timeout = int(w[8:])
                elif w == "nochroot":
                    chroot = ""
                else:
                    raise ScriptError("bad connect argument %r" % w)
            old = self.sessions.get(a)
            if old is not None:
                old.close_socket()
            s = RawSession(self.host, self.port, chroot)
            res = s.connect(timeout, sid, pw)
            self.sessions[a] = s
            if s.session_id:
                self.session_ids[a] = s.session_id
                self.passwords[a] = s.passwd
                self.created.append((s.session_id, s.passwd))
            if op == "resume" and res.get("session") == sid:
                res["session_of"] = args[0]
            return res
        s = self.session(a)
        p = s.p
        if op == "close":
            res = s.call(OpCode.closeSession, None, wait_s=5)
            s.close_socket()
            return res
        if op == "freeze":
            s.frozen = True
            return {"ok": True}
        if op == "expect-closed":
            secs = float(args[0]) if args else 10.0
            return {"closed": s.wait_closed(secs)}
        if op == "events":
            s.barrier()
            return {"events": s.take_events()}
        if op == "expect-event":
            secs = float(args[0]) if args else 10.0
            return {"event": s.wait_event(secs)}
        if op == "send":
            payload = bytes.fromhex(args[0])
            op_code = struct.unpack_from(">i", payload, 4)[0] if len(payload) >= 8 else None
            # The frame is sent as written, xid included.
            try:
                s.sock.sendall(frame(payload))
            except OSError:
                return {"closed": True}
            xid = struct.unpack_from(">i", payload)[0] if len(payload) >= 4 else None
            deadline = time.monotonic() + NO_REPLY_WAIT_S
            with s.cond:
                while not s.replies.get(xid):
                    if s.closed:
                        return {"closed": True}
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return {"noreply": True}
                    s.cond.wait(left)
                got = s.replies[xid].pop(0)
            rep = decode_reply(op_code, got)
            rep.pop("xid", None)
            return {"reply": rep}
        res = s.call(*self._request(op, args, p), wait_s=NO_REPLY_WAIT_S if op == "check" else 10.0)
        return _unchroot_result(res, s.chroot)

    def _request(self, op, args, p):
        if op in ("create", "create2"):
            c = CreateArgs(args)
            rec = dict(path=p(c.path), data=c.data, acl=_acl_records(c.acl), flags=c.flags)
            if c.ttl is not None:
                return OpCode.createTTL, dict(rec, ttl=c.ttl)
            if c.container:
                return OpCode.createContainer, rec
            return (OpCode.create2 if op == "create2" else OpCode.create), rec
        if op == "delete":
            return OpCode.delete, dict(path=p(args[0]), version=version_arg(args, 1))
        if op in ("exists", "get", "children", "children2"):
            code = {"exists": OpCode.exists, "get": OpCode.getData, "children": OpCode.getChildren,
                    "children2": OpCode.getChildren2}[op]
            return code, dict(path=p(args[0]), watch="watch" in args[1:])
        if op == "set":
            return OpCode.setData, dict(path=p(args[0]), data=data_arg(args[1]), version=version_arg(args, 2))
        if op == "getacl":
            return OpCode.getACL, dict(path=p(args[0]))
        if op == "setacl":
            return OpCode.setACL, dict(path=p(args[0]), acl=_acl_records(parse_acl(args[1])),
                                       version=version_arg(args, 2))
        if op == "sync":
            return OpCode.sync, dict(path=p(args[0]))
        if op == "check":
            return OpCode.check, dict(path=p(args[0]), version=int(args[1]))
        if op == "auth":
            return OpCode.auth, dict(type=0, scheme=args[0], auth=args[1].encode())
        if op == "whoami":
            return OpCode.whoAmI, None
        if op == "ephemerals":
            return OpCode.getEphemerals, dict(prefixPath=p(args[0]) if args else "/")
        if op == "count":
            return OpCode.getAllChildrenNumber, dict(path=p(args[0]))
        if op == "addwatch":
            return OpCode.addWatch, dict(path=p(args[0]), mode=0 if args[1] == "persistent" else 1)
        if op == "removewatches":
            kind = {"child": 1, "data": 2, "any": 3, "persistent": 4, "recursive": 5}[args[1]]
            return OpCode.removeWatches, dict(path=p(args[0]), type=kind)
        if op == "reconfig":
            vals = [None if x == "-" else x for x in (list(args) + ["-", "-", "-"])[:3]]
            return OpCode.reconfig, dict(joiningServers=vals[0], leavingServers=vals[1],
                                         newMembers=vals[2],
                                         curConfigId=int(args[3]) if len(args) > 3 else -1)
        if op in ("multi", "multiread"):
            subs = []
            from .script import Step

            for sub in Step(None, op, args, 0, "").sub_ops():
                sop, sargs = sub[0], sub[1:]
                code, rec = self._request(sop, sargs, p)
                if sop in ("get", "children"):
                    rec = dict(rec)
                subs.append((code, rec))
            return (OpCode.multi if op == "multi" else OpCode.multiRead), subs
        raise ScriptError("raw actors cannot %s" % op)
