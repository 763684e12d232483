"""Invariants of a simulated run, checked after every step.

Theory of operation
-------------------
Zab's histories have a shape the checker uses.  A txn exists only as a
proposal of the one leader of its epoch, with counters 1, 2, 3, ...; so every
zxid names one txn (the *pool* keeps each as its log-entry bytes, from the
leaders' own log batches and from every PROPOSAL and INFORM a learner
receives).  The leader of epoch ``e`` starts from the state it recovered, at
``initial[e]``; so the history of any state whose last zxid is ``z`` is
``history(initial[epoch(z)])`` followed by epoch(z)'s proposals up to ``z``.
The *chosen history* is the longest history anything has been committed on:
it grows when a txn is committed (applied by an established leader, or by a
learner past its NEWLEADER; what a learner applies while it syncs is checked
against the pool but chooses nothing, since its leader may yet fail) and
when a leader establishes its epoch (its whole history is chosen, as Zab
says).  A reference :class:`~zkwire.server.core.tree.DataTree` applies the
chosen history and remembers a digest of itself after every txn, and, per
path, the watch triggers and the znode's state at each change.

Checked (each a violation with the step number; the run stops at the first):

* **one leader per epoch**: no two peers (or incarnations) establish the same
  epoch, and no two different txns are proposed with one zxid;
* **agreement / integrity**: whatever is applied anywhere, or found in an
  establishing leader's log, at a zxid is byte for byte the txn proposed;
* **total order / prefix**: a commit extends the chosen history or lies on
  it, and applies to the state just before it there (no gap, no going
  back); no request (session id, cxid) is chosen twice;
* **a new leader holds everything chosen**: its history extends the chosen
  history (nothing committed is lost), and its tree equals the reference at
  its last zxid;
* **identical trees**: every serving peer's tree equals the reference at its
  last zxid (a digest over every znode's data, ACL and stat but
  /zookeeper/config, which each member writes itself);
* **acknowledged writes**: a write reply answers the chosen txn of that
  (session, cxid), at or below the reply's zxid, and success means the txn
  is not an error txn; the above keeps it from being lost;
* **sessions**: once a closeSession is chosen, the session owns no ephemeral
  in the reference tree, and none is created for it later;
* **clients**: replies in request order, zxids that never go back in a
  session, a watch event before any reply whose zxid shows the change, no
  event for a change older than its watch, reads (getData, exists) that show
  the reference state at their zxid;
* **no exception** escapes a server (the world reports those).
"""
from __future__ import annotations

from bisect import bisect_right

from zkwire.consts import OpCode
from zkwire.server.core.acl import OPEN_ACL_UNSAFE
from zkwire.server.core.tree import DataTree, TreeError
from zkwire.server.quorum.leader import BROADCAST as LEADER_BROADCAST, Leader
from zkwire.server.quorum.learner import BROADCAST as LEARNER_BROADCAST, Learner
from zkwire.server.quorum.packets import decode_txn, encode_txn

from .clients import CHILD_EVENTS, DATA_EVENTS

_MASK = (1 << 64) - 1
CONFIG = DataTree.CONFIG
#: Paths whose reads are checked against the reference.
CHECKED_READS = frozenset(("/k0", "/k1", "/k2", "/k3", "/q", "/e0", "/e1", "/e2"))


def tree_digest(tree) -> int:
    """A digest of every znode (path, data, acl, stat, children count) but
    /zookeeper/config; equal trees have equal digests."""
    total = 0
    for path, n in tree.nodes.items():
        if path == "" or path == CONFIG:
            continue
        acl = n.acl
        if type(acl) is not tuple:
            acl = tuple(tuple(a) if not isinstance(a, tuple) else a for a in acl)
        total += hash((path, n.data, acl, n.czxid, n.mzxid, n.ctime, n.mtime, n.version,
                       n.cversion, n.aversion, n.ephemeralOwner, n.pzxid, len(n.children)))
    return total & _MASK


def zx(z) -> str:
    return "%#x" % z


class Checker:
    def __init__(self, world=None):
        self.world = world
        self.violations = []             # (step, text)
        self.pool = {}                   # zxid -> encoded txn, every txn proposed
        self.initial = {0: 0}            # epoch -> zxid its leader started from
        self.line = []                   # the chosen history, zxids in order
        self.line_index = {}             # zxid -> its index in ``line``
        self.head = 0
        self.origins = {}                # (session, cxid) -> (zxid, type)
        self.ref = DataTree(OPEN_ACL_UNSAFE)
        self.ref.strict = True
        self.ref_digest = {0: tree_digest(self.ref)}
        self.triggers = {}               # path -> ([zxid], [etype])
        #: Every NodeCreated/NodeDeleted/NodeDataChanged of the chosen
        #: history, in order: what a recursive watch on "/" must deliver.
        self.data_events = []            # (zxid, etype, path)
        self.data_event_zxids = []
        self.states = {}                 # path -> ([zxid], [state or None])
        self.closed_sessions = set()
        self.established = {}            # epoch -> (sid, inc)
        self._noted = {}                 # sid -> the Leader role noted established
        self._digest_seen = {}           # sid -> (tree, last_zxid)
        # Figures for the report.
        self.commits = 0
        self.acked_writes = 0
        self.reads_checked = 0
        self.recursive_events = 0
        self.leaders = 0

    # --- reporting -----------------------------------------------------------------
    def violation(self, text: str) -> None:
        step = self.world.step if self.world is not None else -1
        self.violations.append((step, text))
        if self.world is not None:
            self.world.trace("checker", "VIOLATION", text.split("\n", 1)[0])

    # --- the pool of proposals -----------------------------------------------------------
    def proposed(self, z, data, who) -> bool:
        """A txn seen proposed (or held) at ``z``; False if it contradicts the pool."""
        known = self.pool.get(z)
        if known is None:
            self.pool[z] = data
            return True
        if known != data:
            self.violation("%s: two different txns at %s (one zxid, two proposals)" % (who, zx(z)))
            return False
        return True

    def on_proposal(self, node, pkt) -> None:
        """A PROPOSAL or INFORM reached ``node``."""
        if pkt.data is not None:
            self.proposed(pkt.zxid, bytes(pkt.data), "node %d received" % node.sid)

    def on_ready(self, node, rd) -> None:
        if rd.persist and isinstance(node.peer.role, Leader):
            for hdr, txn in rd.persist:
                self.proposed(hdr.zxid, encode_txn(hdr, txn), "leader %d" % node.sid)

    # --- the chosen history ------------------------------------------------------------
    def _path(self, z):
        """The zxids after ``head`` on the history ending at ``z``; None when
        that history does not contain the chosen one."""
        head = self.head
        segments = []
        while z != head:
            if z < head:
                return None
            e, c = z >> 32, z & 0xFFFFFFFF
            if head and e == head >> 32:
                segments.append((e, (head & 0xFFFFFFFF) + 1, c))
                break
            base = self.initial.get(e)
            if base is None or base >= z:
                return None
            segments.append((e, 1, c))
            z = base
        out = []
        for e, lo, hi in reversed(segments):
            out.extend((e << 32) | k for k in range(lo, hi + 1))
        return out

    def _extend(self, path, who) -> bool:
        for z in path:
            data = self.pool.get(z)
            if data is None:
                self.violation("%s: txn %s of its history was never proposed" % (who, zx(z)))
                return False
            hdr, txn, _ = decode_txn(data)
            self._choose(z, hdr, txn, who)
        return True

    def _choose(self, z, hdr, txn, who) -> None:
        self.line_index[z] = len(self.line)
        self.line.append(z)
        self.head = z
        if hdr.cxid > 0:
            key = (hdr.clientId, hdr.cxid)
            if key in self.origins:
                self.violation("%s: request (session %#x, cxid %d) chosen twice: %s and %s"
                               % (who, hdr.clientId, hdr.cxid, zx(self.origins[key][0]), zx(z)))
            self.origins[key] = (z, hdr.type)
        ref = self.ref
        try:
            rc = ref.apply(hdr, txn)
        except TreeError as e:
            self.violation("%s: chosen txn %s (type %d) does not apply to the chosen history "
                           "(error %d)" % (who, zx(z), hdr.type, e.code))
            self.ref_digest[z] = tree_digest(ref)
            return
        for etype, path in rc.triggers:
            if etype in DATA_EVENTS:
                self.data_events.append((z, etype, path))
                self.data_event_zxids.append(z)
            tz, te = self.triggers.setdefault(path, ([], []))
            tz.append(z)
            te.append(etype)
            node = ref.nodes.get(path)
            sz, st = self.states.setdefault(path, ([], []))
            sz.append(z)
            st.append(None if node is None else (node.data, node.version, node.mzxid))
        sid = hdr.clientId
        if hdr.type == OpCode.closeSession:
            self.closed_sessions.add(sid)
            if ref.ephemerals.get(sid):
                self.violation("%s: session %#x closed at %s still owns %s"
                               % (who, sid, zx(z), sorted(ref.ephemerals[sid])))
        elif sid in self.closed_sessions and ref.ephemerals.get(sid):
            self.violation("%s: txn %s gave closed session %#x ephemerals %s"
                           % (who, zx(z), sid, sorted(ref.ephemerals[sid])))
        self.ref_digest[z] = tree_digest(ref)

    @staticmethod
    def _is_commit(node) -> bool:
        role = node.peer.role if node.peer is not None else None
        if isinstance(role, Leader):
            return role.phase == LEADER_BROADCAST
        if isinstance(role, Learner):
            return role.phase == LEARNER_BROADCAST
        return False

    def on_apply(self, node, prev, hdr, txn) -> None:
        """``node``'s front end applied ``hdr``/``txn`` to a tree at ``prev``."""
        z = hdr.zxid
        who = "node %d" % node.sid
        if z <= prev:
            self.violation("%s applied %s on top of %s (not in zxid order)" % (who, zx(z), zx(prev)))
            return
        if not self.proposed(z, encode_txn(hdr, txn), who + " applied"):
            return
        if not self._is_commit(node):
            return
        self.commits += 1
        if z > self.head:
            path = self._path(z)
            if path is None:
                self.violation("%s committed %s, whose history does not contain the chosen "
                               "history (head %s)" % (who, zx(z), zx(self.head)))
                return
            if not self._extend(path, who):
                return
        i = self.line_index.get(z)
        if i is None:
            self.violation("%s committed %s, which is not in the chosen history" % (who, zx(z)))
            return
        want = self.line[i - 1] if i else 0
        if self.state_of(prev) != want:
            self.violation("%s committed %s on top of %s; the chosen history has %s before it"
                           % (who, zx(z), zx(prev), zx(want)))

    # --- leaders -------------------------------------------------------------------------
    def on_input(self, node) -> None:
        role = node.peer.role if node.peer is not None else None
        if (isinstance(role, Leader) and role.phase == LEADER_BROADCAST
                and self._noted.get(node.sid) is not role):
            self._noted[node.sid] = role
            self._established(node, role)

    def _established(self, node, role) -> None:
        self.leaders += 1
        epoch = role.epoch
        who = "leader %d (epoch %d)" % (node.sid, epoch)
        tree = node.core.tree
        # The tree says epoch << 32 by now, a zxid no txn has (ZooKeeper's
        # leader does the same); its state is that of its last txn.
        # A tree loaded from a snapshot named so holds that state as well.
        last = self.state_of(role.initial_zxid)
        self.world.trace(node.sid, "ESTABLISHED", epoch, zx(last))
        prev = self.established.get(epoch)
        if prev is not None:
            self.violation("%s established epoch %d, which node %d (incarnation %d) "
                           "established before" % (who, epoch, prev[0], prev[1]))
        self.established[epoch] = (node.sid, node.inc)
        for hdr, txn in node.storage.read_log(0):
            if not self.proposed(hdr.zxid, encode_txn(hdr, txn), who + "'s log"):
                return
        self.initial[epoch] = last
        if self.head >> 32 >= epoch:
            # A stale leader: a later epoch has chosen txns already (its
            # NEWLEADER acks were late, say).  Zab lets it establish; it must
            # hold what earlier epochs chose, and can commit nothing (a commit
            # by it would not extend the chosen history: caught there).
            i = bisect_right(self.line, (epoch << 32) - 1)
            before = self.line[i - 1] if i else 0
            if not self._in_history(before, last):
                self.violation("%s established late at %s without chosen txn %s of an earlier "
                               "epoch (committed txns lost)" % (who, zx(last), zx(before)))
            self.world.trace(node.sid, "STALE-LEADER", epoch, zx(self.head))
            return
        path = self._path(last)
        if path is None:
            if last < self.head:
                missing = self.line[bisect_right(self.line, last):]
                self.violation("%s established at %s without chosen txns %s (committed txns "
                               "lost)" % (who, zx(last), ", ".join(zx(z) for z in missing[:8])))
            else:
                self.violation("%s established at %s, whose history does not contain the "
                               "chosen history (head %s)" % (who, zx(last), zx(self.head)))
            return
        if not self._extend(path, who):
            return
        if last not in self.ref_digest:
            self.violation("%s established at %s, which is not in the chosen history"
                           % (who, zx(last)))
        elif tree_digest(tree) != self.ref_digest[last]:
            self.violation("%s established with a tree at %s that differs from the chosen "
                           "history's" % (who, zx(last)))

    def state_of(self, z):
        """The txn whose state a tree at ``z`` holds: ``z`` itself, or for
        epoch << 32 (no txn has it: the leader's mark at the start of its
        epoch, and the zxid of its SNAPs until it applies a txn) the last txn
        of that epoch's initial history."""
        if z & 0xFFFFFFFF or not z:
            return z
        return self.initial.get(z >> 32, z)

    def _in_history(self, a, b) -> bool:
        """Is the txn ``a`` (or the empty state, 0) in the history that ends at ``b``?"""
        while b > a:
            e = b >> 32
            if a >> 32 == e:
                return True
            base = self.initial.get(e)
            if base is None or base >= b:
                return False
            b = base
        return a == b

    def on_boot(self, node) -> None:
        self._digest_seen.pop(node.sid, None)

    def on_stop(self, node) -> None:
        self._digest_seen.pop(node.sid, None)
        self._noted.pop(node.sid, None)

    # --- every step ------------------------------------------------------------------------
    def after_step(self) -> None:
        for node in self.world.nodes.values():
            core = node.core
            if not node.alive or core is None or not core.serving:
                continue
            tree = core.tree
            last = tree.last_zxid
            seen = self._digest_seen.get(node.sid)
            if seen is not None and seen[0] is tree and seen[1] == last:
                continue
            self._digest_seen[node.sid] = (tree, last)
            want = self.ref_digest.get(self.state_of(last))
            if want is None:
                self.violation("node %d serves clients from a state at %s, which is not in "
                               "the chosen history" % (node.sid, zx(last)))
            elif tree_digest(tree) != want:
                self.violation("node %d serves a tree at %s that differs from the chosen "
                               "history's" % (node.sid, zx(last)))

    # --- clients ---------------------------------------------------------------------------
    def on_write_reply(self, client, xid, op, path, zxid, err) -> None:
        rec = self.origins.get((client.session_id, xid))
        who = "client %d (session %#x, xid %d)" % (client.cid, client.session_id, xid)
        if rec is None:
            self.violation("%s: write reply (err %d, zxid %s) with no chosen txn for it"
                           % (who, err, zx(zxid)))
            return
        z, ttype = rec
        if z > zxid:
            self.violation("%s: write reply at %s for a txn chosen at %s" % (who, zx(zxid), zx(z)))
        if err == 0 and op != OpCode.multi and ttype == OpCode.error:
            self.violation("%s: success reply for error txn %s" % (who, zx(z)))
        if err == 0:
            self.acked_writes += 1

    def check_watches(self, client, zxid) -> None:
        for (path, kind), z0 in client.watches.items():
            trig = self.triggers.get(path)
            if trig is None:
                continue
            tz, te = trig
            events = CHILD_EVENTS if kind == "child" else DATA_EVENTS
            for i in range(bisect_right(tz, z0), bisect_right(tz, zxid)):
                if te[i] in events:
                    self.violation("client %d: a reply at %s shows %s changed at %s, but the "
                                   "%s watch set at %s has not fired" % (
                                       client.cid, zx(zxid), path, zx(tz[i]), kind, zx(z0)))
                    return

    # --- the recursive watch on "/" (SimConfig.recursive_watches) ----------------------
    def data_events_after(self, zxid) -> int:
        return bisect_right(self.data_event_zxids, zxid)

    def on_recursive_event(self, client, zxid, etype, path) -> None:
        """The next data event must be the next one of the chosen history
        (each change once, in zxid order, none skipped)."""
        i = client.rec_cursor
        want = self.data_events[i] if i < len(self.data_events) else None
        if want != (zxid, etype, path):
            self.violation("client %d: recursive watch delivered %s, but the next change of the "
                           "chosen history is %s" % (client.cid, (zx(zxid), etype, path),
                                                     None if want is None else
                                                     (zx(want[0]), want[1], want[2])))
            client.rec_cursor = self.data_events_after(zxid)
            return
        client.rec_cursor = i + 1
        self.recursive_events += 1

    def check_recursive(self, client, zxid) -> None:
        """A reply at ``zxid``: every change up to it was reported first."""
        i = client.rec_cursor
        if i < len(self.data_events) and self.data_events[i][0] <= zxid:
            z, etype, path = self.data_events[i]
            self.violation("client %d: a reply at %s, but the recursive watch has not reported "
                           "%s at %s" % (client.cid, zx(zxid), path, zx(z)))
            client.rec_cursor = self.data_events_after(zxid)

    def on_event(self, client, zxid, etype, path) -> None:
        if zxid <= 0:
            return      # from setWatches: a change while the client was away
        kinds = ("data", "exist", "child") if etype == 2 else (
            ("data", "exist") if etype in DATA_EVENTS else ("child",))
        z0 = None
        for kind in kinds:
            z = client.watches.get((path, kind))
            if z is not None:
                z0 = z if z0 is None else max(z0, z)
        if z0 is not None and zxid <= z0:
            self.violation("client %d: event %d for %s at %s, older than its watch (set at %s)"
                           % (client.cid, etype, path, zx(zxid), zx(z0)))

    def check_read(self, client, op, path, zxid, err, body) -> None:
        if path not in CHECKED_READS or zxid <= 0:
            return
        zxid = self.state_of(zxid)
        if zxid > self.head or zxid not in self.ref_digest:
            self.violation("client %d: read of %s at %s, which is not in the chosen history"
                           % (client.cid, path, zx(zxid)))
            return
        self.reads_checked += 1
        state = None
        hist = self.states.get(path)
        if hist is not None:
            i = bisect_right(hist[0], zxid)
            if i:
                state = hist[1][i - 1]
        who = "client %d: %s of %s at %s" % (client.cid, "getData" if op == OpCode.getData
                                             else "exists", path, zx(zxid))
        if state is None:
            if err == 0:
                self.violation("%s found the node, which does not exist there" % who)
            return
        if err != 0:
            self.violation("%s: error %d, but the node exists there" % (who, err))
            return
        data, version, mzxid = state
        stat = body[1] if op == OpCode.getData else body
        if op == OpCode.getData and body[0] != data:
            self.violation("%s: data %r, the history says %r" % (who, body[0], data))
        elif stat[4] != version or stat[1] != mzxid:
            self.violation("%s: version %d mzxid %s, the history says %d, %s"
                           % (who, stat[4], zx(stat[1]), version, zx(mzxid)))
