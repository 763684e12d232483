"""The kazoo driver: scenario steps through kazoo's public API, in process.

kazoo 2.11 has no API for containers, TTL nodes, getEphemerals,
getAllChildrenNumber, whoAmI or multiRead; those steps go through kazoo's own
connection with small request records (``client._call``), so they still ride
kazoo's session, xid and chroot handling.  It has no persistent watches
(addWatch) and cannot send null data: scenarios that need those are not run
with kazoo (see :data:`UNSUPPORTED`).
"""
from __future__ import annotations

import socket
import struct
import threading
from collections import namedtuple

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, ZookeeperError
from kazoo.protocol.serialization import int_struct, read_string, stat_struct, write_string
from kazoo.protocol.states import Callback, ZnodeStat
from kazoo.security import ACL, Id

from zkwire.consts import ERR_NAMES

from ..script import CreateArgs, ScriptError, parse_acl, perms_text, version_arg

UNSUPPORTED = frozenset(("addwatch", "removewatches", "data.null", "multi.create2",
                         "multi.mode.container", "multi.mode.ttl"))

EVENT_TYPES = {"CREATED": "NodeCreated", "DELETED": "NodeDeleted", "CHANGED": "NodeDataChanged",
               "CHILD": "NodeChildrenChanged", "NONE": "None"}
EVENT_STATES = {"CONNECTED": "SyncConnected", "CONNECTED_RO": "ConnectedReadOnly",
                "CONNECTING": "Disconnected", "EXPIRED_SESSION": "Expired",
                "AUTH_FAILED": "AuthFailed", "CLOSED": "Closed"}


def stat_dict(st):
    if st is None:
        return None
    return {f: getattr(st, f) for f in ZnodeStat._fields}


def data_text(b):
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": b.hex()}


def err_name(exc) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return ERR_NAMES.get(code, str(code))
    return type(exc).__name__


def acl_text(a) -> str:
    return "%s:%s=%s" % (a.id.scheme, a.id.id, perms_text(a.perms))


def _acls(spec):
    return [ACL(p, Id(s, i)) for p, s, i in spec]


def _write_acls(acls):
    b = bytearray(int_struct.pack(len(acls)))
    for a in acls:
        b.extend(int_struct.pack(a.perms) + write_string(a.id.scheme) + write_string(a.id.id))
    return b


# --- requests kazoo 2.11 lacks, in kazoo's own request protocol ------------------------

def _read_create2(bytes_, offset):
    path, offset = read_string(bytes_, offset)
    st = ZnodeStat._make(stat_struct.unpack_from(bytes_, offset))
    return path, st


class CreateExt(namedtuple("CreateExt", "path data acl flags ttl type")):
    """createContainer (19) / createTTL (21): a create answered with path and Stat."""

    def serialize(self):
        b = bytearray(write_string(self.path))
        b.extend(int_struct.pack(-1) if self.data is None else int_struct.pack(len(self.data)) + self.data)
        b.extend(_write_acls(self.acl))
        b.extend(int_struct.pack(self.flags))
        if self.type == 21:
            b.extend(struct.pack(">q", self.ttl))
        return b

    @classmethod
    def deserialize(cls, bytes_, offset):
        return _read_create2(bytes_, offset)


class PathRequest(namedtuple("PathRequest", "path type")):
    """getEphemerals (103) / getAllChildrenNumber (104)."""

    def serialize(self):
        return bytearray(write_string(self.path))

    def deserialize(self, bytes_, offset):
        if self.type == 104:
            return int_struct.unpack_from(bytes_, offset)[0]
        n = int_struct.unpack_from(bytes_, offset)[0]
        offset += 4
        out = []
        for _ in range(max(n, 0)):
            s, offset = read_string(bytes_, offset)
            out.append(s)
        return out


class WhoAmI(namedtuple("WhoAmI", "unused")):
    """whoAmI (107).  (A field, because kazoo skips replies to a falsy request.)"""
    type = 107

    def serialize(self):
        return bytearray()

    @classmethod
    def deserialize(cls, bytes_, offset):
        n = int_struct.unpack_from(bytes_, offset)[0]
        offset += 4
        out = []
        for _ in range(max(n, 0)):
            scheme, offset = read_string(bytes_, offset)
            user, offset = read_string(bytes_, offset)
            out.append("%s:%s" % (scheme, user))
        return out


class MultiRead(namedtuple("MultiRead", "ops")):
    """multiRead (22): ops are (4 getData | 8 getChildren, path)."""
    type = 22

    def serialize(self):
        b = bytearray()
        for code, path in self.ops:
            b.extend(struct.pack(">iBi", code, 0, -1) + write_string(path) + b"\x00")
        b.extend(struct.pack(">iBi", -1, 1, -1))
        return b

    @classmethod
    def deserialize(cls, bytes_, offset):
        out = []
        while True:
            t, done, err = struct.unpack_from(">iBi", bytes_, offset)
            offset += 9
            if done:
                return out
            if t == -1:
                e = int_struct.unpack_from(bytes_, offset)[0]
                offset += 4
                out.append({"type": "error", "err": ERR_NAMES.get(e, e)})
            elif t == 4:
                n = int_struct.unpack_from(bytes_, offset)[0]
                offset += 4
                data = None if n < 0 else bytes(bytes_[offset:offset + n])
                offset += max(n, 0)
                st = ZnodeStat._make(stat_struct.unpack_from(bytes_, offset))
                offset += stat_struct.size
                out.append({"type": "get", "data": data_text(data), "stat": stat_dict(st)})
            elif t == 8:
                n = int_struct.unpack_from(bytes_, offset)[0]
                offset += 4
                kids = []
                for _ in range(max(n, 0)):
                    s, offset = read_string(bytes_, offset)
                    kids.append(s)
                out.append({"type": "children", "children": kids})


class Actor:
    def __init__(self, name, hosts, root, timeout_ms=10_000, chroot=True):
        self.name = name
        self.events = []
        self.cond = threading.Condition()
        self.seen = 0
        self.chroot = root if chroot else ""
        self.client = KazooClient(hosts=hosts + self.chroot, timeout=timeout_ms / 1000.0)
        self.client.start(timeout=15)

    def watcher(self, event):
        # One function object for every watch, as an application would register
        # one: kazoo keeps watchers in a set per path.
        with self.cond:
            self.events.append({"type": EVENT_TYPES.get(event.type, event.type),
                                "state": EVENT_STATES.get(event.state, event.state),
                                "path": event.path})
            self.cond.notify_all()

    def barrier(self):
        """Every event the server sent before this round trip's reply has been
        delivered: kazoo hands events to one callback thread, in order."""
        self.client.exists("/")
        done = threading.Event()
        self.client.handler.dispatch_callback(Callback("watch", done.set, ()))
        done.wait(10)

    def take_events(self):
        with self.cond:
            evs = self.events[self.seen:]
            self.seen = len(self.events)
        return evs

    def wait_event(self, seconds):
        with self.cond:
            self.cond.wait_for(lambda: len(self.events) > self.seen, timeout=seconds)
            if len(self.events) <= self.seen:
                return None
            ev = self.events[self.seen]
            self.seen += 1
            return ev

    def stop(self):
        try:
            self.client.stop()
            self.client.close()
        except Exception:
            pass


class KazooDriver:
    """Runs the c* steps of one scenario against one server."""

    name = "kazoo"
    unsupported = UNSUPPORTED

    def __init__(self, hosts, root):
        self.hosts = hosts
        self.root = root
        self.actors = {}
        self.session_ids = {}
        self.passwords = {}

    def actor(self, name):
        a = self.actors.get(name)
        if a is None:
            a = self.actors[name] = Actor(name, self.hosts, self.root)
            self.session_ids[name], self.passwords[name] = a.client.client_id
        return a

    def close(self):
        for a in self.actors.values():
            a.stop()
        self.actors.clear()

    def step(self, step) -> dict:
        try:
            return self._step(step)
        except ZookeeperError as e:
            return {"err": err_name(e)}
        except KazooException as e:
            return {"err": type(e).__name__}

    def _step(self, step):
        op, args = step.op, step.args
        if op == "connect":
            timeout, chroot = 10_000, True
            for w in args:
                if w.startswith("timeout="):
                    timeout = int(w[8:])
                elif w == "nochroot":
                    chroot = False
                else:
                    raise ScriptError("bad connect argument %r" % w)
            old = self.actors.pop(step.actor, None)
            if old is not None:
                old.stop()
            a = self.actors[step.actor] = Actor(step.actor, self.hosts, self.root, timeout, chroot)
            sid, self.passwords[step.actor] = a.client.client_id
            self.session_ids[step.actor] = sid
            return {"session": sid}
        a = self.actor(step.actor)
        zk = a.client
        watch = a.watcher if "watch" in args[1:] else None
        if op == "close":
            a.stop()
            del self.actors[step.actor]
            return {"ok": True}
        if op in ("create", "create2"):
            c = CreateArgs(args)
            if c.data is None:
                raise ScriptError("kazoo cannot send null data")
            if c.container or c.ttl is not None:
                code = 19 if c.container else 21
                req = CreateExt(_chroot(zk, c.path), c.data, _acls(c.acl), c.flags, c.ttl or 0, code)
                req = _typed(req, code)
                path, st = self._call(zk, req)
                res = {"path": zk.unchroot(path)}
                if op == "create2":
                    res["stat"] = stat_dict(st)
                return res
            out = zk.create(c.path, c.data, acl=_acls(c.acl), ephemeral=c.ephemeral,
                            sequence=c.sequential, include_data=(op == "create2"))
            if op == "create2":
                return {"path": out[0], "stat": stat_dict(out[1])}
            return {"path": out}
        if op == "delete":
            zk.delete(args[0], version=version_arg(args, 1))
            return {"ok": True}
        if op == "exists":
            return {"stat": stat_dict(zk.exists(args[0], watch=watch))}
        if op == "get":
            data, st = zk.get(args[0], watch=watch)
            return {"data": data_text(data), "stat": stat_dict(st)}
        if op == "set":
            st = zk.set(args[0], args[1].encode(), version=version_arg(args, 2))
            return {"stat": stat_dict(st)}
        if op == "children":
            return {"children": zk.get_children(args[0], watch=watch)}
        if op == "children2":
            kids, st = zk.get_children(args[0], watch=watch, include_data=True)
            return {"children": kids, "stat": stat_dict(st)}
        if op == "getacl":
            acls, st = zk.get_acls(args[0])
            return {"acl": [acl_text(x) for x in acls], "stat": stat_dict(st)}
        if op == "setacl":
            st = zk.set_acls(args[0], _acls(parse_acl(args[1])), version=version_arg(args, 2))
            return {"stat": stat_dict(st)}
        if op == "sync":
            return {"path": zk.sync(args[0])}
        if op == "multi":
            return self._multi(zk, step)
        if op == "multiread":
            ops = []
            for sub in step.sub_ops():
                ops.append((4 if sub[0] == "get" else 8, _chroot(zk, sub[1])))
            return {"results": self._call(zk, MultiRead(ops))}
        if op == "auth":
            zk.add_auth(args[0], args[1])
            return {"ok": True}
        if op == "whoami":
            return {"ids": self._call(zk, WhoAmI(None))}
        if op == "ephemerals":
            prefix = _chroot(zk, args[0]) if args else (zk.chroot or "/")
            paths = self._call(zk, _typed(PathRequest(prefix, 103), 103))
            return {"paths": [zk.unchroot(x) for x in paths]}
        if op == "count":
            return {"count": self._call(zk, _typed(PathRequest(_chroot(zk, args[0]), 104), 104))}
        if op == "4lw":
            return {"word": args[0], "text": _four_letter(zk, args[0])}
        if op == "reconfig":
            vals = [None if x == "-" else x for x in (list(args) + ["-", "-", "-"])[:3]]
            from_config = int(args[3]) if len(args) > 3 else -1
            data, st = zk.reconfig(vals[0], vals[1], vals[2], from_config=from_config)
            return {"data": data_text(data), "stat": stat_dict(st)}
        if op == "events":
            a.barrier()
            return {"events": a.take_events()}
        if op == "expect-event":
            return {"event": a.wait_event(float(args[0]) if args else 10.0)}
        raise ScriptError("kazoo driver cannot %s" % op)

    @staticmethod
    def _call(zk, req):
        result = zk.handler.async_result()
        zk._call(req, result)
        return result.get(timeout=15)

    def _multi(self, zk, step):
        t = zk.transaction()
        kinds = []
        for sub in step.sub_ops():
            sop, sargs = sub[0], sub[1:]
            kinds.append(sop)
            if sop == "create":
                c = CreateArgs(sargs)
                t.create(c.path, c.data, acl=_acls(c.acl), ephemeral=c.ephemeral, sequence=c.sequential)
            elif sop == "delete":
                t.delete(sargs[0], version=version_arg(sargs, 1))
            elif sop == "set":
                t.set_data(sargs[0], sargs[1].encode(), version=version_arg(sargs, 2))
            elif sop == "check":
                t.check(sargs[0], int(sargs[1]))
            else:
                raise ScriptError("kazoo cannot %s inside a multi" % sop)
        out = []
        for kind, res in zip(kinds, t.commit()):
            if isinstance(res, Exception):
                out.append({"type": "error", "err": err_name(res)})
            elif kind == "create":
                out.append({"type": "create", "path": res})
            elif kind == "set":
                out.append({"type": "set", "stat": stat_dict(res)})
            else:
                out.append({"type": kind})
        return {"results": out}


def _chroot(zk, path):
    if not zk.chroot:
        return path
    return zk.chroot + ("" if path == "/" else path)


def _typed(req, code):
    """A request record with its opcode as kazoo's connection expects it."""
    cls = type(req)
    sub = type(cls.__name__ + str(code), (cls,), {"type": code})
    return sub(*req)


def _four_letter(zk, word: str) -> str:
    """A four-letter word's whole answer from the server ``zk`` is connected
    to.  (KazooClient.command returns one recv of at most 8192 bytes, and a
    full mntr is longer.)"""
    peer = zk._connection._socket.getpeername()[:2]
    with socket.create_connection(peer, timeout=zk._session_timeout / 1000.0) as sock:
        sock.sendall(word.encode())
        chunks = []
        while True:
            b = sock.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode("utf-8", "replace")
