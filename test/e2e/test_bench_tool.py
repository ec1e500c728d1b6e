"""nemomq-bench end to end: every scenario for about a second at a small scale,
against a real nemomq node and against a Mosquitto started on a free port.

The assertions are on the tool's last line (key=value): counts add up
(received == sent for QoS 1 p2p, nothing lost, no duplicates), the latency
fields are there, and a host outside 127.0.0.0/8 is refused before any
connection.  Never on a time or a speed."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from nmqtest import BIN, Node, free_port, wait_for

BENCH = os.path.join(BIN, "nemomq-bench")
RUN = ["-d", "1", "-W", "0.2", "--drain", "10", "--connect-timeout", "20"]
LATENCY = ["lat_count", "lat_mean_us", "lat_p50_us", "lat_p90_us", "lat_p99_us", "lat_p999_us", "lat_max_us"]


def bench(*args, timeout=90):
    """Run the tool; (exit status, key=value dict of its last line, stderr)."""
    r = subprocess.run([BENCH] + list(args), capture_output=True, text=True, timeout=timeout)
    lines = r.stdout.strip().splitlines()
    kv = {}
    if lines and lines[-1].startswith("scenario="):
        kv = dict(item.split("=", 1) for item in lines[-1].split())
    return r.returncode, kv, r.stderr


class Mosquitto:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="nmq-e2e-mosq-", dir="/tmp")
        self.port = free_port()
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"
                    "persistence false\nmax_inflight_messages 1000\nmax_queued_messages 0\n"
                    "log_dest none\n" % self.port)
        self.proc = subprocess.Popen(["mosquitto", "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.listening, 10, what="mosquitto listening")

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def cleanup(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class BenchToolCase(unittest.TestCase):
    """Each test runs against both brokers: nemomq first, then Mosquitto."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node(extra={"allow_anonymous": "on", "plugins.vmq_acl": "off", "plugins.vmq_passwd": "off",
                               "max_inflight_messages": "1000", "max_online_messages": "-1"})
        cls.node.console().wait_ready()
        cls.mosquitto = Mosquitto() if shutil.which("mosquitto") else None

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        if cls.mosquitto:
            cls.mosquitto.cleanup()

    def brokers(self):
        yield "nemomq", self.node.port
        if self.mosquitto:
            yield "mosquitto", self.mosquitto.port

    def run_ok(self, port, *args):
        rc, kv, err = bench(*(list(args) + RUN + ["-H", "127.0.0.1:%d" % port]))
        self.assertTrue(kv, "no key=value line; stderr: %s" % err)
        self.assertEqual(kv["status"], "ok", err)
        self.assertEqual(rc, 0, err)
        return kv

    def assert_exact(self, kv):
        """Every message arrived once, in order (what QoS 1 and 2 promise)."""
        n = int
        self.assertGreater(n(kv["sent"]), 0)
        self.assertEqual(n(kv["lost"]), 0, kv)
        self.assertEqual(n(kv["dup"]), 0, kv)
        self.assertEqual(n(kv["stray"]), 0, kv)
        self.assertEqual(n(kv["ooo"]), 0, kv)
        self.assertEqual(n(kv["inflight"]), 0, kv)
        self.assertEqual(n(kv["unique"]), n(kv["expected"]), kv)
        self.assertEqual(n(kv["expected"]), n(kv["sent"]) * self.deliveries(kv), kv)
        self.assertEqual(n(kv["received"]), n(kv["expected"]), kv)
        self.assertEqual(n(kv["acked"]), n(kv["sent"]), kv)
        for key in LATENCY:
            self.assertIn(key, kv)
        self.assertGreater(n(kv["lat_count"]), 0, kv)
        self.assertLessEqual(float(kv["lat_p50_us"]), float(kv["lat_p99_us"]))
        self.assertLessEqual(float(kv["lat_p99_us"]), float(kv["lat_max_us"]))

    @staticmethod
    def deliveries(kv):
        return int(kv["subs"]) if kv["scenario"] in ("fanin", "fanout") else 1

    def test_p2p_qos1_received_equals_sent(self):
        for name, port in self.brokers():
            with self.subTest(broker=name):
                kv = self.run_ok(port, "p2p", "-n", "20", "-q", "1")
                self.assertEqual(kv["received"], kv["sent"])
                self.assertEqual(kv["conn_ok"], "40")
                self.assert_exact(kv)

    def test_p2p_qos2_mqtt5_two_processes_two_sources(self):
        for name, port in self.brokers():
            with self.subTest(broker=name):
                kv = self.run_ok(port, "p2p", "-n", "10", "-q", "2", "-V", "5", "-j", "2", "--sources", "2")
                self.assertEqual((kv["mqtt"], kv["jobs"], kv["sources"]), ("5.0", "2", "2"))
                self.assert_exact(kv)

    def test_fanin_fanout_shared_qos1(self):
        for name, port in self.brokers():
            for args in (["fanin", "-P", "10", "-S", "2"], ["fanout", "-S", "10"], ["shared", "-P", "4", "-S", "4"]):
                with self.subTest(broker=name, scenario=args[0]):
                    kv = self.run_ok(port, *(args + ["-q", "1", "-r", "2000"]))
                    self.assert_exact(kv)

    def test_qos0_at_a_modest_rate(self):
        for name, port in self.brokers():
            with self.subTest(broker=name):
                kv = self.run_ok(port, "fanin", "-P", "5", "-S", "1", "-q", "0", "-r", "1000")
                self.assertEqual(int(kv["lost"]), 0, kv)
                self.assertEqual(int(kv["dup"]), 0, kv)
                self.assertGreater(int(kv["lat_count"]), 0, kv)

    def test_conn_opens_and_holds(self):
        for name, port in self.brokers():
            with self.subTest(broker=name):
                before = time.monotonic()
                kv = self.run_ok(port, "conn", "-c", "200")
                after = time.monotonic()
                self.assertEqual(kv["conn_ok"], "200")
                # the last CONNACK on the clock every process shares: within the run
                self.assertTrue(before < float(kv["connected_at_s"]) < after, (before, kv["connected_at_s"], after))
                self.assertEqual(kv["conn_failed"], "0")
                self.assertEqual(kv["conn_lost"], "0")
                for key in ("connect_rate", "hs_p50_us", "hs_p99_us", "hs_max_us"):
                    self.assertIn(key, kv)
                self.assertGreater(float(kv["hs_max_us"]), 0)

    def test_refuses_hosts_outside_loopback(self):
        for args in (["-H", "10.0.0.1"], ["-H", "192.168.1.10:1883"], ["-H", "example.com"],
                     ["--pub-host", "127.0.0.1:%d" % self.node.port, "--sub-host", "8.8.8.8:1883"],
                     ["-H", "127.0.0.1,172.16.0.1"], ["-H", "::1"]):
            with self.subTest(args=args):
                rc, kv, err = bench("p2p", "-n", "1", *args)
                self.assertEqual(rc, 2, err)
                self.assertIn("127.0.0.0/8", err)
                self.assertEqual(kv, {})

    def test_usage_errors(self):
        for args in (["p2p", "-P", "3"], ["nosuch"], ["fanin", "-q", "3"], ["fanin", "-s", "8"], []):
            with self.subTest(args=args):
                rc, kv, err = bench(*args)
                self.assertEqual(rc, 2, err)
                self.assertTrue(err.strip())

    def test_unreachable_broker_is_a_failure(self):
        rc, kv, err = bench("p2p", "-n", "2", "-q", "1", "-H", "127.0.0.1:%d" % free_port(), *RUN)
        self.assertEqual(rc, 1)
        self.assertEqual(kv["status"], "failed")
        self.assertEqual(kv["conn_failed"], "4")
        self.assertEqual(kv["sent"], "0")
        self.assertIn("Connection refused", err)


if __name__ == "__main__":
    unittest.main()
