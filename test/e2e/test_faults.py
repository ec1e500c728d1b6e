"""Faults: workers killed with SIGKILL in the middle of a stream of QoS 1
messages.  What was acknowledged to its publisher is never lost; what the
broker sends again carries DUP."""
import os
import signal
import threading
import time
import unittest

import paho.mqtt.client as paho

from mqtt import Client
from nmqtest import Node, pid_alive, wait_for

N = 10000
WINDOW = 20


def shard_of(client_id, n):
    """broker_shard_of() of common/nmq_broker_ops.h: FNV-1a 64."""
    h = 1469598103934665603
    for b in client_id.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h % n


def acceptor_of(node, client_port):
    """The pid of the acceptor holding the TCP connection from client_port."""
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            local, remote = cols[1], cols[2]
            if int(local.split(":")[1], 16) == node.port and int(remote.split(":")[1], 16) == client_port:
                inode = "socket:[%s]" % cols[9]
    for pid in node.worker_pids("acceptor"):
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == inode:
                    return pid
            except OSError:
                pass
    return None


class Publisher:
    """paho with a persistent session and automatic reconnects: it keeps every
    unacknowledged QoS 1 message and sends it again (DUP) after a reconnect."""

    def __init__(self, port, cid):
        self.c = paho.Client(client_id=cid, clean_session=False, protocol=paho.MQTTv311)
        self.c.max_inflight_messages_set(WINDOW)
        self.c.max_queued_messages_set(0)
        self.c.reconnect_delay_set(1, 1)
        self.acked = 0
        self.lock = threading.Lock()
        self.c.on_publish = self._on_publish
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()

    def _on_publish(self, c, u, mid):
        with self.lock:
            self.acked += 1

    def local_port(self):
        return self.c.socket().getsockname()[1]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


class TestKills(unittest.TestCase):
    def setUp(self):
        self.node = Node(extra={"allow_anonymous": "on", "plugins.vmq_acl": "off", "plugins.vmq_passwd": "off",
                                "supervisor.max_restarts": "100", "max_inflight_messages": "20",
                                "max_offline_messages": "-1", "max_online_messages": "-1"})
        self.addCleanup(self.node.cleanup)
        self.node.console().wait_ready()

    def check_stream(self, msgs):
        seqs = [int(m.payload) for m in msgs]
        self.assertEqual(set(seqs), set(range(N)), "missing: %s" % sorted(set(range(N)) - set(seqs))[:20])
        first, seen, dup_flagged, unflagged = [], set(), 0, 0
        for m, s in zip(msgs, seqs):
            if s in seen:
                if m.dup:
                    dup_flagged += 1
                else:
                    unflagged += 1
                continue
            seen.add(s)
            first.append(s)
        self.assertEqual(first, sorted(first), "first deliveries out of order")
        return dup_flagged, unflagged

    def test_acceptor_and_queue_killed_mid_stream_offline_subscriber(self):
        sub_id = "fault-sub"
        sub = Client(self.node.port, sub_id, clean=False)
        sub.subscribe("fault/t", 1)
        sub.disconnect()
        pub = Publisher(self.node.port, "fault-pub")
        self.addCleanup(pub.close)
        wait_for(lambda: pub.c.is_connected(), 5, what="publisher connected")
        for i in range(N):
            pub.c.publish("fault/t", b"%d" % i, 1)
        wait_for(lambda: pub.acked >= 3000, 60, 0.01, "3000 acks")
        victims = [acceptor_of(self.node, pub.local_port())]
        queues = sorted((w["slot"], w["pid"]) for w in self.node.workers() if w["role"] == "queue")
        victims.append(dict((int(s), p) for s, p in queues)[shard_of(sub_id, len(queues))])
        self.assertTrue(all(victims), victims)
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: all(not pid_alive(p) for p in victims), 5, what="victims gone")
        self.assertLess(pub.acked, N, "the kills came too late to test anything")
        wait_for(lambda: pub.acked >= N, 120, 0.05, "all %d acknowledged" % N)
        sub = Client(self.node.port, sub_id, clean=False)
        self.addCleanup(sub.disconnect)
        self.assertEqual(sub.session_present, 1)
        msgs = sub.expect(N, timeout=120)
        time.sleep(0.5)
        while not sub.messages.empty():
            msgs.append(sub.messages.get())
        dup_flagged, unflagged = self.check_stream(msgs)
        # unflagged copies can only be the publisher's own resends after its
        # acceptor died: at most its window
        self.assertLessEqual(unflagged, WINDOW)

    def test_queue_killed_under_an_online_subscriber(self):
        sub_id = "online-sub"
        sub = Client(self.node.port, sub_id, clean=False)
        self.addCleanup(sub.disconnect)
        sub.c.reconnect_delay_set(1, 1)
        sub.subscribe("online/t", 1)
        pub = Publisher(self.node.port, "online-pub")
        self.addCleanup(pub.close)
        wait_for(lambda: pub.c.is_connected(), 5, what="publisher connected")
        for i in range(N):
            pub.c.publish("online/t", b"%d" % i, 1)
        wait_for(lambda: sub.messages.qsize() >= 3000, 60, 0.01, "3000 delivered")
        queues = dict((int(w["slot"]), w["pid"]) for w in self.node.workers() if w["role"] == "queue")
        victim = queues[shard_of(sub_id, len(queues))]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: pub.acked >= N, 120, 0.05, "all %d acknowledged" % N)
        msgs = []
        deadline = time.monotonic() + 120
        while len({int(m.payload) for m in msgs}) < N and time.monotonic() < deadline:
            try:
                msgs.append(sub.messages.get(timeout=1))
            except Exception:
                pass
        dup_flagged, unflagged = self.check_stream(msgs)
        self.assertLessEqual(unflagged, WINDOW)
        log = self.node.log()
        self.assertIn("restarted", log)


class TestReplicaResync(unittest.TestCase):
    """The acceptors' routing replicas: a restarted acceptor starts from a
    snapshot; a restarted metadata worker continues its delta sequence from
    LMDB, so no acceptor sees a gap or loses a subscription."""

    def test_routing_survives_acceptor_and_metadata_restarts(self):
        node = Node(extra={"allow_anonymous": "on", "plugins.vmq_acl": "off", "plugins.vmq_passwd": "off",
                           "supervisor.max_restarts": "100"})
        self.addCleanup(node.cleanup)
        node.console().wait_ready()
        sub = Client(node.port, "rs-sub", clean=False)
        sub.subscribe("rs/+", 1)
        sub.disconnect()
        meta = node.worker_pids("metadata")[0]
        os.kill(meta, signal.SIGKILL)
        wait_for(lambda: node.worker_pids("metadata") not in ([], [meta]) and node.ready(), 10,
                 what="metadata back")
        for pid in node.worker_pids("acceptor"):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: len(node.worker_pids("acceptor")) == 2 and node.ready(), 10, what="acceptors back")
        wait_for(lambda: all("routes 1 " in w["info"] for w in node.workers() if w["role"] == "acceptor"),
                 10, what="both replicas hold the subscription")
        pub = Client(node.port, "rs-pub")
        self.addCleanup(pub.disconnect)
        pub.publish("rs/a", b"after", 1)
        # a new subscription after the metadata restart reaches every acceptor too
        other = Client(node.port, "rs-other")
        self.addCleanup(other.disconnect)
        other.subscribe("rs/b", 1)
        pub.publish("rs/b", b"new", 1)
        self.assertEqual(other.expect(1)[0].payload, b"new")
        sub = Client(node.port, "rs-sub", clean=False)
        self.addCleanup(sub.disconnect)
        self.assertEqual(sorted(m.payload for m in sub.expect(2)), [b"after", b"new"])
        self.assertNotIn("gap", node.log())


class TestWholeNodeKilled(unittest.TestCase):
    def test_sync_on_nothing_acknowledged_is_lost(self):
        node = Node(extra={"allow_anonymous": "on", "plugins.vmq_acl": "off", "plugins.vmq_passwd": "off",
                           "message_store.sync": "on", "max_offline_messages": "-1",
                           "max_online_messages": "-1"})
        self.addCleanup(node.cleanup)
        node.console().wait_ready()
        sub = Client(node.port, "sync-sub", clean=False)
        sub.subscribe("sync/t", 1)
        sub.disconnect()
        pub = Publisher(node.port, "sync-pub")
        mids = {}
        acked = set()
        pub.c.on_publish = lambda c, u, mid: acked.add(mids.get(mid))
        wait_for(lambda: pub.c.is_connected(), 5, what="publisher connected")
        for i in range(N):
            mids[pub.c.publish("sync/t", b"%d" % i, 1).mid] = i
        wait_for(lambda: len(acked) >= 2000, 60, 0.01, "2000 acks")
        pids = list(node.tree())
        for pid in pids:          # every process of the node at once
            os.kill(pid, signal.SIGKILL)
        confirmed = set(acked)    # what the broker promised before it died
        pub.c.loop_stop()
        node.proc.wait(10)
        node.proc = None
        self.assertLess(len(confirmed), N, "the kill came too late to test anything")
        node.console().wait_ready()
        sub = Client(node.port, "sync-sub", clean=False)
        self.addCleanup(sub.disconnect)
        self.assertEqual(sub.session_present, 1)
        got = set()
        deadline = time.monotonic() + 60
        while not confirmed <= got and time.monotonic() < deadline:
            try:
                got.add(int(sub.messages.get(timeout=1).payload))
            except Exception:
                pass
        self.assertEqual(confirmed - got, set(), "acknowledged and lost")
        pub.close()


if __name__ == "__main__":
    unittest.main()
