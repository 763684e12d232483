"""``zkwire bench``: a load generator that speaks the protocol directly.

    zkwire bench [--hosts 127.0.0.1:2181] [--workload WORKLOAD] [--seconds 10] [--warmup 2]
                 [--procs 2] [--conns 4] [--depth 64] [--data-bytes 100] [--keys 1000]
                 [--read-ratio 0.9] [--delete-pool 200000]
    zkwire bench --compare [--workloads get,set,create,...] [--rounds 5]
                 [--zkwire-python python3,pypy3] [--ensemble 3]
    zkwire bench --scale 1000000 [--data-bytes 100] [--zkwire-python python3,pypy3]

Workloads: ``get``, ``set``, ``create`` (persistent sequential), ``delete`` (of
a pool made beforehand, measured from the first delete until the pool is
gone: no warm-up), ``mixed`` (gets and sets, ``--read-ratio`` of gets),
``watch`` (every get leaves a watch; one connection keeps setting the watched
nodes, notifications are counted), ``multi`` (check + setData) and ``serial``
(one get at a time on one connection: latency).

Requests are pre-encoded and pipelined: each connection keeps ``--depth``
requests in flight, replies come back in order, so each reply's latency is
measured against the time its request was sent.  ``--procs`` worker processes
share the connections (a Python client is otherwise the bottleneck).  Replies
with an error code are counted apart and reported.  Works against any
ZooKeeper server, Apache ZooKeeper included.  Prints ops/s and latency
p50/p99/p999 measured after the warm-up.

``--compare`` starts Apache ZooKeeper (Debian's ``zookeeper`` package) and one
zkwire server per interpreter in ``--zkwire-python``, all on loopback with
fresh dataDirs and fsync on, runs each workload against them in turn for
``--rounds`` rounds (the order rotating) and prints the medians, the ratio to
ZooKeeper, p50/p99 and each server's peak RSS.  ``--ensemble 3`` compares
3-member ensembles instead (each kind in its own ensemble, the connections
spread over the members: reads are served where they land, writes go through
the leader); the RSS is the largest member's.

``--scale N`` writes one snapshot of N znodes (1000 parents of N/1000
children, ``--data-bytes`` each) and a log of ``--scale-txns`` setData txns
after it, starts each server on its own copy (it loads the snapshot and
replays the log) and reports the time until it serves, its RSS, and RSS per
znode over the same server started empty.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import selectors
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from zkwire.consts import OpCode

_I = struct.Struct(">i")
_HDR = struct.Struct(">ii")
_REPLY = struct.Struct(">iiqi")   # frame length, xid, zxid, err
OPEN_ACL = _I.pack(1) + _I.pack(31) + _I.pack(5) + b"world" + _I.pack(6) + b"anyone"
BASE = "/zkwire-bench"
WORKLOADS = ("get", "set", "create", "delete", "mixed", "watch", "multi", "serial")


def _s(text: str) -> bytes:
    raw = text.encode()
    return _I.pack(len(raw)) + raw


def _b(data: bytes) -> bytes:
    return _I.pack(len(data)) + data


def _frame(op: int, body: bytes, xid: int = 1) -> bytes:
    payload = _HDR.pack(xid, op) + body
    return _I.pack(len(payload)) + payload


def get_req(path, watch=False):
    return _frame(OpCode.getData, _s(path) + (b"\1" if watch else b"\0"))


def set_req(path, data):
    return _frame(OpCode.setData, _s(path) + _b(data) + _I.pack(-1))


def create_req(path, data, flags=0):
    return _frame(OpCode.create, _s(path) + _b(data) + OPEN_ACL + _I.pack(flags))


def delete_req(path):
    return _frame(OpCode.delete, _s(path) + _I.pack(-1))


def multi_req(ops):
    body = b""
    for op, sub in ops:
        body += _I.pack(op) + b"\0" + _I.pack(-1) + sub
    body += _I.pack(-1) + b"\1" + _I.pack(-1)
    return _frame(OpCode.multi, body)


class Conn:
    """A blocking handshake, then non-blocking pipelined traffic."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connect = struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16 + b"\0"
        self.sock.sendall(_I.pack(len(connect)) + connect)
        self.buf = bytearray()
        self.read_frame()
        self.sent_at = []
        self.out = bytearray()
        self.gen = None
        self.exhausted = False

    def read_frame(self):
        while True:
            if len(self.buf) >= 4:
                n = _I.unpack_from(self.buf)[0]
                if len(self.buf) >= 4 + n:
                    f = bytes(self.buf[4:4 + n])
                    del self.buf[:4 + n]
                    return f
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError("server closed the connection")
            self.buf += data

    def call(self, req):
        """One request, its reply frame (notifications skipped)."""
        self.sock.sendall(req)
        while True:
            f = self.read_frame()
            if _I.unpack_from(f)[0] != -1:
                return f

    def pipeline(self, reqs, chunk=500) -> int:
        """Send ``reqs`` in pipelined chunks; -> how many replies had an error."""
        errors = 0
        for i in range(0, len(reqs), chunk):
            part = reqs[i:i + chunk]
            self.sock.sendall(b"".join(part))
            got = 0
            while got < len(part):
                f = self.read_frame()
                if _I.unpack_from(f)[0] == -1:
                    continue
                got += 1
                errors += _I.unpack_from(f, 12)[0] != 0
        return errors

    def close(self):
        try:
            self.sock.sendall(_frame(OpCode.closeSession, b""))
            self.sock.close()
        except OSError:
            pass


def _parse_hosts(hosts):
    out = []
    for h in hosts.split(","):
        host, _, port = h.strip().rpartition(":")
        out.append((host or "127.0.0.1", int(port or 2181)))
    return out


def _key(i):
    return "%s/k%07d" % (BASE, i)


def _delete_key(i):
    return "%s/d%07d" % (BASE, i)


def _shape(args):
    """The workload's (procs, conns, depth): ``serial`` is one get at a time."""
    if args.workload == "serial":
        return 1, 1, 1
    return args.procs, args.conns, args.depth


def prepare(args):
    """Create the nodes the workload reads, writes or deletes."""
    host, port = _parse_hosts(args.hosts)[0]
    c = Conn(host, port)
    c.call(create_req(BASE, b""))
    payload = b"x" * args.data_bytes
    errors = c.pipeline([create_req(_key(i), payload) for i in range(args.keys)])
    if args.workload == "delete":
        errors += c.pipeline([create_req(_delete_key(i), payload) for i in range(args.delete_pool)])
    c.close()
    if errors:
        raise RuntimeError("%d creates failed while preparing (leftovers from an earlier run? "
                           "delete %s)" % (errors, BASE))


def _requests(args, worker, n_workers, rng):
    """The requests of one connection, in order (endless, except for delete)."""
    payload = b"y" * args.data_bytes
    keys = [_key(i) for i in range(args.keys)]
    gets = [get_req(k) for k in keys]
    sets = [set_req(k, payload) for k in keys]
    w = args.workload
    if w in ("get", "serial"):
        while True:
            yield gets[rng.randrange(len(gets))]
    elif w == "set":
        while True:
            yield sets[rng.randrange(len(sets))]
    elif w == "mixed":
        while True:
            i = rng.randrange(len(keys))
            yield gets[i] if rng.random() < args.read_ratio else sets[i]
    elif w == "create":
        req = create_req("%s/c%d-" % (BASE, worker), payload, flags=2)  # persistent sequential
        while True:
            yield req
    elif w == "delete":
        for i in range(worker, args.delete_pool, n_workers):
            yield delete_req(_delete_key(i))
    elif w == "multi":
        while True:
            k = keys[rng.randrange(len(keys))]
            yield multi_req([(OpCode.check, _s(k) + _I.pack(-1)),
                             (OpCode.setData, _s(k) + _b(payload) + _I.pack(-1))])
    elif w == "watch":
        # Every get leaves a watch; the writer connection (worker 0) keeps setting.
        watched = [get_req(k, watch=True) for k in keys]
        if worker == 0:
            while True:
                yield sets[rng.randrange(len(sets))]
        while True:
            yield watched[rng.randrange(len(watched))]
    else:
        raise ValueError("unknown workload %r" % w)


def _worker(args, proc_index, start_at, result_q):
    procs, n_conns, depth = _shape(args)
    rng = random.Random(proc_index)
    hosts = _parse_hosts(args.hosts)
    conns = []
    for i in range(n_conns):
        host, port = hosts[(proc_index * n_conns + i) % len(hosts)]
        c = Conn(host, port)
        c.gen = _requests(args, proc_index * n_conns + i, procs * n_conns, rng)
        conns.append(c)
    sel = selectors.DefaultSelector()
    for c in conns:
        c.sock.setblocking(False)
        sel.register(c.sock, selectors.EVENT_READ, c)
    while time.time() < start_at:
        time.sleep(0.001)
    now = time.perf_counter
    # A delete run has a fixed amount of work: a fast server could finish the
    # pool inside any warm-up, so delete measures from the first request.
    measure_from = now() + (0.0 if args.workload == "delete" else args.warmup)
    stop_at = measure_from + args.seconds
    latencies = []
    done = events = errors = 0
    last_reply = measure_from

    def refill(c):
        need = depth - len(c.sent_at)
        if need <= 0 or c.exhausted:
            return
        t = now()
        chunk = []
        for _ in range(need):
            try:
                chunk.append(next(c.gen))
            except StopIteration:
                c.exhausted = True
                break
        c.sent_at.extend([t] * len(chunk))
        c.out += b"".join(chunk)
        try:
            sent = c.sock.send(c.out)
            del c.out[:sent]
        except BlockingIOError:
            pass

    for c in conns:
        refill(c)
    while True:
        t = now()
        if t >= stop_at or all(c.exhausted and not c.sent_at for c in conns):
            break
        for key, _ in sel.select(0.05):
            c = key.data
            try:
                data = c.sock.recv(1 << 18)
            except BlockingIOError:
                continue
            if not data:
                raise EOFError("server closed a benchmark connection")
            buf = c.buf
            buf += data
            pos = 0
            t = now()
            measuring = t >= measure_from
            while len(buf) - pos >= 20:
                n, xid, _, err = _REPLY.unpack_from(buf, pos)
                if len(buf) - pos - 4 < n:
                    break
                pos += 4 + n
                if xid == -1:
                    events += measuring
                    continue
                sent = c.sent_at.pop(0)
                if measuring:
                    if err:
                        errors += 1
                    else:
                        done += 1
                        latencies.append(t - sent)
                    last_reply = t
            del buf[:pos]
            if c.out:
                try:
                    sent = c.sock.send(c.out)
                    del c.out[:sent]
                except BlockingIOError:
                    pass
            refill(c)
    for c in conns:
        c.sock.setblocking(True)
        c.close()
    elapsed = max(min(stop_at, last_reply) - measure_from, 1e-9)
    result_q.put((done, events, errors, elapsed, latencies))


def _pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, int(p * len(sorted_vals)))
    return sorted_vals[i]


def run(args) -> dict:
    """One workload against ``args.hosts``: prepare, load, measure."""
    prepare(args)
    procs, _, _ = _shape(args)
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    q = ctx.Queue()
    start_at = time.time() + 0.5
    workers = [ctx.Process(target=_worker, args=(args, i, start_at, q)) for i in range(procs)]
    for p in workers:
        p.start()
    done = events = errors = 0
    elapsed = 0.0
    lat = []
    for _ in workers:
        d, e, err, secs, l = q.get()
        done += d
        events += e
        errors += err
        elapsed = max(elapsed, secs)
        lat.extend(l)
    for p in workers:
        p.join()
    lat.sort()
    return {
        "workload": args.workload,
        "ops_per_s": done / elapsed,
        "events_per_s": events / elapsed,
        "errors": errors,
        "p50_ms": _pct(lat, 0.50) * 1000,
        "p99_ms": _pct(lat, 0.99) * 1000,
        "p999_ms": _pct(lat, 0.999) * 1000,
    }


def _children(c, path):
    f = c.call(_frame(OpCode.getChildren, _s(path) + b"\0"))
    if _I.unpack_from(f, 12)[0] != 0:
        return []
    body = f[16:]
    (n,) = _I.unpack_from(body)
    pos = 4
    names = []
    for _ in range(max(n, 0)):
        (ln,) = _I.unpack_from(body, pos)
        names.append(body[pos + 4:pos + 4 + ln].decode())
        pos += 4 + ln
    return names


def cleanup(args):
    """Delete the benchmark's nodes (pipelined)."""
    host, port = _parse_hosts(args.hosts)[0]
    c = Conn(host, port)
    c.pipeline([delete_req(BASE + "/" + name) for name in _children(c, BASE)])
    c.call(delete_req(BASE))
    c.close()


def format_result(r: dict) -> str:
    extra = "  events %8.0f/s" % r["events_per_s"] if r["events_per_s"] else ""
    if r["errors"]:
        extra += "  ERRORS %d" % r["errors"]
    return "%-7s %9.0f ops/s   p50 %7.3f ms   p99 %7.3f ms   p999 %7.3f ms%s" % (
        r["workload"], r["ops_per_s"], r["p50_ms"], r["p99_ms"], r["p999_ms"], extra)


# --- servers side by side -----------------------------------------------------------------

ZK_CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/netty-codec.jar"
ZK_HEAP = "-Xmx2g"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _interpreter_name(python):
    out = subprocess.run([python, "-c", "import platform, sys; print(platform.python_implementation(),"
                          " '%d.%d' % sys.version_info[:2])"], capture_output=True, text=True)
    return out.stdout.strip() or python


class Server:
    """Apache ZooKeeper or zkwire in a process of its own, on a fresh dataDir
    (or a copy of ``data_from``), fsync on."""

    def __init__(self, kind, python=None, data_from=None, timeout_s=600):
        self.kind = kind
        self.python = python or sys.executable
        self.label = "ZooKeeper" if kind == "zookeeper" else "zkwire " + _interpreter_name(self.python)
        self.dir = tempfile.mkdtemp(prefix="zkwire-bench-%s-" % kind)
        data = os.path.join(self.dir, "data")
        if data_from is not None:
            shutil.copytree(data_from, data)
        self.port = _free_port()
        cfg = os.path.join(self.dir, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write("tickTime=2000\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
                    "maxClientCnxns=0\n4lw.commands.whitelist=*\nadmin.enableServer=false\n"
                    % (data, self.port))
        if kind == "zookeeper":
            cmd = ["java", ZK_HEAP, "-cp", ZK_CLASSPATH,
                   "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
        else:
            cmd = [self.python, "-m", "zkwire", "serve", cfg, "--log-level", "WARNING"]
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited at start; see %s" % (self.label, self.log.name))
            if "Mode:" in self.four_letter("srvr"):
                self.start_s = time.perf_counter() - started
                return
            time.sleep(0.05)
        raise RuntimeError("%s did not start" % self.label)

    def four_letter(self, word):
        return _four_letter(self.port, word)

    def memory_mb(self, key="VmHWM") -> float:
        """``VmHWM``: peak RSS; ``VmRSS``: RSS now."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Ensemble:
    """``members`` servers of one kind in an ensemble on loopback (tickTime
    2000, initLimit 10, syncLimit 5, fsync on), each with a fresh dataDir;
    ``hosts`` lists every member, so the load spreads over them."""

    def __init__(self, kind, members=3, python=None, timeout_s=120):
        self.kind = kind
        self.python = python or sys.executable
        name = "ZooKeeper" if kind == "zookeeper" else "zkwire " + _interpreter_name(self.python)
        self.label = "%s x%d" % (name, members)
        self.dir = tempfile.mkdtemp(prefix="zkwire-bench-ens-%s-" % kind)
        ports = [(_free_port(), _free_port(), _free_port()) for _ in range(members)]
        self.ports = [cp for cp, _, _ in ports]
        lines = ["server.%d=127.0.0.1:%d:%d" % (i + 1, qp, ep) for i, (_, qp, ep) in enumerate(ports)]
        self.procs, self.logs = [], []
        for i, (cp, _, _) in enumerate(ports):
            data = os.path.join(self.dir, "s%d" % (i + 1))
            os.makedirs(data)
            with open(os.path.join(data, "myid"), "w") as f:
                f.write("%d\n" % (i + 1))
            cfg = os.path.join(data, "zoo.cfg")
            with open(cfg, "w") as f:
                f.write("tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\n"
                        "clientPortAddress=127.0.0.1\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n"
                        "admin.enableServer=false\n%s\n" % (data, cp, "\n".join(lines)))
            if kind == "zookeeper":
                cmd = ["java", ZK_HEAP, "-cp", ZK_CLASSPATH,
                       "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
            else:
                cmd = [self.python, "-m", "zkwire", "serve", cfg, "--log-level", "WARNING"]
            log = open(os.path.join(data, "server.log"), "wb")
            self.logs.append(log)
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                               cwd=data))
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            modes = [_mode(_four_letter(p, "srvr")) for p in self.ports]
            if all(m in ("leader", "follower") for m in modes):
                return
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("%s did not form an ensemble" % self.label)

    @property
    def hosts(self) -> str:
        return ",".join("127.0.0.1:%d" % p for p in self.ports)

    def memory_mb(self, key="VmHWM") -> float:
        """The largest member's peak RSS."""
        best = float("nan")
        for p in self.procs:
            try:
                with open("/proc/%d/status" % p.pid) as f:
                    for line in f:
                        if line.startswith(key + ":"):
                            v = int(line.split()[1]) / 1024.0
                            best = v if best != best else max(best, v)
            except OSError:
                pass
        return best

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _four_letter(port, word) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    return b"".join(chunks).decode(errors="replace")
                chunks.append(b)
    except OSError:
        return ""


def _mode(srvr: str):
    for line in srvr.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


def _pythons(args):
    """The interpreters to run zkwire with, as absolute paths (the servers run
    in directories of their own)."""
    names = [p.strip() for p in (args.zkwire_python or sys.executable).split(",") if p.strip()]
    return [os.path.abspath(n) if os.sep in n else (shutil.which(n) or n) for n in names]


def compare(args, workloads) -> str:
    import copy

    members = getattr(args, "ensemble", 0)
    if members:
        def make(kind, python=None):
            return Ensemble(kind, members, python)
    else:
        make = Server
    servers = [make("zookeeper")] if not args.no_zookeeper else []
    try:
        servers += [make("zkwire", python) for python in _pythons(args)]
    except BaseException:
        for s in servers:
            s.stop()
        raise
    results = {(s.label, w): [] for s in servers for w in workloads}
    try:
        for rnd in range(args.rounds):
            for w in workloads:
                # Rotate the order, so no server always runs first (or last).
                k = rnd % len(servers)
                for s in servers[k:] + servers[:k]:
                    a = copy.copy(args)
                    a.workload = w
                    a.hosts = s.hosts if members else "127.0.0.1:%d" % s.port
                    try:
                        results[(s.label, w)].append(run(a))
                    finally:
                        cleanup(a)
        rss = {s.label: s.memory_mb("VmHWM") for s in servers}
    finally:
        for s in servers:
            s.stop()
    return format_compare(results, [s.label for s in servers], workloads, rss, args.rounds)


def format_compare(results, labels, workloads, rss, rounds) -> str:
    """The table: a row per workload and server, medians of the rounds."""
    lines = ["%-8s %-18s %11s %7s %9s %9s %9s %8s" % (
        "workload", "server", "ops/s", "ratio", "p50 ms", "p99 ms", "events/s", "errors")]
    ref = labels[0]
    for w in workloads:
        base = None
        for label in labels:
            rs = results[(label, w)]
            ops = statistics.median(r["ops_per_s"] for r in rs)
            if label == ref:
                base = ops
            ev = statistics.median(r["events_per_s"] for r in rs)
            lines.append("%-8s %-18s %11.0f %7s %9.3f %9.3f %9s %8d" % (
                w, label, ops, "%.2f" % (ops / base) if base else "-",
                statistics.median(r["p50_ms"] for r in rs),
                statistics.median(r["p99_ms"] for r in rs),
                "%.0f" % ev if ev else "-", sum(r["errors"] for r in rs)))
    lines.append("peak RSS: " + ", ".join("%s %.0f MB" % (k, v) for k, v in rss.items()))
    lines.append("medians of %d rounds; ratio: ops/s over %s's" % (rounds, ref))
    return "\n".join(lines)


# --- scale: a big tree at start-up --------------------------------------------------------

def write_scale_snapshot(data_dir, n, data_bytes, fanout=1000) -> int:
    """A dataDir holding one snapshot of ``n`` znodes under /scale: ``fanout``
    parents (/scale/p0000...) sharing the rest as children of ``data_bytes``
    bytes each.  Built directly, not through a server: the point is to measure
    loading it.  Returns the number of znodes (/scale included)."""
    from zkwire.server.core.acl import OPEN_ACL_UNSAFE
    from zkwire.server.storage.snapshot import save_snapshot
    from zkwire.server.core.tree import DataTree

    tree = DataTree(OPEN_ACL_UNSAFE)
    payload = b"v" * data_bytes
    t0_ms = 1_700_000_000_000
    zxid = 1
    tree.create_node("/scale", b"", OPEN_ACL_UNSAFE, 0, -1, zxid, t0_ms, [])
    parents = max(1, min(fanout, n // 2))
    leaves = max(0, n - parents)
    for p in range(parents):
        zxid += 1
        parent = "/scale/p%04d" % p
        tree.create_node(parent, b"", OPEN_ACL_UNSAFE, 0, -1, zxid, t0_ms + zxid, [])
        for i in range(leaves // parents + (p < leaves % parents)):
            zxid += 1
            tree.create_node("%s/n%07d" % (parent, i), payload, OPEN_ACL_UNSAFE, 0, -1, zxid,
                             t0_ms + zxid, [])
    tree.last_zxid = zxid
    save_snapshot(data_dir, tree, {}, zxid, fsync=False)
    return parents + leaves + 1


def write_scale_log(data_dir, txns, data_bytes, fanout=1000, seed=1):
    """``txns`` setData txns on random leaves of the scale tree, logged after
    its snapshot: what a start must replay."""
    from types import SimpleNamespace as Rec

    from zkwire.server.storage.snapshot import list_snapshots
    from zkwire.server.storage.txnlog import FileTxnLog

    zxid = list_snapshots(data_dir)[0][0]
    rng = random.Random(seed)
    payload = b"w" * data_bytes
    versions = {}
    log = FileTxnLog(data_dir, force_sync=False)
    for _ in range(txns):
        zxid += 1
        path = "/scale/p%04d/n%07d" % (rng.randrange(fanout), rng.randrange(2))
        versions[path] = v = versions.get(path, 0) + 1
        log.append(Rec(clientId=0, cxid=0, zxid=zxid, time=1_700_000_000_000 + zxid, type=OpCode.setData),
                   Rec(path=path, data=payload, version=v))
    log.close()


def scale(args) -> str:
    work = tempfile.mkdtemp(prefix="zkwire-bench-scale-")
    try:
        data = os.path.join(work, "data")
        t0 = time.perf_counter()
        made = write_scale_snapshot(data, args.scale, args.data_bytes)
        made += 4  # the root, /zookeeper, /zookeeper/quota, /zookeeper/config
        if args.scale_txns:
            write_scale_log(data, args.scale_txns, args.data_bytes)
        built_s = time.perf_counter() - t0
        kinds = ([] if args.no_zookeeper else [("zookeeper", None)]) + \
            [("zkwire", p) for p in _pythons(args)]
        rows = []
        for kind, python in kinds:
            empty = Server(kind, python)
            time.sleep(args.settle_seconds / 2)
            empty_rss = empty.memory_mb("VmRSS")
            empty.stop()
            s = Server(kind, python, data_from=data)
            try:
                count = _node_count(s.four_letter("srvr"))
                time.sleep(args.settle_seconds)  # ZooKeeper's start-up snapshot, JIT, GC
                rss = s.memory_mb("VmRSS")
                rows.append((s.label, s.start_s, rss, s.memory_mb("VmHWM"), empty_rss, count))
            finally:
                s.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = ["%d znodes of %d bytes in a snapshot, %d setData txns after it in the log "
             "(built in %.1f s)" % (made, args.data_bytes, args.scale_txns, built_s),
             "%-18s %9s %9s %10s %11s %12s" % ("server", "start s", "RSS MB", "peak MB",
                                               "empty MB", "B/znode")]
    for label, start_s, rss, peak, empty_rss, count in rows:
        lines.append("%-18s %9.2f %9.0f %10.0f %11.0f %12.0f%s" % (
            label, start_s, rss, peak, empty_rss, (rss - empty_rss) * 1048576.0 / made,
            "" if count >= made else "  (only %d nodes loaded!)" % count))
    # ZooKeeper's and zkwire's "Node count" both count the root twice (as "" and "/").
    lines.append("B/znode: (RSS - RSS of the same server started empty) / znodes")
    return "\n".join(lines)


def _node_count(srvr_text):
    for line in srvr_text.splitlines():
        if line.startswith("Node count:"):
            return int(line.split(":")[1])
    return -1


def parser():
    p = argparse.ArgumentParser(prog="zkwire bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", default="127.0.0.1:2181")
    p.add_argument("--ensemble", type=int, default=0, metavar="N",
                   help="with --compare: N-member ensembles of each kind, the load "
                        "spread over the members")
    p.add_argument("--workload", default="get", choices=WORKLOADS)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--conns", type=int, default=4)
    p.add_argument("--depth", type=int, default=64)
    p.add_argument("--data-bytes", type=int, default=100)
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--read-ratio", type=float, default=0.9)
    p.add_argument("--delete-pool", type=int, default=200000,
                   help="delete: nodes made beforehand (the run ends when they are gone)")
    p.add_argument("--compare", action="store_true",
                   help="run Apache ZooKeeper and zkwire side by side (see above)")
    p.add_argument("--workloads", default="get,set,create,delete,mixed,watch,multi,serial",
                   help="with --compare: comma-separated workloads")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--zkwire-python",
                   help="with --compare/--scale: interpreters for zkwire, comma-separated "
                        "(default: this one)")
    p.add_argument("--no-zookeeper", action="store_true",
                   help="with --compare/--scale: zkwire only (ratios to the first zkwire)")
    p.add_argument("--scale", type=int, metavar="N",
                   help="start each server on a snapshot of N znodes: start time and RSS")
    p.add_argument("--scale-txns", type=int, default=100000,
                   help="with --scale: setData txns in the log after the snapshot (replayed)")
    p.add_argument("--settle-seconds", type=float, default=5.0,
                   help="with --scale: wait this long after the start before reading RSS")
    return p


def main(argv) -> int:
    args = parser().parse_args(argv)
    if args.scale:
        print(scale(args))
        return 0
    if args.compare:
        workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
        unknown = [w for w in workloads if w not in WORKLOADS]
        if unknown:
            print("zkwire bench: unknown workloads %s" % ", ".join(unknown), file=sys.stderr)
            return 2
        print(compare(args, workloads))
        return 0
    try:
        r = run(args)
    finally:
        try:
            cleanup(args)
        except (OSError, EOFError):
            pass
    print(format_result(r))
    return 0
