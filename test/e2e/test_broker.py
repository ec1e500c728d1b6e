"""The single-node broker with real MQTT clients: paho (3.1, 3.1.1, 5.0),
mosquitto_pub / mosquitto_sub, and raw sockets for malformed input."""
import os
import socket
import struct
import subprocess
import time
import unittest

from mqtt import Client, MqttError
from nmqtest import Node, wait_for


class BrokerCase(unittest.TestCase):
    node_extra = {"allow_anonymous": "on", "plugins.vmq_acl": "off", "plugins.vmq_passwd": "off"}

    @classmethod
    def setUpClass(cls):
        cls.node = Node(extra=dict(cls.node_extra))
        cls.node.console().wait_ready()
        cls.port = cls.node.port

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def client(self, cid, **kw):
        c = Client(self.port, cid, **kw)
        self.addCleanup(self._close, c)
        return c

    def raw(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.addCleanup(s.close)
        return s

    @staticmethod
    def connect_packet(cid, level, flags=0x02, props=b"\x00"):
        name = b"MQTT"
        body = struct.pack("!H", len(name)) + name + bytes([level, flags]) + struct.pack("!H", 30)
        if level == 5:
            body += bytes([len(props)]) + props if props != b"\x00" else b"\x00"
        body += struct.pack("!H", len(cid)) + cid
        return bytes([0x10, len(body)]) + body

    @staticmethod
    def disconnect_of(data):
        """(reason code, reason string or None) of a 5.0 DISCONNECT."""
        assert data[0] == 0xE0, data
        length, reason = data[1], data[2]
        text = None
        if length > 2 and data[4] == 0x1F:       # property block: Reason String first
            n = struct.unpack("!H", data[5:7])[0]
            text = data[7:7 + n].decode()
        return reason, text

    def read_all(self, s):
        data = b""
        while True:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                return data, False
            if not chunk:
                return data, True
            data += chunk

    @staticmethod
    def _close(c):
        try:
            c.disconnect()
        except Exception:
            pass


class TestPubSub(BrokerCase):
    def test_connack_for_each_protocol_version(self):
        for v in (3, 4, 5):
            c = self.client("conn-v%d" % v, version=v)
            self.assertEqual(c.session_present, 0)
        props = self.client("conn-props", version=5).connack_props
        self.assertEqual(props.ReceiveMaximum, 65535)
        self.assertEqual(props.SharedSubscriptionAvailable, 1)
        self.assertEqual(props.WildcardSubscriptionAvailable, 1)
        self.assertEqual(props.SubscriptionIdentifierAvailable, 1)

    def test_qos_levels_in_both_directions(self):
        for v in (4, 5):
            sub = self.client("qos-sub-%d" % v, version=v)
            pub = self.client("qos-pub-%d" % v, version=v)
            for granted in (0, 1, 2):
                topic = "qos/%d/%d" % (v, granted)
                self.assertEqual(sub.subscribe(topic, granted), [granted])
                for q in (0, 1, 2):
                    pub.publish(topic, b"q%d" % q, q)
                got = sub.expect(3)
                self.assertEqual(sorted(m.payload for m in got), [b"q0", b"q1", b"q2"])
                for m in got:
                    self.assertEqual(m.qos, min(granted, int(m.payload[1:])), (v, granted, m.payload))

    def test_wildcards_and_dollar_topics(self):
        sub = self.client("wild-sub")
        sub.subscribe("w/+/x", 1)
        sub.subscribe("w/a/#", 1)
        root = self.client("wild-root")
        root.subscribe("#", 0)
        pub = self.client("wild-pub")
        pub.publish("w/b/x", b"1", 1)
        pub.publish("w/a", b"2", 1)          # '#' matches the parent level
        pub.publish("w/a/x", b"3", 1)        # two filters match: delivered once
        pub.publish("w/b/y", b"4", 1)        # matches nothing of sub's
        got = sub.expect(3)
        self.assertEqual(sorted(m.payload for m in got), [b"1", b"2", b"3"])
        sub.nothing()
        # '#' at the root sees all four but no $SYS topic
        self.assertEqual(len(root.expect(4)), 4)

    def test_clients_may_not_publish_to_sys(self):
        watcher = self.client("sys-watch")
        watcher.subscribe("$SYS/#", 0)
        c = self.client("sys-pub", version=5)
        c.publish("$SYS/fake", b"x", 1)      # 5.0: PUBACK 0x87, connection stays
        watcher.nothing(0.5)
        self.assertTrue(c.c.is_connected())

    def test_unsubscribe(self):
        sub = self.client("unsub-sub", version=5)
        pub = self.client("unsub-pub")
        sub.subscribe("u/1", 1)
        pub.publish("u/1", b"a", 1)
        sub.expect(1)
        sub.unsubscribe("u/1")
        pub.publish("u/1", b"b", 1)
        sub.nothing()

    def test_retained_set_delivered_and_cleared(self):
        pub = self.client("ret-pub")
        pub.publish("ret/a", b"kept", 1, retain=True)
        pub.publish("ret/b", b"also", 0, retain=True)
        s1 = self.client("ret-s1")
        s1.subscribe("ret/+", 1)
        got = {m.topic: m for m in s1.expect(2)}
        self.assertEqual(got["ret/a"].payload, b"kept")
        self.assertTrue(got["ret/a"].retain)
        pub.publish("ret/a", b"", 0, retain=True)   # an empty retained message clears it
        pub.publish("ret/b", b"", 0, retain=True)
        s1.expect(2)                                 # live copies of the clears
        s2 = self.client("ret-s2")
        s2.subscribe("ret/+", 1)
        s2.nothing()

    def test_will_on_abnormal_close_only(self):
        watcher = self.client("will-watch")
        watcher.subscribe("will/#", 1)
        w1 = self.client("will-1", will=("will/1", b"gone", 1, False))
        w1.drop()
        m = watcher.expect(1)[0]
        self.assertEqual((m.topic, m.payload), ("will/1", b"gone"))
        w2 = self.client("will-2", will=("will/2", b"never", 1, False))
        w2.disconnect()
        watcher.nothing(0.5)

    def test_persistent_session_gets_offline_messages_in_order(self):
        for v in (4, 5):
            cid = "offline-%d" % v
            kw = {"clean": False} if v == 4 else {"clean": False, "session_expiry": 3600}
            sub = Client(self.port, cid, version=v, **kw)
            sub.subscribe("off/%d" % v, 1)
            sub.disconnect()
            pub = self.client("offline-pub-%d" % v)
            for i in range(200):
                pub.publish("off/%d" % v, b"%d" % i, 1)
            sub = self.client(cid, version=v, **kw)
            self.assertEqual(sub.session_present, 1)
            got = sub.expect(200)
            self.assertEqual([int(m.payload) for m in got], list(range(200)))

    def test_takeover_disconnects_the_first_connection(self):
        # paho 1.6 does not read a DISCONNECT that has only a reason code, so
        # the first connection is a raw socket: 5.0, clean start 0, expiry 60 s
        first = self.raw()
        first.sendall(self.connect_packet(b"twin", 5, flags=0x00, props=b"\x11\x00\x00\x00\x3c"))
        self.assertEqual(first.recv(64)[:4], b"\x20\x11\x00\x00")
        first.sendall(b"\x82\x0c\x00\x01\x00\x00\x06twin/t\x01")   # SUBSCRIBE twin/t QoS 1
        self.assertEqual(first.recv(64)[:1], b"\x90")
        second = self.client("twin", version=5, clean=False, session_expiry=60)
        data, closed = self.read_all(first)
        self.assertEqual(self.disconnect_of(data), (0x8E, "Session taken over"))
        self.assertTrue(closed)
        self.assertEqual(second.session_present, 1)
        pub = self.client("twin-pub")
        pub.publish("twin/t", b"x", 1)
        self.assertEqual(second.expect(1)[0].payload, b"x")
        # 3.1.1: the first connection is simply closed
        old = self.client("twin311", clean=False)
        self.client("twin311", clean=False)
        self.assertEqual(old.disconnects.get(timeout=5), 7)   # paho: connection lost

    def test_mosquitto_clients(self):
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-t", "cli/#",
                                "-q", "1", "-C", "3", "-W", "10", "-i", "cli-sub"],
                               stdout=subprocess.PIPE, text=True)
        wait_for(lambda: "cli-sub" in self.node.admin("workers").stdout or True, 1)
        time.sleep(0.5)
        for i in range(3):
            r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", "cli/%d" % i,
                                "-m", "m%d" % i, "-q", str(i), "-V", "mqttv5" if i == 2 else "mqttv311"],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 0, r.stderr)
        out, _ = sub.communicate(timeout=15)
        self.assertEqual(out.split(), ["m0", "m1", "m2"])


class TestMqtt5(BrokerCase):
    def test_publish_properties_pass_through(self):
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        sub = self.client("p5-sub", version=5)
        sub.subscribe("p5/+", 1, sub_id=42)
        sub.subscribe("p5/#", 1, sub_id=7)
        pub = self.client("p5-pub", version=5)
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("k1", "v1"), ("k2", "v2")]
        props.ContentType = "text/plain"
        props.ResponseTopic = "p5/reply"
        props.CorrelationData = b"corr"
        props.PayloadFormatIndicator = 1
        props.MessageExpiryInterval = 3600
        pub.publish("p5/a", b"hello", 1, properties=props)
        m = sub.expect(1)[0]
        got = m.properties
        self.assertEqual(got.UserProperty, [("k1", "v1"), ("k2", "v2")])
        self.assertEqual(got.ContentType, "text/plain")
        self.assertEqual(got.ResponseTopic, "p5/reply")
        self.assertEqual(got.CorrelationData, b"corr")
        self.assertEqual(got.PayloadFormatIndicator, 1)
        self.assertTrue(3590 <= got.MessageExpiryInterval <= 3600)
        self.assertEqual(sorted(got.SubscriptionIdentifier), [7, 42])
        sub.nothing()

    def test_message_expiry_drops_and_rewrites(self):
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        sub = Client(self.port, "exp-sub", version=5, clean=False, session_expiry=300)
        sub.subscribe("exp/t", 1)
        sub.disconnect()
        pub = self.client("exp-pub", version=5)
        for i, ttl in enumerate((1, 60)):
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = ttl
            pub.publish("exp/t", b"%d" % i, 1, properties=props)
        time.sleep(2.2)
        sub = self.client("exp-sub", version=5, clean=False, session_expiry=300)
        got = sub.expect(1)
        self.assertEqual(got[0].payload, b"1")          # the 1 s message expired offline
        self.assertLessEqual(got[0].properties.MessageExpiryInterval, 58)
        sub.nothing()

    def test_no_local_and_retain_handling(self):
        c = self.client("nl-1", version=5)
        c.subscribe("nl/t", 1, no_local=True)
        c.publish("nl/t", b"own", 1)
        c.nothing()
        other = self.client("nl-2", version=5)
        other.publish("nl/t", b"theirs", 1)
        self.assertEqual(c.expect(1)[0].payload, b"theirs")
        other.publish("rh/t", b"r", 1, retain=True)
        for rh, expect in ((0, 1), (1, 0), (2, 0)):
            # 1: only on a new subscription (this one exists already); 2: never
            self.assertEqual(c.subscribe("rh/t", 1, retain_handling=rh), [1])
            if expect:
                self.assertTrue(c.expect(1)[0].retain)
            else:
                c.nothing()
        d = self.client("rh-new", version=5)
        d.subscribe("rh/t", 1, retain_handling=1)
        self.assertEqual(d.expect(1)[0].payload, b"r")

    def test_will_delay(self):
        watcher = self.client("wd-watch")
        watcher.subscribe("wd/#", 1)
        # dropped, not back in time: the will comes after its delay
        w = Client(self.port, "wd-1", version=5, clean=False, session_expiry=60,
                   will=("wd/1", b"late", 1, False), will_delay=2)
        t0 = time.monotonic()
        w.drop()
        m = watcher.expect(1, timeout=8)[0]
        self.assertEqual(m.payload, b"late")
        self.assertGreater(time.monotonic() - t0, 1.4)
        # back before the delay: no will at all
        w = Client(self.port, "wd-2", version=5, clean=False, session_expiry=60,
                   will=("wd/2", b"never", 1, False), will_delay=3)
        w.drop()
        time.sleep(0.5)
        back = self.client("wd-2", version=5, clean=False, session_expiry=60)
        self.assertEqual(back.session_present, 1)
        watcher.nothing(4.0)
        # the session ends before the delay: the will goes with it
        w = Client(self.port, "wd-3", version=5, clean=False, session_expiry=1,
                   will=("wd/3", b"session over", 1, False), will_delay=30)
        t0 = time.monotonic()
        w.drop()
        self.assertEqual(watcher.expect(1, timeout=6)[0].payload, b"session over")
        self.assertLess(time.monotonic() - t0, 5)

    def test_shared_subscription_one_member_each(self):
        members = [self.client("sh-%d" % i, version=v) for i, v in enumerate((4, 5, 5))]
        for m in members:
            m.subscribe("$share/g1/sh/t", 1)
        pub = self.client("sh-pub", version=5)
        for i in range(60):
            pub.publish("sh/t", b"%d" % i, 1)
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 60 and time.monotonic() < deadline:
            for m in members:
                while not m.messages.empty():
                    got.append(int(m.messages.get().payload))
            time.sleep(0.02)
        self.assertEqual(sorted(got), list(range(60)))   # each message once, to one member
        for m in members:
            m.nothing(0.2)

    def test_shared_subscription_prefers_online_members(self):
        away = Client(self.port, "sh-away", clean=False)
        away.subscribe("$share/g2/sho/t", 1)
        away.disconnect()
        here = self.client("sh-here")
        here.subscribe("$share/g2/sho/t", 1)
        pub = self.client("sho-pub")
        for i in range(50):
            pub.publish("sho/t", b"%d" % i, 1)
        self.assertEqual(sorted(int(m.payload) for m in here.expect(50)), list(range(50)))
        away = self.client("sh-away", clean=False)
        away.nothing(0.5)                 # nothing was queued for the offline member
        # with the online member gone, the offline one gets them (queued)
        here.disconnect()
        away.disconnect()
        time.sleep(0.3)
        pub.publish("sho/t", b"queued", 1)
        back = self.client("sh-away", clean=False)
        self.assertEqual(back.expect(1)[0].payload, b"queued")

    def test_topic_alias_from_the_client(self):
        sub = self.client("ta-sub")
        sub.subscribe("ta/#", 0)
        s = self.raw()
        s.sendall(self.connect_packet(b"ta-pub", 5))
        connack = s.recv(64)
        self.assertEqual(connack[0], 0x20)
        # alias 1 = ta/x, then a publish by alias alone; topic_alias_max_broker is 0 by
        # default, so the broker refuses an alias with DISCONNECT 0x94
        s.sendall(b"\x30\x0a\x00\x04ta/x\x03\x23\x00\x01")
        data, closed = self.read_all(s)
        self.assertEqual(self.disconnect_of(data)[0], 0x94)
        sub.nothing()


class TestMetrics(BrokerCase):
    node_extra = dict(BrokerCase.node_extra, systree_interval="300")

    def metrics(self):
        return {m["name"]: m["value"] for m in self.node.admin_json("metrics", "show")}

    def settled(self, name, want, timeout=10):
        """Wait until a counter reaches want (metrics ride on heartbeats)."""
        return wait_for(lambda: self.metrics().get(name, 0) >= want and self.metrics(), timeout,
                        what="%s >= %d" % (name, want))

    def test_metrics_show_in_vernemq_form(self):
        before = self.metrics()
        pub = self.client("m-pub")
        for i in range(50):
            pub.publish("m/t", b"x", 1)
        after = self.settled("mqtt_publish_received", before.get("mqtt_publish_received", 0) + 50)
        self.assertEqual(after["mqtt_puback_sent"] - before.get("mqtt_puback_sent", 0), 50)
        text = self.node.admin("metrics", "show").stdout
        self.assertRegex(text, r"(?m)^counter\.mqtt_publish_received = \d+$")
        self.assertRegex(text, r"(?m)^gauge\.active_mqtt_connections = \d+$")
        for name in ("mqtt_connect_received", "mqtt_connack_sent", "queue_message_in", "queue_message_out",
                     "queue_message_drop", "mqtt_pubcomp_sent", "socket_open", "bytes_received"):
            self.assertIn(name, after)

    def test_sys_tree_is_published(self):
        watcher = self.client("m-sys")
        watcher.subscribe("$SYS/#", 0)
        got = {}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "mqtt/connect/received" not in got:
            for m in watcher.expect(1):
                got[m.topic.split("/", 2)[2]] = m.payload
        prefix = "$SYS/%s/" % self.node.name
        self.assertIn("mqtt/connect/received", got)
        self.assertTrue(got["mqtt/connect/received"].isdigit())
        self.assertTrue(all(t for t in got))
        m = watcher.expect(1)[0]
        self.assertTrue(m.topic.startswith(prefix), m.topic)
        # a '#' subscriber does not see $SYS [MQTT-4.7.2-1]
        plain = self.client("m-plain")
        plain.subscribe("#", 0)
        plain.nothing(0.8)

    def test_counters_survive_a_worker_restart(self):
        pub = self.client("m-restart")
        for i in range(20):
            pub.publish("m/r", b"x", 1)
        before = self.settled("mqtt_publish_received", 20)["mqtt_publish_received"]
        pid = self.node.worker_pids("acceptor")[0]
        os.kill(pid, 9)
        wait_for(lambda: pid not in self.node.worker_pids("acceptor"), 5, what="acceptor restarted")
        self.node.wait_ready()
        self.assertGreaterEqual(self.metrics()["mqtt_publish_received"], before)

    def test_seed004_qos2_shared_group_counts(self):
        """Seed 004: N QoS 2 messages to a topic two members of a shared group
        subscribe to: mqtt_pubcomp_sent = N (to the publisher), and
        mqtt_pubcomp_received = N from the two members together."""
        n = 300
        before = self.metrics()
        members = [self.client("s4-%d" % i) for i in range(2)]
        for m in members:
            m.subscribe("$share/svc/seed4/t", 2)
        pub = self.client("s4-pub")
        for i in range(n):
            pub.publish("seed4/t", b"%d" % i, 2)
        got, per_member = [], [0, 0]
        deadline = time.monotonic() + 20
        while len(got) < n and time.monotonic() < deadline:
            for i, m in enumerate(members):
                while not m.messages.empty():
                    got.append(int(m.messages.get().payload))
                    per_member[i] += 1
            time.sleep(0.02)
        self.assertEqual(sorted(got), list(range(n)))        # each once, none twice
        self.assertEqual(sum(per_member), n)
        self.assertTrue(all(per_member), per_member)        # both members served
        # each acceptor's counters ride on its own heartbeats: wait for both
        self.settled("mqtt_pubcomp_sent", before.get("mqtt_pubcomp_sent", 0) + n)
        after = self.settled("mqtt_pubcomp_received", before.get("mqtt_pubcomp_received", 0) + n)
        self.assertEqual(after["mqtt_pubcomp_sent"] - before.get("mqtt_pubcomp_sent", 0), n)
        self.assertEqual(after["mqtt_pubcomp_received"] - before.get("mqtt_pubcomp_received", 0), n)


class TestSessionsAdmin(BrokerCase):
    def sessions(self, *args):
        return {s["client_id"]: s for s in self.node.admin_json("session", "show", *args)}

    def test_session_show_lists_online_and_offline_sessions(self):
        on = self.client("adm-on", version=5)
        on.subscribe("adm/a", 1)
        on.subscribe("$share/g/adm/b", 0)
        off = Client(self.port, "adm-off", clean=False)
        off.subscribe("adm/c", 1)
        off.disconnect()
        pub = self.client("adm-pub")
        for i in range(7):
            pub.publish("adm/c", b"x", 1)
        s = wait_for(lambda: (lambda x: x if x.get("adm-off", {}).get("queue_size") == 7 else None)(self.sessions()),
                     5, what="7 queued for adm-off")
        self.assertEqual(s["adm-on"]["is_online"], "true")
        self.assertEqual(s["adm-on"]["protocol"], 5)
        self.assertTrue(s["adm-on"]["peer"].startswith("127.0.0.1:"))
        self.assertEqual(sorted(s["adm-on"]["subscriptions"].split(",")), ["$share/g/adm/b:0", "adm/a:1"])
        self.assertEqual(s["adm-off"]["is_online"], "false")
        self.assertEqual(s["adm-off"]["persistent"], "true")
        self.assertEqual(s["adm-off"]["subscriptions"], "adm/c:1")
        only = self.sessions("--client_id=adm-on")
        self.assertEqual(list(only), ["adm-on"])
        self.assertTrue(all(v["is_online"] == "false" for v in self.sessions("--is_online=false").values()))
        text = self.node.admin("session", "show")
        self.assertEqual(text.returncode, 0)
        self.assertIn("adm-off", text.stdout)

    def test_session_disconnect_with_and_without_cleanup(self):
        c = Client(self.port, "adm-kick", version=5, clean=False, session_expiry=600)
        self.addCleanup(self._close, c)
        c.subscribe("adm/k", 1)
        c.c.reconnect_delay_set(60, 60)   # no automatic comeback during the test
        r = self.node.admin("session", "disconnect", "client-id=adm-kick")
        self.assertEqual((r.returncode, r.stdout), (0, "Done\n"))
        c.disconnects.get(timeout=5)
        c.c.loop_stop()
        s = self.sessions("--client_id=adm-kick")
        self.assertEqual(s["adm-kick"]["is_online"], "false")     # the session stays
        self.assertEqual(s["adm-kick"]["subscriptions"], "adm/k:1")
        r = self.node.admin("session", "disconnect", "client-id=adm-kick", "-c")
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: "adm-kick" not in self.sessions(), 5, what="session removed")
        r = self.node.admin("session", "disconnect", "client-id=nobody")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no session for client-id nobody", r.stderr)
        self.assertEqual(self.node.admin("session", "disconnect").returncode, 2)


class TestMalformed(BrokerCase):
    def test_malformed_packets_close_only_that_client(self):
        watcher = self.client("mal-watch", version=5)
        watcher.subscribe("mal/t", 1)
        pub = self.client("mal-pub")
        # 3.1.1: a PUBLISH with QoS 3 closes the connection, no reply
        s = self.raw()
        s.sendall(self.connect_packet(b"mal-311", 4))
        self.assertEqual(s.recv(4)[:2], b"\x20\x02")
        s.sendall(b"\x36\x05\x00\x01a\x00\x01")
        data, closed = self.read_all(s)
        self.assertTrue(closed)
        self.assertEqual(data, b"")
        # 5.0: reserved flags on SUBSCRIBE: DISCONNECT 0x81 malformed, then close
        s = self.raw()
        s.sendall(self.connect_packet(b"mal-5", 5))
        connack = s.recv(64)
        self.assertEqual(connack[0], 0x20)
        s.sendall(b"\x80\x08\x00\x01\x00\x00\x03a/b\x00")
        data, closed = self.read_all(s)
        self.assertTrue(closed)
        self.assertEqual(data[:1], b"\xe0")
        self.assertIn(0x81, data[2:4])
        # the others were served throughout
        pub.publish("mal/t", b"still here", 1)
        self.assertEqual(watcher.expect(1)[0].payload, b"still here")

    def test_garbage_before_connect(self):
        s = self.raw()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data, closed = self.read_all(s)
        self.assertTrue(closed)


if __name__ == "__main__":
    unittest.main()
