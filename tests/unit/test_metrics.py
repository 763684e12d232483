"""The metric registry behind mntr: ZooKeeper's keys, in ZooKeeper's order,
with ZooKeeper's per-namespace figures.

The expected output is Apache ZooKeeper 3.8.0's, observed as described at the
top of tests/unit/zookeeper_3_8_0_mntr.txt.  3.8 registers five metrics fewer
than 3.9 (metrics.SINCE_39); the registry built from 3.8's catalogue must
print exactly 3.8's keys in 3.8's order, which holds the ConcurrentHashMap
order simulation (javaorder.chm_order) to the real thing.
"""
from __future__ import annotations

import os

import pytest

from zkwire.server.core import metrics as M
from zkwire.server.core.tree import DataTree
from zkwire.server.core.acl import OPEN_ACL_UNSAFE

HERE = os.path.dirname(os.path.abspath(__file__))


def observed():
    sections, cur = {}, None
    with open(os.path.join(HERE, "zookeeper_3_8_0_mntr.txt")) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            if line.startswith("== "):
                cur = sections.setdefault(line[3:], [])
                continue
            key, _, value = line.partition("\t")
            cur.append((key, value))
    return sections


OBSERVED = observed()
HEADER = {"standalone": ("version", "server_state"),
          "leader": ("version", "server_state", "peer_state"),
          "follower": ("version", "server_state", "peer_state"),
          "observer": ("version", "server_state", "peer_state", "observer_master_id")}


def registry_38():
    return M.Metrics([(n, k) for n, k in M.CATALOGUE if n not in M.SINCE_39])


def gauges_for(role):
    names = M.GAUGES_SERVER
    if role != "standalone":
        names += M.GAUGES_QUORUM
    if role == "leader":
        names += M.GAUGES_LEADER
    elif role == "follower":
        names += M.GAUGES_FOLLOWER
    g = dict.fromkeys(names, 0)
    if role == "follower":
        g["synced_observers"] = None      # null on a follower without observers: not printed
    return g


@pytest.mark.parametrize("role", ["standalone", "leader", "follower", "observer"])
def test_the_38_registry_prints_zookeeper_380s_keys_in_its_order(role):
    m = registry_38()
    if role == "standalone":
        # The requests of the observation, through the tree and the read hook.
        tree = DataTree(OPEN_ACL_UNSAFE)
        tree.metrics = m
        tree.create_node("/w", b"", OPEN_ACL_UNSAFE, 0, -1, 2, 0, [])
        m.read_ns("/w", 0)
        tree.create_node("/a", b"", OPEN_ACL_UNSAFE, 0, -1, 3, 0, [])
        tree.create_node("/a/b", b"", OPEN_ACL_UNSAFE, 0, -1, 4, 0, [])
        tree.create_node("/a/b/c", b"xyz", OPEN_ACL_UNSAFE, 0, -1, 5, 0, [])
        tree.set_data("/a/b/c", b"12", 1, 6, 0, [])
        m.read_ns("/a/b/c", 2)
        m.read_ns("/a", len("b"))
        tree.delete_node("/a/b/c", 7, [])
    else:
        # What the observed ensemble had recorded in its sets.
        m.write_ns("/zookeeper/config", 0)
        if role == "leader":
            for sid in ("1", "2", "4"):
                m.sets["learner_handler_qp_size"].add(sid, 0)
                m.sets["learner_handler_qp_time_ms"].add(sid, 0)
    got = ["zk_" + k for k in HEADER[role]] + ["zk_" + k for k, _ in m.dump(gauges_for(role))]
    want = [k for k, _ in OBSERVED[role]]
    assert got == want


def test_per_namespace_figures_are_zookeepers():
    m = registry_38()
    tree = DataTree(OPEN_ACL_UNSAFE)
    tree.metrics = m
    tree.create_node("/w", b"", OPEN_ACL_UNSAFE, 0, -1, 2, 0, [])
    m.read_ns("/w", 0)
    tree.create_node("/a", b"", OPEN_ACL_UNSAFE, 0, -1, 3, 0, [])
    tree.create_node("/a/b", b"", OPEN_ACL_UNSAFE, 0, -1, 4, 0, [])
    tree.create_node("/a/b/c", b"xyz", OPEN_ACL_UNSAFE, 0, -1, 5, 0, [])
    tree.set_data("/a/b/c", b"12", 1, 6, 0, [])
    m.read_ns("/a/b/c", 2)
    m.read_ns("/a", len("b"))
    tree.delete_node("/a/b/c", 7, [])
    got = {"zk_" + k: str(v) for k, v in m.dump({}) if "per_namespace" in k}
    want = {k: v for k, v in OBSERVED["standalone"] if "per_namespace" in k}
    assert got == want


def test_the_39_registry_adds_the_39_metrics():
    keys = {k for k, _ in M.Metrics().dump({})}
    for name in ("snapshot_error_count", "snapshot_rate_limited_count", "restore_error_count",
                 "restore_rate_limited_count", "avg_restore_time", "sum_restore_time"):
        assert name in keys


def test_summaries():
    s = M.Summary("x", advanced=True)
    assert dict(s.values("x")) == {"avg_x": 0.0, "min_x": 0, "max_x": 0, "cnt_x": 0, "sum_x": 0,
                                   "p50_x": 0, "p95_x": 0, "p99_x": 0, "p999_x": 0}
    for v in (1, 2, 3, 4):
        s.add(v)
    v = dict(s.values("x"))
    assert (v["avg_x"], v["min_x"], v["max_x"], v["cnt_x"], v["sum_x"]) == (2.5, 1, 4, 4, 10)
    # Dropwizard's UniformSnapshot: position q*(n+1) between the sorted values.
    assert (v["p50_x"], v["p95_x"]) == (3, 4)          # 2.5 rounds half up; 4.75 -> the last
    assert M.java_avg(1, 32) == 0.0313                  # BigDecimal HALF_UP, not Python's round
    assert M.top_namespace("/") is None and M.top_namespace("/a/b") == "a"


def test_sets_are_bounded():
    s = M.SummarySet("write_per_namespace", advanced=False)
    for i in range(M.MAX_SET_KEYS + 5):
        s.add("n%d" % i, 1)
    assert len(s.by_key) == M.MAX_SET_KEYS


def test_reset_keeps_keys_and_zeroes_values():
    m = M.Metrics()
    m.counters["commit_count"] = 3
    m.write_ns("/a", 1)
    m.reset()
    d = dict(m.dump({}))
    assert d["commit_count"] == 0 and d["cnt_a_write_per_namespace"] == 0
