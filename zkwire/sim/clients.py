"""Simulated clients: sessions doing random operations on a small key space.

Theory of operation
-------------------
A :class:`SimClient` behaves like a kazoo client with one outstanding
connection at a time.  It connects to a random peer (the server refuses it
while it has no leader; the client tries another), keeps its session alive
with pings every third of its timeout, drops a connection it has heard
nothing on for two thirds of it (kazoo's read timeout), and reconnects
elsewhere with its session id and password and the last zxid it has seen;
a server that says the session expired makes it start a new one.

Every request is real bytes: built with :func:`zkwire.protocol.encode_request`
and decoded by the server side with :func:`zkwire.protocol.decode_request`,
as the edge decodes them; the connect request goes through
:func:`~zkwire.protocol.decode_connect`.  Replies are the front end's outbox
tuples (see ``server/core/frontend.py``).

The operations: create (persistent, ephemeral, sequential), setData (blind or
compare-and-set on the last version seen), delete, getData / exists /
getChildren with and without watches, sync, a multi (check + setData), and
now and then closing the session.  What the client sees goes to the checker
(:mod:`.invariants`): every reply in request order, zxids that never go back,
write replies that match a chosen txn, reads that match the history at
their zxid, watch events before the replies that show the change.
"""
from __future__ import annotations

from collections import deque

from zkwire import records as r
from zkwire.consts import Err, EventType, OpCode, Perms, Xid
from zkwire.protocol import decode_connect, decode_request, encode_request

from .world import Stream

OPEN_ACL = [dict(perms=Perms.ALL, id=dict(scheme="world", id="anyone"))]

KEYS = ("/k0", "/k1", "/k2", "/k3", "/q")
EPHEMERALS = ("/e0", "/e1", "/e2")
QUEUE = "/q"
DELETABLE = tuple(k for k in KEYS if k != QUEUE) + EPHEMERALS
#: Outstanding requests a client pipelines at most.
MAX_PENDING = 3

WRITE_OPS = frozenset((OpCode.create, OpCode.delete, OpCode.setData, OpCode.multi,
                       OpCode.closeSession))
DATA_EVENTS = frozenset((EventType.NodeCreated, EventType.NodeDeleted, EventType.NodeDataChanged))
CHILD_EVENTS = frozenset((EventType.NodeChildrenChanged, EventType.NodeDeleted))


class ClientLink:
    """One client connection to one server process."""

    def __init__(self, world, client, node):
        self.world = world
        self.id = world.new_id()
        self.client = client
        self.node = node
        self.node_inc = node.inc
        self.conn = None
        self.client_open = True
        self.server_open = False
        self.to_server = Stream(world, None, None, self._at_server, "c%d>" % self.id)
        self.to_client = Stream(world, None, None, self._at_client, "c%d<" % self.id)

    # --- the server's end -------------------------------------------------------------
    def _at_server(self, item) -> None:
        node = self.node
        live = node.alive and node.inc == self.node_inc
        if item[0] == "syn":
            if live:
                node.run(self._accept, item[1])
            elif node.machine_up:
                self.to_client.send(("rst",))
            return
        if not self.server_open or not live:
            if item[0] != "fin" and node.machine_up:
                self.to_client.send(("rst",))
            return
        node.run(self._server_input, item)

    def _accept(self, payload) -> None:
        node = self.node
        now = node.now_ms()
        self.server_open = True
        conn = self.conn = node.core.open_conn("10.1.0.%d:%d" % (self.client.cid, self.id),
                                               "10.1.0.%d" % self.client.cid, now)
        node.client_conns[conn.cid] = self
        req, has_ro = decode_connect(payload)
        node.core.connect(conn, req, has_ro, now)

    def _server_input(self, item) -> None:
        node = self.node
        if item[0] == "fin" or item[0] == "rst":
            self._server_close()
            return
        _, payload = item
        xid, op, req = decode_request(payload)
        node.core.request(self.conn, xid, op, req, node.now_ms())

    def _server_close(self) -> None:
        if not self.server_open:
            return
        self.server_open = False
        node = self.node
        node.client_conns.pop(self.conn.cid, None)
        node.core.conn_lost(self.conn)

    def server_output(self, items) -> None:
        """The front end's outbox for this connection (the edge writes it,
        and closes the transport after a ``close``)."""
        if not self.server_open:
            return
        if items:
            self.to_client.send(("out", items))
        if any(i[0] == "close" for i in items):
            self._server_close()
            self.to_client.send(("fin",))

    def server_died(self, node) -> None:
        if self.server_open:
            self.server_open = False
            if node.machine_up:
                self.to_client.send(("rst",))

    def reset(self) -> None:
        """A middlebox reset: both ends hear of it."""
        w = self.world
        if self.server_open:
            w.schedule(w.delay_us(), self._at_server, ("rst",))
        if self.client_open:
            w.schedule(w.delay_us(), self._at_client, ("rst",))

    # --- the client's end -------------------------------------------------------------
    def _at_client(self, item) -> None:
        c = self.client
        if not self.client_open or c.link is not self:
            return
        if item[0] == "out":
            c.on_output(self, item[1])
        else:
            c.link_lost(self, item[0])

    def close_client_side(self) -> None:
        if self.client_open:
            self.client_open = False
            self.to_server.send(("fin",))


class SimClient:
    def __init__(self, world, cid):
        self.world = world
        self.cid = cid
        self.rng = world.rng
        self.link = None
        self.established = False
        self.session_id = 0
        self.passwd = b""
        self.timeout_ms = self.rng.choice((1000, 1500, 2000, 3000))
        self.last_zxid = 0
        self.xid = 1
        self.pending = deque()        # (xid, op, path, extra) in request order
        self.watches = {}             # (path, "data"|"exist"|"child") -> zxid when set
        #: The recursive watch on "/" (SimConfig.recursive_watches): None, or
        #: "asked" (addWatch in flight), "restoring" (SetWatches2 in flight)
        #: or "on"; ``rec_cursor``: the next data event of the chosen history
        #: it must deliver.
        self.rec = None
        self.rec_cursor = 0
        self.versions = {}            # path -> last version seen
        self.children = []            # last children of /q seen
        self.connect_started_us = 0
        self.last_heard_us = 0
        self.last_sent_us = 0
        self.sessions = 0
        self.replies = 0
        self.idle = False             # scenarios: keep the session, issue nothing
        #: The history for the linearizability checker (:mod:`.linear`): this
        #: client's process id (a new one after an outcome it never learnt),
        #: and what each recorded request outstanding is, by xid.
        self.process = world.new_process()
        self.recorded = {}

    def __repr__(self):
        return "<client %d sid=%#x>" % (self.cid, self.session_id & (2 ** 64 - 1))

    def trace(self, what, *detail) -> None:
        self.world.trace("c%d" % self.cid, what, *detail)

    # --- the client's loop ------------------------------------------------------------
    def act(self) -> None:
        w = self.world
        rng = self.rng
        w.schedule(rng.randint(5, 120) * 1000, self.act)
        now = w.t_us
        if self.link is None:
            self.connect()
            return
        if not self.established:
            if now - self.connect_started_us > self.timeout_ms * 1000 * 2 // 3:
                self.drop("connect timed out")
            return
        if now - self.last_heard_us > self.timeout_ms * 1000 * 2 // 3:
            self.drop("read timeout")
            return
        if len(self.pending) < MAX_PENDING and not self.idle and rng.random() < 0.8:
            self.random_op()
        elif now - self.last_sent_us > self.timeout_ms * 1000 // 3:
            self.send(Xid.PING, OpCode.ping, None, None)

    def connect(self) -> None:
        w = self.world
        node = w.nodes[self.rng.choice(sorted(w.nodes))]
        link = self.link = ClientLink(w, self, node)
        self.established = False
        self.connect_started_us = w.t_us
        self.last_heard_us = w.t_us
        payload = r.ConnectRequest.build(dict(
            protocolVersion=0, lastZxidSeen=self.last_zxid, timeOut=self.timeout_ms,
            sessionId=self.session_id, passwd=self.passwd or b"\0" * 16))
        self.trace("connect", node.sid, link.id, "%#x" % (self.session_id & (2 ** 64 - 1)))
        link.to_server.send(("syn", payload + b"\0"))

    def drop(self, why) -> None:
        link = self.link
        if link is None:
            return
        self.trace("drop", link.id, why)
        link.close_client_side()
        self._lost()

    def link_lost(self, link, why) -> None:
        self.trace("lost", link.id, why)
        link.client_open = False
        self._lost()

    def _lost(self) -> None:
        self.link = None
        self.established = False
        # Outstanding requests end in ConnectionLoss: their outcome is unknown.
        # Watches stay: they are set again on the next connection (setWatches).
        self.pending.clear()
        if self.rec == "asked":
            self.rec = None     # it died with the connection, if it was ever set
        elif self.rec is not None:
            self.rec = "restoring"
        if self.recorded:
            for xid in sorted(self.recorded):
                self._complete(xid, "info")
            self.process = self.world.new_process()

    # --- the history ------------------------------------------------------------------
    def _record(self, xid, op, path, req) -> None:
        """Operations on the registers (KEYS) and sequential creates under
        QUEUE, as the checker models them (see :mod:`.linear`): a create is
        a CAS from no node, setData (blind, versioned or in a multi) a write
        (the version names a value only between a create and a delete), a
        delete a write of no node, getData a read."""
        if op == OpCode.create and req["flags"] == 2:
            f, key, value = "create_seq", path, None     # the prefix QUEUE/n-
        elif path not in KEYS:
            return
        elif op == OpCode.create:
            f, key, value = "cas", path, [None, req["data"]]
        elif op == OpCode.setData:
            f, key, value = "write", path, req["data"]
        elif op == OpCode.multi:
            f, key, value = "write", path, req[1][1]["data"]
        elif op == OpCode.delete:
            f, key, value = "write", path, None
        elif op == OpCode.getData:
            f, key, value = "read", path, None
        else:
            return
        self.recorded[xid] = (f, key, value)
        self.world.history.append(dict(process=self.process, id=xid, type="invoke", f=f,
                                       key=key, value=value, time_ns=self.world.t_us * 1000))

    def _complete(self, xid, kind, value=None) -> None:
        f, key, invoked = self.recorded.pop(xid)
        self.world.history.append(dict(
            process=self.process, id=xid, type=kind, f=f, key=key,
            value=value if f in ("read", "create_seq") else invoked,
            time_ns=self.world.t_us * 1000))

    def _set_watches(self) -> None:
        """As kazoo does on a new connection of the same session."""
        kinds = {"data": [], "exist": [], "child": []}
        for path, kind in sorted(self.watches):
            kinds[kind].append(path)
        if self.rec is not None:
            # As the Java client does once it has persistent watches.
            self.send(Xid.SET_WATCHES, OpCode.setWatches2, dict(
                relativeZxid=self.last_zxid, dataWatches=kinds["data"],
                existWatches=kinds["exist"], childWatches=kinds["child"],
                persistentWatches=[], persistentRecursiveWatches=["/"]), None)
            return
        self.send(Xid.SET_WATCHES, OpCode.setWatches, dict(
            relativeZxid=self.last_zxid, dataWatches=kinds["data"],
            existWatches=kinds["exist"], childWatches=kinds["child"]), None)

    # --- requests ---------------------------------------------------------------------
    def send(self, xid, op, req, path, extra=None) -> None:
        payload = encode_request(xid, op, req)[4:]
        self._record(xid, op, path, req)
        self.pending.append((xid, op, path, extra))
        self.last_sent_us = self.world.t_us
        self.link.to_server.send(("req", payload))

    def next_xid(self) -> int:
        x = self.xid
        self.xid += 1
        return x

    def random_op(self) -> None:
        rng = self.rng
        if self.world.config.recursive_watches and self.rec is None and rng.random() < 0.05:
            self.rec = "asked"
            self.send(self.next_xid(), OpCode.addWatch, dict(path="/", mode=1), "/")
            return
        roll = rng.random()
        xid = self.next_xid()
        data = b"c%d-%d" % (self.cid, xid)
        if roll < 0.18:
            path = rng.choice(KEYS)
            flags = 0
            if rng.random() < 0.3:
                path = rng.choice(EPHEMERALS)
                flags = 1
            elif rng.random() < 0.2:
                path = QUEUE + "/n-"
                flags = 2
            self.send(xid, OpCode.create, dict(path=path, data=data, acl=OPEN_ACL, flags=flags),
                      path, flags)
        elif roll < 0.40:
            path = rng.choice(KEYS)
            version = self.versions.get(path, -1) if rng.random() < 0.5 else -1
            self.send(xid, OpCode.setData, dict(path=path, data=data, version=version), path)
        elif roll < 0.48:
            if self.children and rng.random() < 0.5:
                path = QUEUE + "/" + rng.choice(self.children)
            else:
                # Never QUEUE itself: its sequence numbers would start again
                # at 0 once it is created anew (the history's create_seq).
                path = rng.choice(DELETABLE)
            self.send(xid, OpCode.delete, dict(path=path, version=-1), path)
        elif roll < 0.70:
            path = rng.choice(KEYS + EPHEMERALS)
            watch = rng.random() < 0.4
            self.send(xid, OpCode.getData, dict(path=path, watch=watch), path, watch)
        elif roll < 0.78:
            path = rng.choice(KEYS + EPHEMERALS)
            watch = rng.random() < 0.4
            self.send(xid, OpCode.exists, dict(path=path, watch=watch), path, watch)
        elif roll < 0.86:
            path = rng.choice(("/", QUEUE))
            watch = rng.random() < 0.4
            self.send(xid, OpCode.getChildren, dict(path=path, watch=watch), path, watch)
        elif roll < 0.92:
            self.send(xid, OpCode.sync, dict(path="/"), "/")
        elif roll < 0.985:
            path = rng.choice(KEYS)
            version = self.versions.get(path, 0)
            ops = [(OpCode.check, dict(path=path, version=version)),
                   (OpCode.setData, dict(path=path, data=data, version=-1))]
            self.send(xid, OpCode.multi, ops, path)
        elif self.world.config.reconfig and rng.random() < 0.5:
            self._reconfig(xid)
        else:
            self.send(xid, OpCode.closeSession, None, None)

    def _reconfig(self, xid) -> None:
        """Remove the last participant, or add it back (SimConfig.reconfig)."""
        sid = self.world.config.members
        if self.rng.random() < 0.5:
            req = dict(joiningServers=None, leavingServers=str(sid), newMembers=None,
                       curConfigId=-1)
        else:
            m = self.world.membership.members[sid]
            req = dict(joiningServers="server.%d=%s:%d:%d:participant;%s:%d" % (
                sid, m.host, m.quorum_port, m.election_port, m.client_host, m.client_port),
                leavingServers=None, newMembers=None, curConfigId=-1)
        self.send(xid, OpCode.reconfig, req, None)

    # --- what the server says ---------------------------------------------------------
    def on_output(self, link, items) -> None:
        w = self.world
        checker = w.checker
        self.last_heard_us = w.t_us
        for item in items:
            kind = item[0]
            if kind == "connect":
                _, timeout, sid, passwd, _ = item
                if sid == 0:
                    self.trace("expired", "%#x" % (self.session_id & (2 ** 64 - 1)))
                    self.session_id = 0
                    self.passwd = b""
                    self.watches.clear()
                    self.rec = None
                    continue
                if self.session_id and sid != self.session_id:
                    checker.violation("client %d reconnected session %#x and got session %#x"
                                      % (self.cid, self.session_id, sid))
                if not self.session_id:
                    self.sessions += 1
                resumed = sid == self.session_id
                self.session_id = sid
                self.passwd = passwd
                self.established = True
                self.trace("session", "%#x" % (sid & (2 ** 64 - 1)), link.node.sid)
                if resumed and (self.watches or self.rec is not None):
                    self._set_watches()
                elif not resumed:
                    self.watches.clear()
                    self.rec = None
            elif kind == "reply":
                self._reply(item)
            elif kind == "event":
                _, zxid, etype, state, path = item
                self.trace("event", etype, path, "%#x" % zxid)
                checker.on_event(self, zxid, etype, path)
                if self.rec == "on" and zxid > 0 and etype in DATA_EVENTS:
                    checker.on_recursive_event(self, zxid, etype, path)
                if etype in DATA_EVENTS:
                    self.watches.pop((path, "data"), None)
                    self.watches.pop((path, "exist"), None)
                if etype in CHILD_EVENTS:
                    self.watches.pop((path, "child"), None)
            elif kind == "close":
                self.trace("closed-by-server", link.id, item[1])
                link.client_open = False
                self._lost()
                return

    def _reply(self, item) -> None:
        _, xid, zxid, err, op, body = item
        checker = self.world.checker
        self.replies += 1
        if not self.pending:
            checker.violation("client %d got a reply (xid %d) with nothing outstanding"
                              % (self.cid, xid))
            return
        pxid, pop, path, extra = self.pending.popleft()
        if pxid != xid:
            checker.violation("client %d: reply for xid %d while xid %d is the oldest "
                              "outstanding (replies out of order)" % (self.cid, xid, pxid))
            return
        if op == OpCode.addWatch and self.rec == "asked":
            if err == 0:
                self.rec = "on"
                self.rec_cursor = checker.data_events_after(zxid)
            else:
                self.rec = None
        if op == OpCode.setWatches2 and self.rec == "restoring" and err == 0:
            # Changes while the client was away are not reported.
            self.rec = "on"
            self.rec_cursor = checker.data_events_after(zxid)
        if op in (OpCode.setWatches, OpCode.setWatches2) and err == 0:
            # An exist watch is set again where the node is still absent: a
            # create and delete while the client was away go unseen (as in
            # ZooKeeper), so it watches from here on.
            for key in self.watches:
                if key[1] == "exist":
                    self.watches[key] = max(self.watches[key], zxid)
        if zxid > 0:
            if zxid < self.last_zxid:
                checker.violation("client %d (session %#x) saw zxid %#x after %#x"
                                  % (self.cid, self.session_id, zxid, self.last_zxid))
            checker.check_watches(self, zxid)
            if self.rec == "on":
                checker.check_recursive(self, zxid)
            self.last_zxid = max(self.last_zxid, zxid)
        if op != OpCode.ping:
            self.trace("reply", xid, op, err, "%#x" % zxid)
        if xid in self.recorded:
            if op == OpCode.getData and err in (0, Err.NONODE):
                self._complete(xid, "ok", body[0] if err == 0 else None)
            elif op == OpCode.create and err == 0 and self.recorded[xid][0] == "create_seq":
                self._complete(xid, "ok", int(body.path[-10:]))
            else:
                # A write that failed (NONODE, BADVERSION, NODEEXISTS, ...) did
                # not happen; one that succeeded did.  A multi that failed has
                # header error 0 and an error result for every op.
                done = err == 0 and (op != OpCode.multi or all(
                    sub.type != OpCode.error for sub in body.multi))
                self._complete(xid, "ok" if done else "fail")
        if op in (OpCode.setWatches, OpCode.setWatches2, OpCode.addWatch):
            return
        if op in WRITE_OPS:
            checker.on_write_reply(self, xid, op, path, zxid, err)
            if op == OpCode.closeSession:
                self.session_id = 0
                self.passwd = b""
            elif op == OpCode.setData and err == 0:
                stat = getattr(body, "stat", None)
                self.versions[path] = stat[4] if stat else -1
            elif op == OpCode.create and err == 0:
                self.versions[path] = 0
            return
        if op in (OpCode.getData, OpCode.exists):
            checker.check_read(self, op, path, zxid, err, body)
            stat = body[1] if op == OpCode.getData and err == 0 else (body if err == 0 else None)
            if stat is not None:
                self.versions[path] = stat[4]
            if extra and err == 0:
                self.watches[(path, "data")] = zxid
            elif extra and op == OpCode.exists and err == Err.NONODE:
                self.watches[(path, "exist")] = zxid
        elif op == OpCode.getChildren:
            if err == 0:
                if path == QUEUE:
                    self.children = sorted(body)
                if extra:
                    self.watches[(path, "child")] = zxid
