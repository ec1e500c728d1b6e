#!/bin/sh
# run-bench.sh [SECTION...] — nemomq's benchmarks, one section each.
#
# Sections run in the order given, all of them by default; each prints a
# heading and its own table.  Benchmarks report, they never pass or fail on
# a time (a section fails only if its program does).  To add one: write a
# section_NAME function and add NAME to SECTIONS.
#
#   codec    the MQTT codec on one core (build/bench/bench_codec); set
#            BENCH_SECONDS for the time per case (default 0.5)
#   topic    subscription matching and the retained index (build/bench/bench_topic)
#   store    queue store appends with group commit, sync on and off
#            (build/bench/bench_queue_store)
#   brokers  nemomq beside a Mosquitto of its own under the same load
#            (build/bin/nemomq-bench, driven by scripts/bench-brokers.py):
#            fan-in, fan-out, p2p, connections, 100k connections, sync;
#            about 12 minutes; BENCH_QUICK=1 for a short version, and
#            BENCH_SCENARIOS="1 4" for some rows only
#   cluster  two nodes: how long a retained message takes to reach the other
#            node, idle and under load (scripts/bench-cluster.py)
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
SECTIONS="codec topic store brokers cluster"
status=0

heading() {
    echo
    echo "== $1 =="
}

section_codec() {
    heading "codec: decode and encode, ns per packet (lower is better)"
    run_bin bench_codec "${BENCH_SECONDS:-0.5}"
}

run_bin() {   # run_bin NAME ARGS...: a bench program, or say it is not built
    bin="$root/build/bench/$1"
    shift
    if [ ! -x "$bin" ]; then
        echo "bench: $bin is not built (make bench)"
        return 1
    fi
    "$bin" "$@"
}

section_topic() {
    heading "topic: subscription matching, ns per match and per change"
    run_bin bench_topic
}

section_store() {
    heading "store: queue store appends per second, group commit of 1..1000, sync on/off"
    run_bin bench_queue_store "${BENCH_SECONDS:-0.5}"
}

section_brokers() {
    heading "brokers: nemomq and Mosquitto side by side (A = nemomq, B = Mosquitto)"
    if ! command -v mosquitto >/dev/null 2>&1; then
        echo "bench: installing Debian's mosquitto"
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends mosquitto \
            || { echo "bench: cannot install mosquitto"; return 1; }
    fi
    if [ ! -x "$root/build/bin/nemomq-bench" ]; then
        echo "bench: $root/build/bin/nemomq-bench is not built (make bench)"
        return 1
    fi
    # shellcheck disable=SC2086
    /usr/bin/python3 "$root/scripts/bench-brokers.py" ${BENCH_SCENARIOS:-}
}

section_cluster() {
    heading "cluster: retained replication between two nodes, idle and under load"
    mkdir -p "$root/build/bench-logs"
    /usr/bin/python3 "$root/scripts/bench-cluster.py"
}

[ $# -gt 0 ] && SECTIONS="$*"
for s in $SECTIONS; do
    if ! command -v "section_$s" >/dev/null 2>&1; then
        echo "bench: no section '$s' (have: codec topic store brokers cluster)"
        status=1
        continue
    fi
    "section_$s" || status=1
done
exit $status
