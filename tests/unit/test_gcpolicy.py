"""server/gcpolicy.py against a stand-in gc module (the real one is process-wide)."""
from __future__ import annotations

from zkwire.server.gcpolicy import GcPolicy


class FakeGc:
    def __init__(self):
        self.full = 0          # automatic generation-2 collections so far
        self.live = 1000       # objects alive
        self.frozen = 0
        self.calls = []

    def get_stats(self):
        return [{}, {}, {"collections": self.full}]

    def freeze(self):
        self.calls.append("freeze")
        self.frozen = self.live

    def unfreeze(self):
        self.calls.append("unfreeze")
        self.frozen = 0

    def collect(self):
        self.calls.append("collect")
        self.full += 1
        return 0

    def get_freeze_count(self):
        return self.frozen


def test_start_collects_then_freezes():
    g = FakeGc()
    GcPolicy(g).start()
    assert g.calls == ["unfreeze", "collect", "freeze"]
    assert g.frozen == 1000


def test_freezes_after_each_automatic_full_collection_only():
    g = FakeGc()
    p = GcPolicy(g)
    p.start()
    g.calls.clear()
    p.check()
    assert g.calls == []               # no full collection since: nothing to do
    g.full += 1
    g.live = 5000
    p.check()
    assert g.calls == ["freeze"] and g.frozen == 5000
    p.check()
    assert g.calls == ["freeze"]


def test_deep_collection_when_the_frozen_set_has_doubled():
    from zkwire.server.gcpolicy import COUNT_EVERY_CHECKS

    g = FakeGc()
    p = GcPolicy(g)
    g.live = 200000
    p.start()
    g.calls.clear()
    g.live = 450000                    # below 2 x 200000 + 100000: freeze only
    g.full += 1
    for _ in range(COUNT_EVERY_CHECKS):
        p.check()
    assert g.calls == ["freeze"]
    g.live = 600000
    g.full += 1
    for _ in range(COUNT_EVERY_CHECKS - 1):
        p.check()
    assert g.calls == ["freeze", "freeze"]          # not counted yet
    p.check()
    assert g.calls == ["freeze", "freeze", "unfreeze", "collect", "freeze"]
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
