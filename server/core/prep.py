"""Prep: turn a write request into a txn, validated against the future.

Theory of operation
-------------------
Writes are validated when they arrive, but earlier writes may not have been
committed yet (they are waiting for the disk, or for a quorum).  So, like
ZooKeeper's PrepRequestProcessor, prep keeps *outstanding change records*: for
every path touched by a txn that is proposed but not yet applied, the state the
node will have once it is (exists?, versions, child count, ACL, owner).  A new
request is checked against the newest such record, falling back to the tree.
``committed(zxid)`` forgets records that the tree now reflects.

Every write gets a zxid here, even one that fails: as in ZooKeeper, a failed
write becomes an error txn that is logged, consumes its zxid, and carries the
error code back to the client through the ordinary commit path.  A multi gets
one zxid for all its ops; if one op fails, the records of the ops before it are
rolled back and the txn lists ErrorTxn entries as ZooKeeper does.

Prep reads no clock: the caller passes ``now_ms``, which becomes the txn time.
"""
from __future__ import annotations

from types import SimpleNamespace as Rec

from zkwire.consts import CreateMode, Err, OpCode, Perms, TTL_EPHEMERAL_OWNER_TAG, MAX_TTL_MS, CONTAINER_EPHEMERAL_OWNER
from . import quota
from .acl import InvalidACL, NoAuth
from .javaorder import clone_capacity, order_indices, string_hash, table_capacity
from .paths import invalid_path_reason, is_special_path
from .tree import DataTree, ephemeral_kind


class KeeperError(Exception):
    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class ChangeRecord:
    """What a node will look like once all outstanding txns are applied.
    ``exists`` False means the pending change deletes it."""

    __slots__ = ("zxid", "path", "exists", "version", "cversion", "aversion",
                 "ephemeralOwner", "child_count", "acl", "data_len")

    def duplicate(self, zxid):
        c = _new_record(ChangeRecord)
        c.zxid = zxid
        c.path = self.path
        c.exists = self.exists
        c.version = self.version
        c.cversion = self.cversion
        c.aversion = self.aversion
        c.ephemeralOwner = self.ephemeralOwner
        c.child_count = self.child_count
        c.acl = self.acl
        c.data_len = self.data_len
        return c


_new_record = object.__new__


def _record_from_node(path, node) -> ChangeRecord:
    c = ChangeRecord()
    c.zxid = -1
    c.path = path
    c.exists = True
    c.version = node.version
    c.cversion = node.cversion
    c.aversion = node.aversion
    c.ephemeralOwner = node.ephemeralOwner
    c.child_count = len(node.children)
    c.acl = node.acl
    c.data_len = len(node.data) if node.data else 0
    return c


def _next_version(current: int, expected: int, _path=None) -> int:
    if expected != -1 and expected != current:
        raise KeeperError(Err.BADVERSION)
    # A Java int: MAX_VALUE + 1 wraps to MIN_VALUE (3.9 behaviour).
    return current + 1 if current != 0x7FFFFFFF else -0x80000000


def acl_tuples(acl) -> tuple | None:
    """Wire ACL records -> the server's (perms, scheme, id) triples."""
    if acl is None:
        return None
    if len(acl) == 1:
        a = acl[0]
        i = a.id
        return ((a.perms, i.scheme, i.id),)
    return tuple([(a.perms, a.id.scheme, a.id.id) for a in acl])


class Prep:
    def __init__(self, tree: DataTree, auth, extended_types: bool = False):
        self.tree = tree
        self.auth = auth
        self.extended_types = extended_types
        #: zookeeper.enforceQuota: hard quota limits refuse writes.
        self.enforce_quota = False
        #: metrics.Metrics, or None: QUOTAEXCEEDED is counted per namespace.
        self.metrics = None
        #: reconfigEnabled; a standalone server cannot reconfigure either way.
        self.reconfig_enabled = False
        #: The ensemble's leader, which turns a reconfig request into the new
        #: config text (``prep_reconfig(request, zxid) -> bytes``, raising
        #: KeeperError); None on a standalone server.
        self.reconfigurer = None
        self.last_zxid = tree.last_zxid
        self.outstanding = []          # ChangeRecords in zxid order
        self.by_path = {}              # path -> newest ChangeRecord
        self._fixed_acls = {}          # wire ACL -> fixed-up ACL (no "auth" entries)

    # --- zxids ---------------------------------------------------------------
    def next_zxid(self) -> int:
        self.last_zxid += 1
        return self.last_zxid

    # --- outstanding change records ----------------------------------------
    def _record(self, path) -> ChangeRecord:
        c = self.by_path.get(path)
        if c is None:
            node = self.tree.nodes.get(path)
            if node is not None:
                return _record_from_node(path, node)
            raise KeeperError(Err.NONODE)
        if not c.exists:
            raise KeeperError(Err.NONODE)
        return c

    def _changing(self, path, zxid) -> ChangeRecord:
        """A record of ``path`` to change for txn ``zxid`` and then ``_add``:
        a copy of the newest outstanding record, or a fresh one from the tree."""
        c = self._record(path)
        if c.zxid == -1:  # fresh from the tree, nobody else holds it
            c.zxid = zxid
            return c
        return c.duplicate(zxid)

    def _add(self, c: ChangeRecord) -> None:
        self.outstanding.append(c)
        self.by_path[c.path] = c

    def committed(self, zxid: int) -> None:
        """The tree now reflects every txn up to ``zxid``."""
        out = self.outstanding
        i = 0
        while i < len(out) and out[i].zxid <= zxid:
            c = out[i]
            if self.by_path.get(c.path) is c:
                del self.by_path[c.path]
            i += 1
        if i:
            del out[:i]

    def _rollback(self, zxid: int, saved: dict) -> None:
        out = self.outstanding
        while out and out[-1].zxid == zxid:
            c = out.pop()
            self.by_path.pop(c.path, None)
        if not out:
            return
        first = out[0].zxid
        for path, c in saved.items():
            if c.zxid >= first:
                self.by_path[path] = c

    # --- the entry point -----------------------------------------------------
    def prep(self, session_id: int, cxid: int, op: int, request, ids, now_ms: int):
        """Return ``(hdr, txn)`` for a write; errors become error txns."""
        zxid = self.next_zxid()
        hdr = Rec(clientId=session_id, cxid=cxid, zxid=zxid, time=now_ms, type=op)
        if op == OpCode.multi:
            if not _well_formed_multi(request):
                # ZooKeeper fails the whole request as MARSHALLINGERROR (its
                # MultiOperationRecord refuses to mix reads into writes).
                hdr.type = OpCode.error
                return hdr, Rec(err=Err.MARSHALLINGERROR)
            return hdr, self._prep_multi(hdr, request, ids)
        try:
            if op == OpCode.createSession or getattr(request, "path", "") is None:
                # A null path, or a createSession after the handshake: ZooKeeper
                # answers MARSHALLINGERROR, and the zxid is spent all the same.
                raise KeeperError(Err.MARSHALLINGERROR)
            txn = self._prep_one(op, hdr, request, ids, session_id)
        except KeeperError as e:
            hdr.type = OpCode.error
            txn = Rec(err=e.code)
        return hdr, txn

    def prep_error(self, session_id: int, cxid: int, err: int, now_ms: int):
        """An error txn for a request refused before prep looks at it (a
        record that does not parse): it spends a zxid, as in ZooKeeper."""
        hdr = Rec(clientId=session_id, cxid=cxid, zxid=self.next_zxid(), time=now_ms,
                  type=OpCode.error)
        return hdr, Rec(err=err)

    def prep_create_session(self, session_id, timeout_ms, now_ms):
        hdr = Rec(clientId=session_id, cxid=0, zxid=self.next_zxid(), time=now_ms,
                  type=OpCode.createSession)
        return hdr, Rec(timeOut=timeout_ms)

    def prep_close_session(self, session_id, now_ms, cxid=0):
        """``cxid``: the client's xid when it asked; 0 for an expiry (as ZooKeeper logs it)."""
        hdr = Rec(clientId=session_id, cxid=cxid, zxid=self.next_zxid(), time=now_ms,
                  type=OpCode.closeSession)
        # ZooKeeper walks a clone of the session's HashSet, adjusted for pending
        # changes; its order becomes the deletion order (and so the event order).
        # The tree hands over each path's hash; only pending creates need one.
        hashed = self.tree.session_ephemeral_hashes(session_id)
        capacity = clone_capacity(len(hashed))
        for c in self.outstanding:
            if not c.exists:
                hashed.pop(c.path, None)
            elif c.ephemeralOwner == session_id:
                hashed.setdefault(c.path, None)
                capacity = max(capacity, table_capacity(len(hashed), capacity))
        listed = list(hashed)
        hashes = [h if h is not None else string_hash(p) for p, h in hashed.items()]
        paths = dict.fromkeys(listed[i] for i in order_indices(hashes, capacity))
        for path in paths:
            r = ChangeRecord()
            r.zxid = hdr.zxid
            r.path = path
            r.exists = False
            r.version = r.cversion = r.aversion = r.child_count = 0
            r.ephemeralOwner = 0
            r.acl = None
            r.data_len = 0
            self._add(r)
        return hdr, Rec(paths2Delete=list(paths))

    def prep_delete_container(self, path, now_ms):
        """The reaper's deleteContainer (opcode 20): session 0, cxid 0, a
        DeleteTxn body, no ACL check (PrepRequestProcessor's branch for it).
        A node that no longer qualifies makes an error txn."""
        hdr = Rec(clientId=0, cxid=0, zxid=self.next_zxid(), time=now_ms,
                  type=OpCode.deleteContainer)
        try:
            i = path.rfind("/")
            if i == -1 or "\0" in path or is_special_path(path):
                raise KeeperError(Err.BADARGUMENTS)
            gone = self._changing(path, hdr.zxid)
            if gone.child_count > 0:
                raise KeeperError(Err.NOTEMPTY)
            if ephemeral_kind(gone.ephemeralOwner) == "normal":
                raise KeeperError(Err.BADVERSION)   # as ZooKeeper answers it
            parent = self._changing(path[:i], hdr.zxid)
            parent.child_count -= 1
            self._add(parent)
            gone.exists = False
            self._add(gone)
        except KeeperError as e:
            hdr.type = OpCode.error
            return hdr, Rec(err=e.code)
        return hdr, Rec(path=path)

    def _prep_multi(self, hdr, ops, ids):
        saved = {}
        for _, req in ops:
            path = getattr(req, "path", None)
            if path is None:
                continue
            c = self.by_path.get(path)
            if c is not None:
                saved[path] = c
            i = path.rfind("/")
            if i != -1 and "\0" not in path:
                pc = self.by_path.get(path[:i])
                if pc is not None:
                    saved[path[:i]] = pc
        txns = []
        failed = False
        for op, req in ops:
            if failed:
                txns.append((OpCode.error, Rec(err=Err.RUNTIMEINCONSISTENCY)))
                continue
            try:
                txns.append((op, self._prep_one(op, hdr, req, ids, hdr.clientId)))
            except KeeperError as e:
                failed = True
                txns.append((OpCode.error, Rec(err=e.code)))
                self._rollback(hdr.zxid, saved)
        return txns

    def _prep_one(self, op, hdr, req, ids, session_id):
        if op in (OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL):
            return self._prep_create(op, hdr, req, ids, session_id)
        if op == OpCode.delete:
            return self._prep_delete(hdr, req, ids)
        if op == OpCode.setData:
            path = req.path
            _validate(path)
            c = self._changing(path, hdr.zxid)
            self._check(c.acl, Perms.WRITE, ids)
            new_len = len(req.data) if req.data else 0
            if self.enforce_quota and self.tree.quota_roots:
                self._check_quota(path, new_len - c.data_len, 0)
            c.version = version = _next_version(c.version, req.version)
            c.data_len = new_len
            self._add(c)
            return Rec(path=path, data=req.data, version=version)
        if op == OpCode.setACL:
            path = req.path
            _validate(path)
            acl = self._fixup(acl_tuples(req.acl), ids)
            c = self._changing(path, hdr.zxid)
            self._check(c.acl, Perms.ADMIN, ids)
            c.aversion = version = _next_version(c.aversion, req.version)
            c.acl = acl
            self._add(c)
            return Rec(path=path, acl=acl, version=version)
        if op == OpCode.reconfig:
            return self._prep_reconfig(hdr, req, ids)
        if op == OpCode.check:
            path = req.path
            _validate(path)
            c = self._record(path)
            self._check(c.acl, Perms.READ, ids)
            return Rec(path=path, version=_next_version(c.version, req.version))
        raise KeeperError(Err.UNIMPLEMENTED)

    def _prep_reconfig(self, hdr, req, ids):
        """As ZooKeeper's PrepRequestProcessor: RECONFIGDISABLED unless
        reconfigEnabled; UNIMPLEMENTED standalone (no quorum to reconfigure);
        then the leader's checks of the request (in progress, version,
        arguments, a synced quorum in the new config) and only then the ACL
        of /zookeeper/config (world-readable: only a super user passes).
        The txn is a SetDataTxn of the new config text, version -1."""
        if not self.reconfig_enabled:
            raise KeeperError(Err.RECONFIGDISABLED)
        if self.reconfigurer is None:
            raise KeeperError(Err.UNIMPLEMENTED)
        data = self.reconfigurer.prep_reconfig(req, hdr.zxid)
        path = DataTree.CONFIG
        c = self._changing(path, hdr.zxid)
        self._check(c.acl, Perms.WRITE, ids)
        c.version = -1
        self._add(c)
        return Rec(path=path, data=data, version=-1)

    def _prep_create(self, op, hdr, req, ids, session_id):
        flags = req.flags
        if flags not in CreateMode.VALID:
            raise KeeperError(Err.BADARGUMENTS)
        path = req.path
        ttl = getattr(req, "ttl", -1) if op == OpCode.createTTL else -1
        is_ttl = flags in CreateMode.TTL_MODES
        # CreateMode must agree with the opcode, as ZooKeeper's clients ensure.
        if is_ttl and not self.extended_types:
            raise KeeperError(Err.UNIMPLEMENTED)
        if (is_ttl and not (0 < ttl <= MAX_TTL_MS)) or (not is_ttl and ttl >= 0):
            raise KeeperError(Err.BADARGUMENTS)
        # The txn kind follows the opcode, as in ZooKeeper.
        is_container = op == OpCode.createContainer
        is_ttl = op == OpCode.createTTL
        i = path.rfind("/")
        if i == -1 or "\0" in path:
            raise KeeperError(Err.BADARGUMENTS)
        parent_path = path[:i]
        acl = self._fixup(acl_tuples(req.acl), ids)
        parent = self._changing(parent_path, hdr.zxid)
        self._check(parent.acl, Perms.CREATE, ids)
        if flags in CreateMode.SEQUENTIAL:
            path = "%s%010d" % (path, parent.cversion)
        _validate(path)
        c = self.by_path.get(path)
        if (c is not None and c.exists) or (c is None and path in self.tree.nodes):
            raise KeeperError(Err.NODEEXISTS)
        if ephemeral_kind(parent.ephemeralOwner) == "normal":
            raise KeeperError(Err.NOCHILDRENFOREPHEMERALS)
        new_cversion = parent.cversion + 1
        if self.enforce_quota and self.tree.quota_roots:
            self._check_quota(path, len(req.data) if req.data else 0, 1)
        if is_container:
            owner = CONTAINER_EPHEMERAL_OWNER
            txn = Rec(path=path, data=req.data, acl=acl, parentCVersion=new_cversion)
        elif is_ttl:
            owner = (TTL_EPHEMERAL_OWNER_TAG | ttl) - (1 << 64)
            txn = Rec(path=path, data=req.data, acl=acl, parentCVersion=new_cversion, ttl=ttl)
        else:
            ephemeral = flags in CreateMode.EPHEMERAL_MODES
            owner = session_id if ephemeral else 0
            txn = Rec(path=path, data=req.data, acl=acl, ephemeral=ephemeral,
                      parentCVersion=new_cversion)
        parent.child_count += 1
        parent.cversion = new_cversion
        self._add(parent)
        node = _new_record(ChangeRecord)
        node.zxid = hdr.zxid
        node.path = path
        node.exists = True
        node.version = node.cversion = node.aversion = node.child_count = 0
        node.ephemeralOwner = owner
        node.acl = acl
        node.data_len = len(req.data) if req.data else 0
        self._add(node)
        return txn

    def _prep_delete(self, hdr, req, ids):
        path = req.path
        i = path.rfind("/")
        if i == -1 or "\0" in path or is_special_path(path):
            raise KeeperError(Err.BADARGUMENTS)
        parent = self._changing(path[:i], hdr.zxid)
        self._check(parent.acl, Perms.DELETE, ids)
        gone = self._changing(path, hdr.zxid)
        _next_version(gone.version, req.version)
        if gone.child_count > 0:
            raise KeeperError(Err.NOTEMPTY)
        parent.child_count -= 1
        self._add(parent)
        gone.exists = False
        self._add(gone)
        return Rec(path=path)

    # --- helpers ------------------------------------------------------------
    def _check_quota(self, path, bytes_diff, count_diff):
        """ZooKeeperServer.checkQuota (zookeeper.enforceQuota=true): against
        the committed stats, as ZooKeeper reads them."""
        tree = self.tree
        prefix = quota.max_prefix(tree.quota_roots, path)
        if prefix is None:
            return
        limits = tree.nodes.get(quota.limit_path(prefix))
        stats = tree.nodes.get(quota.stat_path(prefix))
        if limits is None or stats is None:
            return
        over = quota.exceeds(quota.parse(limits.data), quota.parse(stats.data), bytes_diff, count_diff)
        if over is not None:
            quota.warn(prefix, over)
            if over[0] == "hard":
                if self.metrics is not None:
                    ns = path[1:].split("/", 1)[0]
                    if ns:
                        self.metrics.count_in_set("quota_exceeded_error_per_namespace", ns)
                raise KeeperError(Err.QUOTAEXCEEDED)

    def _check(self, acl, perm, ids):
        try:
            self.auth.check(acl, perm, ids)
        except NoAuth:
            raise KeeperError(Err.NOAUTH) from None

    def _fixup(self, acl, ids):
        # Most creates carry one of a few ACLs: remember the checked result of
        # those that do not depend on who asks (no "auth" entries).
        fixed = self._fixed_acls.get(acl) if type(acl) is tuple else None
        if fixed is not None:
            return fixed
        try:
            fixed = self.auth.fixup(acl, ids)
        except InvalidACL:
            raise KeeperError(Err.INVALIDACL) from None
        if type(acl) is tuple and all(scheme != "auth" for _, scheme, _ in acl):
            if len(self._fixed_acls) >= 1024:
                self._fixed_acls.clear()
            self._fixed_acls[acl] = fixed
        return fixed


_MULTI_WRITE_OPS = frozenset((
    OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL,
    OpCode.delete, OpCode.setData, OpCode.check,
))


def _well_formed_multi(ops) -> bool:
    return all(op in _MULTI_WRITE_OPS and getattr(req, "path", "") is not None for op, req in ops)


def _validate(path):
    if invalid_path_reason(path) is not None:
        raise KeeperError(Err.BADARGUMENTS)
