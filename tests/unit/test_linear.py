"""The history checker (zkwire/sim/linear.py): hand-made histories with a known
verdict, and random small histories against a brute force over every order.

The verdicts of the hand-made ones follow from the definitions (Herlihy and
Wing's linearizability; ZooKeeper's guarantees in its Programmer's Guide:
linearizable writes, FIFO client order, a client's view never goes back, a
read may be stale), not from the checker's output.
"""
from __future__ import annotations

import itertools
import random

import pytest

from zkwire.sim.linear import check_history


class H:
    """A history written as intervals: ``h.op(p, f, key, value, start, end)``;
    ``end=None`` is indeterminate (info), ``fail=True`` a definite failure."""

    def __init__(self):
        self.spans = []

    def op(self, p, f, value, start, end, key="x", fail=False):
        self.spans.append((p, f, key, value, start, end, fail))
        return self

    def events(self):
        evs = []
        for p, f, key, value, start, end, fail in self.spans:
            inv_value = None if f == "read" else value
            evs.append((start, 0, dict(process=p, type="invoke", f=f, key=key,
                                       value=inv_value, time_ns=start)))
            if end is not None:
                evs.append((end, 1, dict(process=p, type="fail" if fail else "ok", f=f,
                                         key=key, value=value, time_ns=end)))
            else:
                evs.append((10 ** 9, 1, dict(process=p, type="info", f=f, key=key,
                                             value=inv_value, time_ns=10 ** 9)))
        return [e for _, _, e in sorted(evs, key=lambda t: (t[0], t[1]))]

    def check(self, reads="sequential", initial=None):
        return check_history(self.events(), initial=initial, reads=reads)


def verdicts(h, initial=None):
    return (h.check("linearizable", initial).ok, h.check("sequential", initial).ok)


# --- hand-made histories ------------------------------------------------------------------

def test_one_process_in_order_is_linearizable():
    h = H().op(1, "write", "a", 0, 1).op(1, "read", "a", 2, 3).op(1, "cas", ["a", "b"], 4, 5)
    h.op(1, "read", "b", 6, 7)
    assert verdicts(h) == (True, True)


def test_overlapping_writes_may_take_effect_in_either_order():
    h = H().op(1, "write", "a", 0, 10).op(2, "write", "b", 1, 9)
    h.op(3, "read", "a", 11, 12)
    assert verdicts(h) == (True, True)
    h2 = H().op(1, "write", "a", 0, 10).op(2, "write", "b", 1, 9).op(3, "read", "b", 11, 12)
    assert verdicts(h2) == (True, True)


def test_a_stale_read_is_sequential_but_not_linearizable():
    # p1's write completed before p2 read; p2 still sees the old value: a
    # follower behind the leader, which ZooKeeper allows.
    h = H().op(1, "write", "a", 0, 1).op(2, "read", "old", 2, 3)
    assert verdicts(h, initial={"x": "old"}) == (False, True)


def test_a_read_from_the_future_is_neither():
    # The read completed before the write was invoked, yet saw it.
    h = H().op(2, "read", "a", 0, 1).op(1, "write", "a", 2, 3)
    assert verdicts(h) == (False, False)


def test_a_process_view_never_goes_back():
    h = H().op(1, "write", "a", 0, 1).op(1, "write", "b", 2, 3)
    h.op(2, "read", "b", 4, 5).op(2, "read", "a", 6, 7)
    assert verdicts(h) == (False, False)
    # Two processes may see the versions at different times, though.
    h2 = H().op(1, "write", "a", 0, 1).op(1, "write", "b", 2, 3)
    h2.op(2, "read", "b", 4, 5).op(3, "read", "a", 6, 7)
    assert verdicts(h2) == (False, True)


def test_a_process_reads_its_own_writes():
    h = H().op(1, "write", "a", 0, 1).op(1, "write", "b", 2, 3).op(1, "read", "a", 4, 5)
    assert verdicts(h) == (False, False)


def test_two_cas_from_one_value_cannot_both_succeed():
    h = H().op(1, "cas", ["a", "b"], 0, 10).op(2, "cas", ["a", "c"], 1, 9)
    assert verdicts(h, initial={"x": "a"}) == (False, False)
    # A chain is fine, in the order its values say.
    h2 = H().op(1, "cas", ["a", "b"], 0, 10).op(2, "cas", ["b", "c"], 1, 9)
    h2.op(3, "read", "c", 11, 12)
    assert verdicts(h2, initial={"x": "a"}) == (True, True)


def test_an_indeterminate_write_may_take_effect_later_or_never():
    # p1's write timed out; it shows up long after p1 gave up on it.
    h = H().op(1, "write", "a", 0, None).op(2, "write", "b", 5, 6).op(3, "read", "b", 7, 8)
    h.op(3, "read", "a", 20, 21)
    assert verdicts(h) == (True, True)
    h2 = H().op(1, "write", "a", 0, None).op(2, "write", "b", 5, 6).op(3, "read", "b", 7, 8)
    assert verdicts(h2) == (True, True)


def test_a_failed_write_never_took_effect():
    h = H().op(1, "cas", ["a", "b"], 0, 1, fail=True).op(2, "read", "b", 2, 3)
    assert verdicts(h, initial={"x": "a"}) == (False, False)


def test_an_indeterminate_read_constrains_nothing():
    h = H().op(1, "read", "zzz", 0, None).op(2, "write", "a", 1, 2).op(2, "read", "a", 3, 4)
    assert verdicts(h) == (True, True)


def test_sequence_numbers_grow_in_real_time_and_never_repeat():
    seq = dict(key="/seq")
    h = H().op(1, "create_seq", 3, 0, 1, **seq).op(2, "create_seq", 5, 2, 3, **seq)
    assert verdicts(h) == (True, True)
    # A create that began after another ended got a smaller number.
    h = H().op(1, "create_seq", 5, 0, 1, **seq).op(2, "create_seq", 3, 2, 3, **seq)
    assert verdicts(h) == (False, False)
    # Concurrent creates may get theirs in either order; never the same one.
    h = H().op(1, "create_seq", 5, 0, 10, **seq).op(2, "create_seq", 3, 1, 9, **seq)
    assert verdicts(h) == (True, True)
    h = H().op(1, "create_seq", 4, 0, 10, **seq).op(2, "create_seq", 4, 1, 9, **seq)
    assert verdicts(h) == (False, False)


def test_keys_are_checked_apart_and_the_summary_names_the_bad_one():
    h = H().op(1, "write", "a", 0, 1, key="/r0").op(2, "read", "a", 2, 3, key="/r0")
    h.op(3, "write", "b", 0, 1, key="/r1").op(4, "read", "zzz", 2, 3, key="/r1")
    res = h.check()
    assert not res.ok
    assert res.per_key["/r0"].ok and not res.per_key["/r1"].ok
    text = res.summary()
    assert "verdict=VIOLATION" in text and "/r1" in text and "/r0: " not in text
    assert "'zzz'" in text                      # the read that fits nowhere


def test_a_malformed_history_is_refused():
    with pytest.raises(ValueError):
        check_history([dict(process=1, type="invoke", f="read", key="x", value=None, time_ns=0),
                       dict(process=1, type="invoke", f="read", key="x", value=None, time_ns=1)])
    with pytest.raises(ValueError):
        check_history([dict(process=1, type="ok", f="read", key="x", value=None, time_ns=0)])


def test_a_search_over_budget_is_undecided_not_ok():
    # Many overlapping blind writes nobody tells apart, then a value no one
    # wrote: the search has to try every order before it can say no.
    h = H()
    for p in range(14):
        h.op(p, "write", "v%d" % p, p, 100)
    h.op(99, "read", "nobody", 200, 201)
    res = check_history(h.events(), budget=500)
    assert not res.ok and not res.per_key["x"].decided
    assert "undecided" in res.summary()


# --- random small histories against brute force --------------------------------------------

def brute(ops, reads, initial):
    """Every order of the ops (optional ones in or out) respecting the
    constraints, replayed on a register: the definition, executed."""
    UPD = ("write", "cas", "create_seq")

    def must_precede(a, b):
        if a["end"] is None:
            return False
        if a["p"] == b["p"] and a["start"] < b["start"]:
            return True
        if a["end"] >= b["start"]:
            return False
        if reads == "linearizable":
            return True
        return b["f"] in UPD

    required = [o for o in ops if o["end"] is not None]
    optional = [o for o in ops if o["end"] is None and o["f"] != "read"]
    for k in range(len(optional) + 1):
        for extra in itertools.combinations(optional, k):
            chosen = required + list(extra)
            for order in itertools.permutations(chosen):
                pos = {id(o): i for i, o in enumerate(order)}
                if any(must_precede(a, b) and pos[id(a)] > pos[id(b)]
                       for a in chosen for b in chosen if a is not b):
                    continue
                state, good = initial, True
                for o in order:
                    f, v = o["f"], o["v"]
                    if f == "read":
                        good = state == v
                    elif f == "write":
                        state = v
                    elif f == "cas":
                        good = state == v[0]
                        state = v[1]
                    if not good:
                        break
                if good:
                    return True
    return False


def random_history(rnd):
    """3 processes, 5 or 6 ops on one register, each taking effect at a random
    moment inside its interval (an indeterminate one: maybe never); then, half
    the time, one result changed: both verdicts happen often."""
    n = rnd.choice((5, 6))
    ops, busy = [], {}
    t = 0
    for i in range(n):
        p = rnd.randrange(3)
        start = max(t, busy.get(p, 0)) + rnd.randrange(3)
        t = start
        end = None if rnd.random() < 0.12 else start + 1 + rnd.randrange(6)
        f = rnd.choice(("read", "read", "write", "cas"))
        at = rnd.uniform(start, end if end is not None else start + 10)
        if end is None and rnd.random() < 0.5:
            at = None
        ops.append(dict(p=p if end is not None else 10 + i, f=f, v=None, start=start, end=end,
                        at=at))
        busy[p] = end + 1 if end is not None else start + 100
    state = None
    for o in sorted((o for o in ops if o["at"] is not None), key=lambda o: o["at"]):
        if o["f"] == "read":
            o["v"] = state
        elif o["f"] == "write":
            o["v"] = state = rnd.choice(("a", "b", "c"))
        else:
            o["v"] = [state, rnd.choice(("a", "b", "c"))]
            state = o["v"][1]
    for o in ops:
        if o["v"] is None and o["f"] != "read":
            o["v"] = "z" if o["f"] == "write" else [None, "z"]
        del o["at"]
    if rnd.random() < 0.5:
        o = rnd.choice(ops)
        if o["f"] == "cas":
            o["v"] = [rnd.choice(("a", "b", None)), o["v"][1]]
        else:
            o["v"] = rnd.choice(("a", "b", "c", None)) if o["f"] == "read" else o["v"]
    return ops


@pytest.mark.parametrize("reads", ["linearizable", "sequential"])
def test_random_small_histories_agree_with_brute_force(reads):
    rnd = random.Random(20261203)
    verdict = {True: 0, False: 0}
    for _ in range(400):
        ops = random_history(rnd)
        h = H()
        for o in ops:
            h.op(o["p"], o["f"], o["v"], o["start"], o["end"])
        want = brute(ops, reads, None)
        got = h.check(reads).ok
        assert got == want, (reads, ops)
        verdict[want] += 1
    assert verdict[True] > 50 and verdict[False] > 50, verdict


def test_a_long_history_of_a_real_register_is_checked_quickly():
    # 10 processes, 3000 ops on one register, each taking effect at a random
    # moment inside its interval: linearizable by construction.
    rnd = random.Random(7)
    effects = []
    spans = []
    free = {p: 0 for p in range(10)}
    for i in range(3000):
        p = rnd.randrange(10)
        start = free[p] + rnd.randrange(50)
        end = start + 1 + rnd.randrange(200)
        free[p] = end + 1
        at = rnd.uniform(start, end)
        f = rnd.choice(("read", "read", "write", "cas"))
        effects.append((at, i, p, f, start, end))
    effects.sort()
    state = "v0"
    for at, i, p, f, start, end in effects:
        if f == "read":
            spans.append((p, "read", state, start, end, False))
        elif f == "write":
            state = "w%d" % i
            spans.append((p, "write", state, start, end, False))
        else:
            new = "c%d" % i
            spans.append((p, "cas", [state, new], start, end, False))
            state = new
    h = H()
    for p, f, v, start, end, fail in spans:
        h.op(p, f, v, start, end, fail=fail)
    for reads in ("linearizable", "sequential"):
        res = h.check(reads, initial={"x": "v0"})
        assert res.ok, res.summary()
