"""Run kazoo's bundled test suite against Apache ZooKeeper and against zkwire.

    .venv/bin/python interop/kazoo_suite/run.py [OUTDIR] [--sizes 3,1] [--parallel 2] [--rerun 1]

For each target (``zookeeper``: Debian's 3.8.0 through kazoo's unmodified
harness; ``zkwire``: the same harness, with ``zkwire serve`` in place of java,
see plugin.py) and each cluster size, it runs ``python -m pytest --pyargs
kazoo.tests`` with kazoo's own environment variables, and writes into
OUTDIR/<target>-<size>node/: ``junit.xml``, ``pytest.log`` (the whole pytest
output), ``pids`` (every server process started).  OUTDIR/summary.txt and
summary.json hold the counts, the tests that pass on ZooKeeper but not on
zkwire (with each failure's message) and, with ``--rerun N``, what those tests
did when run N more times on their own against zkwire.

OUTDIR defaults to /tmp/zkwire-kazoo-suite-<time>; it may not be inside the
repository.  Exit status: 0 when the comparison ran (whatever it found), 1 when a
run could not produce its JUnit file, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PLUGIN = "interop.kazoo_suite.plugin"

# Debian's zookeeper.jar names its dependencies in its manifest's Class-Path,
# except netty-codec (and netty-resolver / native-unix-common, which the Netty
# connection factory kazoo's zoo.cfg asks for loads); kazoo's log4j.properties
# needs a log4j 1 binding for slf4j to write zookeeper.log.
DEBIAN_ZK_CLASSPATH = ":".join("/usr/share/java/%s.jar" % j for j in (
    "zookeeper", "netty-codec", "netty-resolver", "netty-transport-native-unix-common",
    "slf4j-log4j12", "log4j-1.2"))
DEBIAN_ZK_VERSION = "3.8.0"

# kazoo's own test extras (kazoo's METADATA, extra "test"), minus pytest-cov.
# pyOpenSSL 26.2 removed X509Extension, which kazoo's harness uses for its TLS
# certificates.
TEST_REQUIREMENTS = {
    "OpenSSL": "pyopenssl<26.2", "jks": "pyjks", "objgraph": "objgraph",
    "pytest_timeout": "pytest-timeout", "puresasl": "pure-sasl", "gevent": "gevent",
    "eventlet": "eventlet",
}


def missing_requirements(python):
    code = ("import importlib.util, sys\n"
            "names = sys.argv[1:]\n"
            "print(' '.join(n for n in names if importlib.util.find_spec(n) is None))\n")
    out = subprocess.run([python, "-c", code] + list(TEST_REQUIREMENTS), check=True,
                         capture_output=True, text=True).stdout.split()
    if "OpenSSL" not in out:
        ok = subprocess.run([python, "-c", "import OpenSSL.crypto as c; c.X509Extension"],
                            capture_output=True).returncode == 0
        if not ok:
            out.append("OpenSSL")
    return [TEST_REQUIREMENTS[n] for n in out]


def kazoo_rootdir(python):
    out = subprocess.run([python, "-c", "import kazoo, os; print(os.path.dirname("
                          "os.path.dirname(kazoo.__file__)))"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return out


OUTCOME_WORDS = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")


def log_id(nodeid):
    """.../kazoo/tests/test_client.py::TestClient::test_x ->
    kazoo.tests.test_client.TestClient::test_x (the JUnit id)."""
    path, _, rest = nodeid.partition("::")
    path = path.replace(os.sep, "/")
    if "kazoo/" in path:
        path = "kazoo/" + path.rsplit("kazoo/", 1)[1]
    module = path[:-3].replace("/", ".") if path.endswith(".py") else path
    parts = rest.split("::")
    if len(parts) > 1:
        return "%s.%s::%s" % (module, ".".join(parts[:-1]), parts[-1])
    return "%s::%s" % (module, parts[0])


def read_log(path):
    """What a -v pytest log says so far: ({id: outcome}, the id of a test that
    started and has no outcome, whether pytest printed its closing line)."""
    results, running, finished = {}, None, False
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return results, None, False
    for line in lines:
        if line.startswith("=") and (" passed" in line or " failed" in line or
                                     " error" in line) and " in " in line:
            finished = True
        first = line.split(" ", 1)[0]
        if ".py::" not in first or line.startswith(("FAILED ", "ERROR ")):
            continue
        tid = log_id(first)
        words = [w for w in OUTCOME_WORDS if (" %s" % w) in line]
        if not words:
            running = tid
            continue
        outcome = {"PASSED": "passed", "FAILED": "failed", "ERROR": "error",
                   "SKIPPED": "skipped", "XFAIL": "skipped", "XPASS": "passed"}[words[0]]
        prev = results.get(tid)
        if prev is None or prev == "passed":   # a teardown ERROR after PASSED counts
            results[tid] = outcome
        if running == tid:
            running = None
    return results, running, finished


def _default_sigint():
    # A shell starts a background job with SIGINT ignored, and a Python that
    # starts with SIGINT ignored never raises KeyboardInterrupt: pytest would
    # then not write its JUnit file when asked to stop.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Part:
    """One pytest process of a Job."""

    def __init__(self, job, index):
        self.job = job
        self.index = index
        suffix = "" if index == 1 else "-part%d" % index
        self.junit = os.path.join(job.dir, "junit%s.xml" % suffix)
        self.log = os.path.join(job.dir, "pytest%s.log" % suffix)
        self.deselect = os.path.join(job.dir, "deselect%s.txt" % suffix)
        self.reports = os.path.join(job.dir, "reports%s.jsonl" % suffix)
        self.proc = None
        self.started = self.ended = None
        self.stalled = None
        self.last_size = -1
        self.last_growth = None


class Job:
    """One (target, size) run of the suite: a pytest process, and when a test
    hangs (no output for --stall seconds: pytest-timeout fired and the test
    went on hanging in its teardown, as kazoo's client.stop() can) or pytest
    dies, another pytest process for the tests not yet run, the hung one
    recorded as failed."""

    MAX_PARTS = 8

    def __init__(self, args, target, size, port_offset, select=None, name=None):
        self.target = target
        self.size = size
        self.name = name or "%s-%dnode" % (target, size)
        self.dir = os.path.join(args.outdir, self.name)
        self.pidfile = os.path.join(self.dir, "pids")
        self.port_offset = port_offset
        self.select = select
        self.args = args
        self.parts = []
        self.hung = {}          # id -> message
        self.started = self.ended = None
        self.returncode = None

    @property
    def log(self):
        return self.parts[0].log if self.parts else os.path.join(self.dir, "pytest.log")

    def env(self, part=None):
        env = dict(os.environ)
        env.pop("CI", None)   # kazoo's tests change what they check under CI
        for k in list(env):
            if k.startswith("ZOOKEEPER_") or k.startswith("ZKWIRE_KAZOO_"):
                del env[k]
        env.update({
            "ZOOKEEPER_VERSION": self.args.zk_version,
            "ZOOKEEPER_CLASSPATH": self.args.zk_classpath,
            "ZOOKEEPER_CLUSTER_SIZE": str(self.size),
            "ZOOKEEPER_PORT_OFFSET": str(self.port_offset),
            "ZKWIRE_KAZOO_TARGET": self.target,
            "ZKWIRE_KAZOO_PIDFILE": self.pidfile,
            "PYTHONPATH": os.pathsep.join([REPO] + ([env["PYTHONPATH"]]
                                                    if env.get("PYTHONPATH") else [])),
        })
        if part is not None:
            env["ZKWIRE_KAZOO_REPORTS"] = part.reports
        if part is not None and part.index > 1:
            env["ZKWIRE_KAZOO_DESELECT"] = part.deselect
        if self.args.zkwire_command:
            env["ZKWIRE_KAZOO_COMMAND"] = self.args.zkwire_command
        return env

    def command(self, part):
        cmd = [self.args.python, "-m", "pytest", "-c", os.path.join(self.dir, "pytest.ini"),
               "--rootdir", self.args.rootdir, "-p", "no:cacheprovider", "-p", "no:zkwire",
               "-p", PLUGIN, "-v", "-rfE", "--timeout", str(self.args.timeout),
               "--junitxml", part.junit, "-o", "junit_suite_name=" + self.name,
               "-o", "junit_logging=no", "--pyargs"]
        cmd += self.select or ["kazoo.tests"]
        return cmd + list(self.args.pytest_args)

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "pytest.ini"), "w") as f:
            f.write("[pytest]\n")   # none of the repository's pytest settings
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)
        self.started = time.time()
        self._start_part()

    def _start_part(self):
        part = Part(self, len(self.parts) + 1)
        for path in (part.junit, part.log, part.reports):
            if os.path.exists(path):
                os.unlink(path)
        if part.index > 1:
            with open(part.deselect, "w") as f:
                f.write("\n".join(sorted(self.known())) + "\n")
        cmd = self.command(part)
        with open(os.path.join(self.dir, "command.txt"), "a") as f:
            f.write("# part %d\n" % part.index)
            f.write(" ".join("%s=%s" % kv for kv in sorted(self.env(part).items())
                             if kv[0].startswith(("ZOOKEEPER_", "ZKWIRE_KAZOO_"))))
            f.write(" \\\n  " + " ".join(cmd) + "\n")
        part.started = part.last_growth = time.time()
        logf = open(part.log, "wb")
        part.proc = subprocess.Popen(cmd, env=self.env(part), cwd=self.dir, stdout=logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_default_sigint)
        logf.close()
        self.parts.append(part)
        print("[%s] started pytest pid %d (log %s)" % (self.name, part.proc.pid, part.log),
              flush=True)

    def save_state(self):
        state = {"hung": self.hung, "started": self.started, "ended": self.ended,
                 "returncode": self.returncode,
                 "parts": [{"index": q.index, "pid": q.proc.pid if q.proc else None,
                            "started": q.started, "ended": q.ended, "stalled": q.stalled,
                            "returncode": q.proc.returncode if q.proc else None}
                           for q in self.parts]}
        with open(os.path.join(self.dir, "job.json"), "w") as f:
            json.dump(state, f, indent=2)

    @classmethod
    def load(cls, args, target, size, name=None):
        """A finished job from its directory (--summarize): job.json when the
        runner wrote one, else what the files say (a part whose log has no
        closing line was stopped; its running test counts as hung)."""
        job = cls(args, target, size, 0, name=name)
        if not os.path.isdir(job.dir):
            return None
        state_path = os.path.join(job.dir, "job.json")
        state = None
        if os.path.exists(state_path):
            with open(state_path) as f:
                state = json.load(f)
        index = 1
        while True:
            part = Part(job, index)
            if not os.path.exists(part.log):
                break
            job.parts.append(part)
            index += 1
        if not job.parts:
            return None
        if state is not None:
            job.hung = state["hung"]
            job.started, job.ended = state["started"], state["ended"]
            job.returncode = state["returncode"]
            return job
        ini = os.path.join(job.dir, "pytest.ini")
        job.started = os.path.getmtime(ini) if os.path.exists(ini) else \
            os.path.getmtime(job.parts[0].log)
        job.ended = max(os.path.getmtime(q.log) for q in job.parts)
        for q in job.parts:
            _, running, finished = read_log(q.log)
            if not finished and running:
                job.hung[running] = ("hung: no outcome in %s (that pytest was stopped)"
                                     % os.path.basename(q.log))
        return job

    def known(self):
        """Ids of every test some part has reported, and of the hung ones."""
        ids = set(self.hung)
        for part in self.parts:
            ids.update(read_log(part.log)[0])
        return ids

    def poll(self):
        """True once the job is over."""
        if self.ended is not None:
            return True
        if not self.parts:
            return False
        part = self.parts[-1]
        if part.proc.poll() is None:
            try:
                size = os.path.getsize(part.log)
            except OSError:
                size = 0
            now = time.time()
            if size != part.last_size:
                part.last_size, part.last_growth = size, now
                return False
            if now - part.last_growth < self.args.stall:
                return False
            _, running, _ = read_log(part.log)
            part.stalled = running or "?"
            print("[%s] no output for %d s (in %s): stopping pytest pid %d" % (
                self.name, self.args.stall, part.stalled, part.proc.pid), flush=True)
            self._stop_part(part)
        part.ended = time.time()
        self.stop_strays()
        results, running, finished = read_log(part.log)
        print("[%s] pytest pid %d exited %s after %.0f s" % (
            self.name, part.proc.pid, part.proc.returncode, part.ended - part.started), flush=True)
        if part.stalled or not finished:
            stuck = part.stalled or running
            if stuck and stuck != "?":
                self.hung[stuck] = ("hung: no output for %d s after it started (pytest-timeout "
                                    "%d s did not end it); pytest was stopped" % (
                                        self.args.stall, self.args.timeout)
                                    if part.stalled else "pytest died while this test ran")
            if (results or stuck) and len(self.parts) < self.MAX_PARTS:
                self.save_state()
                self._start_part()
                return False
        self.ended = time.time()
        self.returncode = part.proc.returncode
        self.save_state()
        return True

    def _stop_part(self, part):
        # SIGINT first (pytest writes its JUnit file); a main thread stuck in
        # a join that never returns gets SIGTERM, then SIGKILL.
        for sig, wait_s in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            if part.proc.poll() is not None:
                break
            part.proc.send_signal(sig)
            try:
                part.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                pass

    def stop(self):
        """Stop pytest (by its PID), then any server it left."""
        if self.parts and self.parts[-1].proc.poll() is None:
            self._stop_part(self.parts[-1])
        self.stop_strays()

    def results(self):
        """{id: {outcome, message, time}} over all parts: a part's JUnit file
        when it wrote one, else what its log says."""
        merged = {}
        for part in self.parts:
            if os.path.exists(part.junit):
                try:
                    merged.update(read_junit(part.junit))
                    continue
                except ET.ParseError:
                    pass
            reports = read_reports(part.reports)
            for tid, outcome in read_log(part.log)[0].items():
                merged[tid] = reports.get(tid) or {
                    "outcome": outcome, "time": 0.0,
                    "message": "" if outcome == "passed" else
                    "(no JUnit file for this part: see %s)" % part.log}
        for tid, message in self.hung.items():
            merged[tid] = {"outcome": "failed", "message": message, "time": 0.0}
        return merged

    def stop_strays(self):
        """Every server process this job started that is still running is
        stopped by its PID (SIGTERM, then SIGKILL), after checking that the
        PID still names that process."""
        if not os.path.exists(self.pidfile):
            return
        strays = []
        with open(self.pidfile) as f:
            for line in f:
                pid, _, argv = line.rstrip("\n").split("\t", 2)
                pid = int(pid)
                try:
                    with open("/proc/%d/cmdline" % pid, "rb") as c:
                        cmdline = c.read().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                config = argv.split()[-1] if "QuorumPeerMain" in argv else \
                    argv.split(" serve ", 1)[-1].split()[0]
                if config in cmdline:
                    strays.append(pid)
        for pid in strays:
            print("[%s] stopping stray server pid %d" % (self.name, pid), flush=True)
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.time() + 15
        for pid in strays:
            while time.time() < deadline and os.path.exists("/proc/%d" % pid):
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                time.sleep(0.2)
            if os.path.exists("/proc/%d" % pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def read_junit(path):
    """{test id: {"outcome": passed|failed|error|skipped, "message": str,
    "time": s}} from a pytest JUnit file."""
    results = {}
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        tid = "%s::%s" % (case.get("classname", ""), case.get("name", ""))
        outcome, message = "passed", ""
        kinds = {child.tag: child for child in case}
        for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            if tag in kinds:
                outcome = name
                el = kinds[tag]
                message = (el.get("message") or (el.text or "").strip().splitlines()[-1:] or [""])
                message = message if isinstance(message, str) else message[0]
                break
        if outcome == "failed" and "error" in kinds:
            message += "  [and a teardown error: %s]" % (kinds["error"].get("message") or "")
        results[tid] = {"outcome": outcome, "message": message[:500],
                        "time": float(case.get("time") or 0)}
    return results


def read_reports(path):
    """{id: {outcome, message, time}} from the plugin's JSON lines (written
    as each report is made: what is left of a part that had to be stopped)."""
    out = {}
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError:
        return out
    for line in lines:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        tid = log_id(r["nodeid"])
        outcome = {"passed": "passed", "skipped": "skipped"}.get(
            r["outcome"], "failed" if r["when"] == "call" else "error")
        prev = out.get(tid)
        if prev is None or prev["outcome"] in ("passed", "skipped"):
            out[tid] = {"outcome": outcome, "message": r.get("message", ""), "time": 0.0}
        elif outcome == "error":
            prev["message"] += "  [and a teardown error: %s]" % r.get("message", "")
    return out


def counts(results):
    c = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for r in results.values():
        c[r["outcome"]] += 1
    return c


def pytest_summary_line(log):
    try:
        with open(log, errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.startswith("=") and " in " in ln]
        return lines[-1].strip("= ") if lines else ""
    except OSError:
        return ""


def run_jobs(jobs, parallel):
    pending = list(jobs)
    running = []
    try:
        while pending or running:
            while pending and len(running) < max(1, parallel):
                job = pending.pop(0)
                job.start()
                running.append(job)
            time.sleep(2)
            running = [j for j in running if not j.poll()]
    except KeyboardInterrupt:
        for j in running:
            j.stop()
        raise


def main(argv=None):
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even as a background job
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("outdir", nargs="?",
                   default="/tmp/zkwire-kazoo-suite-%s" % time.strftime("%Y%m%d-%H%M%S"))
    p.add_argument("--targets", default="zookeeper,zkwire")
    p.add_argument("--sizes", default="3", help="cluster sizes, e.g. 3,1 (default 3)")
    p.add_argument("--parallel", type=int, default=1, metavar="N",
                   help="run up to N (target, size) jobs at once, on distinct ports "
                        "(default 1: one after the other)")
    p.add_argument("--timeout", type=int, default=180, help="per test, seconds (pytest-timeout)")
    p.add_argument("--stall", type=int, default=None,
                   help="seconds without output after which a test counts as hung and "
                        "pytest is stopped and resumed after it (default: timeout + 60)")
    p.add_argument("--port-offset", type=int, default=20000,
                   help="ZOOKEEPER_PORT_OFFSET of the first job; the next ones add 1000")
    p.add_argument("--rerun", type=int, default=0, metavar="N",
                   help="run each test that passed on ZooKeeper but not on zkwire N more "
                        "times against zkwire, on its own")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--zk-classpath", default=os.environ.get("ZOOKEEPER_CLASSPATH")
                   or DEBIAN_ZK_CLASSPATH)
    p.add_argument("--zk-version", default=os.environ.get("ZOOKEEPER_VERSION")
                   or DEBIAN_ZK_VERSION)
    p.add_argument("--zkwire-command", default=None,
                   help="ZKWIRE_KAZOO_COMMAND (default: the zkwire beside --python)")
    p.add_argument("--summarize", action="store_true",
                   help="run nothing: summarize the runs already in OUTDIR")
    p.add_argument("--no-install", action="store_true",
                   help="do not pip-install kazoo's missing test extras")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p.epilog = "Arguments after -- go to pytest (-k EXPR, -x, ...)."
    args = p.parse_args(argv)
    args.pytest_args = extra
    if args.stall is None:
        args.stall = args.timeout + 60

    args.outdir = os.path.abspath(args.outdir)
    if os.path.commonpath([args.outdir, REPO]) == REPO:
        p.error("OUTDIR %s is inside the repository; results stay out of it" % args.outdir)
    targets = [t for t in args.targets.split(",") if t]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    for t in targets:
        if t not in ("zookeeper", "zkwire"):
            p.error("unknown target %r" % t)
    os.makedirs(args.outdir, exist_ok=True)

    missing = [] if args.summarize else missing_requirements(args.python)
    if missing:
        if args.no_install:
            p.error("kazoo's test extras are missing: %s" % " ".join(missing))
        print("installing kazoo's test extras: %s" % " ".join(missing), flush=True)
        subprocess.run([args.python, "-m", "pip", "install", "-q"] + missing, check=True)
    args.rootdir = kazoo_rootdir(args.python)

    t0 = time.time()
    jobs = []
    for size in sizes:
        for target in targets:
            if args.summarize:
                job = Job.load(args, target, size)
                if job is not None:
                    jobs.append(job)
            else:
                jobs.append(Job(args, target, size, args.port_offset + 1000 * len(jobs)))
    if not args.summarize:
        run_jobs(jobs, args.parallel)

    summary = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "outdir": args.outdir,
               "command": " ".join([sys.executable] + sys.argv), "jobs": {}, "compare": {}}
    results = {}
    status = 0
    for job in jobs:
        results[job.name] = job.results()
        if not results[job.name]:
            print("[%s] no results: see %s" % (job.name, job.log))
            status = 1
            continue
        summary["jobs"][job.name] = {
            "counts": counts(results[job.name]),
            "pytest": " + ".join(pytest_summary_line(p.log) or "(stopped)" for p in job.parts),
            "wall_s": round(job.ended - job.started, 1), "exit": job.returncode,
            "hung": job.hung, "parts": [p.log for p in job.parts]}

    rerun_jobs = []
    for size in sizes:
        zk, zw = "zookeeper-%dnode" % size, "zkwire-%dnode" % size
        if zk not in results or zw not in results:
            continue
        only_zk = sorted(t for t, r in results[zk].items() if r["outcome"] == "passed"
                         and results[zw].get(t, {}).get("outcome") != "passed")
        only_zw = sorted(t for t, r in results[zw].items() if r["outcome"] == "passed"
                         and results[zk].get(t, {}).get("outcome") != "passed")
        summary["compare"][size] = {
            "pass_on_zookeeper_not_zkwire": {
                t: dict(results[zw].get(t, {"outcome": "missing", "message": ""}))
                for t in only_zk},
            "pass_on_zkwire_not_zookeeper": {
                t: results[zk].get(t, {"outcome": "missing"})["outcome"] for t in only_zw},
        }
        for n in range(args.rerun if not args.summarize else 0):
            if only_zk:
                select = [nodeid(t) for t in only_zk]
                rerun_jobs.append((size, Job(args, "zkwire", size, args.port_offset + 500 +
                                             1000 * len(rerun_jobs), select=select,
                                             name="zkwire-%dnode-rerun%d" % (size, n + 1))))
        if args.summarize:
            n = 1
            while True:
                job = Job.load(args, "zkwire", size, name="zkwire-%dnode-rerun%d" % (size, n))
                if job is None:
                    break
                rerun_jobs.append((size, job))
                n += 1
    if rerun_jobs and not args.summarize:
        run_jobs([j for _, j in rerun_jobs], parallel=1)
        for size, job in rerun_jobs:
            again = job.results()
            for t, r in summary["compare"][size]["pass_on_zookeeper_not_zkwire"].items():
                r.setdefault("reruns", []).append(again.get(t, {}).get("outcome", "missing"))
    summary["wall_s"] = round(time.time() - t0, 1) if not args.summarize else round(
        max(j.ended for j in jobs + [j for _, j in rerun_jobs]) -
        min(j.started for j in jobs), 1) if jobs else 0

    text = format_summary(summary)
    with open(os.path.join(args.outdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
    with open(os.path.join(args.outdir, "summary.txt"), "w") as f:
        f.write(text)
    print(text)
    return status


def nodeid(test_id):
    """kazoo.tests.test_client.TestClient::test_x -> a --pyargs selection."""
    classname, name = test_id.split("::", 1)
    module, _, cls = classname.rpartition(".")
    return "%s::%s::%s" % (module, cls, name)


def format_summary(s):
    out = ["kazoo's test suite: Apache ZooKeeper vs zkwire  (%s)" % s["date"],
           "results: %s" % s["outdir"], ""]
    out.append("%-22s %7s %7s %7s %8s  %7s   %s" % ("run", "passed", "failed", "errors",
                                                  "skipped", "wall", "pytest says"))
    for name, j in s["jobs"].items():
        c = j["counts"]
        out.append("%-22s %7d %7d %7d %8d  %6.0fs   %s" % (
            name, c["passed"], c["failed"], c["error"], c["skipped"], j["wall_s"], j["pytest"]))
    for size, cmp in s["compare"].items():
        diff = cmp["pass_on_zookeeper_not_zkwire"]
        out += ["", "%s-node: %d tests pass on ZooKeeper but not on zkwire:" % (size, len(diff))]
        for t, r in diff.items():
            reruns = (" reruns: %s" % ",".join(r["reruns"])) if r.get("reruns") else ""
            out.append("  %s  [%s%s]" % (t, r["outcome"], reruns))
            if r.get("message"):
                out.append("      %s" % r["message"].splitlines()[0][:200])
        other = cmp["pass_on_zkwire_not_zookeeper"]
        if other:
            out += ["%s-node: %d tests pass on zkwire but not on ZooKeeper:" % (size, len(other))]
            out += ["  %s  [zookeeper: %s]" % kv for kv in other.items()]
    out += ["", "total wall time %.0f s" % s["wall_s"], ""]
    return "\n".join(out)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: pytest and its servers were stopped", file=sys.stderr)
        sys.exit(130)
