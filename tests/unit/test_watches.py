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
