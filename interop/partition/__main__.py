"""python -m interop.partition --layout zzz --seconds 60 --seed 1 --out DIR"""
from __future__ import annotations

import argparse
import logging
import sys

from interop.partition.harness import run
from interop.partition.nemesis import FAULTS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m interop.partition", description=__doc__)
    ap.add_argument("--layout", default="zzz", help="z = zkwire, j = Apache ZooKeeper (default zzz)")
    ap.add_argument("--seconds", type=float, default=60.0, help="of faults (default 60)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None, help="directory for the history (default: a temp dir)")
    ap.add_argument("--clients", type=int, default=5)
    ap.add_argument("--faults", default=",".join(FAULTS),
                    help="comma-separated subset of: " + ",".join(FAULTS))
    args = ap.parse_args(argv)
    # kazoo logs every dropped connection; the faults make plenty of those.
    logging.basicConfig(level=logging.ERROR)
    faults = [f for f in args.faults.split(",") if f]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        ap.error("unknown faults: %s" % ",".join(sorted(unknown)))
    result = run(args.layout, args.seconds, args.seed, args.out, args.clients, faults,
                 log=lambda s: print(s, file=sys.stderr))
    print(result.report())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
