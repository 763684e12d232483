"""Four-letter words: the plain-text admin commands on the client port.

A new connection whose first four bytes spell a known command gets that
command's text and is closed, as in ZooKeeper.  Commands outside
``4lw.commands.whitelist`` answer "<cmd> is not executed because it is not in
the whitelist." (ZooKeeper's wording).  Output formats follow ZooKeeper 3.9.
"""
from __future__ import annotations

import os
import platform
import socket
import struct
import sys
import time

import zkwire
from zkwire.consts import OpCode

#: The version we report (kazoo's server_version() parses it from envi).
ZK_COMPAT_VERSION = "3.9.3"
FULL_VERSION = "%s-zkwire-%s, built on 1970-01-01 00:00 UTC" % (ZK_COMPAT_VERSION, zkwire.__version__)

COMMANDS = ("ruok", "srvr", "stat", "conf", "cons", "envi", "mntr", "wchs", "wchc",
            "wchp", "dump", "isro", "crst", "srst", "dirs", "gtmk", "stmk", "hash")
FOUR_LETTER_WORDS = frozenset(c.encode("ascii") for c in COMMANDS)

DEFAULT_TRACE_MASK = 2 | 16 | 32 | 256

#: Long listings (wchc, wchp, dump) are produced this many lines at a time; the
#: edge writes a few chunks per reactor turn, so other clients are served while
#: a million watches are listed.
LINES_PER_CHUNK = 2000
#: The line Apache ZooKeeper 3.8.0 puts after srvr's version in read-only mode.
READ_ONLY_BANNER = "READ-ONLY mode; serving only read-only clients\n"
#: What ZooKeeper answers srvr/stat/mntr with while it has no leader.
NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"

# ZooKeeper's short names for the last operation of a connection (cons "lop=").
LAST_OP = {
    OpCode.ping: "PING", OpCode.getData: "GETD", OpCode.setData: "SETD",
    OpCode.create: "CREA", OpCode.create2: "CREA", OpCode.createTTL: "CREA",
    OpCode.createContainer: "CREA", OpCode.delete: "DELE", OpCode.exists: "EXIS",
    OpCode.getChildren: "GETC", OpCode.getChildren2: "GETC", OpCode.getACL: "GETA",
    OpCode.setACL: "SETA", OpCode.sync: "SYNC", OpCode.check: "CHEC",
    OpCode.multi: "MULT", OpCode.multiRead: "MLTR", OpCode.setWatches: "SETW",
    OpCode.setWatches2: "STW2", OpCode.closeSession: "CLOSE", OpCode.createSession: "SESS",
    OpCode.getAllChildrenNumber: "GETACN", OpCode.getEphemerals: "GETE", OpCode.whoAmI: "HOMI",
    OpCode.checkWatches: "CHKW", OpCode.removeWatches: "REMW", OpCode.addWatch: "ADDW",
}


def _hex(v: int) -> str:
    return "%x" % (v & 0xFFFFFFFFFFFFFFFF)


def _dir_size(path) -> int:
    total = 0
    if not path:
        return 0
    d = os.path.join(path, "version-2")
    try:
        for name in os.listdir(d):
            try:
                total += os.path.getsize(os.path.join(d, name))
            except OSError:
                pass
    except OSError:
        pass
    return total



def environment() -> list:
    """envi's (key, value) pairs, ZooKeeper's Environment list: the 4lw and
    the AdminServer's ``environment`` command print the same."""
    return [
        ("zookeeper.version", FULL_VERSION),
        ("host.name", socket.gethostname()),
        ("java.version", "n/a (zkwire on Python %s)" % platform.python_version()),
        ("java.vendor", "n/a"),
        ("java.home", sys.prefix),
        ("java.class.path", ""),
        ("java.library.path", ""),
        ("java.io.tmpdir", os.environ.get("TMPDIR", "/tmp")),
        ("java.compiler", "<NA>"),
        ("os.name", platform.system()),
        ("os.arch", platform.machine()),
        ("os.version", platform.release()),
        ("user.name", os.environ.get("USER", "")),
        ("user.home", os.path.expanduser("~")),
        ("user.dir", os.getcwd()),
    ] + _memory_lines()

class FourLetterWords:
    def __init__(self, server, whitelist):
        self.server = server
        wl = set()
        for w in whitelist:
            w = w.strip()
            if w == "*":
                wl.update(COMMANDS)
            elif w:
                wl.add(w)
        # ZooKeeper enables srvr whatever the whitelist says.
        wl.add("srvr")
        self.whitelist = wl
        #: ZooTrace's text trace mask (gtmk/stmk): CLIENT_REQUEST 2 | SERVER_PACKET
        #: 16 | SESSION 32 | WARNING 256 by default; 3.8.0's gtmk answers 306.
        #: zkwire keeps the mask and prints it; it does not trace by it.
        self.trace_mask = DEFAULT_TRACE_MASK

    def run(self, word: str, proto, extra: bytes = b""):
        """The command's text: a str, or an iterator of str chunks for the long
        listings (the edge writes them over several reactor turns).  ``extra``:
        the bytes that came with the word (stmk's 8-byte mask)."""
        if word not in self.whitelist:
            return "%s is not executed because it is not in the whitelist.\n" % word
        if word == "stmk":
            # ZooKeeper reads the mask with one read after the word; short of
            # 8 bytes its getLong fails and the connection closes, silent.
            if len(extra) < 8:
                return ""
            self.trace_mask = struct.unpack(">q", bytes(extra[:8]))[0]
        # ZooKeeper counts the command itself as one packet received and sent
        # (server-wide) and one received on its own connection.
        st = self.server.core.stats
        st.packets_received += 1
        st.packets_sent += 1
        if proto.conn is not None:
            proto.conn.received += 1
        return getattr(self, "cmd_" + word)(proto)

    # --- the commands -------------------------------------------------------------------
    def cmd_ruok(self, proto):
        return "imok"

    def cmd_isro(self, proto):
        return "ro" if self._mode() == "read-only" else "rw"

    def _mode(self):
        """standalone, or leader / follower / observer (None: not serving)."""
        member = getattr(self.server, "ensemble", None)
        return "standalone" if member is None else member.mode()

    def _zxid(self):
        member = getattr(self.server, "ensemble", None)
        return self.server.core.tree.last_zxid if member is None else member.zxid()

    def _stats_block(self):
        core = self.server.core
        st = core.stats
        lines = [
            "Latency min/avg/max: %d/%s/%d" % (st.min_latency_ms or 0, st.avg_latency_ms(),
                                               st.max_latency_ms),
            "Received: %d" % st.packets_received,
            "Sent: %d" % st.packets_sent,
            "Connections: %d" % len(self.server.protocols),
            "Outstanding: %d" % core.outstanding,
            "Zxid: 0x%x" % self._zxid(),
            "Mode: %s" % self._mode(),
            "Node count: %d" % core.tree.node_count(),
        ]
        member = getattr(self.server, "ensemble", None)
        if member is not None and member.mode() == "leader":
            lines.append("Proposal sizes last/min/max: %d/%d/%d" % member.proposal_sizes())
        return "\n".join(lines) + "\n"

    def cmd_srvr(self, proto):
        mode = self._mode()
        if mode is None:
            return NOT_SERVING
        head = "Zookeeper version: %s\n" % FULL_VERSION
        if mode == "read-only":
            head += READ_ONLY_BANNER
        return head + self._stats_block()

    def cmd_stat(self, proto):
        if self._mode() is None:
            return NOT_SERVING
        out = ["Zookeeper version: %s\n" % FULL_VERSION, "Clients:\n"]
        for p in self._protocols():
            out.append(self._conn_info(p, brief=True) + "\n")
        out.append("\n")
        out.append(self._stats_block())
        return "".join(out)

    def cmd_cons(self, proto):
        return "".join(self._conn_info(p, brief=False) + "\n" for p in self._protocols()) + "\n"

    def _protocols(self):
        return [p for p in self.server.protocols.values() if p.conn is not None]

    def _conn_info(self, p, brief):
        c = p.conn
        s = " /%s[%s](queued=%d,recved=%d,sent=%d" % (
            p.peer, "1" if not p.closing else "0", len(c.queue), c.received, c.sent)
        if not brief and c.session_id:
            n = c.latency_count
            avg = (c.total_latency_ms // n) if n else 0  # a Java long division
            s += ",sid=0x%s,lop=%s,est=%d,to=%d" % (
                _hex(c.session_id), LAST_OP.get(c.last_op, "NA"), c.created_ms, c.timeout_ms)
            if c.last_cxid >= 0:
                s += ",lcxid=0x%x" % c.last_cxid
            s += ",lzxid=0x%s,lresp=%d,llat=%d,minlat=%d,avglat=%d,maxlat=%d" % (
                _hex(c.last_zxid), c.last_response_ms, c.last_latency_ms,
                c.min_latency_ms or 0, avg, c.max_latency_ms)
        return s + ")"

    def cmd_crst(self, proto):
        for p in self._protocols():
            c = p.conn
            c.received = c.sent = 0
            c.min_latency_ms = None
            c.max_latency_ms = c.total_latency_ms = c.latency_count = 0
            c.last_zxid = -1
            c.last_op = None
            c.last_cxid = -1
            c.last_response_ms = c.last_latency_ms = 0
        return "Connection stats reset.\n"

    def cmd_srst(self, proto):
        # ServerStats.reset(): the latency and packet figures and every metric.
        self.server.core.stats.reset()
        self.server.core.metrics.reset()
        return "Server stats reset.\n"

    def cmd_conf(self, proto):
        srv = self.server
        cfg = srv.config
        data_dir = srv.settings.get("dataDir", "")
        log_dir = srv.settings.get("dataLogDir", data_dir)
        lines = [
            "clientPort=%d" % srv.port,
            "secureClientPort=-1",
            "dataDir=%s" % os.path.join(os.path.abspath(data_dir), "version-2") if data_dir else "dataDir=",
            "dataDirSize=%d" % _dir_size(data_dir),
            "dataLogDir=%s" % os.path.join(os.path.abspath(log_dir), "version-2") if log_dir else "dataLogDir=",
            "dataLogSize=%d" % _dir_size(log_dir),
            "tickTime=%d" % cfg.tick_ms,
            "maxClientCnxns=%d" % srv.max_client_cnxns,
            "minSessionTimeout=%d" % cfg.min_session_timeout_ms,
            "maxSessionTimeout=%d" % cfg.max_session_timeout_ms,
            "clientPortListenBacklog=-1",
        ]
        member = getattr(srv, "ensemble", None)
        if member is None:
            lines.append("serverId=0")  # standalone: no myid
        else:
            lines.extend(member.conf_lines())
        return "\n".join(lines) + "\n"

    def cmd_envi(self, proto):
        return "Environment:\n" + "".join("%s=%s\n" % kv for kv in environment())

    def cmd_mntr(self, proto):
        if self._mode() is None:
            return NOT_SERVING
        return "".join("zk_%s\t%s\n" % (k, _java_text(v)) for k, v in self.monitor_values())

    def monitor_values(self) -> list:
        """[(key, value)] of ZooKeeper's MonitorCommand, in its order: the
        server's own values, then the metric registry (gauges, counters,
        summaries, sets; server/core/metrics.py)."""
        srv = self.server
        core = srv.core
        member = getattr(srv, "ensemble", None)
        out = [("version", FULL_VERSION), ("server_state", self._mode())]
        if member is not None:
            out.append(("peer_state", member.peer_state()))
            if member.mode() == "observer":
                out.append(("observer_master_id", member.peer.leader_sid))
        from zkwire.server.core.quota import namespace_gauges

        return out + core.metrics.dump(self.gauges(), namespace_gauges(core.tree))

    def gauges(self) -> dict:
        """ZooKeeper's gauges, name -> value, in its registration order for
        this server's role (None: ZooKeeper's gauge answers null, not printed)."""
        srv = self.server
        core = srv.core
        st = core.stats
        tree = core.tree
        member = getattr(srv, "ensemble", None)
        mode = self._mode()
        try:
            fds = len(os.listdir("/proc/self/fd"))
        except OSError:
            fds = -1
        try:
            import resource
            max_fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        except Exception:
            max_fds = -1
        g = {
            "avg_latency": st.avg_latency_ms(),
            "max_latency": st.max_latency_ms,
            "min_latency": st.min_latency_ms or 0,
            "packets_received": st.packets_received,
            "packets_sent": st.packets_sent,
            "num_alive_connections": len(srv.protocols),
            "outstanding_requests": core.outstanding,
            "uptime": srv.now_ms() - srv.started_ms,
            "znode_count": tree.node_count(),
            "watch_count": core.watches.count(),
            "ephemerals_count": sum(len(v) for v in tree.ephemerals.values()),
            "approximate_data_size": tree.approximate_data_size(),
            "global_sessions": len(core.sessions.sessions),
            "local_sessions": 0,
            "open_file_descriptor_count": fds,
            "max_file_descriptor_count": max_fds,
            "connection_drop_probability": 0.0,
            # zkwire does not track reply sizes; ZooKeeper's "none yet" value.
            "last_client_response_size": -1,
            "max_client_response_size": -1,
            "min_client_response_size": -1,
            "outstanding_tls_handshake": 0,
            "auth_failed_count": 0,
            "non_mtls_remote_conn_count": 0,
            "non_mtls_local_conn_count": 0,
        }
        if member is not None:
            g["quorum_size"] = member.quorum_size()
            if mode == "leader":
                last, low, high = member.proposal_sizes()
                learners = member.learner_counts()
                g.update((
                    ("learners", learners["learners"]),
                    ("synced_followers", learners["synced_followers"]),
                    ("synced_non_voting_followers", learners["synced_non_voting"]),
                    ("synced_observers", learners["synced_observers"]),
                    ("pending_syncs", member.pending_syncs()),
                    ("leader_uptime", member.leader_uptime_ms()),
                    ("last_proposal_size", last),
                    ("max_proposal_size", high),
                    ("min_proposal_size", low),
                ))
            elif mode == "follower":
                # QuorumPeer.getSynced_observers_metric: null off the leader
                # unless observers follow this member (zkwire's never do).
                g["synced_observers"] = None
        return g

    def _watch_owner(self, watcher):
        return watcher.session_id

    def cmd_wchs(self, proto):
        w = self.server.core.watches
        watchers = set(w.data.by_watcher) | set(w.child.by_watcher)
        return "%d connections watching %d paths\nTotal watches:%d\n" % (
            len(watchers), w.path_count(), w.count())

    def cmd_wchc(self, proto):
        # Sessions in the order their first watcher appears (data table, then
        # child table); each session's paths: its data watches, then the child
        # watches on other paths.  Connections are few; paths may be millions,
        # so they are listed a chunk at a time from a snapshot of the keys.
        w = self.server.core.watches
        by_sid = {}
        for table in (w.data, w.child):
            for watcher in list(table.by_watcher):
                by_sid.setdefault(watcher.session_id, []).append((table, watcher))
        return self._wchc_chunks(by_sid)

    def _wchc_chunks(self, by_sid):
        for sid, owners in by_sid.items():
            yield "0x%s\n" % _hex(sid)
            seen = set()
            for table, watcher in owners:
                paths = list(table.by_watcher.get(watcher, ()))
                for i in range(0, len(paths), LINES_PER_CHUNK):
                    part = [p for p in paths[i:i + LINES_PER_CHUNK] if p not in seen]
                    seen.update(part)
                    if part:
                        yield "".join("\t%s\n" % p for p in part)
        yield "\n"

    def cmd_wchp(self, proto):
        # Paths in data-table order, then the child-only paths; each path's
        # sessions: data watchers, then child watchers not already listed.
        w = self.server.core.watches
        return self._wchp_chunks(w.data, w.child)

    def _wchp_chunks(self, data, child):
        data_paths = list(data.by_path)
        child_paths = list(child.by_path)
        listed = set()
        for paths, first in ((data_paths, True), (child_paths, False)):
            for i in range(0, len(paths), LINES_PER_CHUNK):
                out = []
                for path in paths[i:i + LINES_PER_CHUNK]:
                    if first:
                        listed.add(path)
                        sids = dict.fromkeys(x.session_id for x in data.by_path.get(path, ()))
                    elif path in listed:
                        continue
                    else:
                        sids = {}
                    sids.update((x.session_id, None) for x in child.by_path.get(path, ()))
                    if sids:
                        out.append("%s\n" % path)
                        out.extend("\t0x%s\n" % _hex(s) for s in sids)
                if out:
                    yield "".join(out)
        yield "\n"

    def cmd_dump(self, proto):
        core = self.server.core
        sessions = core.sessions.sessions
        buckets = {}
        for sess in list(sessions.values()):
            buckets.setdefault(sess.expire_at_ms, []).append(sess.session_id)
        out = ["SessionTracker dump:\n",
               "Session Sets (%d)/(%d):\n" % (len(buckets), len(sessions))]
        for when in sorted(buckets):
            out.append("%d expire at %s:\n" % (len(buckets[when]), _java_date(when)))
            out.extend("\t0x%s\n" % _hex(sid) for sid in sorted(buckets[when]))
        eph = core.tree.ephemerals
        out.append("ephemeral nodes dump:\n")
        out.append("Sessions with Ephemerals (%d):\n" % len(eph))
        return self._dump_chunks("".join(out), eph, list(eph))

    def _dump_chunks(self, head, eph, sids):
        yield head
        for sid in sids:
            yield "0x%s:\n" % _hex(sid)
            paths = list(eph.get(sid, ()))
            for i in range(0, len(paths), LINES_PER_CHUNK):
                yield "".join("\t%s\n" % p for p in paths[i:i + LINES_PER_CHUNK])
        conns = self._protocols()
        out = ["Connections dump:\n",
               "Connections Sets (1)/(%d):\n" % len(conns),
               "%d expire at %s:\n" % (len(conns), _java_date(self.server.now_ms()))]
        for p in conns:
            out.append("\tip: /%s sessionId: 0x%s\n" % (p.peer, _hex(p.conn.session_id)))
        yield "".join(out)

    def cmd_dirs(self, proto):
        s = self.server.settings
        data_dir = s.get("dataDir", "")
        log_dir = s.get("dataLogDir", data_dir)
        return "datadir_size: %d\nlogdir_size: %d\n" % (_dir_size(data_dir), _dir_size(log_dir))

    def cmd_gtmk(self, proto):
        # TraceMaskCommand: pw.print, no newline (3.8.0 answers "306").
        return "%d" % self.trace_mask

    def cmd_stmk(self, proto):
        return "%d" % self.trace_mask

    def cmd_hash(self, proto):
        # DigestCommand prints the tree digests logged every 128 zxids
        # ("<zxid hex>: <digest>" lines).  zkwire computes no digests: it
        # answers as ZooKeeper does with zookeeper.digest.enabled=false,
        # an empty log (README, compatibility table).
        if self._mode() is None:
            return NOT_SERVING
        return ""


def _java_text(value) -> str:
    """MonitorCommand.print: integers as they are, other numbers as a Java double."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _java_date(ms: int) -> str:
    """Like Java's Date.toString(), in UTC."""
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(ms / 1000.0))


def _memory_lines():
    """os.memory.free/max/total, from the process's resident set and the machine."""
    rss_kb = total_kb = 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss_kb = int(line.split()[1])
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    total_kb = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return [("os.memory.free", "%dMB" % max(0, (total_kb - rss_kb) // 1024)),
            ("os.memory.max", "%dMB" % (total_kb // 1024)),
            ("os.memory.total", "%dMB" % (rss_kb // 1024))]
