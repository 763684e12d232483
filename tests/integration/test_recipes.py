"""kazoo recipes run against the server with several clients.

These exercise sequential + ephemeral nodes, versioned setData, multi, and the watch
machinery together, the way real applications use them.  All waiting is on events
with timeouts; worker threads are daemons so a hung recipe fails the test instead of
hanging the run.
"""
from __future__ import annotations

import queue
import re
import threading
import time

import pytest
from kazoo.exceptions import LockTimeout, NoNodeError
from kazoo.recipe.cache import TreeCache, TreeEvent
from kazoo.recipe.partitioner import PartitionState
from servers import wait_until

WAIT = 5.0


def spawn(target, *args) -> threading.Thread:
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


def children(client, path: str) -> list:
    try:
        return client.get_children(path)
    except NoNodeError:
        return []


def join_all(threads, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        assert not t.is_alive(), "worker thread did not finish"


# ---------------------------------------------------------------------- Lock


def test_lock_mutual_exclusion(zk, make_client):
    """Non-atomic read-modify-write under the lock from 3 clients loses no update."""
    clients = [zk, make_client(), make_client()]
    zk.create("/counter", b"0")
    rounds = 5
    errors: list = []

    def worker(client, name):
        lock = client.Lock("/lock", name)
        try:
            for _ in range(rounds):
                assert lock.acquire(timeout=WAIT)
                try:
                    value = int(client.get("/counter")[0])
                    client.set("/counter", str(value + 1).encode())
                finally:
                    lock.release()
        except BaseException as exc:  # reported from the main thread
            errors.append(exc)

    threads = [spawn(worker, c, f"w{i}") for i, c in enumerate(clients)]
    join_all(threads, 20)
    assert errors == []
    assert zk.get("/counter")[0] == str(rounds * len(clients)).encode()
    assert zk.get_children("/lock") == []


def test_lock_contenders_order_and_node_names(zk, make_client):
    c1, c2, c3 = zk, make_client(), make_client()
    l1, l2, l3 = c1.Lock("/lk", "one"), c2.Lock("/lk", "two"), c3.Lock("/lk", "three")
    assert l1.acquire(timeout=WAIT)

    acquired: list = []
    got = {"two": threading.Event(), "three": threading.Event()}
    release = {"two": threading.Event(), "three": threading.Event()}

    def contender(lock, name):
        if lock.acquire(timeout=WAIT * 2):
            acquired.append(name)
            got[name].set()
            release[name].wait(WAIT * 2)
            lock.release()

    spawn(contender, l2, "two")
    assert wait_until(lambda: len(zk.get_children("/lk")) == 2)
    spawn(contender, l3, "three")
    assert wait_until(lambda: len(zk.get_children("/lk")) == 3)

    assert l1.contenders() == ["one", "two", "three"]
    # <uuid hex>__lock__<10-digit sequence>; sequence numbers 0, 1, 2 under a new parent.
    names = zk.get_children("/lk")
    assert all(re.fullmatch(r"[0-9a-f]{32}__lock__\d{10}", n) for n in names)
    assert sorted(n[-10:] for n in names) == ["0000000000", "0000000001", "0000000002"]

    l1.release()
    assert got["two"].wait(WAIT)
    assert not got["three"].is_set()
    assert l1.contenders() == ["two", "three"]
    release["two"].set()
    assert got["three"].wait(WAIT)
    release["three"].set()
    assert acquired == ["two", "three"]
    assert wait_until(lambda: zk.get_children("/lk") == [])


def test_lock_freed_when_holder_session_closes(zk, make_client):
    holder, waiter = make_client(), make_client()
    assert holder.Lock("/lk2", "holder").acquire(timeout=WAIT)
    got = threading.Event()
    lock = waiter.Lock("/lk2", "waiter")
    spawn(lambda: lock.acquire(timeout=WAIT * 2) and got.set())
    assert wait_until(lambda: len(zk.get_children("/lk2")) == 2)
    assert not got.is_set()

    holder.stop()  # ephemeral lock node goes with the session

    assert got.wait(WAIT)
    assert lock.contenders() == ["waiter"]
    lock.release()


def test_lock_acquire_times_out_when_held(zk, make_client):
    other = make_client()
    assert zk.Lock("/lk3", "a").acquire(timeout=WAIT)
    lock = other.Lock("/lk3", "b")
    with pytest.raises(LockTimeout):
        lock.acquire(timeout=0.3)
    # The failed contender cleaned up its node.
    assert wait_until(lambda: len(zk.get_children("/lk3")) == 1)


# ------------------------------------------------------------------ Election


def test_election_leader_order(zk, make_client):
    clients = {"a": zk, "b": make_client(), "c": make_client()}
    elections = {name: c.Election("/election", name) for name, c in clients.items()}
    leader_events = {name: threading.Event() for name in clients}
    resign = {name: threading.Event() for name in clients}
    leaders: list = []

    def lead(name):
        leaders.append(name)
        leader_events[name].set()
        resign[name].wait(WAIT * 3)

    spawn(elections["a"].run, lead, "a")
    assert leader_events["a"].wait(WAIT)
    spawn(elections["b"].run, lead, "b")
    assert wait_until(lambda: len(elections["a"].contenders()) == 2)
    spawn(elections["c"].run, lead, "c")
    assert wait_until(lambda: len(elections["a"].contenders()) == 3)
    assert elections["c"].contenders() == ["a", "b", "c"]

    resign["a"].set()
    assert leader_events["b"].wait(WAIT)
    assert not leader_events["c"].is_set()
    resign["b"].set()
    assert leader_events["c"].wait(WAIT)
    resign["c"].set()
    assert leaders == ["a", "b", "c"]
    assert wait_until(lambda: elections["a"].contenders() == [])


def test_election_cancel_of_waiting_contender(zk, make_client):
    other = make_client()
    leader_e = zk.Election("/el2", "leader")
    waiter_e = other.Election("/el2", "waiter")
    is_leader, resign = threading.Event(), threading.Event()
    waiter_led = threading.Event()

    spawn(leader_e.run, lambda: (is_leader.set(), resign.wait(WAIT * 2)))
    assert is_leader.wait(WAIT)
    runner = spawn(waiter_e.run, waiter_led.set)
    assert wait_until(lambda: len(leader_e.contenders()) == 2)

    waiter_e.cancel()
    runner.join(WAIT)
    assert not runner.is_alive()
    assert not waiter_led.is_set()
    assert leader_e.contenders() == ["leader"]
    resign.set()


# ------------------------------------------------------------------- Counter


def test_counter_concurrent_increments(zk, make_client):
    clients = [zk, make_client(), make_client()]
    per_thread = 10
    errors: list = []

    def worker(client):
        counter = client.Counter("/cnt")
        try:
            for _ in range(per_thread):
                counter += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [spawn(worker, c) for c in clients for _ in range(2)]
    join_all(threads, 20)
    assert errors == []
    total = per_thread * len(threads)
    assert zk.Counter("/cnt").value == total
    data, stat = zk.get("/cnt")
    assert data == str(total).encode()
    assert stat.version == total  # every increment was one versioned setData


def test_counter_pre_and_post_values(zk):
    counter = zk.Counter("/cnt2", default=10)
    assert counter.value == 10
    counter += 5
    assert (counter.pre_value, counter.post_value) == (10, 15)
    counter -= 3
    assert (counter.pre_value, counter.post_value) == (15, 12)
    assert zk.get("/cnt2")[0] == b"12"


# -------------------------------------------------------------- LockingQueue


def test_locking_queue_put_get_consume_release(zk, make_client):
    other = make_client()
    q1, q2 = zk.LockingQueue("/q"), other.LockingQueue("/q")
    q1.put(b"a")
    q1.put(b"b")
    q1.put_all([b"c", b"d"], priority=200)
    q1.put(b"urgent", priority=1)
    assert len(q1) == len(q2) == 5

    assert q1.get(timeout=WAIT) == b"urgent"  # lowest priority number first
    assert q2.get(timeout=WAIT) == b"a"  # "urgent" is locked by q1
    assert q1.holds_lock() and q2.holds_lock()
    assert q1.get(timeout=WAIT) == b"urgent"  # unconsumed entry is returned again

    assert q2.release() is True  # "a" goes back to the queue
    assert q1.consume() is True
    assert len(q1) == 4
    assert q1.get(timeout=WAIT) == b"a"
    assert q1.consume() is True
    assert q2.get(timeout=WAIT) == b"b"
    assert q2.consume() is True
    assert [q1.get(timeout=WAIT), q1.consume(), q1.get(timeout=WAIT), q1.consume()] == [
        b"c", True, b"d", True,
    ]
    assert len(q1) == 0
    assert q2.get(timeout=0.2) is None
    assert zk.get_children("/q/taken") == []


def test_locking_queue_blocked_get_wakes_on_put(zk, make_client):
    other = make_client()
    consumer = other.LockingQueue("/q2")
    assert consumer.get(timeout=0.1) is None
    got: queue.Queue = queue.Queue()
    spawn(lambda: got.put(consumer.get(timeout=WAIT)))
    zk.LockingQueue("/q2").put(b"late")
    assert got.get(timeout=WAIT) == b"late"
    assert consumer.consume() is True


def test_locking_queue_lock_dies_with_session(zk, make_client):
    worker = make_client()
    wq = worker.LockingQueue("/q3")
    wq.put(b"job")
    assert wq.get(timeout=WAIT) == b"job"
    mine = zk.LockingQueue("/q3")
    assert mine.get(timeout=0.1) is None  # locked by the worker
    worker.stop()  # its ephemeral lock node vanishes
    assert mine.get(timeout=WAIT) == b"job"
    assert mine.consume() is True


# ------------------------------------------------------------- DoubleBarrier


def test_double_barrier_enter_and_leave(zk, make_client):
    clients = [zk, make_client(), make_client()]
    barriers = [c.DoubleBarrier("/dbar", 3, identifier=f"m{i}") for i, c in enumerate(clients)]
    entered = [threading.Event() for _ in clients]
    may_leave = [threading.Event() for _ in clients]
    left = [threading.Event() for _ in clients]

    def member(i):
        barriers[i].enter()
        entered[i].set()
        may_leave[i].wait(WAIT * 3)
        barriers[i].leave()
        left[i].set()

    spawn(member, 0)
    spawn(member, 1)
    assert wait_until(lambda: len(children(zk, "/dbar")) == 2)
    assert not entered[0].wait(0.3) and not entered[1].is_set()

    spawn(member, 2)
    assert all(e.wait(WAIT) for e in entered)
    assert "ready" in zk.get_children("/dbar")

    may_leave[0].set()
    may_leave[1].set()
    assert not left[0].wait(0.3)  # member 2 is still inside
    may_leave[2].set()
    assert all(e.wait(WAIT) for e in left)
    assert zk.get_children("/dbar") == []


# ---------------------------------------------------------------------- Party


def test_party_join_len_leave(zk, make_client):
    c2, c3 = make_client(), make_client()
    p1 = zk.Party("/party", "alice")
    p2 = c2.Party("/party", "bob")
    p3 = c3.ShallowParty("/sparty", "carol")
    p1.join()
    p2.join()
    p3.join()
    assert len(p1) == 2
    assert sorted(p1) == ["alice", "bob"]
    assert list(zk.ShallowParty("/sparty")) == ["carol"]

    p1.leave()
    assert list(p2) == ["bob"]
    c2.stop()  # members are ephemeral
    assert len(p1) == 0
    c3.stop()
    assert len(zk.ShallowParty("/sparty")) == 0


# ------------------------------------------------------------ SetPartitioner


def _drive(partitioners, timeout: float = 15.0) -> None:
    """Run the documented partitioner loop until every one has ACQUIRED."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(p.acquired for p in partitioners):
            return
        for p in partitioners:
            assert not p.failed
            if p.release:
                p.release_set()
            elif p.allocating:
                p.wait_for_acquire(0.05)
    raise AssertionError([p.state for p in partitioners])


def test_set_partitioner_two_members(zk, make_client):
    other = make_client()
    items = ["a", "b", "c", "d", "e"]
    p1 = zk.SetPartitioner("/part", set=items, identifier="m1", time_boundary=0.2)
    p2 = other.SetPartitioner("/part", set=items, identifier="m2", time_boundary=0.2)
    try:
        _drive([p1, p2])
        # Sorted members and items, dealt round robin.
        assert list(p1) == ["a", "c", "e"]
        assert list(p2) == ["b", "d"]
        # ShallowParty members: "<uuid hex>-<identifier>" ephemeral nodes.
        members = zk.get_children("/part/party")
        assert sorted(m.split("-", 1)[1] for m in members) == ["m1", "m2"]

        p2.finish()
        assert p2.failed
        assert wait_until(lambda: p1.release or p1.allocating, WAIT)
        _drive([p1])
        assert p1.state == PartitionState.ACQUIRED
        assert list(p1) == items
    finally:
        p1.finish()
        p2.finish()


# ---------------------------------------------------------------- TreeCache


def test_tree_cache_events(zk, make_client):
    other = make_client()
    zk.create("/tree/x", b"x0", makepath=True)
    cache = TreeCache(zk, "/tree")
    events: queue.Queue = queue.Queue()
    cache.listen(events.put)

    def next_events(until_type, path=None):
        out = []
        while True:
            ev = events.get(timeout=WAIT)
            out.append(ev)
            if ev.event_type == until_type and (
                path is None or (ev.event_data and ev.event_data.path == path)
            ):
                return out

    cache.start()
    try:
        initial = next_events(TreeEvent.INITIALIZED)
        added = sorted(
            e.event_data.path for e in initial if e.event_type == TreeEvent.NODE_ADDED
        )
        assert added == ["/tree", "/tree/x"]
        assert cache.get_data("/tree/x").data == b"x0"

        other.create("/tree/y", b"y0")
        ev = next_events(TreeEvent.NODE_ADDED, "/tree/y")[-1]
        assert ev.event_data.data == b"y0"

        other.set("/tree/x", b"x1")
        ev = next_events(TreeEvent.NODE_UPDATED, "/tree/x")[-1]
        assert ev.event_data.data == b"x1"
        assert ev.event_data.stat.version == 1

        other.create("/tree/y/deep", b"d")
        next_events(TreeEvent.NODE_ADDED, "/tree/y/deep")
        assert sorted(cache.get_children("/tree")) == ["x", "y"]
        assert sorted(cache.get_children("/tree/y")) == ["deep"]

        other.delete("/tree/y", recursive=True)
        removed = next_events(TreeEvent.NODE_REMOVED, "/tree/y")
        removed_paths = [
            e.event_data.path for e in removed if e.event_type == TreeEvent.NODE_REMOVED
        ]
        assert removed_paths == ["/tree/y/deep", "/tree/y"]
        assert cache.get_data("/tree/y") is None
        assert sorted(cache.get_children("/tree")) == ["x"]
    finally:
        cache.close()
