"""The leader-only half of the core: it decides what the next txns are.

Theory of operation
-------------------
ZooKeeper splits a server's request path in two.  Every server runs a *front
end* (``frontend.ServerCore``): connections, the per-session FIFO, local reads,
watches, and, when a txn commits, answering the request that waited for it.
Only the leader (standalone: the one server) runs the *proposer*: it preps a
write against the tree plus every change not yet committed, gives it the next
zxid, and hands the txn to the replicator; it alone decides that a session has
expired.  A follower puts a forwarder with the same four calls in its place
(REQUEST packets to the leader) and never preps.

The calls a front end makes:

* ``create_session(session_id, timeout_ms, now_ms)``;
* ``write(session_id, cxid, op, request, ids, now_ms)`` (a decoded write;
  ``ids`` are the connection's auth identities, used for ACL checks);
* ``reject(session_id, cxid, err, now_ms)``: an error txn for a request that
  never reached prep (a record that did not parse), which still spends a zxid;
* ``close_session(session_id, cxid, now_ms)``;

and, for every txn the front end applies, ``committed(hdr)`` (prep forgets
the change it was holding).  ``tick(now_ms)`` proposes a closeSession for each
session past its deadline, and a deleteContainer for each container or TTL
node the reaper (``reaper.Reaper``, ZooKeeper's ContainerManager) finds.  The front end matches a committed txn to its
request by (session id, cxid), never by zxid, so it does not care who
proposed it.
"""
from __future__ import annotations

from .prep import Prep


class Proposer:
    def __init__(self, tree, auth, sessions, replicator, extended_types=False,
                 reconfig_enabled=False, reaper=None):
        self.prep = Prep(tree, auth, extended_types)
        self.prep.reconfig_enabled = reconfig_enabled
        self.sessions = sessions
        self.replicator = replicator
        #: reaper.Reaper, or None: containers and TTL nodes are then never reaped.
        self.reaper = reaper

    def create_session(self, session_id: int, timeout_ms: int, now_ms: int) -> None:
        self.replicator.propose(*self.prep.prep_create_session(session_id, timeout_ms, now_ms))

    def write(self, session_id: int, cxid: int, op: int, request, ids, now_ms: int) -> None:
        self.replicator.propose(*self.prep.prep(session_id, cxid, op, request, ids, now_ms))

    def reject(self, session_id: int, cxid: int, err: int, now_ms: int) -> None:
        self.replicator.propose(*self.prep.prep_error(session_id, cxid, err, now_ms))

    def close_session(self, session_id: int, cxid: int, now_ms: int) -> None:
        self.sessions.mark_closing(session_id)
        self.replicator.propose(*self.prep.prep_close_session(session_id, now_ms, cxid))

    def committed(self, hdr) -> None:
        self.prep.committed(hdr.zxid)

    def tick(self, now_ms: int) -> None:
        """Expire sessions whose deadline has passed (as closeSession txns),
        and delete the containers and TTL nodes whose time has come."""
        for s in self.sessions.expired(now_ms):
            s.closing = True
            self.replicator.propose(*self.prep.prep_close_session(s.session_id, now_ms))
        if self.reaper is not None:
            for path in self.reaper.due(now_ms):
                self.replicator.propose(*self.prep.prep_delete_container(path, now_ms))

    def sync_barrier(self):
        """The last zxid committed and not yet applied here, or None: a sync
        answered here must wait for it (a leader applies a committed txn only
        once its own log holds it; its followers may have applied it)."""
        barrier = getattr(self.replicator, "unapplied_commit_zxid", None)
        return barrier() if barrier is not None else None

    def next_tick_ms(self):
        """When the reaper next wants a tick (None: it does not)."""
        return None if self.reaper is None else self.reaper.next_ms
