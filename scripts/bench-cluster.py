#!/usr/bin/python3
"""bench-cluster.py — how long a retained message set on one node takes to be
readable on another, idle and under load (make bench, section "cluster").

Two nemomq nodes joined in a cluster on this machine (bench-brokers.py's
NemomqPair, on one CPU, the load on the other).  A sample: a client on node A
publishes a retained message (QoS 1, waits for PUBACK), then new clients on
node B subscribe to its topic every 2 ms until one receives it; the time from
the PUBACK to that delivery is the replication delay (an upper bound: it
includes a connect and a SUBSCRIBE on B).  SAMPLES samples with the cluster
idle, then SAMPLES while nemomq-bench runs p2p 500 pairs at QoS 1 as fast as
it can across the two nodes (publishers on A, subscribers on B).  Bounded:
each sample gives up after 10 s, the load runs for a fixed time.
"""
import importlib.util
import os
import statistics
import subprocess
import sys
import threading
import time

import paho.mqtt.client as paho

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SAMPLES = int(os.environ.get("BENCH_RETAINED_SAMPLES", "20"))

spec = importlib.util.spec_from_file_location("bench_brokers", os.path.join(ROOT, "scripts", "bench-brokers.py"))
bb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bb)


def connect(port, cid):
    c = paho.Client(client_id=cid, clean_session=True)
    got = threading.Event()
    c.on_connect = lambda *a: got.set()
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    if not got.wait(5):
        raise RuntimeError("no CONNACK from port %d" % port)
    return c


def sample(pair, i, tag):
    topic = "bench/retained/%s/%d" % (tag, i)
    payload = ("%s-%d-%f" % (tag, i, time.time())).encode()
    pub = connect(pair.a.port, "ret-pub-%s-%d" % (tag, i))
    info = pub.publish(topic, payload, qos=1, retain=True)
    info.wait_for_publish(5)
    t0 = time.monotonic()
    deadline = t0 + 10
    n = 0
    seen_at = []
    subs = [pub]
    seen = threading.Event()

    def on_message(c, u, m):
        if m.payload == payload:
            seen_at.append(time.monotonic())   # the time it arrived, not when we looked
            seen.set()
    try:
        # a new subscriber every 2 ms (every 20 ms after the first 100 ms, to
        # bound the clients), the earlier ones still listening: waiting for
        # each in turn made most samples one wait long (a first subscriber
        # at +1 ms misses a message that is on B at +2 ms)
        while time.monotonic() < deadline and not seen.is_set():
            n += 1
            sub = connect(pair.b.port, "ret-sub-%s-%d-%d" % (tag, i, n))
            subs.append(sub)
            sub.on_message = on_message
            sub.subscribe(topic, 1)
            seen.wait(0.002 if time.monotonic() - t0 < 0.1 else 0.02)
    finally:
        for c in subs:   # paho's loop_stop waits up to a second: after the measurement
            c.disconnect()
            c.loop_stop()
    return (min(seen_at) - t0) * 1000.0 if seen_at else None


def run(pair, tag, samples):
    out = []
    for i in range(samples):
        out.append(sample(pair, i, tag))
        time.sleep(0.1)
    return out


def summary(xs):
    ok = [x for x in xs if x is not None]
    if not ok:
        return "no sample arrived within 10 s"
    return "median %.1f ms, max %.1f ms, %d of %d samples%s" % (
        statistics.median(ok), max(ok), len(ok), len(xs), "" if len(ok) == len(xs) else " (the rest: over 10 s)")


def main():
    bb.log_file = open(os.path.join(ROOT, "build", "bench-logs", "cluster.log"), "w")
    cpus = sorted(os.sched_getaffinity(0))
    broker_cpu, load_cpu = (cpus[-1], cpus[0]) if len(cpus) >= 2 else (None, None)
    pair = bb.NemomqPair(broker_cpu)
    try:
        pair.start()
        idle = run(pair, "idle", SAMPLES)
        load_s = SAMPLES * 0.4 + 10
        argv = [bb.BENCH, "p2p", "-n", "500", "-q", "1", "-d", "%.0f" % load_s, "-W", "1", "--drain", "5"] + \
            pair.host_args()
        if load_cpu is not None:
            argv = ["taskset", "-c", str(load_cpu)] + argv
        load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(3)
        busy = run(pair, "load", SAMPLES)
        out, _ = load.communicate(timeout=load_s + 60)
        last = [l for l in out.splitlines() if l.startswith("scenario=")]
        rate = lost = "?"
        if last:
            kv = dict(x.split("=", 1) for x in last[-1].split())
            rate, lost = kv.get("recv_rate", "?"), kv.get("lost", "?")
        print("retained message set on node A, readable by a new subscriber on node B:")
        print("  idle cluster:                      %s" % summary(idle))
        print("  under p2p 500 pairs QoS 1 A -> B:  %s" % summary(busy))
        print("  (the load meanwhile: %s msg/s delivered across the link, %s lost)" % (rate, lost))
        return 0
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        print("bench-cluster: %s" % e, file=sys.stderr)
        return 1
    finally:
        pair.cleanup()


if __name__ == "__main__":
    sys.exit(main())
