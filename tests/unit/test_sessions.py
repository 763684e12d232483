"""zkwire.server.core.sessions: ids, passwords (java.util.Random) and expiry buckets."""
from __future__ import annotations

import pytest

from zkwire.server.core.sessions import (
    SessionTable,
    initial_session_id,
    java_random_bytes,
    session_password,
)


# Produced by `new java.util.Random(seed).nextBytes(new byte[n])` on OpenJDK 17.
JAVA_RANDOM = [
    (0, 0, ""),
    (0, 1, "60"),
    (0, 3, "60b420"),
    (0, 5, "60b420bb38"),
    (0, 16, "60b420bb3851d9d47acb933dbe70399b"),
    (0, 17, "60b420bb3851d9d47acb933dbe70399bf6"),
    (1, 16, "73d51abbd89cb8196f0efb6892f94d68"),
    (-1, 17, "b36cd944c3228770172024039eff4b8c69"),
    (42, 5, "359d41baf7"),
    (-(2 ** 63), 16, "60b420bb3851d9d47acb933dbe70399b"),
    (123456789012345, 17, "9d274dab494c8a84079a34dd580af19b9a"),
]


@pytest.mark.parametrize("seed, n, hexbytes", JAVA_RANDOM)
def test_java_random_bytes(seed, n, hexbytes):
    assert java_random_bytes(seed, n).hex() == hexbytes


@pytest.mark.parametrize("sid, passwd", [
    # connect responses seen from Apache ZooKeeper 3.8.0 (tests/ZOOKEEPER_FACTS.md §2, tests/golden)
    (0x010000032F1C0008, "3f7e0ae23bcac14e9e67abfb19d24a69"),
    (0x010000032F1C0010, "746497e23cb3d2d9a020fde942fe5d2f"),
    (0x0100000771F80000, "7a782e017f1914eae8c08b0460db531a"),
    (0x010000079DDF0000, "d3d6d670643b94e169eda9594db41459"),
])
def test_session_password_is_zookeepers(sid, passwd):
    assert session_password(sid).hex() == passwd
    assert len(session_password(sid)) == 16


def test_initial_session_id_layout():
    # tests/ZOOKEEPER_FACTS.md §2: 0x01 in the top byte, then the elapsed ms << 16.
    assert initial_session_id(1, 0x32F1C) == 0x010000032F1C0000
    # only the low 40 bits of the clock survive ((t << 24) >>> 8)
    assert initial_session_id(1, (1 << 40) + 5) == (1 << 56) | (5 << 16)
    assert initial_session_id(0, 0) == 0
    # server ids >= 128 make negative (signed 64-bit) ids
    assert initial_session_id(0xFF, 1) == ((0xFF << 56) | (1 << 16)) - (1 << 64)


def test_initial_session_id_avoids_the_container_owner_value():
    # SessionTrackerImpl.initializeNextSessionId bumps Long.MIN_VALUE (the container
    # ephemeralOwner marker) by one; every other value is kept.
    assert initial_session_id(0x80, 0) == -(2 ** 63) + 1


def test_next_session_id_increments():
    t = SessionTable(500, server_id=1, start_ms=0x32F1C)
    assert [t.next_session_id() for _ in range(3)] == [
        0x010000032F1C0000, 0x010000032F1C0001, 0x010000032F1C0002]


@pytest.mark.parametrize("now, timeout, deadline", [
    (0, 1000, 1500),
    (1, 1000, 1500),
    (499, 1000, 1500),
    (500, 1000, 2000),
    (1234, 3000, 4500),
    (0, 10000, 10500),
])
def test_deadline_rounded_up_to_next_tick(now, timeout, deadline):
    t = SessionTable(500)
    s = t.add(7, timeout, now)
    assert s.expire_at_ms == deadline
    assert s.timeout_ms == timeout


def test_expiry_and_touch():
    t = SessionTable(500)
    t.add(1, 1000, 0)          # deadline 1500
    t.add(2, 2000, 0)          # deadline 2500
    assert t.expired(1499) == []
    assert [s.session_id for s in t.expired(1500)] == [1]
    assert t.touch(1, 1200)    # deadline 2500
    assert t.expired(1500) == []
    assert [s.session_id for s in t.expired(2500)] == [1, 2]  # same bucket: by id
    # a touch never moves a deadline backwards
    assert t.touch(2, 0, timeout_ms=10)
    assert t.sessions[2].expire_at_ms == 2500
    assert t.sessions[2].timeout_ms == 10


def test_expired_oldest_first():
    t = SessionTable(100)
    t.add(9, 300, 0)    # 400
    t.add(3, 500, 0)    # 600
    t.add(5, 200, 0)    # 300
    assert [s.session_id for s in t.expired(10_000)] == [5, 9, 3]


def test_closing_sessions_are_not_live_and_not_reexpired():
    t = SessionTable(500)
    t.add(1, 1000, 0)
    assert t.is_live(1)
    t.mark_closing(1)
    assert not t.is_live(1)
    assert not t.touch(1, 100)
    assert t.expired(10_000) == []
    t.remove(1)
    assert 1 not in t.sessions
    assert not t.touch(1, 100)
    assert not t.is_live(1)
    t.mark_closing(1)  # unknown: no error
    t.remove(1)


def test_unknown_session_touch():
    assert SessionTable(500).touch(42, 0) is False
