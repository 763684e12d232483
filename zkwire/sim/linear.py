"""A checker for client histories: linearizable writes, ZooKeeper-ordered reads.

Theory of operation
-------------------
A history is a list of events, one per invocation and one per completion::

    {"process": 3, "type": "invoke", "f": "cas", "key": "/reg/0", "value": ["a", "b"],
     "time_ns": ...}
    {"process": 3, "type": "ok",     "f": "cas", "key": "/reg/0", "value": ["a", "b"], ...}

``type`` is ``invoke``, then ``ok`` (it happened, with that result), ``fail``
(it certainly did not happen: a BadVersion, a NoNode) or ``info`` (nobody
knows: a timeout, a lost connection; it may take effect at any later time, or
never).  A process has at most one operation outstanding; a client that saw
``info`` goes on as a new process, since its old operation may still happen.
An invocation with no completion by the end counts as ``info``.  A process
that pipelines requests (ZooKeeper runs a session's requests in order) gives
each an ``id`` to pair its invocation and completion; its program order is
the order of invocation.

Operations, per key (``f``):

* ``read`` -> the value read (``None``: no such node); ``write`` v; ``cas``
  [expected, new] (ZooKeeper's setData with the version read before, on a
  register whose values are unique, so a version names a value);
* ``create_seq`` on a parent -> the sequence number given: each must be
  larger than every number given before it in the order (gaps are allowed:
  a failed or indeterminate create also uses a number).

The question is Wing and Gong's: is there one total order of the operations
that every operation's result agrees with, and that respects the order the
clients saw?  What "saw" means is the promise being checked:

* ``reads="linearizable"``: an operation that completed before another was
  invoked comes first (Herlihy and Wing's linearizability, for everything);
* ``reads="sequential"`` (the default, ZooKeeper's promise): writes, CAS and
  creates are linearizable among themselves; each process's operations stay
  in its program order (FIFO client order, read-your-writes, monotonic
  reads); a read that completed before an update was invoked comes before
  it (no read from the future); but a read may come *before* an update
  that completed before the read began -- a follower that has not caught up
  yet serves a stale value, which ZooKeeper allows.  ``sync`` then read does
  not make a read linearizable in ZooKeeper either (jepsen-io/jepsen#399: the
  server that answers the read may lose leadership in between), and zkwire
  promises no more than ZooKeeper does.

Keys are checked one by one (Herlihy and Wing's locality: a history is
linearizable iff each object's is; for the sequential part, per key is the
usual approximation -- sequential consistency is not local -- so program
order across keys is not checked).

The search is Wing and Gong's, with Lowe's memo: depth first, from the
operations whose predecessors are all placed, remembering every (set
placed, state) already explored.  Two cuts keep it small:

* an operation that does not change the state (a read) and is correct in
  the current state is placed at once, without branching: placing it later
  could only hold back the operations that must follow it;
* an indeterminate update whose result nobody ever observed (no read of its
  value, no CAS expecting it) is dropped: a history with it is valid iff
  the history without it is.

A key whose search exceeds ``budget`` explored states is reported as
undecided (not ok), with how far it got.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

UPDATES = frozenset(("write", "cas", "create_seq"))
_INF = float("inf")


def _freeze(v):
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


@dataclass
class Op:
    index: int
    process: object
    f: str
    key: str
    value: object
    inv: int
    ret: float           # time_ns of the completion, inf when indeterminate
    required: bool       # ok (must be placed) or info (may be placed)


@dataclass
class KeyResult:
    key: str
    ok: bool
    ops: int
    explored: int
    decided: bool = True
    #: operations placed in the longest order found (when not ok).
    placed: int = 0
    #: for a key that is not ok: the operations none of which could go next
    #: at the deepest point the search reached, and the state there.
    stuck: list = field(default_factory=list)
    state: object = None

    def describe(self) -> str:
        if self.ok:
            return "%s: ok (%d ops, %d states)" % (self.key, self.ops, self.explored)
        what = "undecided (budget spent)" if not self.decided else "NOT linearizable"
        ops = "; ".join("p%s %s %r [%s..%s]" % (o.process, o.f, o.value, o.inv,
                                                 "?" if o.ret == _INF else o.ret)
                        for o in self.stuck[:6])
        return "%s: %s: %d of %d ops placed, state %r, none of these fits next: %s" % (
            self.key, what, self.placed, self.ops, self.state, ops)


@dataclass
class Result:
    ok: bool
    per_key: dict
    counts: dict
    reads: str

    def summary(self) -> str:
        c = self.counts
        head = ("%s: keys=%d ops=%d read=%d write=%d cas=%d create_seq=%d fail=%d info=%d"
                % ("linearizable" if self.reads == "linearizable" else
                   "linearizable writes, sequential reads",
                   len(self.per_key), c["ops"], c["read"], c["write"], c["cas"],
                   c["create_seq"], c["fail"], c["info"]))
        bad = [k for k in self.per_key.values() if not k.ok]
        if not bad:
            return head + " verdict=ok"
        return head + " verdict=VIOLATION " + " | ".join(k.describe() for k in bad)


def _ops_from(events):
    """Pair invocations with completions -> (ops, counts)."""
    open_ = {}
    ops = []
    counts = dict(ops=0, read=0, write=0, cas=0, create_seq=0, fail=0, info=0)
    for ev in events:
        p, t = (ev["process"], ev.get("id")), ev["type"]
        if t == "invoke":
            if p in open_:
                raise ValueError("process %r invokes %r with %r still open" % (
                    p, ev, open_[p]))
            open_[p] = ev
            continue
        inv = open_.pop(p, None)
        if inv is None:
            raise ValueError("completion without an invocation: %r" % (ev,))
        if t == "fail":
            counts["fail"] += 1
            continue
        if t == "ok":
            ops.append((inv, ev["time_ns"], ev.get("value", inv.get("value")), True))
        elif t == "info":
            counts["info"] += 1
            ops.append((inv, _INF, inv.get("value"), False))
        else:
            raise ValueError("unknown event type %r" % (t,))
    for inv in open_.values():
        counts["info"] += 1
        ops.append((inv, _INF, inv.get("value"), False))
    out = []
    for inv, ret, value, required in ops:
        f = inv["f"]
        if f not in counts:
            raise ValueError("unknown operation %r" % (f,))
        if required:
            counts[f] += 1
            counts["ops"] += 1
        if not required and (f == "read" or f == "create_seq"):
            continue                    # changes nothing anyone can see
        out.append(Op(0, inv["process"], f, inv["key"], _freeze(value), inv["time_ns"], ret,
                      required))
    return out, counts


def _step(op, state):
    """-> the state after ``op``, or ``_BAD`` when its result does not fit."""
    f, v = op.f, op.value
    if f == "read":
        return state if v == state else _BAD
    if f == "write":
        return v
    if f == "cas":
        return v[1] if state == v[0] else _BAD
    # create_seq: state is the largest number given so far
    return v if state is None or v > state else _BAD


_BAD = object()


def _observed(ops):
    seen = set()
    for o in ops:
        if not o.required:
            continue
        if o.f == "read":
            seen.add(o.value)
        elif o.f == "cas":
            seen.add(o.value[0])
    return seen


def check_key(key, ops, initial=None, reads="sequential", budget=2_000_000) -> KeyResult:
    seen = _observed(ops)
    ops = [o for o in ops if o.required
           or (o.f == "write" and o.value in seen) or (o.f == "cas" and o.value[1] in seen)]
    ops.sort(key=lambda o: o.inv)
    n = len(ops)
    for i, o in enumerate(ops):
        o.index = i
    # pred[i]: the mask of operations that must come before ops[i].
    pred = [0] * n

    def before(sources):
        """For each op, the mask of ``sources`` that completed before it began."""
        srcs = sorted(sources, key=lambda o: o.ret)
        rets = [o.ret for o in srcs]
        prefix = [0]
        for o in srcs:
            prefix.append(prefix[-1] | (1 << o.index))
        return lambda o: prefix[bisect_left(rets, o.inv)]

    if reads == "linearizable":
        upd_before = read_before = before(ops)
    elif reads == "sequential":
        upd_before = before([o for o in ops if o.f in UPDATES])
        read_before = before([o for o in ops if o.f not in UPDATES])
    else:
        raise ValueError("reads must be 'sequential' or 'linearizable', not %r" % (reads,))
    # Each process's operations in its order: only the first one not placed
    # yet can go next (program order is part of both promises; real time
    # implies it for linearizability).
    chains = {}
    for o in ops:
        chain = chains.setdefault(o.process, [])
        m = upd_before(o) | read_before(o) if o.f in UPDATES else (
            read_before(o) if reads == "linearizable" else 0)
        if chain:
            m |= 1 << chain[-1].index
        pred[o.index] = m
        chain.append(o)
    chains = [chains[p] for p in sorted(chains, key=lambda p: chains[p][0].index)]

    n_required = sum(o.required for o in ops)
    init = _freeze(initial)
    memo = set()
    best = (-1, 0, init)                 # (placed, mask, state) deepest reached
    # (mask, state, heads, placed): heads[i] is how far chains[i] is placed.
    stack = [(0, init, (0,) * len(chains), 0)]
    explored = 0
    while stack:
        mask, state, heads, placed = stack.pop()
        # Place every read that fits now (no branching, see the docstring).
        again = True
        while again:
            again = False
            for i, chain in enumerate(chains):
                h = heads[i]
                if h == len(chain):
                    continue
                o = chain[h]
                if (o.f not in UPDATES and not pred[o.index] & ~mask
                        and _step(o, state) is not _BAD):
                    mask |= 1 << o.index
                    heads = heads[:i] + (h + 1,) + heads[i + 1:]
                    placed += o.required
                    again = True
        if (mask, state) in memo:
            continue
        memo.add((mask, state))
        explored += 1
        if placed == n_required:
            return KeyResult(key, True, n_required, explored)
        if placed > best[0]:
            best = (placed, mask, state)
        if explored > budget:
            return _failed(key, ops, pred, best, explored, decided=False)
        nexts = []
        for i, chain in enumerate(chains):
            h = heads[i]
            if h == len(chain):
                continue
            o = chain[h]
            if o.f not in UPDATES or pred[o.index] & ~mask:
                continue
            s = _step(o, state)
            if s is not _BAD:
                nexts.append((o.inv, mask | 1 << o.index, s, heads[:i] + (h + 1,) + heads[i + 1:],
                              placed + o.required))
        # Depth first, the earliest invocation first.
        nexts.sort(key=lambda t: t[0], reverse=True)
        stack.extend(t[1:] for t in nexts)
    return _failed(key, ops, pred, best, explored, decided=True)


def _failed(key, ops, pred, best, explored, decided) -> KeyResult:
    _, mask, state = best
    stuck = [o for o in ops if not mask & (1 << o.index) and not pred[o.index] & ~mask]
    return KeyResult(key, False, sum(o.required for o in ops), explored, decided=decided,
                     placed=sum(1 for o in ops if o.required and mask & (1 << o.index)),
                     stuck=stuck, state=state)


def check_history(events, initial=None, reads="sequential", budget=2_000_000) -> Result:
    """``initial``: key -> value before the history (default None, no node;
    a create_seq parent starts at None, below every number)."""
    ops, counts = _ops_from(events)
    by_key = {}
    for o in ops:
        by_key.setdefault(o.key, []).append(o)
    initial = initial or {}
    per_key = {k: check_key(k, kops, initial.get(k), reads, budget)
               for k, kops in sorted(by_key.items())}
    return Result(all(r.ok for r in per_key.values()), per_key, counts, reads)
