"""server/edge/gcpolicy.py against a stand-in gc module (the real one is process-wide)."""
from __future__ import annotations

import gc

from zkwire.server.edge.gcpolicy import COUNT_EVERY_CHECKS, GcPolicy


class FakeGc:
    def __init__(self):
        self.live = 1000       # objects alive
        self.frozen = 0
        self.calls = []
        self.callbacks = []

    def freeze(self):
        self.calls.append("freeze")
        self.frozen = self.live

    def unfreeze(self):
        self.calls.append("unfreeze")
        self.frozen = 0

    def collect(self):
        self.calls.append("collect")
        self.automatic(2)
        return 0

    def get_freeze_count(self):
        return self.frozen

    def automatic(self, generation):
        """A collection of ``generation``, as CPython reports it to callbacks."""
        for cb in list(self.callbacks):
            cb("start", {"generation": generation})
        for cb in list(self.callbacks):
            cb("stop", {"generation": generation, "collected": 0, "uncollectable": 0})


def test_start_collects_then_freezes():
    g = FakeGc()
    GcPolicy(g).start()
    assert g.calls == ["unfreeze", "collect", "freeze"]
    assert g.frozen == 1000


def test_freezes_right_after_each_full_collection_only():
    g = FakeGc()
    p = GcPolicy(g)
    p.start()
    g.calls.clear()
    g.automatic(0)
    g.automatic(1)
    assert g.calls == []
    g.live = 5000
    g.automatic(2)
    assert g.calls == ["freeze"] and g.frozen == 5000
    p.stop()
    g.automatic(2)
    assert g.calls == ["freeze"]


def test_deep_collection_when_the_frozen_set_has_doubled():
    g = FakeGc()
    p = GcPolicy(g)
    g.live = 200000
    p.start()
    g.calls.clear()
    g.live = 450000                    # below 2 x 200000 + 100000: freeze only
    g.automatic(2)
    for _ in range(COUNT_EVERY_CHECKS):
        p.check()
    assert g.calls == ["freeze"]
    g.live = 600000
    g.automatic(2)
    for _ in range(COUNT_EVERY_CHECKS - 1):
        p.check()
    assert g.calls == ["freeze", "freeze"]          # not counted yet
    p.check()
    assert g.calls[2:5] == ["unfreeze", "collect", "freeze"]
    assert p.deep_collections == 2


def test_only_collects_once_without_gc_freeze():
    class PyPyGc:
        collections = 0

        def collect(self):
            self.collections += 1

    g = PyPyGc()
    p = GcPolicy(g)
    assert not p.enabled
    p.start()
    for _ in range(100):
        p.check()
    assert g.collections == 1


def test_the_real_gc_accepts_a_freeze_from_the_callback():
    """CPython calls gc.callbacks at the end of a collection; freezing there
    must leave the collector working (objects still freed, cycles found)."""
    if not hasattr(gc, "freeze"):
        return  # PyPy: the policy is off there (see the test above)
    p = GcPolicy()
    p.gc.callbacks.append(p._after_collection)
    try:
        before = gc.get_freeze_count()

        class Cycle:
            pass

        a = Cycle()
        a.me = a
        del a
        assert gc.collect() >= 1          # the cycle was found and freed
        assert gc.get_freeze_count() >= before
    finally:
        p.stop()
        gc.unfreeze()
