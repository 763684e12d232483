"""Apache Curator's recipes (Debian's libcurator-*-java) against Apache
ZooKeeper and zkwire: InterProcessMutex, LeaderLatch, DistributedAtomicLong,
TreeCache, CuratorCache, and Curator's builders for containers and TTL
nodes.  drivers/java/CuratorRecipes.java runs each recipe
with two Curator clients and reports what a recipe user sees; the runner
compares that, and the recipe's znodes (every Stat field, normalized) while its
sessions are still open."""
from __future__ import annotations

import re
import threading
import time

import pytest

from interop.clients import CURATOR_CLASSPATH, DriverProcess
from interop.normalize import Context
from interop.runner import remove_tree, snapshot_tree
from interop.servers import KINDS

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

RECIPES = [
    pytest.param("mutex", id="InterProcessMutex"),
    pytest.param("leader", id="LeaderLatch"),
    pytest.param("atomic", id="DistributedAtomicLong"),
    pytest.param("treecache", id="TreeCache"),
    pytest.param("curatorcache", id="CuratorCache"),
    pytest.param("ttlcontainer", id="containers-and-TTL"),
]


@pytest.fixture(scope="session")
def curator(servers, build):
    import os

    missing = [j for j in CURATOR_CLASSPATH if not os.path.exists(j)]
    if missing:
        pytest.fail("Curator unavailable: missing %s (run bash interop/install.sh)" % ", ".join(missing))
    procs = {kind: DriverProcess(build.java() + ["CuratorRecipes"], "curator (%s)" % kind)
             for kind in KINDS}
    yield procs
    for p in procs.values():
        p.stop()


def _run(kind, server, admin, proc, recipe, out):
    admin.ensure_path("/interop/curator")
    root = "/interop/curator/%s" % recipe
    _, st = admin.create(root, b"", include_data=True)
    ctx = Context(st.czxid, root, int(time.time() * 1000))
    res = proc.ask("%s %s %s" % (recipe, server.hosts, root), timeout_s=120)
    tree = snapshot_tree(admin, root)
    proc.ask("close", timeout_s=60)
    for name, v in (res.get("_sessions") or {}).items():
        sid = int(str(v).split("/")[0])
        if sid:
            ctx.sessions[sid] = name
    ctx.t1_ms = int(time.time() * 1000)
    remove_tree(admin, root)
    # Curator names lock and latch nodes with a random GUID.
    out[kind] = (res, {GUID.sub("<guid>", k): ctx.result(v) for k, v in tree.items()})


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe(recipe, servers, admins, curator):
    out = {}
    threads = [threading.Thread(target=_run, args=(k, servers[k], admins[k], curator[k], recipe, out))
               for k in KINDS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    (zk_res, zk_tree), (w_res, w_tree) = out["zookeeper"], out["zkwire"]
    assert "driver_error" not in zk_res and "error" not in zk_res, "ZooKeeper run failed: %s" % (
        zk_res.get("error") or zk_res.get("driver_error"))
    lines = ["recipe %s" % recipe]
    steps_zk, steps_w = zk_res.get("steps", []), w_res.get("steps", [])
    for i in range(max(len(steps_zk), len(steps_w))):
        a = steps_zk[i] if i < len(steps_zk) else "<missing>"
        b = steps_w[i] if i < len(steps_w) else "<missing>"
        lines.append(("   %s" % a) if a == b else (">>> zookeeper: %s\n    zkwire   : %s" % (a, b)))
    if w_res.get("error"):
        lines.append(">>> zkwire run failed: %s" % w_res["error"])
    for k in sorted(set(zk_tree) | set(w_tree)):
        if zk_tree.get(k) != w_tree.get(k):
            lines.append(">>> node %s\n    zookeeper: %s\n    zkwire   : %s" % (k, zk_tree.get(k), w_tree.get(k)))
    report = "\n".join(lines)
    print(report)
    assert steps_zk == steps_w and zk_tree == w_tree and not w_res.get("error"), report
