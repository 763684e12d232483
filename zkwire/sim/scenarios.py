"""Scripted scenarios: a world without random faults, driven to one situation.

Theory of operation
-------------------
A :class:`Script` is a list of steps, each a condition on the world and an
action; after every step of the world the current step's condition is
tested, and when it holds its action runs and the script moves on.  Random
faults are off (``faults=()``); the script injects its own, at the moments it
waits for, so a scenario reaches its situation whatever the seed does with
message delays and client operations (the seed still decides those, so each
seed is another run of the same story).

:data:`SCENARIOS` maps a name to a function ``(world) -> Script``;
``zkwire sim --scenario NAME --seed S`` runs one, and
:func:`run_scenario` is the API.  A scenario that never reaches its last step
within its steps is broken, not passed: ``script.done`` says which.
"""
from __future__ import annotations

from zkwire.server.quorum.leader import BROADCAST as LEADER_BROADCAST, Leader
from zkwire.server.quorum.learner import BROADCAST as LEARNER_BROADCAST, NEWLEADER_PERSIST, Learner

from zkwire.consts import OpCode
from zkwire.server.quorum.packets import ACK, decode_txn

from .world import SimConfig

#: The txn types that change the tree (so a divergence shows in a digest).
TREE_TXNS = frozenset((1, 2, 5, 15))
#: Those that cannot be applied twice (a setData sets the version its txn says).
NOT_IDEMPOTENT = frozenset((1, 2, 15))


class Script:
    """``trigger`` names the step whose action makes the situation the
    scenario is about; ``triggered`` says whether the run got that far."""

    def __init__(self, world, steps, trigger=None, retries=None):
        self.world = world
        self.steps = list(steps)
        self.at = 0
        self.vars = {}
        self.names = [name for name, _, _ in self.steps]
        self.trigger_at = self.names.index(trigger) if trigger is not None else len(self.names) - 1
        #: step name -> (timeout_ms, step name to go back to, undo(world, vars)):
        #: a step whose condition does not hold within its timeout is undone.
        self.retries = retries or {}
        self.since_us = 0
        self.attempts = 0

    @property
    def triggered(self) -> bool:
        return self.at > self.trigger_at

    @property
    def done(self) -> bool:
        return self.at >= len(self.steps)

    def __call__(self, world) -> None:
        if self.at < len(self.steps):
            name, cond, act = self.steps[self.at]
            if cond(world, self.vars):
                world.trace("script", name)
                act(world, self.vars)
                self.at += 1
                self.since_us = world.t_us
                return
            retry = self.retries.get(name)
            if retry is not None and world.t_us - self.since_us > retry[0] * 1000:
                world.trace("script", "giving up on: " + name)
                retry[2](world, self.vars)
                self.at = self.names.index(retry[1])
                self.since_us = world.t_us
                self.attempts += 1

    @property
    def waiting_for(self) -> str:
        return self.steps[self.at][0] if self.at < len(self.steps) else "nothing (done)"


# --- helpers -------------------------------------------------------------------------------

def leader(world):
    """The peer leading an established epoch, or None."""
    for n in world.nodes.values():
        role = n.peer.role if n.alive and n.peer is not None else None
        if isinstance(role, Leader) and role.phase == LEADER_BROADCAST:
            return n
    return None


def a_leader_with(acked: int):
    """A condition: an established leader, and ``acked`` writes acknowledged."""
    def cond(w, v):
        return leader(w) is not None and w.checker.acked_writes >= acked
    return cond


def others(world, node) -> list:
    """The other peers, by sid."""
    return [n for sid, n in sorted(world.nodes.items()) if n is not node]


def clients_idle(world, idle: bool) -> None:
    for c in world.clients:
        c.idle = idle


def epoch_of(zxid: int) -> int:
    return zxid >> 32


# --- scenarios -----------------------------------------------------------------------------

def unsynced_epoch(world) -> Script:
    """A learner that missed an epoch syncs txns of the new epoch; its
    connection resets while their batch is being synced (NEWLEADER_PERSIST):
    the batch lands, currentEpoch was never written, and the reload refuses
    the dataDir (EpochError), at once and at every restart."""

    def a_leader(w, v):
        return leader(w) is not None and w.checker.acked_writes >= v.get("acked", 0) + 3

    def stop_follower(w, v):
        lead = leader(w)
        v["epoch"] = lead.peer.role.epoch
        v["leader"] = lead
        if "victim" not in v:
            v["victim"] = others(w, lead)[0]
        v["victim"].stop("scenario: killed", restart=False)
        v["acked"] = w.checker.acked_writes

    def more_writes(w, v):
        return w.checker.acked_writes >= v["acked"] + 2

    def stop_leader(w, v):
        v["leader"].stop("scenario: killed")           # restarts by itself

    def new_epoch(w, v):
        n = leader(w)
        return (n is not None and n.peer.role.epoch > v["epoch"]
                and epoch_of(w.checker.head) > v["epoch"])

    def restart_victim(w, v):
        f = v["victim"]
        f.slow_fsync_until_us = w.t_us + 60 * 1000 * 1000
        # A slow leader keeps proposals outstanding while the victim syncs:
        # they reach it after the SNAP or DIFF, and go in the NEWLEADER batch.
        v["new_leader"] = leader(w)
        v["new_leader"].slow_fsync_until_us = w.t_us + 60 * 1000 * 1000
        f.restart()

    def syncing(w, v):
        f = v["victim"]
        role = f.peer.role if f.alive and f.peer is not None else None
        return (isinstance(role, Learner) and role.phase == NEWLEADER_PERSIST
                and f.fsync_in_flight is not None
                and any(epoch_of(h.zxid) > v["epoch"] for h, _ in f.fsync_in_flight))

    def reset(w, v):
        f = v["victim"]
        link = f.leader_link
        w.schedule(0, link._at_leader, ("rst",))
        link._at_learner(("rst",))

    def reloaded(w, v):
        f = v["victim"]
        return not f.alive or f.fsync_in_flight is None

    def done(w, v):
        v["victim"].slow_fsync_until_us = 0
        v["new_leader"].slow_fsync_until_us = 0

    def undo(w, v):
        # It synced without a new-epoch txn in the batch: once more.
        done(w, v)
        v["acked"] = w.checker.acked_writes

    return Script(world, [
        ("a leader", a_leader, stop_follower),
        ("more writes", more_writes, stop_leader),
        ("a new epoch with commits", new_epoch, restart_victim),
        ("the victim syncing new-epoch txns", syncing, reset),
        ("the batch landed", reloaded, done),
    ], trigger="the victim syncing new-epoch txns",
        retries={"the victim syncing new-epoch txns": (3000, "a leader", undo)})


def dirty_snapshot(world) -> Script:
    """A follower logs a txn that is never committed and restarts, so the
    snapshot of its loaded state holds that txn; the new leader TRUNCates it
    before the new epoch has committed anything (the NEWLEADER snapshot is at
    an older zxid than the dirty one); the follower restarts again and
    recovery loads the dirty snapshot: the discarded txn is back, under the
    new epoch's txns.  ZOOKEEPER-2845 is this hazard: a txn that TRUNC
    discarded from the log survives in state kept beside it (there the
    in-memory database retained across the election, here a snapshot)."""

    first_leader = a_leader_with(3)

    def isolate(w, v):
        lead = leader(w)
        rest = others(w, lead)
        v["leader"], v["victim"], v["other"] = lead, rest[0], rest[1]
        v["epoch"] = lead.peer.role.epoch
        l, f, m = lead.sid, rest[0].sid, rest[1].sid
        # The leader hears no ACK from anyone and its own log is slow: its
        # proposals reach the victim's log and commit nowhere.
        w.cuts = {(l, m), (m, l), (f, l)}
        lead.slow_fsync_until_us = w.t_us + 60 * 1000 * 1000
        v["cut_us"] = w.t_us

    def _not_on(node, z):
        if node.storage.last_logged_zxid() >= z:
            return False
        role = node.peer.role if node.alive and node.peer is not None else None
        return not isinstance(role, Learner) or z not in role._proposed

    def victim_logged(w, v):
        f, m = v["victim"], v["other"]
        role = f.peer.role if f.alive and f.peer is not None else None
        if (not isinstance(role, Learner) or f.fsync_in_flight is not None
                or w.t_us < v["cut_us"] + 100 * 1000):
            return False
        last = role.last_logged_zxid
        return any(z <= last and z > w.checker.head and h.type in NOT_IDEMPOTENT
                   and _not_on(m, z) for z, (h, _) in role._proposed.items())

    def undo_isolate(w, v):
        v["leader"].slow_fsync_until_us = 0
        w.cuts = set()
        w.heal_streams()

    def crash_both(w, v):
        v["victim"].stop("scenario: killed", restart=False)
        v["leader"].stop("scenario: power cut", power=True, torn=False)  # loses the txn
        v["leader"].slow_fsync_until_us = 0
        w.cuts = set()
        w.heal_streams()
        clients_idle(w, True)

    def new_epoch(w, v):
        n = leader(w)
        return n is not None and n.peer.role.epoch > v["epoch"]

    def restart_victim(w, v):
        v["victim"].restart()

    def dirty_newest(w, v):
        # The victim's newest snapshot holds a state the ensemble never chose.
        snaps = v["victim"].storage.list_snapshots()
        return bool(snaps) and w.checker.state_of(snaps[0][0]) not in w.checker.line_index

    def victim_serving(w, v):
        f = v["victim"]
        return f.alive and f.core.serving and dirty_newest(w, v)

    def writes_again(w, v):
        clients_idle(w, False)
        v["acked"] = w.checker.acked_writes

    def new_writes(w, v):
        f = v["victim"]
        return (w.checker.acked_writes >= v["acked"] + 3 and f.fsync_in_flight is None
                and dirty_newest(w, v))

    def restart_again(w, v):
        f = v["victim"]
        f.stop("scenario: killed")

    def victim_serving_again(w, v):
        f = v["victim"]
        return f.alive and f.core is not None and f.core.serving

    return Script(world, [
        ("first leader", first_leader, isolate),
        ("an uncommitted txn in the victim's log", victim_logged, crash_both),
        ("a new epoch without the victim", new_epoch, restart_victim),
        ("the victim TRUNCated, serving, a dirty snapshot its newest", victim_serving,
         writes_again),
        ("writes in the new epoch", new_writes, restart_again),
        ("the victim serving after its restart", victim_serving_again,
         lambda w, v: None),
    ], trigger="writes in the new epoch",
        retries={"an uncommitted txn in the victim's log": (450, "first leader", undo_isolate)})


def fuzzy_snapshot(world) -> Script:
    """A follower with a slow disk applies COMMITs of txns it has not logged
    yet; a snapshot of its tree begins and, while it is taken, more such txns
    change nodes it has not copied yet; then its connection resets: the txns
    never handed out to persist are dropped, the snapshot (named after the
    zxid at its start) keeps their effects, and recovery from it cannot
    replay them away."""

    first_leader = a_leader_with(5)

    def slow_victim(w, v):
        lead = leader(w)
        f = v["victim"] = next(n for sid, n in sorted(w.nodes.items())
                               if n is not lead and sid in w.membership.voters)
        f.slow_fsync_until_us = w.t_us + 60 * 1000 * 1000
        dd = f.datadir
        dd._next_snapshot_at = dd._since_snapshot + 2

    def captured_unlogged(w, v):
        f = v["victim"]
        role = f.peer.role if f.alive and f.peer is not None else None
        cap = f.capture
        if cap is None or not isinstance(role, Learner) or role.phase != LEARNER_BROADCAST:
            return False
        batch = f.fsync_in_flight
        logged = batch[-1][0].zxid if batch else role.last_logged_zxid
        last = f.core.tree.last_zxid
        if last <= cap.zxid or last <= logged:
            return False
        # A txn applied since the capture began, that will not be logged, and
        # that deleted a node the capture has yet to copy (it will be missing
        # from the snapshot, and its delete applied again: NONODE).
        ahead = set(cap._paths[cap._next:])
        for z in range(max(cap.zxid, logged) + 1, last + 1):
            data = w.checker.pool.get(z)
            if data is None:
                continue
            hdr, txn, _ = decode_txn(data)
            if hdr.type == OpCode.delete and txn.path in ahead:
                return True
        return False

    def reset(w, v):
        f = v["victim"]
        # The rest of the capture goes fast (so it is saved before the batch
        # in flight lands and the role's state is reloaded).
        cap = f.capture
        while not cap.step(1000):
            pass
        f._snapshot_step_now(cap)
        link = f.leader_link
        w.schedule(0, link._at_leader, ("rst",))
        link._at_learner(("rst",))

    def reloaded(w, v):
        f = v["victim"]
        return not f.alive or f.fsync_in_flight is None

    def fast_again(w, v):
        v["victim"].slow_fsync_until_us = 0

    def serving(w, v):
        f = v["victim"]
        return f.alive and f.core.serving

    def rearm(w, v):
        f = v["victim"]
        if f.alive and f.datadir is not None:
            f.datadir._next_snapshot_at = f.datadir._since_snapshot + 2

    return Script(world, [
        ("first leader", first_leader, slow_victim),
        ("a capture holding unlogged txns", captured_unlogged, reset),
        ("the batch landed", reloaded, fast_again),
        ("the victim serving again", serving, lambda w, v: None),
    ], trigger="a capture holding unlogged txns",
        retries={"a capture holding unlogged txns": (300, "a capture holding unlogged txns",
                                                     rearm)})


def newleader_crash(world, variant) -> Script:
    """ZooKeeper's data-loss bugs around NEWLEADER, as one story with three
    endings.  A follower F misses txns X while it is down; the third server
    T goes down too, so the leader L has to establish its next epoch with F
    alone: F syncs X by DIFF and its NEWLEADER ACK is what makes L's history
    (X included) chosen.  Then F loses power and L dies for good; T and F
    come back and elect one of them.  X must survive:

    * ``"3911"`` (ZOOKEEPER-3911, DIFF sync of uncommitted txns): X is a tail
      L logged but nobody acked in the old epoch; F is cut once L has
      established.  Only F's copy of X is left, so F must have logged it
      before it acked NEWLEADER.
    * ``"4646"`` (ZOOKEEPER-4646, ACK of NEWLEADER before the txns are on
      disk): X committed in the old epoch (on L and T); F is cut once L has
      established.  If F's X was not durable while its currentEpoch was
      already new, F would win the election on its epoch and TRUNC T's X
      away.
    * ``"4643"`` (ZOOKEEPER-4643, currentEpoch written before the txns are
      durable): as 4646, but F is cut while X is still being written,
      before any ACK.

    ZooKeeper 3.8.0's learner writes currentEpoch and acks NEWLEADER before
    the sync's txns are durable; zkwire's does neither until they are (see
    ``server/quorum/learner.py``).  The tests run each ending with a learner
    patched back to 3.8.0's order, and see the loss."""
    uncommitted = variant == "3911"

    first_leader = a_leader_with(3)

    def stop_follower(w, v):
        lead = leader(w)
        rest = others(w, lead)
        v["L"], v["F"], v["T"] = lead, rest[0], rest[1]
        v["epoch"] = lead.peer.role.epoch
        v["F"].stop("scenario: down while X is written", restart=False)
        v["acked"] = w.checker.acked_writes
        if uncommitted:
            # L's proposals reach nobody: they stay in L's log only.
            w.cuts = {(lead.sid, v["T"].sid)}

    def x_written(w, v):
        lead = v["L"]
        if uncommitted:
            return lead.alive and lead.storage.last_logged_zxid() > w.checker.head
        return w.checker.acked_writes >= v["acked"] + 3

    def stop_third(w, v):
        v["x_head"] = v["L"].storage.last_logged_zxid()
        v["T"].stop("scenario: down", restart=False)
        w.cuts = set()
        w.heal_streams()

    def back_to_election(w, v):
        lead = v["L"]
        return lead.alive and leader(w) is None

    def restart_follower(w, v):
        f = v["F"]
        # Long enough for a NEWLEADER ACK sent before the fsync ends to
        # establish L while X is still in flight; short of initLimit, so an
        # ACK sent after it still does.
        f.fsync_delay_us = w.config.tick_ms * w.config.init_limit * 1000 // 2
        f.restart()

    def _f_role(w, v):
        f = v["F"]
        return f.peer.role if f.alive and f.peer is not None else None

    def syncing_x(w, v):
        role = _f_role(w, v)
        f = v["F"]
        return (isinstance(role, Learner) and role.phase == NEWLEADER_PERSIST
                and f.fsync_in_flight is not None
                and any(h.zxid <= v["x_head"] and h.zxid > role.last_logged_zxid
                        for h, _ in f.fsync_in_flight))

    def established(w, v):
        lead = leader(w)
        return lead is v["L"] and lead.peer.role.epoch > v["epoch"]

    def cut_both(w, v):
        v["F"].stop("scenario: power cut", power=True, restart=False, torn=False)
        v["F"].fsync_delay_us = None
        v["L"].stop("scenario: gone for good", restart=False)
        v["T"].restart()
        v["F"].restart()
        v["cut_us"] = w.t_us

    def new_leader(w, v):
        lead = leader(w)
        return lead is not None and lead.peer.role.epoch > v["epoch"] + 1

    def writes_again(w, v):
        v["acked"] = w.checker.acked_writes

    def new_writes(w, v):
        return w.checker.acked_writes >= v["acked"] + 3

    def undo(w, v):
        # L lost the election or F synced without X in flight: once more.
        for n in w.nodes.values():
            n.fsync_delay_us = None
            if not n.alive:
                n.restart()
        w.cuts = set()
        w.heal_streams()

    cut_when = ("F syncing X, its NEWLEADER not acked", syncing_x) if variant == "4643" else \
        ("L established on F's NEWLEADER ACK", established)
    return Script(world, [
        ("first leader", first_leader, stop_follower),
        ("X written without F", x_written, stop_third),
        ("L back in election", back_to_election, restart_follower),
        (cut_when[0], cut_when[1], cut_both),
        ("a leader of a later epoch", new_leader, writes_again),
        ("writes acknowledged again", new_writes, lambda w, v: None),
    ], trigger=cut_when[0],
        retries={"X written without F": (3000, "first leader", undo),
                 "L back in election": (5000, "first leader", undo),
                 cut_when[0]: (5000, "first leader", undo)})


def learner_acks_early(world) -> Script:
    """ZOOKEEPER-4685: Debian's 3.8.0 learner acks the proposals of its sync
    as soon as they are logged, which can be before its NEWLEADER ACK.  A
    Java leader took that ACK for the NEWLEADER ACK and gave up on the
    learner (or, with the check that followed, dropped the ACK).  Here the
    follower F rejoins with 3.8.0's order while proposals are outstanding,
    and the third server T's ACKs never arrive: those proposals commit only
    with F's early ACKs.  The leader must keep F and commit them."""

    first_leader = a_leader_with(3)

    def stop_follower(w, v):
        lead = leader(w)
        rest = others(w, lead)
        v["L"], v["F"], v["T"] = lead, rest[0], rest[1]
        v["F"].stop("scenario: down", restart=False)
        v["acked"] = w.checker.acked_writes
        v["early"] = 0

    def more_writes(w, v):
        return w.checker.acked_writes >= v["acked"] + 3

    def restart_follower(w, v):
        lead, f, t = v["L"], v["F"], v["T"]
        # L's own log is slow, so its proposals are outstanding while F
        # syncs; T's ACKs go nowhere.
        lead.slow_fsync_until_us = w.t_us + 60 * 1000 * 1000
        w.cuts = {(t.sid, lead.sid)}
        f.restart()

    def f_learner(w, v):
        f = v["F"]
        role = f.peer.role if f.alive and f.peer is not None else None
        return isinstance(role, Learner) and role.phase != LEARNER_BROADCAST

    def ack_like_38(w, v):
        role = v["F"].peer.role
        v["role"] = role
        original = role.persisted

        def persisted(zxid, now_ms):
            batch = role._unsynced
            if role.phase == NEWLEADER_PERSIST and batch and batch[-1][0].zxid == zxid:
                early = [hdr.zxid for hdr, _, _, ack in batch if ack]
                for z in early:
                    role.send(ACK, z)
                v["early"] += len(early)
                role._unsynced = [(hdr, txn, raw, False) for hdr, txn, raw, _ in batch]
            original(zxid, now_ms)

        role.persisted = persisted

    def f_serving(w, v):
        role = v["role"]
        return role.serving and v["early"] > 0 and v["F"].peer.role is role

    def heal(w, v):
        v["L"].slow_fsync_until_us = 0
        v["acked"] = w.checker.acked_writes

    def new_writes(w, v):
        return w.checker.acked_writes >= v["acked"] + 3

    def undo(w, v):
        # F synced with nothing to ack early: once more.
        v["L"].slow_fsync_until_us = 0
        w.cuts = set()
        w.heal_streams()
        for n in w.nodes.values():
            if not n.alive:
                n.restart()

    return Script(world, [
        ("first leader", first_leader, stop_follower),
        ("more writes", more_writes, restart_follower),
        ("F a learner", f_learner, ack_like_38),
        ("F serving after early ACKs", f_serving, heal),
        ("writes acknowledged again", new_writes, lambda w, v: None),
    ], trigger="F serving after early ACKs",
        retries={"F serving after early ACKs": (3000, "first leader", undo)})


SCENARIOS = {
    "fuzzy-snapshot": fuzzy_snapshot,
    "unsynced-epoch": unsynced_epoch,
    "dirty-snapshot": dirty_snapshot,
    "zk-2845": dirty_snapshot,
    "zk-3911": lambda world: newleader_crash(world, "3911"),
    "zk-4643": lambda world: newleader_crash(world, "4643"),
    "zk-4646": lambda world: newleader_crash(world, "4646"),
    "zk-4685": learner_acks_early,
}


def run_scenario(name: str, seed: int = 1, steps: int = 20000, members: int = 3,
                 capture: bool = False):
    """-> (SimResult, Script).  The run stops at the first violation."""
    from .runner import run_seed

    holder = {}

    def setup(world):
        script = holder["script"] = SCENARIOS[name](world)
        world.watchers.append(script)

    res = run_seed(seed, SimConfig(members=members, steps=steps, faults=()), capture=capture,
                   setup=setup)
    return res, holder["script"]
