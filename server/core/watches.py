"""The watch table: who watches which path, and who is told what when it changes.

Theory of operation
-------------------
Two tables, as in ZooKeeper: *data* watches (set by getData, and by exists —
which may watch a node that does not exist yet) and *child* watches (set by
getChildren).  Watches are one-shot: triggering removes them.  A watcher is any
hashable handle (the server uses its connection objects).

``trigger(event_type, path)`` returns the watchers to notify.  Which table an
event reads follows ZooKeeper's DataTree: NodeCreated and NodeDataChanged fire
data watches; NodeChildrenChanged fires child watches; NodeDeleted fires both,
and a watcher that had both on the deleted node is told once.
"""
from __future__ import annotations

from zkwire.consts import EventType


class WatchManager:
    """One table: path -> watchers, watcher -> paths."""

    def __init__(self):
        self.by_path = {}
        self.by_watcher = {}
        self.total = 0   # (path, watcher) pairs, kept so mntr/wchs do not scan the table

    def add(self, path, watcher) -> None:
        ws = self.by_path.get(path)
        if ws is None:
            ws = self.by_path[path] = {}
        if watcher in ws:
            return
        ws[watcher] = None
        self.total += 1
        ps = self.by_watcher.get(watcher)
        if ps is None:
            ps = self.by_watcher[watcher] = {}
        ps[path] = None

    def contains(self, path, watcher) -> bool:
        ws = self.by_path.get(path)
        return ws is not None and watcher in ws

    def pop(self, path) -> dict:
        ws = self.by_path.pop(path, None)
        if not ws:
            return {}
        self.total -= len(ws)
        for w in ws:
            ps = self.by_watcher.get(w)
            if ps is not None:
                ps.pop(path, None)
                if not ps:
                    del self.by_watcher[w]
        return ws

    def remove(self, path, watcher) -> bool:
        ws = self.by_path.get(path)
        if ws is None or watcher not in ws:
            return False
        del ws[watcher]
        self.total -= 1
        if not ws:
            del self.by_path[path]
        ps = self.by_watcher.get(watcher)
        if ps is not None:
            ps.pop(path, None)
            if not ps:
                del self.by_watcher[watcher]
        return True

    def remove_watcher(self, watcher) -> None:
        for path in self.by_watcher.pop(watcher, ()):
            ws = self.by_path.get(path)
            if ws is not None and watcher in ws:
                del ws[watcher]
                self.total -= 1
                if not ws:
                    del self.by_path[path]

    def count(self) -> int:
        return self.total


class WatchTable:
    def __init__(self):
        self.data = WatchManager()
        self.child = WatchManager()

    def trigger(self, event_type, path) -> list:
        """Remove and return the watchers to notify of ``event_type`` on ``path``."""
        if event_type == EventType.NodeChildrenChanged:
            return list(self.child.pop(path))
        if event_type == EventType.NodeDeleted:
            fired = self.data.pop(path)
            if path in self.child.by_path:
                fired = dict(fired)
                fired.update(self.child.pop(path))
            return list(fired)
        return list(self.data.pop(path))

    def remove_watcher(self, watcher) -> None:
        self.data.remove_watcher(watcher)
        self.child.remove_watcher(watcher)

    def count(self) -> int:
        return self.data.count() + self.child.count()

    def path_count(self) -> int:
        return len(set(self.data.by_path) | set(self.child.by_path))
