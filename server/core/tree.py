"""The data tree: znodes, their stats, and the deterministic application of txns.

Theory of operation
-------------------
The tree holds committed state only.  It changes in exactly one way:
``apply(hdr, txn)``, with a TxnHeader (clientId, cxid, zxid, time, type) and the
txn record that ZooKeeper writes to its log.  ``apply`` reads no clock and no
randomness, so two replicas that apply the same txns hold identical trees.

``apply`` returns a :class:`TxnResult` that carries what the origin session needs
for its reply (error, path, stat, per-op results of a multi) and the watch
triggers the change caused, as ``(event_type, path)`` pairs in ZooKeeper's
order.  Firing them is the watch table's job, not the tree's.

Validation (versions, ACLs, existence) happens before a txn is made, in prep;
``apply`` still tolerates txns that no longer fit (a replayed log over a fuzzy
snapshot) the way ZooKeeper's DataTree does: it records an error and moves on.

Running totals.  mntr's approximate data size and getAllChildrenNumber would
otherwise scan every znode on the event loop, so the tree keeps them as it
changes: ``_data_size``, the sum over the keys of ``nodes`` of key length plus
data length (the root is counted under both of its keys, "" and "/"), and
``_below``, for every path P but the root, how many keys start with P + "/"
(absent: none; by prefix, as the full scan it replaces counted, so a replay
that orphans a subtree keeps the same figure).  Each change costs O(depth).  The
snapshot loader fills ``nodes`` itself, bypassing these methods, so the totals
belong to one dict object (``_counted``): a tree whose ``nodes`` is another
object recounts once, at its next change or query.

A session's ephemerals map each path to its Java hashCode, computed once at
create (as Java caches it in the String), or None until first needed (the
snapshot loader does not compute it): listing or closing a session with many
ephemerals then sorts integers and hashes nothing.
"""
from __future__ import annotations

from collections import Counter
from operator import attrgetter
from types import MappingProxyType

from zkwire.consts import CONTAINER_EPHEMERAL_OWNER, Err, EventType, OpCode, TTL_EPHEMERAL_OWNER_MASK, TTL_EPHEMERAL_OWNER_TAG
from . import javaorder, quota

_EMPTY = b""

#: The ``children`` of every childless node: one shared, read-only mapping
#: instead of an empty dict per leaf (64 bytes a znode).  Only this module
#: (and the snapshot loader) adds children, replacing it with a dict.
NO_CHILDREN = MappingProxyType({})

_data_of = attrgetter("data")

#: Distinct ACLs the tree keeps one shared copy of (see DataTree._intern_acl).
MAX_INTERNED_ACLS = 4096


class Node:
    """One znode.  Stat fields use ZooKeeper's names; ``children`` is an
    insertion-ordered dict of child names used as a set (deterministic
    iteration), or :data:`NO_CHILDREN`."""

    __slots__ = (
        "data", "acl", "czxid", "mzxid", "ctime", "mtime", "version",
        "cversion", "aversion", "ephemeralOwner", "pzxid", "children",
    )

    def __init__(self, data, acl, zxid, time_ms, ephemeral_owner):
        self.data = data
        self.acl = acl
        self.czxid = zxid
        self.mzxid = zxid
        self.ctime = time_ms
        self.mtime = time_ms
        self.version = 0
        self.cversion = 0
        self.aversion = 0
        self.ephemeralOwner = ephemeral_owner
        self.pzxid = zxid
        self.children = NO_CHILDREN

    def stat(self) -> tuple:
        """The Stat record as a tuple in wire order (see records.Stat).

        ``cversion`` is stored as ZooKeeper stores it, counting child creations
        only (it also seeds sequential suffixes); clients are shown
        ``2 * cversion - numChildren``, which counts creations plus deletions,
        exactly as ZooKeeper's DataNode.copyStat reports it.
        """
        n = len(self.children)
        owner = self.ephemeralOwner
        if owner < 0 and (owner == CONTAINER_EPHEMERAL_OWNER
                          or owner & TTL_EPHEMERAL_OWNER_MASK == TTL_EPHEMERAL_OWNER_TAG):
            owner = 0  # containers and TTL nodes show no owner, as in ZooKeeper
        return (
            self.czxid, self.mzxid, self.ctime, self.mtime, self.version,
            self.cversion * 2 - n, self.aversion, owner,
            len(self.data) if self.data is not None else 0,
            n, self.pzxid,
        )


STAT_FIELDS = (
    "czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
    "ephemeralOwner", "dataLength", "numChildren", "pzxid",
)


def stat_dict(stat: tuple) -> dict:
    return dict(zip(STAT_FIELDS, stat))


class TxnResult:
    __slots__ = ("type", "zxid", "err", "path", "stat", "multi", "triggers")

    def __init__(self, type_, zxid):
        self.type = type_
        self.zxid = zxid
        self.err = 0
        self.path = None
        self.stat = None
        self.multi = None
        self.triggers = []

    def __repr__(self):
        return "TxnResult(type=%r, zxid=%#x, err=%r, path=%r)" % (self.type, self.zxid, self.err, self.path)


class TreeError(Exception):
    """A txn that does not fit the tree (only expected while replaying a log)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def ephemeral_kind(owner: int) -> str:
    """'normal' (a session's), 'container', 'ttl' or '' (persistent)."""
    if owner == 0:
        return ""
    if owner == CONTAINER_EPHEMERAL_OWNER:
        return "container"
    if owner < 0 and (owner & TTL_EPHEMERAL_OWNER_MASK) == TTL_EPHEMERAL_OWNER_TAG:
        return "ttl"
    return "normal"


def add_child(parent: Node, name: str) -> None:
    kids = parent.children
    if kids is NO_CHILDREN:
        parent.children = {name: None}
    else:
        kids[name] = None


def parent_of(path: str) -> tuple:
    i = path.rfind("/")
    return path[:i], path[i + 1:]


class DataTree:
    """All znodes by absolute path, plus the per-session index of ephemerals."""

    # ZooKeeper's special nodes.
    ZOOKEEPER = "/zookeeper"
    QUOTA = "/zookeeper/quota"
    CONFIG = "/zookeeper/config"

    def __init__(self, open_acl):
        #: Replaying a log over a fuzzy snapshot, a txn may no longer fit and
        #: is recorded as an error, as ZooKeeper does.  A live server sets
        #: ``strict``: prep validated every txn against this very tree, so a
        #: misfit is our bug and raises TreeError instead of answering a client.
        self.strict = False
        #: A core.metrics.Metrics fed each write's namespace figure, or None.
        self.metrics = None
        self.nodes = {}
        #: session id -> {path: Java hashCode or None}, in creation order.
        self.ephemerals = {}
        # Largest number of ephemerals each live session has held: ZooKeeper's
        # per-session HashSet keeps the capacity that reached, and that capacity
        # decides the order in which it lists them (see javaorder).
        self.ephemeral_peak = {}
        self.containers = set()
        self.ttls = set()
        #: path -> ACL of each node the last applied txn deleted: the watch
        #: events of a deletion are filtered by the ACL the node had.
        self.gone_acls = {}
        #: Paths with a quota (a zookeeper_limits node under /zookeeper/quota).
        self.quota_roots = set()
        self.last_zxid = 0
        # Equal ACLs share one tuple, as ZooKeeper's ACL cache shares one list:
        # every create brings its own copy, 120 bytes a znode if kept.
        self._acls = {}
        root = Node(_EMPTY, open_acl, 0, 0, 0)
        # "" is the root's parent name in ZooKeeper's path arithmetic.
        self.nodes["/"] = root
        self.nodes[""] = root
        self._add_special(self.ZOOKEEPER, open_acl)
        self._add_special(self.QUOTA, open_acl)
        # ZooKeeper makes /zookeeper/config world-readable only, with aversion -1.
        config = self._add_special(self.CONFIG, ((1, "world", "anyone"),))
        config.aversion = -1
        self._counted = None
        self._data_size = 0
        self._below = {}
        self._recount()

    def set_config(self, data: bytes, config_version: int, now_ms: int) -> None:
        """What an ensemble member puts in /zookeeper/config at the start of
        each role, outside any txn (ZooKeeper's initConfigInZKDatabase: its
        setData with version -1 leaves the Stat's version at -1, the mzxid
        at the config's version and the mtime at the local clock)."""
        node = self.nodes[self.CONFIG]
        old = node.data
        self._data_size += len(data) - (len(old) if old else 0)
        node.data = data
        node.version = -1
        node.mzxid = config_version
        node.mtime = now_ms
        if self.metrics is not None:
            # DataTree.setData counts it as a write to the "zookeeper" namespace.
            self.metrics.write_ns(self.CONFIG, len(data))

    def _add_special(self, path, acl):
        parent_name, name = parent_of(path)
        parent = self.nodes[parent_name or "/"]
        node = Node(_EMPTY, acl, 0, 0, 0)
        add_child(parent, name)
        self.nodes[path] = node
        return node

    # --- reads -------------------------------------------------------------
    def get(self, path: str):
        return self.nodes.get(path)

    def node_count(self) -> int:
        # ZooKeeper counts the root twice (it is stored under "" and "/"), and so
        # do its srvr/mntr outputs; we report the same number.
        return len(self.nodes)

    def approximate_data_size(self) -> int:
        """Sum of path lengths and data lengths over ``nodes`` (mntr's figure)."""
        if self.nodes is not self._counted:
            self._recount()
        return self._data_size

    def all_children_number(self, path: str) -> int:
        """Number of znodes below ``path`` (getAllChildrenNumber)."""
        if self.nodes is not self._counted:
            self._recount()
        if path == "/":
            return len(self.nodes) - 2  # all but the root, which is stored twice
        if path == "":
            return len(self.nodes) - 1  # every key that starts with "/"
        return self._below.get(path, 0)

    # --- running totals --------------------------------------------------------
    # --- quotas (see quota.py) --------------------------------------------------------
    def _quota_add(self, path, bytes_diff, count_diff):
        """DataTree.updateQuotaStat for the deepest quota root above ``path``."""
        prefix = quota.max_prefix(self.quota_roots, path)
        if prefix is None:
            return
        node = self.nodes.get(quota.stat_path(prefix))
        if node is None:
            return   # ZooKeeper: "Missing node for stat"
        stats = quota.parse(node.data)
        stats["count"] = stats.get("count", -1) + count_diff
        stats["bytes"] = stats.get("bytes", -1) + bytes_diff
        self._set_stat_data(node, quota.format_stats(stats))

    def _refresh_quota(self, prefix):
        """DataTree.updateQuotaForPath: the stats node gets the subtree's real
        count and bytes (the root of the quota included)."""
        node = self.nodes.get(quota.stat_path(prefix))
        if node is None:
            return
        count = nbytes = 0
        nodes = self.nodes
        stack = [prefix]
        while stack:
            p = stack.pop()
            n = nodes.get(p)
            if n is None:
                continue
            count += 1
            nbytes += len(n.data) if n.data else 0
            stack.extend(p + "/" + c for c in n.children)
        self._set_stat_data(node, quota.format_stats({"count": count, "bytes": nbytes}))

    def _set_stat_data(self, node, data):
        # In place, as ZooKeeper does: no version, no mzxid.
        self._data_size += len(data) - (len(node.data) if node.data else 0)
        node.data = data

    def _setup_quotas(self):
        """DataTree.setupQuota after a snapshot load: every zookeeper_limits
        leaf under /zookeeper/quota makes a quota root with fresh stats."""
        self.quota_roots = set()
        root = quota.QUOTA_ROOT
        suffix = "/" + quota.LIMIT_NODE
        for p, n in list(self.nodes.items()):
            if p.startswith(root + "/") and p.endswith(suffix) and not n.children:
                prefix = p[len(root):p.index(suffix)]
                self._refresh_quota(prefix)
                self.quota_roots.add(prefix)

    def _recount(self):
        """Recompute the running totals from ``nodes`` (after a snapshot load)."""
        nodes = self.nodes
        self._counted = nodes
        self._setup_quotas()
        self._data_size = (sum(map(len, nodes))
                           + sum(map(len, filter(None, map(_data_of, nodes.values())))))
        # Each key counts under its parent's path; then, deepest first, every
        # prefix's count is added to its own parent's (the root's is not kept).
        below = Counter([p[:p.rfind("/")] for p in nodes if len(p) > 1])
        below.pop("", None)
        by_depth = {}
        for prefix in below:
            by_depth.setdefault(prefix.count("/"), []).append(prefix)
        for depth in range(max(by_depth, default=0), 1, -1):
            for prefix in by_depth.get(depth, ()):
                parent = prefix[:prefix.rfind("/")]
                if parent not in below:
                    by_depth.setdefault(depth - 1, []).append(parent)
                below[parent] += below[prefix]
        self._below = dict(below)

    def _count_below(self, path, delta):
        """Add ``delta`` to the count of every ancestor of ``path`` but the root
        (whose count is len(nodes) - 2, not kept)."""
        below = self._below
        i = path.rfind("/")
        while i > 0:
            prefix = path[:i]
            n = below.get(prefix, 0) + delta
            if n:
                below[prefix] = n
            else:
                del below[prefix]
            i = path.rfind("/", 0, i)

    # --- the one way to change the tree --------------------------------------
    def apply(self, hdr, txn) -> TxnResult:
        """Apply one committed txn.  ``hdr`` has clientId, cxid, zxid, time, type."""
        if self.nodes is not self._counted:
            self._recount()  # a tree fresh from a snapshot: counted before it changes
        rc = TxnResult(hdr.type, hdr.zxid)
        if self.gone_acls:
            self.gone_acls.clear()
        try:
            self._apply(hdr.type, hdr.clientId, hdr.zxid, hdr.time, txn, rc)
        except TreeError as e:
            if self.strict:
                raise
            rc.err = e.code
        if hdr.zxid > self.last_zxid:
            self.last_zxid = hdr.zxid
        return rc

    def _apply(self, type_, client_id, zxid, time_ms, txn, rc):
        if type_ in (OpCode.create, OpCode.create2):
            rc.path = txn.path
            owner = client_id if txn.ephemeral else 0
            rc.stat = self.create_node(txn.path, txn.data, txn.acl, owner, txn.parentCVersion,
                                       zxid, time_ms, rc.triggers)
        elif type_ == OpCode.createContainer:
            rc.path = txn.path
            rc.stat = self.create_node(txn.path, txn.data, txn.acl, CONTAINER_EPHEMERAL_OWNER,
                                       txn.parentCVersion, zxid, time_ms, rc.triggers)
        elif type_ == OpCode.createTTL:
            rc.path = txn.path
            owner = TTL_EPHEMERAL_OWNER_TAG | txn.ttl
            owner -= 1 << 64  # as a signed long
            rc.stat = self.create_node(txn.path, txn.data, txn.acl, owner,
                                       txn.parentCVersion, zxid, time_ms, rc.triggers)
        elif type_ in (OpCode.delete, OpCode.deleteContainer):
            rc.path = txn.path
            self.delete_node(txn.path, zxid, rc.triggers)
        elif type_ == OpCode.setData or type_ == OpCode.reconfig:
            # A reconfig is a SetDataTxn of /zookeeper/config (DataTree.processTxn).
            rc.path = txn.path
            rc.stat = self.set_data(txn.path, txn.data, txn.version, zxid, time_ms, rc.triggers)
        elif type_ == OpCode.setACL:
            rc.path = txn.path
            rc.stat = self.set_acl(txn.path, txn.acl, txn.version)
        elif type_ == OpCode.closeSession:
            self.kill_session(client_id, zxid, txn.paths2Delete if txn is not None else None,
                              rc.triggers)
        elif type_ == OpCode.error:
            rc.err = txn.err
        elif type_ == OpCode.check:
            rc.path = txn.path
        elif type_ == OpCode.multi:
            self._apply_multi(client_id, zxid, time_ms, txn, rc)
        elif type_ == OpCode.createSession:
            pass  # sessions live in the session table, not the tree
        else:
            raise TreeError(Err.UNIMPLEMENTED)

    def _apply_multi(self, client_id, zxid, time_ms, subtxns, rc):
        """``subtxns``: list of (type, record).  As in ZooKeeper, if any op failed
        in prep, the ops before it report OK and those after it
        RUNTIMEINCONSISTENCY, and nothing is applied."""
        failed = any(t == OpCode.error for t, _ in subtxns)
        rc.multi = []
        post_failed = False
        for type_, record in subtxns:
            if type_ == OpCode.error:
                post_failed = True
                err = record.err
            elif failed:
                err = Err.RUNTIMEINCONSISTENCY if post_failed else Err.OK
            else:
                err = None
            sub = TxnResult(type_ if err is None else OpCode.error, zxid)
            if err is None:
                try:
                    self._apply(type_, client_id, zxid, time_ms, record, sub)
                except TreeError as e:
                    if self.strict:
                        raise
                    sub.err = e.code
            else:
                sub.err = err
            rc.triggers.extend(sub.triggers)
            sub.triggers = None
            rc.multi.append(sub)
            if sub.err and not rc.err:
                rc.err = sub.err

    # --- primitive changes ------------------------------------------------------
    def _intern_acl(self, acl):
        if type(acl) is not tuple:
            return acl
        acls = self._acls
        shared = acls.get(acl)
        if shared is not None:
            return shared
        if len(acls) >= MAX_INTERNED_ACLS:
            acls.clear()  # a bound, not a cache policy: nodes keep what they have
        acls[acl] = acl
        return acl

    def create_node(self, path, data, acl, owner, parent_cversion, zxid, time_ms, triggers):
        parent_name, child_name = parent_of(path)
        parent = self.nodes.get(parent_name)
        if parent is None:
            raise TreeError(Err.NONODE)
        if path in self.nodes:
            # Replay over a fuzzy snapshot: keep cversion/pzxid moving forward.
            if parent_cversion > parent.cversion:
                parent.cversion = parent_cversion
                parent.pzxid = zxid
            raise TreeError(Err.NODEEXISTS)
        if parent_cversion == -1:
            parent_cversion = parent.cversion + 1
        if parent_cversion > parent.cversion:
            parent.cversion = parent_cversion
            parent.pzxid = zxid
        node = Node(data, self._intern_acl(acl), zxid, time_ms, owner)
        add_child(parent, child_name)
        self.nodes[path] = node
        self._data_size += len(path) + (len(data) if data else 0)
        self._count_below(path, 1)
        if owner:
            kind = ephemeral_kind(owner)
            if kind == "normal":
                mine = self.ephemerals.setdefault(owner, {})
                mine[path] = javaorder.string_hash(path)
                if len(mine) > self.ephemeral_peak.get(owner, 0):
                    self.ephemeral_peak[owner] = len(mine)
            elif kind == "container":
                self.containers.add(path)
            elif kind == "ttl":
                self.ttls.add(path)
        if parent_name.startswith(quota.QUOTA_ROOT):
            if child_name == quota.LIMIT_NODE:
                self.quota_roots.add(parent_name[len(quota.QUOTA_ROOT):])
            elif child_name == quota.STAT_NODE:
                self._refresh_quota(parent_name[len(quota.QUOTA_ROOT):])
        if self.quota_roots:
            self._quota_add(path, len(data) if data else 0, 1)
        if self.metrics is not None:
            self.metrics.write_ns(path, len(data) if data else 0)
        triggers.append((EventType.NodeCreated, path))
        triggers.append((EventType.NodeChildrenChanged, parent_name or "/"))
        return node.stat()

    def delete_node(self, path, zxid, triggers):
        parent_name, child_name = parent_of(path)
        parent = self.nodes.get(parent_name)
        if parent is None:
            raise TreeError(Err.NONODE)
        kids = parent.children
        if child_name in kids:
            if len(kids) == 1:
                parent.children = NO_CHILDREN
            else:
                del kids[child_name]
        if zxid > parent.pzxid:
            parent.pzxid = zxid
        node = self.nodes.pop(path, None)
        if node is None:
            raise TreeError(Err.NONODE)
        self.gone_acls[path] = node.acl
        data = node.data
        self._data_size -= len(path) + (len(data) if data else 0)
        self._count_below(path, -1)
        owner = node.ephemeralOwner
        if owner:
            kind = ephemeral_kind(owner)
            if kind == "normal":
                paths = self.ephemerals.get(owner)
                if paths is not None:
                    paths.pop(path, None)
                    if not paths:
                        del self.ephemerals[owner]
            elif kind == "container":
                self.containers.discard(path)
            elif kind == "ttl":
                self.ttls.discard(path)
        if child_name == quota.LIMIT_NODE and parent_name.startswith(quota.QUOTA_ROOT):
            self.quota_roots.discard(parent_name[len(quota.QUOTA_ROOT):])
        if self.quota_roots:
            self._quota_add(path, -(len(data) if data else 0), -1)
        if self.metrics is not None:
            self.metrics.write_ns(path, 0)
        triggers.append((EventType.NodeDeleted, path))
        triggers.append((EventType.NodeChildrenChanged, parent_name or "/"))

    def set_data(self, path, data, version, zxid, time_ms, triggers):
        node = self.nodes.get(path)
        if node is None:
            raise TreeError(Err.NONODE)
        delta = (len(data) if data else 0) - (len(node.data) if node.data else 0)
        if path == "/" or not path:
            delta *= 2  # the root is stored under "" and "/"
        self._data_size += delta
        if self.quota_roots:
            self._quota_add(path, (len(data) if data else 0) - (len(node.data) if node.data else 0), 0)
        node.data = data
        node.mtime = time_ms
        node.mzxid = zxid
        node.version = version
        if self.metrics is not None:
            self.metrics.write_ns(path, len(data) if data else 0)
        triggers.append((EventType.NodeDataChanged, path))
        return node.stat()

    def set_acl(self, path, acl, version):
        node = self.nodes.get(path)
        if node is None:
            raise TreeError(Err.NONODE)
        node.acl = self._intern_acl(acl)
        node.aversion = version
        return node.stat()

    def kill_session(self, session_id, zxid, paths, triggers):
        local = self.ephemerals.pop(session_id, {})
        self.ephemeral_peak.pop(session_id, None)
        # The txn's list first, then whatever the session still owns that the
        # list missed (a list logged before a create was applied, or no list).
        order = list(paths) if paths is not None else []
        listed = set(order)
        order.extend(p for p in local if p not in listed)
        for path in order:
            try:
                self.delete_node(path, zxid, triggers)
            except TreeError:
                pass  # already gone (ZooKeeper logs and ignores this too)
        self.ephemerals.pop(session_id, None)

    def session_ephemerals(self, session_id) -> list:
        """A session's ephemerals in the order ZooKeeper lists them."""
        return list(self.session_ephemeral_hashes(session_id))

    def session_ephemeral_hashes(self, session_id) -> dict:
        """A new dict of a session's ephemerals in the order ZooKeeper lists
        them, each path mapped to its Java hashCode."""
        mine = self.ephemerals.get(session_id)
        if not mine:
            return {}
        paths = list(mine)
        hashes = list(mine.values())
        if None in hashes:  # loaded from a snapshot: hash once, then keep it
            string_hash = javaorder.string_hash
            for i, h in enumerate(hashes):
                if h is None:
                    hashes[i] = mine[paths[i]] = string_hash(paths[i])
        order = javaorder.clone_order_indices(hashes, self.ephemeral_peak.get(session_id, len(paths)))
        return {paths[i]: hashes[i] for i in order}
