"""A pytest plugin that runs kazoo's own test suite against zkwire.

    ZKWIRE_KAZOO_TARGET=zkwire python -m pytest -p interop.kazoo_suite.plugin --pyargs kazoo.tests

kazoo's harness (``kazoo.testing.common.ManagedZooKeeper.run``) writes a
zoo.cfg (``server.N`` lines when ``ZOOKEEPER_CLUSTER_SIZE`` > 1), a myid, a
JAAS file and a log4j file into a temporary directory per server, and starts
``java -cp ... -D... org.apache.zookeeper.server.quorum.QuorumPeerMain
zoo.cfg``.  With ``ZKWIRE_KAZOO_TARGET=zkwire`` this plugin changes one thing:
the argument list handed to ``subprocess.Popen`` becomes ``zkwire serve
zoo.cfg -D...`` (the same config file, the same ``-D`` system properties, in
the same order; the classpath and the main class are dropped), with the
server's output appended to the ``zookeeper.log`` that kazoo's
``get_logs()`` reads.  The Popen object goes back to kazoo unchanged, so
kazoo's own ``stop()`` (terminate + wait), ``reset()`` and ``destroy()``
still stop each server by its PID, and its ports, data dirs and restarts are
all kazoo's.

``run()`` builds the command inline and has no seam of its own, so the patch
sits at ``kazoo.testing.common.subprocess``: a stand-in module whose
``Popen`` rewrites the QuorumPeerMain command and passes everything else
through.  ``run()`` itself is not copied.

Two more things, for every target (Apache ZooKeeper too, so both see the
same zoo.cfg):

* ``ZKWIRE_KAZOO_LOOPBACK`` (default ``1``) adds ``clientPortAddress``,
  ``secureClientPortAddress`` and ``admin.serverAddress`` = 127.0.0.1 to the
  entries kazoo writes, so no server listens beyond loopback (kazoo's own
  quorum and election addresses are already ``localhost``; its clients
  connect to 127.0.0.1).  ``0`` leaves kazoo's zoo.cfg exactly as it is.
* ``ZKWIRE_KAZOO_PIDFILE``: every server process started is appended to this
  file (``pid<TAB>argv``), so the runner can check afterwards that none is
  left and stop any stray one by its PID.

``ZKWIRE_KAZOO_DESELECT``: a file of test ids (``module.Class::name``, as in
the JUnit file: ``kazoo.tests.test_client.TestClient::test_create``), one a
line, that are deselected: the runner uses it to go on after a test that hung.

``ZKWIRE_KAZOO_REPORTS``: every test report (setup, call, teardown) is
appended to this file as one JSON line as soon as it is made, so a run that
has to be stopped (a hung test) still leaves each failure's message.

``ZKWIRE_KAZOO_COMMAND`` overrides the zkwire command (default: the
``zkwire`` script beside this Python, else ``python -m zkwire``), e.g.
``pypy3 -m zkwire``.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

TARGET_ENV = "ZKWIRE_KAZOO_TARGET"
COMMAND_ENV = "ZKWIRE_KAZOO_COMMAND"
PIDFILE_ENV = "ZKWIRE_KAZOO_PIDFILE"
LOOPBACK_ENV = "ZKWIRE_KAZOO_LOOPBACK"
DESELECT_ENV = "ZKWIRE_KAZOO_DESELECT"
REPORTS_ENV = "ZKWIRE_KAZOO_REPORTS"

TARGETS = ("zookeeper", "zkwire")
QUORUM_PEER_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
LOOPBACK_ENTRIES = (
    "clientPortAddress=127.0.0.1",
    "secureClientPortAddress=127.0.0.1",
    "admin.serverAddress=127.0.0.1",
)


def target() -> str:
    value = os.environ.get(TARGET_ENV, "zookeeper") or "zookeeper"
    if value not in TARGETS:
        raise ValueError("%s=%r: expected one of %s" % (TARGET_ENV, value, ", ".join(TARGETS)))
    return value


def zkwire_command() -> list:
    if os.environ.get(COMMAND_ENV):
        return shlex.split(os.environ[COMMAND_ENV])
    script = os.path.join(os.path.dirname(sys.executable), "zkwire")
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", "zkwire"]


def zkwire_args(java_args, command=None) -> list:
    """``java -cp CP -Da=b ... QuorumPeerMain zoo.cfg`` -> ``zkwire serve
    zoo.cfg -Da=b ...``: the config file and every -D property, in order."""
    java_args = list(java_args)
    i = java_args.index(QUORUM_PEER_MAIN)
    config = java_args[i + 1]
    props = [a for a in java_args[1:i] if a.startswith("-D")]
    return list(command or zkwire_command()) + ["serve", config] + props


class _SubprocessStandIn:
    """What ``kazoo.testing.common`` sees as ``subprocess``: the real module,
    except that ``Popen`` of a QuorumPeerMain command may start zkwire."""

    def __init__(self, real, to_zkwire: bool, pidfile: str | None):
        self._real = real
        self._to_zkwire = to_zkwire
        self._pidfile = pidfile

    def __getattr__(self, name):
        return getattr(self._real, name)

    def Popen(self, args, *rest, **kw):  # noqa: N802 (subprocess's name)
        args = list(args)
        log = None
        if self._to_zkwire and QUORUM_PEER_MAIN in args:
            args = zkwire_args(args)
            config = args[args.index("serve") + 1]
            if "stdout" not in kw and "stderr" not in kw:
                # where kazoo's log4j file would be: kazoo's get_logs() reads it
                log = open(os.path.join(os.path.dirname(config), "zookeeper.log"), "ab")
                kw["stdout"] = log
                kw["stderr"] = self._real.STDOUT
        try:
            proc = self._real.Popen(args, *rest, **kw)
        finally:
            if log is not None:
                log.close()
        if self._pidfile:
            with open(self._pidfile, "a") as f:
                f.write("%d\t%.3f\t%s\n" % (proc.pid, time.time(), " ".join(args)))
        return proc


_installed = None


def install() -> str:
    """Patch kazoo's harness for the target in the environment (idempotent);
    return the target."""
    global _installed
    if _installed is not None:
        return _installed
    from kazoo.testing import common

    which = target()
    if which == "zkwire":
        # kazoo's harness parses ZOOKEEPER_VERSION (>= 3.5 adds reconfigEnabled,
        # 4lw whitelist, the super digest) and builds a classpath it then
        # hands to java only: neither names anything zkwire needs.
        os.environ.setdefault("ZOOKEEPER_VERSION", "3.8.0")
        os.environ.setdefault("ZOOKEEPER_CLASSPATH", "unused-by-zkwire")
    common.subprocess = _SubprocessStandIn(subprocess, which == "zkwire",
                                           os.environ.get(PIDFILE_ENV) or None)
    if os.environ.get(LOOPBACK_ENV, "1") != "0":
        original = common.ZookeeperCluster.__init__

        def __init__(self, *args, configuration_entries=(), **kw):
            entries = tuple(configuration_entries) + LOOPBACK_ENTRIES
            original(self, *args, configuration_entries=entries, **kw)

        __init__.__wrapped__ = original
        common.ZookeeperCluster.__init__ = __init__
    _installed = which
    return which


def pytest_configure(config):
    install()


def test_id(item) -> str:
    """The id of a collected test as the JUnit file writes it:
    ``module.Class::name``, or ``module::name`` for a module-level test."""
    module = getattr(getattr(item, "module", None), "__name__", "")
    cls = getattr(item, "cls", None)
    classname = "%s.%s" % (module, cls.__name__) if cls is not None else module
    return "%s::%s" % (classname, item.name)


def pytest_collection_modifyitems(session, config, items):
    path = os.environ.get(DESELECT_ENV)
    if not path:
        return
    with open(path) as f:
        skip = {line.strip() for line in f if line.strip()}
    keep, drop = [], []
    for item in items:
        (drop if test_id(item) in skip else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_logreport(report):
    path = os.environ.get(REPORTS_ENV)
    if not path or (report.when != "call" and report.outcome == "passed"):
        return
    message = ""
    if report.outcome != "passed":
        crash = getattr(report.longrepr, "reprcrash", None)
        if crash is not None:
            message = crash.message
        elif isinstance(report.longrepr, tuple):   # a skip: (file, line, reason)
            message = str(report.longrepr[-1])
        else:
            message = str(report.longrepr).strip().splitlines()[-1:] or [""]
            message = message[0]
    item_id = report.nodeid
    record = {"nodeid": item_id, "when": report.when, "outcome": report.outcome,
              "message": message[:1000], "duration": round(report.duration, 3),
              "longrepr": (report.longreprtext or "")[-6000:] if report.failed else ""}
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def pytest_report_header(config):
    which = install()
    if which == "zkwire":
        server = "zkwire: %s serve zoo.cfg -D..." % " ".join(zkwire_command())
    else:
        server = "Apache ZooKeeper: java -cp %s ... QuorumPeerMain zoo.cfg" % (
            os.environ.get("ZOOKEEPER_CLASSPATH") or os.environ.get("ZOOKEEPER_PATH") or "?")
    return "kazoo suite target: %s (cluster size %s, loopback %s)" % (
        server, os.environ.get("ZOOKEEPER_CLUSTER_SIZE", "3"),
        "on" if os.environ.get(LOOPBACK_ENV, "1") != "0" else "off")
