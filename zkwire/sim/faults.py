"""Fault injection: every so often, one fault from the run's list.

Theory of operation
-------------------
:class:`FaultInjector` wakes at random intervals (exponential, mean
``fault_interval_ms``) and applies one fault picked among those enabled:

* ``reset``: a live quorum or client connection is reset (both ends hear it);
* ``partition``: one at a time, healed after 0.3-6 s: isolate a peer (the
  leader half of the time), split off a minority, cut one direction
  between two peers (asymmetric), or, with 5 peers, a bridge (two halves
  that only one peer connects);
* ``crash``: a process is killed (the page cache survives); ``power``: a
  machine loses power (only synced bytes survive, the last write maybe
  torn), and the peers hear nothing; both restart after 0.1-3 s;
* ``fsync``: a peer's fsyncs take 20-900 ms for a few seconds;
* ``disk``: the next write (ENOSPC or EIO) or fsync (EIO) of a peer fails,
  which stops that server (it restarts later);
* ``pause``: a peer stops for longer than syncLimit (a GC pause): what
  arrives meanwhile waits, then runs at once;
* ``clock``: a peer's clock jumps 0.2-3 s forward;
* ``corrupt``: a byte of a peer's synced txn log flips and the machine
  restarts; a server that then refuses its dataDir stays down.

Crashes are held back while a majority of the voters is down, so runs make
progress; safety must hold whatever the faults.
"""
from __future__ import annotations

import errno

from zkwire.server.quorum.packets import LEADING


class FaultInjector:
    def __init__(self, world):
        self.world = world
        self.rng = world.rng
        self.faults = world.config.faults
        self.partitioned = False

    def next_delay_us(self) -> int:
        mean_ms = self.world.config.fault_interval_ms
        return int(self.rng.expovariate(1.0 / mean_ms) * 1000) + 1000

    def inject(self) -> None:
        w = self.world
        w.schedule(self.next_delay_us(), self.inject)
        fault = self.rng.choice(self.faults)
        done = getattr(self, "_" + fault)()
        if done:
            w.faults_injected += 1
            w.fault_counts[fault] = w.fault_counts.get(fault, 0) + 1

    # --- helpers -------------------------------------------------------------------------
    def _alive(self):
        return [n for n in self.world.nodes.values() if n.alive]

    def _may_stop(self) -> bool:
        w = self.world
        voters = w.membership.voters
        down = sum(1 for sid in voters if not w.nodes[sid].alive)
        return down + 1 <= (len(voters) - 1) // 2 or self.rng.random() < 0.1

    def _leader(self):
        for n in self._alive():
            if n.peer is not None and n.peer.state == LEADING and n.peer.role is not None:
                return n
        return None

    # --- the faults ----------------------------------------------------------------------
    def _reset(self) -> bool:
        w = self.world
        links = []
        for n in self._alive():
            links.extend(l for l in n.learners.values() if l.leader_open)
            links.extend(n.client_conns.values())
        if not links:
            return False
        link = self.rng.choice(sorted(links, key=lambda l: l.id))
        w.trace("fault", "reset", link.id)
        link.reset()
        return True

    def _partition(self) -> bool:
        w = self.world
        if self.partitioned:
            return False
        sids = sorted(w.nodes)
        rng = self.rng
        cuts = set()
        shape = rng.choice(("isolate", "split", "oneway", "bridge"))
        if shape == "bridge" and len(sids) < 5:
            shape = "split"
        if shape == "isolate":
            leader = self._leader()
            victim = leader.sid if leader is not None and rng.random() < 0.5 else rng.choice(sids)
            side = {victim}
        elif shape == "split":
            side = set(rng.sample(sids, rng.randint(1, (len(sids) - 1) // 2)))
        elif shape == "oneway":
            a, b = rng.sample(sids, 2)
            cuts.add((a, b))
            side = None
        else:
            order = list(sids)
            rng.shuffle(order)
            bridge, half = order[0], (len(order) - 1) // 2
            left, right = order[1:1 + half], order[1 + half:]
            for a in left:
                for b in right:
                    cuts.add((a, b))
                    cuts.add((b, a))
            side = None
            w.trace("fault", "partition", "bridge", bridge, sorted(left), sorted(right))
        if side is not None:
            for a in side:
                for b in sids:
                    if b not in side:
                        cuts.add((a, b))
                        cuts.add((b, a))
            w.trace("fault", "partition", shape, sorted(side))
        elif shape == "oneway":
            w.trace("fault", "partition", "oneway", sorted(cuts))
        w.cuts = cuts
        self.partitioned = True
        w.schedule(rng.randint(300, 6000) * 1000, self._heal)
        return True

    def _heal(self) -> None:
        w = self.world
        w.trace("fault", "heal")
        w.cuts = set()
        self.partitioned = False
        w.heal_streams()

    def _crash(self, power=False) -> bool:
        alive = self._alive()
        if not alive or not self._may_stop():
            return False
        node = self.rng.choice(alive)
        self.world.trace("fault", "power" if power else "crash", node.sid)
        node.stop("power cut" if power else "killed", power=power)
        return True

    def _power(self) -> bool:
        return self._crash(power=True)

    def _fsync(self) -> bool:
        alive = self._alive()
        if not alive:
            return False
        node = self.rng.choice(alive)
        w = self.world
        node.slow_fsync_until_us = w.t_us + self.rng.randint(1000, 5000) * 1000
        w.trace("fault", "slow-fsync", node.sid)
        return True

    def _disk(self) -> bool:
        alive = self._alive()
        if not alive or not self._may_stop():
            return False
        node = self.rng.choice(alive)
        op = self.rng.choice(("write", "fsync"))
        err = errno.EIO if op == "fsync" or self.rng.random() < 0.5 else errno.ENOSPC
        node.disk.fail(op, err)
        self.world.trace("fault", "disk", node.sid, op, err)
        return True

    def _pause(self) -> bool:
        alive = [n for n in self._alive() if not n.paused]
        if not alive:
            return False
        node = self.rng.choice(alive)
        w = self.world
        cfg = w.config
        ms = cfg.sync_limit * cfg.tick_ms + self.rng.randint(100, 1500)
        node.paused_until_us = w.t_us + ms * 1000
        w.trace("fault", "pause", node.sid, ms)
        w.schedule(ms * 1000, self._resume, node, node.inc)
        return True

    def _resume(self, node, inc) -> None:
        if node.inc != inc or not node.alive:
            return
        node.paused_until_us = 0
        node.resume()

    def _clock(self) -> bool:
        alive = self._alive()
        if not alive:
            return False
        node = self.rng.choice(alive)
        jump = self.rng.randint(200, 3000)
        node.clock_ms += jump
        self.world.trace("fault", "clock", node.sid, jump)
        return True

    def _corrupt(self) -> bool:
        alive = self._alive()
        if not alive or not self._may_stop():
            return False
        node = self.rng.choice(alive)
        node.stop("corrupted disk", power=True)
        disk = node.disk
        logs = sorted(p for p in disk.listdir("/data/version-2") if p.startswith("log."))
        if not logs:
            return True
        path = "/data/version-2/" + self.rng.choice(logs)
        size = disk.size(path)
        if size < 20:
            return True
        offset = self.rng.randint(16, size - 1)
        disk.flip_byte(path, offset, 1 << self.rng.randint(0, 7))
        node.corrupted = True
        self.world.trace("fault", "corrupt", node.sid, path, offset)
        return True
