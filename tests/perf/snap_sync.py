"""Time to SNAP-sync an empty follower from a leader holding N znodes.

    .venv/bin/python tests/perf/snap_sync.py [--layout zzz] [--znodes 1000000]

Members 1 and 2 start on a copy of one snapshot of N znodes (1000 parents,
100-byte children: zkwire.bench.write_scale_snapshot) and form the ensemble;
then member 3 starts with an empty dataDir and is synced by SNAP.  Prints
the time from member 3's start to its first ``srvr`` that reports a mode
(process start, election, the snapshot sent, read, written to disk), and the
leader's peak RSS.  "jjj" measures Apache ZooKeeper 3.8.0 the same way.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from ensemble import Ensemble, wait_for  # noqa: E402
from zkwire.bench import write_scale_snapshot  # noqa: E402


def peak_rss_mb(pid) -> float:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layout", default="zzz")
    p.add_argument("--znodes", type=int, default=1000000)
    args = p.parse_args(argv)
    template = tempfile.mkdtemp(prefix="zkwire-snap-template-")
    try:
        t = time.monotonic()
        n = write_scale_snapshot(template, args.znodes, 100)
        print("snapshot of %d znodes written in %.1f s" % (n, time.monotonic() - t), flush=True)
        with Ensemble(args.layout, extra_cfg={"initLimit": "300", "syncLimit": "50"}) as e:
            for sid in (1, 2):
                shutil.copytree(os.path.join(template, "version-2"),
                                os.path.join(e[sid].data_dir, "version-2"))
            t = time.monotonic()
            e[1].start()
            e[2].start()
            e.wait_serving([1, 2], timeout_s=600)
            print("members 1 and 2 loaded it and serve after %.1f s" % (time.monotonic() - t),
                  flush=True)
            t = time.monotonic()
            e[3].start()
            wait_for(lambda: e[3].mode() in ("follower", "leader"), 900, "member 3")
            took = time.monotonic() - t
            leader = e.leader()
            print("layout=%s znodes=%d: empty member 3 serving %.1f s after its start; "
                  "leader %d peak RSS %.0f MB" % (args.layout, n, took, leader.sid,
                                                  peak_rss_mb(leader.proc.pid)))
    finally:
        shutil.rmtree(template, ignore_errors=True)


if __name__ == "__main__":
    main()
