"""One partition-test run: ensemble, proxies, workload, nemesis, checker.

:func:`run` starts a :class:`ProxiedEnsemble` of ``layout``, makes the
registers, starts the clients and the leader watch, runs the nemesis for
``seconds``, heals everything and waits until every member serves and every
client has completed an operation after the heal, stops the clients, reads
each member's /reg and /seq (they must agree), and gives the history to
``zkwire.sim.linear.check_history``.  The history is written to
``OUT/history-LAYOUT-seedSEED.jsonl`` and the nemesis's timeline, on the
same clock, to ``OUT/faults-LAYOUT-seedSEED.txt``; a run that is not ok also keeps the
members' logs there.  Every process is stopped by PID on the way out.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

from interop.partition.cluster import LeaderWatch, ProxiedEnsemble
from interop.partition.nemesis import FAULTS, Nemesis
from interop.partition.workload import (SEQ_PARENT, History, Workload, create_registers,
                                        initial_values)

SETTLE_TIMEOUT_S = 120.0


@dataclass
class RunResult:
    layout: str
    seed: int
    seconds: float
    history_path: str
    ops: dict                       # f -> {type: count}
    faults: dict                    # kind -> count
    leaderships: list               # (sid, epoch) in the order seen
    verdict: object                 # zkwire.sim.linear.Result
    converged: bool
    divergence: str = ""
    leaks: list = field(default_factory=list)
    crashes: list = field(default_factory=list)

    longest_gap_s: float = 0.0      # the longest time with no ok update completing

    @property
    def leader_changes(self) -> int:
        return max(0, len(self.leaderships) - 1)

    @property
    def ok(self) -> bool:
        return self.verdict.ok and self.converged and not self.crashes and not self.leaks

    def report(self) -> str:
        ops = ", ".join("%s %s" % (f, " ".join("%s=%d" % kv for kv in sorted(d.items())))
                        for f, d in sorted(self.ops.items()))
        faults = ", ".join("%s=%d" % kv for kv in sorted(self.faults.items()))
        lines = [
            "layout %s seed %d: %.0f s of faults" % (self.layout, self.seed, self.seconds),
            "ops: " + ops,
            "faults: " + faults,
            "leaderships (sid, epoch): %s -> %d leader changes" % (
                " ".join("%d/%d" % ls for ls in self.leaderships), self.leader_changes),
            "longest time without an ok update: %.1f s" % self.longest_gap_s,
            "members agree at the end: %s%s" % (self.converged, (" " + self.divergence)
                                                if self.divergence else ""),
            "checker: " + self.verdict.summary(),
            "history: " + self.history_path,
        ]
        if self.leaks:
            lines.append("links around the proxies: %s" % self.leaks)
        if self.crashes:
            lines.append("members that exited by themselves: %s" % self.crashes)
        return "\n".join(lines)


def run(layout="zzz", seconds=30.0, seed=1, out_dir=None, n_clients=5, faults=FAULTS,
        log=print) -> RunResult:
    from zkwire.sim.linear import check_history

    out_dir = out_dir or tempfile.mkdtemp(prefix="zkwire-partition-")
    os.makedirs(out_dir, exist_ok=True)
    history_path = os.path.join(out_dir, "history-%s-seed%d.jsonl" % (layout, seed))
    history = History()
    e = ProxiedEnsemble(layout)
    watch = workload = None
    try:
        e.start_all()
        e.wait_serving(timeout_s=90)
        create_registers(e.hosts)
        watch = LeaderWatch(e).start()
        workload = Workload(e, history, n_clients, seed)
        workload.start()
        for c in workload.clients:
            if not c._connected.wait(30):
                raise AssertionError("client %d never connected to %s" % (c.index, c.hosts))
        nemesis = Nemesis(e, seed, faults)
        log("%s seed %d: nemesis for %.0f s" % (layout, seed, seconds))
        nemesis.run(seconds)
        crashes = [(sid, code) for sid, code in nemesis.crashes]
        e.wait_serving(sids=list(e.members), timeout_s=SETTLE_TIMEOUT_S)
        _wait_every_client_completes(workload, history, SETTLE_TIMEOUT_S)
        workload.stop()
        workload = None
        watch.stop()
        converged, divergence = _compare_members(e)
        leaks = e.direct_connections()
        history.write(history_path)
        with open(history_path.replace("history-", "faults-").replace(".jsonl", ".txt"), "w") as f:
            # the nemesis's timeline, on the history's clock (monotonic ns)
            for t, kind, detail, phase in nemesis.log:
                f.write("%d %s %s: %s\n" % (t, phase, kind, detail))
        log("%s seed %d: checking %d events" % (layout, seed, len(history.events)))
        verdict = check_history(history.events, initial=initial_values())
        result = RunResult(layout, seed, seconds, history_path, history.counts(), nemesis.counts,
                           list(watch.leaderships), verdict, converged, divergence, leaks,
                           crashes, _longest_gap_s(history.events))
        if not result.ok:
            for m in e.members.values():
                shutil.copy(m.log_path, os.path.join(out_dir, "server-%d-%s.log" % (m.sid, m.kind)))
        return result
    finally:
        if workload is not None:
            workload.stop()
        if watch is not None:
            watch.stop()
        e.close()


def _longest_gap_s(events) -> float:
    times = [ev["time_ns"] for ev in events
             if ev["type"] == "ok" and ev["f"] in ("write", "cas", "create_seq")]
    return max((b - a for a, b in zip(times, times[1:])), default=0) / 1e9


def _wait_every_client_completes(workload, history, timeout_s):
    """Every client completes one operation (ok or fail) after this call."""
    from servers import wait_until

    start = time.monotonic_ns()
    n = len(workload.clients)

    def finished():
        return {ev["process"] % n for ev in list(history.events)
                if ev["time_ns"] > start and ev["type"] in ("ok", "fail")}

    if not wait_until(lambda: len(finished()) == n, timeout_s):
        raise AssertionError("clients %s completed nothing %.0f s after the heal" % (
            sorted(set(range(n)) - finished()), timeout_s))


def _compare_members(e):
    """Each member's registers and /seq children, read through its own real
    client port after a sync: -> (all equal, what differed)."""
    from kazoo.client import KazooClient

    views = {}
    for sid, m in e.members.items():
        c = KazooClient(hosts=m.host, timeout=10.0)
        c.start(timeout=30)
        try:
            c.sync("/")
            regs = {p: c.get("/reg/" + p)[0] for p in sorted(c.get_children("/reg"))}
            seq = sorted(c.get_children(SEQ_PARENT))
            views[sid] = (regs, len(seq), seq[-1] if seq else None)
        finally:
            c.stop()
            c.close()
    first = next(iter(views.values()))
    if all(v == first for v in views.values()):
        return True, ""
    return False, "; ".join("member %d: %r" % (sid, v) for sid, v in views.items())
