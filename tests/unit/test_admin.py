"""The AdminServer's pieces that need no HTTP: the Jackson-style printer and
the auth rules of 3.9's Commands.runCommand (read from the release-3.9.5
source; Apache ZooKeeper 3.8.0 has no command that needs auth, so the HTTP
tests in tests/integration/test_admin.py check these against 3.9's rules on
zkwire and against 3.8's absence of the commands on ZooKeeper)."""
from __future__ import annotations

from zkwire.server.core.acl import digest
from zkwire.server.core.frontend import CoreConfig, ServerCore
from zkwire.server.core.replicator import StandaloneReplicator
from zkwire.server.edge.admin import AdminCommands, jackson
from zkwire.server.storage.store import MemoryLog


def test_jackson_layout():
    # The layout of ZooKeeper 3.8.0's AdminServer answers (observed, see
    # tests/integration/test_admin.py): nested objects indent two spaces a
    # level, arrays stay on one line, an object inside an array opens on it.
    assert jackson({"a": 1, "b": None}) == '{\n  "a" : 1,\n  "b" : null\n}'
    assert jackson({"x": [], "y": {}}) == '{\n  "x" : [ ],\n  "y" : { }\n}'
    assert jackson({"c": [{"k": "v"}], "d": [1, 2]}) == (
        '{\n  "c" : [ {\n    "k" : "v"\n  } ],\n  "d" : [ 1, 2 ]\n}')
    assert jackson({"f": 17.25, "t": True}) == '{\n  "f" : 17.25,\n  "t" : true\n}'


class _Server:
    def __init__(self, super_digest=None):
        self.core = ServerCore(CoreConfig(super_digest=super_digest),
                               StandaloneReplicator(MemoryLog()), 0)


def test_auth_rules():
    srv = _Server(super_digest=digest("super:pw"))
    cmds = AdminCommands(srv)
    root = srv.core.tree.nodes["/"]
    root.acl = ((31, "digest", digest("admin:pw")), (1, "ip", "10.0.0.1"))
    assert cmds._authenticate("digest admin:pw", "127.0.0.1") == [("digest", digest("admin:pw"))]
    assert cmds._authenticate("digest", "127.0.0.1") is None
    assert cmds._authenticate("digest a:b c", "127.0.0.1") is None        # three parts
    assert cmds._authenticate("sasl x", "127.0.0.1") is None
    assert cmds._authenticate("ip", "10.0.0.1") == [("ip", "10.0.0.1")]
    assert cmds._authorized([("digest", digest("admin:pw"))])
    assert not cmds._authorized([("digest", digest("other:pw"))])
    assert not cmds._authorized([("ip", "10.0.0.1")])                     # READ only
    assert cmds._authorized(cmds._authenticate("digest super:pw", "127.0.0.1"))


def test_snapshot_needs_auth_before_anything():
    srv = _Server()

    class _FourLW:
        @staticmethod
        def _mode():
            return "standalone"
    srv.fourlw = _FourLW()
    cmds = AdminCommands(srv)
    r = cmds.run("snapshot", {}, None, "127.0.0.1", post=False)
    assert (r.status, r.error, r.command) == (401, "Auth info is missing for the command", "snapshot")
    # The default ACL of "/" is world:anyone ALL: any identity passes, and
    # zkwire then answers as 3.9 with zookeeper.admin.snapshot.enabled=false.
    r = cmds.run("snap", {}, "digest x:y", "127.0.0.1", post=False)
    assert (r.status, r.error, r.command) == (503, None, "snapshot")
    r = cmds.run("rest", {}, None, "127.0.0.1", post=True)
    assert (r.status, r.command) == (401, "rest")
    r = cmds.run("nosuch", {}, None, "127.0.0.1", post=False)
    assert (r.status, r.error) == (200, "Unknown command: nosuch")
