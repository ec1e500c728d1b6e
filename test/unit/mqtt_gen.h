/* mqtt_gen — random valid MQTT packets from a seeded PRNG, for the codec's
 * round-trip suite and for writing the fuzzer's seed corpus.
 *
 * Header-only (static functions) because the build makes one program of each
 * test/unit/check_*.c file.  Everything a packet points to lives in the
 * generator's arena, which mqtt_gen_reset() empties, so one generator makes
 * any number of packets without allocating.  The same seed gives the same
 * packets on every machine (splitmix64, no libc rand).
 *
 * "Valid" means what nmq_mqtt_decode() must accept from that sender at that
 * level: every property allowed in the packet and from that side, values in
 * range, topics and filters well-formed UTF-8 including multi-byte
 * characters, reason codes from the spec's tables.
 */
#ifndef MQTT_GEN_H
#define MQTT_GEN_H

#include "nmq_mqtt.h"

#include <string.h>

#define GEN_ARENA (4u << 20)
#define GEN_LIST 16

typedef struct {
    uint64_t state;
    size_t used;
    unsigned npairs, nids, nsubs, nfilters;
    nmq_mqtt_pair_t pairs[4 * GEN_LIST];
    uint32_t ids[4 * GEN_LIST];
    nmq_mqtt_sub_t subs[GEN_LIST];
    nmq_mqtt_slice_t filters[GEN_LIST];
    uint8_t arena[GEN_ARENA];
} mqtt_gen_t;

static inline void mqtt_gen_seed(mqtt_gen_t *g, uint64_t seed)
{
    g->state = seed;
    g->used = 0;
    g->npairs = g->nids = g->nsubs = g->nfilters = 0;
}

static inline void mqtt_gen_reset(mqtt_gen_t *g)
{
    g->used = 0;
    g->npairs = g->nids = g->nsubs = g->nfilters = 0;
}

static inline uint64_t gen_rand(mqtt_gen_t *g)
{
    uint64_t z = (g->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint32_t gen_below(mqtt_gen_t *g, uint32_t n)
{
    return n ? (uint32_t)(gen_rand(g) % n) : 0;
}

static inline int gen_chance(mqtt_gen_t *g, unsigned num, unsigned den)
{
    return gen_below(g, den) < num;
}

static inline uint8_t *gen_alloc(mqtt_gen_t *g, size_t n)
{
    if (g->used + n > GEN_ARENA)
        g->used = 0;    /* only reached by a test that forgot to reset */
    uint8_t *p = g->arena + g->used;
    g->used += n;
    return p;
}

/* Mostly short, sometimes a few hundred bytes, rarely thousands. */
static inline uint32_t gen_len(mqtt_gen_t *g, uint32_t cap)
{
    uint32_t n = gen_chance(g, 1, 50) ? gen_below(g, 5000) : gen_chance(g, 1, 8) ? gen_below(g, 300)
                                                                                   : gen_below(g, 17);
    return n > cap ? cap : n;
}

/* One UTF-8 character, never U+0000 nor a surrogate; `plain` keeps out
 * '/', '+' and '#' (a topic level). */
static inline unsigned gen_char(mqtt_gen_t *g, uint8_t *o, int plain)
{
    uint32_t kind = gen_below(g, 20), cp;
    if (kind < 14) {
        do
            cp = 1 + gen_below(g, 0x7F);
        while (plain && (cp == '/' || cp == '+' || cp == '#'));
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (kind < 17) {
        cp = 0x80 + gen_below(g, 0x780);
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (kind < 19) {
        do
            cp = 0x800 + gen_below(g, 0x10000 - 0x800);
        while (cp >= 0xD800 && cp <= 0xDFFF);
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    cp = 0x10000 + gen_below(g, 0x100000);
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string of about `chars` characters appended at p; returns its bytes. */
static inline uint32_t gen_chars(mqtt_gen_t *g, uint8_t *p, uint32_t chars, int plain)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < chars; i++)
        n += gen_char(g, p + n, plain);
    return n;
}

static inline nmq_mqtt_slice_t gen_string(mqtt_gen_t *g, uint32_t min)
{
    uint32_t chars = gen_len(g, 8000);
    if (chars < min)
        chars = min;
    uint8_t *p = gen_alloc(g, 4 * (size_t)chars);
    return (nmq_mqtt_slice_t){ p, gen_chars(g, p, chars, 0) };
}

static inline nmq_mqtt_slice_t gen_binary(mqtt_gen_t *g, uint32_t cap)
{
    uint32_t n = gen_len(g, cap);
    uint8_t *p = gen_alloc(g, n);
    for (uint32_t i = 0; i < n; i++)
        p[i] = (uint8_t)gen_rand(g);
    return (nmq_mqtt_slice_t){ p, n };
}

/* Levels of plain characters (some empty, some '$' first) joined by '/';
 * with `filter`, some levels are '+' and the last may be '#'. */
static inline nmq_mqtt_slice_t gen_topic(mqtt_gen_t *g, int filter)
{
    uint32_t levels = 1 + gen_below(g, 6), n = 0;
    uint8_t *p = gen_alloc(g, 64 + 4 * 12 * (size_t)levels);
    if (filter && gen_chance(g, 1, 8)) {
        memcpy(p, "$share/", 7);
        n = 7 + gen_chars(g, p + 7, 1 + gen_below(g, 6), 1);
        p[n++] = '/';
    }
    uint32_t start = n;
    for (uint32_t l = 0; l < levels; l++) {
        if (l)
            p[n++] = '/';
        if (filter && l + 1 == levels && gen_chance(g, 1, 5))
            p[n++] = '#';
        else if (filter && gen_chance(g, 1, 5))
            p[n++] = '+';
        else if (l == 0 && gen_chance(g, 1, 10))
            p[n++] = '$';
        else
            n += gen_chars(g, p + n, gen_below(g, 9), 1);
    }
    if (n == start)
        p[n++] = 'x';
    return (nmq_mqtt_slice_t){ p, n };
}

static inline uint32_t gen_int(mqtt_gen_t *g, const nmq_mqtt_prop_info_t *row)
{
    uint64_t span = (uint64_t)row->max - row->min + 1;
    uint32_t v = gen_chance(g, 1, 2) ? (uint32_t)(gen_rand(g) % span) : gen_below(g, 300);
    v = row->min + (v % span);
    return v;
}

/* Fill the field of one single-valued property. */
static inline void gen_prop(mqtt_gen_t *g, const nmq_mqtt_prop_info_t *row, nmq_mqtt_props_t *p)
{
    void *f = (uint8_t *)p + row->offset;
    p->present |= 1ull << row->id;
    switch (row->type) {
    case NMQ_PT_BYTE:
        *(uint8_t *)f = (uint8_t)gen_int(g, row);
        break;
    case NMQ_PT_U16:
        *(uint16_t *)f = (uint16_t)gen_int(g, row);
        break;
    case NMQ_PT_U32:
    case NMQ_PT_VARINT:
        *(uint32_t *)f = gen_int(g, row);
        break;
    case NMQ_PT_BINARY:
        *(nmq_mqtt_slice_t *)f = gen_binary(g, 2000);
        break;
    default:
        *(nmq_mqtt_slice_t *)f = row->flags & NMQ_PF_TOPIC ? gen_topic(g, 0) : gen_string(g, 0);
    }
}

static inline void gen_lists(mqtt_gen_t *g, unsigned ctx, nmq_mqtt_props_t *p, int may_sub_id)
{
    const nmq_mqtt_prop_info_t *sid = nmq_mqtt_prop_info(NMQ_PROP_SUBSCRIPTION_ID);
    p->n_user = gen_chance(g, 1, 3) ? gen_below(g, 4) : 0;
    p->user = g->pairs + g->npairs;
    for (uint32_t i = 0; i < p->n_user; i++)
        g->pairs[g->npairs++] = (nmq_mqtt_pair_t){ gen_string(g, 0), gen_string(g, 0) };
    if (!may_sub_id || !gen_chance(g, 1, 3))
        return;
    p->n_sub_id = ctx == NMQ_MQTT_PUBLISH ? 1 + gen_below(g, 3) : 1;
    p->sub_ids = g->ids + g->nids;
    for (uint32_t i = 0; i < p->n_sub_id; i++)
        g->ids[g->nids++] = gen_int(g, sid);
}

/* Properties a client (from_client) or a server may send in context ctx. */
static inline void gen_props(mqtt_gen_t *g, unsigned level, unsigned ctx, int from_client, nmq_mqtt_props_t *p)
{
    nmq_mqtt_props_clear(p);
    if (level < NMQ_MQTT_V5)
        return;
    int may_sub_id = 0;
    for (unsigned id = 1; id <= NMQ_PROP_ID_MAX; id++) {
        const nmq_mqtt_prop_info_t *row = nmq_mqtt_prop_info(id);
        if (!row || !((from_client ? row->by_client : row->by_server) & NMQ_MQTT_BIT(ctx)))
            continue;
        if (row->flags & NMQ_PF_LIST)
            may_sub_id |= id == NMQ_PROP_SUBSCRIPTION_ID;
        else if (gen_chance(g, 1, 3))
            gen_prop(g, row, p);
    }
    if (nmq_mqtt_props_has(p, NMQ_PROP_AUTH_DATA) && !nmq_mqtt_props_has(p, NMQ_PROP_AUTH_METHOD))
        gen_prop(g, nmq_mqtt_prop_info(NMQ_PROP_AUTH_METHOD), p);
    gen_lists(g, ctx, p, may_sub_id);
}

/* A reason code the spec lets this side put in this packet. */
static inline uint8_t gen_reason(mqtt_gen_t *g, unsigned level, int from_client, unsigned type)
{
    nmq_mqtt_role_t receiver = from_client ? NMQ_MQTT_ROLE_SERVER : NMQ_MQTT_ROLE_CLIENT;
    if (level < NMQ_MQTT_V5 && type != NMQ_MQTT_CONNACK && type != NMQ_MQTT_SUBACK)
        return 0;
    for (;;) {
        uint8_t c = gen_chance(g, 1, 3) ? 0 : (uint8_t)gen_rand(g);
        if (nmq_mqtt_reason_ok(level, receiver, type, c))
            return c;
    }
}

static inline uint16_t gen_id(mqtt_gen_t *g)
{
    return (uint16_t)(1 + gen_below(g, 65535));
}

static inline void gen_connect(mqtt_gen_t *g, unsigned level, nmq_mqtt_connect_t *c)
{
    memset(c, 0, sizeof *c);
    c->level = (uint8_t)level;
    c->bridge = level < NMQ_MQTT_V5 && gen_chance(g, 1, 10);
    c->clean_start = gen_chance(g, 1, 2);
    c->keep_alive = (uint16_t)gen_rand(g);
    gen_props(g, level, NMQ_MQTT_CONNECT, 1, &c->props);
    c->client_id = gen_string(g, level == NMQ_MQTT_V311 && !c->clean_start ? 1 : 0);
    c->will = gen_chance(g, 1, 3);
    if (c->will) {
        c->will_qos = (uint8_t)gen_below(g, 3);
        c->will_retain = gen_chance(g, 1, 2);
        gen_props(g, level, NMQ_MQTT_WILL_PROPS, 1, &c->will_props);
        c->will_topic = gen_topic(g, 0);
        c->will_payload = gen_binary(g, 20000);
    } else {
        nmq_mqtt_props_clear(&c->will_props);
    }
    c->has_username = gen_chance(g, 1, 2);
    c->has_password = (c->has_username || level == NMQ_MQTT_V5) && gen_chance(g, 1, 2);
    if (c->has_username)
        c->username = gen_string(g, 0);
    if (c->has_password)
        c->password = gen_binary(g, 300);
}

static inline void gen_publish(mqtt_gen_t *g, unsigned level, int from_client, nmq_mqtt_publish_t *m)
{
    m->qos = (uint8_t)gen_below(g, 3);
    m->dup = m->qos && gen_chance(g, 1, 4);
    m->retain = gen_chance(g, 1, 4);
    m->packet_id = m->qos ? gen_id(g) : 0;
    gen_props(g, level, NMQ_MQTT_PUBLISH, from_client, &m->props);
    bool alias = nmq_mqtt_props_has(&m->props, NMQ_PROP_TOPIC_ALIAS);
    m->topic = alias && gen_chance(g, 1, 2) ? (nmq_mqtt_slice_t){ NULL, 0 } : gen_topic(g, 0);
    m->payload = gen_binary(g, 200);
    if (gen_chance(g, 1, 200)) {    /* remaining length of 3 bytes */
        uint32_t n = 16384 + gen_below(g, 60000);
        m->payload = (nmq_mqtt_slice_t){ gen_alloc(g, n), n };
        memset((uint8_t *)m->payload.ptr, 'p', n);
    }
}

static inline void gen_subscribe(mqtt_gen_t *g, unsigned level, nmq_mqtt_subscribe_t *s)
{
    s->packet_id = gen_id(g);
    gen_props(g, level, NMQ_MQTT_SUBSCRIBE, 1, &s->props);
    s->count = 1 + gen_below(g, 5);
    s->subs = g->subs + g->nsubs;
    s->raw = (nmq_mqtt_slice_t){ NULL, 0 };
    for (uint32_t i = 0; i < s->count; i++) {
        nmq_mqtt_sub_t *e = &g->subs[g->nsubs++];
        memset(e, 0, sizeof *e);
        e->filter = gen_topic(g, 1);
        e->qos = (uint8_t)gen_below(g, 3);
        if (level < NMQ_MQTT_V5)
            continue;
        e->no_local = memcmp(e->filter.ptr, "$share/", e->filter.len < 7 ? e->filter.len : 7) &&
                      gen_chance(g, 1, 3);
        e->retain_as_published = gen_chance(g, 1, 2);
        e->retain_handling = (uint8_t)gen_below(g, 3);
    }
}

static inline void gen_unsubscribe(mqtt_gen_t *g, unsigned level, nmq_mqtt_unsubscribe_t *u)
{
    u->packet_id = gen_id(g);
    gen_props(g, level, NMQ_MQTT_UNSUBSCRIBE, 1, &u->props);
    u->count = 1 + gen_below(g, 5);
    u->filters = g->filters + g->nfilters;
    u->raw = (nmq_mqtt_slice_t){ NULL, 0 };
    for (uint32_t i = 0; i < u->count; i++)
        g->filters[g->nfilters++] = gen_topic(g, 1);
}

static inline void gen_suback(mqtt_gen_t *g, unsigned level, unsigned type, nmq_mqtt_suback_t *s)
{
    s->packet_id = gen_id(g);
    gen_props(g, level, type, 0, &s->props);
    s->codes = (nmq_mqtt_slice_t){ NULL, 0 };
    if (type == NMQ_MQTT_UNSUBACK && level < NMQ_MQTT_V5)
        return;
    uint32_t n = 1 + gen_below(g, 6);
    uint8_t *c = gen_alloc(g, n);
    for (uint32_t i = 0; i < n; i++)
        c[i] = gen_reason(g, level, 0, type);
    s->codes = (nmq_mqtt_slice_t){ c, n };
}

/* Types each side sends at a level. */
static inline unsigned gen_types(unsigned level, int from_client, uint8_t *out)
{
    static const uint8_t client[] = { NMQ_MQTT_CONNECT, NMQ_MQTT_PUBLISH, NMQ_MQTT_PUBACK, NMQ_MQTT_PUBREC,
                                      NMQ_MQTT_PUBREL, NMQ_MQTT_PUBCOMP, NMQ_MQTT_SUBSCRIBE, NMQ_MQTT_UNSUBSCRIBE,
                                      NMQ_MQTT_PINGREQ, NMQ_MQTT_DISCONNECT, NMQ_MQTT_AUTH };
    static const uint8_t server[] = { NMQ_MQTT_CONNACK, NMQ_MQTT_PUBLISH, NMQ_MQTT_PUBACK, NMQ_MQTT_PUBREC,
                                      NMQ_MQTT_PUBREL, NMQ_MQTT_PUBCOMP, NMQ_MQTT_SUBACK, NMQ_MQTT_UNSUBACK,
                                      NMQ_MQTT_PINGRESP, NMQ_MQTT_DISCONNECT, NMQ_MQTT_AUTH };
    const uint8_t *t = from_client ? client : server;
    unsigned n = 0;
    for (unsigned i = 0; i < sizeof client; i++) {
        bool v5_only = t[i] == NMQ_MQTT_AUTH || (!from_client && t[i] == NMQ_MQTT_DISCONNECT);
        if (!v5_only || level >= NMQ_MQTT_V5)
            out[n++] = t[i];
    }
    return n;
}

/* A valid packet of `type` as a client (from_client) or server sends it. */
static inline void mqtt_gen_packet(mqtt_gen_t *g, unsigned level, int from_client, unsigned type,
                                   nmq_mqtt_packet_t *p)
{
    p->type = (uint8_t)type;
    p->flags = 0;
    switch (type) {
    case NMQ_MQTT_CONNECT:
        gen_connect(g, level, &p->u.connect);
        break;
    case NMQ_MQTT_CONNACK:
        p->u.connack.reason = gen_reason(g, level, 0, type);
        p->u.connack.session_present = level > NMQ_MQTT_V31 && !p->u.connack.reason && gen_chance(g, 1, 2);
        gen_props(g, level, type, 0, &p->u.connack.props);
        break;
    case NMQ_MQTT_PUBLISH:
        gen_publish(g, level, from_client, &p->u.publish);
        break;
    case NMQ_MQTT_PUBACK:
    case NMQ_MQTT_PUBREC:
    case NMQ_MQTT_PUBREL:
    case NMQ_MQTT_PUBCOMP:
        p->u.ack.packet_id = gen_id(g);
        p->u.ack.reason = gen_reason(g, level, from_client, type);
        gen_props(g, level, type, from_client, &p->u.ack.props);
        break;
    case NMQ_MQTT_SUBSCRIBE:
        gen_subscribe(g, level, &p->u.subscribe);
        break;
    case NMQ_MQTT_UNSUBSCRIBE:
        gen_unsubscribe(g, level, &p->u.unsubscribe);
        break;
    case NMQ_MQTT_SUBACK:
    case NMQ_MQTT_UNSUBACK:
        gen_suback(g, level, type, &p->u.suback);
        break;
    case NMQ_MQTT_DISCONNECT:
    case NMQ_MQTT_AUTH:
        p->u.disconnect.reason = gen_reason(g, level, from_client, type);
        gen_props(g, level, type, from_client, &p->u.disconnect.props);
        break;
    default:
        break;
    }
}

/* Any packet this side sends at this level. */
static inline void mqtt_gen_any(mqtt_gen_t *g, unsigned level, int from_client, nmq_mqtt_packet_t *p)
{
    uint8_t types[16];
    unsigned n = gen_types(level, from_client, types);
    mqtt_gen_packet(g, level, from_client, types[gen_below(g, n)], p);
}

#endif
