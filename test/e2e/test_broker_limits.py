"""The broker's rules and limits from the config, with real clients:
authentication and ACLs (vmq_passwd, vmq_acl), client ids, keep-alive and
CONNECT timeouts, message size and topic depth, queue limits and order."""
import os
import selectors
import socket
import struct
import subprocess
import threading
import time
import unittest

from mqtt import Client, MqttError
from nmqtest import BIN, Node, wait_for
from test_broker import BrokerCase


class TestAuth(BrokerCase):
    node_extra = {"allow_anonymous": "off", "plugins.vmq_passwd": "on", "plugins.vmq_acl": "on",
                  "vmq_passwd.password_reload_interval": "1", "vmq_acl.acl_reload_interval": "1"}

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.dir = tempfile.mkdtemp(prefix="nmq-auth-")
        cls.passwd = os.path.join(cls.dir, "vmq.passwd")
        cls.acl = os.path.join(cls.dir, "vmq.acl")
        for user, pw in (("alice", "wonderland"), ("bob", "builder")):
            subprocess.run([os.path.join(BIN, "nemomq-passwd")] + (["-c"] if user == "alice" else []) +
                           [cls.passwd, user], input=pw + "\n", text=True, check=True, capture_output=True)
        with open(cls.acl, "w") as f:
            f.write("topic read public/#\n"
                    "user alice\n"
                    "topic readwrite alice/#\n"
                    "topic write public/#\n"
                    "user bob\n"
                    "topic read alice/news\n"
                    "pattern readwrite devices/%c/#\n")
        cls.node_extra = dict(cls.node_extra, **{"vmq_passwd.password_file": cls.passwd,
                                                 "vmq_acl.acl_file": cls.acl})
        super().setUpClass()

    def test_passwords_and_anonymous_refused(self):
        self.client("auth-ok", username="alice", password="wonderland")
        for v, rc_bad, rc_anon in ((4, 4, 5), (5, 0x86, 0x87)):
            with self.assertRaises(MqttError) as e:
                Client(self.port, "auth-bad-%d" % v, version=v, username="alice", password="nope")
            self.assertIn("CONNACK %d" % rc_bad, str(e.exception))
            with self.assertRaises(MqttError) as e:
                Client(self.port, "auth-anon-%d" % v, version=v)
            self.assertIn("CONNACK %d" % rc_anon, str(e.exception))
        # passwords never appear in the logs
        self.assertNotIn("wonderland", self.node.log())

    def test_acl_publish_and_subscribe(self):
        alice = self.client("acl-alice", version=5, username="alice", password="wonderland")
        bob = self.client("acl-bob", username="bob", password="builder")
        self.assertEqual(bob.subscribe("alice/news", 1), [1])
        self.assertEqual(bob.subscribe("alice/secret", 1), [0x80])     # 3.1.1: 0x80
        self.assertEqual(alice.subscribe("bob/#", 1), [0x87])          # 5.0: not authorized
        bob.subscribe("public/#", 0)
        alice.publish("alice/news", b"n", 1)
        alice.publish("public/x", b"p", 1)
        got = sorted(m.payload for m in bob.expect(2))
        self.assertEqual(got, [b"n", b"p"])
        # pattern: bob may use his own device topics only
        self.assertEqual(bob.subscribe("devices/acl-bob/temp", 0), [0])
        self.assertEqual(bob.subscribe("devices/other/temp", 0), [0x80])
        # a denied 3.1.1 PUBLISH disconnects (VerneMQ); 5.0 gets 0x87 and stays
        bob.publish("alice/news", b"forged", 1, wait=False)
        self.assertIsNotNone(bob.disconnects.get(timeout=5))
        alice.publish("bob/x", b"no", 1)
        self.assertTrue(alice.c.is_connected())

    def test_files_reload_and_keep_the_last_good_one(self):
        subprocess.run([os.path.join(BIN, "nemomq-passwd"), self.passwd, "carol"], input="pw3\n", text=True,
                       check=True, capture_output=True)
        time.sleep(1.1)   # files changed less than 1 s ago wait for the next poll
        wait_for(lambda: self._can_connect("carol", "pw3"), 10, 0.3, "carol accepted after reload")
        with open(self.passwd, "a") as f:
            f.write("this line is not a password line\n")
        time.sleep(2.5)
        self.assertTrue(self._can_connect("alice", "wonderland"))   # last good table kept
        self.assertIn("keeping the last good", self.node.log())

    def _can_connect(self, user, pw):
        try:
            Client(self.port, "probe-%s" % user, username=user, password=pw).disconnect()
            return True
        except MqttError:
            return False


class TestClientIds(BrokerCase):
    node_extra = dict(BrokerCase.node_extra, max_client_id_size="16")

    def test_empty_and_long_client_ids(self):
        c = self.client("", version=5)
        assigned = c.connack_props.AssignedClientIdentifier
        self.assertTrue(assigned.startswith("nmq-"))
        self.client("", version=4)                       # 3.1.1 clean session: allowed
        s = self.raw()                                   # paho will not send this one
        s.sendall(self.connect_packet(b"", 4, flags=0x00))
        self.assertEqual(s.recv(4), b"\x20\x02\x00\x02")    # identifier rejected
        with self.assertRaises(MqttError) as e:
            Client(self.port, "x" * 17, version=5)
        self.assertIn("CONNACK 133", str(e.exception))   # 0x85 client identifier not valid
        self.client("x" * 16, version=4)


class TestTimeouts(BrokerCase):
    node_extra = dict(BrokerCase.node_extra, mqtt_connect_timeout="500")

    def test_connect_timeout_closes_silent_sockets(self):
        s = self.raw()
        t0 = time.monotonic()
        data, closed = self.read_all(s)
        self.assertTrue(closed)
        self.assertLess(time.monotonic() - t0, 4)

    def test_keep_alive_expiry_closes_and_sends_the_will(self):
        watcher = self.client("ka-watch")
        watcher.subscribe("ka/will", 1)
        s = self.raw()
        # CONNECT 3.1.1, keep alive 1 s, will ka/will "ka"
        payload = struct.pack("!H", 5) + b"ka-cl" + struct.pack("!H", 7) + b"ka/will" + struct.pack("!H", 2) + b"ka"
        body = struct.pack("!H", 4) + b"MQTT" + bytes([4, 0x02 | 0x04 | 0x08]) + struct.pack("!H", 1) + payload
        s.sendall(bytes([0x10, len(body)]) + body)
        self.assertEqual(s.recv(4), b"\x20\x02\x00\x00")
        t0 = time.monotonic()
        data, closed = self.read_all(s)                  # silent: closed after 1.5 x keep alive
        self.assertTrue(closed)
        self.assertGreater(time.monotonic() - t0, 1.0)
        self.assertEqual(watcher.expect(1)[0].payload, b"ka")


class TestSizes(BrokerCase):
    node_extra = dict(BrokerCase.node_extra, max_message_size="1024", topic_max_depth="4")

    def test_max_message_size(self):
        sub = self.client("size-sub")
        sub.subscribe("size/t", 0)
        c = self.client("size-5", version=5)
        self.assertEqual(c.connack_props.MaximumPacketSize, 1024)
        small = self.client("size-ok")
        small.publish("size/t", b"x" * 900, 1)
        self.assertEqual(len(sub.expect(1)[0].payload), 900)
        big = self.client("size-big")
        big.publish("size/t", b"x" * 2000, 1, wait=False)
        self.assertIsNotNone(big.disconnects.get(timeout=5))
        sub.nothing()

    def test_topic_max_depth(self):
        c = self.client("depth", version=5)
        self.assertEqual(c.subscribe("a/b/c/d", 0), [0])
        self.assertEqual(c.subscribe("a/b/c/d/e", 0), [0x8F])
        c4 = self.client("depth4")
        self.assertEqual(c4.subscribe("a/b/c/d/e", 0), [0x80])


class TestQueueLimits(BrokerCase):
    node_extra = dict(BrokerCase.node_extra, max_offline_messages="5", max_online_messages="10")

    def test_offline_limit_drops_the_newest(self):
        sub = Client(self.port, "lim-off", clean=False)
        sub.subscribe("lim/off", 1)
        sub.disconnect()
        pub = self.client("lim-pub")
        for i in range(8):
            pub.publish("lim/off", b"%d" % i, 1)
        pub.publish("lim/off", b"q0", 0)               # QoS 0 is not kept offline
        pub.publish("lim/off", b"fence", 1)            # acked: q0 went through before it
        sub = self.client("lim-off", clean=False)
        got = [m.payload for m in sub.expect(5)]
        self.assertEqual(got, [b"0", b"1", b"2", b"3", b"4"])   # fifo: the newest dropped
        sub.nothing()


class TestLifo(BrokerCase):
    node_extra = dict(BrokerCase.node_extra, queue_type="lifo")

    def test_lifo_delivers_newest_first(self):
        sub = Client(self.port, "lifo-sub", clean=False)
        sub.subscribe("lifo/t", 1)
        sub.disconnect()
        pub = self.client("lifo-pub")
        for i in range(5):
            pub.publish("lifo/t", b"%d" % i, 1)
        sub = self.client("lifo-sub", clean=False)
        self.assertEqual([m.payload for m in sub.expect(5)], [b"4", b"3", b"2", b"1", b"0"])


class TestReceiveMaximum(BrokerCase):
    node_extra = dict(BrokerCase.node_extra, receive_max_client="1")

    def test_client_beyond_the_receive_maximum_is_disconnected(self):
        sub = self.client("rm-sub")
        sub.subscribe("rm/t", 1)
        c = self.client("rm-ok", version=5)
        self.assertEqual(c.connack_props.ReceiveMaximum, 1)
        s = self.raw()
        s.sendall(self.connect_packet(b"rm-raw", 5))
        self.assertEqual(s.recv(64)[0], 0x20)
        one = b"\x32\x09\x00\x04rm/t\x00\x01\x00"   # PUBLISH QoS 1, id 1, no properties
        two = b"\x32\x09\x00\x04rm/t\x00\x02\x00"
        s.sendall(one + two + b"x")                  # a second before the first is acked
        data, closed = self.read_all(s)
        self.assertTrue(closed)
        at = data.index(b"\xe0")
        self.assertEqual(self.disconnect_of(data[at:]), (0x93, "Receive Maximum exceeded"))


class TestRetry(BrokerCase):
    node_extra = dict(BrokerCase.node_extra, retry_interval="1")

    def test_unacked_qos1_is_resent_with_dup_to_311_clients(self):
        s = self.raw()
        s.sendall(self.connect_packet(b"retry", 4))
        self.assertEqual(s.recv(4), b"\x20\x02\x00\x00")
        s.sendall(b"\x82\x09\x00\x01\x00\x04rt/t\x01")      # SUBSCRIBE rt/t QoS 1
        self.assertEqual(s.recv(5), b"\x90\x03\x00\x01\x01")
        self.client("rt-pub").publish("rt/t", b"again", 1)
        first = s.recv(64)
        self.assertEqual(first[0], 0x32)                            # QoS 1, DUP 0
        t0 = time.monotonic()
        second = s.recv(64)                                         # never acked
        self.assertEqual(second[0], 0x3A)                           # QoS 1, DUP 1
        self.assertEqual(second[1:], first[1:])                     # same packet id and body
        self.assertGreater(time.monotonic() - t0, 0.5)
        s.sendall(b"\x40\x02" + first[8:10])                       # PUBACK it
        s.settimeout(2.5)
        with self.assertRaises(socket.timeout):
            s.recv(64)                                              # and nothing more


class TestTopicAliases(BrokerCase):
    node_extra = dict(BrokerCase.node_extra, topic_alias_max_client="10", topic_alias_max_broker="10")

    def test_aliases_both_ways(self):
        # the subscriber (raw, 5.0) allows the broker 5 aliases: CONNECT property 0x22
        sub = self.raw()
        sub.sendall(self.connect_packet(b"ta-sub", 5, props=b"\x22\x00\x05"))
        connack = sub.recv(64)
        self.assertIn(b"\x22\x00\x0a", connack)          # we may use 10 towards the broker
        sub.sendall(b"\x82\x0a\x00\x01\x00\x00\x04ta/x\x00")   # SUBSCRIBE ta/x QoS 0
        self.assertEqual(sub.recv(6)[:1], b"\x90")
        pub = self.raw()
        pub.sendall(self.connect_packet(b"ta-pub", 5))
        self.assertEqual(pub.recv(64)[0], 0x20)
        # PUBLISH ta/x setting alias 1, then by alias alone
        pub.sendall(b"\x30\x0b\x00\x04ta/x\x03\x23\x00\x01A")
        pub.sendall(b"\x30\x07\x00\x00\x03\x23\x00\x01B")
        first = sub.recv(64)
        if len(first) < 16:
            first += sub.recv(64)
        # to the subscriber: topic + alias 1 the first time, empty topic + alias after
        self.assertEqual(first[:13], b"\x30\x0b\x00\x04ta/x\x03\x23\x00\x01A")
        rest = first[13:] or sub.recv(64)
        self.assertEqual(rest[:9], b"\x30\x07\x00\x00\x03\x23\x00\x01B")


class TestSlowReader(BrokerCase):
    # no queue limit: the QoS 1 reader must get everything however far behind
    node_extra = dict(BrokerCase.node_extra, max_online_messages="-1")

    def test_a_client_that_does_not_read_stops_only_itself(self):
        slow = self.raw()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(self.connect_packet(b"slow", 4))
        self.assertEqual(slow.recv(4), b"\x20\x02\x00\x00")
        slow.sendall(b"\x82\x09\x00\x01\x00\x04sr/t\x00")   # SUBSCRIBE sr/t QoS 0
        self.assertEqual(slow.recv(5), b"\x90\x03\x00\x01\x00")
        # QoS 1 to the reader that keeps up (flow-controlled by its window,
        # never dropped); the slow one asked for QoS 0, which may be dropped
        fast = self.client("fast")
        fast.subscribe("sr/t", 1)
        pub = self.client("sr-pub")
        n, body = 12000, b"y" * 1024
        for i in range(n):
            pub.publish("sr/t", body, 1, wait=False)
        pub.publish("sr/t", b"end", 1)
        got = fast.expect(n + 1, timeout=60)
        self.assertEqual(got[-1].payload, b"end")
        wait_for(lambda: {m["name"]: m["value"] for m in self.node.admin_json("metrics", "show")}
                 .get("queue_message_drop", 0) > 0, 5, what="drops counted for the slow reader")
        for pid in self.node.worker_pids("acceptor"):
            with open("/proc/%d/status" % pid) as f:
                rss_kb = int([l for l in f if l.startswith("VmRSS")][0].split()[1])
            self.assertLess(rss_kb, 64 * 1024, "acceptor %d holds %d KiB" % (pid, rss_kb))


class TestFanOutBacklog(BrokerCase):
    # no queue limit: only the queue worker's own reading rule bounds it
    node_extra = dict(BrokerCase.node_extra, max_online_messages="-1")

    @staticmethod
    def peak_kib(pid):
        with open("/proc/%d/status" % pid) as f:
            return int([l for l in f if l.startswith("VmHWM")][0].split()[1])

    def test_a_fan_out_flood_waits_in_tcp_not_in_the_queue_worker(self):
        n_subs, n_pubs = 200, 5000
        subs = []
        for i in range(n_subs):
            s = self.raw()
            s.sendall(self.connect_packet(b"fo-%d" % i, 4))
            self.assertEqual(s.recv(4), b"\x20\x02\x00\x00")
            s.sendall(b"\x82\x09\x00\x01\x00\x04fo/t\x00")   # SUBSCRIBE fo/t QoS 0
            self.assertEqual(s.recv(5), b"\x90\x03\x00\x01\x00")
            s.setblocking(False)
            subs.append(s)
        # the subscribers read (and drop) everything, in a thread of their own
        stop = threading.Event()
        received = [0]

        def drain():
            sel = selectors.DefaultSelector()
            for s in subs:
                sel.register(s, selectors.EVENT_READ)
            while not stop.is_set():
                for key, _ in sel.select(0.1):
                    try:
                        received[0] += len(key.fileobj.recv(1 << 20))
                    except BlockingIOError:
                        pass
            sel.close()
        reader_thread = threading.Thread(target=drain, daemon=True)
        reader_thread.start()
        self.addCleanup(reader_thread.join)
        self.addCleanup(stop.set)
        queues = self.node.worker_pids("queue")
        before = {pid: self.peak_kib(pid) for pid in queues}
        # a million deliveries: taken in as fast as the publisher sends, they
        # are 100 MiB of entries in the queue workers before the first goes
        # out; read only while under two turns of packets, a few MiB
        rest = struct.pack("!H", 4) + b"fo/t" + b"z" * 64
        packet = bytes([0x30, len(rest)]) + rest
        pub = self.raw()
        pub.sendall(self.connect_packet(b"fo-pub", 4))
        self.assertEqual(pub.recv(4), b"\x20\x02\x00\x00")
        pub.settimeout(60)
        pub.sendall(packet * n_pubs)
        wait_for(lambda: {m["name"]: m["value"] for m in self.node.admin_json("metrics", "show")}
                 .get("queue_message_in", 0) >= n_subs * n_pubs, 60, what="every delivery queued")
        wait_for(lambda: received[0] >= n_subs * n_pubs * len(packet) // 2, 60,
                 what="the subscribers to read half the deliveries at least")
        for pid in queues:
            grew = self.peak_kib(pid) - before[pid]
            self.assertLess(grew, 32 * 1024, "queue worker %d grew %d KiB at its peak" % (pid, grew))


class TestStalledReaders(BrokerCase):
    # no queue limit; an acceptor silent for 3 heartbeats of 200 ms is killed
    node_extra = dict(BrokerCase.node_extra, max_online_messages="-1", **{"supervisor.max_restarts": "100"})

    def test_a_flood_to_stalled_readers_leaves_the_node_serving(self):
        # 200 subscribers that never read, 8,000 publishes of 2 KiB: the
        # acceptors' buffers fill, their pipes from the queue workers fill, and
        # on this two-CPU machine an acceptor may be killed as silent with its
        # pipes full.  A queue worker waiting for room in a dead acceptor's pipe
        # never took anything again; whatever happens, the node must serve after
        for i in range(200):
            s = self.raw()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(self.connect_packet(b"st-%d" % i, 4))
            self.assertEqual(s.recv(4), b"\x20\x02\x00\x00")
            s.sendall(b"\x82\x09\x00\x01\x00\x04st/t\x00")   # SUBSCRIBE st/t QoS 0
            self.assertEqual(s.recv(5), b"\x90\x03\x00\x01\x00")
        rest = struct.pack("!H", 4) + b"st/t" + b"z" * 2048
        packet = b"\x30" + bytes([0x80 | (len(rest) & 0x7F), len(rest) >> 7]) + rest
        pub = self.raw()
        pub.sendall(self.connect_packet(b"st-pub", 4))
        self.assertEqual(pub.recv(4), b"\x20\x02\x00\x00")
        pub.settimeout(60)
        try:
            pub.sendall(packet * 8000)
        except OSError:
            pass   # its acceptor was killed under it
        metric = lambda name: {m["name"]: m["value"] for m in self.node.admin_json("metrics", "show")}.get(name, 0)
        wait_for(lambda: metric("queue_message_in") == metric("queue_message_out"), 60,
                 what="the queue workers to send what they took")
        reader = self.client("st-after-sub")
        reader.subscribe("st/after", 1)
        self.client("st-after-pub").publish("st/after", b"after", 1)
        self.assertEqual(reader.expect(1, timeout=10)[0].payload, b"after")


class TestMemoryReturn(BrokerCase):
    @staticmethod
    def status_kib(pid, field):
        with open("/proc/%d/status" % pid) as f:
            return int([l for l in f if l.startswith(field + ":")][0].split()[1])

    def test_a_quiet_acceptor_gives_back_what_a_burst_took(self):
        # busy workers keep freed memory (no page faults on the next batch);
        # once quiet for a heartbeat they give it back
        pids = self.node.worker_pids("acceptor")
        base = sum(self.status_kib(pid, "VmRSS") for pid in pids)
        sub = self.client("mr-sub")
        sub.subscribe("mr/t", 1)
        pubs = [self.client("mr-pub-%d" % i) for i in range(4)]
        body = b"m" * (6 << 20)
        for p in pubs:
            p.publish("mr/t", body, 1, wait=False)
        got = sub.expect(4, timeout=60)
        self.assertEqual([len(m.payload) for m in got], [len(body)] * 4)
        peak = sum(self.status_kib(pid, "VmHWM") for pid in pids)
        self.assertGreater(peak - base, 24 * 1024, "the burst took no memory to give back")
        wait_for(lambda: sum(self.status_kib(pid, "VmRSS") for pid in pids) - base < 12 * 1024, 10,
                 what="the acceptors to give back what the burst took")


def _publish_qos1(topic, pid, payload):
    rest = struct.pack("!H", len(topic)) + topic + struct.pack("!H", pid) + payload
    assert len(rest) < 128
    return bytes([0x32, len(rest)]) + rest


def _subscribe(pid, topic, qos):
    rest = struct.pack("!H", pid) + struct.pack("!H", len(topic)) + topic + bytes([qos])
    return bytes([0x82, len(rest)]) + rest


class _Packets:
    """MQTT packets off a raw socket: (first byte, body) pairs."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def read(self):
        """The packets that arrived (at least one byte read, or socket.timeout)."""
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        self.buf += chunk
        out = []
        while len(self.buf) >= 2:
            n, mult, i = 0, 1, 1
            while True:
                if i >= len(self.buf):
                    return out
                n += (self.buf[i] & 0x7F) * mult
                mult *= 128
                i += 1
                if not self.buf[i - 1] & 0x80:
                    break
            if len(self.buf) < i + n:
                break
            out.append((self.buf[0], self.buf[i:i + n]))
            self.buf = self.buf[i + n:]
        return out


class _PacingCase(BrokerCase):
    """What the pacing tests share (workers/queue/queue_pace.c)."""

    def metric(self, name):
        return {m["name"]: m["value"] for m in self.node.admin_json("metrics", "show")}.get(name, 0)

    def queue_size(self, cid):
        for x in self.node.admin_json("session", "show"):
            if x["client_id"] == cid:
                return int(x["queue_size"])
        return None

    def connected(self, cid):
        s = self.raw()
        s.sendall(self.connect_packet(cid, 4))
        self.assertEqual(s.recv(4), b"\x20\x02\x00\x00")
        return s

    def publisher(self, cid, topic, n, window, acks):
        """Send n QoS 1 PUBLISHes with at most `window` unacknowledged; count
        PUBACKs into acks[0].  Runs until all are acked or 60 s."""
        s = self.connected(cid)
        s.settimeout(0.5)
        pk = _Packets(s)
        sent, deadline = 0, time.monotonic() + 60
        while acks[0] < n and time.monotonic() < deadline:
            burst = b""
            while sent < n and sent - acks[0] < window:
                burst += _publish_qos1(topic, sent % 65535 + 1, struct.pack("!I", sent) + b"p" * 60)
                sent += 1
            if burst:
                s.sendall(burst)
            try:
                acks[0] += sum(1 for t, _ in pk.read() if t == 0x40)
            except socket.timeout:
                pass

    def keeps_up_run(self, n=10000, window=1000):
        """n messages as fast as a publisher may, to a subscriber that acks
        each one but reads at most 2,500 a second: without pacing they all
        wait in its queue within a fraction of a second.  Every one must
        arrive, once, in order; returns the largest queue_size seen."""
        sub = self.connected(b"pace-sub")
        sub.sendall(_subscribe(1, b"pace/t", 1))
        self.assertEqual(sub.recv(5), b"\x90\x03\x00\x01\x01")
        sub.settimeout(0.5)
        got, stop = [], threading.Event()

        def subscriber():
            pk = _Packets(sub)
            while len(got) < n and not stop.is_set():
                t0 = time.monotonic()
                try:
                    pkts = pk.read()
                except socket.timeout:
                    continue
                acks = b""
                for first, body in pkts:
                    if first & 0xF0 == 0x30:
                        tl = struct.unpack("!H", body[:2])[0]
                        pid = body[2 + tl:4 + tl]
                        got.append(struct.unpack("!I", body[4 + tl:8 + tl])[0])
                        acks += b"\x40\x02" + pid
                sub.sendall(acks)
                # 2,500 a second at most
                time.sleep(max(0.0, len(pkts) / 2500.0 - (time.monotonic() - t0)))
        reader = threading.Thread(target=subscriber, daemon=True)
        reader.start()
        self.addCleanup(reader.join, 5)
        self.addCleanup(stop.set)
        acks = [0]
        pub = threading.Thread(target=self.publisher, args=(b"pace-pub", b"pace/t", n, window, acks), daemon=True)
        pub.start()
        most = 0
        deadline = time.monotonic() + 60
        while (pub.is_alive() or len(got) < n) and time.monotonic() < deadline:
            most = max(most, self.queue_size(b"pace-sub".decode()) or 0)
            time.sleep(0.1)
        pub.join(1)
        self.assertEqual(acks[0], n, "every PUBLISH acknowledged")
        wait_for(lambda: len(got) >= n, 30, what="every message delivered")
        self.assertEqual(got, list(range(n)), "all of them, once, in order")
        self.assertGreater(self.metric("queue_publish_paced"), 0)
        return most


class TestPacing(_PacingCase):
    # no queue limit: only pacing bounds a subscriber's queue; a window of 100
    node_extra = dict(BrokerCase.node_extra, max_online_messages="-1", max_inflight_messages="100")
    PACE_HIGH = 2048   # QUEUE_PACE_HIGH in workers/queue/queue_pace.c

    def test_a_subscriber_that_keeps_up_paces_its_qos1_publisher(self):
        most = self.keeps_up_run()
        # the queue stayed near the pacing threshold (plus the window and a
        # turn's appends), far below the 10,000 it held unpaced
        self.assertLess(most, self.PACE_HIGH + 100 + 1500, "queue_size peaked at %d" % most)

    def test_a_stalled_subscriber_does_not_hold_its_publisher(self):
        # a subscriber that never reads or acks: its queue may grow (no
        # limit here), but its publisher must get every PUBACK
        n = 6000
        sub = self.connected(b"stall-sub")
        sub.sendall(_subscribe(1, b"stall/t", 1))
        self.assertEqual(sub.recv(5), b"\x90\x03\x00\x01\x01")
        time.sleep(1.2)   # no ack from it for longer than QUEUE_PACE_STALL_MS
        acks = [0]
        self.publisher(b"stall-pub", b"stall/t", n, 200, acks)
        self.assertEqual(acks[0], n, "a stalled subscriber held its publisher back")
        wait_for(lambda: (self.queue_size("stall-sub") or 0) >= n, 10, what="the stalled subscriber's queue")

    def test_acks_alone_reach_the_queue_worker(self):
        # a subscriber's PUBACKs that free no window wait for company
        # (ACC_ACK_DELAY_MS): with no other traffic they must still go
        sub = self.client("lazy-sub")
        sub.subscribe("lazy/t", 1)
        pub = self.client("lazy-pub")
        for i in range(5):
            pub.publish("lazy/t", b"m%d" % i, 1)
        self.assertEqual(len(sub.expect(5)), 5)
        wait_for(lambda: self.queue_size("lazy-sub") == 0, 5, what="the acks to empty the queue")

    def test_a_clean_start_may_send_behind_its_connect(self):
        # CONNACK comes at once for a clean start: what the client sent in
        # the same segment is served right after it, in order
        for flags, cid in ((0x02, b"pipe-clean"), (0x00, b"pipe-keep")):
            s = self.raw()
            s.sendall(self.connect_packet(cid, 4, flags=flags) + _subscribe(1, b"pipe/" + cid, 1) +
                      _publish_qos1(b"pipe/" + cid, 2, b"hello"))
            s.settimeout(5)
            pk, seen = _Packets(s), []
            while len(seen) < 4:
                try:
                    seen += pk.read()
                except socket.timeout:
                    self.fail("%s: only %r" % (cid, seen))
            self.assertEqual(seen[0], (0x20, b"\x00\x00"), cid)
            self.assertEqual(seen[1], (0x90, b"\x00\x01\x01"), cid)
            kinds = sorted(first & 0xF0 for first, _ in seen[2:4])
            self.assertEqual(kinds, [0x30, 0x40], cid)    # its own message back, and its PUBACK
            s.sendall(b"\xe0\x00")


class TestPacingUnderTheQueueLimit(_PacingCase):
    # VerneMQ's default limit: a subscriber that keeps up is paced from half
    # of it (500); with the publisher's 200 in flight in the other half,
    # none of its 10,000 messages meets the limit
    node_extra = dict(BrokerCase.node_extra, max_online_messages="1000", max_inflight_messages="100")

    def test_a_subscriber_that_keeps_up_loses_nothing_to_max_online_messages(self):
        most = self.keeps_up_run(window=200)
        self.assertEqual(self.metric("queue_message_drop"), 0)
        self.assertLessEqual(most, 1000 + 100, "queue_size peaked at %d" % most)


class TestMaxConnections(BrokerCase):
    node_extra = dict(BrokerCase.node_extra, **{"listener.max_connections": "4"})

    def test_connections_beyond_the_limit_are_refused(self):
        # two acceptors, 4 in all: each takes 2
        held = [socket.create_connection(("127.0.0.1", self.port), timeout=5) for _ in range(4)]
        refused = 0
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            held.append(s)
            s.settimeout(2)
            try:
                if s.recv(1) == b"":
                    refused += 1
            except socket.timeout:
                pass
        self.assertGreaterEqual(refused, 1)
        for s in held:
            s.close()


class TestSessionExpiry(BrokerCase):
    node_extra = dict(BrokerCase.node_extra, persistent_client_expiration="2")

    def test_sessions_expire(self):
        # 3.1.1: persistent_client_expiration; 5.0: the session expiry interval
        for v, kw in ((4, {"clean": False}), (5, {"clean": False, "session_expiry": 1})):
            cid = "expire-%d" % v
            c = Client(self.port, cid, version=v, **kw)
            c.subscribe("exp/%d" % v, 1)
            c.disconnect()
            time.sleep(3.5)                           # past the expiry and one sweep
            self.client("exp-pub-%d" % v).publish("exp/%d" % v, b"gone", 1)
            c = self.client(cid, version=v, **kw)
            self.assertEqual(c.session_present, 0, v)
            c.nothing(0.5)                            # and its subscription went with it
        sessions = {x["client_id"] for x in self.node.admin_json("session", "show")}
        self.assertIn("expire-4", sessions)            # the new, live ones


class TestListenersAndFds(unittest.TestCase):
    def test_two_listeners_one_broker(self):
        node = Node(extra={"allow_anonymous": "on", "plugins.vmq_acl": "off", "plugins.vmq_passwd": "off"})
        self.addCleanup(node.cleanup)
        from nmqtest import free_port
        second = free_port()
        node.write_conf(**{"listener.tcp.second": "127.0.0.1:%d" % second})
        node.console().wait_ready()
        sub = Client(node.port, "l-sub")
        self.addCleanup(sub.disconnect)
        sub.subscribe("l/t", 1)
        pub = Client(second, "l-pub")
        self.addCleanup(pub.disconnect)
        pub.publish("l/t", b"across listeners", 1)
        self.assertEqual(sub.expect(1)[0].payload, b"across listeners")

    def test_out_of_file_descriptors_refuses_politely(self):
        node = Node(extra={"allow_anonymous": "on", "plugins.vmq_acl": "off", "plugins.vmq_passwd": "off",
                           "listener.max_connections": "-1"}, acceptors=1)
        self.addCleanup(node.cleanup)
        node.console(nofile=96).wait_ready()
        acceptor = node.worker_pids("acceptor")[0]
        connect = bytes([0x10, 0x0e, 0x00, 0x04]) + b"MQTT" + bytes([4, 0x02, 0, 30, 0, 2])
        held, accepted, refused = [], 0, 0
        for i in range(150):
            s = socket.create_connection(("127.0.0.1", node.port), timeout=5)
            held.append(s)
            s.sendall(connect + b"%02d" % (i % 100))
            try:
                reply = s.recv(4)
            except (socket.timeout, ConnectionResetError):
                reply = b""
            if reply == b"\x20\x02\x00\x00":
                accepted += 1
            else:
                refused += 1
        self.assertGreater(accepted, 20)
        self.assertGreater(refused, 0)
        for s in held:
            s.close()
        # the acceptor lived through it and serves again
        wait_for(lambda: node.ready(), 10, what="node ready")
        self.assertEqual(node.worker_pids("acceptor"), [acceptor])
        c = Client(node.port, "after-fds")
        c.disconnect()
        self.assertIn("out of file descriptors", node.log())


if __name__ == "__main__":
    unittest.main()
