"""nmqtest — start real nemomq nodes for end-to-end tests.

A Node gets its own temporary directory (data, logs, config), its own node
name and free ports on 127.0.0.1, and is driven only through what a user has:
the `nemomq` and `nemomq-admin` binaries, signals, `ps`, /proc.  Nothing here
talks to any address outside 127.0.0.0/8.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "build", "bin")
NEMOMQ = os.path.join(BIN, "nemomq")
ADMIN = os.path.join(BIN, "nemomq-admin")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):   # gone between the calls
        return False


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


class Node:
    def __init__(self, extra=None, acceptors=2, queues=2, name=None, heartbeat_ms=200):
        self.dir = tempfile.mkdtemp(prefix="nmq-e2e-", dir="/tmp")
        self.name = name or "t%s@127.0.0.1" % uuid.uuid4().hex[:10]
        self.port = free_port()
        self.conf = os.path.join(self.dir, "nemomq.conf")
        self.settings = {
            "nodename": self.name,
            "platform_data_dir": os.path.join(self.dir, "data"),
            "platform_log_dir": os.path.join(self.dir, "log"),
            "log.console": "file",
            "log.console.level": "info",
            "log.console.file": os.path.join(self.dir, "log", "console.log"),
            "log.error.file": os.path.join(self.dir, "log", "error.log"),
            "listener.tcp.default": "127.0.0.1:%d" % self.port,
            "listener.vmq.clustering": "127.0.0.1:%d" % free_port(),
            "listener.nr_of_acceptors": str(acceptors),
            "queue_shards": str(queues),
            "supervisor.heartbeat_interval": str(heartbeat_ms),
        }
        self.settings.update(extra or {})
        self.write_conf()
        self.proc = None

    # --- config ---------------------------------------------------------------
    def write_conf(self, **changes):
        self.settings.update({k.replace("__", "."): str(v) for k, v in changes.items()})
        with open(self.conf, "w") as f:
            for k, v in self.settings.items():
                f.write("%s = %s\n" % (k, v))

    # --- running ----------------------------------------------------------------
    def run(self, *args, timeout=30, check=False):
        if args[:1] == ("start",):
            self.launched = self.starts_logged()
        return subprocess.run([NEMOMQ, "-c", self.conf] + list(args), capture_output=True,
                              text=True, timeout=timeout, check=check)

    def admin(self, *args, timeout=30):
        return subprocess.run([ADMIN, "-c", self.conf] + list(args), capture_output=True,
                              text=True, timeout=timeout)

    def admin_json(self, *args):
        import json
        r = self.admin("--json", *args)
        assert r.returncode == 0, "nemomq-admin %s failed: %s" % (" ".join(args), r.stderr)
        return json.loads(r.stdout)

    def start(self):
        r = self.run("start")
        assert r.returncode == 0, "nemomq start failed (%d): %s" % (r.returncode, r.stderr)
        self.sup_pid = self.read_pid()
        return self

    def console(self, nofile=None):
        """The node in the foreground as a child of the test (like `nemomq console`);
        nofile lowers the open-files limit of every process of the node."""
        def limit():
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.launched = self.starts_logged()
        self.proc = subprocess.Popen([NEMOMQ, "-c", self.conf, "console"], preexec_fn=limit if nofile else None,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: self.ping() or self.proc.poll() is not None, 15, what="node up")
        assert self.proc.poll() is None, "node exited: %s" % self.proc.stderr.read()
        self.sup_pid = self.proc.pid
        return self

    def ping(self):
        return self.run("ping").returncode == 0

    def read_pid(self):
        with open(os.path.join(self.settings["platform_data_dir"], "run", "nemomq.pid")) as f:
            return int(f.read().strip())

    def workers(self):
        return self.admin_json("workers")

    def worker_pids(self, role=None):
        return [w["pid"] for w in self.workers()
                if w["role"] != "supervisor" and (role is None or w["role"] == role) and w["pid"]]

    def starts_logged(self):
        return self.log().count("node %s started: " % self.name)

    def ready(self):
        # the supervisor answers while it starts the workers stage by stage:
        # all of those listed so far may be running before the last are forked
        if self.starts_logged() <= getattr(self, "launched", 0):
            return False
        ws = self.workers()
        return all(w["state"] == "running" for w in ws) and ws

    def wait_ready(self, timeout=10):
        return wait_for(self.ready, timeout, what="all workers running")

    def tree(self):
        """pid -> cmdline of the supervisor and its children, from /proc."""
        out = subprocess.run(["ps", "-o", "pid=,ppid=,args=", "-e"], capture_output=True,
                             text=True).stdout
        procs = {}
        for line in out.splitlines():
            parts = line.split(None, 2) + [""]
            pid, ppid, args = int(parts[0]), int(parts[1]), parts[2]
            if pid == self.sup_pid or ppid == self.sup_pid:
                procs[pid] = args
        return procs

    def log(self):
        try:
            with open(self.settings["log.console.file"]) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc.stderr.close()
            self.proc = None
        elif getattr(self, "sup_pid", None) and pid_alive(self.sup_pid):
            self.run("stop", timeout=60)

    def cleanup(self):
        self.stop()
        # never leave a process behind, even when a test failed half-way
        for pid in list(self.tree()) if getattr(self, "sup_pid", None) else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
