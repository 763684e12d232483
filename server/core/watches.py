"""The watch table: who watches which path, and who is told what when it changes.

Theory of operation
-------------------
Two tables, as in ZooKeeper's DataTree: *data* watches (set by getData, and
by exists, which may watch a node that does not exist yet) and *child*
watches (set by getChildren).  A watcher is any hashable handle (the server
uses its connection objects).

Each (path, watcher) pair carries a set of modes, as ZooKeeper 3.9's
WatchStats does:

* STANDARD, the classic watch: one-shot, gone once it fires;
* PERSISTENT (addWatch mode 0): in both tables, fires on every event of its
  own path and stays;
* PERSISTENT_RECURSIVE (addWatch mode 1): in the data table only, fires on
  NodeCreated, NodeDeleted and NodeDataChanged of its path *and every path
  below it*, and stays.  Being absent from the child table, it never sees
  NodeChildrenChanged.

A pair may hold several modes at once (a getData watch beside a persistent
one); firing removes only STANDARD.  A watcher is told of one event once,
however many of its watches match (a set, as in ZooKeeper).

``trigger(event_type, path)`` returns the watchers to notify.  Which table an
event reads follows the DataTree: NodeCreated and NodeDataChanged fire data
watches; NodeChildrenChanged fires child watches; NodeDeleted fires both,
and a watcher the data table already told is not told again by the child
table.  Ancestors are only walked while some recursive watch exists, so the
classic case costs one dict lookup per event.
"""
from __future__ import annotations

from zkwire.consts import EventType

STANDARD = 1
PERSISTENT = 2
PERSISTENT_RECURSIVE = 4


def _parents(path):
    """The ancestors of ``path``, nearest first, "/" last."""
    while path != "/":
        i = path.rfind("/")
        path = path[:i] or "/"
        yield path


class WatchManager:
    """One table: path -> {watcher: modes}, watcher -> {path: None}."""

    def __init__(self):
        self.by_path = {}
        self.by_watcher = {}
        self.total = 0      # (path, watcher) pairs, kept so mntr/wchs do not scan the table
        self.recursive = 0  # pairs holding PERSISTENT_RECURSIVE

    def add(self, path, watcher, mode=STANDARD) -> bool:
        """Add ``mode`` to (path, watcher); False if it was there already."""
        ws = self.by_path.get(path)
        if ws is None:
            ws = self.by_path[path] = {}
        old = ws.get(watcher, 0)
        if old & mode:
            return False
        ws[watcher] = old | mode
        if mode == PERSISTENT_RECURSIVE:
            self.recursive += 1
        if not old:
            self.total += 1
            ps = self.by_watcher.get(watcher)
            if ps is None:
                ps = self.by_watcher[watcher] = {}
            ps[path] = None
        return True

    def modes(self, path, watcher) -> int:
        ws = self.by_path.get(path)
        return 0 if ws is None else ws.get(watcher, 0)

    def contains(self, path, watcher, mode=None) -> bool:
        m = self.modes(path, watcher)
        return bool(m) if mode is None else bool(m & mode)

    def _drop(self, path, ws, watcher, modes) -> None:
        del ws[watcher]
        self.total -= 1
        if modes & PERSISTENT_RECURSIVE:
            self.recursive -= 1
        if not ws:
            del self.by_path[path]
        ps = self.by_watcher.get(watcher)
        if ps is not None:
            ps.pop(path, None)
            if not ps:
                del self.by_watcher[watcher]

    def fire(self, path, fired: dict) -> None:
        """Add to ``fired`` the watchers an event on ``path`` tells, and
        spend their one-shot watches (ZooKeeper's triggerWatch).  ``fired``
        is shared by the tables one event reads, so a watcher the data table
        told is not told twice (ZooKeeper's ``suppress``); its one-shot
        child watch is spent all the same."""
        ws = self.by_path.get(path)
        if ws:
            for w, m in list(ws.items()):
                fired[w] = None
                if m & STANDARD:
                    if m == STANDARD:
                        self._drop(path, ws, w, m)
                    else:
                        ws[w] = m & ~STANDARD
        if self.recursive:
            by_path = self.by_path
            for p in _parents(path):
                ws = by_path.get(p)
                if ws:
                    for w, m in ws.items():
                        if m & PERSISTENT_RECURSIVE:
                            fired[w] = None

    def pop(self, path) -> dict:
        """Remove and return every watcher of ``path`` (all modes)."""
        fired = {}
        ws = self.by_path.get(path)
        if ws:
            for w, m in list(ws.items()):
                fired[w] = None
                self._drop(path, ws, w, m)
        return fired

    def remove(self, path, watcher, mode=None) -> bool:
        """Remove ``mode`` (None: every mode) of (path, watcher); True if
        anything was removed."""
        ws = self.by_path.get(path)
        if ws is None or watcher not in ws:
            return False
        m = ws[watcher]
        if mode is None or m == (m & mode):
            self._drop(path, ws, watcher, m)
            return True
        if not m & mode:
            return False
        ws[watcher] = m & ~mode
        if mode & PERSISTENT_RECURSIVE and m & PERSISTENT_RECURSIVE:
            self.recursive -= 1
        return True

    def remove_watcher(self, watcher) -> None:
        for path in self.by_watcher.pop(watcher, ()):
            ws = self.by_path.get(path)
            if ws is not None and watcher in ws:
                m = ws.pop(watcher)
                self.total -= 1
                if m & PERSISTENT_RECURSIVE:
                    self.recursive -= 1
                if not ws:
                    del self.by_path[path]

    def count(self) -> int:
        return self.total


class WatchTable:
    def __init__(self):
        self.data = WatchManager()
        self.child = WatchManager()

    def watched(self, path) -> bool:
        """Could an event on ``path`` tell anyone?  (The commit path's
        cheap test before it calls ``trigger``.)"""
        return (self.data.recursive > 0 or path in self.data.by_path
                or path in self.child.by_path)

    def add_persistent(self, path, watcher, recursive: bool) -> None:
        """addWatch: a persistent watch sits in both tables, a recursive one
        in the data table only (ZooKeeper's DataTree.addWatch)."""
        if recursive:
            self.data.add(path, watcher, PERSISTENT_RECURSIVE)
        else:
            self.data.add(path, watcher, PERSISTENT)
            self.child.add(path, watcher, PERSISTENT)

    def trigger(self, event_type, path) -> list:
        """Return the watchers to notify of ``event_type`` on ``path``,
        spending the one-shot watches that fire."""
        fired = {}
        if event_type == EventType.NodeChildrenChanged:
            self.child.fire(path, fired)
        elif event_type == EventType.NodeDeleted:
            self.data.fire(path, fired)
            if path in self.child.by_path:
                self.child.fire(path, fired)
        else:
            self.data.fire(path, fired)
        return list(fired)

    def remove_watcher(self, watcher) -> None:
        self.data.remove_watcher(watcher)
        self.child.remove_watcher(watcher)

    def count(self) -> int:
        return self.data.count() + self.child.count()

    def path_count(self) -> int:
        return len(set(self.data.by_path) | set(self.child.by_path))
