"""Keep CPython's cyclic garbage collector off the data tree.

Theory of operation
-------------------
Every znode is a ``Node`` object, and CPython's cycle collector walks every
such object on each full (generation 2) collection: about half a microsecond a
node, so 0.6 s for a million znodes, and during a burst of creates a full
collection comes each time the heap has grown by a quarter.  Under a create
load that was a third of the server's time, in pauses of up to 100 ms.

The tree holds no reference cycles (nodes refer to bytes, ints, ACL tuples and
a dict of child names), so walking it finds nothing.  The policy:

* after start-up (the recovered tree loaded) collect once, then
  ``gc.freeze()``: everything alive moves to the permanent generation, which
  collections never walk;
* after each automatic full collection (a ``gc.callbacks`` hook), freeze
  again, so each long-lived object is walked by a full collection about
  once, not once per 25% growth;
* when the frozen set has doubled since the last deep collection (counted
  every half minute: counting walks it), unfreeze, collect everything and
  freeze again: a cycle that became garbage after its
  objects were frozen is reclaimed then.  Doubling makes that cost constant
  per object.

Objects are still freed by reference counting the moment they are dropped;
only the search for cycles is affected.  PyPy has its own incremental
collector and no ``gc.freeze``: there the policy only collects once after
start-up.

This is process-wide, so only the ``zkwire serve`` command installs it; a
server embedded in someone else's process leaves their GC alone.
"""
from __future__ import annotations

import gc
import logging

log = logging.getLogger("zkwire.server.gc")

#: How often (in calls of check) the frozen set is counted.
COUNT_EVERY_CHECKS = 30


class GcPolicy:
    def __init__(self, gc_module=gc):
        self.gc = gc_module
        self.enabled = all(hasattr(gc_module, name)
                           for name in ("freeze", "get_freeze_count", "callbacks"))
        self._frozen_after_deep = 0
        self._checks = 0
        self.deep_collections = 0

    def start(self) -> None:
        """Call once the tree is loaded."""
        if not self.enabled:
            # PyPy: one collection returns what loading left behind.
            collect = getattr(self.gc, "collect", None)
            if collect is not None:
                collect()
            return
        self._deep()
        self.gc.callbacks.append(self._after_collection)

    def stop(self) -> None:
        if self.enabled and self._after_collection in self.gc.callbacks:
            self.gc.callbacks.remove(self._after_collection)

    def _after_collection(self, phase, info) -> None:
        # Right after a full collection, so the objects it just walked are not
        # walked again by the next one (a second later is already too late
        # under a create load: full collections of the young come often).
        if phase == "stop" and info.get("generation") == 2:
            self.gc.freeze()

    def check(self) -> None:
        """Call periodically (the server does, once a second)."""
        if not self.enabled:
            return
        self._checks += 1
        # Counting the frozen set walks it (a list of every object): not on
        # every check.
        if self._checks % COUNT_EVERY_CHECKS == 0:
            if self.gc.get_freeze_count() > 2 * self._frozen_after_deep + 100000:
                self._deep()

    def _deep(self) -> None:
        g = self.gc
        g.unfreeze()
        found = g.collect()
        g.freeze()
        self._frozen_after_deep = g.get_freeze_count()
        self.deep_collections += 1
        log.debug("full collection: %d unreachable, %d objects frozen", found,
                  self._frozen_after_deep)
