"""What the test stand-in costs (not a test: prints figures).

    .venv/bin/python tests/perf/standin.py [--runs 7] [--tests 200] [--no-zookeeper]

* **start to ready, in-process**: in a fresh interpreter for each run, the
  time from ``TestServer()`` until the server answers ``srvr`` on its port,
  for the first server of the process (it also starts the reactor thread) and
  for a second one; "import included" also counts ``import zkwire.testing``
  and everything the first start needs, from the first line of the script.
* **per-test chroot fixture**: pytest runs ``--tests`` tests that use
  ``zk_client`` (a fresh chroot made, a kazoo client connected, stopped and
  the chroot deleted for every test) and as many that use nothing; the
  difference, per test.
* **RSS of an idle in-process server**: the process's resident memory after
  importing zkwire.testing, after the first server, and per server after ten.
* **Apache ZooKeeper** (Debian's package, as tests/servers.py starts it): from
  starting the JVM until ``srvr`` answers "Mode:"; its RSS once idle.  And
  ``zkwire serve`` as a subprocess, for the same figure.

Each figure is the median over ``--runs`` runs (fresh processes).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

# Run in a fresh interpreter: prints one JSON line of timings (ms) and RSS (kB).
CHILD = r"""
import time
t_script = time.perf_counter()
import socket, sys, json

def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def srvr(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"srvr")
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out.decode()
            out += b

rss_before_import = rss_kb()
t0 = time.perf_counter()
from zkwire.testing import TestServer
import zkwire.testing.server
t_imported = time.perf_counter()
rss_imported = rss_kb()
t1 = time.perf_counter()
first = TestServer()
t_returned = time.perf_counter()
assert "Mode: standalone" in srvr(first.port)
t_ready = time.perf_counter()
rss_one = rss_kb()
t2 = time.perf_counter()
second = TestServer()
assert "Mode: standalone" in srvr(second.port)
t_second = time.perf_counter()
more = [TestServer() for _ in range(9)]
rss_eleven = rss_kb()
print(json.dumps({
    "import_ms": (t_imported - t0) * 1e3,
    "first_returned_ms": (t_returned - t1) * 1e3,
    "first_ready_ms": (t_ready - t1) * 1e3,
    "first_with_import_ms": (t_ready - t_script) * 1e3,
    "second_ready_ms": (t_second - t2) * 1e3,
    "rss_interpreter_kb": rss_before_import,
    "rss_imported_kb": rss_imported,
    "rss_one_kb": rss_one,
    "rss_per_server_kb": (rss_eleven - rss_one) / 10.0,
}))
"""

TEST_FILE = """
import pytest

@pytest.fixture
def dummy_factory(request):
    yield lambda: object()

@pytest.fixture
def dummy(dummy_factory):
    return dummy_factory()

@pytest.mark.parametrize("i", range({n}))
def test_with_fixture(zk_client, i):
    pass

@pytest.mark.parametrize("i", range({n}))
def test_with_dummy(dummy, i):
    pass

@pytest.mark.parametrize("i", range({n}))
def test_without(i):
    pass
"""


def _median(values):
    return statistics.median(values)


def in_process(runs):
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: _median([r[k] for r in results]) for k in results[0]}


def fixture_overhead(n):
    work = tempfile.mkdtemp(prefix="standin-bench-")
    try:
        with open(os.path.join(work, "pytest.ini"), "w") as f:
            f.write("[pytest]\n")
        with open(os.path.join(work, "test_bench.py"), "w") as f:
            f.write(TEST_FILE.format(n=n))
        report = os.path.join(work, "durations.json")
        # pytest's own per-phase durations, summed: setup + call + teardown.
        plugin = textwrap.dedent("""
            import json, collections
            totals = collections.defaultdict(float)
            first = {}
            def pytest_runtest_logreport(report):
                kind = report.nodeid.split("::")[1].split("[")[0]
                totals[kind] += report.duration
                first.setdefault(kind, 0.0)
                if report.nodeid.endswith("[0]"):
                    first[kind] += report.duration
            def pytest_sessionfinish(session):
                with open(%r, "w") as f:
                    json.dump({"totals": totals, "first": first}, f)
        """ % report)
        with open(os.path.join(work, "conftest.py"), "w") as f:
            f.write(plugin)
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                             cwd=work, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(out.stdout + out.stderr)
        with open(report) as f:
            d = json.load(f)
        t, first = d["totals"], d["first"]
        # The first test with the fixture also starts the session's server.
        with_fixture = (t["test_with_fixture"] - first["test_with_fixture"]) / (n - 1)
        dummy = (t["test_with_dummy"] - first["test_with_dummy"]) / (n - 1)
        without = (t["test_without"] - first["test_without"]) / (n - 1)
        return {"per_test_ms": (with_fixture - without) * 1e3,
                "pytest_ms": (dummy - without) * 1e3,
                "first_test_ms": first["test_with_fixture"] * 1e3}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def direct_fixture_work(n):
    """The calls zk_client makes for one test, timed outside pytest (ms each, mean)."""
    from kazoo.client import KazooClient

    from zkwire.testing import TestServer

    totals = {"ensure": 0.0, "start": 0.0, "stop": 0.0, "delete": 0.0}
    with TestServer() as zk:
        for i in range(n):
            chroot = "/bench-%d" % i
            t0 = time.perf_counter()
            zk.ensure_path(chroot)
            t1 = time.perf_counter()
            client = KazooClient(hosts=zk.hosts + chroot)
            client.start()
            t2 = time.perf_counter()
            zk.clear_faults()
            client.stop()
            client.close()
            t3 = time.perf_counter()
            zk.delete_path(chroot)
            t4 = time.perf_counter()
            totals["ensure"] += t1 - t0
            totals["start"] += t2 - t1
            totals["stop"] += t3 - t2
            totals["delete"] += t4 - t3
    return {k: v / n * 1e3 for k, v in totals.items()}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _srvr(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"srvr")
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    return out.decode(errors="replace")
                out += b
    except OSError:
        return ""


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def process_start(kind, runs):
    """Start-to-ready (ms) and idle RSS (kB) of a server process, median of runs."""
    from servers import ServerProcess

    times, rss = [], []
    for _ in range(runs):
        srv = ServerProcess(kind)
        cmd = srv.command()
        log = open(os.path.join(srv.workdir, "server.log"), "ab")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=srv.workdir)
        try:
            while "Mode:" not in _srvr(srv.port):
                if proc.poll() is not None:
                    raise RuntimeError("%s exited: %s" % (kind, srv.log_text()))
                time.sleep(0.005)
            times.append((time.perf_counter() - t0) * 1e3)
            rss.append(_rss_kb(proc.pid))
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()
            srv.proc = None
            srv.cleanup()
    return _median(times), _median(rss)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--tests", type=int, default=200)
    p.add_argument("--no-zookeeper", action="store_true")
    args = p.parse_args(argv)

    r = in_process(args.runs)
    print("in-process TestServer (median of %d fresh processes), %s %s" % (
        args.runs, sys.implementation.name, ".".join(map(str, sys.version_info[:3]))))
    print("  start to ready, first server (starts the reactor thread)  %7.1f ms"
          % r["first_ready_ms"])
    print("    of which TestServer() returning                          %7.1f ms"
          % r["first_returned_ms"])
    print("  start to ready, another server                             %7.1f ms"
          % r["second_ready_ms"])
    print("  import zkwire.testing.server                               %7.1f ms%s"
          % (r["import_ms"], "  (PYTHONDONTWRITEBYTECODE: compiled afresh)"
             if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""))
    print("  script start to first ready, import included               %7.1f ms"
          % r["first_with_import_ms"])
    print("  RSS: interpreter %.1f MB, after import %.1f MB, one server %.1f MB, "
          "each more %.2f MB" % (r["rss_interpreter_kb"] / 1024, r["rss_imported_kb"] / 1024,
                                 r["rss_one_kb"] / 1024, r["rss_per_server_kb"] / 1024))
    print("    (one idle server: %.1f MB over the imports)"
          % ((r["rss_one_kb"] - r["rss_imported_kb"]) / 1024))

    f = fixture_overhead(args.tests)
    print("pytest fixture zk_client (%d tests)" % args.tests)
    print("  per test: fresh chroot, client connected, stopped, chroot deleted  %5.2f ms"
          % f["per_test_ms"])
    print("    of which pytest's own cost of a fixture of that shape            %5.2f ms"
          % f["pytest_ms"])
    print("  first test (also starts the session's server)                      %5.1f ms"
          % f["first_test_ms"])
    d = direct_fixture_work(args.tests)
    print("  the fixture's work timed alone: %.2f ms (kazoo start %.2f, stop+close %.2f; "
          "chroot made %.2f, deleted %.2f)" % (sum(d.values()), d["start"], d["stop"],
                                               d["ensure"], d["delete"]))

    rows = [("zkwire serve (subprocess)", "zkwire")]
    from servers import apache_zookeeper_available

    if not args.no_zookeeper and apache_zookeeper_available():
        rows.insert(0, ("Apache ZooKeeper 3.8 (JVM)", "zookeeper"))
    runs = max(3, args.runs // 2)
    print("server processes (median of %d starts): start to srvr answering, idle RSS" % runs)
    for label, kind in rows:
        ms, kb = process_start(kind, runs)
        print("  %-28s %8.0f ms  %7.1f MB" % (label, ms, kb / 1024))


if __name__ == "__main__":
    main()
