"""Quotas: ZooKeeper's ``/zookeeper/quota`` bookkeeping and its hard limits.

Theory of operation
-------------------
A quota on ``/a/b`` is two znodes written by a client (zkCli.sh's
``setquota``): ``/zookeeper/quota/a/b/zookeeper_limits``, whose data holds
the limits, and ``/zookeeper/quota/a/b/zookeeper_stats``, whose data the
*server* keeps equal to the subtree's node count and data bytes.  Both hold
ZooKeeper's StatsTrack text: ``key=value`` pairs split by ``,`` or ``;``
(``count=-1,bytes=-1`` in the old form; 3.7+ writes
``count=2,bytes=5=;byteHardLimit=-1;countHardLimit=3``, the extra ``=``
making older parsers stop).  -1, or a missing key, means no limit.

The tree (``DataTree``) does the bookkeeping while it applies txns, exactly
as ZooKeeper's DataTree does, so every replica agrees without a txn of its
own: creating a ``zookeeper_limits`` node puts its path among the quota
roots; creating ``zookeeper_stats`` fills it with the subtree's real figures;
every create, delete and setData below the deepest quota root of its path
adjusts that root's stats in place (no version, no mzxid change).  Prep
refuses a create or setData with QUOTAEXCEEDED when
``zookeeper.enforceQuota`` is true and a hard limit (countHardLimit,
byteHardLimit) would be passed; a soft limit (count, bytes) only makes
ZooKeeper log.  Prep reads the committed stats, as ZooKeeper does.
"""
from __future__ import annotations

import logging
import re

log = logging.getLogger("zkwire.quota")

QUOTA_ROOT = "/zookeeper/quota"
LIMIT_NODE = "zookeeper_limits"
STAT_NODE = "zookeeper_stats"

_PAIRS = re.compile(r"[,;]+")


def parse(data) -> dict:
    """StatsTrack(String): key -> value, in the order written.  A value that
    is not a number counts as -1: zkwire does not fail a txn over a text a
    client wrote (ZooKeeper would throw NumberFormatException)."""
    out = {}
    if not data:
        return out
    text = data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else data
    for pair in _PAIRS.split(text):
        if not pair:
            continue
        kv = [p for p in pair.split("=")]
        while len(kv) > 1 and kv[-1] == "":
            kv.pop()    # Java's split drops trailing empty strings
        try:
            out[kv[0]] = int(kv[1]) if len(kv) > 1 and kv[1] != "" else -1
        except ValueError:
            out[kv[0]] = -1
    return out


def format_stats(stats: dict) -> bytes:
    """StatsTrack.toString: count and bytes first, then ``=`` and the other
    keys sorted, each after a ``;``."""
    text = "count=%d,bytes=%d" % (stats.get("count", -1), stats.get("bytes", -1))
    rest = sorted(k for k in stats if k not in ("count", "bytes"))
    if rest:
        text += "=" + "".join(";%s=%d" % (k, stats[k]) for k in rest)
    return text.encode("utf-8")


def limit_path(prefix: str) -> str:
    return QUOTA_ROOT + prefix + "/" + LIMIT_NODE


def stat_path(prefix: str) -> str:
    return QUOTA_ROOT + prefix + "/" + STAT_NODE


def max_prefix(roots, path: str):
    """The deepest quota root that is ``path`` or one of its ancestors
    (PathTrie.findMaxPrefix), or None; "/" never counts."""
    if not roots:
        return None
    p = path
    while p and p != "/":
        if p in roots:
            return p
        p = p[:p.rfind("/")]
    return None


def exceeds(limits: dict, stats: dict, bytes_diff: int, count_diff: int):
    """ZooKeeperServer.checkQuota: None, or ("soft"|"hard", what): "hard" if
    any hard limit would be passed (the write is refused), else "soft" if a
    soft one would (ZooKeeper logs it)."""
    found = None
    for diff, soft_key, hard_key, stat_key in ((count_diff, "count", "countHardLimit", "count"),
                                               (bytes_diff, "bytes", "byteHardLimit", "bytes")):
        soft, hard = limits.get(soft_key, -1), limits.get(hard_key, -1)
        if diff == 0 or (soft <= -1 and hard <= -1):
            continue
        limit = hard if hard > -1 else soft
        if stats.get(stat_key, -1) + diff > limit:
            if hard > -1:
                return ("hard", stat_key)
            found = found or ("soft", stat_key)
    return found


_warned = [0]


def warn(prefix: str, over) -> None:
    """ZooKeeper's "Quota exceeded" line, rate-limited by count (the core
    reads no clock): the first 10, then one in 1000."""
    _warned[0] += 1
    n = _warned[0]
    if n <= 10 or n % 1000 == 0:
        log.warning("Quota exceeded: %s [%s %s limit] (%d such writes so far)",
                    prefix, over[0], over[1], n)


#: ZooKeeperServer's quota gauge sets, in the order it registers them.
GAUGE_SETS = ("quota_count_limit_per_namespace", "quota_bytes_limit_per_namespace",
              "quota_count_usage_per_namespace", "quota_bytes_usage_per_namespace")


def namespace_gauges(tree) -> dict:
    """QuotaMetricsUtils: per top namespace, the sum of the quotas' limits
    (the hard limit where set, else the soft one) and of their usage, from
    every zookeeper_limits / zookeeper_stats leaf under /zookeeper/quota."""
    out = {name: {} for name in GAUGE_SETS}
    nodes = tree.nodes
    stack = [QUOTA_ROOT]
    while stack:
        path = stack.pop()
        node = nodes.get(path)
        if node is None:
            continue
        if node.children:
            stack.extend(path + "/" + c for c in reversed(list(node.children)))
            continue
        is_limit = path.endswith("/" + LIMIT_NODE)
        if not (is_limit or path.endswith("/" + STAT_NODE)) or node.data is None:
            continue
        rest = path[len(QUOTA_ROOT):]
        end = rest.find("/", 1)
        ns = rest[1:end] if end > 0 else rest[1:]
        if not ns:
            continue
        st = parse(node.data)
        if is_limit:
            pairs = (("quota_count_limit_per_namespace", st.get("countHardLimit", -1), st.get("count", -1)),
                     ("quota_bytes_limit_per_namespace", st.get("byteHardLimit", -1), st.get("bytes", -1)))
            for name, hard, soft in pairs:
                out[name][ns] = out[name].get(ns, 0) + (hard if hard > -1 else soft)
        else:
            for name, key in (("quota_count_usage_per_namespace", "count"),
                              ("quota_bytes_usage_per_namespace", "bytes")):
                out[name][ns] = out[name].get(ns, 0) + st.get(key, -1)
    return out
