#!/usr/bin/env bash
# Install everything the test suite needs, then run all of it: the unit, trial
# and integration tests (tests/) and the interop suite against Apache ZooKeeper
# (interop/) under CPython, then tests/ again under PyPy (Debian's pypy3), with
# every server the tests start running on PyPy too; and tests/integration once
# more against Apache ZooKeeper, so every expectation is checked on the real server.
#   bash tests/run.sh [pytest args]
# With pytest options only (-q, -x, -k ...), every pass takes them.  With test
# paths, only the CPython pass runs them (ZKWIRE_PYPY=1 runs them on PyPy too);
# ZKWIRE_PYPY=0 skips the PyPy pass; ZKWIRE_VS_ZOOKEEPER=0 (default with paths) skips
# the pass against Apache ZooKeeper.
# Needs: Python >= 3.9 with venv.  Installs (apt, as root or with sudo) what is
# missing: Apache ZooKeeper from Debian (the tests compare against it and use its
# Java client jar), a JDK, python3-venv, pypy3; interop/install.sh adds the C
# client, Curator and Node's client.
set -euo pipefail
cd "$(dirname "$0")/.."

paths=0
for a in "$@"; do
    case "$a" in -*) ;; *) paths=1 ;; esac
done
pypy="${ZKWIRE_PYPY:-}"
vszk="${ZKWIRE_VS_ZOOKEEPER:-}"
[ -n "$vszk" ] || { [ "$paths" = 1 ] && vszk=0 || vszk=1; }
[ -n "$pypy" ] || { [ "$paths" = 1 ] && pypy=0 || pypy=1; }

need=()
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper zookeeper-bin)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need+=(python3-venv)
if [ "$pypy" = 1 ]; then
    command -v pypy3 >/dev/null 2>&1 || need+=(pypy3)
    dpkg-query -W -f='${Status}' pypy3-venv 2>/dev/null | grep -q "install ok installed" \
        || need+=(pypy3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "installing with apt: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
if [ "$pypy" = 1 ]; then
    [ -x .venv-pypy/bin/python ] || pypy3 -m venv .venv-pypy
    .venv-pypy/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
fi
bash interop/install.sh

rc=0
echo "== CPython: $(.venv/bin/python -V 2>&1)"
.venv/bin/python -m pytest "$@" || rc=$?
if [ "$vszk" = 1 ]; then
    # The same integration tests against Apache ZooKeeper: an expectation that
    # stops matching the real server fails here, not only by hand.
    echo "== tests/integration against Apache ZooKeeper (ZKWIRE_TEST_TARGET=zookeeper)"
    ZKWIRE_TEST_TARGET=zookeeper .venv/bin/python -m pytest tests/integration "$@" || rc=$?
fi
if [ "$pypy" = 1 ]; then
    echo "== PyPy: $(.venv-pypy/bin/python -V 2>&1 | tr '\n' ' ')"
    # --assert=plain: Debian's PyPy 7.3.11 now and then segfaults compiling
    # pytest's rewritten asserts (pypy/pypy#3959, pytest-dev/pytest#11168).
    if [ "$paths" = 1 ]; then
        .venv-pypy/bin/python -m pytest --assert=plain "$@" || rc=$?
    else
        .venv-pypy/bin/python -m pytest --assert=plain tests "$@" || rc=$?
    fi
fi
exit $rc
