"""``zkwire bench`` drives a real server correctly: every workload gets
successful replies (no error codes), the watch workload gets notifications,
delete removes its pool, and nothing of the benchmark is left behind.  Timings
are not checked here: they belong to the benchmark's own runs.

Runs against the session's server: zkwire, or Apache ZooKeeper with
ZKWIRE_TEST_TARGET=zookeeper (the bench is meant to load either).
"""
from __future__ import annotations


import pytest

from zkwire import bench


def _args(server, workload, **kw):
    a = bench.parser().parse_args([])
    a.hosts = server.hosts
    a.workload = workload
    a.seconds = kw.pop("seconds", 0.6)
    a.warmup = kw.pop("warmup", 0.2)
    a.procs, a.conns, a.depth = kw.pop("procs", 2), kw.pop("conns", 2), kw.pop("depth", 8)
    a.keys = kw.pop("keys", 50)
    a.delete_pool = kw.pop("delete_pool", 300)
    vars(a).update(kw)
    return a


@pytest.fixture
def clean(zk):
    yield zk
    assert not zk.exists(bench.BASE), "the benchmark left its nodes behind"


@pytest.mark.parametrize("workload", ["get", "set", "create", "mixed", "multi", "serial"])
def test_workload_gets_only_successful_replies(server, clean, workload):
    a = _args(server, workload)
    try:
        r = bench.run(a)
    finally:
        bench.cleanup(a)
    assert r["errors"] == 0
    assert r["ops_per_s"] > 0
    assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["p999_ms"]


def test_create_makes_sequential_nodes(server, zk):
    a = _args(server, "create", procs=1, conns=1)
    try:
        bench.run(a)
        names = [n for n in zk.get_children(bench.BASE) if n.startswith("c0-")]
        assert names and all(len(n) == len("c0-") + 10 for n in names)
    finally:
        bench.cleanup(a)


def test_set_changes_the_data(server, zk):
    a = _args(server, "set", keys=3)
    try:
        bench.run(a)
        data, stat = zk.get(bench.BASE + "/k0000000")
        assert data == b"y" * a.data_bytes and stat.version > 0
    finally:
        bench.cleanup(a)


def test_watch_workload_counts_notifications(server, clean):
    a = _args(server, "watch", keys=5, seconds=1.0)
    try:
        r = bench.run(a)
    finally:
        bench.cleanup(a)
    assert r["errors"] == 0 and r["events_per_s"] > 0


def test_delete_empties_its_pool_and_stops(server, zk):
    a = _args(server, "delete", delete_pool=400, seconds=30.0, warmup=0.0)
    try:
        r = bench.run(a)
        assert r["errors"] == 0 and r["ops_per_s"] > 0
        assert not [n for n in zk.get_children(bench.BASE) if n.startswith("d")]
    finally:
        bench.cleanup(a)


def test_compare_table_has_a_row_per_workload_and_server():
    rs = {("ZooKeeper", "get"): [dict(ops_per_s=100.0, events_per_s=0, errors=0, p50_ms=1.0,
                                      p99_ms=2.0)] * 3,
          ("zkwire CPython 3.11", "get"): [dict(ops_per_s=150.0, events_per_s=0, errors=0,
                                                p50_ms=0.5, p99_ms=1.5)] * 3}
    text = bench.format_compare(rs, ["ZooKeeper", "zkwire CPython 3.11"], ["get"],
                                {"ZooKeeper": 500.0, "zkwire CPython 3.11": 40.0}, 3)
    rows = text.splitlines()
    assert rows[1].split()[:4] == ["get", "ZooKeeper", "100", "1.00"]
    assert rows[2].split()[:6] == ["get", "zkwire", "CPython", "3.11", "150", "1.50"]
    assert "ZooKeeper 500 MB" in rows[3]


def test_scale_snapshot_holds_the_asked_number_of_znodes(tmp_path):
    from zkwire.server.storage.recovery import recover
    from zkwire.server.storage.snapshot import list_snapshots, read_snapshot

    made = bench.write_scale_snapshot(str(tmp_path), 2500, 10, fanout=7)
    tree = read_snapshot(list_snapshots(str(tmp_path))[0][1])[0]
    under = [p for p in tree.nodes if p.startswith("/scale")]
    assert made == len(under) == 2501
    assert len(tree.get("/scale").children) == 7
    assert tree.get("/scale/p0000/n0000000").data == b"v" * 10
    bench.write_scale_log(str(tmp_path), 300, 10, fanout=7)
    tree, _, _, report = recover(str(tmp_path))
    assert report.txns_replayed == 300 and report.last_zxid == tree.last_zxid
    changed = [n for n in tree.nodes.values() if n.data == b"w" * 10]
    assert changed and sum(n.version for n in changed) == 300


def test_unknown_workload_is_refused(capsys):
    assert bench.main(["--compare", "--workloads", "get,nope"]) == 2
    assert "nope" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.parser().parse_args(["--workload", "nope"])
    # Every workload the parser offers is one the benchmark can run, and so is
    # each one --compare runs by default.
    import random
    for name in bench.WORKLOADS:
        a = bench.parser().parse_args(["--workload", name])
        for worker in (0, 1):        # worker 0 is the writer in "watch"
            first = next(bench._requests(a, worker, 2, random.Random(0)))
            assert isinstance(first, bytes) and first
    default = bench.parser().parse_args([])
    assert set(default.workloads.split(",")) <= set(bench.WORKLOADS)
    assert default.workload in bench.WORKLOADS


def test_scale_starts_zkwire_on_the_tree_and_reports_it():
    a = bench.parser().parse_args(["--scale", "3000", "--data-bytes", "20", "--no-zookeeper",
                                   "--scale-txns", "500", "--settle-seconds", "0.5"])
    text = bench.scale(a)
    rows = [line for line in text.splitlines() if line.startswith("zkwire ")]
    assert len(rows) == 1, text
    assert "only" not in rows[0], text       # every znode of the snapshot was served
    start_s, rss_mb = (float(x) for x in rows[0].split()[3:5])
    assert start_s > 0 and rss_mb > 0
