"""Record Apache ZooKeeper's own quorum traffic (election and quorum ports) as golden files.

Regenerate (as root: dumpcap captures on ``lo``; needs Debian's zookeeper 3.8
package, tshark, kazoo), from the repository root::

    .venv/bin/python tests/golden/quorum_capture.py               # rewrites quorum/*.json
    .venv/bin/python tests/golden/quorum_capture.py --keep /tmp/qc  # and keeps pcap, logs, dataDirs

It starts a 3-server ensemble of Apache ZooKeeper 3.8.0 on 127.0.0.1 (plus a 4th
server, an observer, that is listed in every config but started only in the last
scenario), captures the election-port and quorum-port TCP streams with dumpcap
on ``lo`` for the whole run, and then cuts the run into scenarios by wall-clock
windows:

* ``election_sync``: the first election and the first sync of both followers;
* ``writes``: a kazoo client on a follower writes (create, ephemeral, setData,
  delete, multi, sync), a raw client re-attaches the session on the other
  follower (REVALIDATE), a client on the leader writes, sessions close;
* ``diff``: a follower is stopped, the others commit writes, it restarts (DIFF);
* ``snap``: a follower's dataDir is wiped (myid kept), it restarts (SNAP);
* ``trunc``: a follower is stopped, started *standalone* on its own dataDir and
  written to (so its log holds txns the ensemble never saw, in the same epoch),
  stopped, and restarted in the ensemble (TRUNC);
* ``observer``: the observer joins (OBSERVERINFO) and receives writes (INFORM);
* ``reelection``: the leader is stopped, the rest elect a new leader in a new
  epoch; the old leader comes back as a follower.

Each ``tests/golden/quorum/<scenario>.json`` holds every stream that carried
bytes in that window, each direction's bytes as hex, cut at message boundaries
(a stream that started in an earlier window starts at a message boundary, its
``offset`` in the stream recorded), and truncated at a message boundary past
``MAX_DIRECTION_BYTES``.  The format::

    {"scenario": str, "zookeeper": "3.8.0", "description": str,
     "servers": {"<sid>": {"role", "quorum_port", "election_port", "client_port"}},
     "config": {tickTime, initLimit, syncLimit},
     "notes": [str, ...],              # what the driver did and saw, in order
     "disk": {"<sid>": {"acceptedEpoch": str|null, "currentEpoch": str|null,  # file text
                        "files": [str, ...]}},          # names in dataDir/version-2
     "streams": [{"stream": int,       # tshark's tcp.stream
                  "kind": "election" | "quorum",
                  "listener_sid": int, "listener_port": int,
                  "dialer_sid": int | null, "dialer_port": int,
                  "from_start": bool,  # the stream's first bytes are in this window
                  "closed": bool,      # FIN or RST seen within the window
                  "from_dialer":   {"offset", "bytes", "messages", "t_ms", "hex",
                                    "truncated", "incomplete_tail"},
                  "from_listener": {...}}],
     "connections_without_bytes": [{"stream", "kind", "listener_sid", "listener_port",
                                    "closed"}]}   # refused or closed before any byte

``t_ms`` gives, per message, the milliseconds since the window opened at which
the segment carrying its first byte was captured (ordering across streams is
only as good as the capture's timestamps).  The message boundaries are found by
a small walker in this file, independent of zkwire's decoder.  Session ids,
times and ports differ on every recording; pcap files are never committed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
OUT_DIR = os.path.join(HERE, "quorum")
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "integration"))

ZK_CLASSPATH = ":".join([
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/netty-codec.jar",
    "/usr/share/java/slf4j-simple.jar",  # server log to stderr, for the notes
])

TICK_MS = 250
INIT_LIMIT = 20
SYNC_LIMIT = 10
MAX_DIRECTION_BYTES = 24 * 1024
#: Server log lines worth a note: who leads, how each learner was synchronized.
LOG_NEEDLES = ("Synchronizing with Learner", "Sending DIFF", "Sending TRUNC", "Sending snapshot",
               "Getting a diff", "Getting a snapshot", "Truncating log", "Peer state changed",
               "LEADER ELECTION TOOK", "Learner received", "Revalidating client")
SNAP = 15


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise TimeoutError("timed out waiting for " + what)


# --------------------------------------------------------------------------------------
# The ensemble
# --------------------------------------------------------------------------------------

class Server:
    def __init__(self, sid, workdir, ports, observer=False):
        self.sid = sid
        self.dir = os.path.join(workdir, "zk%d" % sid)
        self.data_dir = os.path.join(self.dir, "data")
        self.qp, self.ep, self.cp = ports
        self.observer = observer
        self.proc = None
        self.log_path = os.path.join(self.dir, "server.log")
        os.makedirs(self.data_dir, exist_ok=True)
        self.write_myid()

    def write_myid(self):
        os.makedirs(self.data_dir, exist_ok=True)
        with open(os.path.join(self.data_dir, "myid"), "w") as f:
            f.write("%d\n" % self.sid)

    def write_cfg(self, members, standalone=False):
        lines = [
            "tickTime=%d" % TICK_MS,
            "initLimit=%d" % INIT_LIMIT,
            "syncLimit=%d" % SYNC_LIMIT,
            "dataDir=%s" % self.data_dir,
            "clientPort=%d" % self.cp,
            "clientPortAddress=127.0.0.1",
            "admin.enableServer=false",
            "4lw.commands.whitelist=srvr,stat,mntr,ruok",
            "maxClientCnxns=0",
        ]
        if not standalone:
            if self.observer:
                lines.append("peerType=observer")
            for m in members:
                lines.append("server.%d=127.0.0.1:%d:%d%s" % (
                    m.sid, m.qp, m.ep, ":observer" if m.observer else ""))
        path = os.path.join(self.dir, "standalone.cfg" if standalone else "zoo.cfg")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, members, standalone=False):
        cfg = self.write_cfg(members, standalone)
        log = open(self.log_path, "ab")
        log.write(b"\n===== start %s =====\n" % (b"standalone" if standalone else b"ensemble"))
        log.flush()
        cmd = ["java", "-Xmx256m", "-Dzookeeper.admin.enableServer=false",
               "-Dorg.slf4j.simpleLogger.showDateTime=true",
               "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
               "-cp", ZK_CLASSPATH, "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        log.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def four(self, word):
        try:
            with socket.create_connection(("127.0.0.1", self.cp), timeout=1.0) as s:
                s.sendall(word.encode())
                out = []
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    out.append(b)
                return b"".join(out).decode(errors="replace")
        except OSError:
            return ""

    def mode(self):
        for line in self.four("srvr").splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def zxid(self):
        for line in self.four("srvr").splitlines():
            if line.startswith("Zxid:"):
                return int(line.split(":", 1)[1].strip(), 16)
        return None

    def disk(self):
        """The epoch files' text and the names in dataDir/version-2."""
        vdir = os.path.join(self.data_dir, "version-2")
        out = {}
        for name in ("acceptedEpoch", "currentEpoch"):
            try:
                with open(os.path.join(vdir, name)) as f:
                    out[name] = f.read()
            except OSError:
                out[name] = None
        try:
            out["files"] = sorted(os.listdir(vdir))
        except OSError:
            out["files"] = []
        return out

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_lines(self, *needles, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
        except OSError:
            return []
        return [ln.strip() for ln in text.splitlines() if any(n in ln for n in needles)]


# --------------------------------------------------------------------------------------
# Capture and reassembly
# --------------------------------------------------------------------------------------

class Capture:
    def __init__(self, workdir, ports):
        self.path = os.path.join(workdir, "quorum.pcapng")
        self.ports = ports
        self.proc = None

    def start(self):
        filt = " or ".join("tcp port %d" % p for p in sorted(self.ports))
        err = open(self.path + ".log", "wb")
        self.proc = subprocess.Popen(["dumpcap", "-q", "-i", "lo", "-f", filt, "-w", self.path],
                                     stdout=subprocess.DEVNULL, stderr=err)
        err.close()

        def ready():
            with open(self.path + ".log", "rb") as f:
                return b"Capturing on" in f.read()
        wait_until(ready, 15, "dumpcap to start")
        time.sleep(0.3)

    def stop(self):
        time.sleep(0.5)  # let the last segments reach the file
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def segments(self):
        """Every TCP segment: (time, stream, src port, dst port, syn, ack, fin, rst,
        seq, payload)."""
        fields = ["frame.time_epoch", "tcp.stream", "tcp.srcport", "tcp.dstport",
                  "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset",
                  "tcp.seq", "tcp.payload"]
        cmd = ["tshark", "-n", "-r", self.path, "-o", "tcp.relative_sequence_numbers:TRUE",
               "-o", "tcp.desegment_tcp_streams:FALSE", "-T", "fields", "-E", "separator=\t"]
        for f in fields:
            cmd += ["-e", f]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        segs = []
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) < len(fields):
                parts += [""] * (len(fields) - len(parts))
            t, stream, sp, dp, syn, ack, fin, rst, seq, payload = parts[:10]

            def flag(v):
                return v in ("1", "True", "true")
            segs.append((float(t), int(stream), int(sp), int(dp), flag(syn), flag(ack), flag(fin),
                         flag(rst), int(seq) if seq else 0,
                         bytes.fromhex(payload.replace(":", "")) if payload else b""))
        return segs


class Direction:
    """One direction of a stream: bytes reassembled by sequence number, with the
    capture time of the segment that carried each byte range."""

    def __init__(self):
        self.chunks = {}   # offset -> (time, bytes)

    def add(self, t, seq, payload):
        off = seq - 1  # relative seq: the SYN is 0, data starts at 1
        if payload and off not in self.chunks:
            self.chunks[off] = (t, payload)

    def assemble(self):
        data = bytearray()
        times = []  # (offset, time) of each segment start
        for off in sorted(self.chunks):
            t, p = self.chunks[off]
            if off > len(data):
                break  # a hole: the capture lost a segment; stop here
            if off + len(p) <= len(data):
                continue  # a retransmission
            cut = len(data) - off
            times.append((len(data), t))
            data += p[cut:]
        return bytes(data), times


def time_at(times, offset):
    """Capture time of the segment that carried byte ``offset``."""
    lo, hi = 0, len(times) - 1
    best = times[0][1]
    while lo <= hi:
        mid = (lo + hi) // 2
        if times[mid][0] <= offset:
            best = times[mid][1]
            lo = mid + 1
        else:
            hi = mid - 1
    return best


# --- message boundaries (a walker of our own, independent of zkwire's decoder) ----------

class Short(Exception):
    pass


def _need(data, pos, n):
    if pos + n > len(data):
        raise Short()


def _int(data, pos):
    _need(data, pos, 4)
    return struct.unpack_from(">i", data, pos)[0], pos + 4


def _long(data, pos):
    _need(data, pos, 8)
    return struct.unpack_from(">q", data, pos)[0], pos + 8


def _buf(data, pos):
    n, pos = _int(data, pos)
    if n < 0:
        return None, pos
    _need(data, pos, n)
    return data[pos:pos + n], pos + n


def election_messages(data, from_dialer):
    """Offsets (start, end) of the handshake (dialer side) and each frame."""
    out = []
    pos = 0
    try:
        if from_dialer:
            v, p = _long(data, 0)
            if v < 0:
                _, p = _long(data, p)
                _, p = _buf(data, p)
            out.append((0, p))
            pos = p
        while True:
            n, p = _int(data, pos)
            _need(data, p, n)
            out.append((pos, p + n))
            pos = p + n
    except Short:
        return out, pos


def snapshot_body_end(data, pos):
    """End of a SNAP's snapshot body (sessions, ACL cache, nodes up to "/") and
    its "BenWasHere" signature string."""
    n, pos = _int(data, pos)
    _need(data, pos, 12 * max(n, 0))
    pos += 12 * max(n, 0)
    n, pos = _int(data, pos)
    for _ in range(max(n, 0)):
        _, pos = _long(data, pos)
        m, pos = _int(data, pos)
        for _ in range(max(m, 0)):
            _, pos = _int(data, pos)
            _, pos = _buf(data, pos)
            _, pos = _buf(data, pos)
    while True:
        path, pos = _buf(data, pos)
        if path == b"/":
            break
        _, pos = _buf(data, pos)
        _need(data, pos, 8 + 60)  # acl id, StatPersisted
        pos += 8 + 60
    sig, pos = _buf(data, pos)
    if sig != b"BenWasHere":
        raise ValueError("no snapshot signature at %d: %r" % (pos, sig))
    return pos


def quorum_messages(data, from_listener):
    """Offsets of each QuorumPacket; a SNAP from the leader and the snapshot that
    follows it form one message."""
    out = []
    pos = 0
    try:
        while True:
            start = pos
            ptype, p = _int(data, pos)
            _, p = _long(data, p)
            _, p = _buf(data, p)
            n, p = _int(data, p)
            for _ in range(max(n, 0)):
                _, p = _buf(data, p)
                _, p = _buf(data, p)
            if ptype == SNAP and from_listener:
                p = snapshot_body_end(data, p)
            out.append((start, p))
            pos = p
    except Short:
        return out, pos


# --------------------------------------------------------------------------------------
# Cutting the run into scenario files
# --------------------------------------------------------------------------------------

class Streams:
    def __init__(self, segments, servers):
        self.by_port = {}
        for s in servers:
            self.by_port[s.qp] = ("quorum", s.sid)
            self.by_port[s.ep] = ("election", s.sid)
        self.streams = {}
        for (t, st, sp, dp, syn, ack, fin, rst, seq, payload) in segments:
            info = self.streams.get(st)
            if info is None:
                if dp in self.by_port:
                    listener_port, dialer_port = dp, sp
                elif sp in self.by_port:
                    listener_port, dialer_port = sp, dp
                else:
                    continue
                info = self.streams[st] = {
                    "stream": st, "listener_port": listener_port, "dialer_port": dialer_port,
                    "first": t, "end": None, "dirs": {"from_dialer": Direction(),
                                                      "from_listener": Direction()}}
            d = "from_dialer" if sp == info["dialer_port"] else "from_listener"
            info["dirs"][d].add(t, seq, payload)
            if (fin or rst) and info["end"] is None:
                info["end"] = t
        for info in self.streams.values():
            kind, sid = self.by_port[info["listener_port"]]
            info["kind"] = kind
            info["listener_sid"] = sid
            info["assembled"] = {}
            for d, direction in info["dirs"].items():
                data, times = direction.assemble()
                if kind == "election":
                    msgs, _ = election_messages(data, d == "from_dialer")
                else:
                    msgs, _ = quorum_messages(data, d == "from_listener")
                info["assembled"][d] = (data, times, msgs)
            info["dialer_sid"] = self._dialer_sid(info)

    @staticmethod
    def _dialer_sid(info):
        data, _, msgs = info["assembled"]["from_dialer"]
        if not msgs:
            return None
        if info["kind"] == "election":
            v = struct.unpack_from(">q", data, 0)[0]
            return v if v >= 0 else struct.unpack_from(">q", data, 8)[0]
        # FOLLOWERINFO / OBSERVERINFO: LearnerInfo starts with the server id.
        if len(data) >= 28:
            return struct.unpack_from(">q", data, 16)[0]
        return None

    def window(self, t0, t1):
        """The streams with bytes in [t0, t1), and the connections opened in that
        window that carried no bytes at all (refused, or closed at once)."""
        out = []
        empty = []
        for st in sorted(self.streams):
            info = self.streams[st]
            entry = {"stream": st, "kind": info["kind"],
                     "listener_sid": info["listener_sid"], "listener_port": info["listener_port"],
                     "dialer_sid": info["dialer_sid"], "dialer_port": info["dialer_port"],
                     "from_start": t0 <= info["first"] < t1,
                     "closed": info["end"] is not None and t0 <= info["end"] < t1}
            any_bytes = False
            for d in ("from_dialer", "from_listener"):
                data, times, msgs = info["assembled"][d]
                chosen = [m for m in msgs if t0 <= time_at(times, m[0]) < t1]
                part = {"offset": chosen[0][0] if chosen else 0, "bytes": 0, "messages": 0,
                        "t_ms": [], "hex": "", "truncated": False, "incomplete_tail": 0}
                if chosen:
                    any_bytes = True
                    start = chosen[0][0]
                    kept = []
                    for m in chosen:
                        if kept and m[1] - start > MAX_DIRECTION_BYTES:
                            part["truncated"] = True
                            break
                        kept.append(m)
                    end = kept[-1][1]
                    part.update(bytes=end - start, messages=len(kept),
                                t_ms=[round((time_at(times, m[0]) - t0) * 1000) for m in kept],
                                hex=data[start:end].hex())
                    if part["truncated"]:
                        part["total_messages_in_window"] = len(chosen)
                # bytes captured in the window that do not complete a message
                last_end = msgs[-1][1] if msgs else 0
                if len(data) > last_end and t0 <= time_at(times, last_end) < t1:
                    part["incomplete_tail"] = len(data) - last_end
                entry[d] = part
            if any_bytes:
                out.append(entry)
            elif entry["from_start"]:
                empty.append({k: entry[k] for k in ("stream", "kind", "listener_sid",
                                                    "listener_port", "closed")})
        return out, empty


# --------------------------------------------------------------------------------------
# The scenarios
# --------------------------------------------------------------------------------------

class Run:
    def __init__(self, workdir):
        self.workdir = workdir
        self.servers = {}
        for sid in (1, 2, 3, 4):
            self.servers[sid] = Server(sid, workdir, (free_port(), free_port(), free_port()),
                                       observer=(sid == 4))
        self.members = list(self.servers.values())
        ports = []
        for s in self.members:
            ports += [s.qp, s.ep]
        self.capture = Capture(workdir, ports)
        self.windows = []   # (name, description, t0, t1, notes, disk)
        self._t0 = None
        self._notes = None

    # -- helpers
    def begin(self, name, description):
        self._name, self._description = name, description
        self._t0 = time.time()
        self._notes = []
        self._log_marks = {s.sid: s.log_size() for s in self.members}

    def note(self, text):
        self._notes.append("+%dms %s" % (round((time.time() - self._t0) * 1000), text))
        print("[%s] %s" % (self._name, text), flush=True)

    def end(self):
        time.sleep(1.0)  # trailing acks, pings, UPTODATE
        disk = {str(s.sid): s.disk() for s in self.members}
        self.windows.append((self._name, self._description, self._t0, time.time(),
                             self._notes, disk))

    def wait_mode(self, sid, modes=("leader", "follower", "observer"), timeout=60):
        s = self.servers[sid]
        m = wait_until(lambda: s.mode() in modes and s.mode(), timeout,
                       "server %d to serve" % sid)
        return m

    def roles(self):
        return {sid: self.servers[sid].mode() for sid in (1, 2, 3)}

    def leader(self):
        for sid, m in self.roles().items():
            if m == "leader":
                return sid
        return None

    def client(self, sid):
        from kazoo.client import KazooClient
        c = KazooClient(hosts="127.0.0.1:%d" % self.servers[sid].cp, timeout=10.0)
        c.start(timeout=20)
        return c

    def log_notes(self, *sids):
        """The server log lines about election results and sync since the window opened."""
        for sid in sids:
            for line in self.servers[sid].log_lines(*LOG_NEEDLES, since=self._log_marks[sid]):
                self.note("server %d log: %s" % (sid, line.split(" - ", 1)[-1][:240]))

    # -- scenarios
    def election_sync(self):
        self.begin("election_sync", "Three servers with empty dataDirs start together: the first "
                   "Fast Leader Election (election ports) and the first sync of both followers "
                   "(quorum ports).")
        for sid in (1, 2, 3):
            self.servers[sid].start(self.members)
        self.note("started servers 1, 2, 3")
        for sid in (1, 2, 3):
            self.wait_mode(sid)
        r = self.roles()
        self.note("roles: %s" % r)
        self.log_notes(1, 2, 3)
        self.end()

    def writes(self):
        self.begin("writes", "Writes through a follower (REQUEST forwarding, PROPOSAL, ACK, "
                   "COMMIT), "
                   "an ephemeral node, sync, a session re-attached on the other follower "
                   "(REVALIDATE), writes on the leader, and session closes.")
        from rawclient import RawConnection
        leader = self.leader()
        followers = [s for s in (1, 2, 3) if s != leader]
        f1, f2 = followers
        c = self.client(f1)
        sid, passwd = c.client_id
        self.note("kazoo session %#x connected to follower %d (leader %d)" % (sid, f1, leader))
        c.create("/a", b"alpha")
        c.create("/a/child", b"")
        c.create("/eph", b"ephemeral", ephemeral=True)
        c.set("/a", b"alpha2")
        c.sync("/a")
        t = c.transaction()
        t.create("/m1", b"x")
        t.set_data("/a", b"alpha3")
        t.commit()
        c.delete("/a/child")
        self.note("kazoo: create /a, /a/child, ephemeral /eph, setData /a, sync /a, "
                  "multi(create /m1, setData /a), delete /a/child")
        raw = RawConnection(self.servers[f2].cp)
        resp = raw.handshake(timeout_ms=10000, session_id=sid, passwd=passwd)
        self.note("raw client re-attached session %#x on follower %d: timeout %d"
                  % (sid, f2, resp.timeout))
        raw.sock.close()
        time.sleep(0.5)
        c2 = self.client(leader)
        self.note("kazoo session %#x connected to the leader %d" % (c2.client_id[0], leader))
        c2.create("/b", b"beta")
        c2.create("/b-eph", b"", ephemeral=True)
        self.note("kazoo on leader: create /b, ephemeral /b-eph")
        time.sleep(3 * TICK_MS / 1000.0)
        c2.stop()
        c2.close()
        self.note("closed the leader's session (closeSession deletes /b-eph)")
        c.stop()
        c.close()
        self.note("closed the follower's session (closeSession deletes /eph)")
        self.note("leader zxid now %#x" % self.servers[leader].zxid())
        self.log_notes(1, 2, 3)
        self.end()

    def diff(self):
        self.begin("diff", "A follower stops; the others commit writes; it restarts and is "
                   "synchronized with a DIFF.")
        leader = self.leader()
        f = min(s for s in (1, 2, 3) if s != leader)
        other = [s for s in (1, 2, 3) if s not in (leader, f)][0]
        z = self.servers[f].zxid()
        self.servers[f].stop()
        self.note("stopped follower %d (its zxid was %#x)" % (f, z))
        c = self.client(other)
        for i in range(3):
            c.create("/diff-%d" % i, b"d%d" % i)
        c.stop()
        c.close()
        self.note("created /diff-0, /diff-1, /diff-2 through follower %d; leader zxid %#x"
                  % (other, self.servers[leader].zxid()))
        self.servers[f].start(self.members)
        self.note("restarted follower %d" % f)
        self.wait_mode(f)
        self.note("follower %d serving, zxid %#x" % (f, self.servers[f].zxid()))
        self.log_notes(f, leader)
        self.end()
        return f

    def snap(self):
        self.begin("snap", "A follower's dataDir is wiped (myid kept) and it restarts: the leader "
                   "sends a SNAP (the snapshot body follows the SNAP packet on the stream).")
        leader = self.leader()
        f = max(s for s in (1, 2, 3) if s != leader)
        srv = self.servers[f]
        srv.stop()
        shutil.rmtree(os.path.join(srv.data_dir, "version-2"), ignore_errors=True)
        self.note("stopped follower %d and removed its dataDir/version-2" % f)
        srv.start(self.members)
        self.note("restarted follower %d" % f)
        self.wait_mode(f)
        self.note("follower %d serving, zxid %#x" % (f, srv.zxid()))
        self.log_notes(f, leader)
        self.end()

    def trunc(self):
        self.begin("trunc", "A follower is stopped, started standalone on its own dataDir and "
                   "written to (txns in the ensemble's epoch that the ensemble never saw), "
                   "stopped, and restarted in the ensemble: the leader sends TRUNC.")
        leader = self.leader()
        f = min(s for s in (1, 2, 3) if s != leader)
        srv = self.servers[f]
        srv.stop()
        self.note("stopped follower %d; leader zxid %#x" % (f, self.servers[leader].zxid()))
        srv.start(self.members, standalone=True)
        wait_until(lambda: srv.mode() == "standalone", 60, "standalone mode")
        c = self.client(f)
        c.create("/trunc-a", b"never committed")
        c.create("/trunc-b", b"never committed")
        c.stop()
        c.close()
        self.note("standalone %d: created /trunc-a, /trunc-b; its zxid %#x"
                  % (f, srv.zxid() or 0))
        srv.stop()
        time.sleep(0.5)
        srv.start(self.members)
        self.note("restarted %d in the ensemble" % f)
        self.wait_mode(f)
        self.note("follower %d serving, zxid %#x" % (f, srv.zxid()))
        c = self.client(f)
        self.note("after sync, follower %d has /trunc-a: %s"
                  % (f, c.exists("/trunc-a") is not None))
        c.stop()
        c.close()
        self.log_notes(f, leader)
        self.end()

    def observer(self):
        self.begin("observer", "An observer (server 4, peerType=observer) joins: OBSERVERINFO, "
                   "sync, then writes reach it as INFORM packets.")
        leader = self.leader()
        obs = self.servers[4]
        obs.start(self.members)
        self.note("started observer 4")
        self.wait_mode(4, ("observer",))
        self.note("observer serving, zxid %#x" % obs.zxid())
        self.log_notes(4, leader)
        c = self.client(leader)
        c.create("/obs-1", b"o1")
        c.set("/obs-1", b"o2")
        c.stop()
        c.close()
        self.note("via leader %d: create /obs-1, setData /obs-1, session closed" % leader)
        c = self.client(4)
        c.create("/obs-2", b"via observer")
        c.stop()
        c.close()
        self.note("via observer 4: create /obs-2, session closed")
        self.end()

    def reelection(self):
        self.begin("reelection", "The leader stops: the others elect a new leader in a new epoch "
                   "and sync to it; the old leader restarts and follows.")
        leader = self.leader()
        self.servers[leader].stop()
        self.note("stopped leader %d" % leader)
        rest = [s for s in (1, 2, 3) if s != leader]
        new = wait_until(lambda: next((s for s in rest if self.servers[s].mode() == "leader"),
                                      None), 60, "new leader")
        for s in rest:
            self.wait_mode(s)
        self.note("new leader %d; roles %s" % (new, self.roles()))
        self.wait_mode(4, ("observer",))
        self.servers[leader].start(self.members)
        self.note("restarted old leader %d" % leader)
        self.wait_mode(leader)
        self.note("roles %s" % self.roles())
        self.log_notes(1, 2, 3, 4)
        self.end()

    def run(self):
        self.capture.start()
        try:
            self.election_sync()
            self.writes()
            self.diff()
            self.snap()
            self.trunc()
            self.observer()
            self.reelection()
        finally:
            for s in self.members:
                s.stop()
            self.capture.stop()

    def write_files(self, out_dir):
        streams = Streams(self.capture.segments(), self.members)
        os.makedirs(out_dir, exist_ok=True)
        servers = {str(s.sid): {"role": "observer" if s.observer else "participant",
                                "quorum_port": s.qp, "election_port": s.ep, "client_port": s.cp}
                   for s in self.members}
        for name, description, t0, t1, notes, disk in self.windows:
            doc = {"scenario": name, "zookeeper": "3.8.0", "description": description,
                   "servers": servers,
                   "config": {"tickTime": TICK_MS, "initLimit": INIT_LIMIT,
                              "syncLimit": SYNC_LIMIT},
                   "notes": notes, "disk": disk}
            doc["streams"], doc["connections_without_bytes"] = streams.window(t0, t1)
            path = os.path.join(out_dir, name + ".json")
            with open(path, "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
            print("wrote %s (%d bytes, %d streams)" % (path, os.path.getsize(path),
                                                       len(doc["streams"])))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep pcap, logs, dataDirs")
    ap.add_argument("--out", default=OUT_DIR)
    args = ap.parse_args(argv)
    if args.keep:
        if os.path.exists(args.keep):
            shutil.rmtree(args.keep)
        os.makedirs(args.keep)
        workdir = args.keep
    else:
        workdir = tempfile.mkdtemp(prefix="zk-quorum-capture-")
    try:
        run = Run(workdir)
        run.run()
        run.write_files(args.out)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
