#!/usr/bin/env bash
# Install what the interop suite's clients need, on a clean Debian machine.
#   bash interop/install.sh
# apt: Apache ZooKeeper (server, Java client jar, C client library and headers; the
#      servlet API its AdminServer needs and Debian's jar manifest leaves out),
#      a JDK (javac for the Java and Curator drivers), Apache Curator's jars, gcc;
# npm: node-zookeeper-client into interop/node/node_modules (gitignored).
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")"

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in zookeeper zookeeper-bin libzookeeper-mt-dev libcurator-framework-java \
         libcurator-recipes-java libslf4j-java libservlet-api-java gcc libc6-dev; do
    have_pkg "$p" || need+=("$p")
done
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
    echo "interop: installing with apt: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${need[@]}" >/dev/null
fi

if [ ! -d node/node_modules/node-zookeeper-client ]; then
    echo "interop: installing node-zookeeper-client with npm"
    (cd node && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)
fi
