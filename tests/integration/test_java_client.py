"""The official ZooKeeper Java client against the test server.

tests/java/ZkSmoke.java is compiled into tmp_path and run against the
``server`` fixture; its normalised transcript must match, line for line, what
it printed against Apache ZooKeeper 3.8.0 (ZKWIRE_TEST_TARGET=zookeeper).

Class path: the Debian zookeeper.jar's manifest drags in a lot (jetty, netty...),
but the client itself only needs zookeeper.jar, zookeeper-jute.jar and
slf4j-api.jar (the default ClientCnxnSocketNIO does not touch netty, so the
missing netty-codec.jar does not matter here); slf4j-nop.jar just silences
SLF4J's "no binding" warnings.
"""
from __future__ import annotations

import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(os.path.dirname(HERE), "java", "ZkSmoke.java")

CLASSPATH = [
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/zookeeper-jute.jar",
    "/usr/share/java/slf4j-api.jar",
    "/usr/share/java/slf4j-nop.jar",
]

# Observed against Apache ZooKeeper 3.8.0 (tickTime=500).
EXPECTED = """\
connected
create persistent -> /zksmoke
create ephemeral -> /zksmoke/eph
create persistent_sequential -> /zksmoke/seq-0000000001
create ephemeral_sequential -> /zksmoke/eseq-0000000002
getData watch -> data=root version=0 cversion=3 aversion=0 ephemeral=false dataLength=4 numChildren=3
setData -> version=1 cversion=3 aversion=0 ephemeral=false dataLength=6 numChildren=3
event -> NodeDataChanged /zksmoke
getChildren watch -> [eph, eseq-0000000002, seq-0000000001]
exists eph -> version=0 cversion=0 aversion=0 ephemeral=true dataLength=1 numChildren=0
exists missing -> null
delete version=0 -> ok
event -> NodeChildrenChanged /zksmoke
getData missing -> NONODE path=/zksmoke/missing
create existing -> NODEEXISTS path=/zksmoke
delete bad version -> BADVERSION path=/zksmoke/eph
multi -> [create(/zksmoke/m), setData(version=2), check, delete]
multi failing -> BADVERSION [error(OK), error(BADVERSION), error(RUNTIMEINCONSISTENCY)]
getChildren -> [eph, eseq-0000000002] version=2 cversion=6 aversion=0 ephemeral=false dataLength=6 numChildren=2
closed
""".splitlines()


def run_smoke(hosts, tmp_path):
    """Compile ZkSmoke into ``tmp_path``, run it against ``hosts`` and check
    its transcript is EXPECTED."""
    build = tmp_path / "classes"
    build.mkdir()
    cp = ":".join(CLASSPATH)
    compiled = subprocess.run(["javac", "-cp", cp, "-d", str(build), SOURCE],
                              capture_output=True, text=True, timeout=120)
    assert compiled.returncode == 0, compiled.stderr

    run = subprocess.run(["java", "-cp", f"{build}:{cp}", "ZkSmoke", hosts],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert run.stdout.splitlines() == EXPECTED, run.stderr


def test_java_client_smoke(zk, server, tmp_path):
    # ``zk`` (a kazoo client) guarantees a wiped tree and lets us look afterwards.
    run_smoke(server.hosts, tmp_path)

    # The Java session is closed: its two ephemeral children went with it.
    data, stat = zk.get("/zksmoke")
    assert data == b"root-3"
    assert zk.get_children("/zksmoke") == []
    assert (stat.version, stat.cversion, stat.numChildren) == (2, 8, 0)
