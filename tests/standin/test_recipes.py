"""kazoo's recipes across server-side faults, as an application's tests use them."""
from __future__ import annotations

import queue
import threading

from kazoo.protocol.states import KazooState

from servers import wait_until

from .conftest import FAST_RETRY, WAIT_S, States


def test_lock_passes_to_the_waiter_when_the_holder_expires(zk_make_client, zk_faults):
    holder = zk_make_client(connection_retry=FAST_RETRY)
    waiter = zk_make_client()
    held = holder.Lock("/lock", "holder")
    assert held.acquire(timeout=WAIT_S)
    wanted = waiter.Lock("/lock", "waiter")
    got = threading.Event()
    t = threading.Thread(target=lambda: wanted.acquire(timeout=30) and got.set())
    t.start()
    # The waiter's node is in line behind the holder's (no event says so).
    assert wait_until(lambda: len(held.contenders()) == 2, WAIT_S)
    states = States(holder)

    zk_faults.expire_session(holder)

    assert got.wait(WAIT_S), "the lock did not pass to the waiter"
    t.join(WAIT_S)
    assert wanted.contenders() == ["waiter"]
    # The old holder learns that it lost its session, hence the lock.
    assert KazooState.LOST in states.wait_for([KazooState.LOST])
    wanted.release()


def test_lock_survives_a_dropped_connection(zk_make_client, zk_faults):
    holder = zk_make_client(connection_retry=FAST_RETRY)
    lock = holder.Lock("/lock", "holder")
    assert lock.acquire(timeout=WAIT_S)
    states = States(holder)
    zk_faults.drop_connections(holder)
    assert states.wait_for([KazooState.SUSPENDED, KazooState.CONNECTED])[:2] == [
        KazooState.SUSPENDED, KazooState.CONNECTED]
    # Same session: the lock node is still there and still first.
    assert lock.contenders() == ["holder"]
    lock.release()


def test_election_fails_over_when_the_leader_expires(zk_make_client, zk_faults):
    first = zk_make_client(connection_retry=FAST_RETRY)
    second = zk_make_client()
    leaders = queue.Queue()
    done = threading.Event()

    def lead(name):
        leaders.put(name)
        done.wait()

    e1 = first.Election("/election", "one")
    e2 = second.Election("/election", "two")
    t1 = threading.Thread(target=e1.run, args=(lead, "one"))
    t1.start()
    assert leaders.get(timeout=WAIT_S) == "one"
    t2 = threading.Thread(target=e2.run, args=(lead, "two"))
    t2.start()
    assert wait_until(lambda: len(e1.contenders()) == 2, WAIT_S)
    try:
        zk_faults.expire_session(first)
        assert leaders.get(timeout=WAIT_S) == "two"
        assert e2.contenders() == ["two"]
    finally:
        done.set()
        e1.cancel()
        e2.cancel()
        t1.join(WAIT_S)
        t2.join(WAIT_S)
