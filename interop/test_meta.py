"""The suite's own rules: the scenario files parse, there are enough steps, and
what the normalizer and the proxy forgive is exactly what DIFFERENCES.rst
documents.  (No servers needed.)"""
from __future__ import annotations

import collections
import os
import re

from interop import normalize
from interop.clients import ALL_CLIENTS, supports
from interop.script import SCENARIO_DIR, load_all

AREAS = ("nodes", "stats", "sequential", "ephemerals_sessions", "watches", "multi", "acl_auth",
         "containers_ttl", "errors_paths", "fourlw")


def test_every_area_has_a_file_and_enough_steps():
    scenarios = load_all()
    per_area = collections.Counter()
    for sc in scenarios:
        per_area[sc.area] += len(sc.steps)
    assert sorted(per_area) == sorted(AREAS)
    assert sum(per_area.values()) >= 150, per_area


def test_every_rule_is_documented_and_every_entry_has_a_rule():
    documented = normalize.documented_ids()
    assert set(normalize.RULES) == documented
    assert set(normalize.STEP_RULES) == {k for k, v in normalize.RULES.items() if v == "step"}


def test_step_differences_name_documented_entries():
    steps = [s for sc in load_all() for s in sc.steps if s.diff]
    assert steps, "no step is marked !diff"
    for s in steps:
        assert normalize.RULES.get(s.diff) == "step", (s, s.diff)


def test_xcheck_forgives_only_documented_entries():
    import zkwire.xcheck as xcheck

    src = open(xcheck.__file__, encoding="utf-8").read()
    named = set(re.findall(r'"((?:ZOOKEEPER-\d+)|(?:[a-z]+-[a-z-]+))"', src))
    documented = normalize.documented_ids()
    assert named <= documented, named - documented


def test_expected_failures_have_reasons_and_run_somewhere():
    for sc in load_all():
        if sc.xfail is not None:
            assert len(sc.xfail) > 20, sc
        assert any(supports(c, sc) for c in ALL_CLIENTS), "no client can run %s" % sc.id


def test_scenario_files_are_all_loaded():
    names = sorted(n[:-4] for n in os.listdir(SCENARIO_DIR) if n.endswith(".zks"))
    assert names == sorted(AREAS)
