#!/bin/sh
# Installs the Debian packages nemomq builds, tests and benchmarks with.
# Called by `make deps` (and so by `make run` and `make test`); does nothing
# when every package is already there, so it costs a second on a warm machine.
set -eu

PKGS="build-essential pkg-config
libzmq3-dev libczmq-dev protobuf-c-compiler libprotobuf-c-dev liblmdb-dev
check libmosquitto-dev mosquitto-clients mosquitto python3 python3-paho-mqtt libssl-dev
clang libclang-rt-14-dev iproute2 procps psmisc"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
