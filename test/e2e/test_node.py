"""The node foundation, end to end: a real supervisor and real workers,
driven through `nemomq`, `nemomq-admin`, signals, ps and /proc."""
import os
import re
import signal
import socket
import stat
import subprocess
import time
import unittest

from nmqtest import ADMIN, NEMOMQ, ROOT, Node, cmdline, free_port, pid_alive, wait_for

ROLES = ["portmap", "metadata", "queue", "cluster", "migration", "acceptor"]


class NodeCase(unittest.TestCase):
    node_args = {}

    def setUp(self):
        self.node = Node(**self.node_args)
        self.addCleanup(self.node.cleanup)

    def slot_pid(self, role, slot):
        for w in self.node.workers():
            if w["role"] == role and str(w["slot"]) == str(slot):
                return w["pid"]
        return None

    def wait_new_pid(self, role, slot, old, timeout):
        def fresh():
            try:
                p = self.slot_pid(role, slot)
            except AssertionError:
                return None
            return p if p and p != old and pid_alive(p) else None
        return wait_for(fresh, timeout, 0.01, "a new %s %s" % (role, slot))


class TestTree(NodeCase):
    def test_ps_shows_the_worker_tree(self):
        self.node.console().wait_ready()
        tree = self.node.tree()
        titles = sorted(t.split(" (")[0] for t in tree.values())
        expected = sorted(["nemomq: supervisor", "nemomq: portmap", "nemomq: metadata",
                           "nemomq: queue 0", "nemomq: queue 1", "nemomq: cluster",
                           "nemomq: migration", "nemomq: acceptor 0", "nemomq: acceptor 1"])
        self.assertEqual(titles, expected)
        # `ps -ef | grep nemomq` finds every one of them by its title
        ps = subprocess.run(["ps", "-ef"], capture_output=True, text=True).stdout
        for pid in tree:
            self.assertRegex(ps, r"\b%d\b.*nemomq: " % pid)

    def test_admin_workers_lists_every_role(self):
        self.node.console().wait_ready()
        ws = self.node.workers()
        self.assertEqual(ws[0]["role"], "supervisor")
        self.assertEqual(ws[0]["pid"], self.node.sup_pid)
        self.assertEqual(sorted({w["role"] for w in ws[1:]}), sorted(ROLES))
        self.assertEqual(len([w for w in ws if w["role"] == "acceptor"]), 2)
        self.assertEqual(len([w for w in ws if w["role"] == "queue"]), 2)
        for w in ws[1:]:
            self.assertEqual(w["state"], "running")
            self.assertIn("nemomq: %s" % w["role"], cmdline(w["pid"]))
            self.assertEqual(open("/proc/%d/stat" % w["pid"]).read().split(")")[1].split()[1],
                             str(self.node.sup_pid), "workers are children of the supervisor")
        text = self.node.admin("workers")
        self.assertEqual(text.returncode, 0)
        for col in ("role", "slot", "pid", "state", "restarts", "uptime"):
            self.assertIn(col, text.stdout)

    def test_started_in_dependency_order(self):
        self.node.console().wait_ready()
        log = self.node.log()
        order = [m.group(1) for m in re.finditer(r"\] supervisor <\d+> (\w+)(?: \d+)? \(pid \d+\) ready", log)]
        firsts = []
        for role in order:
            if role not in firsts:
                firsts.append(role)
        self.assertEqual(firsts, ROLES)

    def test_log_lines_carry_time_level_role_slot_pid(self):
        self.node.console().wait_ready()
        line = wait_for(lambda: next((l for l in self.node.log().splitlines() if "acceptor.1" in l), None), 5,
                        what="a log line of acceptor 1")
        self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[(debug|info|warning|error)\] "
                               r"acceptor\.1 <\d+> ")

    def test_run_dir_is_private(self):
        self.node.console().wait_ready()
        run = os.path.join(self.node.settings["platform_data_dir"], "run")
        self.assertEqual(stat.S_IMODE(os.stat(run).st_mode), 0o700)
        self.assertTrue(stat.S_ISSOCK(os.stat(os.path.join(run, "control.sock")).st_mode))

    def test_acceptors_hold_the_inherited_listener(self):
        self.node.console().wait_ready()
        # the supervisor's listening socket is the very one every acceptor polls
        def sockets(pid):
            out = set()
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    out.add(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
                except OSError:
                    pass
            return {f for f in out if f.startswith("socket:")}
        listen_inode = None
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].split(":")[1], 16) == self.node.port:
                    listen_inode = "socket:[%s]" % cols[9]
        self.assertIsNotNone(listen_inode)
        self.assertIn(listen_inode, sockets(self.node.sup_pid))
        for pid in self.node.worker_pids("acceptor"):
            self.assertIn(listen_inode, sockets(pid))
        # and they speak MQTT on it: anonymous clients are refused by default
        # (allow_anonymous = off) with CONNACK 5, then the connection closes
        connect = bytes([0x10, 0x10, 0x00, 0x04]) + b"MQTT" + bytes([4, 0x02, 0, 30, 0, 4]) + b"anon"
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", self.node.port), timeout=5) as s:
                s.sendall(connect)
                self.assertEqual(s.recv(4), b"\x20\x02\x00\x05")
                self.assertEqual(s.recv(1), b"")


class TestRestarts(NodeCase):
    node_args = {"extra": {"supervisor.max_restarts": "1000"}}

    def test_kill9_of_any_worker_is_replaced_within_1s(self):
        self.node.console().wait_ready()
        for w in self.node.workers()[1:]:
            old = w["pid"]
            t0 = time.monotonic()
            os.kill(old, signal.SIGKILL)
            new = self.wait_new_pid(w["role"], w["slot"], old, 1.0)
            elapsed = time.monotonic() - t0
            self.assertLess(elapsed, 1.0, "%s %s came back after %.2fs" % (w["role"], w["slot"], elapsed))
            self.assertNotEqual(new, old)
            self.assertTrue(self.node.ping())
        restarts = {(w["role"], w["slot"]): w["restarts"] for w in self.node.workers()[1:]}
        self.assertTrue(all(v == 1 for v in restarts.values()), restarts)
        self.node.wait_ready()

    def test_hung_worker_is_killed_and_restarted(self):
        self.node.console().wait_ready()
        old = self.slot_pid("metadata", 0)
        os.kill(old, signal.SIGSTOP)   # alive, but silent
        new = self.wait_new_pid("metadata", 0, old, 5.0)
        self.assertNotEqual(new, old)
        wait_for(lambda: not pid_alive(old), 2, what="the hung worker to be gone")
        self.assertRegex(self.node.log(), r"metadata \(pid %d\) silent for \d+ ms \(3 heartbeat intervals\)" % old)

    def test_100_restarts_leak_no_fd_in_the_supervisor(self):
        self.node.console().wait_ready()
        fd_dir = "/proc/%d/fd" % self.node.sup_pid
        before = len(os.listdir(fd_dir))
        for i in range(100):
            old = self.slot_pid("queue", 1)
            os.kill(old, signal.SIGKILL)
            self.wait_new_pid("queue", 1, old, 5.0)
        self.node.wait_ready()
        # ZeroMQ closes a dead peer's connection in its I/O thread: give it a moment
        try:
            wait_for(lambda: len(os.listdir(fd_dir)) <= before, 5, 0.1, "fds back to %d" % before)
        except AssertionError:
            pass
        after = len(os.listdir(fd_dir))
        self.assertEqual(before, after, "supervisor fds: %d before, %d after 100 restarts" % (before, after))
        w = [w for w in self.node.workers() if w["role"] == "queue" and w["slot"] == "1"][0]
        self.assertEqual(w["restarts"], 100)


class TestIntensity(NodeCase):
    node_args = {"extra": {"supervisor.max_restarts": "3", "supervisor.max_restart_period": "10"}}

    def test_restart_storm_stops_the_node(self):
        self.node.console().wait_ready()
        pids = set(self.node.tree())
        for i in range(3):
            old = self.slot_pid("acceptor", 0)
            os.kill(old, signal.SIGKILL)
            self.wait_new_pid("acceptor", 0, old, 5.0)
        os.kill(self.slot_pid("acceptor", 0), signal.SIGKILL)
        self.assertEqual(self.node.proc.wait(30), 1)
        self.assertIn("acceptor 0 crashed: more than supervisor.max_restarts = 3 restarts within "
                      "supervisor.max_restart_period = 10 s; stopping the node", self.node.log())
        for pid in pids:
            wait_for(lambda: not pid_alive(pid), 5, what="pid %d gone" % pid)


class TestReload(NodeCase):
    def test_sighup_grows_the_acceptor_pool_and_keeps_the_others(self):
        self.node.console().wait_ready()
        acceptors = sorted(self.node.worker_pids("acceptor"))
        others = sorted(self.node.worker_pids("queue") + self.node.worker_pids("metadata"))
        self.node.write_conf(listener__nr_of_acceptors=4)
        os.kill(self.node.sup_pid, signal.SIGHUP)
        wait_for(lambda: len(self.node.worker_pids("acceptor")) == 4 and self.node.ready(), 10,
                 what="4 acceptors")
        now = self.node.worker_pids("acceptor")
        self.assertTrue(set(acceptors) <= set(now), "the two first acceptors were not touched")
        self.assertEqual(sorted(self.node.worker_pids("queue") + self.node.worker_pids("metadata")), others)
        self.assertEqual(len([t for t in self.node.tree().values() if "nemomq: acceptor" in t]), 4)
        self.assertRegex(self.node.admin("workers").stdout, r"\|\s*acceptor\s*\|\s*3\s*\|")

    def test_admin_set_shrinks_the_pool_from_the_top(self):
        self.node.write_conf(listener__nr_of_acceptors=3)
        self.node.console().wait_ready()
        slot0 = self.slot_pid("acceptor", 0)
        r = self.node.admin("set", "listener.nr_of_acceptors=1")
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: len(self.node.worker_pids("acceptor")) == 1, 10, what="1 acceptor")
        self.assertEqual(self.slot_pid("acceptor", 0), slot0)
        self.assertIn("retired", self.node.log())
        show = self.node.admin_json("show", "listener.nr_of_acceptors")
        self.assertEqual(show, [{"key": "listener.nr_of_acceptors", "value": "1"}])

    def test_invalid_config_on_reload_is_refused_and_the_old_one_stays(self):
        self.node.console().wait_ready()
        self.node.write_conf(listener__nr_of_acceptors=0)
        r = self.node.admin("reload")
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"%s:\d+: listener.nr_of_acceptors: " % re.escape(self.node.conf))
        self.assertEqual(len(self.node.worker_pids("acceptor")), 2)
        os.kill(self.node.sup_pid, signal.SIGHUP)   # the same through the signal
        wait_for(lambda: "reload refused" in self.node.log(), 5, what="the refusal in the log")
        self.assertTrue(self.node.ping())
        self.assertEqual(self.node.admin_json("show", "listener.nr_of_acceptors")[0]["value"], "2")

    def test_restart_only_keys_keep_their_value_on_reload(self):
        self.node.console().wait_ready()
        self.node.write_conf(queue_shards=5, max_inflight_messages=77)
        self.assertEqual(self.node.admin("reload").returncode, 0)
        self.assertEqual(self.node.admin_json("show", "queue_shards")[0]["value"], "2")
        self.assertEqual(self.node.admin_json("show", "max_inflight_messages")[0]["value"], "77")
        self.assertIn("queue_shards changed", self.node.log())
        self.assertEqual(len(self.node.worker_pids("queue")), 2)


class TestStop(NodeCase):
    def test_sigterm_leaves_nothing_behind(self):
        self.node.console().wait_ready()
        pids = list(self.node.tree())
        self.assertEqual(len(pids), 9)
        self.node.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.node.proc.wait(30), 0)
        for pid in pids:
            self.assertFalse(pid_alive(pid), "pid %d (%s) left behind" % (pid, cmdline(pid)))
        run = os.path.join(self.node.settings["platform_data_dir"], "run")
        self.assertEqual(os.listdir(run), [], "run directory not empty")
        with socket.socket() as s:   # the listening port is free again
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.node.port))
        log = self.node.log()
        # reverse order: acceptors stop before the metadata worker
        self.assertLess(log.index("acceptor 0 (pid"), log.rindex("metadata (pid"))

    def test_start_ping_stop_from_the_command_line(self):
        self.node.start()
        self.assertEqual(self.node.run("ping").stdout, "pong\n")
        self.assertEqual(self.node.run("start").returncode, 1)   # already running
        pids = list(self.node.tree())
        r = self.node.run("stop", timeout=60)
        self.assertEqual((r.returncode, r.stdout), (0, "ok\n"))
        for pid in pids:
            self.assertFalse(pid_alive(pid))
        r = self.node.run("ping")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not responding to pings", r.stderr)
        self.assertEqual(self.node.run("stop").returncode, 1)
        self.assertEqual(self.node.admin("workers").returncode, 1)

    def test_same_nodename_twice_on_one_host_is_refused(self):
        self.node.start()
        twin = Node(name=self.node.name)
        self.addCleanup(twin.cleanup)
        r = twin.run("start")
        self.assertEqual(r.returncode, 1)
        self.assertIn("node %s is already running on this host" % self.node.name, r.stderr)
        self.assertTrue(self.node.ping())

    def test_listener_in_use_is_a_clear_error(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", self.node.port))
            s.listen(1)
            r = self.node.run("start")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot listen on 127.0.0.1:%d: Address already in use" % self.node.port, r.stderr)


class TestConfigErrors(NodeCase):
    def test_bad_value_exits_78_with_file_and_line(self):
        self.node.write_conf(max_inflight_messages="lots")
        line = list(self.node.settings).index("max_inflight_messages") + 1
        for args in (["console"], ["start"], ["config", "check"]):
            r = self.node.run(*args)
            self.assertEqual(r.returncode, 78, args)
            self.assertRegex(r.stderr, r"^%s:%d: max_inflight_messages: " % (re.escape(self.node.conf), line))
        self.assertFalse(os.path.exists(os.path.join(self.node.settings["platform_data_dir"], "run")))

    def test_unknown_key_is_an_error_and_vernemq_keys_are_warnings(self):
        with open(self.node.conf, "a") as f:
            f.write("erlang.async_threads = 64\nallow_anonymos = on\n")
        r = self.node.run("config", "check")
        self.assertEqual(r.returncode, 78)
        self.assertIn("allow_anonymos", r.stderr)

    def test_admin_rejects_unknown_commands_and_arguments(self):
        self.node.console().wait_ready()
        for args, status in ((["frobnicate"], 2), (["workers", "--bogus"], 2), (["show", "no.such.key"], 2),
                             (["set", "nodename=x@127.0.0.1"], 1), (["set", "max_inflight_messages=0x"], 1),
                             ([], 2)):
            r = self.node.admin(*args)
            self.assertEqual(r.returncode, status, "nemomq-admin %s: %s" % (args, r.stderr))
            self.assertNotEqual(r.stderr, "")
        self.assertIn("Usage: nemomq-admin", self.node.admin("frobnicate").stderr)
        self.assertEqual(self.node.admin("set", "max_inflight_messages=55").returncode, 0)
        self.assertEqual(self.node.admin_json("show", "max_inflight_messages")[0]["value"], "55")
        self.assertTrue(self.node.ping())


class TestSeed004(unittest.TestCase):
    SEED = os.path.join(ROOT, "test", "data", "seed004-vernemq.conf")

    def test_seed_config_passes_config_check(self):
        r = subprocess.run([NEMOMQ, "config", "check", self.SEED], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("config OK", r.stdout)
        self.assertIn("erlang.async_threads", r.stderr)   # warned, ignored
        self.assertEqual(r.stderr.count("erlang.async_threads"), 1)

    def test_seed_config_starts_a_node_once_rewritten_to_loopback(self):
        node = Node()
        self.addCleanup(node.cleanup)
        text = open(self.SEED).read()
        # nothing may ever connect to the seed's example addresses
        text = re.sub(r"\b192\.168\.\d+\.\d+:1883\b", "127.0.0.1:%d" % node.port, text)
        text = re.sub(r"\b192\.168\.\d+\.\d+:44053\b", "127.0.0.1:%d" % free_port(), text)
        text = re.sub(r"VerneMQ@192\.168\.\d+\.\d+", node.name, text)
        text = text.replace("/var/log/vernemq", os.path.join(node.dir, "log"))
        text = text.replace("/etc/vernemq", node.dir)
        text += "platform_data_dir = %s\nplatform_log_dir = %s\nsupervisor.heartbeat_interval = 200\n" % (
            os.path.join(node.dir, "data"), os.path.join(node.dir, "log"))
        self.assertNotRegex(text, r"192\.168\.")
        with open(node.conf, "w") as f:
            f.write(text)
        node.settings["platform_data_dir"] = os.path.join(node.dir, "data")
        node.settings["log.console.file"] = os.path.join(node.dir, "log", "console.log")
        node.console().wait_ready(15)
        self.assertEqual(len(node.worker_pids("acceptor")), 10)
        self.assertEqual(node.admin_json("show", "max_online_messages")[0]["value"], "-1")


class TestSeveralNodes(unittest.TestCase):
    def test_two_nodes_on_one_host_are_each_addressable(self):
        a, b = Node(acceptors=1), Node(acceptors=3)
        self.addCleanup(a.cleanup)
        self.addCleanup(b.cleanup)
        a.start()
        b.start()
        self.assertEqual(len(a.worker_pids("acceptor")), 1)
        self.assertEqual(len(b.worker_pids("acceptor")), 3)
        self.assertEqual(a.admin_json("status")[0]["node"], a.name)
        self.assertEqual(b.admin_json("status")[0]["node"], b.name)


if __name__ == "__main__":
    unittest.main()
