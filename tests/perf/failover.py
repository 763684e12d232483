"""Leader kill -9 to the first acknowledged write on the new leader.

    .venv/bin/python tests/perf/failover.py [--layout zzz] [--rounds 5]

Starts a 3-member ensemble on loopback (tests/ensemble.py; "jjj" is Apache
ZooKeeper 3.8.0, "zzz" zkwire, any mix works), then, each round: a kazoo
client connected to a follower writes in a loop; the leader is killed with
SIGKILL; the time from the kill to the first write acknowledged after it is
one figure (the first write *sent* after the kill that is acknowledged).  The killed server is restarted and the ensemble settles before
the next round.  Prints each figure and the median.  tickTime=200,
initLimit=25, syncLimit=5 (tests/ensemble.py).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import NodeExistsError  # noqa: E402
from kazoo.retry import KazooRetry  # noqa: E402

from ensemble import Ensemble  # noqa: E402


def one_round(e, n):
    leader = e.leader()
    follower = next(m for m in e.members.values() if m.running and m is not leader)
    others = ",".join(m.host for m in e.members.values() if m is not leader)
    c = KazooClient(hosts=others, timeout=10.0,
                    connection_retry=KazooRetry(max_tries=-1, delay=0.01, max_delay=0.05))
    c.start(timeout=20)
    acked = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            sent = time.monotonic()
            try:
                c.create("/fo/r%d-%d" % (n, i), b"", makepath=True)
                acked.append((sent, time.monotonic()))
                i += 1
            except NodeExistsError:
                i += 1          # an earlier try went through; its reply was lost
            except Exception:   # ConnectionLoss while the ensemble moves: try again
                time.sleep(0.001)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    while len(acked) < 20:
        time.sleep(0.005)
    killed_at = time.monotonic()
    leader.kill()
    deadline = killed_at + 60
    # The first write sent after the kill and acknowledged (a write in
    # flight at the kill may be answered by the old leader's last commit).
    while time.monotonic() < deadline and not any(s > killed_at for s, _ in acked[-50:]):
        time.sleep(0.001)
    first = next((a for s, a in acked if s > killed_at), None)
    stop.set()
    t.join(10)
    c.stop()
    c.close()
    leader.start()
    e.wait_serving()
    del follower
    return None if first is None else (first - killed_at) * 1000.0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layout", default="zzz")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    with Ensemble(args.layout) as e:
        e.start_all()
        e.wait_serving()
        figures = []
        for n in range(args.rounds):
            ms = one_round(e, n)
            print("round %d: %s" % (n, "no write within 60 s" if ms is None else "%.0f ms" % ms),
                  flush=True)
            if ms is not None:
                figures.append(ms)
    if figures:
        print("layout=%s rounds=%d median=%.0f ms min=%.0f ms max=%.0f ms"
              % (args.layout, len(figures), statistics.median(figures), min(figures),
                 max(figures)))


if __name__ == "__main__":
    main()
