"""The container/TTL reaper (server/core/reaper.py) under the core harness.

The rules come from ZooKeeper 3.9's ContainerManager.getCandidates and
PrepRequestProcessor's deleteContainer branch (release-3.9.5 source); the
interop scenarios in interop/scenarios/containers_ttl.zks hold the observable
result (which node goes, which stays, the events) to Apache ZooKeeper 3.8.0.
"""
from __future__ import annotations

import pytest

from zkwire import records as r
from zkwire.consts import CreateMode, Err, OpCode

from . import OPEN_ACL, CoreHarness, create_req, replies

INTERVAL = 1000


def container_req(path):
    return r.CreateRequest.parse(r.CreateRequest.build(dict(
        path=path, data=b"", acl=OPEN_ACL, flags=CreateMode.CONTAINER)))


def ttl_req(path, ttl_ms):
    return r.CreateTTLRequest.parse(r.CreateTTLRequest.build(dict(
        path=path, data=b"", acl=OPEN_ACL, flags=CreateMode.PERSISTENT_WITH_TTL, ttl=ttl_ms)))


@pytest.fixture
def h():
    return CoreHarness(tick_ms=500, extended_types=True, container_check_interval_ms=INTERVAL)


def ok(h, conn, xid, op, req):
    rep = replies(h.call(conn, xid, op, req))[-1]
    assert rep[3] == 0, rep
    return rep


def logged(h):
    """(type, clientId, cxid, path or err) of every txn the log holds."""
    out = []
    for hdr, txn in h.log.entries:
        out.append((hdr.type, hdr.clientId, hdr.cxid, getattr(txn, "path", getattr(txn, "err", None))))
    return out


def test_emptied_container_goes_at_the_next_check(h):
    c = h.session()
    ok(h, c, 1, OpCode.createContainer, container_req("/c"))
    h.create(c, "/c/kid", xid=2)
    ok(h, c, 3, OpCode.delete, r.DeleteRequest.parse(r.DeleteRequest.build(dict(path="/c/kid", version=-1))))
    h.tick(INTERVAL - 1)
    assert "/c" in h.core.tree.nodes
    h.tick(INTERVAL)
    assert "/c" not in h.core.tree.nodes
    # A deleteContainer txn of session 0, cxid 0, with a DeleteTxn body.
    assert logged(h)[-1] == (OpCode.deleteContainer, 0, 0, "/c")


def test_never_used_container_stays_unless_max_never_used(h):
    c = h.session()
    ok(h, c, 1, OpCode.createContainer, container_req("/n"))
    h.tick(INTERVAL)
    h.tick(3 * INTERVAL)
    assert "/n" in h.core.tree.nodes
    h2 = CoreHarness(tick_ms=500, extended_types=True, container_check_interval_ms=INTERVAL,
                     container_max_never_used_ms=1500)
    c2 = h2.session()
    ok(h2, c2, 1, OpCode.createContainer, container_req("/n"))
    h2.tick(INTERVAL)
    assert "/n" in h2.core.tree.nodes           # 1000 ms old: not more than 1500
    h2.tick(2 * INTERVAL)
    assert "/n" not in h2.core.tree.nodes


def test_ttl_node_goes_once_idle_for_its_ttl_and_childless(h):
    c = h.session()
    ok(h, c, 1, OpCode.createTTL, ttl_req("/t", 1500))
    ok(h, c, 2, OpCode.createTTL, ttl_req("/p", 500))
    h.create(c, "/p/kid", xid=3)
    h.tick(INTERVAL)
    assert "/t" in h.core.tree.nodes           # idle 1000 ms of 1500
    h.tick(2 * INTERVAL)
    assert "/t" not in h.core.tree.nodes
    assert "/p" in h.core.tree.nodes           # a child keeps it
    ok(h, c, 4, OpCode.delete, r.DeleteRequest.parse(r.DeleteRequest.build(dict(path="/p/kid", version=-1))))
    h.tick(3 * INTERVAL)
    assert "/p" not in h.core.tree.nodes


def test_a_candidate_that_gained_a_child_becomes_an_error_txn(h):
    # The check looks at the committed tree; prep looks at the pending
    # changes too: a child created in between makes NOTEMPTY, an error txn.
    c = h.session()
    ok(h, c, 1, OpCode.createContainer, container_req("/g"))
    h.create(c, "/g/a", xid=2)
    ok(h, c, 3, OpCode.delete, r.DeleteRequest.parse(r.DeleteRequest.build(dict(path="/g/a", version=-1))))
    h.now = INTERVAL
    h.core.request(c, 4, OpCode.create, create_req("/g/b"), h.now)   # proposed, not yet persisted
    h.driver.tick(INTERVAL)
    h.flush()
    assert logged(h)[-1] == (OpCode.error, 0, 0, Err.NOTEMPTY)
    assert "/g" in h.core.tree.nodes and "/g/b" in h.core.tree.nodes


def test_prep_delete_container_refuses_session_ephemerals(h):
    c = h.session()
    h.create(c, "/e", flags=CreateMode.EPHEMERAL, xid=1)
    hdr, txn = h.core.proposer.prep.prep_delete_container("/e", 0)
    assert hdr.type == OpCode.error and txn.err == Err.BADVERSION
    hdr, txn = h.core.proposer.prep.prep_delete_container("/missing", 0)
    assert hdr.type == OpCode.error and txn.err == Err.NONODE


def test_rate_limit_paces_deletes():
    h = CoreHarness(tick_ms=500, extended_types=True, container_check_interval_ms=INTERVAL,
                    container_max_per_minute=600)   # one per 100 ms
    c = h.session()
    for i in range(3):
        ok(h, c, 10 + i, OpCode.createTTL, ttl_req("/r%d" % i, 1))
    h.tick(INTERVAL)
    gone = lambda: sum("/r%d" % i not in h.core.tree.nodes for i in range(3))  # noqa: E731
    assert gone() == 1
    h.tick(INTERVAL + 99)
    assert gone() == 1
    h.tick(INTERVAL + 100)
    assert gone() == 2
    assert h.core.proposer.next_tick_ms() == INTERVAL + 200
    h.tick(INTERVAL + 200)
    assert gone() == 3
    assert h.core.proposer.next_tick_ms() == 2 * INTERVAL


def test_settings_come_from_system_properties_and_bad_ones_are_refused():
    from zkwire.server.edge.config import ConfigError, load

    s = load(props={"znode.container.checkIntervalMs": "100",
                    "znode.container.maxPerMinute": "600000",
                    "znode.container.maxNeverUsedIntervalMs": "5000"})
    assert (s.container_check_interval_ms, s.container_max_per_minute,
            s.container_max_never_used_ms) == (100, 600000, 5000)
    assert not [w for w in s.warnings if "container" in w]
    for key in ("znode.container.maxPerMinute", "znode.container.checkIntervalMs"):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load(props={key: "0"})
