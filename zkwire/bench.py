"""``zkwire bench``: a load generator that speaks the protocol directly.

    zkwire bench [--hosts 127.0.0.1:2181] [--workload get|set|create|delete|mixed|watch|multi]
                 [--seconds 10] [--warmup 2] [--procs 2] [--conns 4] [--depth 64]
                 [--data-bytes 100] [--keys 1000] [--read-ratio 0.9]

Requests are pre-encoded and pipelined: each connection keeps ``--depth``
requests in flight, replies come back in order, so each reply's latency is
measured against the time its request was sent.  ``--procs`` worker processes
share the connections (a Python client is otherwise the bottleneck).  Works
against any ZooKeeper server, Apache ZooKeeper included.  Prints ops/s and
latency p50/p99/p999 measured after the warm-up.

``--depth 1 --conns 1 --procs 1`` measures serial latency.

``--compare`` starts Apache ZooKeeper (Debian's ``zookeeper`` package) and a
zkwire server, both on loopback with fresh dataDirs and fsync on, runs each
workload against them alternately for ``--rounds`` rounds and prints the
medians, the zkwire/ZooKeeper ratio and each server's peak RSS.
``--zkwire-python`` picks the interpreter for zkwire (e.g. ``pypy3``).
"""
from __future__ import annotations

import argparse
import multiprocessing
import random
import selectors
import socket
import struct
import time

from zkwire.consts import OpCode

_I = struct.Struct(">i")
_HDR = struct.Struct(">ii")
OPEN_ACL = _I.pack(1) + _I.pack(31) + _I.pack(5) + b"world" + _I.pack(6) + b"anyone"


def _s(text: str) -> bytes:
    raw = text.encode()
    return _I.pack(len(raw)) + raw


def _b(data: bytes) -> bytes:
    return _I.pack(len(data)) + data


def _frame(op: int, body: bytes, xid: int = 1) -> bytes:
    payload = _HDR.pack(xid, op) + body
    return _I.pack(len(payload)) + payload


def get_req(path):
    return _frame(OpCode.getData, _s(path) + b"\0")


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
        self.sock.sendall(req)
        while True:
            f = self.read_frame()
            if _I.unpack_from(f)[0] != -1:  # skip notifications
                return f

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


def _prefix(args):
    return "/zkwire-bench"


def prepare(args):
    """Create the nodes the workload reads or deletes."""
    host, port = _parse_hosts(args.hosts)[0]
    c = Conn(host, port)
    base = _prefix(args)
    c.call(create_req(base, b""))
    payload = b"x" * args.data_bytes
    n = args.keys
    if args.workload == "delete":
        n = args.keys * 50
    for start in range(0, n, 500):
        chunk = range(start, min(n, start + 500))
        c.sock.sendall(b"".join(create_req("%s/k%07d" % (base, i), payload) for i in chunk))
        for _ in chunk:
            c.read_frame()
    c.close()


def _requests(args, worker, rng):
    """An endless generator of (request bytes) for this worker's workload."""
    base = _prefix(args)
    payload = b"y" * args.data_bytes
    keys = ["%s/k%07d" % (base, i) for i in range(args.keys)]
    gets = [get_req(k) for k in keys]
    sets = [set_req(k, payload) for k in keys]
    w = args.workload
    if w == "get":
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
        req = create_req("%s/c%d-" % (base, worker), payload, flags=2)  # sequential
        while True:
            yield req
    elif w == "delete":
        n = args.keys * 50
        mine = range(worker, n, args.procs * args.conns)
        for i in mine:
            yield delete_req("%s/k%07d" % (base, i))
        while True:  # ran out: keep the load going with reads
            yield gets[0]
    elif w == "multi":
        while True:
            i = rng.randrange(len(keys))
            yield multi_req([(OpCode.check, _s(keys[i]) + _I.pack(-1)),
                             (OpCode.setData, _s(keys[i]) + _b(payload) + _I.pack(-1))])
    elif w == "watch":
        # Every get sets a watch; the writer connection (worker 0) keeps setting.
        watched = [_frame(OpCode.getData, _s(k) + b"\1") for k in keys]
        if worker == 0:
            while True:
                yield sets[rng.randrange(len(sets))]
        while True:
            yield watched[rng.randrange(len(watched))]
    else:
        raise ValueError("unknown workload %r" % w)


def _worker(args, proc_index, start_at, result_q):
    rng = random.Random(proc_index)
    hosts = _parse_hosts(args.hosts)
    conns = []
    for i in range(args.conns):
        host, port = hosts[(proc_index * args.conns + i) % len(hosts)]
        c = Conn(host, port)
        c.gen = _requests(args, proc_index * args.conns + i, rng)
        conns.append(c)
    sel = selectors.DefaultSelector()
    for c in conns:
        c.sock.setblocking(False)
        sel.register(c.sock, selectors.EVENT_READ, c)
    while time.time() < start_at:
        time.sleep(0.001)
    now = time.perf_counter
    measure_from = now() + args.warmup
    stop_at = measure_from + args.seconds
    latencies = []
    done = events = 0

    def refill(c):
        need = args.depth - len(c.sent_at)
        if need <= 0:
            return
        t = now()
        chunk = b"".join(next(c.gen) for _ in range(need))
        c.sent_at.extend([t] * need)
        c.out += chunk
        try:
            sent = c.sock.send(c.out)
            del c.out[:sent]
        except BlockingIOError:
            pass

    for c in conns:
        refill(c)
    while True:
        t = now()
        if t >= stop_at:
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
            while len(buf) - pos >= 8:
                n = _I.unpack_from(buf, pos)[0]
                if len(buf) - pos - 4 < n:
                    break
                xid = _I.unpack_from(buf, pos + 4)[0]
                pos += 4 + n
                if xid == -1:
                    events += 1 if t >= measure_from else 0
                    continue
                sent = c.sent_at.pop(0)
                if t >= measure_from:
                    done += 1
                    latencies.append(t - sent)
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
    result_q.put((done, events, latencies))


def _pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, int(p * len(sorted_vals)))
    return sorted_vals[i]


def run(args) -> dict:
    prepare(args)
    q = multiprocessing.Queue()
    start_at = time.time() + 0.5
    procs = [multiprocessing.Process(target=_worker, args=(args, i, start_at, q))
             for i in range(args.procs)]
    for p in procs:
        p.start()
    done = events = 0
    lat = []
    for _ in procs:
        d, e, l = q.get()
        done += d
        events += e
        lat.extend(l)
    for p in procs:
        p.join()
    lat.sort()
    return {
        "workload": args.workload,
        "ops_per_s": done / args.seconds,
        "events_per_s": events / args.seconds,
        "p50_ms": _pct(lat, 0.50) * 1000,
        "p99_ms": _pct(lat, 0.99) * 1000,
        "p999_ms": _pct(lat, 0.999) * 1000,
    }


def cleanup(args):
    """Delete the benchmark's nodes (best effort, pipelined)."""
    host, port = _parse_hosts(args.hosts)[0]
    c = Conn(host, port)
    base = _prefix(args)
    f = c.call(_frame(OpCode.getChildren, _s(base) + b"\0"))
    if _I.unpack_from(f, 12)[0] == 0:
        body = f[16:]
        (n,) = _I.unpack_from(body)
        pos = 4
        names = []
        for _ in range(max(n, 0)):
            (ln,) = _I.unpack_from(body, pos)
            names.append(body[pos + 4:pos + 4 + ln].decode())
            pos += 4 + ln
        for i in range(0, len(names), 500):
            c.sock.sendall(b"".join(delete_req(base + "/" + nm) for nm in names[i:i + 500]))
            for _ in names[i:i + 500]:
                c.read_frame()
    c.call(delete_req(base))
    c.close()


# --- side by side --------------------------------------------------------------------

_ZK_CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/netty-codec.jar"


class _Server:
    def __init__(self, kind, python):
        import os
        import subprocess
        import sys
        import tempfile

        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix="zkwire-bench-%s-" % kind)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cfg = os.path.join(self.dir, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write("tickTime=2000\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
                    "maxClientCnxns=0\n4lw.commands.whitelist=*\nadmin.enableServer=false\n"
                    % (os.path.join(self.dir, "data"), self.port))
        if kind == "zookeeper":
            cmd = ["java", "-Xmx2g", "-cp", _ZK_CLASSPATH,
                   "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
        else:
            cmd = [python or sys.executable, "-m", "zkwire", "serve", cfg, "--log-level", "WARNING"]
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"srvr")
                    if b"Mode:" in s.recv(4096):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("%s did not start" % kind)

    def peak_rss_mb(self) -> float:
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    def stop(self):
        import shutil

        self.proc.terminate()
        try:
            self.proc.wait(20)
        except Exception:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def compare(args, workloads) -> str:
    import copy
    import statistics

    servers = {k: _Server(k, args.zkwire_python) for k in ("zookeeper", "zkwire")}
    results = {(k, w): [] for k in servers for w in workloads}
    try:
        for rnd in range(args.rounds):
            for w in workloads:
                order = ["zookeeper", "zkwire"] if rnd % 2 == 0 else ["zkwire", "zookeeper"]
                for k in order:
                    a = copy.copy(args)
                    a.workload = w
                    a.hosts = "127.0.0.1:%d" % servers[k].port
                    try:
                        results[(k, w)].append(run(a))
                    finally:
                        cleanup(a)
        rss = {k: s.peak_rss_mb() for k, s in servers.items()}
    finally:
        for s in servers.values():
            s.stop()
    lines = ["%-7s %12s %12s %7s %11s %11s" % ("", "ZooKeeper/s", "zkwire/s", "ratio",
                                               "ZK p99 ms", "zkw p99 ms")]
    for w in workloads:
        zk = statistics.median(r["ops_per_s"] for r in results[("zookeeper", w)])
        zw = statistics.median(r["ops_per_s"] for r in results[("zkwire", w)])
        zk99 = statistics.median(r["p99_ms"] for r in results[("zookeeper", w)])
        zw99 = statistics.median(r["p99_ms"] for r in results[("zkwire", w)])
        lines.append("%-7s %12.0f %12.0f %7.2f %11.3f %11.3f" % (w, zk, zw, zw / zk if zk else 0,
                                                                 zk99, zw99))
    lines.append("peak RSS: ZooKeeper %.0f MB, zkwire %.0f MB (medians of %d rounds)"
                 % (rss["zookeeper"], rss["zkwire"], args.rounds))
    return "\n".join(lines)


def format_result(r: dict) -> str:
    extra = "  events %8.0f/s" % r["events_per_s"] if r["events_per_s"] else ""
    return "%-7s %9.0f ops/s   p50 %7.3f ms   p99 %7.3f ms   p999 %7.3f ms%s" % (
        r["workload"], r["ops_per_s"], r["p50_ms"], r["p99_ms"], r["p999_ms"], extra)


def parser():
    p = argparse.ArgumentParser(prog="zkwire bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", default="127.0.0.1:2181")
    p.add_argument("--workload", default="get",
                   choices=["get", "set", "create", "delete", "mixed", "watch", "multi"])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--conns", type=int, default=4)
    p.add_argument("--depth", type=int, default=64)
    p.add_argument("--data-bytes", type=int, default=100)
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--read-ratio", type=float, default=0.9)
    p.add_argument("--compare", action="store_true",
                   help="run Apache ZooKeeper and zkwire side by side (see above)")
    p.add_argument("--workloads", default="get,set,create",
                   help="with --compare: comma-separated workloads")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--zkwire-python", help="with --compare: interpreter for zkwire (e.g. pypy3)")
    return p


def main(argv) -> int:
    args = parser().parse_args(argv)
    if args.compare:
        print(compare(args, [w.strip() for w in args.workloads.split(",") if w.strip()]))
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
