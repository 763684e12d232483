"""A 3-member ensemble of real processes with a proxy on every link.

Theory of operation
-------------------
:class:`ProxiedEnsemble` is tests/ensemble.py's :class:`Ensemble` (same
layouts, dataDirs, start/stop/kill/pause by PID) plus one :class:`Proxy`:

* a *peer link* per ordered pair (i, j) and per port kind (quorum and
  election): member i's zoo.cfg lists its own ``server.i`` with its real
  ports, which it binds, and every other ``server.j`` with the ports of the
  links (i, j), which it dials.  So every byte between two members crosses a
  link of the dialer, and cutting links (i, j) and (j, i) of both kinds
  partitions i from j whoever dialed.
* The election handshake names the dialer's own election address, and a
  member that hears a smaller sid closes and dials back: zkwire at its
  config's address of that sid, but ZooKeeper 3.8 at the *handshake's*
  address (QuorumCnxManager.handleConnection -> connectOne(sid,
  electionAddr)), i.e. straight to the real port, around the proxy (observed
  here: such a connection outlives the fault that let it through, and the
  next partition misses it).  So the election links rewrite the handshake:
  the dialer i's address becomes that of link (j, i).
  :meth:`ProxiedEnsemble.direct_connections` lists any TCP connection to a
  member's quorum or election port that bypasses the proxies (none, with the
  rewrite).
* Every listening port (members' and links') is chosen below the kernel's
  ephemeral range (tests/ensemble.py's :class:`Ports`): a port picked by binding port 0 is in
  that range, and the proxy and the servers dial hundreds of connections,
  each from an ephemeral port, so a member killed and restarted (or a link
  made after the members chose their ports) could find its port taken.
* a *client link* per member, in front of its client port, through which
  the workload's clients connect, so a client can be partitioned from its
  server too.  The harness's own four-letter words go to the real client
  ports (the control plane is never partitioned).

:class:`LeaderWatch` polls ``srvr`` of every running, unpaused member and
records each leadership it sees as (sid, epoch): the epoch is the high 32
bits of the leader's zxid, so a member re-elected after a fault is a new
leadership too.
"""
from __future__ import annotations

import os
import re
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests"))

from ensemble import Ensemble, Member  # noqa: E402

from zkwire.server.quorum.packets import decode_handshake  # noqa: E402

from interop.partition.proxy import Proxy  # noqa: E402

KINDS = ("quorum", "election")
_SERVER_LINE = re.compile(r"^server\.(\d+)=127\.0\.0\.1:(\d+):(\d+)(.*)$")


class ProxiedMember(Member):
    """A member whose zoo.cfg names the other members by their proxies."""

    def write_cfg(self, standalone=False) -> str:
        path = super().write_cfg(standalone)
        if standalone:
            return path
        links = self.ensemble.peer_links
        out = []
        with open(path) as f:
            for line in f.read().splitlines():
                m = _SERVER_LINE.match(line)
                if m and int(m.group(1)) != self.sid:
                    j = int(m.group(1))
                    line = "server.%d=127.0.0.1:%d:%d%s" % (
                        j, links[self.sid, j, "quorum"].port,
                        links[self.sid, j, "election"].port, m.group(4))
                out.append(line)
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")
        return path


class ProxiedEnsemble(Ensemble):
    def __init__(self, layout: str, extra_cfg=None, sysprops=None):
        super().__init__(layout, extra_cfg, sysprops)
        for m in self.members.values():
            # Member's constructor made the dataDir and chose the ports; only
            # write_cfg differs, so the instances change class, not identity.
            m.__class__ = ProxiedMember
        ports = self.ports              # the members' came from it too
        self.proxy = Proxy()
        self.peer_links = {}
        self.client_links = {}
        for i, mi in self.members.items():
            self.client_links[i] = self.proxy.add_link("client-%d" % i, mi.client_port,
                                                       port=ports.take())
            for j, mj in self.members.items():
                if i != j:
                    self.peer_links[i, j, "quorum"] = self.proxy.add_link(
                        "quorum-%d-%d" % (i, j), mj.quorum_port, port=ports.take())
                    self.peer_links[i, j, "election"] = self.proxy.add_link(
                        "election-%d-%d" % (i, j), mj.election_port,
                        rewrite=self._handshake_rewriter(j, i), port=ports.take())
        self.proxy.start()
        self.paused = set()

    def _handshake_rewriter(self, src, dst):
        """On link (dst, src): the dialer dst's address becomes link (src, dst)'s."""
        def rewrite(data):
            return rewrite_handshake(data, "127.0.0.1:%d" % self.peer_links[src, dst, "election"].port)
        return rewrite

    def close(self):
        try:
            super().close()
        finally:
            self.proxy.stop()

    def client_hosts(self, sid) -> str:
        return "127.0.0.1:%d" % self.client_links[sid].port

    def peer_link_names(self, src, dst):
        """The links that carry bytes dialed by ``src`` to ``dst``."""
        return [self.peer_links[src, dst, kind].name for kind in KINDS]

    def pause(self, sid):
        self.members[sid].pause()
        self.paused.add(sid)

    def resume(self, sid):
        self.members[sid].resume()
        self.paused.discard(sid)

    def srvr(self, sid) -> dict:
        """Mode and zxid of a running, unpaused member ({} if it does not answer)."""
        m = self.members[sid]
        if sid in self.paused or not m.running:
            return {}
        out = {}
        for line in m.four("srvr").splitlines():
            if line.startswith("Mode:"):
                out["mode"] = line.split(":", 1)[1].strip()
            elif line.startswith("Zxid:"):
                out["zxid"] = int(line.split(":", 1)[1].strip(), 16)
        return out

    def current_leader(self):
        for sid in self.members:
            if self.srvr(sid).get("mode") == "leader":
                return sid
        return None

    def direct_connections(self) -> list:
        """Established TCP connections to a member's quorum or election port
        that do not come from the proxy (this process): a link that bypasses
        the proxies would make a partition leak."""
        ports = {}
        for m in self.members.values():
            ports[m.quorum_port] = "quorum %d" % m.sid
            ports[m.election_port] = "election %d" % m.sid
        mine = _socket_inodes(os.getpid())
        # Each loopback connection shows twice in /proc/net/tcp; the dialer's
        # entry has the member's port as its remote end.  The proxy's own
        # dialed sockets are this process's; any other dialer is a leak.
        return ["%s <- :%d" % (ports[remote[1]], local[1])
                for local, remote, inode in _established()
                if remote[1] in ports and inode not in mine]


def rewrite_handshake(data: bytes, address: str):
    """``data`` with its election handshake naming ``address``, or None while
    the handshake is not all in (zkwire's own codec reads and writes it)."""
    hs, end = decode_handshake(data)
    if hs is None:
        return None
    if hs.protocol_version is not None:     # the old form carries no address
        hs.address = address
    return hs.encode() + data[end:]


def _established():
    """(local, remote, inode) of every established TCP socket (the JVM's
    are IPv6 sockets even on 127.0.0.1, so both tables)."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[3] != "01":        # ESTABLISHED
                    continue
                out.append((_addr(parts[1]), _addr(parts[2]), int(parts[9])))
    return out


def _addr(hexaddr):
    ip, port = hexaddr.rsplit(":", 1)
    return ip, int(port, 16)


def _socket_inodes(pid) -> set:
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


class LeaderWatch:
    """Polls the members' ``srvr`` in a thread; ``leaderships`` lists each
    (sid, epoch) in the order first seen."""

    def __init__(self, ensemble: ProxiedEnsemble, interval_s: float = 0.25):
        self.ensemble = ensemble
        self.interval_s = interval_s
        self.leaderships = []
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="leader-watch", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(10.0)

    @property
    def changes(self) -> int:
        return max(0, len(self.leaderships) - 1)

    def wait_for_change(self, count, timeout_s) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.changes >= count, timeout_s)

    def _run(self):
        while not self._stop.is_set():
            for sid in list(self.ensemble.members):
                st = self.ensemble.srvr(sid)
                if st.get("mode") == "leader" and "zxid" in st:
                    seen = (sid, st["zxid"] >> 32)
                    if seen not in self.leaderships:
                        with self._changed:
                            self.leaderships.append(seen)
                            self._changed.notify_all()
            self._stop.wait(self.interval_s)
