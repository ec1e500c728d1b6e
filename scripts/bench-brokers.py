#!/usr/bin/python3
"""bench-brokers.py — nemomq beside Mosquitto under the same load, one table.

    scripts/bench-brokers.py [ROW...]      (make bench, section "brokers")

    BENCH_QUICK=1           one short round at a smaller scale (about 2 minutes)
    BENCH_ROUNDS=N          rounds (default 3)
    BENCH_BROKER_SECONDS=S  measured seconds per run (default 5)
    ROW...                  only these rows of the table, e.g. 1 4

For each scenario it starts a nemomq node and a Mosquitto of its own (a temp
dir, free ports on 127.0.0.1, never the system's broker), runs
build/bin/nemomq-bench against each in alternation for several rounds, and
prints the median of the rounds, the ratio nemomq/Mosquitto (the median of
the per-round ratios: rounds alternate, so each round is a fair pair), and
each broker's CPU seconds and peak RSS during the run (for nemomq, summed
over the supervisor and all its workers).  Every command and its full output
go to build/bench-logs/brokers.log.

Pinning: with two CPUs or more, every broker process runs on the last CPU
and the load on the first (taskset; nemomq's workers inherit the mask), so a
broker gets one core whatever its process count.  With one CPU nothing is
pinned, and the header says so.

Settings, chosen so that both brokers do the same work:
  nemomq     max_inflight_messages = 1000, max_online_messages = -1,
             max_offline_messages = -1, listener.max_connections = -1,
             1 acceptor, 1 queue shard (8 acceptors for 100k connections):
             the broker gets one CPU, and on one CPU a second acceptor or
             shard only adds wake-ups and halves the batches (measured in
             one run: p99 at 10k msg/s 1,982 us with 1/1, 5,571 us with 2/2),
             message_store.sync off (on for the sync row), console log to file
  Mosquitto  max_inflight_messages 1000 (the same window per client),
             max_queued_messages 0 (no limit, as nemomq's -1), persistence
             false, set_tcp_nodelay true, log to file (errors and warnings)
  rows 9, 10 two nodes of one cluster on the same CPU, publishers on A and
             subscribers on B, cluster links encrypted (CURVE) or not
             (listener.vmq.encryption = off), beside one node alone
  load       MQTT 3.1.1, 64-byte payloads; "max" is as fast as possible with
             16 QoS 1 messages in flight per publisher (QoS 0: TCP paces it)

Rows 6 and 7 also give the broker's CPU per connection over the connect
phase alone (schedstat of every thread, up to the tool's last CONNACK,
connected_at_s): with both CPUs pinned, the load's own CPU (which on
loopback also runs the kernel's side of every TCP handshake) can bound the
connect rate before the broker does, and this figure is the broker's side.

Figures that cannot be had are printed as such ("n/a", "failed"), never
guessed.  A broker that crashes, restarts workers or closes connections is
reported under the table with its log lines, and restarted for the next run.
"""
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BENCH = os.path.join(ROOT, "build", "bin", "nemomq-bench")
NEMOMQ = os.path.join(ROOT, "build", "bin", "nemomq")
ADMIN = os.path.join(ROOT, "build", "bin", "nemomq-admin")
LOG_DIR = os.path.join(ROOT, "build", "bench-logs")

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if QUICK else "3"))
SECONDS = float(os.environ.get("BENCH_BROKER_SECONDS", "2" if QUICK else "5"))
WARMUP = 0.5 if QUICK else 1.0
DRAIN = 5.0
OTHER_CPU_LIMIT = 1.0       # CPU seconds used by others during a run before it is marked '*'
QUIET_WAIT_BUDGET = 180.0   # seconds the whole bench may spend waiting for a quiet machine
quiet_waited = 0.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

log_file = None


def log(text):
    log_file.write(text + "\n")
    log_file.flush()


def say(text):
    print(text, file=sys.stderr, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- processes: CPU and memory from /proc -----------------------------------

def proc_stat(pid):
    """(ppid, cpu seconds, rss KiB) of a live process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    if fields[0] == "Z":
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK, int(fields[21]) * PAGE_KIB


def cpu_ns(pid):
    """Nanoseconds on a CPU of a live process, all its threads (schedstat:
    exact, where /proc/PID/stat counts in ticks of 10 ms); 0 if gone."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
                pass
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def machine_busy_s():
    """CPU seconds the machine has spent in processes (user, nice, system; not
    interrupts) since boot, less what kernel threads spent: ksoftirqd and its
    like work for the load's own network traffic, not for someone else."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = (v[0] + v[1] + v[2]) / CLK_TCK
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and (st[0] == 2 or d == "2"):
                total -= st[1]
    return total


def wait_quiet(brokers, limit=20.0):
    """On a shared machine, wait (within the bench's budget) until other
    processes leave the CPUs alone: under 20 % of one CPU over half a second."""
    global quiet_waited
    ours = lambda: sum((proc_stat(p) or (0, 0, 0))[1] for b in brokers for p in b.pids())
    start = time.monotonic()
    while quiet_waited + (time.monotonic() - start) < QUIET_WAIT_BUDGET and time.monotonic() - start < limit:
        m0, o0 = machine_busy_s(), ours()
        time.sleep(0.5)
        if (machine_busy_s() - m0) - (ours() - o0) < 0.1:
            break
    quiet_waited += time.monotonic() - start


def children_of(ppid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[0] == ppid:
                kids.append(int(d))
    return kids


class Sampler(threading.Thread):
    """Sums CPU and RSS over a broker's processes every 100 ms.  CPU counts
    from the first sample for processes already there, from zero for those
    started during the run (a restarted worker)."""

    def __init__(self, broker):
        super().__init__(daemon=True)
        self.broker = broker
        self.stop_ev = threading.Event()
        self.first, self.last = {}, {}
        self.first_ns, self.last_ns = {}, {}
        self.series = []          # (CLOCK_MONOTONIC s, the broker's CPU ns since the start)
        self.peak_kib = 0
        self.base_kib = self.sample(initial=True)

    def sample(self, initial=False):
        total = 0
        for pid in self.broker.pids():
            st = proc_stat(pid)
            if not st:
                continue
            self.first.setdefault(pid, st[1] if initial else 0.0)
            self.last[pid] = st[1]
            ns = cpu_ns(pid)
            self.first_ns.setdefault(pid, ns if initial else 0)
            self.last_ns[pid] = ns
            total += st[2]
        self.series.append((time.monotonic(), sum(self.last_ns[p] - self.first_ns[p] for p in self.last_ns)))
        self.peak_kib = max(self.peak_kib, total)
        return total

    def cpu_ns_by(self, t):
        """The broker's CPU ns from the start to the first sample at or after
        t (monotonic seconds); None if no sample came after it."""
        for when, ns in self.series:
            if when >= t:
                return ns
        return None

    def run(self):
        # the sampler runs on whichever CPU is free, the broker's among them:
        # as SCHED_IDLE it never takes a CPU from anyone who wants it
        try:
            os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
        except (AttributeError, OSError):
            pass
        while not self.stop_ev.wait(0.1):
            self.sample()

    def finish(self):
        self.stop_ev.set()
        self.join()
        self.sample()
        return sum(self.last[p] - self.first[p] for p in self.last)


# --- the brokers -------------------------------------------------------------

class Broker:
    name = "?"

    def __init__(self, cpu):
        self.cpu = cpu
        self.dir = tempfile.mkdtemp(prefix="nmq-bench-%s-" % self.name, dir="/tmp")
        self.port = free_port()
        self.log_offsets = {}

    def pinned(self, argv):
        return ["taskset", "-c", str(self.cpu)] + argv if self.cpu is not None else argv

    def host_args(self):
        return ["-H", "127.0.0.1:%d" % self.port]

    def cpu_idle(self, limit=15.0):
        """Wait until the broker has gone quiet (below 5 % of a core) after a run."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            a = sum((proc_stat(p) or (0, 0, 0))[1] for p in self.pids())
            time.sleep(0.5)
            b = sum((proc_stat(p) or (0, 0, 0))[1] for p in self.pids())
            if b - a < 0.025:
                return

    def new_log_lines(self):
        """Lines added to the broker's log files since the last call."""
        lines = []
        for path in self.watch:
            try:
                with open(path, errors="replace") as f:
                    f.seek(self.log_offsets.get(path, 0))
                    lines += f.read().splitlines()
                    self.log_offsets[path] = f.tell()
            except FileNotFoundError:
                pass
        return lines

    def problems(self):
        """Log lines written since the last call that tell of trouble."""
        return [l for l in self.new_log_lines() if self.PROBLEM.search(l)]

    def tail(self, n=15):
        try:
            with open(self.log_path, errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except FileNotFoundError:
            return "(no log)"

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Nemomq(Broker):
    name = "nemomq"
    PROBLEM = re.compile(r"\[(error|critical|alert|emergency)\]|killed by signal|crashed|exited with status [1-9]"
                         r"|silent for|Assertion|Segmentation")

    def __init__(self, cpu, **extra):
        super().__init__(cpu)
        d = self.dir
        self.log_path = os.path.join(d, "log", "console.log")
        self.settings = {
            "nodename": "bench%d@127.0.0.1" % self.port,
            "platform_data_dir": os.path.join(d, "data"),
            "platform_log_dir": os.path.join(d, "log"),
            "log.console": "file",
            "log.console.file": self.log_path,
            "log.error.file": os.path.join(d, "log", "error.log"),
            "allow_anonymous": "on",
            "plugins.vmq_acl": "off",
            "plugins.vmq_passwd": "off",
            "listener.tcp.default": "127.0.0.1:%d" % self.port,
            "listener.vmq.clustering": "127.0.0.1:%d" % free_port(),
            "listener.nr_of_acceptors": "1",
            "queue_shards": "1",
            "listener.max_connections": "-1",
            "max_inflight_messages": "1000",
            "max_online_messages": "-1",
            "max_offline_messages": "-1",
        }
        self.settings.update({k: str(v) for k, v in extra.items()})
        self.conf = os.path.join(d, "nemomq.conf")
        with open(self.conf, "w") as f:
            for k, v in self.settings.items():
                f.write("%s = %s\n" % (k, v))
        self.watch = [self.log_path, os.path.join(d, "start.out")]   # its stderr lands in start.out
        self.sup = None

    def start(self):
        out = open(os.path.join(self.dir, "start.out"), "w")
        r = subprocess.run(self.pinned([NEMOMQ, "-c", self.conf, "start"]), stdout=out,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=60)
        out.close()
        if r.returncode != 0:
            with open(os.path.join(self.dir, "start.out"), errors="replace") as f:
                said = f.read().strip()[-500:]
            raise RuntimeError("nemomq start failed (%d): %s %s" % (r.returncode, said, self.tail()))
        with open(os.path.join(self.settings["platform_data_dir"], "run", "nemomq.pid")) as f:
            self.sup = int(f.read().strip())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = subprocess.run([ADMIN, "-c", self.conf, "--json", "workers"], capture_output=True,
                               text=True, timeout=30)
            if r.returncode == 0 and '"running"' in r.stdout and not re.search(
                    r'"state"\s*:\s*"(?!running)', r.stdout):
                return
            time.sleep(0.2)
        raise RuntimeError("nemomq workers not running after 30 s: %s" % self.tail())

    def alive(self):
        return self.sup is not None and proc_stat(self.sup) is not None

    def pids(self):
        """The supervisor and its workers.  Scanning /proc for them 10 times
        a second cost bursts of a millisecond, some on the broker's CPU:
        nemomq's p99 at 10,000 msg/s measured 2.1 ms with it, 0.9 without.
        So the list is kept and scanned again only when a process in it is
        gone (a worker restarted)."""
        if not self.alive():
            return []
        kids = getattr(self, "_kids", None)
        if kids is None or not all(os.path.exists("/proc/%d" % p) for p in kids):
            kids = self._kids = children_of(self.sup)
        return [self.sup] + kids

    def stop(self):
        if self.sup is None:
            return
        pids = self.pids()
        if self.alive():
            subprocess.run([NEMOMQ, "-c", self.conf, "stop"], capture_output=True, timeout=120)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.sup = None
        self._kids = None


class NemomqPair(Broker):
    """Two nemomq nodes joined in a cluster on this machine (the same CPU):
    publishers connect to A, subscribers to B, so every message crosses the
    cluster link."""
    name = "nemomq-pair"

    def __init__(self, cpu, **extra):
        super().__init__(cpu)
        pm = free_port()
        common = {"portmap.port": pm, "distributed_cookie": "bench-cookie"}
        common.update(extra)
        self.a = Nemomq(cpu, **common)
        self.b = Nemomq(cpu, **common)
        self.log_path = self.a.log_path
        self.watch = self.a.watch + self.b.watch
        self.PROBLEM = Nemomq.PROBLEM

    def host_args(self):
        return ["--pub-host", "127.0.0.1:%d" % self.a.port, "--sub-host", "127.0.0.1:%d" % self.b.port]

    def start(self):
        self.a.start()
        self.b.start()
        r = subprocess.run([ADMIN, "-c", self.b.conf, "cluster", "join",
                            "discovery-node=%s" % self.a.settings["nodename"]], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise RuntimeError("cluster join failed: %s" % r.stderr.strip())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:   # both accept clients: no netsplit left
            if all(self.connack_ok(n.port) for n in (self.a, self.b)):
                return
            time.sleep(0.2)
        raise RuntimeError("the two nodes did not form a whole cluster in 30 s")

    @staticmethod
    def connack_ok(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                body = b"\x00\x04MQTT\x04\x02\x00\x1e\x00\x05probe"
                s.sendall(bytes([0x10, len(body)]) + body)
                return s.recv(4)[3:4] == b"\x00"
        except OSError:
            return False

    def alive(self):
        return self.a.alive() and self.b.alive()

    def pids(self):
        return self.a.pids() + self.b.pids()

    def stop(self):
        self.a.stop()
        self.b.stop()

    def cleanup(self):
        self.a.cleanup()
        self.b.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)


class Mosquitto(Broker):
    name = "mosquitto"
    PROBLEM = re.compile(r"error|warning", re.I)

    def __init__(self, cpu):
        super().__init__(cpu)
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        self.watch = [self.log_path]
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\n" % self.port)
            f.write("allow_anonymous true\nset_tcp_nodelay true\npersistence false\n")
            f.write("max_inflight_messages 1000\nmax_queued_messages 0\n")
            f.write("log_dest file %s\nlog_type error\nlog_type warning\n" % self.log_path)
        self.proc = None


    def start(self):
        self.proc = subprocess.Popen(self.pinned(["mosquitto", "-c", self.conf]), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mosquitto exited at once: %s" % self.tail())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto does not listen on %d" % self.port)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pids(self):
        return [self.proc.pid] if self.alive() else []

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# --- one run of the load ----------------------------------------------------

def run_load(broker, args, load_cpu, timeout):
    """nemomq-bench against broker; returns a dict of figures (the tool's
    key=value line, plus cpu_s, peak_mib, mem_kib_per_conn, load_cpu_s,
    notes)."""
    argv = [BENCH] + args + broker.host_args()
    if load_cpu is not None:
        argv = ["taskset", "-c", str(load_cpu)] + argv
    log("\n$ " + " ".join(argv))
    res = {"notes": []}
    if not broker.alive():
        res["notes"].append("%s was not running" % broker.name)
        return res
    broker.new_log_lines()
    sampler = Sampler(broker)
    sampler.start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    me_before = resource.getrusage(resource.RUSAGE_SELF)
    busy_before = machine_busy_s()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out, err, rc = (e.stdout or b"").decode(), (e.stderr or b"").decode(), "timeout"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    me_after = resource.getrusage(resource.RUSAGE_SELF)
    busy = machine_busy_s() - busy_before
    cpu = sampler.finish()
    log(out + err + "(exit %s)" % rc)
    lines = out.strip().splitlines()
    if lines and lines[-1].startswith("scenario="):
        for kv in lines[-1].split():
            k, _, v = kv.partition("=")
            try:
                res[k] = float(v)
            except ValueError:
                res[k] = v
    else:
        res["notes"].append("the load tool gave no result (exit %s): %s" % (rc, err.strip()[-300:]))
    res["cpu_s"] = cpu
    res["peak_mib"] = sampler.peak_kib / 1024.0
    conns = res.get("conn_ok", 0)
    if conns:
        res["mem_kib_per_conn"] = (sampler.peak_kib - sampler.base_kib) / conns
        # the connect phase alone: the broker is idle before it and, holding
        # idle connections, after it, so its CPU up to the first sample after
        # the last CONNACK is what the handshakes cost
        at = res.get("connected_at_s")
        ns = sampler.cpu_ns_by(at) if isinstance(at, float) else None
        if ns is not None:
            res["cpu_us_per_connect"] = ns / 1000.0 / conns
    res["load_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    me = (me_after.ru_utime - me_before.ru_utime) + (me_after.ru_stime - me_before.ru_stime)
    # whatever else ran on the machine meanwhile (other users, the other broker)
    res["other_cpu_s"] = max(0.0, busy - cpu - res["load_cpu_s"] - me)
    if res["other_cpu_s"] > OTHER_CPU_LIMIT:
        res["busy"] = True
        res["notes"].append("the machine was not quiet: other processes used %.1f CPU s during the run"
                            % res["other_cpu_s"])
    if res.get("status") not in (None, "ok"):
        first = [l for l in err.splitlines() if l.startswith("nemomq-bench:")]
        res["notes"].append("load status %s: %s" % (res.get("status"), "; ".join(first)[:300]))
    problems = broker.problems()
    res["trouble"] = bool(problems)
    if problems:
        res["notes"].append("%s log:\n      " % broker.name + "\n      ".join(problems[:8]) +
                            ("\n      ... %d more" % (len(problems) - 8) if len(problems) > 8 else ""))
    if not broker.alive():
        res["notes"].append("%s died during the run" % broker.name)
        res["died"] = True
    return res


# --- scenarios ---------------------------------------------------------------

def fmt_num(v):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return "{:,.0f}".format(v)
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def fmt_pct(v):
    return "n/a" if v is None else "%.2f%%" % v


class Figure:
    def __init__(self, label, key, fmt=fmt_num, ratio=True):
        self.label, self.key, self.fmt, self.ratio = label, key, fmt, ratio

    def get(self, r):
        v = r.get(self.key)
        return v if isinstance(v, float) else None


DELIVERED = Figure("delivered msg/s", "recv_rate")
LOST = Figure("lost", "loss_pct", fmt_pct, ratio=False)


def lat(q):
    return Figure("latency %s us" % q, "lat_%s_us" % q.replace(".", ""))


class Scenario:
    def __init__(self, num, title, args, figures, sides, quick_args=None, timeout=None, fresh=False):
        self.num, self.title, self.args, self.figures, self.sides = num, title, args, figures, sides
        self.quick_args = quick_args
        self.timeout = timeout
        # a new broker for every run: memory per connection is measured from a
        # broker that never held any (an allocator keeps what it once had)
        self.fresh = fresh

    def load_args(self):
        a = list(self.quick_args if QUICK and self.quick_args else self.args)
        if "-d" not in a:
            a += ["-d", str(SECONDS)]
        if "-W" not in a:
            a += ["-W", str(WARMUP)]
        return a + ["--drain", str(DRAIN)]


def scenarios():
    std = [("nemomq", lambda cpu: Nemomq(cpu)), ("mosquitto", lambda cpu: Mosquitto(cpu))]
    c10k = "2000" if QUICK else "10000"
    c100k = "20000" if QUICK else "100000"
    fan = "200" if QUICK else "1000"
    pairs = "100" if QUICK else "500"
    rate = "2000" if QUICK else "10000"
    return [
        Scenario(1, "fan-in 100 -> 1, QoS 0, max", ["fanin", "-P", "100", "-S", "1", "-q", "0"],
                 [DELIVERED, LOST], std),
        Scenario(2, "fan-in 100 -> 1, QoS 1, max", ["fanin", "-P", "100", "-S", "1", "-q", "1"],
                 [DELIVERED, LOST, lat("p50"), lat("p99")], std),
        Scenario(3, "fan-out 1 -> %s, QoS 0, max" % fan, ["fanout", "-S", fan, "-q", "0"],
                 [DELIVERED, LOST], std),
        Scenario(4, "p2p %s pairs, QoS 1, max" % pairs, ["p2p", "-n", pairs, "-q", "1"],
                 [DELIVERED, LOST, lat("p50"), lat("p99")], std),
        Scenario(5, "p2p %s pairs, QoS 1, %s msg/s" % (pairs, rate), ["p2p", "-n", pairs, "-q", "1", "-r", rate],
                 [Figure("sent msg/s", "sent_rate"), LOST, lat("p50"), lat("p90"), lat("p99"), lat("p99.9"),
                  Figure("latency max us", "lat_max_us")], std),
        Scenario(6, "conn: %s connections" % c10k, ["conn", "-c", c10k, "--max-pending", "100"],
                 [Figure("connected", "conn_ok"), Figure("connects/s", "connect_rate"),
                  Figure("broker CPU us/connect", "cpu_us_per_connect"),
                  Figure("handshake p99 us", "hs_p99_us"),
                  Figure("KiB per idle conn", "mem_kib_per_conn")], std, fresh=True),
        Scenario(7, "nemomq: %s conns, 8 acceptors" % c100k,
                 ["conn", "-c", c100k, "-j", "2" if QUICK else "8", "--max-pending", "50",
                  "--connect-timeout", "180"],
                 [Figure("connected", "conn_ok"), Figure("connects/s", "connect_rate"),
                  Figure("broker CPU us/connect", "cpu_us_per_connect"),
                  Figure("handshake p99 us", "hs_p99_us"), Figure("KiB per conn", "mem_kib_per_conn")],
                 [("nemomq", lambda cpu: Nemomq(cpu, **{"listener.nr_of_acceptors": 8}))], timeout=400,
                 fresh=True),
        Scenario(8, "nemomq: p2p %s, QoS 1, max, sync" % pairs, ["p2p", "-n", pairs, "-q", "1"],
                 [DELIVERED, LOST, lat("p50"), lat("p99")],
                 [("sync on", lambda cpu: Nemomq(cpu, **{"message_store.sync": "on"})),
                  ("sync off", lambda cpu: Nemomq(cpu, **{"message_store.sync": "off"}))]),
        Scenario(9, "nemomq: p2p %s, QoS 1, 2 nodes, CURVE" % pairs, ["p2p", "-n", pairs, "-q", "1"],
                 [DELIVERED, LOST, lat("p50"), lat("p99")],
                 [("2 nodes, encrypted", lambda cpu: NemomqPair(cpu)), ("one node", lambda cpu: Nemomq(cpu))]),
        Scenario(10, "nemomq: p2p %s, QoS 1, 2 nodes, plain" % pairs, ["p2p", "-n", pairs, "-q", "1"],
                 [DELIVERED, LOST, lat("p50"), lat("p99")],
                 [("2 nodes, plain", lambda cpu: NemomqPair(cpu, **{"listener.vmq.encryption": "off"})),
                  ("one node", lambda cpu: Nemomq(cpu))]),
    ]


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def run_scenario(sc, cpus, notes):
    """Runs the rounds, sides alternating; returns {side: [result per round]}."""
    broker_cpu, load_cpu = cpus
    results = {label: [] for label, _ in sc.sides}
    brokers = {}
    try:
        for label, make in sc.sides:
            b = make(broker_cpu)
            brokers[label] = b
            b.start()
        for rnd in range(ROUNDS):
            order = sc.sides if rnd % 2 == 0 else list(reversed(sc.sides))
            for label, make in order:
                b = brokers[label]
                if not b.alive() or (sc.fresh and rnd > 0):
                    if not b.alive():
                        say("  restarting %s (%s) after a failure" % (label, b.name))
                    b.cleanup()
                    b = brokers[label] = make(broker_cpu)
                    b.start()
                for other in brokers.values():
                    other.cpu_idle()
                wait_quiet(list(brokers.values()))
                r = run_load(b, sc.load_args(), load_cpu, sc.timeout or (SECONDS + WARMUP + DRAIN + 120))
                results[label].append(r)
                for n in r["notes"]:
                    notes.append("%d, %s, round %d: %s" % (sc.num, label, rnd + 1, n))
                main = sc.figures[0]
                say("  %d. %-9s round %d: %s %s%s" % (sc.num, label, rnd + 1, main.fmt(main.get(r)), main.label,
                                                     "  (!)" if r["notes"] else ""))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        notes.append("%d: could not run: %s" % (sc.num, e))
        say("  %d: could not run: %s" % (sc.num, e))
    finally:
        for b in brokers.values():
            b.cleanup()
    return results


def troubled(r):
    return r.get("died") or r.get("trouble") or r.get("status") not in (None, "ok")


def cell(fig, runs):
    m = median([fig.get(r) for r in runs])
    if m is None:
        return "failed" if any(troubled(r) for r in runs) else "n/a"
    return (fig.fmt(m) + ("*" if any(r.get("busy") for r in runs) else "") +
            ("!" if any(troubled(r) for r in runs) else ""))


def ratio_cell(fig, a_runs, b_runs):
    if not fig.ratio:
        return ""
    rs = []
    for a, b in zip(a_runs, b_runs):
        x, y = fig.get(a), fig.get(b)
        if x is not None and y:
            rs.append(x / y)
    m = median(rs)
    return "" if m is None else "%.2f" % m


def print_table(all_results, cpus, broker_info):
    broker_cpu, load_cpu = cpus
    out = []
    w = (40, 18, 11, 11, 6, 11, 11, 12)
    head = ("scenario", "figure", "A", "B", "A/B", "CPU s A/B", "load CPU s", "peak RSS MiB")

    def row(cols):
        out.append("  ".join(str(c).ljust(w[i]) if i < 2 else str(c).rjust(w[i]) for i, c in enumerate(cols)))

    out.append("")
    out.append("brokers: nemomq against Mosquitto %s; %d round(s) of %.0f s after %.1f s of warm-up; "
               "medians of the rounds%s" % (mosquitto_version(), ROUNDS, SECONDS, WARMUP,
                                            " (BENCH_QUICK)" if QUICK else ""))
    if broker_cpu is not None:
        out.append("pinned: the broker under test (nemomq: supervisor and every worker) on CPU %d, "
                   "the load on CPU %d" % (broker_cpu, load_cpu))
    else:
        out.append("pinned: nothing (one CPU): brokers and load share it")
    for k, v in broker_info.items():
        out.append("  %-9s %s" % (k + ":", v))
    out.append("A = nemomq, B = Mosquitto; row 7: nemomq alone; row 8: A = nemomq with message_store.sync on, "
               "B = the same node with it off; rows 9, 10: A = two nodes (publishers on one, subscribers on the "
               "other; links encrypted in 9, not in 10), B = one node")
    out.append("A/B: median of the per-round ratios; CPU s and peak RSS: the broker's processes during a run, "
               "A/B; load CPU s: nemomq-bench, A/B")
    out.append("'!': from a run that did not go as planned (see the notes); 'failed': no figure at all; "
               "'*': other processes used over %.0f CPU s during a run (a shared machine)" % OTHER_CPU_LIMIT)
    out.append("")
    row(head)
    row(["-" * n for n in w])
    for sc, res in all_results:
        labels = [l for l, _ in sc.sides]
        a = res.get(labels[0], [])
        b = res.get(labels[1], []) if len(labels) > 1 else []

        def usage(key, fmt):
            xs = [fmt(median([r.get(key) for r in runs])) for runs in ((a, b) if len(labels) > 1 else (a,))]
            return "/".join(xs)

        for i, fig in enumerate(sc.figures):
            cols = [("%d %s" % (sc.num, sc.title)) if i == 0 else "", fig.label, cell(fig, a),
                    cell(fig, b) if len(labels) > 1 else "-",
                    ratio_cell(fig, a, b) if len(labels) > 1 else ""]
            if i == 0:
                num = lambda v: "n/a" if v is None else "%.1f" % v
                cols += [usage("cpu_s", num), usage("load_cpu_s", num),
                         usage("peak_mib", lambda v: "n/a" if v is None else "%.0f" % v)]
            row(cols)
    return "\n".join(out)


def mosquitto_version():
    try:
        r = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True, timeout=10)
        m = re.search(r"version (\S+)", r.stdout + r.stderr)
        return m.group(1) if m else "?"
    except OSError:
        return "?"


def snapshot_binaries():
    """Run copies of the binaries as they are now: in a shared checkout
    another build may replace build/bin/* during the bench, and a run must
    measure one program (nemomq execs its workers from /proc/self/exe, so the
    copy is what runs)."""
    global BENCH, NEMOMQ, ADMIN
    d = tempfile.mkdtemp(prefix="nmq-bench-bin-", dir="/tmp")
    paths = []
    for path in (BENCH, NEMOMQ, ADMIN):
        if not os.access(path, os.X_OK):
            shutil.rmtree(d, ignore_errors=True)
            raise RuntimeError("%s is not built (make build)" % path)
        paths.append(shutil.copy2(path, d))
    BENCH, NEMOMQ, ADMIN = paths
    return d


def main():
    global log_file
    try:
        bin_dir = snapshot_binaries()
    except (RuntimeError, OSError) as e:
        print("bench-brokers: %s" % e, file=sys.stderr)
        return 1
    try:
        return run_all()
    finally:
        shutil.rmtree(bin_dir, ignore_errors=True)


def run_all():
    global log_file
    if not shutil.which("mosquitto"):
        print("bench-brokers: mosquitto is not installed (apt-get install mosquitto)", file=sys.stderr)
        return 1
    os.makedirs(LOG_DIR, exist_ok=True)
    log_file = open(os.path.join(LOG_DIR, "brokers.log"), "w")
    cpus = sorted(os.sched_getaffinity(0))
    pin = (cpus[-1], cpus[0]) if len(cpus) >= 2 and shutil.which("taskset") else (None, None)
    only = [int(x) for x in sys.argv[1:] if x.isdigit()]
    notes = []
    all_results = []
    info = {}
    t0 = time.monotonic()
    for sc in scenarios():
        if only and sc.num not in only:
            continue
        say("bench-brokers: %d. %s" % (sc.num, sc.title))
        res = run_scenario(sc, pin, notes)
        all_results.append((sc, res))
    info["nemomq"] = ("max_inflight_messages 1000, max_online_messages -1, 1 acceptor (8 in row 7), "
                      "1 queue shard, message_store.sync off (but in row 8)")
    info["mosquitto"] = ("max_inflight_messages 1000, max_queued_messages 0 (no limit), persistence false, "
                         "set_tcp_nodelay true")
    info["load"] = "nemomq-bench, MQTT 3.1.1, 64-byte payloads, 16 QoS 1 messages in flight per publisher"
    table = print_table(all_results, pin, info)
    print(table)
    if notes:
        print("\nnotes:")
        for n in notes:
            print("  - " + n)
    print("\n(%.0f s, of which %.0f s waiting for other processes to leave the CPUs; every command and "
          "its output: %s)" % (time.monotonic() - t0, quiet_waited, os.path.relpath(log_file.name, ROOT)))
    log(table)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    sys.exit(main())
