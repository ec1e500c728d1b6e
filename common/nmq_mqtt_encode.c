/* nmq_mqtt_encode — nmq_mqtt_packet_t to bytes, into the caller's buffer.
 *
 * Each packet type has one body writer; the writer (nmq_mqtt_wire.h) first
 * runs it to measure, which gives the remaining length for the fixed header,
 * then, if the packet fits, runs it again to write.  So a caller learns the
 * size of a packet before committing buffer space to it, and the acceptor can
 * fill one output buffer with many packets and hand it to a single write.
 *
 * A PUBLISH can be encoded without its payload (the header with the full
 * remaining length, then the payload from wherever it lies, by iovec), so a
 * message fanned out to many subscribers is never copied per subscriber.
 *
 * The encoder refuses (returns 0) the structural errors the decoder refuses
 * from a peer: a property, reason code or option the packet does not take, a
 * property out of range or repeated where it may not be, a string too long,
 * QoS 3, a packet id of 0, an empty topic without an alias, a flag
 * combination CONNECT forbids.  That keeps the broker from sending what it
 * would itself call malformed.  The bytes of strings are trusted: they come
 * from decoded packets or from the broker itself.
 */
#include "nmq_mqtt_wire.h"

typedef void (*s_body_fn)(nmq_wr_t *w, unsigned level, unsigned type, const void *pkt);

static bool s_v5(unsigned level)
{
    return level >= NMQ_MQTT_V5;
}

static void s_bad_unless(nmq_wr_t *w, bool ok)
{
    if (!ok)
        w->bad = 1;
}

static void s_props(nmq_wr_t *w, unsigned level, unsigned ctx, const nmq_mqtt_props_t *p)
{
    if (s_v5(level))
        nmq_mqtt_props_encode(w, ctx, p);
}

/* Acks go both ways: a code is fine if either side may send it there. */
static bool s_reason_ok(unsigned level, unsigned type, uint8_t code)
{
    if (!s_v5(level) && type != NMQ_MQTT_CONNACK && type != NMQ_MQTT_SUBACK)
        return code == 0;
    return nmq_mqtt_reason_ok(level, NMQ_MQTT_ROLE_SERVER, type, code) ||
           nmq_mqtt_reason_ok(level, NMQ_MQTT_ROLE_CLIENT, type, code);
}

static void s_connect(nmq_wr_t *w, unsigned level, unsigned type, const void *pkt)
{
    const nmq_mqtt_connect_t *c = pkt;
    uint8_t flags = (uint8_t)((c->clean_start & 1) << 1 | (c->will & 1) << 2 | (c->will_qos & 3) << 3 |
                              (c->will_retain & 1) << 5 | (c->has_password & 1) << 6 | (c->has_username & 1) << 7);
    s_bad_unless(w, c->will_qos < 3 && (c->will || (!c->will_qos && !c->will_retain)) &&
                        (c->has_username || !c->has_password || s_v5(level)) && !(c->bridge && s_v5(level)));
    nmq_wr_bin(w, level == NMQ_MQTT_V31 ? NMQ_MQTT_SLICE("MQIsdp") : NMQ_MQTT_SLICE("MQTT"));
    nmq_wr_u8(w, (uint8_t)(level | (c->bridge ? 0x80 : 0)));
    nmq_wr_u8(w, flags);
    nmq_wr_u16(w, c->keep_alive);
    s_props(w, level, NMQ_MQTT_CONNECT, &c->props);
    nmq_wr_bin(w, c->client_id);
    if (c->will) {
        s_props(w, level, NMQ_MQTT_WILL_PROPS, &c->will_props);
        nmq_wr_bin(w, c->will_topic);
        nmq_wr_bin(w, c->will_payload);
    }
    if (c->has_username)
        nmq_wr_bin(w, c->username);
    if (c->has_password)
        nmq_wr_bin(w, c->password);
}

static void s_connack(nmq_wr_t *w, unsigned level, unsigned type, const void *pkt)
{
    const nmq_mqtt_connack_t *c = pkt;
    s_bad_unless(w, s_reason_ok(level, type, c->reason) && !(c->session_present && c->reason));
    nmq_wr_u8(w, level == NMQ_MQTT_V31 ? 0 : c->session_present & 1);
    nmq_wr_u8(w, c->reason);
    s_props(w, level, type, &c->props);
}

static void s_publish_head(nmq_wr_t *w, unsigned level, const nmq_mqtt_publish_t *m)
{
    /* an empty topic only stands for a 5.0 topic alias */
    s_bad_unless(w, m->topic.len || (s_v5(level) && nmq_mqtt_props_has(&m->props, NMQ_PROP_TOPIC_ALIAS)));
    nmq_wr_bin(w, m->topic);
    if (m->qos) {
        s_bad_unless(w, m->packet_id != 0);
        nmq_wr_u16(w, m->packet_id);
    }
    s_props(w, level, NMQ_MQTT_PUBLISH, &m->props);
}

static void s_publish(nmq_wr_t *w, unsigned level, unsigned type, const void *pkt)
{
    const nmq_mqtt_publish_t *m = pkt;
    s_publish_head(w, level, m);
    nmq_wr_bytes(w, m->payload.ptr, m->payload.len);
}

/* The optional 5.0 tail of acks, DISCONNECT and AUTH: left out entirely for
 * success without properties, the properties left out when there are none. */
static void s_reason_tail(nmq_wr_t *w, unsigned level, unsigned type, uint8_t reason, const nmq_mqtt_props_t *p)
{
    s_bad_unless(w, s_reason_ok(level, type, reason));
    if (!s_v5(level) || (!reason && nmq_mqtt_props_empty(p)))
        return;
    nmq_wr_u8(w, reason);
    if (!nmq_mqtt_props_empty(p))
        nmq_mqtt_props_encode(w, type, p);
}

static void s_ack(nmq_wr_t *w, unsigned level, unsigned type, const void *pkt)
{
    const nmq_mqtt_ack_t *a = pkt;
    s_bad_unless(w, a->packet_id != 0);
    nmq_wr_u16(w, a->packet_id);
    s_reason_tail(w, level, type, a->reason, &a->props);
}

static void s_disconnect(nmq_wr_t *w, unsigned level, unsigned type, const void *pkt)
{
    const nmq_mqtt_disconnect_t *d = pkt;
    s_bad_unless(w, type != NMQ_MQTT_AUTH || s_v5(level));
    s_reason_tail(w, level, type, d->reason, &d->props);
}

static void s_list_head(nmq_wr_t *w, unsigned level, unsigned type, uint16_t id, const nmq_mqtt_props_t *p)
{
    s_bad_unless(w, id != 0);
    nmq_wr_u16(w, id);
    s_props(w, level, type, p);
}

static void s_subscribe(nmq_wr_t *w, unsigned level, unsigned type, const void *pkt)
{
    const nmq_mqtt_subscribe_t *s = pkt;
    nmq_mqtt_iter_t it = { 0, 0 };
    nmq_mqtt_sub_t e;
    s_list_head(w, level, type, s->packet_id, &s->props);
    while (nmq_mqtt_sub_next(s, &it, &e)) {
        uint8_t opts = e.qos;
        if (s_v5(level))
            opts |= (uint8_t)((e.no_local & 1) << 2 | (e.retain_as_published & 1) << 3 | e.retain_handling << 4);
        s_bad_unless(w, e.qos < 3 && e.retain_handling < 3);
        nmq_wr_bin(w, e.filter);
        nmq_wr_u8(w, opts);
    }
    s_bad_unless(w, s->count && it.idx == s->count);
}

static void s_unsubscribe(nmq_wr_t *w, unsigned level, unsigned type, const void *pkt)
{
    const nmq_mqtt_unsubscribe_t *u = pkt;
    nmq_mqtt_iter_t it = { 0, 0 };
    nmq_mqtt_slice_t f;
    s_list_head(w, level, type, u->packet_id, &u->props);
    while (nmq_mqtt_unsub_next(u, &it, &f))
        nmq_wr_bin(w, f);
    s_bad_unless(w, u->count && it.idx == u->count);
}

static void s_suback(nmq_wr_t *w, unsigned level, unsigned type, const void *pkt)
{
    const nmq_mqtt_suback_t *s = pkt;
    s_list_head(w, level, type, s->packet_id, &s->props);
    if (type == NMQ_MQTT_UNSUBACK && !s_v5(level))
        return;
    s_bad_unless(w, s->codes.len > 0);
    for (uint32_t i = 0; i < s->codes.len; i++)
        s_bad_unless(w, s_reason_ok(level, type, s->codes.ptr[i]));
    nmq_wr_bytes(w, s->codes.ptr, s->codes.len);
}

static void s_empty(nmq_wr_t *w, unsigned level, unsigned type, const void *pkt)
{
}

static const s_body_fn s_bodies[16] = NMQ_MQTT_LAYOUT_TABLE(s_);

/* The first byte: type and the flags the spec fixes, or PUBLISH's own. */
static int s_first_byte(unsigned type, const void *pkt)
{
    static const uint8_t fixed[16] = {
        [NMQ_MQTT_PUBREL] = 2, [NMQ_MQTT_SUBSCRIBE] = 2, [NMQ_MQTT_UNSUBSCRIBE] = 2,
    };
    if (type != NMQ_MQTT_PUBLISH)
        return (int)(type << 4 | fixed[type]);
    const nmq_mqtt_publish_t *m = pkt;
    if (m->qos > 2 || (m->dup && !m->qos))
        return -1;
    return NMQ_MQTT_PUBLISH << 4 | (m->dup & 1) << 3 | m->qos << 1 | (m->retain & 1);
}

static bool s_level_ok(unsigned level)
{
    return level >= NMQ_MQTT_V31 && level <= NMQ_MQTT_V5;
}

/* Measure the body, then write the fixed header and the body if the whole
 * fits.  `extra` bytes follow the body in the packet but are not written here
 * (a PUBLISH payload sent from where it lies). */
static size_t s_frame(uint8_t *buf, size_t cap, unsigned level, unsigned type, const void *pkt, s_body_fn body,
                      size_t extra)
{
    int first = s_first_byte(type, pkt);
    nmq_wr_t m = { NULL, 0, 0 };
    if (first < 0 || !s_level_ok(level) || !body)
        return 0;
    body(&m, level, type, pkt);
    size_t rl = m.n + extra;
    if (m.bad || rl > NMQ_MQTT_MAX_REMAINING)
        return 0;
    size_t total = 1 + nmq_varint_size((uint32_t)rl) + m.n;
    if (!buf || total > cap)
        return total;
    nmq_wr_t w = { buf, 0, 0 };
    nmq_wr_u8(&w, (uint8_t)first);
    nmq_wr_varint(&w, (uint32_t)rl);
    body(&w, level, type, pkt);
    return total;
}

static size_t s_encode(uint8_t *buf, size_t cap, unsigned level, unsigned type, const void *pkt)
{
    return type < 16 ? s_frame(buf, cap, level, type, pkt, s_bodies[type], 0) : 0;
}

size_t nmq_mqtt_encode(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_packet_t *p)
{
    return s_encode(buf, cap, level, p->type, &p->u);
}

size_t nmq_mqtt_encode_connect(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_connect_t *c)
{
    return s_encode(buf, cap, level, NMQ_MQTT_CONNECT, c);
}

size_t nmq_mqtt_encode_connack(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_connack_t *c)
{
    return s_encode(buf, cap, level, NMQ_MQTT_CONNACK, c);
}

size_t nmq_mqtt_encode_publish(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_publish_t *p)
{
    return s_encode(buf, cap, level, NMQ_MQTT_PUBLISH, p);
}

static bool s_is(unsigned type, unsigned a, unsigned b)
{
    return type == a || type == b;
}

size_t nmq_mqtt_encode_ack(uint8_t *buf, size_t cap, unsigned level, unsigned type, const nmq_mqtt_ack_t *a)
{
    bool ack = s_is(type, NMQ_MQTT_PUBACK, NMQ_MQTT_PUBREC) || s_is(type, NMQ_MQTT_PUBREL, NMQ_MQTT_PUBCOMP);
    return ack ? s_encode(buf, cap, level, type, a) : 0;
}

size_t nmq_mqtt_encode_subscribe(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_subscribe_t *s)
{
    return s_encode(buf, cap, level, NMQ_MQTT_SUBSCRIBE, s);
}

size_t nmq_mqtt_encode_unsubscribe(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_unsubscribe_t *u)
{
    return s_encode(buf, cap, level, NMQ_MQTT_UNSUBSCRIBE, u);
}

size_t nmq_mqtt_encode_suback(uint8_t *buf, size_t cap, unsigned level, unsigned type, const nmq_mqtt_suback_t *s)
{
    return s_is(type, NMQ_MQTT_SUBACK, NMQ_MQTT_UNSUBACK) ? s_encode(buf, cap, level, type, s) : 0;
}

size_t nmq_mqtt_encode_disconnect(uint8_t *buf, size_t cap, unsigned level, unsigned type,
                                  const nmq_mqtt_disconnect_t *d)
{
    return s_is(type, NMQ_MQTT_DISCONNECT, NMQ_MQTT_AUTH) ? s_encode(buf, cap, level, type, d) : 0;
}

size_t nmq_mqtt_encode_ping(uint8_t *buf, size_t cap, unsigned type)
{
    return s_is(type, NMQ_MQTT_PINGREQ, NMQ_MQTT_PINGRESP) ? s_encode(buf, cap, NMQ_MQTT_V311, type, NULL) : 0;
}

static void s_publish_head_body(nmq_wr_t *w, unsigned level, unsigned type, const void *pkt)
{
    s_publish_head(w, level, pkt);
}

size_t nmq_mqtt_encode_publish_header(uint8_t *buf, size_t cap, unsigned level, const nmq_mqtt_publish_t *p)
{
    return s_frame(buf, cap, level, NMQ_MQTT_PUBLISH, p, s_publish_head_body, p->payload.len);
}

int nmq_mqtt_encode_publish_iov(struct iovec iov[2], uint8_t *hdr, size_t cap, unsigned level,
                                const nmq_mqtt_publish_t *p)
{
    size_t n = nmq_mqtt_encode_publish_header(hdr, cap, level, p);
    if (!n || n > cap)
        return 0;
    iov[0] = (struct iovec){ hdr, n };
    if (!p->payload.len)
        return 1;
    iov[1] = (struct iovec){ (void *)p->payload.ptr, p->payload.len };
    return 2;
}
