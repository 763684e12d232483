#!/bin/sh
# kazoo's bundled tests against Apache ZooKeeper and zkwire: see README.rst here.
#   bash interop/kazoo_suite/run.sh [OUTDIR] [--sizes 3,1] [--parallel N] [--rerun N] [-- PYTEST ARGS]
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
exec "$python" "$here/run.py" "$@"
