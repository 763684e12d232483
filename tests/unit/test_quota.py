"""Quota bookkeeping in the tree (server/core/quota.py, DataTree).

The StatsTrack texts are the ones Debian's ZooKeeper 3.8.0 tools and server
wrote and read in tests/integration/test_quota.py and the interop scenario
"quotas are enforced and counted" (interop/scenarios/errors_paths.zks);
the reload rule is DataTree.setupQuota (release-3.9.5 source)."""
from __future__ import annotations

from zkwire.server.core import quota
from zkwire.server.core.acl import OPEN_ACL_UNSAFE
from zkwire.server.core.tree import DataTree
from zkwire.server.storage.snapshot import read_snapshot, write_snapshot

from .test_tree import Txns


def test_stats_track_text_both_ways():
    new = b"count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3"   # zkCli setquota -N 3
    assert quota.parse(new) == {"count": -1, "bytes": -1, "byteHardLimit": -1, "countHardLimit": 3}
    assert quota.format_stats(quota.parse(new)) == new
    assert quota.format_stats(quota.parse(b"count=2,bytes=5")) == b"count=2,bytes=5"
    assert quota.parse(b"count=x,bytes") == {"count": -1, "bytes": -1}   # no exception


def test_hard_limits_beat_soft_ones():
    limits = quota.parse(b"count=1,bytes=-1=;byteHardLimit=4;countHardLimit=-1")
    assert quota.exceeds(limits, {"count": 1, "bytes": 0}, 5, 1) == ("hard", "bytes")
    assert quota.exceeds(limits, {"count": 1, "bytes": 0}, 3, 1) == ("soft", "count")
    assert quota.exceeds(limits, {"count": 0, "bytes": 0}, 3, 1) is None


def _quota_tree(tmp_path=None):
    tree = DataTree(OPEN_ACL_UNSAFE)
    t = Txns(tree)
    t.create("/a", b"12345")
    t.create("/a/b", b"xy")
    t.create("/zookeeper/quota/a")
    t.create("/zookeeper/quota/a/zookeeper_limits", b"count=-1,bytes=-1")
    t.create("/zookeeper/quota/a/zookeeper_stats", b"count=0,bytes=0")
    return tree, t


def test_stats_follow_every_change_below_the_quota_root():
    tree, t = _quota_tree()
    stats = lambda: tree.nodes["/zookeeper/quota/a/zookeeper_stats"].data  # noqa: E731
    assert stats() == b"count=2,bytes=7"       # filled in when the stats node is created
    t.create("/a/b/c", b"123")
    assert stats() == b"count=3,bytes=10"
    t.set_data("/a", b"1", 1)
    assert stats() == b"count=3,bytes=6"
    t.delete("/a/b/c")
    assert stats() == b"count=2,bytes=3"
    t.create("/ab", b"not below /a")
    assert stats() == b"count=2,bytes=3"
    t.delete("/zookeeper/quota/a/zookeeper_limits")
    t.create("/a/d", b"z")
    assert stats() == b"count=2,bytes=3"       # no quota any more


def test_a_reloaded_tree_recounts_its_quotas(tmp_path):
    tree, t = _quota_tree()
    tree.nodes["/zookeeper/quota/a/zookeeper_stats"].data = b"count=99,bytes=99"
    path = str(tmp_path / "snapshot.1")
    write_snapshot(path, tree, {}, zxid=t.zxid - 1)
    loaded, _, _ = read_snapshot(path)
    Txns(loaded, zxid=t.zxid).create("/a/e", b"")
    assert loaded.nodes["/zookeeper/quota/a/zookeeper_stats"].data == b"count=3,bytes=7"
