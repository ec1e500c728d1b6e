"""The cluster's foundation, end to end: real nodes on 127.0.0.1, each with its
own nodename, data directory and ports, sharing one port mapper port (a free
one, so tests never meet a real epmd or each other).  Driven the way an
operator would: `nemomq-admin cluster join/show/status/leave`, kill -9, restarts,
the port mapper's own protocol, and the logs."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import unittest
import uuid

from nmqtest import NEMOMQ, Node, free_port, pid_alive, wait_for

COOKIE = "nemomq-e2e-cookie"


def portmap_ask(port, line, host="127.0.0.1"):
    """One request to a port mapper; the reply lines."""
    with socket.create_connection((host, port), timeout=3) as s:
        s.sendall(line.encode() + b"\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
            text = data.decode()
            if line == "NAMES" and text.endswith("END\n"):
                break
            if line != "NAMES" and text.endswith("\n"):
                break
    return data.decode().splitlines()


class ClusterCase(unittest.TestCase):
    def setUp(self):
        self.pm_port = free_port()
        self.tag = uuid.uuid4().hex[:6]
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.cleanup()

    def node(self, short, cookie=COOKIE, start=True, **settings):
        extra = {"portmap.port": str(self.pm_port), "distributed_cookie": cookie, "allow_anonymous": "on",
                 "plugins.vmq_acl": "off", "plugins.vmq_passwd": "off"}
        extra.update({k.replace("__", "."): str(v) for k, v in settings.items()})
        n = Node(name="%s%s@127.0.0.1" % (short, self.tag), heartbeat_ms=200, extra=extra)
        self.nodes.append(n)
        if start:
            n.start()
            n.wait_ready()
        return n

    def show(self, node):
        return {r["Node"]: r["Running"] for r in node.admin_json("cluster", "show")}

    def wait_show(self, node, expected, timeout=10):
        wait_for(lambda: self.show(node) == expected, timeout,
                 what="cluster show on %s to be %s (it is %s)" % (node.name, expected, self.show(node)))

    def join(self, node, discovery, *flags):
        return node.admin("cluster", "join", "discovery-node=%s" % discovery.name, *flags)

    def cluster_of_three(self):
        c1, c2, c3 = self.node("c1"), self.node("c2"), self.node("c3")
        for n in (c2, c3):
            r = self.join(n, c1)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "Done")
        everyone = {n.name: "true" for n in (c1, c2, c3)}
        for n in (c1, c2, c3):
            self.wait_show(n, everyone)
        for n in (c1, c2, c3):
            self.wait_whole(n)
        return c1, c2, c3

    def connack(self, node, cid=b"probe"):
        """The return code of a 3.1.1 CONNACK from node (raw socket)."""
        import struct
        with socket.create_connection(("127.0.0.1", node.port), timeout=5) as s:
            body = struct.pack("!H", 4) + b"MQTT" + bytes([4, 0x02]) + struct.pack("!H", 30)
            body += struct.pack("!H", len(cid)) + cid
            s.sendall(bytes([0x10, len(body)]) + body)
            return s.recv(4)[3]

    def wait_whole(self, node, timeout=10):
        """Until node's acceptors know every member is up (a netsplit refuses CONNECT)."""
        wait_for(lambda: self.connack(node) == 0, timeout, what="%s to accept clients (no netsplit)" % node.name)

    def kill_tree(self, node):
        pids = list(node.tree())
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_for(lambda: not any(pid_alive(p) for p in pids), 10, what="the killed tree gone")


class TestClusterJoin(ClusterCase):
    def test_cluster_three_nodes_join_and_every_node_shows_all_running(self):
        c1, c2, c3 = self.cluster_of_three()
        text = c2.admin("cluster", "show")
        self.assertEqual(text.returncode, 0)
        self.assertRegex(text.stdout, r"Node\s*\|\s*Running")
        for n in (c1, c2, c3):
            self.assertIn(n.name, text.stdout)
        status = {r["node"]: r for r in c1.admin_json("cluster", "status")}
        self.assertEqual(status[c1.name]["link"], "self")
        for n in (c2, c3):
            self.assertEqual(status[n.name]["link"], "up")
            self.assertEqual(status[n.name]["running"], "true")
            self.assertEqual(status[n.name]["address"], n.settings["listener.vmq.clustering"])
        self.assertIn("%s (%s) joined the cluster through this node" %
                      (c2.name, c2.settings["listener.vmq.clustering"]), c1.log())

    def test_cluster_membership_is_saved_and_restarted_nodes_reconnect(self):
        c1, c2, c3 = self.cluster_of_three()
        for n in (c1, c2, c3):
            n.stop()
        self.assertTrue(os.path.isdir(os.path.join(c1.settings["platform_data_dir"], "cluster")))
        for n in (c3, c2, c1):
            n.start()
        everyone = {n.name: "true" for n in (c1, c2, c3)}
        for n in (c1, c2, c3):
            self.wait_show(n, everyone, 15)

    def test_cluster_join_needs_an_empty_history_unless_forced(self):
        c1, c2 = self.node("c1"), self.node("c2")
        self.assertEqual(self.join(c2, c1).returncode, 0)
        c3 = self.node("c3")
        r = self.join(c2, c3)
        self.assertEqual(r.returncode, 1)
        self.assertIn("non_empty_node", r.stderr)
        self.assertIn(c1.name, r.stderr)
        self.assertEqual(self.show(c3), {c3.name: "true"})
        r = self.join(c2, c3, "--force")
        self.assertEqual(r.returncode, 0, r.stderr)
        everyone = {n.name: "true" for n in (c1, c2, c3)}
        for n in (c1, c2, c3):
            self.wait_show(n, everyone)

    def test_cluster_join_errors_say_why(self):
        c1 = self.node("c1")
        r = c1.admin("cluster", "join", "discovery-node=nobody%s@127.0.0.1" % self.tag)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not registered", r.stderr)
        r = c1.admin("cluster", "join", "discovery-node=%s" % c1.name)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is this node", r.stderr)
        r = c1.admin("cluster", "join", "discovery-node=garbage")
        self.assertEqual(r.returncode, 2)
        r = c1.admin("cluster", "join", "node=x@y")
        self.assertEqual(r.returncode, 2, "unknown argument")
        self.assertEqual(self.show(c1), {c1.name: "true"})


class TestClusterFailures(ClusterCase):
    def test_cluster_killed_node_shows_not_running_then_rejoins_by_itself(self):
        c1, c2, c3 = self.cluster_of_three()
        self.kill_tree(c3)
        t0 = time.monotonic()
        down = {c1.name: "true", c2.name: "true", c3.name: "false"}
        self.wait_show(c1, down, 8)
        self.wait_show(c2, down, 8)
        self.assertLess(time.monotonic() - t0, 8)
        self.assertIn("%s is not running" % c3.name, c1.log())
        c3.start()
        everyone = {n.name: "true" for n in (c1, c2, c3)}
        for n in (c3, c1, c2):
            self.wait_show(n, everyone, 15)

    def test_cluster_wrong_cookie_is_refused_and_both_logs_say_so(self):
        c1, c2 = self.node("c1"), self.node("c2")
        self.assertEqual(self.join(c2, c1).returncode, 0)
        x = self.node("x", cookie="not-the-cookie")
        r = self.join(x, c1)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cookie", r.stderr)
        wait_for(lambda: re.search(r"cluster: peer 127\.0\.0\.1:\d+ refused: wrong cookie", c1.log()), 5,
                 what="the refusal in c1's log")
        self.assertRegex(x.log(), r"%s .* refused our handshake .*distributed_cookie" % re.escape(c1.name))
        # it learned nothing and joined nothing
        self.assertEqual(self.show(x), {x.name: "true"})
        expected = {c1.name: "true", c2.name: "true"}
        self.assertEqual(self.show(c1), expected)
        self.assertEqual(self.show(c2), expected)
        r = x.admin("--json", "cluster", "status")
        self.assertEqual([row["node"] for row in json.loads(r.stdout)], [x.name])

    def test_cluster_leave_removes_a_stopped_node_everywhere(self):
        c1, c2, c3 = self.cluster_of_three()
        c3.stop()   # a live node's leave: test_cluster_routing.TestClusterLeave
        self.wait_show(c1, {c1.name: "true", c2.name: "true", c3.name: "false"})
        r = c1.admin("cluster", "leave", "node=%s" % c3.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "Done")
        two = {c1.name: "true", c2.name: "true"}
        self.wait_show(c1, two)
        self.wait_show(c2, two)
        r = c1.admin("cluster", "leave", "node=%s" % c3.name)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a member", r.stderr)
        # the removed node comes back: it learns it was removed and runs alone
        c3.start()
        wait_for(lambda: "this node was removed from the cluster" in c3.log(), 10, what="c3 told")
        self.wait_show(c3, {c3.name: "true"})
        self.assertEqual(self.show(c1), two)
        # and it has a history now: joining again needs --force
        r = self.join(c3, c1)
        self.assertEqual(r.returncode, 1)
        self.assertIn("non_empty_node", r.stderr)
        self.assertEqual(self.join(c3, c1, "--force").returncode, 0)
        everyone = {n.name: "true" for n in (c1, c2, c3)}
        for n in (c1, c2, c3):
            self.wait_show(n, everyone)


class TestPortmap(ClusterCase):
    def names(self):
        """The port mapper's map; None while no one serves (a handover)."""
        out = {}
        try:
            lines = portmap_ask(self.pm_port, "NAMES")
        except OSError:
            return None
        for line in lines:
            if line.startswith("NAME "):
                _, name, port = line.split()
                out[name] = int(port)
        return out

    def short(self, node):
        return node.name.split("@")[0]

    def cluster_port(self, node):
        return int(node.settings["listener.vmq.clustering"].rsplit(":", 1)[1])

    def portmap_info(self, node):
        return [w["info"] for w in node.workers() if w["role"] == "portmap"][0]

    def test_cluster_portmap_serves_every_node_of_the_host(self):
        nodes = [self.node("p%d" % i) for i in range(3)]
        wait_for(lambda: len(self.names() or {}) == 3, 5, what="three names")
        self.assertEqual(self.names(), {self.short(n): self.cluster_port(n) for n in nodes})
        # the workers' status lines travel with their heartbeats: wait for them
        wait_for(lambda: self.portmap_info(nodes[0]).startswith("serving 127.0.0.1:%d" % self.pm_port), 5,
                 what="the first node serving")
        for n in nodes[1:]:
            wait_for(lambda: self.portmap_info(n).startswith("registered"), 5, what="registered")
        self.assertEqual(portmap_ask(self.pm_port, "LOOKUP %s" % self.short(nodes[2])),
                         ["PORT %d" % self.cluster_port(nodes[2])])
        self.assertEqual(portmap_ask(self.pm_port, "LOOKUP nobody"), ["ERR not registered"])
        self.assertEqual(portmap_ask(self.pm_port, "PING"), ["PONG"])
        self.assertEqual(portmap_ask(self.pm_port, "HELLO there"), ["ERR unknown request"])
        # a live name is not taken twice
        self.assertEqual(portmap_ask(self.pm_port, "REGISTER %s 1234" % self.short(nodes[1])),
                         ["ERR name in use"])
        self.assertIn("refused: the name is registered by a live node", nodes[0].log())

    def test_cluster_portmap_handover_when_the_serving_node_stops(self):
        nodes = [self.node("p%d" % i) for i in range(3)]
        wait_for(lambda: len(self.names() or {}) == 3, 5, what="three names")
        nodes[0].stop()
        rest = {self.short(n): self.cluster_port(n) for n in nodes[1:]}
        wait_for(lambda: self.names() == rest, 5, what="the others re-registered with a new server")
        def one_serving():
            infos = [self.portmap_info(n) for n in nodes[1:]]
            return len([i for i in infos if i.startswith("serving")]) == 1 and infos
        infos = wait_for(one_serving, 5, what="exactly one new server")
        # and again when that one dies without a word
        server = nodes[1] if infos[0].startswith("serving") else nodes[2]
        other = nodes[2] if server is nodes[1] else nodes[1]
        self.kill_tree(server)
        wait_for(lambda: self.names() == {self.short(other): self.cluster_port(other)}, 5,
                 what="the last node serving")
        wait_for(lambda: self.portmap_info(other).startswith("serving"), 5, what="the last one serving")

    def test_cluster_join_after_portmap_handover(self):
        c1, c2 = self.node("c1"), self.node("c2")
        c1.stop()           # c1 served the port mapper; c2 takes it over
        wait_for(lambda: self.portmap_info(c2).startswith("serving"), 5, what="c2 serving")
        c1.start()
        c3 = self.node("c3")
        self.assertEqual(self.join(c3, c1).returncode, 0)
        self.wait_show(c1, {c1.name: "true", c3.name: "true"})


# --- several hosts: one network namespace per node --------------------------------

SUBNET = "10.77.0"   # exists only inside the namespaces this test creates


def netns_unavailable():
    """Why namespaces cannot be used here, or None."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        return "network namespaces need root and iproute2"
    probe = "nmqprobe%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return "ip netns is not permitted here: %s" % r.stderr.strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class NsNode(Node):
    """A node alone on its host: its own namespace, address and port mapper on
    4369.  nemomq-admin still reaches it from here (its control socket is a
    file)."""

    def __init__(self, ns, ip, name, cookie):
        super().__init__(name="%s@%s" % (name, ip), heartbeat_ms=200,
                         extra={"portmap.port": "4369", "distributed_cookie": cookie})
        self.ns = ns
        self.write_conf(**{"listener.tcp.default": "%s:1883" % ip,
                           "listener.vmq.clustering": "%s:44053" % ip})

    def run(self, *args, timeout=30, check=False):
        return subprocess.run(["ip", "netns", "exec", self.ns, NEMOMQ, "-c", self.conf] + list(args),
                              capture_output=True, text=True, timeout=timeout, check=check)


class TestClusterHosts(ClusterCase):
    """Three hosts on one switch: a namespace per node, veth pairs to a bridge
    in a namespace of its own, where a link can be cut without the nodes'
    interfaces noticing (a netsplit as it looks in real life)."""

    def sh(self, *args):
        r = subprocess.run(list(args), capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, "%s: %s" % (" ".join(args), r.stderr))

    def make_hosts(self, n):
        reason = netns_unavailable()
        if reason:
            self.skipTest(reason)
        self.sw = "nmq%s-sw" % self.tag
        self.hosts = ["nmq%s-h%d" % (self.tag, i) for i in range(n)]
        # removed after tearDown has stopped the nodes, also when the test fails
        self.addCleanup(self.remove_hosts)
        self.sh("ip", "netns", "add", self.sw)
        self.sh("ip", "-n", self.sw, "link", "add", "br0", "type", "bridge")
        self.sh("ip", "-n", self.sw, "link", "set", "br0", "up")
        for i, ns in enumerate(self.hosts):
            self.sh("ip", "netns", "add", ns)
            self.sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", "p%d" % i,
                    "netns", self.sw)
            self.sh("ip", "-n", self.sw, "link", "set", "p%d" % i, "master", "br0", "up")
            self.sh("ip", "-n", ns, "addr", "add", "%s.%d/24" % (SUBNET, i + 1), "dev", "eth0")
            self.sh("ip", "-n", ns, "link", "set", "eth0", "up")
            self.sh("ip", "-n", ns, "link", "set", "lo", "up")

    def remove_hosts(self):
        for ns in getattr(self, "hosts", []) + [getattr(self, "sw", None)]:
            if ns:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def cut(self, i):
        self.sh("ip", "-n", self.sw, "link", "set", "p%d" % i, "nomaster")

    def heal(self, i):
        self.sh("ip", "-n", self.sw, "link", "set", "p%d" % i, "master", "br0")

    def test_cluster_three_hosts_each_with_its_port_mapper_and_a_netsplit(self):
        self.make_hosts(3)
        nodes = []
        for i, ns in enumerate(self.hosts):
            n = NsNode(ns, "%s.%d" % (SUBNET, i + 1), "c%d%s" % (i + 1, self.tag), COOKIE)
            self.nodes.append(n)
            n.start()
            n.wait_ready()
            nodes.append(n)
        for n in nodes:
            wait_for(lambda: [w for w in n.workers() if w["role"] == "portmap"][0]["info"].startswith(
                "serving %s:4369" % n.name.split("@")[1]), 5, what="%s serving its own port mapper" % n.name)
        c1, c2, c3 = nodes
        for n in (c2, c3):
            r = self.join(n, c1)
            self.assertEqual(r.returncode, 0, r.stderr)
        everyone = {n.name: "true" for n in nodes}
        for n in nodes:
            self.wait_show(n, everyone)
        # c3's cable is pulled: nothing is refused, packets just vanish
        self.cut(2)
        split = {c1.name: "true", c2.name: "true", c3.name: "false"}
        self.wait_show(c1, split, 8)
        self.wait_show(c2, split, 8)
        self.wait_show(c3, {c1.name: "false", c2.name: "false", c3.name: "true"}, 8)
        self.heal(2)
        for n in nodes:
            self.wait_show(n, everyone, 25)


if __name__ == "__main__":
    unittest.main()
