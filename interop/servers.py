"""The two servers every interop scenario runs against.

Both are started by tests/servers.py's :class:`ServerProcess` from the same
generated zoo.cfg (tickTime=500, 4lw whitelist ``*``) and the same Java system
properties, chosen so that the background machinery is observable within a
scenario:

* ``zookeeper.extendedTypesEnabled=true``: containers and TTL nodes;
* ``znode.container.checkIntervalMs=100`` (ContainerManager's property): empty
  containers and expired TTL nodes go within ~0.1 s instead of a minute;
  ``znode.container.maxPerMinute`` is raised so deletions are not spaced out;
* ``zookeeper.enforceQuota=true``: quotas are enforced (QUOTAEXCEEDED);
* a super digest for ``super:super`` (the ACL scenarios authenticate as super).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from servers import ServerProcess, apache_zookeeper_available, free_port, wait_until  # noqa: E402,F401

SUPER_DIGEST = "super:gG7s8t3oDEtIqF6DM9LlI/R+9Ss="   # super:super

SYSPROPS = {
    "zookeeper.extendedTypesEnabled": "true",
    "znode.container.checkIntervalMs": "100",
    "znode.container.maxPerMinute": "600000",
    "zookeeper.enforceQuota": "true",
    "zookeeper.DigestAuthenticationProvider.superDigest": SUPER_DIGEST,
}

KINDS = ("zookeeper", "zkwire")


#: INTEROP_ENSEMBLE=3: every scenario runs against two 3-member ensembles
#: (Apache ZooKeeper's and zkwire's) instead of two standalone servers.
ENSEMBLE_SIZE = int(os.environ.get("INTEROP_ENSEMBLE", "0") or 0)


class EnsembleTarget:
    """An ensemble of one kind, standing where a ServerProcess stands.

    Each scenario runs on one member, picked by role from the scenario's name
    (the leader or a follower, the same role on both kinds, so the two runs
    are comparable; all its actors on that member, so a scenario never reads
    another member's lagging view).  ``hosts`` (for the runner's admin
    client) names every member."""

    def __init__(self, kind, size, cfg, sysprops):
        from ensemble import Ensemble

        from servers import DEFAULT_CFG

        self.kind = kind
        extra = dict(DEFAULT_CFG)
        extra.update(cfg)
        self.ensemble = Ensemble(("z" if kind == "zkwire" else "j") * size, extra_cfg=extra,
                                 sysprops=sysprops)
        self.workdir = self.ensemble.workdir
        self._clients = {}

    def start(self):
        self.ensemble.start_all()
        self.ensemble.wait_serving()
        return self

    @property
    def hosts(self) -> str:
        return self.ensemble.hosts

    def member_for(self, scenario_name: str):
        import zlib

        role = ("leader", "follower")[zlib.crc32(scenario_name.encode()) % 2]
        for m in self.ensemble.members.values():
            if m.mode() == role:
                return m
        raise AssertionError("no %s in %s's ensemble" % (role, self.kind))

    def catch_up(self, member, path: str) -> None:
        """``member`` has seen ``path`` (made through another member)."""
        from kazoo.client import KazooClient

        c = self._clients.get(member.sid)
        if c is None:
            c = self._clients[member.sid] = KazooClient(hosts=member.host, timeout=10.0)
            c.start(timeout=15)
        c.sync(path)

    def stop(self):
        for c in self._clients.values():
            c.stop()
            c.close()
        self._clients.clear()
        for m in self.ensemble.members.values():
            m.stop()

    def cleanup(self):
        self.stop()
        self.ensemble.close()


def start_pair(cfg: dict | None = None):
    """-> {"zookeeper": ServerProcess, "zkwire": ServerProcess}, both started
    (``cfg``: extra zoo.cfg lines for both); with INTEROP_ENSEMBLE=N, an
    EnsembleTarget of N members for each."""
    out = {}
    try:
        for kind in KINDS:
            if ENSEMBLE_SIZE:
                out[kind] = EnsembleTarget(kind, ENSEMBLE_SIZE, dict(cfg or {}),
                                           dict(SYSPROPS)).start()
                continue
            out[kind] = ServerProcess(kind, cfg=dict(cfg or {}), sysprops=dict(SYSPROPS)).start()
    except BaseException:
        for srv in out.values():
            srv.cleanup()
        raise
    return out
