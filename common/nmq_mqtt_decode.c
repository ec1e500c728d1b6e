/* nmq_mqtt_decode — bytes from the network to nmq_mqtt_packet_t.
 *
 * The decoder keeps no bytes of its own: each call looks at what the caller
 * has buffered and either decodes one whole packet or says how much more it
 * needs, so a packet split anywhere across reads and many packets in one read
 * are the same case.  The first byte is judged as soon as it is there (type,
 * reserved flags, direction, CONNECT first), and the remaining length as soon
 * as it is complete, against the maximum packet size: a peer cannot make the
 * acceptor wait for, or buffer, a body it will refuse.  The checks run in
 * wire order on every path, so the error for a stream does not depend on how
 * it was cut into reads (the fuzzer holds us to that).
 *
 * Which packet types exist at a level, who may send them and what their
 * fixed-header flags must be is one table (s_types); each layout then has
 * one small function for its body (s_decoders).  A server-side decoder
 * learns the protocol level from the CONNECT and decodes the rest of the
 * connection with it.
 */
#include "nmq_mqtt_wire.h"
#include "nmq_topic_validate.h"

#define BY_CLIENT 1
#define BY_SERVER 2
#define BOTH (BY_CLIENT | BY_SERVER)
#define FLAGS_PUBLISH 0xFF      /* the low nibble carries DUP, QoS, RETAIN */

typedef int (*s_decode_fn)(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p);

static int s_connect(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p);
static int s_connack(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p);
static int s_publish(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p);
static int s_ack(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p);
static int s_subscribe(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p);
static int s_suback(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p);
static int s_unsubscribe(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p);
static int s_empty(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p);
static int s_disconnect(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p);

/* Fixed-header flags (3.1.1 table 2.2 [MQTT-2.2.2-1], 5.0 table 2-2
 * [MQTT-2.1.3-1]) and who sends each type in 3.x and in 5.0 (0: the type is
 * reserved at that level). */
static const struct {
    uint8_t flags;
    uint8_t by_v3;
    uint8_t by_v5;
} s_types[16] = {
    [NMQ_MQTT_CONNECT] = { 0x0, BY_CLIENT, BY_CLIENT },
    [NMQ_MQTT_CONNACK] = { 0x0, BY_SERVER, BY_SERVER },
    [NMQ_MQTT_PUBLISH] = { FLAGS_PUBLISH, BOTH, BOTH },
    [NMQ_MQTT_PUBACK] = { 0x0, BOTH, BOTH },
    [NMQ_MQTT_PUBREC] = { 0x0, BOTH, BOTH },
    [NMQ_MQTT_PUBREL] = { 0x2, BOTH, BOTH },
    [NMQ_MQTT_PUBCOMP] = { 0x0, BOTH, BOTH },
    [NMQ_MQTT_SUBSCRIBE] = { 0x2, BY_CLIENT, BY_CLIENT },
    [NMQ_MQTT_SUBACK] = { 0x0, BY_SERVER, BY_SERVER },
    [NMQ_MQTT_UNSUBSCRIBE] = { 0x2, BY_CLIENT, BY_CLIENT },
    [NMQ_MQTT_UNSUBACK] = { 0x0, BY_SERVER, BY_SERVER },
    [NMQ_MQTT_PINGREQ] = { 0x0, BY_CLIENT, BY_CLIENT },
    [NMQ_MQTT_PINGRESP] = { 0x0, BY_SERVER, BY_SERVER },
    [NMQ_MQTT_DISCONNECT] = { 0x0, BY_CLIENT, BOTH },
    [NMQ_MQTT_AUTH] = { 0x0, 0, BOTH },
};

/* The body decoder of each type. */
static const s_decode_fn s_decoders[16] = NMQ_MQTT_LAYOUT_TABLE(s_);

void nmq_mqtt_decoder_init(nmq_mqtt_decoder_t *d, nmq_mqtt_role_t role, unsigned level, uint32_t max_packet)
{
    *d = (nmq_mqtt_decoder_t){
        .max_packet = max_packet ? max_packet : NMQ_MQTT_MAX_PACKET,
        .role = (uint8_t)role,
        .level = (uint8_t)level,
        .connected = level != NMQ_MQTT_LEVEL_UNKNOWN,
    };
}

/* --- the fixed header --------------------------------------------------------- */

/* QoS 3 is malformed [MQTT-3.3.1-4]; DUP is 0 on QoS 0 [MQTT-3.3.1-2]. */
static int s_publish_flags(unsigned flags)
{
    unsigned qos = flags >> 1 & 3;
    if (qos == 3)
        return NMQ_MQTT_E_QOS;
    return (flags & 8) && !qos ? NMQ_MQTT_E_DUP_QOS0 : 0;
}

static int s_first_byte(const nmq_mqtt_decoder_t *d, uint8_t b)
{
    unsigned type = b >> 4, flags = b & 0xF;
    bool server = d->role == NMQ_MQTT_ROLE_SERVER;
    if (server && !d->connected && type != NMQ_MQTT_CONNECT)
        return NMQ_MQTT_E_NOT_CONNECT;              /* [MQTT-3.1.0-1] */
    if (server && d->connected && type == NMQ_MQTT_CONNECT)
        return NMQ_MQTT_E_SECOND_CONNECT;           /* [MQTT-3.1.0-2] */
    uint8_t by = d->level >= NMQ_MQTT_V5 ? s_types[type].by_v5 : s_types[type].by_v3;
    if (!by)
        return NMQ_MQTT_E_PACKET_TYPE;
    if (!(by & (server ? BY_CLIENT : BY_SERVER)))
        return NMQ_MQTT_E_DIRECTION;
    if (s_types[type].flags == FLAGS_PUBLISH)
        return s_publish_flags(flags);
    /* 3.1 set DUP on a resent PUBREL, SUBSCRIBE or UNSUBSCRIBE */
    if (d->level == NMQ_MQTT_V31 && s_types[type].flags == 0x2)
        flags &= ~8u;
    return flags != s_types[type].flags ? NMQ_MQTT_E_HEADER_FLAGS : 0;
}

static nmq_mqtt_result_t s_need(size_t n)
{
    return (nmq_mqtt_result_t){ NMQ_MQTT_NEED_MORE, 0, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n };
}

static nmq_mqtt_result_t s_fail(nmq_mqtt_decoder_t *d, unsigned type, int e)
{
    d->err = (uint8_t)e;
    d->err_type = (uint8_t)type;
    return (nmq_mqtt_result_t){ NMQ_MQTT_ERROR, (uint8_t)e, 0 };
}

/* The remaining length: 1 to 4 bytes, minimal [MQTT-1.5.5-1].  Returns the
 * number of its bytes, 0 if more are needed, or -1 if malformed. */
static int s_remaining(const uint8_t *buf, size_t len, uint32_t *rl)
{
    uint32_t v = 0;
    for (size_t i = 1; i <= 4; i++) {
        if (i >= len)
            return 0;
        v |= (uint32_t)(buf[i] & 0x7F) << (7 * (i - 1));
        if (!(buf[i] & 0x80)) {
            *rl = v;
            return i > 1 && !buf[i] ? -1 : (int)i;
        }
    }
    return -1;
}

nmq_mqtt_result_t nmq_mqtt_decode(nmq_mqtt_decoder_t *d, const uint8_t *buf, size_t len, nmq_mqtt_packet_t *out)
{
    if (d->err)
        return (nmq_mqtt_result_t){ NMQ_MQTT_ERROR, d->err, 0 };
    if (!len)
        return s_need(1);
    unsigned type = buf[0] >> 4;
    int e = s_first_byte(d, buf[0]);
    if (e)
        return s_fail(d, type, e);
    uint32_t rl = 0;
    int n = s_remaining(buf, len, &rl);
    if (n < 0)
        return s_fail(d, type, NMQ_MQTT_E_REMAINING_LENGTH);
    if (n == 0)
        return s_need(len + 1);
    size_t total = 1 + (size_t)n + rl;
    if (total > d->max_packet)
        return s_fail(d, type, NMQ_MQTT_E_TOO_LARGE);
    if (len < total)
        return s_need(total);
    nmq_rd_t r = { buf + 1 + n, buf + total };
    out->type = (uint8_t)type;
    out->flags = buf[0] & 0xF;
    e = s_decoders[type](d, &r, out);
    if (!e && r.p != r.end)
        e = NMQ_MQTT_E_TRAILING_BYTES;
    if (e)
        return s_fail(d, type, e);
    if (type == NMQ_MQTT_CONNECT)
        d->connected = 1;
    return (nmq_mqtt_result_t){ NMQ_MQTT_OK, 0, (uint32_t)total };
}

/* --- shared pieces -------------------------------------------------------------- */

/* Non-zero where one is required [MQTT-2.3.1-1] [MQTT-2.2.1-3]. */
static int s_packet_id(nmq_rd_t *r, uint16_t *id)
{
    int e = nmq_rd_u16(r, id);
    return e ? e : *id ? 0 : NMQ_MQTT_E_PACKET_ID;
}

static int s_props(const nmq_mqtt_decoder_t *d, nmq_rd_t *r, unsigned ctx, nmq_mqtt_props_t *p)
{
    if (d->level < NMQ_MQTT_V5) {
        nmq_mqtt_props_clear(p);
        return 0;
    }
    return nmq_mqtt_props_decode(r, ctx, (nmq_mqtt_role_t)d->role, p);
}

static nmq_mqtt_slice_t s_rest(nmq_rd_t *r)
{
    nmq_mqtt_slice_t s = { r->p, (uint32_t)nmq_rd_left(r) };
    r->p = r->end;
    return s;
}

static int s_reason(const nmq_mqtt_decoder_t *d, unsigned type, uint8_t code)
{
    return nmq_mqtt_reason_ok(d->level, (nmq_mqtt_role_t)d->role, type, code) ? 0 : NMQ_MQTT_E_REASON_CODE;
}

/* The 5.0 tail of acks, DISCONNECT and AUTH: a reason code and properties,
 * either of which may be left out when it would be the default. */
static int s_reason_props(const nmq_mqtt_decoder_t *d, nmq_rd_t *r, unsigned type, uint8_t *reason,
                          nmq_mqtt_props_t *props)
{
    int e;
    *reason = 0;
    nmq_mqtt_props_clear(props);
    if (d->level < NMQ_MQTT_V5)
        return 0;
    if (nmq_rd_left(r))
        *reason = *r->p++;
    if ((e = s_reason(d, type, *reason)))
        return e;
    return nmq_rd_left(r) ? nmq_mqtt_props_decode(r, type, (nmq_mqtt_role_t)d->role, props) : 0;
}

/* --- CONNECT --------------------------------------------------------------------- */

static const struct {
    const char *name;
    uint8_t len, min, max;
} s_protocols[] = {
    { "MQTT", 4, NMQ_MQTT_V311, NMQ_MQTT_V5 },
    { "MQIsdp", 6, NMQ_MQTT_V31, NMQ_MQTT_V31 },
};

/* Name and level must agree [MQTT-3.1.2-1] [MQTT-3.1.2-2].  The top bit of
 * the level marks a bridge in 3.x (mosquitto, VerneMQ). */
static int s_protocol(nmq_mqtt_slice_t name, uint8_t level, nmq_mqtt_connect_t *c)
{
    for (size_t i = 0; i < sizeof s_protocols / sizeof s_protocols[0]; i++) {
        if (name.len != s_protocols[i].len || memcmp(name.ptr, s_protocols[i].name, name.len))
            continue;
        c->bridge = level >> 7;
        c->level = level & 0x7F;
        if (c->level < s_protocols[i].min || c->level > s_protocols[i].max ||
            (c->bridge && c->level == NMQ_MQTT_V5))
            return NMQ_MQTT_E_PROTOCOL_VERSION;
        return 0;
    }
    return NMQ_MQTT_E_PROTOCOL_NAME;
}

static int s_connect_flags(nmq_mqtt_connect_t *c, uint8_t f)
{
    c->clean_start = f >> 1 & 1;
    c->will = f >> 2 & 1;
    c->will_qos = f >> 3 & 3;
    c->will_retain = f >> 5 & 1;
    c->has_password = f >> 6 & 1;
    c->has_username = f >> 7 & 1;
    if (f & 1)
        return NMQ_MQTT_E_CONNECT_RESERVED;         /* [MQTT-3.1.2-3] */
    if (!c->will && (c->will_qos || c->will_retain))
        return NMQ_MQTT_E_WILL_FLAGS;               /* [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15] */
    if (c->will_qos == 3)
        return NMQ_MQTT_E_WILL_QOS;                 /* [MQTT-3.1.2-14] */
    if (c->has_password && !c->has_username && c->level < NMQ_MQTT_V5)
        return NMQ_MQTT_E_PASSWORD_FLAG;            /* 3.1.1 [MQTT-3.1.2-22]; 5.0 allows it */
    return 0;
}

static const nmq_mqtt_slice_t s_none = { NULL, 0 };

static int s_will(const nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_connect_t *c)
{
    int e;
    c->will_topic = c->will_payload = s_none;
    if (!c->will) {
        nmq_mqtt_props_clear(&c->will_props);
        return 0;
    }
    if ((e = s_props(d, r, NMQ_MQTT_WILL_PROPS, &c->will_props)) || (e = nmq_rd_str(r, &c->will_topic)) ||
        (e = nmq_rd_bin(r, &c->will_payload)))
        return e;
    return nmq_topic_name_check(c->will_topic.ptr, c->will_topic.len) ? NMQ_MQTT_E_TOPIC_NAME : 0;
}

static int s_connect(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p)
{
    nmq_mqtt_connect_t *c = &p->u.connect;
    nmq_mqtt_slice_t name;
    uint8_t level, flags;
    int e;
    if ((e = nmq_rd_bin(r, &name)) || (e = nmq_rd_u8(r, &level)) || (e = s_protocol(name, level, c)))
        return e;
    d->level = c->level;
    if ((e = nmq_rd_u8(r, &flags)) || (e = s_connect_flags(c, flags)) || (e = nmq_rd_u16(r, &c->keep_alive)) ||
        (e = s_props(d, r, NMQ_MQTT_CONNECT, &c->props)) || (e = nmq_rd_str(r, &c->client_id)) ||
        (e = s_will(d, r, c)))
        return e;
    c->username = c->password = s_none;
    if ((c->has_username && (e = nmq_rd_str(r, &c->username))) ||
        (c->has_password && (e = nmq_rd_bin(r, &c->password))))
        return e;
    if (r->p != r->end)
        return NMQ_MQTT_E_TRAILING_BYTES;
    /* only a well-formed CONNECT gets the CONNACK 0x02 [MQTT-3.1.3-8] */
    if (c->level == NMQ_MQTT_V311 && !c->client_id.len && !c->clean_start)
        return NMQ_MQTT_E_CLIENT_ID;
    return 0;
}

/* --- the others ------------------------------------------------------------------ */

static int s_connack(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p)
{
    nmq_mqtt_connack_t *c = &p->u.connack;
    uint8_t flags;
    int e;
    nmq_mqtt_props_clear(&c->props);
    if ((e = nmq_rd_u8(r, &flags)) || (e = nmq_rd_u8(r, &c->reason)))
        return e;
    /* 3.1 had no session present: the byte was reserved and unused */
    c->session_present = d->level == NMQ_MQTT_V31 ? 0 : flags & 1;
    if (d->level > NMQ_MQTT_V31 && (flags & 0xFE))
        return NMQ_MQTT_E_CONNACK_FLAGS;            /* 5.0 [MQTT-3.2.2-1] */
    if ((e = s_reason(d, NMQ_MQTT_CONNACK, c->reason)))
        return e;
    if (c->session_present && c->reason)
        return NMQ_MQTT_E_SESSION_PRESENT;          /* 3.1.1 [MQTT-3.2.2-4], 5.0 [MQTT-3.2.2-6] */
    return s_props(d, r, NMQ_MQTT_CONNACK, &c->props);
}

static int s_publish(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p)
{
    nmq_mqtt_publish_t *m = &p->u.publish;
    int e;
    m->qos = p->flags >> 1 & 3;
    m->dup = p->flags >> 3;
    m->retain = p->flags & 1;
    m->packet_id = 0;
    if ((e = nmq_rd_str(r, &m->topic)) || (m->qos && (e = s_packet_id(r, &m->packet_id))) ||
        (e = s_props(d, r, NMQ_MQTT_PUBLISH, &m->props)))
        return e;
    m->payload = s_rest(r);
    if (!m->topic.len)                              /* [MQTT-3.3.2-1] [MQTT-4.7.3-1] */
        return d->level < NMQ_MQTT_V5 ? NMQ_MQTT_E_TOPIC_NAME
               : nmq_mqtt_props_has(&m->props, NMQ_PROP_TOPIC_ALIAS) ? 0
                                                                      : NMQ_MQTT_E_TOPIC_MISSING;
    return nmq_topic_name_check(m->topic.ptr, m->topic.len) ? NMQ_MQTT_E_TOPIC_NAME : 0;
}

static int s_ack(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p)
{
    nmq_mqtt_ack_t *a = &p->u.ack;
    int e = s_packet_id(r, &a->packet_id);
    return e ? e : s_reason_props(d, r, p->type, &a->reason, &a->props);
}

static int s_disconnect(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p)
{
    return s_reason_props(d, r, p->type, &p->u.disconnect.reason, &p->u.disconnect.props);
}

static int s_empty(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p)
{
    return 0;
}

static void s_sub_options(uint8_t o, nmq_mqtt_sub_t *s)
{
    s->qos = o & 3;
    s->no_local = o >> 2 & 1;
    s->retain_as_published = o >> 3 & 1;
    s->retain_handling = o >> 4 & 3;
}

static int s_sub_read(nmq_rd_t *r, nmq_mqtt_sub_t *s, uint8_t *opts)
{
    int e = nmq_rd_str(r, &s->filter);
    if (e || (e = nmq_rd_u8(r, opts)))
        return e;
    s_sub_options(*opts, s);
    return 0;
}

static int s_filter(nmq_mqtt_slice_t f, nmq_topic_share_t *sh)
{
    nmq_topic_status_t st = nmq_topic_filter_check(f.ptr, f.len, sh);
    return st == NMQ_TOPIC_OK ? 0 : st == NMQ_TOPIC_BAD_SHARE ? NMQ_MQTT_E_SHARE : NMQ_MQTT_E_FILTER;
}

/* [MQTT-3.8.3-1] [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.8.2-1] [MQTT-4.8.2-2];
 * options: 3.1.1 [MQTT-3-8.3-4], 5.0 [MQTT-3.8.3-4] [MQTT-3.8.3-5]. */
static int s_sub_check(unsigned level, const nmq_mqtt_sub_t *s, uint8_t opts)
{
    nmq_topic_share_t sh;
    int e = s_filter(s->filter, &sh);
    if (e)
        return e;
    if (opts & (level >= NMQ_MQTT_V5 ? 0xC0 : 0xFC))
        return NMQ_MQTT_E_SUB_OPTIONS;
    if (s->qos == 3)
        return NMQ_MQTT_E_SUB_QOS;
    if (s->retain_handling == 3)
        return NMQ_MQTT_E_RETAIN_HANDLING;
    return s->no_local && sh.group_len ? NMQ_MQTT_E_SHARE_NO_LOCAL : 0;
}

/* Packet id, properties, then a payload that must hold one entry or more
 * [MQTT-3.8.3-3] [MQTT-3.10.3-2]. */
static int s_list_head(const nmq_mqtt_decoder_t *d, nmq_rd_t *r, unsigned type, uint16_t *id,
                       nmq_mqtt_props_t *props, nmq_mqtt_slice_t *raw)
{
    int e = s_packet_id(r, id);
    if (e || (e = s_props(d, r, type, props)))
        return e;
    *raw = (nmq_mqtt_slice_t){ r->p, (uint32_t)nmq_rd_left(r) };
    return raw->len ? 0 : NMQ_MQTT_E_NO_ENTRIES;
}

static int s_subscribe(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p)
{
    nmq_mqtt_subscribe_t *s = &p->u.subscribe;
    nmq_mqtt_sub_t sub;
    uint8_t opts;
    int e;
    s->count = 0;
    s->subs = NULL;
    if ((e = s_list_head(d, r, NMQ_MQTT_SUBSCRIBE, &s->packet_id, &s->props, &s->raw)))
        return e;
    for (; nmq_rd_left(r); s->count++)
        if ((e = s_sub_read(r, &sub, &opts)) || (e = s_sub_check(d->level, &sub, opts)))
            return e;
    return 0;
}

static int s_unsubscribe(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p)
{
    nmq_mqtt_unsubscribe_t *u = &p->u.unsubscribe;
    nmq_mqtt_slice_t f;
    int e;
    u->count = 0;
    u->filters = NULL;
    if ((e = s_list_head(d, r, NMQ_MQTT_UNSUBSCRIBE, &u->packet_id, &u->props, &u->raw)))
        return e;
    for (; nmq_rd_left(r); u->count++)
        if ((e = nmq_rd_str(r, &f)) || (e = s_filter(f, NULL)))   /* [MQTT-3.10.3-1] */
            return e;
    return 0;
}

/* SUBACK and UNSUBACK; a 3.x UNSUBACK is the packet id alone. */
static int s_suback(nmq_mqtt_decoder_t *d, nmq_rd_t *r, nmq_mqtt_packet_t *p)
{
    nmq_mqtt_suback_t *s = &p->u.suback;
    int e;
    s->codes = s_none;
    if (p->type == NMQ_MQTT_UNSUBACK && d->level < NMQ_MQTT_V5) {
        nmq_mqtt_props_clear(&s->props);
        return s_packet_id(r, &s->packet_id);
    }
    if ((e = s_list_head(d, r, p->type, &s->packet_id, &s->props, &s->codes)))
        return e;
    r->p = r->end;
    for (uint32_t i = 0; i < s->codes.len; i++)
        if ((e = s_reason(d, p->type, s->codes.ptr[i])))
            return e;
    return 0;
}

/* --- list iterators -------------------------------------------------------------- */

static int s_read_sub(nmq_rd_t *r, void *out)
{
    uint8_t opts;
    return s_sub_read(r, out, &opts);
}

static int s_read_filter(nmq_rd_t *r, void *out)
{
    return nmq_rd_bin(r, out);
}

bool nmq_mqtt_sub_next(const nmq_mqtt_subscribe_t *s, nmq_mqtt_iter_t *it, nmq_mqtt_sub_t *out)
{
    return nmq_mqtt_list_next(s->subs, sizeof *s->subs, s->count, s->raw, it, s_read_sub, out);
}

bool nmq_mqtt_unsub_next(const nmq_mqtt_unsubscribe_t *u, nmq_mqtt_iter_t *it, nmq_mqtt_slice_t *out)
{
    return nmq_mqtt_list_next(u->filters, sizeof *u->filters, u->count, u->raw, it, s_read_filter, out);
}
