"""The container and TTL reaper: ZooKeeper's ContainerManager, leader only.

Theory of operation
-------------------
A container znode exists to hold children: once it has had one and is empty
again, it goes.  A TTL znode goes once it has had no children and no change
for its TTL.  Nobody asks for either deletion: the server that orders writes
(standalone: the one server; in an ensemble: the leader) looks for candidates
every ``checkIntervalMs`` and proposes a ``deleteContainer`` (opcode 20) for
each, as a txn with session 0 and cxid 0, prepped like any other write.  A
candidate that gained a child in the meantime fails in prep and becomes an
error txn, as in ZooKeeper.

The rules, from ZooKeeper 3.9's ContainerManager.getCandidates:

* a container with no children is a candidate if its cversion is above 0
  (it has had a child), or, when ``maxNeverUsedIntervalMs`` is not 0, if its
  mtime is older than that;
* a TTL node with no children is a candidate once ``now - mtime`` exceeds
  its TTL (the low bits of its ephemeralOwner).

Candidates are deleted at most ``maxPerMinute`` a minute (ZooKeeper sleeps
60000 / maxPerMinute ms between them); a check waits until the previous
check's candidates are all proposed.  ZooKeeper collects them in a HashSet,
so they go in Java's hash order.

Sans-IO: ``due(now_ms)`` returns the paths to propose now; ``next_ms`` says
when to ask again.  The tree's mtimes are txn times (the leader's clock), and
``now_ms`` must be that same clock.
"""
from __future__ import annotations

from collections import deque

from zkwire.consts import MAX_TTL_MS
from .javaorder import hashset_order, table_capacity
from .tree import ephemeral_kind

#: ZooKeeper's defaults (ZooKeeperServerMain / LeaderZooKeeperServer).
CHECK_INTERVAL_MS = 60000
MAX_PER_MINUTE = 10000
MAX_NEVER_USED_MS = 0


class Reaper:
    def __init__(self, tree, now_ms: int, check_interval_ms: int = CHECK_INTERVAL_MS,
                 max_per_minute: int = MAX_PER_MINUTE, max_never_used_ms: int = MAX_NEVER_USED_MS):
        if check_interval_ms <= 0:
            raise ValueError("znode.container.checkIntervalMs must be > 0")
        if max_per_minute <= 0:
            raise ValueError("znode.container.maxPerMinute must be > 0")
        self.tree = tree
        self.check_interval_ms = check_interval_ms
        self.max_never_used_ms = max_never_used_ms
        self.min_interval_ms = 60000 // max_per_minute
        self.next_check_ms = now_ms + check_interval_ms   # Timer.scheduleAtFixedRate(t, d, d)
        self.queue = deque()
        self.last_delete_ms = None

    @property
    def next_ms(self) -> int:
        """When ``due`` may next have something to say."""
        if self.queue:
            return self.last_delete_ms + self.min_interval_ms
        return self.next_check_ms

    def candidates(self, now_ms: int) -> list:
        tree = self.tree
        nodes = tree.nodes
        found = []
        for path in tree.containers:
            node = nodes.get(path)
            if node is None or node.children:
                continue
            if node.cversion > 0 or (self.max_never_used_ms != 0
                                     and now_ms - node.mtime > self.max_never_used_ms):
                found.append(path)
        for path in tree.ttls:
            node = nodes.get(path)
            if node is None or node.children:
                continue
            owner = node.ephemeralOwner
            if ephemeral_kind(owner) != "ttl":
                continue
            ttl = owner & MAX_TTL_MS   # EphemeralType.TTL.getValue: the low 40 bits
            if ttl != 0 and now_ms - node.mtime > ttl:
                found.append(path)
        found = list(dict.fromkeys(found))
        return hashset_order(found, table_capacity(len(found)))

    def due(self, now_ms: int) -> list:
        """The paths to propose a deleteContainer for now."""
        if not self.queue:
            if now_ms < self.next_check_ms:
                return []
            # A fixed rate: the next check is due one interval after this one
            # was, unless the server fell a whole interval behind.
            self.next_check_ms += self.check_interval_ms
            if self.next_check_ms <= now_ms:
                self.next_check_ms = now_ms + self.check_interval_ms
            self.queue.extend(self.candidates(now_ms))
            if not self.queue:
                return []
            self.last_delete_ms = None   # a new run: its first delete goes at once
        out = []
        if self.min_interval_ms == 0:
            allowed = len(self.queue)
        elif self.last_delete_ms is None:
            allowed = 1
        else:
            allowed = (now_ms - self.last_delete_ms) // self.min_interval_ms
        while self.queue and len(out) < allowed:
            out.append(self.queue.popleft())
        if out:
            self.last_delete_ms = now_ms
        return out
