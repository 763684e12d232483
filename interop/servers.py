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


def start_pair(cfg: dict | None = None):
    """-> {"zookeeper": ServerProcess, "zkwire": ServerProcess}, both started
    (``cfg``: extra zoo.cfg lines for both)."""
    out = {}
    try:
        for kind in KINDS:
            out[kind] = ServerProcess(kind, cfg=dict(cfg or {}), sysprops=dict(SYSPROPS)).start()
    except BaseException:
        for srv in out.values():
            srv.cleanup()
        raise
    return out
