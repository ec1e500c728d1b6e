"""mqtt — a small synchronous wrapper around Debian's paho-mqtt for the
end-to-end tests: connect and wait for the CONNACK, subscribe and wait for the
SUBACK, publish and wait for the ack, and collect received messages in a queue.
Every wait is bounded; a test never hangs on a broker that misbehaves."""
import queue
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

VERSIONS = {3: paho.MQTTv31, 4: paho.MQTTv311, 5: paho.MQTTv5}
TIMEOUT = 10


class MqttError(AssertionError):
    pass


class Client:
    def __init__(self, port, client_id, version=4, clean=True, username=None, password=None,
                 will=None, session_expiry=None, keepalive=60, connect=True, host="127.0.0.1",
                 receive_maximum=None, will_delay=None):
        self.version = version
        self.port = port
        self.host = host
        kwargs = {"client_id": client_id, "protocol": VERSIONS[version]}
        if version < 5:
            kwargs["clean_session"] = clean
        self.c = paho.Client(**kwargs)
        self.clean = clean
        self.keepalive = keepalive
        self.session_expiry = session_expiry
        self.receive_maximum = receive_maximum
        self.messages = queue.Queue()
        self.connack = queue.Queue()
        self.subacks = {}
        self.disconnects = queue.Queue()
        self._lock = threading.Lock()
        self._acked = {}
        if username is not None:
            self.c.username_pw_set(username, password)
        if will:
            topic, payload, qos, retain = will
            wprops = None
            if will_delay is not None:
                wprops = Properties(PacketTypes.WILLMESSAGE)
                wprops.WillDelayInterval = will_delay
            self.c.will_set(topic, payload, qos, retain, properties=wprops)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_disconnect = self._on_disconnect
        self.c.on_publish = self._on_publish
        if connect:
            self.connect()

    # --- callbacks ------------------------------------------------------------
    def _on_connect(self, c, u, flags, rc, props=None):
        self.connack.put((rc if isinstance(rc, int) else rc.value, flags.get("session present", 0), props))

    def _on_subscribe(self, c, u, mid, granted, props=None):
        codes = [g if isinstance(g, int) else g.value for g in granted]
        with self._lock:
            self.subacks[mid] = codes

    def _on_unsubscribe(self, c, u, mid, props=None, codes=None):
        with self._lock:
            self.subacks[mid] = codes if codes is not None else []   # 3.1.1 has no codes

    def _on_disconnect(self, c, u, rc, props=None):
        # paho 1.6 hands None for a 5.0 DISCONNECT that carries only a reason code
        self.disconnects.put(rc if isinstance(rc, int) else (rc.value if rc is not None else -1))

    def _on_publish(self, c, u, mid):
        with self._lock:
            self._acked[mid] = True

    # --- actions ----------------------------------------------------------------
    def connect(self, expect_rc=0):
        props = None
        if self.version == 5:
            props = Properties(PacketTypes.CONNECT)
            if self.session_expiry is not None:
                props.SessionExpiryInterval = self.session_expiry
            if self.receive_maximum is not None:
                props.ReceiveMaximum = self.receive_maximum
            self.c.connect(self.host, self.port, self.keepalive, clean_start=self.clean, properties=props)
        else:
            self.c.connect(self.host, self.port, self.keepalive)
        self.c.loop_start()
        try:
            rc, present, cprops = self.connack.get(timeout=TIMEOUT)
        except queue.Empty:
            raise MqttError("no CONNACK within %ds" % TIMEOUT)
        self.session_present = present
        self.connack_props = cprops
        if rc != expect_rc:
            self.c.loop_stop()
            raise MqttError("CONNACK %d, expected %d" % (rc, expect_rc))
        return rc

    def _wait(self, pred, what):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with self._lock:
                v = pred()
            if v is not None:
                return v
            time.sleep(0.005)
        raise MqttError("timed out waiting for %s" % what)

    def subscribe(self, topic, qos=0, **opts):
        if self.version == 5 and opts:
            from paho.mqtt.subscribeoptions import SubscribeOptions
            so = SubscribeOptions(qos=qos, noLocal=opts.get("no_local", False),
                                  retainAsPublished=opts.get("rap", False),
                                  retainHandling=opts.get("retain_handling", 0))
            props = None
            if "sub_id" in opts:
                props = Properties(PacketTypes.SUBSCRIBE)
                props.SubscriptionIdentifier = opts["sub_id"]
            rc, mid = self.c.subscribe(topic, options=so, properties=props)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        if rc != 0:
            raise MqttError("subscribe not sent: %d" % rc)
        return self._wait(lambda: self.subacks.pop(mid, None), "SUBACK")

    def unsubscribe(self, topic):
        rc, mid = self.c.unsubscribe(topic)
        return self._wait(lambda: self.subacks.pop(mid, None) if mid in self.subacks else None,
                          "UNSUBACK")

    def publish(self, topic, payload, qos=0, retain=False, wait=True, properties=None):
        info = self.c.publish(topic, payload, qos, retain, properties=properties)
        if wait and qos > 0:
            self._wait(lambda: True if self._acked.pop(info.mid, None) else None, "PUBACK/PUBCOMP")
        return info

    def expect(self, n=1, timeout=TIMEOUT):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise MqttError("got %d of %d messages: %r" % (len(out), n, [m.payload for m in out]))
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                pass
        return out

    def nothing(self, wait=0.3):
        try:
            m = self.messages.get(timeout=wait)
        except queue.Empty:
            return True
        raise MqttError("unexpected message on %s: %r" % (m.topic, m.payload))

    def disconnect(self):
        self.c.disconnect()
        self.c.loop_stop()

    def drop(self):
        """Close the TCP connection without DISCONNECT (an abnormal end)."""
        self.c.loop_stop()
        self.c.socket().close()
