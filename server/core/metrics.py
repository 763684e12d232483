"""ZooKeeper's server metrics: the names, kinds and print order of ``mntr``.

Theory of operation.  ZooKeeper 3.9 keeps its metrics in one registry
(``ServerMetrics`` over the default metrics provider): counters, "basic"
summaries (avg/min/max/cnt/sum), "advanced" summaries (the same plus
p50/p95/p99/p999 over a uniform reservoir of 4096 samples), summary sets (one
summary per key, such as a namespace or a learner's sid), and gauges that read
a value from the server when asked.  ``mntr``, the AdminServer's ``monitor``
and the Prometheus endpoint all print that registry.

zkwire keeps the same registry with the same names (:data:`CATALOGUE`, in the
order ZooKeeper 3.9.5's ServerMetrics constructor registers them), so a
dashboard built for ZooKeeper finds every key.  Metrics zkwire has a real
figure for are fed by the server (see :class:`Metrics` users: the front end,
the data tree, the edge); the rest stay at zero, as they do on a ZooKeeper
whose corresponding path never runs (README, "Operating").

Print order.  ZooKeeper stores each kind in a ``ConcurrentHashMap`` and prints
them in that map's iteration order: gauges, counters, basic summaries,
advanced summaries, then the sets.  :func:`~.javaorder.chm_order` reproduces
it from the registration order; ``tests/unit/test_metrics.py`` holds the
result to the key order Apache ZooKeeper 3.8.0 printed (its observed output
is recorded there).

This module reads no clock and does no I/O: values come in as arguments.
"""
from __future__ import annotations

import math
import random
from decimal import ROUND_HALF_UP, Decimal

from .javaorder import chm_order

COUNTER, BASIC, ADVANCED, BASIC_SET, ADVANCED_SET = "counter", "basic", "advanced", "basic_set", "advanced_set"

#: Every metric ZooKeeper 3.9's ServerMetrics registers, in registration order:
#: (name, kind).  The names are ZooKeeper's (they are what dashboards query).
CATALOGUE = (
    ("fsynctime", BASIC), ("snapshottime", BASIC),
    ("snapshot_error_count", COUNTER), ("snapshot_rate_limited_count", COUNTER),
    ("restore_time", BASIC), ("restore_error_count", COUNTER),
    ("restore_rate_limited_count", COUNTER),
    ("dbinittime", BASIC), ("readlatency", ADVANCED), ("updatelatency", ADVANCED),
    ("propagation_latency", ADVANCED), ("follower_sync_time", BASIC),
    ("observer_sync_time", BASIC), ("election_time", BASIC),
    ("looking_count", COUNTER), ("diff_count", COUNTER), ("snap_count", COUNTER),
    ("commit_count", COUNTER), ("connection_request_count", COUNTER),
    ("connection_token_deficit", BASIC), ("connection_rejected", COUNTER),
    ("inflight_snap_count", BASIC), ("inflight_diff_count", BASIC),
    ("write_per_namespace", BASIC_SET), ("read_per_namespace", BASIC_SET),
    ("bytes_received_count", COUNTER), ("unrecoverable_error_count", COUNTER),
    ("node_created_watch_count", BASIC), ("node_deleted_watch_count", BASIC),
    ("node_changed_watch_count", BASIC), ("node_children_watch_count", BASIC),
    ("add_dead_watcher_stall_time", COUNTER), ("dead_watchers_queued", COUNTER),
    ("dead_watchers_cleared", COUNTER), ("dead_watchers_cleaner_latency", ADVANCED),
    ("response_packet_cache_hits", COUNTER), ("response_packet_cache_misses", COUNTER),
    ("response_packet_get_children_cache_hits", COUNTER),
    ("response_packet_get_children_cache_misses", COUNTER),
    ("ensemble_auth_success", COUNTER), ("ensemble_auth_fail", COUNTER),
    ("ensemble_auth_skip", COUNTER),
    ("prep_processor_queue_time_ms", ADVANCED), ("prep_processor_queue_size", BASIC),
    ("prep_processor_request_queued", COUNTER), ("outstanding_changes_queued", COUNTER),
    ("outstanding_changes_removed", COUNTER), ("prep_process_time", BASIC),
    ("proposal_process_time", BASIC), ("close_session_prep_time", ADVANCED),
    ("revalidate_count", COUNTER), ("connection_drop_count", COUNTER),
    ("connection_revalidate_count", COUNTER), ("sessionless_connections_expired", COUNTER),
    ("stale_sessions_expired", COUNTER), ("unavailable_time", BASIC),
    ("leader_unavailable_time", BASIC), ("requests_in_session_queue", BASIC),
    ("pending_session_queue_size", BASIC), ("reads_after_write_in_session_queue", BASIC),
    ("reads_issued_from_session_queue", BASIC), ("session_queues_drained", BASIC),
    ("time_waiting_empty_pool_in_commit_processor_read_ms", BASIC),
    ("write_batch_time_in_commit_processor", BASIC),
    ("concurrent_request_processing_in_commit_processor", BASIC),
    ("read_commit_proc_req_queued", BASIC), ("write_commit_proc_req_queued", BASIC),
    ("commit_commit_proc_req_queued", BASIC), ("request_commit_queued", COUNTER),
    ("read_commit_proc_issued", BASIC), ("write_commit_proc_issued", BASIC),
    ("throttled_ops", COUNTER), ("read_commitproc_time_ms", ADVANCED),
    ("write_commitproc_time_ms", ADVANCED), ("local_write_committed_time_ms", ADVANCED),
    ("server_write_committed_time_ms", ADVANCED), ("commit_process_time", BASIC),
    ("om_proposal_process_time_ms", ADVANCED), ("om_commit_process_time_ms", ADVANCED),
    ("read_final_proc_time_ms", ADVANCED), ("write_final_proc_time_ms", ADVANCED),
    ("proposal_latency", ADVANCED), ("proposal_ack_creation_latency", ADVANCED),
    ("commit_propagation_latency", ADVANCED),
    ("learner_proposal_received_count", COUNTER), ("learner_commit_received_count", COUNTER),
    ("learner_handler_qp_size", BASIC_SET), ("learner_handler_qp_time_ms", ADVANCED_SET),
    ("startup_txns_loaded", BASIC), ("startup_txns_load_time", BASIC),
    ("startup_snap_load_time", BASIC), ("sync_processor_queue_and_flush_time_ms", ADVANCED),
    ("sync_processor_queue_size", BASIC), ("sync_processor_request_queued", COUNTER),
    ("sync_processor_queue_time_ms", ADVANCED), ("sync_processor_queue_flush_time_ms", ADVANCED),
    ("sync_process_time", BASIC), ("sync_processor_batch_size", BASIC),
    ("quorum_ack_latency", ADVANCED), ("ack_latency", ADVANCED_SET),
    ("proposal_count", COUNTER), ("quit_leading_due_to_disloyal_voter", COUNTER),
    ("stale_requests", COUNTER), ("stale_requests_dropped", COUNTER),
    ("stale_replies", COUNTER), ("request_throttle_queue_time_ms", ADVANCED),
    ("request_throttle_wait_count", COUNTER), ("large_requests_rejected", COUNTER),
    ("netty_queued_buffer_capacity", BASIC), ("digest_mismatches_count", COUNTER),
    ("learner_request_processor_queue_size", BASIC), ("unsuccessful_handshake", COUNTER),
    ("insecure_admin_count", COUNTER), ("tls_handshake_exceeded", COUNTER),
    ("cnxn_closed_without_zk_server_running", COUNTER),
    ("skip_learner_request_to_next_processor_count", COUNTER),
    ("socket_closing_time", BASIC), ("requests_not_forwarded_to_commit_processor", COUNTER),
    ("response_bytes", COUNTER), ("watch_bytes", COUNTER),
    ("jvm_pause_time_ms", ADVANCED),
)

#: Registered by 3.9 and not by 3.8 (the admin snapshot/restore commands):
#: Apache ZooKeeper 3.8.0 does not print them (interop/DIFFERENCES.rst, mntr-39).
SINCE_39 = frozenset(("snapshot_error_count", "snapshot_rate_limited_count", "restore_time",
                      "restore_error_count", "restore_rate_limited_count"))

#: ZooKeeper's gauges in the order registerMetrics() registers them:
#: ZooKeeperServer's, then QuorumZooKeeperServer's, then the leader's or a
#: follower's own.
GAUGES_SERVER = (
    "avg_latency", "max_latency", "min_latency", "packets_received", "packets_sent",
    "num_alive_connections", "outstanding_requests", "uptime", "znode_count", "watch_count",
    "ephemerals_count", "approximate_data_size", "global_sessions", "local_sessions",
    "open_file_descriptor_count", "max_file_descriptor_count", "connection_drop_probability",
    "last_client_response_size", "max_client_response_size", "min_client_response_size",
    "outstanding_tls_handshake", "auth_failed_count", "non_mtls_remote_conn_count",
    "non_mtls_local_conn_count",
)
GAUGES_QUORUM = ("quorum_size",)
GAUGES_LEADER = ("learners", "synced_followers", "synced_non_voting_followers", "synced_observers",
                 "pending_syncs", "leader_uptime", "last_proposal_size", "max_proposal_size",
                 "min_proposal_size")
GAUGES_FOLLOWER = ("synced_observers",)

#: Data points an advanced summary keeps for its percentiles (ZooKeeper's
#: ResettableUniformReservoir.DEFAULT_SIZE).
RESERVOIR_SIZE = 4096
#: STAT_OVERHEAD_BYTES of DataTree's read-per-namespace figure.
STAT_OVERHEAD_BYTES = 68
#: A summary set grows one entry per key; keys come from the data (namespaces),
#: so the sets are bounded: past this many keys, new keys are not recorded.
MAX_SET_KEYS = 10000
_FOUR_PLACES = Decimal("0.0001")


def java_avg(total: int, count: int) -> float:
    """AvgMinMaxCounter.getAvg: total/count rounded half-up to 4 decimals."""
    if count <= 0:
        return 0.0
    # BigDecimal(double).setScale(4, HALF_UP): rounds the exact binary value.
    return float(Decimal(total / count).quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP))


class Summary:
    """AvgMinMaxCounter (basic) or AvgMinMaxPercentileCounter (advanced)."""

    __slots__ = ("name", "advanced", "total", "count", "low", "high", "samples", "_seen", "_rng",
                 "_w", "_next")

    def __init__(self, name: str, advanced: bool, seed: int = 0, sampled: bool = False):
        self.name = name
        #: ``advanced`` prints percentiles; ``sampled`` keeps the reservoir
        #: without printing them (a basic summary's median, for Prometheus).
        self.advanced = advanced
        keep = advanced or sampled
        self.samples = [] if keep else None
        self._rng = random.Random(seed) if keep else None
        self.reset()

    def keep_samples(self) -> None:
        if self.samples is None:
            self.samples = []
            self._rng = random.Random(0)

    def reset(self) -> None:
        self.total = self.count = 0
        self.low = self.high = None
        self._seen = 0
        self._w = 1.0
        self._next = 0
        if self.samples is not None:
            self.samples = []

    def add(self, value: int) -> None:
        value = int(value)
        self.total += value
        self.count += 1
        if self.low is None or value < self.low:
            self.low = value
        if self.high is None or value > self.high:
            self.high = value
        s = self.samples
        if s is not None:
            # A uniform sample of everything added (as ZooKeeper's reservoir),
            # by Li's "Algorithm L": once full, draw how many values to skip
            # before the next replacement, so most adds draw nothing.
            seen = self._seen = self._seen + 1
            if seen <= RESERVOIR_SIZE:
                s.append(value)
                if seen == RESERVOIR_SIZE:
                    self._skip_ahead()
            elif seen == self._next:
                s[self._rng.randrange(RESERVOIR_SIZE)] = value
                self._skip_ahead()

    def _skip_ahead(self) -> None:
        rng = self._rng
        self._w *= math.exp(math.log(rng.random() or 1e-300) / RESERVOIR_SIZE)
        gap = math.floor(math.log(rng.random() or 1e-300) / math.log1p(-self._w)) if self._w < 1 else 0
        self._next = self._seen + gap + 1

    def quantile(self, q: float) -> int:
        """Dropwizard's UniformSnapshot.getValue, rounded as ZooKeeper does."""
        values = sorted(self.samples or ())
        n = len(values)
        if n == 0:
            return 0
        pos = q * (n + 1)
        index = int(pos)
        if index < 1:
            v = values[0]
        elif index >= n:
            v = values[-1]
        else:
            lower, upper = values[index - 1], values[index]
            v = lower + (pos - index) * (upper - lower)
        return int(v + 0.5) if v >= 0 else -int(-v + 0.5)

    def values(self, label: str) -> list:
        out = [("avg_" + label, java_avg(self.total, self.count)),
               ("min_" + label, self.low or 0),
               ("max_" + label, self.high or 0),
               ("cnt_" + label, self.count),
               ("sum_" + label, self.total)]
        if self.advanced:
            out += [("p50_" + label, self.quantile(0.5)), ("p95_" + label, self.quantile(0.95)),
                    ("p99_" + label, self.quantile(0.99)), ("p999_" + label, self.quantile(0.999))]
        return out


class SummarySet:
    """One summary per key (AvgMinMaxCounterSet / ...PercentileCounterSet);
    printed as ``avg_<key>_<name>`` and so on, keys in hash-map order."""

    __slots__ = ("name", "advanced", "by_key", "sampled")

    def __init__(self, name: str, advanced: bool):
        self.name = name
        self.advanced = advanced
        self.sampled = False
        self.by_key = {}

    def add(self, key: str, value: int) -> None:
        s = self.by_key.get(key)
        if s is None:
            if len(self.by_key) >= MAX_SET_KEYS:
                return
            s = self.by_key[key] = Summary(key + "_" + self.name, self.advanced,
                                           sampled=self.sampled)
        s.add(value)

    def reset(self) -> None:
        for s in self.by_key.values():
            s.reset()

    def values(self) -> list:
        out = []
        for key in chm_order(list(self.by_key)):
            s = self.by_key[key]
            out.extend(s.values(s.name))
        return out


class Metrics:
    """The registry.  ``counters[name] += n``; ``summaries[name].add(v)``;
    ``sets[name].add(key, v)``."""

    def __init__(self, catalogue=CATALOGUE):
        #: ``catalogue``: the registry's (name, kind) in registration order;
        #: the tests pass 3.8's to compare with what ZooKeeper 3.8.0 printed.
        self.catalogue = tuple(catalogue)
        self.counters = {}
        self.summaries = {}
        self.sets = {}
        for name, kind in self.catalogue:
            if kind == COUNTER:
                self.counters[name] = 0
            elif kind in (BASIC, ADVANCED):
                self.summaries[name] = Summary(name, kind == ADVANCED)
            else:
                self.sets[name] = SummarySet(name, kind == ADVANCED_SET)
        self._order = {kind: chm_order([n for n, k in self.catalogue if k == kind])
                       for kind in (COUNTER, BASIC, ADVANCED, BASIC_SET, ADVANCED_SET)}
        #: Counter sets (name -> {key: count}): ServerMetrics'
        #: QUOTA_EXCEEDED_ERROR_PER_NAMESPACE, counted by prep.
        self.counter_sets = {"quota_exceeded_error_per_namespace": {}}
        self._read_ns = self.sets["read_per_namespace"]
        self._write_ns = self.sets["write_per_namespace"]

    # --- the hooks the server calls ---------------------------------------------------
    def read_ns(self, path: str, nbytes: int) -> None:
        """DataTree.updateReadStat: getData, exists of a node, getChildren."""
        # On every read: the common case (a namespace seen before) in one lookup.
        end = path.find("/", 1)
        ns = path[1:end] if end > 0 else path[1:]
        if not ns:
            ns = top_namespace(path)
            if ns is None:
                return
        s = self._read_ns.by_key.get(ns)
        if s is not None:
            s.add(len(path) + nbytes + STAT_OVERHEAD_BYTES)
        else:
            self._read_ns.add(ns, len(path) + nbytes + STAT_OVERHEAD_BYTES)

    def write_ns(self, path: str, nbytes: int) -> None:
        """DataTree.updateWriteStat: create, delete (0 bytes), setData."""
        ns = top_namespace(path)
        if ns is not None:
            self._write_ns.add(ns, len(path) + nbytes)

    def count_in_set(self, name: str, key: str) -> None:
        s = self.counter_sets[name]
        if key in s or len(s) < MAX_SET_KEYS:
            s[key] = s.get(key, 0) + 1

    def keep_samples(self) -> None:
        """Keep a reservoir for every summary, basic ones included (the
        Prometheus endpoint reports their median; mntr does not print it)."""
        for s in self.summaries.values():
            s.keep_samples()
        for st in self.sets.values():
            st.sampled = True
            for s in st.by_key.values():
                s.keep_samples()

    def reset(self) -> None:
        """What ``srst`` resets in ZooKeeper: every metric of the registry."""
        for name in self.counters:
            self.counters[name] = 0
        for s in self.counter_sets.values():
            for key in s:
                s[key] = 0          # a counter set keeps its keys (SimpleCounterSet.reset)
        for s in self.summaries.values():
            s.reset()
        for s in self.sets.values():
            s.reset()

    # --- printing -----------------------------------------------------------------------
    def dump(self, gauges: dict, gauge_sets: dict = None) -> list:
        """[(key, value)] in ZooKeeper's print order; ``gauges``: name -> value
        in registration order (a None value is left out, as ZooKeeper does);
        ``gauge_sets``: name -> {key: value}, printed ``<key>_<name>`` after
        the gauges, as counter sets are after the counters (the order
        Apache ZooKeeper 3.8.0 printed a quota's per-namespace figures in)."""
        out = [(n, gauges[n]) for n in chm_order(list(gauges)) if gauges[n] is not None]
        for n in chm_order(list(gauge_sets or {})):
            values = gauge_sets[n]
            out += [("%s_%s" % (k, n), values[k]) for k in chm_order(list(values))]
        out += [(n, self.counters[n]) for n in self._order[COUNTER]]
        for n in chm_order(list(self.counter_sets)):
            values = self.counter_sets[n]
            out += [("%s_%s" % (k, n), values[k]) for k in chm_order(list(values))]
        for kind in (BASIC, ADVANCED):
            for n in self._order[kind]:
                out += self.summaries[n].values(n)
        for kind in (BASIC_SET, ADVANCED_SET):
            for n in self._order[kind]:
                out += self.sets[n].values()
        return out



def top_namespace(path: str):
    """PathUtils.getTopNamespace: the first component of ``path`` (None for
    the root, as Java's split drops the empty strings after it)."""
    # Java's split("/") of "/a/b" is ["", "a", "b"]: element 1 is the part
    # after the first "/"; empty strings at the end are dropped, so "/" and
    # "//" have none.  (Paths reaching here are valid: they start with "/".)
    end = path.find("/", 1)
    first = path[1:end] if end > 0 else path[1:]
    if first:
        return first
    if not path or path.strip("/") == "":
        return None
    return first
