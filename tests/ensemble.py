"""Ensembles of real processes on loopback: zkwire members, Apache ZooKeeper
(Debian's 3.8.0) members, or any mix, from one layout string.

    with Ensemble("zzj") as e:      # servers 1, 2: zkwire; 3: ZooKeeper
        e.start_all()
        e.wait_serving()
        e.hosts                      # "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3"

A lower-case letter is a participant, an upper-case one an observer ("zjjZ":
three participants and a zkwire observer).  Every member has its own dataDir
that survives stop/kill/start, so restarts exercise DIFF, TRUNC and SNAP.
Every process started is stopped by its PID when the ensemble is closed.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from servers import ZK_CLASSPATH, four_letter, wait_until

TICK_MS = 200
INIT_LIMIT = 25
SYNC_LIMIT = 5


class Ports:
    """Free loopback ports below the ephemeral range, from a random start,
    each handed out once.  Binding port 0 picks from the ephemeral range,
    the one every outgoing connection takes its port from: two calls could
    return the same port (a member's client and election port were once
    the same, and Java refused its zoo.cfg), and a member restarting could
    find its port taken by some dialer."""

    def __init__(self):
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            self.top = int(f.read().split()[0])
        self.bottom = 10000
        self.next = random.Random().randrange(self.bottom, self.top)

    def take(self) -> int:
        for _ in range(self.top - self.bottom):
            port, self.next = self.next, self.next + 1
            if self.next >= self.top:
                self.next = self.bottom
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
        raise RuntimeError("no free port in %d..%d" % (self.bottom, self.top))


class Member:
    def __init__(self, ensemble, sid, kind, observer):
        self.ensemble = ensemble
        self.sid = sid
        self.kind = kind              # "zkwire" or "zookeeper"
        self.observer = observer
        self.dir = os.path.join(ensemble.workdir, "s%d" % sid)
        self.data_dir = os.path.join(self.dir, "data")
        self.client_port = ensemble.ports.take()
        self.quorum_port = ensemble.ports.take()
        self.election_port = ensemble.ports.take()
        #: The member's AdminServer port, with Ensemble(admin=True).
        self.admin_port = ensemble.ports.take() if ensemble.admin else None
        self.proc = None
        self.log_path = os.path.join(self.dir, "server.log")
        os.makedirs(self.data_dir)
        with open(os.path.join(self.data_dir, "myid"), "w") as f:
            f.write("%d\n" % sid)

    def __repr__(self):
        return "<%s %d%s>" % (self.kind, self.sid, " observer" if self.observer else "")

    @property
    def host(self) -> str:
        return "127.0.0.1:%d" % self.client_port

    def server_spec(self, client=False, role=None) -> str:
        """What follows ``server.N=`` for this member (``client``: with its
        client address, as a reconfig's joining server must be given)."""
        role = role or ("observer" if self.observer else None)
        spec = "127.0.0.1:%d:%d%s" % (self.quorum_port, self.election_port,
                                      ":" + role if role else "")
        return spec + (";127.0.0.1:%d" % self.client_port if client else "")

    def write_cfg(self, standalone=False) -> str:
        lines = ["tickTime=%d" % TICK_MS, "initLimit=%d" % INIT_LIMIT,
                 "syncLimit=%d" % SYNC_LIMIT, "dataDir=%s" % self.data_dir,
                 "clientPort=%d" % self.client_port, "clientPortAddress=127.0.0.1",
                 "4lw.commands.whitelist=*", "maxClientCnxns=0"]
        if self.admin_port is None:
            lines.append("admin.enableServer=false")
        else:
            lines += ["admin.enableServer=true", "admin.serverAddress=127.0.0.1",
                      "admin.serverPort=%d" % self.admin_port]
        if self.observer and not standalone:
            lines.append("peerType=observer")
        for m in self.ensemble.members.values():
            if not standalone and (m is self or m.sid not in self.ensemble.unlisted):
                lines.append("server.%d=%s" % (m.sid, m.server_spec()))
        lines.extend("%s=%s" % kv for kv in self.ensemble.extra_cfg.items())
        path = os.path.join(self.dir, "standalone.cfg" if standalone else "zoo.cfg")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def command(self, cfg) -> list:
        props = ["-D%s=%s" % kv for kv in sorted(self.ensemble.sysprops.items())]
        if self.kind == "zookeeper":
            admin = ["-Dzookeeper.admin.enableServer=false"] if self.admin_port is None else []
            return ["java", "-Xmx512m", *admin, *props,
                    "-cp", ZK_CLASSPATH + ":/usr/share/java/slf4j-simple.jar",
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
        python = os.environ.get("ZKWIRE_SERVER_PYTHON", sys.executable)
        return [python, "-m", "zkwire", "serve", cfg, *props]

    def start(self, standalone=False, keep_cfg=False):
        """Start in the ensemble, or (``standalone``) alone on the same
        dataDir and client port, as an operator might by mistake.
        ``keep_cfg``: with the zoo.cfg the server left (a reconfigEnabled
        server rewrites it to point at its dynamic config file)."""
        assert self.proc is None, "%r is running" % self
        cfg = os.path.join(self.dir, "zoo.cfg")
        if not keep_cfg:
            cfg = self.write_cfg(standalone)
        with open(self.log_path, "ab") as log:
            log.write(b"\n===== start =====\n")
            log.flush()
            self.proc = subprocess.Popen(self.command(cfg), stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.dir)

    def stop(self, timeout_s=20.0):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def kill(self):
        """kill -9: whatever was not synced is the OS's business now."""
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()

    def pause(self):
        """SIGSTOP: the process keeps its sockets and answers nothing."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def four(self, word: str) -> str:
        return four_letter(self.client_port, word, 2.0)

    def mode(self):
        for line in self.four("srvr").splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def zxid(self) -> int:
        for line in self.four("srvr").splitlines():
            if line.startswith("Zxid:"):
                return int(line.split(":", 1)[1].strip(), 16)
        return -1

    def log_text(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Ensemble:
    def __init__(self, layout: str, extra_cfg=None, sysprops=None, unlisted=(), admin=False):
        #: Members left out of the others' server lines (a reconfig adds
        #: them); their own zoo.cfg lists everyone.
        self.unlisted = frozenset(unlisted)
        self.workdir = tempfile.mkdtemp(prefix="zkwire-ensemble-")
        self.admin = admin
        self.ports = Ports()
        self.extra_cfg = dict(extra_cfg or {})
        self.sysprops = dict(sysprops or {})
        self.members = {}
        for i, ch in enumerate(layout, 1):
            kind = {"z": "zkwire", "j": "zookeeper"}[ch.lower()]
            self.members[i] = Member(self, i, kind, ch.isupper())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getitem__(self, sid) -> Member:
        return self.members[sid]

    def close(self):
        for m in self.members.values():
            if m.running:
                m.resume()           # a stopped process would not see SIGTERM
            m.stop(5.0)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start_all(self):
        for m in self.members.values():
            m.start()

    @property
    def hosts(self) -> str:
        return ",".join(m.host for m in self.members.values())

    def wait_serving(self, sids=None, timeout_s=60.0):
        """Every member named (default: all running) answers srvr with a mode."""
        sids = sids or [s for s, m in self.members.items() if m.running]

        def ok():
            return all(self.members[s].mode() in ("leader", "follower", "observer") for s in sids)

        if not wait_until(ok, timeout_s):
            raise AssertionError("not serving after %.0f s: %s\n%s" % (
                timeout_s, {s: self.members[s].mode() for s in sids},
                "\n".join("--- %r\n%s" % (self.members[s], self.members[s].log_text()[-3000:])
                          for s in sids)))

    def leader(self) -> Member:
        for m in self.members.values():
            if m.running and m.mode() == "leader":
                return m
        raise AssertionError("no leader")

    def modes(self) -> dict:
        return {s: m.mode() for s, m in self.members.items() if m.running}


def tree_dump(client, path="/"):
    """Every znode under ``path`` with data and the Stat fields every server
    must agree on (everything but the times set by each server's apply is
    compared: ZooKeeper's txns carry the time, so those agree too)."""
    out = {}
    stack = [path]
    while stack:
        p = stack.pop()
        data, st = client.get(p)
        # /zookeeper/config is written by each server outside any txn, with
        # its own clock (ZooKeeper's initConfigInZKDatabase): two Java
        # members of one ensemble show different mtimes there.
        mtime = None if p == "/zookeeper/config" else st.mtime
        out[p] = (data, st.czxid, st.mzxid, st.pzxid, st.version, st.cversion, st.aversion,
                  st.ephemeralOwner, st.ctime, mtime, st.numChildren)
        for c in client.get_children(p):
            stack.append((p.rstrip("/") + "/" + c))
    return out


def wait_for(predicate, timeout_s=30.0, what="condition"):
    if not wait_until(predicate, timeout_s):
        raise AssertionError("timed out waiting for %s" % what)


def monotonic_ms() -> int:
    return int(time.monotonic() * 1000)
