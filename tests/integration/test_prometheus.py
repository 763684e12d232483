"""The Prometheus endpoint (metricsProvider.className=...PrometheusMetricsProvider).

Debian's Apache ZooKeeper 3.8.0 does not ship the provider's jars.  Observed
(tests/servers.py's zoo.cfg plus the three metricsProvider lines below): it
prints "Invalid config, exiting abnormally" and exits with status 2 without
serving.  So against Apache ZooKeeper this module checks that observation;
against zkwire it checks what ZooKeeper 3.9.5's PrometheusMetricsProvider
source says the endpoint serves (server/edge/prometheus.py's docstring): the
registry's names with help text equal to the name, counters without
``_total``, summaries with quantile 0.5 (basic) or 0.5/0.9/0.99 (advanced),
``_count`` and ``_sum``, summary sets labelled ``key``, gauges equal to
mntr's figures, and nothing but ``/metrics`` on the port.
"""
from __future__ import annotations

import os
import re
import sys
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from servers import ServerProcess, free_port, target_kind  # noqa: E402

PROVIDER = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"


def config(port):
    return {"metricsProvider.className": PROVIDER, "metricsProvider.httpPort": str(port),
            "metricsProvider.httpHost": "127.0.0.1"}


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            return r.status, r.headers, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8")


@pytest.mark.skipif(target_kind() != "zookeeper", reason="the observation on Apache ZooKeeper")
def test_debian_zookeeper_has_no_prometheus_provider():
    srv = ServerProcess("zookeeper", cfg=config(free_port()))
    try:
        out = srv.run_to_exit(timeout_s=60)
    finally:
        srv.cleanup()
    assert out.returncode == 2
    assert "Invalid config, exiting abnormally" in out.stdout + out.stderr


@pytest.fixture(scope="module")
def scraped():
    if target_kind() == "zookeeper":
        pytest.skip("Apache ZooKeeper 3.8.0 from Debian has no Prometheus provider (see above)")
    from kazoo.client import KazooClient

    port = free_port()
    srv = ServerProcess("zkwire", cfg=config(port)).start()
    zk = KazooClient(hosts=srv.hosts)
    zk.start()
    try:
        zk.create("/app", b"xyz")
        zk.get("/app", watch=lambda e: None)
        status, headers, text = get(port, "/metrics")
        mntr = dict(line.split("\t", 1) for line in srv.four_letter("mntr").splitlines())
        other = get(port, "/other")[0]
        yield status, headers, text, mntr, other
    finally:
        zk.stop()
        zk.close()
        srv.cleanup()


def families(text):
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)$", line)
        if m:
            cur = out.setdefault(m.group(1), {"type": m.group(2), "samples": []})
            continue
        if line.startswith("#") or not line:
            continue
        name, _, value = line.rpartition(" ")
        cur["samples"].append((name, value))
    return out


def test_endpoint(scraped):
    status, headers, text, mntr, other = scraped
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert other == 404
    assert "# HELP znode_count znode_count\n# TYPE znode_count gauge\n" in text


def test_names_and_types(scraped):
    _, _, text, mntr, _ = scraped
    f = families(text)
    assert f["proposal_count"] == {"type": "counter", "samples": [("proposal_count", "0.0")]}
    assert f["znode_count"]["type"] == "gauge"
    assert float(f["znode_count"]["samples"][0][1]) == float(mntr["zk_znode_count"])
    assert float(f["watch_count"]["samples"][0][1]) == float(mntr["zk_watch_count"]) == 1
    rl = [n for n, _ in f["readlatency"]["samples"]]
    assert f["readlatency"]["type"] == "summary"
    assert rl == ['readlatency{quantile="0.5"}', 'readlatency{quantile="0.9"}',
                  'readlatency{quantile="0.99"}', "readlatency_count", "readlatency_sum"]
    fs = [n for n, _ in f["fsynctime"]["samples"]]
    assert fs == ['fsynctime{quantile="0.5"}', "fsynctime_count", "fsynctime_sum"]
    w = dict(f["write_per_namespace"]["samples"])
    assert w['write_per_namespace_count{key="app"}'] == "1.0"
    assert w['write_per_namespace_sum{key="app"}'] == "7.0"      # len("/app") + 3 bytes
    assert w['write_per_namespace{key="app",quantile="0.5"}'] == "7.0"
    # Every mntr metric key is a family or a family's sample.
    for key in mntr:
        name = key[3:]
        if name in ("version", "server_state"):
            continue
        base = re.sub(r"^(avg|min|max|cnt|sum|p50|p95|p99|p999)_", "", name)
        assert name in f or base in f or base.split("_", 1)[-1] in f, key
