"""``zkwire sim``: run seeds of the simulated ensemble, or replay one.

    zkwire sim --seeds N [--first-seed S] [--members 3|5] [--observers K]
               [--steps K] [--faults LIST] [--clients M] [--keep-going]
    zkwire sim --seed S [same options] [--context N] [--full-trace]
    zkwire sim --scenario NAME [--seed S]   a scripted scenario (see zkwire.sim.scenarios)

A batch prints one line per failing seed (with the command that replays it)
and, as its last line, ``seeds=N steps=K faults=F violations=V`` (steps and
faults summed over the seeds); it exits 1 if any seed broke an invariant.
``--seed`` replays one run and prints its violations and the trace (events,
packets, the servers' log lines) up to the first one; ``--full-trace``
prints all of it.  Soak mode is just a large ``--seeds`` (e.g. 5000) and a
larger ``--steps``.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

from .world import DEFAULT_FAULTS, FAULTS, SimConfig, World


class SimResult:
    def __init__(self, world):
        self.seed = world.seed
        self.steps = world.step
        self.sim_ms = world.now_ms
        self.violations = list(world.checker.violations)
        self.trace_hash = world.trace_hash()
        self.faults = world.faults_injected
        self.fault_counts = dict(world.fault_counts)
        c = world.checker
        self.commits = c.commits
        self.chosen = len(c.line)
        self.acked_writes = c.acked_writes
        self.reads_checked = c.reads_checked
        self.recursive_events = c.recursive_events
        self.leaders = c.leaders
        #: operations in the clients' history (ok ones), and the checker's line
        linear = getattr(world, "linear", None)
        self.history_ops = linear.counts["ops"] if linear is not None else 0
        self.history_summary = linear.summary() if linear is not None else ""
        self.world = world

    @property
    def ok(self) -> bool:
        return not self.violations


class _TraceLog(logging.Handler):
    """The servers' log lines, into the world's trace."""

    def __init__(self, world):
        super().__init__(logging.INFO)
        self.world = world

    def emit(self, record):
        w = self.world
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        w.trace(w.current, "log", record.name.rsplit(".", 1)[-1], msg)


def run_seed(seed: int, config: SimConfig = None, capture: bool = False, checker=None,
             setup=None) -> SimResult:
    """One run.  ``capture``: keep every trace line (``world.capture_log``).
    ``setup(world)`` runs after the world is built, before the first step."""
    world = World(seed, config, checker=checker)
    if capture:
        world.capture_log = []
    logger = logging.getLogger("zkwire")
    handler = _TraceLog(world)
    old = (logger.level, logger.propagate, list(logger.handlers))
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        world.start()
        if setup is not None:
            setup(world)
        world.run()
        _check_history(world)
    finally:
        logger.setLevel(old[0])
        logger.propagate = old[1]
        logger.handlers = old[2]
    return SimResult(world)


def _check_history(world) -> None:
    """The clients' whole history, once the run is over: linearizable
    updates, reads in ZooKeeper's order (:mod:`.linear`)."""
    from .linear import check_history

    res = world.linear = check_history(world.history)
    world.trace(None, "history", res.summary())
    if not res.ok:
        world.checker.violation("client history: " + res.summary())


def _parse_faults(text):
    if text in ("all", None):
        return DEFAULT_FAULTS if text is None else FAULTS
    if text in ("none", ""):
        return ()
    faults = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise argparse.ArgumentTypeError("unknown faults %s (known: %s)"
                                         % (",".join(unknown), ",".join(FAULTS)))
    return faults


def _config(args) -> SimConfig:
    return SimConfig(members=args.members, observers=args.observers, steps=args.steps,
                     faults=args.faults, clients=args.clients,
                     stop_on_violation=not args.keep_going,
                     recursive_watches=args.recursive_watches,
                     reconfig=getattr(args, "reconfig", False))


def replay_command(args, seed) -> str:
    parts = ["zkwire sim --seed %d --members %d --steps %d" % (seed, args.members, args.steps)]
    if getattr(args, "reconfig", False):
        parts.append("--reconfig")
    if args.observers:
        parts.append("--observers %d" % args.observers)
    if args.clients != 3:
        parts.append("--clients %d" % args.clients)
    if tuple(args.faults) != DEFAULT_FAULTS:
        parts.append("--faults %s" % (",".join(args.faults) or "none"))
    if args.recursive_watches:
        parts.append("--recursive-watches")
    return " ".join(parts)


def _show(entry) -> str:
    step, e = entry
    t_us, who, what = e[:3]
    rest = " ".join(str(x) for x in e[3:])
    who = "-" if who is None else who
    return "%6d %9.3f %-7s %s %s" % (step, t_us / 1e6, who, what, rest)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="zkwire sim", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, help="run this many seeds")
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--seed", type=int, help="replay one seed, with its trace")
    p.add_argument("--members", type=int, default=3, choices=(3, 5), help="voters")
    p.add_argument("--observers", type=int, default=0)
    p.add_argument("--reconfig", action="store_true",
                   help="reconfigEnabled: clients remove and add back the last participant")
    p.add_argument("--steps", type=int, default=5000, help="events per seed (default 5000)")
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--faults", type=_parse_faults, default=DEFAULT_FAULTS,
                   help="comma-separated from %s; 'all', 'none' (default: all but corrupt)"
                        % ",".join(FAULTS))
    p.add_argument("--recursive-watches", action="store_true",
                   help="clients also hold a persistent recursive watch on / whose events "
                        "are checked against the chosen history")
    p.add_argument("--keep-going", action="store_true",
                   help="do not stop a run at its first violation")
    p.add_argument("--context", type=int, default=80,
                   help="trace lines shown up to the first violation (--seed; default 80)")
    p.add_argument("--full-trace", action="store_true", help="print the whole trace (--seed)")
    p.add_argument("--pings", action="store_true",
                   help="show PING packets in the trace too (hidden by default)")
    p.add_argument("--scenario", help="run a scripted scenario: %s" % ", ".join(_scenarios()))
    args = p.parse_args(argv)
    if args.scenario is not None:
        if args.scenario not in _scenarios():
            p.error("unknown scenario %r (known: %s)" % (args.scenario, ", ".join(_scenarios())))
        return _replay(args, None)
    if args.seed is None and args.seeds is None:
        p.error("give --seeds N, --seed S or --scenario NAME")
    config = _config(args)
    if args.seed is not None:
        return _replay(args, config)
    started = time.monotonic()
    total_steps = total_faults = total_violations = 0
    sim_ms = 0
    failed = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        res = run_seed(seed, config)
        total_steps += res.steps
        total_faults += res.faults
        sim_ms += res.sim_ms
        if res.violations:
            total_violations += len(res.violations)
            failed.append(seed)
            step, text = res.violations[0]
            print("seed %d: %d violation(s); first at step %d: %s" % (
                seed, len(res.violations), step, text.split("\n", 1)[0]))
            print("  replay: %s" % replay_command(args, seed))
    elapsed = time.monotonic() - started
    print("simulated %.1f s over %d seeds in %.1f s of real time; failing seeds: %s" % (
        sim_ms / 1000.0, args.seeds, elapsed, " ".join(map(str, failed)) or "none"))
    print("seeds=%d steps=%d faults=%d violations=%d" % (args.seeds, total_steps, total_faults,
                                                        total_violations))
    return 1 if total_violations else 0


def _scenarios():
    from .scenarios import SCENARIOS

    return sorted(SCENARIOS)


def _replay(args, config) -> int:
    if args.scenario is not None:
        from .scenarios import run_scenario

        res, script = run_scenario(args.scenario, seed=1 if args.seed is None else args.seed,
                                   members=args.members, capture=True)
        print("scenario %s: %s" % (args.scenario, "ran to its end" if script.done
                                   else "stopped waiting for: %s" % script.waiting_for))
        args.seed = res.seed
    else:
        res = run_seed(args.seed, config, capture=True)
    lines = res.world.capture_log
    if not args.pings:
        lines = [e for e in lines if not (e[1][2] == "recv" and "PING" in e[1][3:5])]
    if args.full_trace or not res.violations:
        shown = lines if args.full_trace else lines[-args.context:]
    else:
        first = res.violations[0][0]
        upto = [e for e in lines if e[0] <= first]
        shown = upto[-args.context:]
    print("seed %d: %d steps, %.1f s simulated, %d faults %s, %d leaders established, "
          "%d txns chosen, %d writes acknowledged, %d reads checked; trace %s" % (
              res.seed, res.steps, res.sim_ms / 1000.0, res.faults, res.fault_counts,
              res.leaders, res.chosen, res.acked_writes, res.reads_checked, res.trace_hash))
    print("--- trace (step, time s, who, what) ---")
    for entry in shown:
        print(_show(entry))
    for step, text in res.violations:
        print("VIOLATION at step %d: %s" % (step, text))
    if res.violations:
        print("replay: %s" % (replay_command(args, args.seed) if args.scenario is None else
                              "zkwire sim --scenario %s --seed %d" % (args.scenario, args.seed)))
    print("seeds=1 steps=%d faults=%d violations=%d" % (res.steps, res.faults,
                                                        len(res.violations)))
    return 1 if res.violations else 0


if __name__ == "__main__":
    sys.exit(main())
