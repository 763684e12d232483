"""zkwire.server.core.watches: one-shot data/child watch tables (tests/ZOOKEEPER_FACTS.md §5)."""
from __future__ import annotations

from zkwire.consts import EventType
from zkwire.server.core.watches import WatchManager, WatchTable

CREATED, DELETED, CHANGED, CHILDREN = (EventType.NodeCreated, EventType.NodeDeleted,
                                       EventType.NodeDataChanged, EventType.NodeChildrenChanged)


class W:
    """A hashable watcher handle (the server uses its connection objects)."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


def test_data_watch_fires_once_on_change():
    t = WatchTable()
    a = W("a")
    t.data.add("/w", a)
    assert t.trigger(CHANGED, "/w") == [a]
    assert t.trigger(CHANGED, "/w") == []


def test_created_fires_data_table_only():
    t = WatchTable()
    a, b = W("a"), W("b")
    t.data.add("/w2", a)      # exists on a missing node
    t.child.add("/w2", b)
    assert t.trigger(CREATED, "/w2") == [a]
    assert t.child.contains("/w2", b)


def test_children_changed_fires_child_table_only():
    t = WatchTable()
    a, b = W("a"), W("b")
    t.data.add("/w", a)
    t.child.add("/w", b)
    assert t.trigger(CHILDREN, "/w") == [b]
    assert t.data.contains("/w", a)
    assert t.trigger(CHILDREN, "/w") == []


def test_deleted_fires_both_tables_once_per_watcher():
    # getData + getChildren + exists watches on /w, then delete /w -> ONE NodeDeleted.
    t = WatchTable()
    a, b, c = W("a"), W("b"), W("c")
    t.data.add("/w", a)
    t.child.add("/w", a)
    t.data.add("/w", b)
    t.child.add("/w", c)
    fired = t.trigger(DELETED, "/w")
    assert sorted(map(repr, fired)) == ["a", "b", "c"]
    assert len(fired) == 3
    assert t.count() == 0
    assert t.trigger(DELETED, "/w") == []


def test_watches_are_sets_per_watcher():
    t = WatchTable()
    a = W("a")
    t.data.add("/w3", a)
    t.data.add("/w3", a)
    assert t.count() == 1
    assert t.trigger(CHANGED, "/w3") == [a]


def test_trigger_order_is_registration_order():
    t = WatchTable()
    ws = [W(str(i)) for i in range(20)]
    for w in ws:
        t.data.add("/x", w)
    assert t.trigger(CHANGED, "/x") == ws


def test_remove_watcher_drops_all_its_watches():
    t = WatchTable()
    a, b = W("a"), W("b")
    for p in ("/1", "/2"):
        t.data.add(p, a)
        t.child.add(p, a)
    t.data.add("/1", b)
    assert t.count() == 5 and t.path_count() == 2
    t.remove_watcher(a)
    assert t.count() == 1 and t.path_count() == 1
    assert t.trigger(CHANGED, "/1") == [b]
    assert t.trigger(CHILDREN, "/1") == []
    assert t.data.by_watcher == {} and t.child.by_path == {}
    t.remove_watcher(a)  # idempotent


def test_watch_manager_bookkeeping():
    m = WatchManager()
    a, b = W("a"), W("b")
    m.add("/p", a)
    m.add("/q", a)
    m.add("/p", b)
    assert m.contains("/p", a) and not m.contains("/q", b)
    assert m.count() == 3
    assert m.remove("/p", a) is True
    assert m.remove("/p", a) is False
    assert list(m.by_watcher[a]) == ["/q"]
    assert list(m.pop("/p")) == [b]
    assert b not in m.by_watcher
    assert m.pop("/nothing") == {}
    assert m.count() == 1


def test_path_count_counts_union():
    t = WatchTable()
    a = W("a")
    t.data.add("/fw", a)
    t.child.add("/fw", a)
    t.data.add("/fwx", a)
    t.child.add("/", a)
    assert t.path_count() == 3
    assert t.count() == 4


# --- persistent and recursive watches -------------------------------------------------
# Expectations from ZooKeeper 3.9's WatchManager.triggerWatch, WatchStats and
# DataTree.addWatch/removeWatch/containsWatcher (release-3.9.5 source), where
# 3.8 differs (ZOOKEEPER-4466, see interop/DIFFERENCES.rst); the interop
# scenarios in interop/scenarios/watches.zks compare the rest with 3.8.0.

from zkwire.server.core.watches import PERSISTENT, PERSISTENT_RECURSIVE, STANDARD  # noqa: E402


def test_persistent_watch_stays_and_sits_in_both_tables():
    t = WatchTable()
    a = W("a")
    t.add_persistent("/p", a, recursive=False)
    assert t.data.contains("/p", a, PERSISTENT) and t.child.contains("/p", a, PERSISTENT)
    for _ in range(2):
        assert t.trigger(CHANGED, "/p") == [a]
        assert t.trigger(CHILDREN, "/p") == [a]
    assert t.trigger(DELETED, "/p") == [a]      # told once, though in both tables
    assert t.trigger(CREATED, "/p") == [a]      # and still there after the deletion


def test_recursive_watch_sees_descendants_but_no_child_events():
    t = WatchTable()
    a = W("a")
    t.add_persistent("/r", a, recursive=True)
    assert not t.child.contains("/r", a)
    assert t.trigger(CREATED, "/r/x/y") == [a]
    assert t.trigger(CHANGED, "/r") == [a]
    assert t.trigger(CHILDREN, "/r") == []
    assert t.trigger(CHANGED, "/rx") == []      # a sibling sharing the prefix
    assert t.trigger(DELETED, "/r/x") == [a]
    root = W("root")
    t.add_persistent("/", root, recursive=True)
    assert set(t.trigger(CHANGED, "/r/x")) == {a, root}


def test_one_shot_beside_persistent_spends_only_the_one_shot():
    t = WatchTable()
    a = W("a")
    t.add_persistent("/b", a, recursive=False)
    t.data.add("/b", a)
    assert t.data.modes("/b", a) == STANDARD | PERSISTENT
    assert t.trigger(CHANGED, "/b") == [a]
    assert t.data.modes("/b", a) == PERSISTENT
    assert t.trigger(CHANGED, "/b") == [a]


def test_recursive_ancestor_and_one_shot_tell_once():
    t = WatchTable()
    a = W("a")
    t.add_persistent("/o", a, recursive=True)
    t.data.add("/o/k", a)
    assert t.trigger(CHANGED, "/o/k") == [a]
    assert not t.data.contains("/o/k", a)
    assert t.trigger(CHANGED, "/o/k") == [a]    # the recursive one remains


def test_remove_by_mode_and_counts():
    t = WatchTable()
    a = W("a")
    t.add_persistent("/m", a, recursive=False)
    t.add_persistent("/m", a, recursive=True)
    t.data.add("/m", a)
    assert t.data.total == 1 and t.child.total == 1 and t.data.recursive == 1
    assert t.data.remove("/m", a, STANDARD)
    assert t.data.modes("/m", a) == PERSISTENT | PERSISTENT_RECURSIVE
    assert t.data.remove("/m", a, PERSISTENT_RECURSIVE)
    assert t.data.recursive == 0
    assert not t.data.remove("/m", a, PERSISTENT_RECURSIVE)
    assert t.data.remove("/m", a, PERSISTENT) and t.child.remove("/m", a, PERSISTENT)
    assert t.count() == 0 and t.data.by_watcher == {} and t.child.by_path == {}


def test_remove_watcher_forgets_recursive_watches():
    t = WatchTable()
    a, b = W("a"), W("b")
    t.add_persistent("/x", a, recursive=True)
    t.add_persistent("/y", b, recursive=True)
    t.remove_watcher(a)
    assert t.data.recursive == 1
    assert t.trigger(CHANGED, "/x/1") == []
    assert t.trigger(CHANGED, "/y/1") == [b]
