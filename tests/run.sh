#!/usr/bin/env bash
# Install everything the test suite needs, then run all of it: the unit, trial
# and integration tests (tests/) and the interop suite against Apache ZooKeeper
# (interop/).
#   bash tests/run.sh [pytest args]      (default: tests and interop)
# Needs: Python >= 3.9 with venv.  Installs (apt, as root or with sudo) what is
# missing: Apache ZooKeeper from Debian (the tests compare against it and use its
# Java client jar), a JDK, python3-venv; interop/install.sh adds the C client,
# Curator and Node's client.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper zookeeper-bin)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "installing with apt: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
bash interop/install.sh
exec .venv/bin/python -m pytest "$@"
