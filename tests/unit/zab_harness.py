"""An in-memory ensemble for packet-level tests: one sans-IO Leader and its
Learners, each with its own front end and a Storage on a MemoryDisk, wired
by byte streams that go through the real stream decoders.  The harness does
the I/O half of the Ready contract (persist, then report persisted; write the
sends in order) and nothing else."""
from __future__ import annotations

from zkwire.server.core.frontend import CoreConfig, ServerCore
from zkwire.server.quorum.leader import Leader
from zkwire.server.quorum.learner import Learner
from zkwire.server.quorum.membership import Member, Membership, OBSERVER, PARTICIPANT
from zkwire.server.quorum.packets import QuorumStreamDecoder, decode_packet, packet_name
from zkwire.server.storage.disk import MemoryDisk
from zkwire.server.storage.store import Storage

from . import connect_req


def membership(voters=3, observers=0):
    members = {}
    for sid in range(1, voters + observers + 1):
        role = PARTICIPANT if sid <= voters else OBSERVER
        members[sid] = Member(sid, "127.0.0.1", 2000 + sid, 3000 + sid, role)
    return Membership(members)


class Node:
    """One server: its disk survives ``restart`` (a crash loses what was not synced)."""

    def __init__(self, sid, tick_ms=100, reconfig_enabled=False):
        self.sid = sid
        self.reconfig_enabled = reconfig_enabled
        self.disk = MemoryDisk()
        self.tick_ms = tick_ms
        self.role = None
        self.load(0)

    def load(self, now):
        self.storage = Storage("/data%d" % self.sid, disk=self.disk, prealloc_bytes=4096)
        tree, sessions, last, _ = self.storage.recover()
        self.core = ServerCore(CoreConfig(tick_ms=self.tick_ms, server_id=self.sid,
                                          reconfig_enabled=self.reconfig_enabled,
                                          skip_acl=self.reconfig_enabled),
                               None, now, tree=tree)
        for s, t in sessions.items():
            self.core.sessions.add(s, t, now)
        self.last_zxid = last

    def history(self):
        from zkwire.server.quorum.leader import load_history

        return load_history(self.storage, self.core.tree.last_zxid)

    def persist(self, batch):
        for hdr, txn in batch:
            self.storage.append(hdr, txn)
        self.storage.flush().fsync()


class Ensemble:
    def __init__(self, voters=3, observers=0, leader=None, tick_ms=100, epochs=None,
                 reconfig_enabled=False):
        self.members = membership(voters, observers)
        self.now = 1000
        self.tick_ms = tick_ms
        self.reconfig_enabled = reconfig_enabled
        self.nodes = {sid: Node(sid, tick_ms, reconfig_enabled) for sid in self.members.members}
        self.trace = []          # (from, to, packet name, zxid)
        self.links = {}          # learner sid -> (decoder at leader, decoder at learner)
        self.slow_disks = set()  # sids whose fsyncs are reported only by finish_persist
        self.leader_sid = None
        if leader is not None:
            self.elect(leader)
            self.run()

    # --- roles ---------------------------------------------------------------------
    def _epochs(self, node):
        from zkwire.server.quorum.epochs import load_epochs

        return load_epochs(node.storage, node.last_zxid)

    def elect(self, leader_sid, learners=None):
        self.leader_sid = leader_sid
        ln = self.nodes[leader_sid]
        ln.load(self.now)
        cur, acc = self._epochs(ln)
        ln.role = Leader(ln.core, ln.storage, leader_sid, self.members, acc, cur, self.now,
                         tick_ms=self.tick_ms, init_limit=10, sync_limit=5,
                         config_text=self.members.config_text().encode(),
                         history=ln.history())
        self.links = {}
        for sid in (learners if learners is not None else self.nodes):
            if sid != leader_sid:
                self.join(sid)

    def join(self, sid):
        node = self.nodes[sid]
        node.load(self.now)
        cur, acc = self._epochs(node)
        node.role = Learner(node.core, node.storage, sid, sid in self.members.observers, acc,
                            cur, node.core.tree.last_zxid, self.now, tick_ms=self.tick_ms,
                            init_limit=10, sync_limit=5,
                            config_text=self.members.config_text().encode(),
                            reconfig_enabled=self.reconfig_enabled)
        self.links[sid] = (QuorumStreamDecoder(from_leader=False),
                           QuorumStreamDecoder(from_leader=True))
        self.leader.learner_connected(sid, self.now)
        node.role.start(self.now)

    def disconnect(self, sid):
        self.links.pop(sid, None)
        self.leader.learner_lost(sid)
        self.nodes[sid].role.connection_lost()

    @property
    def leader(self):
        return self.nodes[self.leader_sid].role

    # --- the I/O loop ----------------------------------------------------------------
    def step(self) -> bool:
        moved = False
        for sid, node in self.nodes.items():
            role = node.role
            if role is None:
                continue
            rd = role.ready()
            if rd.persist:
                node.persist(rd.persist)
                if sid in self.slow_disks:
                    # Appended and synced, but the role hears of it only
                    # when the test says so (finish_persist).
                    node.unreported = rd.persist
            if sid == self.leader_sid:
                for lid, data in rd.send:
                    moved = True
                    if lid not in self.links:
                        continue
                    if data is None:
                        self.disconnect(lid)
                        continue
                    for item in self.links[lid][1].feed(data):
                        self.trace.append((sid, lid, getattr(item, "type", "chunk"),
                                           getattr(item, "zxid", None)))
                        self.nodes[lid].role.receive(item, self.now)
            else:
                for data in rd.send:
                    moved = True
                    if sid not in self.links:
                        continue
                    for pkt in self.links[sid][0].feed(data):
                        self.trace.append((sid, self.leader_sid, pkt.type, pkt.zxid))
                        self.leader.receive(sid, pkt, self.now)
            # Client output stays in each conn.outbox for the test to read.
            if rd.persist and sid not in self.slow_disks:
                moved = True
                role.persisted(rd.persist[-1][0].zxid, self.now)
            if role.wants_turn():
                moved = True             # a SNAP capture under way
        return moved

    def finish_persist(self, sid):
        node = self.nodes[sid]
        batch, node.unreported = node.unreported, None
        node.role.persisted(batch[-1][0].zxid, self.now)
        self.run()

    def run(self, limit=1000):
        for _ in range(limit):
            if not self.step():
                return
        raise AssertionError("the ensemble never settles")

    def tick(self, ms):
        end = self.now + ms
        while self.now < end:
            self.now = min(end, self.now + self.tick_ms // 2)
            for node in self.nodes.values():
                if node.role is not None:
                    node.role.tick(self.now)
            self.run()

    def names(self, frm=None, to=None):
        return [packet_name(t) if isinstance(t, int) else t for f, d, t, z in self.trace
                if (frm is None or f == frm) and (to is None or d == to)]

    # --- clients ------------------------------------------------------------------------
    def client(self, sid, timeout=3000):
        core = self.nodes[sid].core
        conn = core.open_conn("127.0.0.1:%d" % (50000 + len(core.conns)), "127.0.0.1", self.now)
        core.connect(conn, connect_req(timeout), False, self.now)
        self.run()
        return conn

    def request(self, sid, conn, xid, op, req):
        self.nodes[sid].core.request(conn, xid, op, req, self.now)
        self.run()
