"""The differential runner: one scenario, two servers, one verdict.

Theory of operation
-------------------
For each server the runner

1. creates the scenario's root node with an admin kazoo client (create2, so
   its czxid is known: that is the scenario's zxid base);
2. hands the ``c*`` steps to the client driver under test (kazoo in process,
   or a driver process fed one script line at a time) and the ``r*`` steps to
   raw actors, strictly in script order, recording every result;
3. records the scenario's final subtree (every node's data and Stat), then
   closes every session the scenario opened.

Both servers run the scenario at the same time (two threads), so time-driven
steps (session expiry, container cleanup) cost their wait once.  The two
transcripts are normalized (interop/normalize.py) and compared step by step;
a mismatch fails the test with a side-by-side report of the whole transcript.
"""
from __future__ import annotations

import itertools
import threading
import time

from .normalize import Context, compare_step, flatten, render
from .raw import RawActors
from .script import Quoted, Step

_counter = itertools.count(1)


class DriverError(AssertionError):
    """A driver failed in a way that is not a server's answer."""


def expanded(step: Step, root: str) -> Step:
    from .script import expand

    args = [Quoted(expand(a, root)) if isinstance(a, Quoted) else expand(a, root) for a in step.args]
    return Step(step.actor, step.op, args, step.lineno, step.source, step.diff)


def scenario_root(admin, client_name: str, scenario) -> tuple:
    """Create the scenario's root node; -> (path, czxid)."""
    admin.ensure_path("/interop/%s" % client_name)
    path = "/interop/%s/%s" % (client_name, scenario.id.replace(":", "."))
    if admin.exists(path):      # the same test again in one session (pytest --count...)
        path += "-%d" % next(_counter)
    _, st = admin.create(path, b"", include_data=True)
    return path, st.czxid


def snapshot_tree(admin, root: str) -> dict:
    """Every node under ``root`` (relative paths) -> {data, stat}."""
    from .drivers.kazoo_driver import data_text, stat_dict

    # In an ensemble the admin may sit on another member than the scenario.
    admin.sync(root)
    out = {}

    def walk(path):
        try:
            data, st = admin.get(path)
            kids = admin.get_children(path)
        except Exception as e:   # vanished while we looked (expiry, containers)
            out[path[len(root):] or "/"] = {"gone": type(e).__name__}
            return
        out[path[len(root):] or "/"] = {"data": data_text(data), "stat": stat_dict(st)}
        for k in sorted(kids):
            walk(path + "/" + k)

    walk(root)
    return out


def remove_tree(admin, root: str) -> None:
    """Delete a finished scenario's subtree, so none of its containers or TTL
    nodes is cleaned up later, in the middle of another scenario's zxids."""
    from kazoo.exceptions import NoNodeError, NotEmptyError

    for _ in range(5):
        try:
            admin.delete(root, recursive=True)
            return
        except NoNodeError:
            return
        except NotEmptyError:     # a container vanished or appeared under us: again
            continue


class Run:
    """One scenario against one server."""

    def __init__(self, kind, server, admin, driver_factory, client_name, scenario):
        self.kind = kind
        self.server = server
        self.admin = admin
        self.driver_factory = driver_factory
        self.client_name = client_name
        self.scenario = scenario
        self.results = []
        self.error = None
        self.ctx = None
        self.tree = None

    def __call__(self):
        try:
            self._run()
        except BaseException as e:  # reported by the caller, with the transcript so far
            import traceback

            self.error = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())

    def _run(self):
        t0 = int(time.time() * 1000)
        root, base = scenario_root(self.admin, self.client_name, self.scenario)
        self.ctx = Context(base, root, t0)
        target = self.server
        if hasattr(target, "member_for"):
            # An ensemble: the scenario runs on one member, which must have
            # seen the root the admin client just made elsewhere.
            target = self.server.member_for(self.scenario.id)
            self.server.catch_up(target, root)
        driver = self.driver_factory(target.host if target is not self.server else target.hosts,
                                     root)
        raw = RawActors("127.0.0.1", target.client_port if target is not self.server
                        else target.port, root)
        try:
            for step in self.scenario.steps:
                st = expanded(step, root)
                if st.actor.startswith("r"):
                    res = raw.step(st)
                else:
                    res = driver.step(st)
                if isinstance(res, dict) and "driver_error" in res:
                    raise DriverError("%s driver failed at line %d (%s): %s" % (
                        self.client_name, step.lineno, step.source, res["driver_error"]))
                self.results.append(res)
            self.tree = snapshot_tree(self.admin, root)
        finally:
            sessions = dict(getattr(driver, "session_ids", {}))
            try:
                driver.close()
            finally:
                raw.close_all()
            sessions.update(raw.session_ids)
            sessions.update(getattr(driver, "session_ids", {}))
            live = list(raw.created)
            for actor, pw in getattr(driver, "passwords", {}).items():
                sid = getattr(driver, "session_ids", {}).get(actor)
                if sid:
                    live.append((sid, pw))
            raw.reap(live)
            remove_tree(self.admin, root)
            # A resumed session keeps the name of the actor that opened it.
            order = self.scenario.actors()
            for actor, sid in sorted(sessions.items(),
                                     key=lambda kv: order.index(kv[0]) if kv[0] in order else 99):
                if sid:
                    self.ctx.sessions.setdefault(sid, actor)
            self.ctx.t1_ms = int(time.time() * 1000)


def run_pair(servers, admins, driver_factories, client_name, scenario):
    """Run ``scenario`` on both servers at once; -> (zookeeper Run, zkwire Run)."""
    runs = [Run(kind, servers[kind], admins[kind], driver_factories[kind], client_name, scenario)
            for kind in ("zookeeper", "zkwire")]
    threads = [threading.Thread(target=r, name="run-%s" % r.kind) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return runs


def compare(scenario, oracle: Run, candidate: Run):
    """-> (ok, report text)."""
    lines = []
    bad = 0
    n = max(len(oracle.results), len(candidate.results))
    for i in range(n):
        step = scenario.steps[i] if i < len(scenario.steps) else None
        o = oracle.ctx.result(oracle.results[i]) if i < len(oracle.results) else {"missing": True}
        c = candidate.ctx.result(candidate.results[i]) if i < len(candidate.results) else {"missing": True}
        reason = compare_step(step, o, c)
        head = "L%-3d %s" % (step.lineno, step.source)
        if reason is None:
            tag = "   " if not step.diff else " ~ "
            lines.append("%s%s" % (tag, head))
            lines.append("        = %s" % _clip(render(o), 200))
            if step.diff:
                lines.append("        ~ zkwire: %s   (documented: %s)" % (_clip(render(c), 160), step.diff))
            continue
        bad += 1
        lines.append(">>>%s      <-- %s" % (head, reason))
        fo, fc = dict(flatten(o)), dict(flatten(c))
        keys = list(fo) + [k for k in fc if k not in fo]
        lines.append("        %-28s | %-44s | %s" % ("field", "zookeeper", "zkwire"))
        for k in keys:
            a, b = fo.get(k, "<absent>"), fc.get(k, "<absent>")
            mark = "!=" if a != b else "  "
            lines.append("     %s %-28s | %-44s | %s" % (mark, _clip(str(k), 28), _clip(str(a), 44),
                                                        _clip(str(b), 60)))
    for run in (oracle, candidate):
        if run.error:
            bad += 1
            lines.append(">>> %s run stopped at step %d: %s" % (run.kind, len(run.results) + 1,
                                                               run.error.strip().splitlines()[0]))
    if oracle.tree is not None and candidate.tree is not None:
        to = {k: oracle.ctx.result(v) for k, v in oracle.tree.items()}
        tc = {k: candidate.ctx.result(v) for k, v in candidate.tree.items()}
        if to != tc:
            bad += 1
            lines.append(">>> final tree differs:")
            for k in sorted(set(to) | set(tc)):
                a, b = to.get(k), tc.get(k)
                if a != b:
                    lines.append("     %s" % k)
                    lines.append("        zookeeper: %s" % (render(a) if a is not None else "<absent>"))
                    lines.append("        zkwire   : %s" % (render(b) if b is not None else "<absent>"))
        else:
            lines.append("    (final tree: %d nodes, identical)" % len(to))
    header = "scenario %s (%s:%d)%s" % (scenario.id, scenario.path.split("/")[-1], scenario.lineno,
                                         ": %d difference(s)" % bad if bad else "")
    return bad == 0, header + "\n" + "\n".join(lines)


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[:n - 3] + "..."
