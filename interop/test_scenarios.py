"""Every scenario of interop/scenarios/*.zks, with every client that can run it,
against Apache ZooKeeper and zkwire; the two transcripts must agree."""
from __future__ import annotations

import pytest

from interop.clients import CLIENTS, supports
from interop.runner import compare, run_pair
from interop.script import load_all

SCENARIOS = load_all()


def _params():
    out = []
    for client in CLIENTS:
        for sc in SCENARIOS:
            if not supports(client, sc):
                continue
            raw_only = not any(st.actor.startswith("c") for st in sc.steps)
            if raw_only and client != CLIENTS[0]:
                continue        # only raw actors: the client does not matter, run it once
            marks = ([pytest.mark.xfail(strict=True, raises=AssertionError, reason=sc.xfail)]
                     if sc.xfail else [])
            out.append(pytest.param(client, sc, id="%s-%s" % ("raw" if raw_only else client, sc.id),
                                    marks=marks))
    return out


@pytest.mark.parametrize("client,scenario", _params())
def test_scenario(client, scenario, pairs, driver_factories):
    servers, admins = pairs.get(scenario.config)
    factories = driver_factories(client)
    oracle, candidate = run_pair(servers, admins, factories, client, scenario)
    if oracle.error and not oracle.results:
        pytest.fail("the scenario did not run against Apache ZooKeeper:\n%s" % oracle.error)
    ok, report = compare(scenario, oracle, candidate)
    print(report)   # shown for passing tests too with -rP
    if oracle.error:
        pytest.fail("ZooKeeper run failed (driver or scenario bug):\n%s\n\n%s" % (oracle.error, report))
    assert ok, report
