"""The nemesis: a seeded schedule of faults on a :class:`ProxiedEnsemble`.

Theory of operation
-------------------
:meth:`Nemesis.run` loops until its deadline: take the next fault, inject it,
hold it ``fault_s`` (2-4 s), heal it, let the ensemble run healthy ``heal_s``
(1-3 s).  The faults come in rounds, each a ``random.Random(seed)`` shuffle of
all kinds, so a short run still sees many kinds; the first fault of a run is
``isolate-leader`` (when enabled), so every run has an election under load.  The sleeps ARE the schedule; nothing waits on
them for correctness.  At the end everything is healed and every member
resumed and running.  The faults (on a 3-member ensemble):

* ``isolate-leader``: the leader's peer links cut both ways (its clients
  still reach it: they see a member that lost its quorum);
* ``split``: a random member cut from the other two (minority | majority);
* ``bridge``: two members cut from each other, the third sees both;
* ``one-way``: every byte FROM a member (the leader half the time) to the
  others dropped, on every link whoever dialed; bytes to it pass;
* ``delay``: a member's peer links slowed by 50-300 ms each way;
* ``client-cut``: a member's client link cut (its clients' sessions move
  nowhere: each client has one member);
* ``pause``: SIGSTOP a member (the leader half the time) for longer than
  syncLimit * tickTime, then SIGCONT;
* ``kill``: SIGKILL a member (the leader half the time), restart it after
  0.5-2 s on the same dataDir.

``log`` records (time_ns, kind, detail, phase) for the report; ``counts``
is faults injected by kind.
"""
from __future__ import annotations

import random
import threading
import time

from interop.partition import proxy

FAULTS = ("isolate-leader", "split", "bridge", "one-way", "delay", "client-cut", "pause", "kill")


class Nemesis:
    def __init__(self, ensemble, seed, faults=FAULTS, fault_s=(2.0, 4.0), heal_s=(1.0, 3.0),
                 pause_s=None):
        self.e = ensemble
        self.random = random.Random(seed)
        self.faults = tuple(faults)
        self.fault_s = fault_s
        self.heal_s = heal_s
        from ensemble import SYNC_LIMIT, TICK_MS

        limit_s = SYNC_LIMIT * TICK_MS / 1000.0
        self.pause_s = pause_s or (limit_s + 1.0, limit_s + 2.5)
        self.log = []
        self.counts = {}
        self.crashes = []           # (sid, exit status) of members that exited by themselves
        self._stop = threading.Event()

    def stop(self):
        self._stop.set()

    def _note(self, kind, detail, phase):
        self.log.append((time.monotonic_ns(), kind, detail, phase))

    def _sleep(self, bounds):
        self._stop.wait(self.random.uniform(*bounds))

    def run(self, seconds):
        deadline = time.monotonic() + seconds
        order = []
        first = "isolate-leader" in self.faults
        try:
            while time.monotonic() < deadline and not self._stop.is_set():
                if not order:
                    order = list(self.faults)
                    self.random.shuffle(order)
                    if first:
                        order.remove("isolate-leader")
                        order.insert(0, "isolate-leader")
                        first = False
                kind = order.pop(0)
                heal, detail = getattr(self, "_" + kind.replace("-", "_"))()
                self.counts[kind] = self.counts.get(kind, 0) + 1
                self._note(kind, detail, "start")
                if heal is not None:        # pause and kill hold and heal themselves
                    self._sleep(self.fault_s)
                    heal()
                self._note(kind, detail, "end")
                self._sleep(self.heal_s)
        finally:
            self.heal_everything()

    def heal_everything(self):
        self.e.proxy.heal_all()
        for sid in list(self.e.paused):
            self.e.resume(sid)
        for m in self.e.members.values():
            if m.proc is not None and m.proc.poll() is not None:
                self.crashes.append((m.sid, m.proc.returncode))
                m.proc = None
            if m.proc is None:
                m.start()

    # -- choosing members ----------------------------------------------------

    def _sids(self):
        return sorted(self.e.members)

    def _leader_or_random(self, leader_odds=0.5):
        if self.random.random() < leader_odds:
            ld = self.e.current_leader()
            if ld is not None:
                return ld
        return self.random.choice(self._sids())

    # -- link faults ---------------------------------------------------------

    def _set(self, names, mode, delay_ms=0):
        for n in names:
            self.e.proxy.set_mode(n, mode, delay_ms)

    def _cut_between(self, a, b):
        names = self.e.peer_link_names(a, b) + self.e.peer_link_names(b, a)
        self._set(names, proxy.CUT)
        return names

    def _healer(self, names):
        return lambda: self._set(names, proxy.PASS)

    def _isolate(self, x):
        names = []
        for y in self._sids():
            if y != x:
                names += self._cut_between(x, y)
        return self._healer(names)

    def _isolate_leader(self):
        x = self._leader_or_random(1.0)
        return self._isolate(x), "member %d" % x

    def _split(self):
        x = self.random.choice(self._sids())
        rest = [s for s in self._sids() if s != x]
        return self._isolate(x), "%d | %s" % (x, ",".join(map(str, rest)))

    def _bridge(self):
        sids = self._sids()
        middle = self.random.choice(sids)
        a, b = [s for s in sids if s != middle][:2]
        return self._healer(self._cut_between(a, b)), "%d x %d, bridge %d" % (a, b, middle)

    def _one_way(self):
        x = self._leader_or_random()
        up, down = [], []
        for y in self._sids():
            if y != x:
                up += self.e.peer_link_names(x, y)      # x dialed: x's bytes go up
                down += self.e.peer_link_names(y, x)    # y dialed: x's bytes come down
        self._set(up, proxy.DROP_UP)
        self._set(down, proxy.DROP_DOWN)
        return self._healer(up + down), "nothing from %d" % x

    def _delay(self):
        x = self.random.choice(self._sids())
        ms = self.random.randint(50, 300)
        names = []
        for y in self._sids():
            if y != x:
                names += self.e.peer_link_names(x, y) + self.e.peer_link_names(y, x)
        self._set(names, proxy.DELAY, ms)
        return self._healer(names), "member %d, %d ms" % (x, ms)

    def _client_cut(self):
        x = self.random.choice(self._sids())
        names = [self.e.client_links[x].name]
        self._set(names, proxy.CUT)
        return self._healer(names), "clients of %d" % x

    # -- process faults (they hold and heal in place) ---------------------------

    def _pause(self):
        x = self._leader_or_random()
        hold = self.random.uniform(*self.pause_s)
        self.e.pause(x)
        self._note("pause", "member %d" % x, "stopped")
        self._stop.wait(hold)
        self.e.resume(x)
        return None, "member %d for %.1f s" % (x, hold)

    def _kill(self):
        x = self._leader_or_random()
        m = self.e.members[x]
        if m.proc is not None and m.proc.poll() is not None:
            self.crashes.append((x, m.proc.returncode))
        m.kill()
        self._note("kill", "member %d" % x, "killed")
        self._stop.wait(self.random.uniform(0.5, 2.0))
        m.start()
        return None, "member %d" % x
