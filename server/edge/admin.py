"""ZooKeeper's AdminServer: the admin commands as JSON over HTTP (twisted.web).

``GET <commandURL>`` (default ``/commands``) lists the commands as links;
``GET <commandURL>/<name>`` runs one, by its primary name or an alias, and
answers ZooKeeper's JSON: the command's fields, then ``command`` (its primary
name) and ``error`` (null, or a message), pretty-printed as Jackson does.
The names, aliases, fields and rules are those of ZooKeeper 3.9.5's
``org.apache.zookeeper.server.admin.Commands``:

* an unknown name answers 200 with ``"error" : "Unknown command: <name>"``;
* a command that needs a running server answers 200 with "This ZooKeeper
  instance is not currently serving requests" while the server is not serving;
* ``snapshot`` and ``restore`` need authentication and the ALL permission on
  ``/`` (Commands.AuthRequest): the ``Authorization`` header names a scheme
  and its credentials (``digest user:password``, or ``ip``).  No header: 401
  "Auth info is missing for the command"; credentials no provider accepts:
  401 "Not authenticated"; an ACL that does not grant every bit of ALL: 403
  "Not authorized".  After that zkwire answers as ZooKeeper does with
  ``zookeeper.admin.snapshot.enabled`` / ``restore.enabled`` false: 503
  (zkwire cannot stream or load a snapshot through this port yet).
  The ``ip`` scheme uses the TCP peer's address only (never a forwarding
  header).

The command texts come from the four-letter-word module's figures (the same
server state), so a 4lw and its admin command never disagree.
"""
from __future__ import annotations

import json
import logging
import os

from twisted.web import resource, server as web_server

from zkwire.consts import Perms
from ..core.acl import NoAuth
from .fourlw import FULL_VERSION, LAST_OP, _dir_size, environment

log = logging.getLogger("zkwire.admin")

NOT_SERVING = "This ZooKeeper instance is not currently serving requests"
#: The most body a POST may carry (restore's snapshot would come this way;
#: zkwire answers it without reading a snapshot, so a small bound will do).
MAX_BODY_BYTES = 1 << 20


class Command:
    __slots__ = ("names", "server_required", "auth", "post", "run")

    def __init__(self, names, run, server_required=True, auth=False, post=False):
        self.names = names
        self.run = run
        self.server_required = server_required
        self.auth = auth
        self.post = post


class Response:
    """CommandResponse: ordered data, then command and error; a status."""

    def __init__(self, command: str, error=None, status: int = 200):
        self.command = command
        self.error = error
        self.status = status
        self.data = {}

    def to_map(self) -> dict:
        # CommandResponse.toMap: data, command, error, then data again (so a
        # command's own "error" keeps its place and value).
        m = dict(self.data)
        m["command"] = self.command
        m["error"] = self.error
        m.update(self.data)
        return m


def jackson(value, nesting: int = 0) -> str:
    """Jackson's DefaultPrettyPrinter: objects one entry a line, indented two
    spaces a level, ``"key" : value``; arrays on one line, ``[ a, b ]``;
    ``{ }`` and ``[ ]`` when empty."""
    if isinstance(value, dict):
        if not value:
            return "{ }"
        pad = "  " * (nesting + 1)
        items = ["%s%s : %s" % (pad, _json_str(str(k)), jackson(v, nesting + 1))
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * nesting + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        if not value:
            return "[ ]"
        return "[ " + ", ".join(jackson(v, nesting) for v in value) + " ]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return _json_str(str(value))


def _json_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _signed(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >> 63 else v


class AdminCommands:
    """The command table over one server (and its ensemble member, if any)."""

    def __init__(self, server, initial_config: str = "", system_properties=None):
        self.server = server
        self.initial_config = initial_config
        self.system_properties = dict(system_properties or {})
        c = Command
        table = [
            c(("connection_stat_reset", "crst"), self.crst),
            c(("configuration", "conf", "config"), self.conf),
            c(("connections", "cons"), self.cons),
            c(("hash",), self.hash),
            c(("dirs",), self.dirs),
            c(("dump",), self.dump),
            c(("environment", "env", "envi"), self.envi, server_required=False),
            c(("get_trace_mask", "gtmk"), self.gtmk, server_required=False),
            c(("initial_configuration", "icfg"), self.icfg),
            c(("is_read_only", "isro"), self.isro),
            c(("last_snapshot", "lsnp"), self.lsnp),
            c(("leader", "lead"), self.leader),
            c(("monitor", "mntr"), self.mntr, server_required=False),
            c(("observer_connection_stat_reset", "orst"), self.orst),
            c(("restore", "rest"), self.disabled, auth=True, post=True),
            c(("ruok",), self.ruok),
            c(("set_trace_mask", "stmk"), self.stmk, server_required=False),
            c(("snapshot", "snap"), self.disabled, auth=True),
            c(("server_stats", "srvr"), self.srvr),
            c(("stats", "stat"), self.stat),
            c(("stat_reset", "srst"), self.srst),
            c(("observers", "obsr"), self.obsr),
            c(("system_properties", "sysp"), self.sysp, server_required=False),
            c(("voting_view",), self.voting_view),
            c(("watches", "wchc"), self.wchc),
            c(("watches_by_path", "wchp"), self.wchp),
            c(("watch_summary", "wchs"), self.wchs),
            c(("zabstate",), self.zabstate, server_required=False),
        ]
        self.by_name = {}
        for cmd in table:
            for n in cmd.names:
                self.by_name[n] = cmd
        self.primary_names = sorted(cmd.names[0] for cmd in table)

    # --- running -------------------------------------------------------------------------
    def serving(self) -> bool:
        return self.server.fourlw._mode() is not None

    def run(self, name: str, kwargs: dict, auth_info, peer_ip: str, post: bool) -> Response:
        cmd = self.by_name.get(name)
        if cmd is None:
            return Response(name, "Unknown command: " + name)
        if cmd.server_required and not self.serving():
            return Response(name, NOT_SERVING)
        if cmd.auth:
            if auth_info is None:
                return Response(name, "Auth info is missing for the command", 401)
            ids = self._authenticate(auth_info, peer_ip)
            if ids is None:
                return Response(name, "Not authenticated", 401)
            if not self._authorized(ids):
                return Response(name, "Not authorized", 403)
        if post != cmd.post:
            # 3.9's GetCommand.runPost / PostCommand.runGet return null and the
            # servlet fails on it: Jetty answers 500.
            return Response(cmd.names[0], "%s is not a %s command" % (
                cmd.names[0], "POST" if post else "GET"), 500)
        r = Response(cmd.names[0])
        cmd.run(r, kwargs)
        return r

    def _authenticate(self, auth_info: str, peer_ip: str):
        """Commands.handleAuthentication: "<scheme>[ <auth>]", the scheme's
        provider turns it into identities (None: not authenticated)."""
        parts = auth_info.split(" ")
        while parts and parts[-1] == "":
            parts.pop()      # Java's split drops trailing empty strings
        if len(parts) not in (1, 2):
            return None
        scheme = parts[0]
        policy = self.server.core.auth
        if scheme == "ip":
            return [("ip", peer_ip)]
        if scheme == "digest" and len(parts) == 2:
            ids = policy.authenticate("digest", parts[1].encode("utf-8"), peer_ip)
            return ids or None
        return None

    def _authorized(self, ids) -> bool:
        """Commands.handleAuthorization: every bit of ALL on "/", one at a time."""
        node = self.server.core.tree.nodes.get("/")
        if node is None:
            return False
        policy = self.server.core.auth
        for bit in (Perms.READ, Perms.WRITE, Perms.CREATE, Perms.DELETE, Perms.ADMIN):
            try:
                policy.check(node.acl, bit, ids)
            except NoAuth:
                return False
        return True

    # --- the commands ---------------------------------------------------------------------
    @property
    def _fourlw(self):
        return self.server.fourlw

    def _member(self):
        return getattr(self.server, "ensemble", None)

    def ruok(self, r, kw):
        pass

    def disabled(self, r, kw):
        r.status = 503

    def crst(self, r, kw):
        self._fourlw.cmd_crst(None)

    def srst(self, r, kw):
        self._fourlw.cmd_srst(None)

    def orst(self, r, kw):
        pass    # zkwire's members have no observers following them

    def conf(self, r, kw):
        srv = self.server
        cfg = srv.config
        s = srv.settings
        data_dir = s.get("dataDir", "")
        log_dir = s.get("dataLogDir", "") or data_dir
        d = r.data
        d["client_port"] = srv.port
        d["data_dir"] = os.path.join(os.path.abspath(data_dir), "version-2") if data_dir else ""
        d["data_log_dir"] = os.path.join(os.path.abspath(log_dir), "version-2") if log_dir else ""
        d["tick_time"] = cfg.tick_ms
        d["max_client_cnxns"] = srv.max_client_cnxns
        d["min_session_timeout"] = cfg.min_session_timeout_ms
        d["max_session_timeout"] = cfg.max_session_timeout_ms
        member = self._member()
        d["server_id"] = member.myid if member is not None else 0
        d["client_port_listen_backlog"] = -1

    def _conn_info(self, p, brief: bool) -> dict:
        c = p.conn
        info = {"remote_socket_address": p.peer, "interest_ops": 0 if p.closing else 1,
                "outstanding_requests": len(c.queue), "packets_received": c.received,
                "packets_sent": c.sent}
        if not brief and c.session_id:
            n = c.latency_count
            info.update((
                ("session_id", _signed(c.session_id)),
                ("last_operation", LAST_OP.get(c.last_op, "NA")),
                ("established", c.created_ms),
                ("session_timeout", c.timeout_ms),
                ("last_cxid", c.last_cxid),
                ("last_zxid", c.last_zxid),
                ("last_response_time", c.last_response_ms),
                ("last_latency", c.last_latency_ms),
                ("min_latency", c.min_latency_ms or 0),
                ("avg_latency", (c.total_latency_ms // n) if n else 0),
                ("max_latency", c.max_latency_ms),
            ))
        return info

    def cons(self, r, kw):
        r.data["connections"] = [self._conn_info(p, False) for p in self._fourlw._protocols()]
        r.data["secure_connections"] = []

    def hash(self, r, kw):
        r.data["digests"] = []      # zkwire keeps no tree digests (see fourlw.cmd_hash)

    def dirs(self, r, kw):
        s = self.server.settings
        data_dir = s.get("dataDir", "")
        log_dir = s.get("dataLogDir", "") or data_dir
        r.data["datadir_size"] = _dir_size(data_dir)
        r.data["logdir_size"] = _dir_size(log_dir)

    def dump(self, r, kw):
        core = self.server.core
        expiry = {}
        for sess in list(core.sessions.sessions.values()):
            expiry.setdefault(str(sess.expire_at_ms), []).append(_signed(sess.session_id))
        r.data["expiry_time_to_session_ids"] = dict(sorted(expiry.items(), key=lambda kv: int(kv[0])))
        r.data["session_id_to_ephemeral_paths"] = {
            str(_signed(sid)): list(paths) for sid, paths in core.tree.ephemerals.items()}

    def envi(self, r, kw):
        r.data.update(environment())

    def gtmk(self, r, kw):
        r.data["tracemask"] = self._fourlw.trace_mask

    def stmk(self, r, kw):
        raw = kw.get("traceMask")
        if raw is None:
            r.data["error"] = "setTraceMask requires long traceMask argument"
            return
        try:
            mask = int(raw, 10)
            if not -(1 << 63) <= mask < (1 << 63) or not raw.strip().lstrip("+-").isdigit():
                raise ValueError(raw)
        except ValueError:
            r.data["error"] = "setTraceMask requires long traceMask argument, got " + raw
            return
        self._fourlw.trace_mask = mask
        r.data["tracemask"] = mask

    def icfg(self, r, kw):
        r.data["initial_configuration"] = self.initial_config

    def isro(self, r, kw):
        r.data["read_only"] = self._fourlw._mode() == "read-only"

    def lsnp(self, r, kw):
        last = getattr(self.server, "last_snapshot", None)
        if last is None:
            r.data["zxid"] = "%x" % 0xFFFFFFFFFFFFFFFF
            r.data["timestamp"] = -1
        else:
            zxid, when_s = last
            r.data["zxid"] = "%x" % zxid
            r.data["timestamp"] = when_s

    def leader(self, r, kw):
        member = self._member()
        if member is None:
            r.data["error"] = "server is not initialized"
            return
        r.data["is_leader"] = member.mode() == "leader"
        lid = member.peer.leader_sid
        r.data["leader_id"] = lid if lid is not None else -1
        m = member.membership.members.get(lid) if lid is not None else None
        r.data["leader_ip"] = m.host if m is not None else ""

    def mntr(self, r, kw):
        if not self.serving():
            return
        r.data.update(self._fourlw.monitor_values())

    def obsr(self, r, kw):
        member = self._member()
        if member is not None and member.mode() == "leader":
            counts = member.learner_counts()
            r.data["synced_observers"] = counts["synced_observers"]
        else:
            r.data["synced_observers"] = 0
        r.data["observers"] = []

    def _stats(self):
        srv = self.server
        core = srv.core
        st = core.stats
        s = srv.settings
        data_dir = s.get("dataDir", "")
        log_dir = s.get("dataLogDir", "") or data_dir
        mode = self._fourlw._mode()
        return {
            "packets_sent": st.packets_sent,
            "packets_received": st.packets_received,
            "fsync_threshold_exceed_count": 0,
            "client_response_stats": {"last_buffer_size": -1, "min_buffer_size": -1,
                                      "max_buffer_size": -1},
            "data_dir_size": _dir_size(data_dir),
            "log_dir_size": _dir_size(log_dir),
            "provider_null": False,
            "server_state": mode,
            "last_processed_zxid": self._fourlw._zxid(),
            "outstanding_requests": core.outstanding,
            "avg_latency": st.avg_latency_ms(),
            "max_latency": st.max_latency_ms,
            "min_latency": st.min_latency_ms or 0,
            "num_alive_client_connections": len(srv.protocols),
            "uptime": srv.now_ms() - srv.started_ms,
            "auth_failed_count": 0,
            "non_mtlsremote_conn_count": 0,
            "non_mtlslocal_conn_count": 0,
        }

    def srvr(self, r, kw):
        stats = self._stats()
        r.data["version"] = FULL_VERSION
        r.data["read_only"] = self._fourlw._mode() == "read-only"
        r.data["server_stats"] = stats
        r.data["client_response"] = dict(stats["client_response_stats"])
        member = self._member()
        if member is not None and member.mode() == "leader":
            last, low, high = member.proposal_sizes()
            r.data["proposal_stats"] = {"last_buffer_size": last, "min_buffer_size": low,
                                        "max_buffer_size": high}
        r.data["node_count"] = self.server.core.tree.node_count()

    def stat(self, r, kw):
        self.srvr(r, kw)
        r.data["connections"] = [self._conn_info(p, True) for p in self._fourlw._protocols()]
        r.data["secure_connections"] = []

    def sysp(self, r, kw):
        r.data.update(sorted(self.system_properties.items()))

    def voting_view(self, r, kw):
        member = self._member()
        view = {}
        if member is not None:
            for sid, m in sorted(member.membership.voters.items()):
                # 3.8.0 (observed): a member's own client address is known to
                # it; another's only from a ";host:port" part of its line.
                if sid == member.myid:
                    client = "%s:%d" % (self.server.host, self.server.port)
                elif m.client_port:
                    client = "%s:%d" % (m.client_host or "0.0.0.0", m.client_port)
                else:
                    client = ""
                view[str(sid)] = {
                    "server_addresses": ["%s:%d" % (m.host, m.quorum_port)],
                    "election_addresses": ["%s:%d" % (m.host, m.election_port)],
                    "client_address": client,
                    "learner_type": "participant",
                }
        r.data["current_config"] = view

    def wchc(self, r, kw):
        w = self.server.core.watches
        out = {}
        for table in (w.data, w.child):
            for watcher, paths in list(table.by_watcher.items()):
                mine = out.setdefault(str(_signed(watcher.session_id)), [])
                mine.extend(p for p in paths if p not in mine)
        r.data["session_id_to_watched_paths"] = out

    def wchp(self, r, kw):
        w = self.server.core.watches
        out = {}
        for table in (w.data, w.child):
            for path, watchers in list(table.by_path.items()):
                sids = out.setdefault(path, [])
                for x in watchers:
                    s = _signed(x.session_id)
                    if s not in sids:
                        sids.append(s)
        r.data["path_to_session_ids"] = out

    def wchs(self, r, kw):
        w = self.server.core.watches
        watchers = set(w.data.by_watcher) | set(w.child.by_watcher)
        r.data["num_connections"] = len(watchers)
        r.data["num_paths"] = w.path_count()
        r.data["num_total_watches"] = w.count()

    def zabstate(self, r, kw):
        member = self._member()
        if member is None:
            r.data["voting"] = False
            r.data["zabstate"] = ""
            return
        me = member.membership.members[member.myid]
        zxid = member.zxid()
        mode = member.mode()
        r.data["myid"] = member.myid
        r.data["is_leader"] = mode == "leader"
        r.data["quorum_address"] = _multiple_addresses(me.host, me.quorum_port)
        r.data["election_address"] = _multiple_addresses(me.host, me.election_port)
        r.data["client_address"] = "%s:%d" % (self.server.host, self.server.port)
        r.data["voting"] = member.myid in member.membership.voters
        r.data["last_zxid"] = "0x%x" % zxid      # ZxidUtils.zxidToString: Long.toHexString
        r.data["zab_epoch"] = zxid >> 32
        r.data["zab_counter"] = zxid & 0xFFFFFFFF
        r.data["zabstate"] = "broadcast" if mode in ("leader", "follower", "observer") else "election"


def _multiple_addresses(host: str, port: int) -> dict:
    """How Jackson writes ZooKeeper's MultipleAddresses bean (its getters), as
    3.8.0's zabstate shows it for a member with one address."""
    addr = "%s:%d" % (host, port)
    return {
        "empty": False,
        "all_addresses": [addr],
        "all_reachable_addresses": [addr],
        "one": addr,
        "reachable_address": addr,
        "wildcard_addresses": ["0.0.0.0:%d" % port],
        "all_ports": [port],
        "all_host_strings": [host],
        "all_reachable_addresses_or_all": [addr],
        "reachable_or_one": addr,
    }


class _BoundedRequest(web_server.Request):
    """A request whose body may not exceed MAX_BODY_BYTES: past it, the
    connection is closed (one log line)."""

    def gotLength(self, length):
        if length is not None and length > MAX_BODY_BYTES:
            log.warning("admin: %s sent a %d-byte body (limit %d): closing",
                        self.getClientAddress(), length, MAX_BODY_BYTES)
            self.channel.transport.loseConnection()
            return
        self._body_seen = 0
        super().gotLength(length)

    def handleContentChunk(self, data):
        self._body_seen = getattr(self, "_body_seen", 0) + len(data)
        if self._body_seen > MAX_BODY_BYTES:
            self.channel.transport.loseConnection()
            return
        super().handleContentChunk(data)


class AdminResource(resource.Resource):
    isLeaf = True

    def __init__(self, commands: AdminCommands, command_url: str):
        super().__init__()
        self.commands = commands
        self.prefix = "/" + command_url.strip("/") if command_url.strip("/") else ""

    def _name(self, request):
        """The command name, "" for the list, None for a path outside commandURL."""
        path = request.path.decode("utf-8", "replace")
        if path == self.prefix or path == self.prefix + "/":
            return ""
        if not path.startswith(self.prefix + "/"):
            return None
        return path[len(self.prefix) + 1:]

    def _serve(self, request, post: bool) -> bytes:
        name = self._name(request)
        if name is None:
            request.setResponseCode(404)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"Not Found\n"
        if name == "":
            return "".join('<a href="%s/%s">%s</a>\n<br/>\n' % (self.prefix, n, n)
                           for n in self.commands.primary_names).encode("utf-8")
        kwargs = {}
        for k, v in (request.args or {}).items():
            if v:
                kwargs[k.decode("utf-8", "replace")] = v[0].decode("utf-8", "replace")
        auth = request.getHeader(b"authorization")
        if auth is not None:
            auth = auth.decode("utf-8", "replace")
        peer = request.getClientAddress()
        peer_ip = getattr(peer, "host", "") or ""
        try:
            resp = self.commands.run(name, kwargs, auth, peer_ip, post)
        except Exception:
            log.exception("admin command %s failed", name)
            request.setResponseCode(500)
            request.setHeader(b"content-type", b"application/json")
            return jackson({"command": name, "error": "internal error"}).encode("utf-8")
        request.setResponseCode(resp.status)
        request.setHeader(b"content-type", b"application/json")
        return jackson(resp.to_map()).encode("utf-8")

    def render_GET(self, request):
        return self._serve(request, post=False)

    def render_POST(self, request):
        return self._serve(request, post=True)


def make_site(commands: AdminCommands, command_url: str = "/commands",
              idle_timeout_ms: int = 30000) -> web_server.Site:
    site = web_server.Site(AdminResource(commands, command_url),
                           timeout=max(idle_timeout_ms, 1) / 1000.0)
    site.requestFactory = _BoundedRequest
    site.displayTracebacks = False
    site.noisy = False
    return site


def listen(reactor, commands: AdminCommands, port: int = 8080, address: str = "0.0.0.0",
           command_url: str = "/commands", idle_timeout_ms: int = 30000):
    """Start the AdminServer; -> the listening port (stopListening to stop)."""
    site = make_site(commands, command_url, idle_timeout_ms)
    return reactor.listenTCP(port, site, interface=address)
