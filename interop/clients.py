"""The clients that drive scenarios, and how to start their drivers.

kazoo runs in process (drivers/kazoo_driver.py).  The Java client, the C client
and node-zookeeper-client each run one long-lived driver process per server;
the runner writes scenario lines to its stdin, prefixed by ``@begin HOSTS ROOT``
and followed by ``@end``, and reads one JSON result per line from its stdout
(the protocol is described in interop/README.rst, "Clients").

Each client lists the ops and features it cannot do (its library has no API for
them); a scenario is run with every client that can do all of its ``c*`` steps.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVERS = os.path.join(HERE, "drivers")

JAVA_CLASSPATH = [
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/zookeeper-jute.jar",
    "/usr/share/java/slf4j-api.jar",
    "/usr/share/java/slf4j-nop.jar",
    # Debian's zookeeper.jar manifest misses netty-codec; the client's
    # FourLetterWordMain and X509 utilities load netty classes.
    "/usr/share/java/netty-codec.jar",
    "/usr/share/java/netty-handler.jar",
    "/usr/share/java/netty-common.jar",
    "/usr/share/java/netty-buffer.jar",
    "/usr/share/java/netty-transport.jar",
]
CURATOR_CLASSPATH = JAVA_CLASSPATH + [
    "/usr/share/java/curator-client.jar",
    "/usr/share/java/curator-framework.jar",
    "/usr/share/java/curator-recipes.jar",
    "/usr/share/java/guava.jar",
]

# Ops and features each client cannot do (see each driver's docstring).
KAZOO_UNSUPPORTED = None  # filled from the driver module (it imports kazoo)
JAVA_UNSUPPORTED = frozenset(("multi.create2", "whoami_raw"))
C_UNSUPPORTED = frozenset(("whoami", "ephemerals", "count", "multiread", "addwatch", "removewatches",
                           "reconfig", "4lw", "multi.create2", "mode.ttl", "multi.mode.ttl",
                           "multi.mode.container"))
NODE_UNSUPPORTED = frozenset(("whoami", "ephemerals", "count", "multiread", "addwatch", "removewatches",
                              "reconfig", "4lw", "multi.create2", "create2", "mode.ttl", "mode.container",
                              "multi.mode.ttl", "multi.mode.container", "data.null", "sync",
                              # its Exception table has no QUOTAEXCEEDED: the reply kills the process
                              "error.QUOTAEXCEEDED"))


def unsupported(client: str) -> frozenset:
    if client == "kazoo":
        from .drivers.kazoo_driver import UNSUPPORTED

        return UNSUPPORTED
    return {"java": JAVA_UNSUPPORTED, "c": C_UNSUPPORTED, "node": NODE_UNSUPPORTED}[client]


ALL_CLIENTS = ("kazoo", "java", "c", "node")
#: INTEROP_CLIENTS=kazoo,java narrows a run to some clients (while working on one).
CLIENTS = tuple(c for c in os.environ.get("INTEROP_CLIENTS", ",".join(ALL_CLIENTS)).split(",") if c)


def supports(client: str, scenario) -> bool:
    return not (scenario.client_ops() & unsupported(client))


def availability(client: str) -> str | None:
    """None when the client can run here, else what is missing (install with
    interop/install.sh)."""
    if client == "kazoo":
        try:
            import kazoo  # noqa: F401
        except ImportError:
            return "kazoo is not installed"
        return None
    if client == "java":
        if shutil.which("javac") is None:
            return "javac is missing"
        missing = [j for j in JAVA_CLASSPATH if not os.path.exists(j)]
        return "missing %s" % ", ".join(missing) if missing else None
    if client == "c":
        if shutil.which("gcc") is None:
            return "gcc is missing"
        if not os.path.exists("/usr/include/zookeeper/zookeeper.h"):
            return "libzookeeper-mt-dev is not installed"
        return None
    if client == "node":
        if shutil.which("node") is None:
            return "node is missing"
        if not os.path.isdir(os.path.join(HERE, "node", "node_modules", "node-zookeeper-client")):
            return "node-zookeeper-client is not installed (npm)"
        return None
    return "unknown client %s" % client


# --- building the drivers -------------------------------------------------------------

class Build:
    """Compiled drivers in one temporary directory for the test session."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="interop-build-")
        self.lock = threading.Lock()
        self.built = {}

    def java(self) -> list:
        """-> the java command line prefix (class path included)."""
        with self.lock:
            if "java" not in self.built:
                out = os.path.join(self.dir, "java")
                os.makedirs(out, exist_ok=True)
                cp = ":".join(CURATOR_CLASSPATH)
                srcs = [os.path.join(DRIVERS, "java", f) for f in ("ZkDriver.java", "CuratorRecipes.java")
                        if os.path.exists(os.path.join(DRIVERS, "java", f))]
                res = subprocess.run(["javac", "-nowarn", "-cp", cp, "-d", out] + srcs,
                                     capture_output=True, text=True, timeout=300)
                if res.returncode != 0:
                    raise RuntimeError("javac failed:\n%s" % res.stderr)
                self.built["java"] = ["java", "-Xss512k", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                                      "-cp", out + ":" + cp]
            return self.built["java"]

    def c(self) -> list:
        with self.lock:
            if "c" not in self.built:
                exe = os.path.join(self.dir, "zkdriver_c")
                src = os.path.join(DRIVERS, "c", "zkdriver.c")
                res = subprocess.run(["gcc", "-O1", "-Wall", "-DTHREADED", "-o", exe, src, "-lzookeeper_mt", "-lpthread"],
                                     capture_output=True, text=True, timeout=300)
                if res.returncode != 0:
                    raise RuntimeError("gcc failed:\n%s" % res.stderr)
                self.built["c"] = [exe]
            return self.built["c"]

    def node(self) -> list:
        return ["node", os.path.join(HERE, "node", "driver.js")]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class DriverProcess:
    """One driver process (for one client and one server), line in, JSON out."""

    def __init__(self, cmd, name):
        self.name = name
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, bufsize=1)
        self.lock = threading.Lock()

    def ask(self, line: str, timeout_s: float = 60.0) -> dict:
        with self.lock:
            if self.proc.poll() is not None:
                return {"driver_error": "%s exited (%s): %s" % (self.name, self.proc.returncode,
                                                                self.stderr_text())}
            try:
                self.proc.stdin.write(line.replace("\n", " ") + "\n")
                self.proc.stdin.flush()
            except OSError as e:
                return {"driver_error": "%s: cannot write: %s" % (self.name, e)}
            out = _readline(self.proc.stdout, timeout_s)
        if out is None:
            return {"driver_error": "%s: no answer to %r in %ss; stderr: %s" % (
                self.name, line, timeout_s, self.stderr_text())}
        if not out:
            return {"driver_error": "%s exited: %s" % (self.name, self.stderr_text())}
        try:
            return json.loads(out)
        except ValueError:
            return {"driver_error": "%s: not JSON: %r" % (self.name, out)}

    def stderr_text(self) -> str:
        try:
            self.stderr.seek(0)
            return self.stderr.read().decode(errors="replace")[-3000:]
        except (OSError, ValueError):
            return ""

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def _readline(stream, timeout_s):
    """A line from a pipe, or None after ``timeout_s``."""
    box = []
    t = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout_s)
    return box[0] if box else None


class LineDriver:
    """The runner's side of a driver process: one scenario run."""

    def __init__(self, proc: DriverProcess, hosts: str, root: str):
        self.proc = proc
        self.session_ids = {}
        self.passwords = {}
        res = proc.ask("@begin %s %s" % (hosts, root))
        if "driver_error" in res:
            raise RuntimeError(res["driver_error"])

    def step(self, step) -> dict:
        res = self.proc.ask(step.text(), timeout_s=60.0)
        self._sessions(res.pop("_sessions", None))
        return res

    def _sessions(self, m):
        for actor, v in (m or {}).items():
            sid, _, pw = str(v).partition("/")
            self.session_ids[actor] = int(sid)
            self.passwords[actor] = bytes.fromhex(pw)

    def close(self):
        res = self.proc.ask("@end")
        self._sessions(res.get("_sessions"))
        if "driver_error" in res:
            raise RuntimeError(res["driver_error"])
