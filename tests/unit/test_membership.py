"""zkwire.server.quorum.membership: server lines, myid, majority quorums.

The line grammar and the standalone rule follow ZooKeeper's QuorumPeerConfig
and QuorumPeer.QuorumServer (branch-3.9), and what Debian's 3.8.0 did with such
configs (tests/unit/test_config.py notes the observations).
"""
from __future__ import annotations

import pytest

from zkwire.server.quorum.membership import (
    OBSERVER, PARTICIPANT, Member, MembershipError, build, parse_myid, parse_server)


def test_server_line_forms():
    assert parse_server(1, "127.0.0.1:2888:3888") == Member(1, "127.0.0.1", 2888, 3888)
    assert parse_server(2, "zk2:2888:3888:observer;2181") == Member(
        2, "zk2", 2888, 3888, OBSERVER, "0.0.0.0", 2181)
    assert parse_server(3, "zk3:2888:3888:Participant;127.0.0.3:2181") == Member(
        3, "zk3", 2888, 3888, PARTICIPANT, "127.0.0.3", 2181)
    assert parse_server(4, "[::1]:2888:3888;[::1]:2181") == Member(
        4, "::1", 2888, 3888, PARTICIPANT, "::1", 2181)
    assert parse_server(5, "h:1:2;") == Member(5, "h", 1, 2)


@pytest.mark.parametrize("value", [
    "h:2888", "h:2888:3888:observer:x", "h:x:3888", "h:2888:2888", "h:2888:3888:leader",
    "[::1:2888:3888", "[::1]", "h:2888:3888;a:b:c", "h:2888:3888;nope",
    "a:1:2|b:3:4", "h:1:2;2181;2281", "h:70000:2",
])
def test_bad_server_lines(value):
    with pytest.raises(MembershipError) as info:
        parse_server(7, value)
    assert "server.7=" in str(info.value)


def test_config_line_is_zookeepers_form():
    assert parse_server(1, "127.0.0.1:2888:3888;2181").config_line() == \
        "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181"
    assert parse_server(2, "[::1]:2888:3888:observer").config_line() == \
        "server.2=[::1]:2888:3888:observer"


def test_myid():
    assert parse_myid("3") == 3
    assert parse_myid("12\nignored") == 12
    assert parse_myid("5\r\n") == 5
    for bad in ("", " 3", "3 ", "x", "0x1", "٣"):
        with pytest.raises(MembershipError):
            parse_myid(bad)


def test_standalone_rule():
    assert build({}) == (None, [])
    ms, notes = build({1: "h:1:2"})
    assert ms is None and "standalone" in notes[0]
    ms, notes = build({1: "h:1:2"}, standalone_enabled=False)
    assert ms is not None and list(ms.voters) == [1]
    with pytest.raises(MembershipError):
        build({}, standalone_enabled=False)
    with pytest.raises(MembershipError):
        build({1: "h:1:2:observer"})
    with pytest.raises(MembershipError):
        build({1: "h:1:2", 2: "h:3:4:observer"})


def test_majority():
    ms, notes = build({1: "h:1:2", 2: "h:3:4", 3: "h:5:6", 4: "h:7:8:observer"})
    assert notes == []
    assert sorted(ms.voters) == [1, 2, 3] and sorted(ms.observers) == [4]
    assert not ms.is_quorum([1]) and not ms.is_quorum([1, 4]) and not ms.is_quorum([1, 1])
    assert ms.is_quorum([1, 2]) and ms.is_quorum([3, 1, 4])
    assert ms.config_text().splitlines()[-1] == "version=0"
    ms4, notes = build({i: "h:%d:%d" % (2 * i, 2 * i + 1) for i in range(1, 5)})
    assert not ms4.is_quorum([1, 2]) and ms4.is_quorum([1, 2, 3]) and notes
